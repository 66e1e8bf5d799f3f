"""Flock adapters: network/organisation audit (CSV and XLSX), portal search audit (real data), event log."""

from __future__ import annotations

import csv
import io
import sys
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest

from monitor.events import AccessEvent, Owner, Requester
from monitor.ingest import IngestOptions, Item, MissingOption, RowError, Skipped, Tally, read_events
from monitor.ingest._flock_events import UNNAMED

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NETWORK_2025 = FIXTURES / "flock-network-audit-2025.csv"
OAKLAND_OWNER = Owner(agency="Oakland CA PD", ori="CA0010900", state="CA")
OAKLAND = IngestOptions(owner=OAKLAND_OWNER)
EUGENE = IngestOptions(owner=Owner(agency="Eugene OR PD", state="OR"))
LONG_BEACH = IngestOptions(owner=Owner(agency="Long Beach CA PD", state="CA"))


def read(path: Path | str, options: IngestOptions = OAKLAND, fmt: str | None = None) -> list[Item]:
    return list(read_events(path, fmt=fmt, options=options))


def events(items: list[Item]) -> list[AccessEvent]:
    return [item for item in items if isinstance(item, AccessEvent)]


def by_org(items: list[Item], org: str) -> AccessEvent:
    (event,) = [event for event in events(items) if event.requester.agency == org]
    return event


def outcome(items: list[Item]) -> list[tuple[str, int | None, str | None]]:
    """(kind, line, field) per non-event item, in order."""
    return [
        (type(item).__name__, item.line, item.field if isinstance(item, RowError) else None)
        for item in items
        if not isinstance(item, AccessEvent)
    ]


