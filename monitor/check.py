"""`alpr-monitor check`: the live classifier, run offline over files.

Alerts go to standard output as JSON lines; unreadable records go to standard error with file, line
and reason, and are counted in the summary. No input can make it crash: an event the engine fails on
is reported like an unreadable record (`engine_error`), and a reader that fails stops that input with a
message, never a traceback.

Exit status, the most serious outcome first:
1: at least one alert (whatever else happened: a violation is what the caller must act on first);
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
from typing import BinaryIO, TextIO

from monitor.alerts import encode_alert
from monitor.engine import Engine
from monitor.events import AccessEvent
from monitor.failures import exception_site, failure_of
from monitor.ingest import IngestError, IngestOptions, Item, RowError, Skipped, read_events

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
    unreadable_inputs: int = 0
    alerts: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)

    def render(self) -> str:
        severities = ", ".join(f"{name} {count}" for name, count in sorted(self.alerts.items())) or "none"
        return (
            f"check: {self.events + self.invalid + self.skipped} records: {self.events} events "
            f"({self.clean} clean, {self.alerted} alerted), {self.invalid} invalid, {self.skipped} skipped; "
            f"{sum(self.alerts.values())} alerts ({severities})"
            + (f"; {self.unreadable_inputs} inputs not read to the end" if self.unreadable_inputs else "")
        )

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

    def exit_status(self) -> int:
        """1 when any alert; else 2 when any record or input could not be used; else 0 (module docstring)."""
        if self.alerted:
            return EXIT_ALERTS
        return EXIT_UNUSABLE if self.invalid or self.unreadable_inputs else EXIT_CLEAN


def check_items(
    engine: Engine, items: Iterable[AccessEvent | RowError | Skipped], out: BinaryIO, err: TextIO
) -> CheckSummary:
    """Judge a stream of adapter items, writing alerts to `out` and record errors to `err`."""
    summary = CheckSummary()
    write = out.write
    judge = engine.judge
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
                alerts = judge(item)
            except Exception as exc:  # one event the engine fails on is reported, never a crash
                summary.invalid += 1
                failure = failure_of(exc, "judge", event_id=item.event_id)
                err.write(f"event {item.event_id!r}: {failure.reason}: {failure.detail}\n")
                continue
            summary.events += 1
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
    return summary


def run_check(engine: Engine, paths: list[str], fmt: str | None, options: IngestOptions) -> tuple[int, CheckSummary]:
    """Run `check` over paths ("-" is standard input); returns the exit status and the summary."""
    # Every input is opened (and its format detected) before any record is judged, so an unusable file
    # stops the run with status 2 before a single alert is written. Each file is closed again at once and
    # reopened for judging: holding them all open failed past the open-file limit (often 1,024), so
    # `check logs/*.jsonl` over a few years of daily files refused everything.
    inputs = paths or ["-"]
    stdin: Iterator[Item] | None = None  # standard input cannot be opened twice: it stays open
    for path in inputs:
        try:
            items: Iterator[Item] = read_events(path, fmt, options)
        except BaseException:
            _close(stdin)
            raise
        if str(path) == "-" and stdin is None:
            stdin = items
        else:
            _close(items)
    summary = CheckSummary()
    for path in inputs:  # one input at a time, so a reader failing stops only its own input
        if str(path) == "-" and stdin is not None:
            items, stdin = stdin, None
        else:
            try:
                items = read_events(path, fmt, options)
            except IngestError as exc:  # changed or removed since it was checked
                summary.unreadable_inputs += 1
                sys.stderr.write(f"check: {exc}\n")
                continue
        summary.merge(check_items(engine, items, sys.stdout.buffer, sys.stderr))
    sys.stdout.buffer.flush()
    return summary.exit_status(), summary


def _close(items: Iterator[Item] | None) -> None:
    close = getattr(items, "close", None)
    if close is not None:
        close()
