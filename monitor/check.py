"""`alpr-monitor check`: the live classifier, run offline over files.

Alerts go to standard output as JSON lines; unreadable records go to standard error with file, line
and reason, and are counted in the summary. With patterns on (the default), the pattern detectors
(contract v1.1) run over the same events in event-time order once the input ends, and their alerts
follow the per-event ones. Exit 0: no alert; 1: at least one alert; 2: the input or
the policy could not be used.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import BinaryIO, TextIO

from monitor.alerts import encode_alert
from monitor.engine import Engine
from monitor.events import AccessEvent
from monitor.ingest import IngestOptions, Item, RowError, Skipped, read_events, read_snapshots
from monitor.patterns.offline import OfflinePatterns, fewer_collections

__all__ = ["CheckSummary", "check_items", "run_check"]

EXIT_CLEAN, EXIT_ALERTS, EXIT_UNUSABLE = 0, 1, 2


@dataclass(slots=True)
class CheckSummary:
    """Every record read is accounted for: events = clean + alerted; plus invalid and skipped records."""

    events: int = 0
    clean: int = 0
    alerted: int = 0
    invalid: int = 0
    skipped: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    pattern_alerts: int = 0

    def render(self) -> str:
        severities = ", ".join(f"{name} {count}" for name, count in sorted(self.alerts.items())) or "none"
        return (
            f"check: {self.events + self.invalid + self.skipped} records: {self.events} events "
            f"({self.clean} clean, {self.alerted} alerted), {self.invalid} invalid, {self.skipped} skipped; "
            f"{sum(self.alerts.values())} alerts ({severities}), of which {self.pattern_alerts} pattern alerts"
        )


def check_items(
    engine: Engine,
    items: Iterable[AccessEvent | RowError | Skipped],
    out: BinaryIO,
    err: TextIO,
    *,
    patterns: OfflinePatterns | None = None,
) -> CheckSummary:
    """Judge a stream of adapter items, writing alerts to `out` and record errors to `err`; then, when
    given `patterns`, the pattern alerts of the same events."""
    summary = CheckSummary()
    write = out.write
    assess = engine.assess
    add = patterns.add if patterns is not None else None
    for item in items:
        if isinstance(item, AccessEvent):
            summary.events += 1
            assessment = assess(item)
            if add is not None:
                add(item, assessment)
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
    if patterns is not None:
        for alert in patterns.alerts():
            write(encode_alert(alert) + b"\n")
            summary.alerts[alert.severity] += 1
            summary.by_kind[alert.kind] += 1
            summary.pattern_alerts += 1
    return summary


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
    if snapshots is not None:
        return _finish(engine, read_snapshots(paths, fmt, options, snapshots), patterns)
    # Every input is opened (and its format detected) before any record is judged, so an unusable file
    # stops the run with status 2 before a single alert is written.
    opened: list[Iterator[Item]] = []
    try:
        for path in paths or ["-"]:
            opened.append(read_events(path, fmt, options))
    except BaseException:
        for items in opened:
            close = getattr(items, "close", None)
            if close is not None:
                close()
        raise
    return _finish(engine, chain.from_iterable(opened), patterns)


def _finish(engine: Engine, items: Iterable[Item], patterns: bool) -> tuple[int, CheckSummary]:
    detectors = OfflinePatterns(engine) if patterns else None
    with fewer_collections():
        summary = check_items(engine, items, sys.stdout.buffer, sys.stderr, patterns=detectors)
    sys.stdout.buffer.flush()
    return (EXIT_ALERTS if summary.alerted or summary.pattern_alerts else EXIT_CLEAN), summary