class TestFlockNetworkAudit:
    def test_counts_add_up(self) -> None:
        """16 records: 8 events, 5 row errors, 3 skipped (two export copies and a repeated header)."""
        tally = Tally()
        list(tally.count(read_events(NETWORK_2025, options=OAKLAND)))
        assert (tally.events, tally.errors, tally.skipped) == (8, 5, 3)

    def test_malformed_rows_are_reported_with_their_first_physical_line(self) -> None:
        """Each bad record names the line it starts on (records span two lines) and the offending field."""
        assert outcome(read(NETWORK_2025)) == [
            ("Skipped", 4, None),
            ("Skipped", 6, None),
            ("RowError", 14, "Search Time"),
            ("RowError", 16, "Total Networks Searched"),
            ("RowError", 18, "Search Time"),
            ("Skipped", 22, None),
            ("RowError", 24, None),
            ("RowError", 26, "Search Time"),
        ]

    def test_error_reasons_and_file(self) -> None:
        """Reasons start with a stable code, quote only non-personal values, and name the file."""
        found = {item.line: item for item in read(NETWORK_2025) if isinstance(item, RowError)}
        assert found[14].reason == "invalid_field: Search Time '13/45/2025, 10:99:17 PM UTC' is not a timestamp"
        assert found[18].reason.startswith("missing_field: Search Time is empty")
        assert found[24].reason == "bad_row: 4 cells where the header has 15"
        assert found[26].reason.startswith("missing_field: Search Time is redacted")
        assert {item.file for item in found.values()} == {str(NETWORK_2025)}

    def test_leading_space_headers_and_field_mapping(self) -> None:
        """Headers with a leading space map to the v1 fields; Name is the user, Org Name the requester."""
        chp = by_org(read(NETWORK_2025), "California Highway Patrol")
        assert chp.owner == OAKLAND_OWNER
        assert chp.requester == Requester(agency="California Highway Patrol", user="K. Nguyen")
        assert chp.query is not None
        assert (chp.query.plate, chp.query.reason, chp.query.search_type) == ("7ABC123", "Person Crime", "search")
        assert (chp.query.networks_searched, chp.query.devices_searched) == (3, 120)
        assert chp.occurred_at == datetime(2025, 11, 14, 13, 59, 2, tzinfo=UTC)
        assert chp.source is not None
        assert (chp.source.vendor, chp.source.log) == ("flock", "network_audit")

    def test_two_line_time_frame(self) -> None:
        """The Time Frame cell's two lines are the start and the end of the searched window."""
        chp = by_org(read(NETWORK_2025), "California Highway Patrol")
        assert chp.query is not None
        assert chp.query.time_frame_start == datetime(2025, 11, 14, 8, 0, tzinfo=UTC)
        assert chp.query.time_frame_end == datetime(2025, 11, 14, 14, 0, tzinfo=UTC)

    def test_one_line_time_frame_with_to(self) -> None:
        """Lodi's exports write `<start> to <end>` on one line."""
        lodi = by_org(read(NETWORK_2025), "Lodi CA PD")
        assert lodi.query is not None
        assert lodi.query.time_frame_start == datetime(2025, 11, 12, 21, 0, tzinfo=UTC)
        assert lodi.query.time_frame_end == datetime(2025, 11, 13, 21, 0, tzinfo=UTC)

    def test_redactions_are_kept_as_given(self) -> None:
        """`***` and `REDACTED` stay in text fields (trimmed), so the classifier can see the record is masked."""
        items = read(NETWORK_2025)
        hsi = by_org(items, "HSI Los Angeles")
        assert hsi.query is not None
        assert (hsi.requester.user, hsi.query.plate) == ("REDACTED", "REDACTED")
        marshall = by_org(items, "Marshall TX PD")
        assert marshall.query is not None
        assert (marshall.requester.user, marshall.query.plate, marshall.query.case_number) == ("***", "***", "***")
        chp = by_org(items, "California Highway Patrol")
        assert chp.query is not None
        assert chp.query.case_number == "REDACTED"  # released as " REDACTED"

    def test_sentinel_reads_as_absent(self) -> None:
        """`——` in a number or time cell is None, not an error."""
        items = read(NETWORK_2025)
        hsi = by_org(items, "HSI Los Angeles")
        assert hsi.query is not None
        assert hsi.query.devices_searched is None
        phoenix = by_org(items, "Phoenix AZ PD")
        assert phoenix.query is not None
        assert (phoenix.query.networks_searched, phoenix.query.devices_searched) == (None, None)
        assert (phoenix.query.time_frame_start, phoenix.query.time_frame_end) == (None, None)

    def test_thousands_separator_and_messy_spaces(self) -> None:
        """`"1,234"` is 1234; a name with surrounding spaces is trimmed."""
        fbi = by_org(read(NETWORK_2025), "FBI")
        assert fbi.query is not None
        assert fbi.query.devices_searched == 1234
        assert fbi.requester.user == "J.  Doe"

    def test_offense_type_present(self) -> None:
        """The 2025 Offense Type column fills query.offense_type; blank cells are None."""
        items = read(NETWORK_2025)
        marshall, chp = by_org(items, "Marshall TX PD"), by_org(items, "California Highway Patrol")
        assert marshall.query is not None
        assert chp.query is not None
        assert (marshall.query.offense_type, chp.query.offense_type) == ("Auto Theft", None)

    def test_offense_type_and_id_absent(self) -> None:
        """A 2024 export (no ID, no Offense Type) still reads; ids come from the content hash."""
        items = read(FIXTURES / "flock-network-audit-2024.csv")
        produced = events(items)
        assert [event.requester.agency for event in produced] == ["Justice IL PD", "NCRIC"]
        assert all(event.query is not None and event.query.offense_type is None for event in produced)
        assert all(event.event_id.startswith("flock~") for event in produced)
        assert outcome(items) == [("Skipped", 4, None)]

    def test_duplicate_ids_get_distinct_stable_event_ids(self) -> None:
        """Two different records sharing a Flock ID get different ids; re-reading gives the same ids."""
        first, second = read(NETWORK_2025), read(NETWORK_2025)
        ids = [event.event_id for event in events(first)]
        assert len(ids) == len(set(ids))
        assert ids == [event.event_id for event in events(second)]
        shared = "5d0c2a8e-6a51-4d1e-9f2a-1b7c3e9d4a10"
        same_id = [event for event in events(first) if event.event_id.startswith(shared + "~")]
        assert {event.requester.agency for event in same_id} == {"Marshall TX PD", "Harris County TX SO"}

    def test_export_copies_are_skipped_not_dropped(self) -> None:
        """An exact copy, and a copy whose live device counter moved by one, are Skipped naming the first line."""
        skipped = [item for item in read(NETWORK_2025) if isinstance(item, Skipped) and item.line in (4, 6)]
        assert [item.reason for item in skipped] == ["repeat of the record at line 2 (an export copy)"] * 2

    def test_event_ids_depend_on_the_owner(self) -> None:
        """The same search in two owners' network audits gives two event ids (two accesses, two alerts)."""
        other = IngestOptions(owner=Owner(agency="San Jose CA PD"))
        ids = {event.event_id for event in events(read(NETWORK_2025))}
        assert ids.isdisjoint(event.event_id for event in events(read(NETWORK_2025, other)))

    def test_crlf_line_endings_keep_line_numbers(self, tmp_path: Path) -> None:
        """With CRLF records the same physical lines are reported."""
        crlf = tmp_path / "crlf.csv"
        crlf.write_bytes(NETWORK_2025.read_bytes().replace(b"\n", b"\r\n"))
        assert outcome(read(crlf)) == outcome(read(NETWORK_2025))

    def test_organisation_audit_without_org_name_uses_the_default_requester(self) -> None:
        """An organisation audit has no Org Name: the default requester (the owner) searched, with Name as user."""
        own = Requester(agency="Oakland CA PD", state="CA")
        options = IngestOptions(owner=OAKLAND_OWNER, default_requester=own)
        produced = events(read(FIXTURES / "flock-org-audit-2025.csv", options))
        assert [event.requester for event in produced] == [
            Requester(agency="Oakland CA PD", state="CA", user="R. Alvarez")
        ] * 2

    def test_organisation_audit_needs_a_default_requester(self) -> None:
        """Without Org Name and without a default requester the file is refused before any row."""
        with pytest.raises(MissingOption, match="Org Name"):
            read_events(FIXTURES / "flock-org-audit-2025.csv", options=OAKLAND)

    def test_invalid_bytes_fail_one_record_and_the_encoding_option_reads_them(self, tmp_path: Path) -> None:
        """A cp1252 apostrophe is an invalid_encoding RowError in UTF-8, and reads with encoding='cp1252'."""
        lines = NETWORK_2025.read_bytes().split(b"\n")
        lines[11] = lines[11].replace(b"California Highway Patrol", b"Sheriff\x92s Office")
        path = tmp_path / "cp1252.csv"
        path.write_bytes(b"\n".join(lines))
        broken = [item for item in read(path) if isinstance(item, RowError) and item.line == 12]
        assert [item.reason.split(":")[0] for item in broken] == ["invalid_encoding"]
        fixed = read(path, IngestOptions(owner=OAKLAND_OWNER, encoding="cp1252"))
        assert by_org(fixed, "Sheriff’s Office").requester.user == "K. Nguyen"

    def test_unbalanced_quote_is_one_error_at_its_first_line(self, tmp_path: Path) -> None:
        """A quote that never closes swallows the rest of the file into one record: one RowError at its start."""
        head = NETWORK_2025.read_text(encoding="utf-8").splitlines(keepends=True)[:13]
        plain = "0b1c,***,Tulsa OK PD,1,2,,***,inv,,,,lookup,,,\n"
        path = tmp_path / "runaway.csv"
        path.write_text(
            "".join(head) + '0a1b,***,"Tulsa OK PD,1,2,,***,inv,,,,lookup,,,\n' + plain * 5, encoding="utf-8"
        )
        items = read(path)
        assert len(events(items)) == 4
        assert outcome(items)[-1] == ("RowError", 14, None)
        last = items[-1]
        assert isinstance(last, RowError)
        assert "record runs to line 19: an unbalanced quote?" in last.reason

    def test_row_errors_never_quote_plates_or_names(self, tmp_path: Path) -> None:
        """A bad record's reason gives only the shape of a cell that is not a time or number, never a plate or name."""
        text = NETWORK_2025.read_text(encoding="utf-8").replace(
            "K. Nguyen,California Highway Patrol,3,", "K. Nguyen,California Highway Patrol,x7ABC123,"
        )
        path = tmp_path / "bad.csv"
        path.write_text(text, encoding="utf-8")
        (failure,) = [item for item in read(path) if isinstance(item, RowError) and item.line == 12]
        assert failure.field == "Total Networks Searched"
        assert failure.reason == "invalid_field: Total Networks Searched of shape 'a9AAA999'"
        assert "7ABC123" not in failure.reason
        assert "Nguyen" not in failure.reason
        assert "Person Crime" not in failure.reason


