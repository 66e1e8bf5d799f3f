"""One audit run: items in, findings to disk as they come, then the report, the summary and the figures.

Memory stays bounded whatever the input size: alerts are written as they are made, and only the capped
aggregates of `Tally` are kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.engine import Engine
from monitor.events import AccessEvent
from monitor.ingest import IngestOptions, Item, RowError, Skipped
from monitor.patterns.offline import OfflinePatterns, fewer_collections

from ._html import render_html
from ._info import InputFile, RunInfo
from ._markdown import render_markdown
from ._outputs import FindingsWriter
from ._patterns import PatternFindings
from ._pipeline import ChildReader, Source, can_fork
from ._progress import UPDATE_EVERY, Progress, input_files, open_items
from ._tally import DEVICE_BUCKETS, NETWORK_BUCKETS, REACH_BUCKETS, Caps, Tally, Totals, Widest

__all__ = ["AuditResult", "AuditRun"]

EXIT_CLEAN, EXIT_FINDINGS = 0, 1
PARALLEL_BYTES = 16 * 1024 * 1024  # below this, forking a reader costs more than it saves


@dataclass(frozen=True, slots=True)
class AuditResult:
    """What a finished run wrote, its totals, and the exit status (0: no alert, 1: alerts)."""

    out_dir: Path
    totals: Totals
    tally: Tally
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def exit_status(self) -> int:
        return EXIT_FINDINGS if self.totals.alerts else EXIT_CLEAN


class AuditRun:
    """Judges a stream of adapter items with one engine and writes the audit under `out_dir`.

    Use `audit_files` (files, with a progress bar) or `consume` (any items, e.g. a filtered stream) one or
    more times, then `finish` once. `parallel`: read in a forked child while judging (default: for inputs of
    16 MB or more, where fork is available); `progress`: show the bar (default: when stderr is a terminal);
    `retention_days`: the retention period searches are measured against (default: each owner's, from the policy).
    """

    def __init__(
        self,
        engine: Engine,
        out_dir: Path,
        *,
        title: str = "ALPR access audit",
        scope: str | None = None,
        owner: str | None = None,
        caps: Caps | None = None,
        progress: bool | None = None,
        parallel: bool | None = None,
        retention_days: int | None = None,
        patterns: bool = True,
    ) -> None:
        self.engine = engine
        self.retention_days = retention_days  # overrides the owners' periods from the policy when given
        self._owners: dict[tuple[str, str | None, str | None], int | None] = {}
        # The pattern detectors see every judged event; they run in event-time order in `finish`.
        self.patterns = OfflinePatterns(engine) if patterns else None
        self.pattern_findings = PatternFindings()
        self.out_dir = out_dir
        self.tally = Tally(caps or Caps())
        self.info = RunInfo(
            title=title, generated_at=datetime.now(UTC), policy_version=engine.version, scope=scope, owner=owner
        )
        self._progress = progress
        self._parallel = parallel
        self._writer: FindingsWriter | None = None
        self._started = time.perf_counter()

    # -- input ------------------------------------------------------------------------------------

    def audit_files(self, paths: list[str], fmt: str | None, options: IngestOptions) -> None:
        """Audit files in order ("-" is standard input); every file is opened and its header checked first.

        Raises `IngestError` (before any record is judged) when a file cannot be used.
        """
        files = input_files(paths)
        # Each file is checked, then closed and opened again when read: holding every file open failed past
        # the open-file limit (often 1,024). Standard input cannot be opened twice, so it stays open.
        opened: list[tuple[InputFile, Iterator[Item], Callable[[], int] | None]] = []
        try:
            for file in files:
                items, position = open_items(file.path, fmt, options)
                if file.path != "-":
                    _close(items)
                    items, position = _deferred(file.path, fmt, options)
                opened.append((file, items, position))
        except BaseException:
            for _, items, _ in opened:
                _close(items)
            raise
        self.info.inputs.extend(files)
        sizes = [file.size for file in files]
        total = sum(size for size in sizes if size is not None) if None not in sizes else None
        parallel = self._parallel
        if parallel is None:
            parallel = total is not None and total >= PARALLEL_BYTES and can_fork()
        if parallel:
            self._consume_from_child(files, [(items, position) for _, items, position in opened], total)
            return
        with Progress(total, enabled=self._progress) as progress:
            for file, items, position in opened:
                records = self.consume(items, progress, position)
                progress.file_done(records, file.size)

    def _consume_from_child(self, files: list[InputFile], sources: list[Source], total: int | None) -> None:
        reader = ChildReader(sources)  # forked before the progress bar starts its thread
        sources.clear()  # the child reads them now; the parent's copies close when collected
        pending = iter(files)
        current = next(pending)
        records = 0
        try:
            with Progress(total, enabled=self._progress) as progress:
                for end_of_file, items, position in reader:
                    records += self.consume(items)
                    progress.advance(records, position)
                    if end_of_file:
                        progress.file_done(records, current.size)
                        records = 0
                        current = next(pending, current)
        finally:
            reader.close()

    def consume(
        self, items: Iterable[Item], progress: Progress | None = None, position: Callable[[], int] | None = None
    ) -> int:
        """Judge every item; returns the number of records taken."""
        writer = self._writer
        if writer is None:
            writer = self._writer = FindingsWriter(self.out_dir)
        assess = self.engine.assess
        observe = self.patterns.add if self.patterns is not None else None
        tally = self.tally
        add_event = tally.add_event
        write_alerts = writer.alerts
        where = self._where
        retention_of = self._retention_of
        count = 0
        for count, item in enumerate(items, 1):
            if type(item) is AccessEvent:
                assessment = assess(item)
                if observe is not None:
                    observe(item, assessment)
                alerts = assessment.alerts
                if alerts:
                    write_alerts(alerts)
                    first = alerts[0]
                    add_event(item, alerts, first.requester.jurisdiction, first.owner.state, retention_of(item))
                else:
                    add_event(item, alerts, *where(item), retention_of(item))
            elif isinstance(item, RowError):
                writer.error(item)
                tally.add_error(item)
            elif isinstance(item, Skipped):
                tally.add_skipped(item)
            if progress is not None and not count % UPDATE_EVERY:
                progress.advance(count, position() if position is not None else None)
        tally.totals.records += count  # counted apart from the classification above, so a slip shows
        return count

    def _run_patterns(self, writer: FindingsWriter) -> None:
        """The pattern alerts of everything consumed, into the findings and the totals."""
        assert self.patterns is not None
        found = self.pattern_findings
        tally = self.tally
        with fewer_collections():
            for alert in self.patterns.alerts():
                writer.alerts([alert])
                tally.add_pattern_alert(alert)
                found.add(alert)
        as_of = tally.last_event.date() if tally.last_event is not None else None
        found.set_holders(self.patterns.standing(), as_of)

    def _retention_of(self, event: AccessEvent) -> int | None:
        """The retention period searches are measured against: the override, else the owner's policy, else the
        shortest period a law pack of the owner's sets."""
        owner = event.owner
        key = (owner.agency, owner.ori, owner.state)
        try:
            return self._owners[key]
        except KeyError:
            pass
        context = self.engine.owner_context(event)
        days = self.retention_days if self.retention_days is not None else context.retention_days
        if days is None and context.retention_periods:
            days = context.retention_periods[0]
        if len(self._owners) < 100_000:
            self._owners[key] = days
        return days

    def _where(self, event: AccessEvent) -> tuple[str, str | None]:
        """The requester's jurisdiction class and the owner's state for a clean event."""
        return self.engine.recipient(event)

    # -- output -----------------------------------------------------------------------------------

    def finish(self) -> AuditResult:
        """Close the findings files and write report.html, summary.md and summary.json."""
        if self._writer is None:
            self._writer = FindingsWriter(self.out_dir)
        tally, writer = self.tally, self._writer
        if self.patterns is not None:
            self._run_patterns(writer)
        writer.close()
        tally.totals.findings_lines = _count_lines(writer.jsonl_path)
        self.info.seconds = time.perf_counter() - self._started
        self.info.no_state_law = self.engine.owners_without_state_law()
        info = self.info
        report = self.out_dir / "report.html"
        summary = self.out_dir / "summary.md"
        figures = self.out_dir / "summary.json"
        report.write_text(render_html(tally, info, self.pattern_findings), encoding="utf-8")
        summary.write_text(render_markdown(tally, info, self.pattern_findings), encoding="utf-8")
        numbers = summary_figures(tally, info) | self.pattern_findings.figures()
        figures.write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        files = {
            "report": report,
            "summary": summary,
            "figures": figures,
            "findings_jsonl": writer.jsonl_path,
            "findings_csv": writer.csv_path,
            "errors": writer.errors_path,
        }
        return AuditResult(self.out_dir, tally.totals, tally, files)


def summary_figures(tally: Tally, info: RunInfo) -> dict[str, Any]:
    """The report's figures as plain data (summary.json): what a script or a test reads back."""
    totals = tally.totals
    return {
        "title": info.title,
        "scope": info.scope,
        "policy_version": info.policy_version,
        "inputs": [{"path": item.path, "bytes": item.size} for item in info.inputs],
        "period": [
            tally.first_event.isoformat() if tally.first_event else None,
            tally.last_event.isoformat() if tally.last_event else None,
        ],
        "totals": {
            "records": totals.records,
            "events": totals.events,
            "clean": totals.clean,
            "alerted": totals.alerted,
            "invalid": totals.invalid,
            "skipped": totals.skipped,
            "alerts": totals.alerts,
            "findings_lines": totals.findings_lines,
            "consistent": totals.consistent(),
        },
        "alerts_by_severity": dict(tally.by_severity),
        "alerts_by_kind": dict(tally.by_kind),
        "events_by_kind": dict(tally.events_by_kind),
        "alerts_by_rule": {rule: count for (rule, _, _, _), count in tally.rules.items()},
        "events_by_jurisdiction": dict(tally.class_events),
        "alerted_events_by_jurisdiction": dict(tally.class_alerted),
        "distinct_requesters_by_jurisdiction": dict(tally.distinct_requesters()),
        "owners_with_findings": sum(1 for party in tally.owners.values() if party.alerted),
        "owners": len(tally.owners),
        "owners_by_kind": {kind: len(tally.owners_with(kind)) for kind in tally.events_by_kind},
        "reasons": dict(tally.reasons),
        "queries_without_user": tally.query_without_user,
        "reach": _reach_figures(tally),
        "retention": _retention_figures(tally),
        "invalid_by_reason": dict(tally.errors_by_code),
        "skipped_by_reason": dict(tally.skipped_by_reason),
        "owners_without_state_law": info.no_state_law,
        "seconds": round(info.seconds, 3),
    }


def _widest(widest: Widest | None, digits: int = 0) -> dict[str, Any] | None:
    if widest is None:
        return None
    return {
        "value": round(widest.value, digits) if digits else int(widest.value),
        "event_id": widest.event_id,
        "occurred_at": widest.occurred_at.isoformat(),
        "requester": widest.requester,
    }


def _reach_figures(tally: Tally) -> dict[str, Any]:
    reach = tally.reach
    return {
        "searches": reach.searches,
        "one_network": reach.networks[NETWORK_BUCKETS[0][0]],
        "many_networks": reach.many_networks,
        "networks_unknown": reach.networks_unknown,
        "networks": {label: reach.networks[label] for label, _ in NETWORK_BUCKETS},
        "devices": {label: reach.devices[label] for label, _ in DEVICE_BUCKETS},
        "devices_unknown": reach.devices_unknown,
        "most_networks": _widest(reach.most_networks),
        "most_devices": _widest(reach.most_devices),
    }


def _retention_figures(tally: Tally) -> dict[str, Any]:
    retention = tally.retention
    return {
        "searches": retention.searches,
        "with_time_frame": retention.with_frame,
        "retention_days": sorted(retention.periods),
        "grace_days": retention.grace_days,
        "without_period": retention.without_period,
        "past_period": retention.past_period,
        "past_grace": retention.past_grace,
        "reach": {label: retention.reach[label] for label, _ in REACH_BUCKETS},
        "furthest": _widest(retention.furthest, digits=1),
    }


def _count_lines(path: Path) -> int:
    """Lines in a file, read in blocks: findings.jsonl can be large."""
    count = 0
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
    return count


def _deferred(path: str, fmt: str | None, options: IngestOptions) -> tuple[Iterator[Item], Callable[[], int]]:
    """The items of a file opened only when first read, and how many of its bytes were read by then."""
    state: dict[str, Callable[[], int] | None] = {"position": None}

    def items() -> Iterator[Item]:
        opened, state["position"] = open_items(path, fmt, options)
        try:
            yield from opened
        finally:
            _close(opened)

    def position() -> int:
        tell = state["position"]
        return tell() if tell is not None else 0

    return items(), position


def _close(items: Iterator[Item]) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()
