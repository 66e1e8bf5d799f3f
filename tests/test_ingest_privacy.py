"""Row errors and file errors of every adapter never quote a plate (or a name) a misplaced cell holds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from monitor.events import Owner
from monitor.ingest import BadHeader, IngestOptions, Item, RowError, Skipped, read_events

OAKLAND = IngestOptions(owner=Owner(agency="Oakland CA PD", state="CA"))
PLATE, OTHER_PLATE = "7ABC123", "8XYZ999"
STAMP = "11/13/2025, 10:00:17 PM UTC"
NETWORK_HEADER = (
    "ID", "Name", "Org Name", "Total Networks Searched", "Total Devices Searched", "Time Frame", "License Plate",
    "Reason", "Case #", "Filters", "Search Time", "Search Type", "Text Prompt", "Moderation",
)  # fmt: skip


def network_row(**cells: str) -> list[str]:
    """A valid network-audit record (no plate in it) with some cells replaced."""
    row = {
        "ID": "abc", "Name": "", "Org Name": "Alameda County CA SO", "Total Networks Searched": "1",
        "Total Devices Searched": "10", "Time Frame": f"{STAMP}\n{STAMP}", "License Plate": "", "Reason": "stolen car",
        "Case #": "", "Filters": "", "Search Time": STAMP, "Search Type": "search", "Text Prompt": "", "Moderation": "",
    }  # fmt: skip
    row.update({name.replace("_", " "): value for name, value in cells.items()})
    return [row[name] for name in NETWORK_HEADER]


# Each case: a cell that cannot be parsed, holding a plate in the forms exports mangle cells into.
NETWORK_CASES = {
    "search time is a plate": {"Search Time": PLATE},
    "search time with a plate for zone": {"Search Time": f"11/13/2025, 10:00:17 PM {PLATE}"},
    "search time iso with plate": {"Search Time": f"2025-11-13 {PLATE}"},
    "time frame start is a plate": {"Time Frame": f"{PLATE}\n{STAMP}"},
    "time frame zone is a plate": {"Time Frame": f"11/12/2025, 10:00:17 PM {PLATE}\n{STAMP}"},
    "time frame end is a plate": {"Time Frame": f"{STAMP}\n{PLATE}"},
    "time frame one bound": {"Time Frame": f"{PLATE} and {OTHER_PLATE}"},
    "time frame three bounds": {"Time Frame": f"{STAMP}\n{PLATE}\n{STAMP}"},
    "time frame to": {"Time Frame": f"{PLATE} to {STAMP}"},
    "networks is a plate": {"Total Networks Searched": PLATE},
    "devices is a plate": {"Total Devices Searched": PLATE},
}


def write_csv(path: Path, header: tuple[str, ...] | list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def only_error(items: list[Item]) -> RowError:
    (error,) = items
    assert isinstance(error, RowError), error
    return error


def assert_no_plate(text: str | None) -> None:
    for plate in (PLATE, OTHER_PLATE):
        assert plate.casefold() not in (text or "").casefold(), text


class TestRowErrorsHideCells:
    @pytest.mark.parametrize("cells", NETWORK_CASES.values(), ids=NETWORK_CASES.keys())
    def test_network_audit(self, tmp_path: Path, cells: dict[str, str]) -> None:
        """A plate in a time, time-frame or count cell of a network audit is rejected by shape, never quoted."""
        path = write_csv(tmp_path / "audit.csv", NETWORK_HEADER, [network_row(**cells)])
        error = only_error(list(read_events(path, options=OAKLAND)))
        assert error.reason.startswith("invalid_field:")
        assert error.field == next(iter(cells))
        assert_no_plate(error.reason)
        assert_no_plate(error.field)

    @pytest.mark.parametrize(
        ("date", "count", "field"),
        [
            (PLATE, "3", "searchDate"),
            (f"2025-06-18 00:02:04 {PLATE}", "3", "searchDate"),
            (f"2025-06-18T00:02:04{PLATE}", "3", "searchDate"),
            ("2025-06-18 00:02:04.789", PLATE, "cameraCount"),
        ],
    )
    def test_portal_audit(self, tmp_path: Path, date: str, count: str, field: str) -> None:
        """A plate in the portal audit's searchDate or cameraCount is rejected by shape, never quoted."""
        header = ["id", "userId", "searchDate", "cameraCount", "reason"]
        path = write_csv(tmp_path / "portal.csv", header, [["r1", "u1", date, count, "investigation"]])
        error = only_error(list(read_events(path, options=OAKLAND)))
        assert error.field == field
        assert_no_plate(error.reason)

    @pytest.mark.parametrize(
        ("stamp", "event_type", "details", "field"),
        [
            (PLATE, "create", "Receiving Organization: Torrance CA PD", "Timestamp"),
            (f"2026-01-15T19:02:11 {PLATE}", "create", "Receiving Organization: Torrance CA PD", "Timestamp"),
            ("2026-01-15T19:02:11Z", "Bulk Approve", f"Approved Count: {PLATE}\nOrganizations: A PD; B PD", None),
            ("2026-01-15T19:02:11Z", f"Modify {PLATE}", "Receiving Organization: Torrance CA PD", "Event Type"),
        ],
    )
    def test_event_log(self, tmp_path: Path, stamp: str, event_type: str, details: str, field: str | None) -> None:
        """A plate in the event log's Timestamp, a count in its details or its Event Type is never quoted."""
        header = ["Timestamp", "User", "Event Type", "Entity Type", "Entity Details"]
        path = write_csv(tmp_path / "log.csv", header, [[stamp, "admin-7", event_type, "networkShare", details]])
        error = only_error(list(read_events(path, options=OAKLAND)))
        assert error.field == (field or "Entity Details")
        assert_no_plate(error.reason)

    def test_event_log_skip_reason(self, tmp_path: Path) -> None:
        """A skipped row's reason names its entity type by shape when that holds a plate."""
        header = ["Timestamp", "User", "Event Type", "Entity Type", "Entity Details"]
        path = write_csv(tmp_path / "log.csv", header, [["2026-01-15T19:02:11Z", "u", "create", PLATE, "x: y"]])
        (skipped,) = read_events(path, options=OAKLAND)
        assert isinstance(skipped, Skipped)
        assert_no_plate(skipped.reason)

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"event_type": PLATE}, "$.event_type"),
            ({"event_type": "sharing_change", "sharing": {"action": PLATE, "direction": "outbound"}},
             "$.sharing.action"),
            ({"event_type": "sharing_change", "sharing": {"action": "grant", "direction": PLATE}},
             "$.sharing.direction"),
            ({"occurred_at": PLATE}, "$.occurred_at"),
        ],
    )  # fmt: skip
    def test_jsonl(self, tmp_path: Path, changes: dict[str, object], field: str) -> None:
        """A plate in a v1 enum or time field is rejected without quoting it (the decoder's message would)."""
        event: dict[str, object] = {
            "event_id": "e1", "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z",
            "owner": {"agency": "Oakland CA PD"}, "requester": {"agency": "Berkeley CA PD"}, "query": {"reason": "x"},
        }  # fmt: skip
        event.update(changes)
        path = tmp_path / "events.jsonl"
        path.write_text(json.dumps(event) + "\n", encoding="utf-8")
        error = only_error(list(read_events(path)))
        assert error.field == field
        assert_no_plate(error.reason)

    def test_jsonl_vocabulary_is_still_quoted(self, tmp_path: Path) -> None:
        """v1 vocabulary in a decoder message stays readable (only other quoted values are masked)."""
        event = {
            "event_id": "e1", "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z",
            "owner": {"agency": "Oakland CA PD"}, "requester": {"agency": "Berkeley CA PD"},
        }  # fmt: skip
        path = tmp_path / "events.jsonl"
        path.write_text(json.dumps(event) + "\n", encoding="utf-8")
        assert "'query'" in only_error(list(read_events(path))).reason


class TestFileErrorsHideCells:
    def test_headerless_file_with_format_given(self, tmp_path: Path) -> None:
        """A file whose first line is a record, read with a format given, is refused without quoting the record."""
        path = tmp_path / "no-header.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            csv.writer(out).writerow(network_row(License_Plate=PLATE, Name="officer.jones"))
        with pytest.raises(BadHeader) as raised:
            list(read_events(path, fmt="flock-network-audit", options=OAKLAND))
        assert_no_plate(str(raised.value))
        assert "officer.jones" not in str(raised.value)