def _workbook(path: Path, rows: list[list[object]], extra_sheet: bool = False) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    if extra_sheet:
        sheet.title = "Summary"
        sheet.append(["Report", "Network Audit"])
        sheet = book.create_sheet("Network Audit")
    for row in rows:
        sheet.append(row)
    book.save(path)


def _typed(cell: str, column: str) -> object:
    """Cells as a spreadsheet would type them: counts as numbers, Search Time as a datetime."""
    if column.strip() in ("Total Networks Searched", "Total Devices Searched") and cell.isdigit():
        return int(cell)
    if column.strip() == "Search Time" and cell.endswith("UTC") and not cell.startswith("13/"):
        return datetime.strptime(cell, "%m/%d/%Y, %I:%M:%S %p UTC")
    return cell


class TestFlockNetworkAuditXlsx:
    def test_xlsx_gives_the_same_events_as_the_csv(self, tmp_path: Path) -> None:
        """The same export as XLSX (numbers and times typed by the spreadsheet) gives the same events and ids."""
        rows = list(csv.reader(io.StringIO(NETWORK_2025.read_text(encoding="utf-8"), newline="")))
        header = rows[0]
        typed: list[list[object]] = [list[object](header)]
        typed += [
            [_typed(cell, header[index]) if index < len(header) else cell for index, cell in enumerate(row)]
            for row in rows[1:]
            if row
        ]
        path = tmp_path / "audit.xlsx"
        _workbook(path, typed)
        from_xlsx, from_csv = read(path), read(NETWORK_2025)
        assert events(from_xlsx) == events(from_csv)
        assert len(from_xlsx) == len(from_csv)

    def test_xlsx_errors_name_the_spreadsheet_row(self, tmp_path: Path) -> None:
        """In XLSX a record's line is its spreadsheet row."""
        rows = list(csv.reader(io.StringIO(NETWORK_2025.read_text(encoding="utf-8"), newline="")))
        _workbook(tmp_path / "audit.xlsx", [list(row) for row in rows if row])
        found = [(item.line, item.field) for item in read(tmp_path / "audit.xlsx") if isinstance(item, RowError)]
        # CSV records at lines 14, 16, 18, 24, 26 are spreadsheet rows 8, 9, 10, 14, 16. A short row is padded
        # (a workbook drops trailing blank cells), so row 14 fails on its blank Search Time.
        assert found == [
            (8, "Search Time"),
            (9, "Total Networks Searched"),
            (10, "Search Time"),
            (14, "Search Time"),
            (16, "Search Time"),
        ]

    def test_workbook_with_a_summary_sheet(self, tmp_path: Path) -> None:
        """A workbook whose first sheet is a summary is detected from the audit sheet; the summary is Skipped."""
        rows = list(csv.reader(io.StringIO(NETWORK_2025.read_text(encoding="utf-8"), newline="")))
        path = tmp_path / "two-sheets.xlsx"
        _workbook(path, [list(row) for row in rows if row], extra_sheet=True)
        items = read(path)
        assert len(events(items)) == 8
        assert isinstance(items[0], Skipped)
        assert items[0].file == f"{path}#Summary"
        assert {item.file for item in items if isinstance(item, RowError)} == {f"{path}#Network Audit"}

    def test_xlsx_from_standard_input(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """An XLSX piped on standard input is spooled and read."""
        rows = list(csv.reader(io.StringIO(NETWORK_2025.read_text(encoding="utf-8"), newline="")))
        path = tmp_path / "audit.xlsx"
        _workbook(path, [list(row) for row in rows if row])
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))
        assert len(events(read("-"))) == 8


