"""`alpr-monitor check`: the live classifier, run offline over files.

Alerts go to standard output as JSON lines; unreadable records go to standard error with file, line
and reason, and are counted in the summary. With patterns on (the default), the pattern detectors
(contract v1.1) run over the same events in event-time order once every input is read, and their alerts
follow the per-event ones. No input can make it crash: an event the engine fails on
is reported like an unreadable record (`engine_error`), and a reader that fails stops that input with a
message, never a traceback.

Exit status, the most serious outcome first:
1: at least one alert, per-event or pattern (whatever else happened: a violation is what the caller must act
   on first);
2: no alert, but the input or the policy could not be used, in whole or in part (an unreadable file, or
   any invalid record: a record that was not judged may have hidden a violation, so the run is not clean);
0: every record was read and judged, and none gave an alert (skipped records, such as blank lines or
   repeated vendor rows, are not records to judge).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, TextIO

from monitor.alerts import encode_alert
from monitor.engine import Engine
from monitor.events import AccessEvent
from monitor.failures import exception_site, failure_of
from monitor.ingest import IngestError, IngestOptions, Item, RowError, Skipped, read_events, read_snapshots
from monitor.patterns.offline import OfflinePatterns, fewer_collections

__all__ = ["CheckSummary", "check_items", "run_check", "write_pattern_alerts"]

EXIT_CLEAN, EXIT_ALERTS, EXIT_UNUSABLE = 0, 1, 2


@dataclass(slots=True)
class CheckSummary:
    """Every record read is accounted for: events = clean + alerted; plus invalid and skipped records."""

    events: int = 0
    clean: int = 0
    alerted: int = 0
    invalid: int = 0
    skipped: int = 0
    unreadable_inputs: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    pattern_alerts: int = 0
    # Owners for whom no state law pack applied: {"owner", "state", "in_policy_file", "note"} (Engine).
    no_state_law: list[dict[str, object]] = field(default_factory=list)

    def render(self) -> str:
        severities = ", ".join(f"{name} {count}" for name, count in sorted(self.alerts.items())) or "none"
        line = (
            f"check: {self.events + self.invalid + self.skipped} records: {self.events} events "
            f"({self.clean} clean, {self.alerted} alerted), {self.invalid} invalid, {self.skipped} skipped; "
            f"{sum(self.alerts.values())} alerts ({severities}), of which {self.pattern_alerts} pattern alerts"
            + (f"; {self.unreadable_inputs} inputs not read to the end" if self.unreadable_inputs else "")
        )
        lines = [line, *(_no_state_law_line(entry) for entry in self.no_state_law[:_LISTED_OWNERS])]
        if len(self.no_state_law) > _LISTED_OWNERS:
            lines.append(f"check: ... and {len(self.no_state_law) - _LISTED_OWNERS} more owners with no state law pack")
        return "\n".join(lines)

    def merge(self, other: CheckSummary) -> None:
        """Add another input's counts to these."""
        self.events += other.events
        self.clean += other.clean
        self.alerted += other.alerted
        self.invalid += other.invalid
        self.skipped += other.skipped
        self.unreadable_inputs += other.unreadable_inputs
        self.alerts.update(other.alerts)
        self.by_kind.update(other.by_kind)
        self.pattern_alerts += other.pattern_alerts
        if other.no_state_law:  # the engine's list covers every input judged so far: the latest is complete
            self.no_state_law = other.no_state_law

    def exit_status(self) -> int:
        """1 when any alert; else 2 when any record or input could not be used; else 0 (module docstring)."""
        if self.alerted or self.pattern_alerts:
            return EXIT_ALERTS
        return EXIT_UNUSABLE if self.invalid or self.unreadable_inputs else EXIT_CLEAN


_LISTED_OWNERS = 10


def _no_state_law_line(entry: dict[str, object]) -> str:
    state = entry["state"] or "state unknown"
    unlisted = "" if entry["in_policy_file"] else " (not in the policy file: owner-policy defaults only)"
    return f"check: {entry['owner']} ({state}): {entry['note']}{unlisted}"


