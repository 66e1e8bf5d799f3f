"""`alpr-monitor check`: the live classifier, run offline over files.

Alerts go to standard output as JSON lines; unreadable records go to standard error with file, line
and reason, and are counted in the summary. Exit 0: no alert; 1: at least one alert; 2: the input or
the policy could not be used.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import BinaryIO, TextIO

from monitor.alerts import encode_alert
from monitor.engine import Engine
from monitor.events import AccessEvent
from monitor.ingest import IngestOptions, Item, RowError, Skipped, read_events

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
    # Owners for whom no state law pack applied: {"owner", "state", "in_policy_file", "note"} (Engine).
    no_state_law: list[dict[str, object]] = field(default_factory=list)

    def render(self) -> str:
        severities = ", ".join(f"{name} {count}" for name, count in sorted(self.alerts.items())) or "none"
        line = (
            f"check: {self.events + self.invalid + self.skipped} records: {self.events} events "
            f"({self.clean} clean, {self.alerted} alerted), {self.invalid} invalid, {self.skipped} skipped; "
            f"{sum(self.alerts.values())} alerts ({severities})"
        )
        lines = [line, *(_no_state_law_line(entry) for entry in self.no_state_law[:_LISTED_OWNERS])]
        if len(self.no_state_law) > _LISTED_OWNERS:
            lines.append(f"check: ... and {len(self.no_state_law) - _LISTED_OWNERS} more owners with no state law pack")
        return "\n".join(lines)


_LISTED_OWNERS = 10


def _no_state_law_line(entry: dict[str, object]) -> str:
    state = entry["state"] or "state unknown"
    unlisted = "" if entry["in_policy_file"] else " (not in the policy file: owner-policy defaults only)"
    return f"check: {entry['owner']} ({state}): {entry['note']}{unlisted}"


def check_items(
    engine: Engine, items: Iterable[AccessEvent | RowError | Skipped], out: BinaryIO, err: TextIO
) -> CheckSummary:
    """Judge a stream of adapter items, writing alerts to `out` and record errors to `err`."""
    summary = CheckSummary()
    write = out.write
    judge = engine.judge
    for item in items:
        if isinstance(item, AccessEvent):
            summary.events += 1
            alerts = judge(item)
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
    return summary


def run_check(engine: Engine, paths: list[str], fmt: str | None, options: IngestOptions) -> tuple[int, CheckSummary]:
    """Run `check` over paths ("-" is standard input); returns the exit status and the summary."""
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
    summary = check_items(engine, chain.from_iterable(opened), sys.stdout.buffer, sys.stderr)
    sys.stdout.buffer.flush()
    return (EXIT_ALERTS if summary.alerted else EXIT_CLEAN), summary