class TestFlockPortalAudit:
    PATH = DATA / "flock-portal-search-audit-eugene-2025.csv"

    def test_real_file_counts_add_up(self) -> None:
        """Every record of the real Eugene audit is an event, an error or skipped; the ids are unique."""
        with self.PATH.open(encoding="utf-8", newline="") as handle:
            records = sum(1 for row in csv.reader(handle) if row) - 1
        tally = Tally()
        items = list(tally.count(read_events(self.PATH, options=EUGENE)))
        assert tally.records == records == 4294  # SOURCES.md says 4,293: the file has 4,294 data rows
        assert tally.events == records  # the real file is clean
        assert len({event.event_id for event in events(items)}) == tally.events

    def test_requester_is_the_owner_with_the_user_id(self) -> None:
        """A portal audit lists the owner's own searches: the requester is the owner's agency, user = userId."""
        first = events(read(self.PATH, EUGENE))[0]
        assert first.requester == Requester(
            agency="Eugene OR PD", state="OR", user="587e52c3-e5b1-494d-bc15-943a853a26f5"
        )
        assert first.query is not None
        assert (first.query.reason, first.query.devices_searched) == ("investigation", 2510)
        assert first.occurred_at == datetime(2025, 6, 18, 0, 2, 4, 789000, tzinfo=UTC)

    def test_reasons_are_kept_raw_and_blank_reasons_are_absent(self) -> None:
        """`Person+Crime` is kept as exported; the five blank reasons are None (a finding for the classifier)."""
        reasons = [event.query.reason for event in events(read(self.PATH, EUGENE)) if event.query is not None]
        assert "Person+Crime" in reasons
        assert reasons.count(None) == 5

    def test_assumed_time_zone(self) -> None:
        """searchDate has no zone; assume_tz says which (UTC by default)."""
        pacific = IngestOptions(owner=EUGENE.owner, assume_tz="America/Los_Angeles")
        first = events(read(self.PATH, pacific))[0]
        assert first.occurred_at == datetime(2025, 6, 18, 7, 2, 4, 789000, tzinfo=UTC)

    def test_bad_rows(self, tmp_path: Path) -> None:
        """A bad date or camera count is a RowError on its line; the rest still reads."""
        lines = self.PATH.read_text(encoding="utf-8").splitlines()[:6]
        lines[2] = lines[2].replace("2025-06-18 00:09:13.397", "not a date")
        lines[4] = lines[4].replace(",94,", ",-94,")
        path = tmp_path / "portal.csv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert outcome(read(path, EUGENE)) == [("RowError", 3, "searchDate"), ("RowError", 5, "cameraCount")]


