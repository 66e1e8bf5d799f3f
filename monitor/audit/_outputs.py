"""Findings on disk as they are made: JSON lines (contract v1 alerts), a flat CSV, and the malformed rows.

The CSV files are meant to be opened in a spreadsheet, and agency names are untrusted text, so a cell
that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) is prefixed with `'`.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO

from monitor.alerts import Alert, encode_alert
from monitor.ingest import RowError

__all__ = ["ERROR_COLUMNS", "FINDING_COLUMNS", "FindingsWriter", "spreadsheet_safe"]

FINDING_COLUMNS = (
    "alert_id",
    "event_id",
    "occurred_at",
    "rule_id",
    "kind",
    "severity",
    "owner",
    "requester",
    "jurisdiction",
    "matched",
    "summary",
    "citations",
    "plate_hash",
)
ERROR_COLUMNS = ("file", "line", "reason", "field", "event_id")

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """`value`, made inert for spreadsheets that would evaluate it as a formula."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class FindingsWriter:
    """Writes findings.jsonl, findings.csv and errors.csv under one directory, line by line."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = out_dir / "findings.jsonl"
        self.csv_path = out_dir / "findings.csv"
        self.errors_path = out_dir / "errors.csv"
        self._files: list[IO[bytes] | IO[str]] = []
        self._jsonl = self._open_binary(self.jsonl_path)
        csv_file = self._open_text(self.csv_path)
        errors_file = self._open_text(self.errors_path)
        self._csv = csv.writer(csv_file)
        self._errors = csv.writer(errors_file)
        self._csv.writerow(FINDING_COLUMNS)
        self._errors.writerow(ERROR_COLUMNS)

    def _open_binary(self, path: Path) -> IO[bytes]:
        handle = path.open("wb", buffering=1 << 20)
        self._files.append(handle)
        return handle

    def _open_text(self, path: Path) -> IO[str]:
        handle = path.open("w", encoding="utf-8", newline="", buffering=1 << 20)
        self._files.append(handle)
        return handle

    def alerts(self, alerts: list[Alert]) -> None:
        """Append the alerts of one event."""
        write_line = self._jsonl.write
        write_row = self._csv.writerow
        for alert in alerts:
            write_line(encode_alert(alert) + b"\n")
            write_row(
                (
                    alert.alert_id,
                    spreadsheet_safe(alert.event_id),  # the producer's text, like the agency names
                    alert.occurred_at.isoformat(),
                    alert.rule_id,
                    alert.kind,
                    alert.severity,
                    spreadsheet_safe(alert.owner.agency),
                    spreadsheet_safe(alert.requester.agency),
                    alert.requester.jurisdiction,
                    spreadsheet_safe(alert.evidence.get("matched", "")),
                    spreadsheet_safe(alert.summary),
                    " | ".join(alert.citations),
                    alert.plate_hash or "",
                )
            )

    def error(self, error: RowError) -> None:
        """Append one malformed record: file, line, reason (the reason never quotes a plate or a user)."""
        self._errors.writerow(
            (
                spreadsheet_safe(error.file),
                error.line,
                spreadsheet_safe(error.reason),
                error.field or "",
                spreadsheet_safe(error.event_id or ""),
            )
        )

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        self._files.clear()

    def __enter__(self) -> FindingsWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