def check_items(
    engine: Engine,
    items: Iterable[AccessEvent | RowError | Skipped],
    out: BinaryIO,
    err: TextIO,
    *,
    patterns: OfflinePatterns | None = None,
    replay: bool = True,
) -> CheckSummary:
    """Judge a stream of adapter items, writing alerts to `out` and record errors to `err`. With `patterns`,
    each judged event is also observed for the pattern detectors, whose alerts follow at the end (unless
    `replay` is False: the caller has more inputs and calls `write_pattern_alerts` after the last)."""
    summary = CheckSummary()
    write = out.write
    assess = engine.assess
    add = patterns.add if patterns is not None else None
    iterator = iter(items)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            break
        except IngestError as exc:  # the file is damaged past this point (a cut-short gzip): name it
            summary.unreadable_inputs += 1
            err.write(f"check: {exc}; the records after it were not judged\n")
            break
        except Exception as exc:  # a reader bug: stop this input, say so, never a traceback
            summary.unreadable_inputs += 1
            where = exception_site(exc)
            err.write(
                f"check: reading stopped by an internal error ({type(exc).__name__}"
                f"{' at ' + where if where else ''}); the records after it were not judged\n"
            )
            break
        if isinstance(item, AccessEvent):
            try:
                assessment = assess(item)
                if add is not None:
                    add(item, assessment)
            except Exception as exc:  # one event the engine fails on is reported, never a crash
                summary.invalid += 1
                failure = failure_of(exc, "judge", event_id=item.event_id)
                err.write(f"event {item.event_id!r}: {failure.reason}: {failure.detail}\n")
                continue
            summary.events += 1
            alerts = assessment.alerts
            if not alerts:
                summary.clean += 1
                continue
            summary.alerted += 1
            for alert in alerts:
                write(encode_alert(alert) + b"\n")
                summary.alerts[alert.severity] += 1
                summary.by_kind[alert.kind] += 1
        elif isinstance(item, RowError):
            summary.invalid += 1
            where = f" field {item.field}" if item.field else ""
            event = f" event {item.event_id!r}" if item.event_id else ""
            err.write(f"{item.file}:{item.line}:{event}{where}: {item.reason}\n")
        else:
            summary.skipped += 1
    summary.no_state_law = engine.owners_without_state_law()
    if patterns is not None and replay:
        write_pattern_alerts(patterns, out, summary)
    return summary


def write_pattern_alerts(patterns: OfflinePatterns, out: BinaryIO, summary: CheckSummary) -> None:
    """Replay everything `patterns` observed in event time; write and count its alerts."""
    write = out.write
    for alert in patterns.alerts():
        write(encode_alert(alert) + b"\n")
        summary.alerts[alert.severity] += 1
        summary.by_kind[alert.kind] += 1
        summary.pattern_alerts += 1


def run_check(
    engine: Engine,
    paths: list[str],
    fmt: str | None,
    options: IngestOptions,
    *,
    patterns: bool = True,
    snapshots: list[datetime] | None = None,
) -> tuple[int, CheckSummary]:
    """Run `check` over paths ("-" is standard input); returns the exit status and the summary.

    `snapshots` (times, one per path, or empty): the paths are consecutive snapshots of a sharing list,
    read as grant and revoke events (`monitor.ingest.read_snapshots`)."""
    detectors = OfflinePatterns(engine) if patterns else None
    if snapshots is not None:
        opened: list[Iterator[Item]] = [read_snapshots(paths, fmt, options, snapshots)]
        return _check_all(engine, opened, detectors)
    # Every input is opened (and its format detected) before any record is judged, so an unusable file
    # stops the run with status 2 before a single alert is written. Each file is closed again at once and
    # opened again when its turn comes: holding them all open failed past the open-file limit (often
    # 1,024), so `check logs/*.jsonl` over a few years of daily files refused everything.
    inputs: list[Iterator[Item]] = []
    stdin: Iterator[Item] | None = None  # standard input cannot be opened twice: it stays open
    try:
        for path in paths or ["-"]:
            items = read_events(path, fmt, options)
            if str(path) == "-" and stdin is None:
                inputs.append(stdin := items)
            else:
                items.close()
                inputs.append(_reopened(path, fmt, options))
    except BaseException:
        _close(stdin)
        raise
    return _check_all(engine, inputs, detectors)


def _reopened(path: str, fmt: str | None, options: IngestOptions) -> Iterator[Item]:
    """The items of a file checked before, opened only when read (an IngestError then stops only this file)."""
    items = read_events(path, fmt, options)
    try:
        yield from items
    finally:
        items.close()


def _check_all(
    engine: Engine, opened: list[Iterator[Item]], detectors: OfflinePatterns | None
) -> tuple[int, CheckSummary]:
    summary = CheckSummary()
    out = sys.stdout.buffer
    with fewer_collections():
        for items in opened:  # one input at a time, so a reader failing stops only its own input
            part = check_items(engine, items, out, sys.stderr, patterns=detectors, replay=False)
            summary.merge(part)
        if detectors is not None:
            try:
                write_pattern_alerts(detectors, out, summary)
            except Exception as exc:  # a detector bug: say so, keep what was judged, never a traceback
                summary.unreadable_inputs += 1
                where = exception_site(exc)
                sys.stderr.write(
                    f"check: the pattern detectors stopped on an internal error ({type(exc).__name__}"
                    f"{' at ' + where if where else ''}); pattern alerts after it were not raised\n"
                )
    out.flush()
    return summary.exit_status(), summary


def _close(items: Iterator[Item] | None) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()