class TestFlockEventLog:
    PATH = FIXTURES / "flock-event-log-2026.csv"

    def test_non_sharing_rows_are_skipped_and_bad_rows_reported(self) -> None:
        """Hotlist, user and settings rows are Skipped with their line; malformed sharing rows are RowErrors."""
        assert outcome(read(self.PATH, LONG_BEACH)) == [
            ("Skipped", 2, None),
            ("Skipped", 21, None),
            ("Skipped", 25, None),
            ("RowError", 26, "Timestamp"),
            ("RowError", 27, "Entity Details"),
            ("RowError", 28, "Event Type"),
            ("Skipped", 31, None),
        ]

    def test_grant_to_the_receiving_organization(self) -> None:
        """A networkShare create is an outbound grant to the Receiving Organization, actor = User."""
        grant = next(
            event for event in events(read(self.PATH, LONG_BEACH)) if event.requester.agency == "Torrance CA PD"
        )
        assert grant.event_type == "sharing_change"
        assert grant.sharing is not None
        assert (grant.sharing.action, grant.sharing.direction, grant.sharing.actor) == ("grant", "outbound", "admin-7")
        assert grant.event_id == "0c5e4a1f-0002-4b2d-9e1a-3f6b8d2c7a02"

    def test_bulk_approval_is_one_event_per_named_agency(self) -> None:
        """A group approval naming three agencies gives three events with approval_mode group and batch 312."""
        bulk = [event for event in events(read(self.PATH, LONG_BEACH)) if event.event_id.startswith("0c5e4a1f-0003")]
        assert [event.requester.agency for event in bulk] == [
            "Glendale CA PD",
            "ICE ERO Los Angeles",
            "Sacramento County CA SO",
        ]
        assert [event.event_id[-2:] for event in bulk] == [":1", ":2", ":3"]
        assert {(e.sharing.action, e.sharing.approval_mode, e.sharing.batch_size) for e in bulk if e.sharing} == {
            ("approve_request", "group", 312)
        }
        assert {e.sharing.actor for e in bulk if e.sharing} == {"Dana Reyes"}  # whitespace collapsed

    def test_unnamed_group_approval_is_still_an_event(self) -> None:
        """A group approval that names nobody is one event with a placeholder requester, so it is seen."""
        (unnamed,) = [event for event in events(read(self.PATH, LONG_BEACH)) if event.requester.agency == UNNAMED]
        assert unnamed.sharing is not None
        assert (unnamed.sharing.approval_mode, unnamed.sharing.batch_size) == ("group", 45)

    def test_decisions_review_and_revocations(self) -> None:
        """Approvals, denials and revocations map to their actions, with command review when stated."""
        by_id = {event.event_id[-2:]: event.sharing for event in events(read(self.PATH, LONG_BEACH))}
        assert by_id["04"] is not None
        assert (by_id["04"].action, by_id["04"].command_review) == (
            "approve_request",
            False,
        )
        assert by_id["05"] is not None
        assert (by_id["05"].action, by_id["05"].command_review) == ("deny_request", True)
        assert by_id["06"] is not None
        assert by_id["06"].action == "revoke"
        assert by_id["14"] is not None
        assert by_id["14"].action == "revoke"

    def test_share_into_another_network_is_inbound(self) -> None:
        """When the owner receives access to another agency's network, the event is inbound from that agency."""
        inbound = next(event for event in events(read(self.PATH, LONG_BEACH)) if event.event_id.endswith("08"))
        assert inbound.requester.agency == "Fresno CA PD"
        assert inbound.sharing is not None
        assert inbound.sharing.direction == "inbound"

    def test_timestamps_with_and_without_zone(self) -> None:
        """`Z`, `+00:00` and zone-less timestamps (read in assume_tz) all parse."""
        by_id = {event.event_id[-2:]: event.occurred_at for event in events(read(self.PATH, LONG_BEACH))}
        assert by_id["05"] == datetime(2026, 1, 16, 9, 0, tzinfo=UTC)
        assert by_id["14"] == datetime(2026, 1, 19, 9, 0, tzinfo=UTC)

    def test_needs_the_owner(self) -> None:
        """An event log is one organisation's and does not name it: the owner option is required."""
        with pytest.raises(MissingOption):
            read_events(self.PATH)
