"""Flock search audits: the network/organisation audit (CSV or XLSX) and the transparency-portal search audit.

Event ids. A Flock audit `ID` is the search's UUID, but an export can hold the same record several times
(consecutive exact copies, or copies that differ by one in `Total Devices Searched`, a live counter caught
mid-export), and the same search appears in the network audit of every owner whose cameras it touched.
So an event id is `<ID>~<hash>`, the hash covering the owner and every exported field except the live
device counter (and `Offense Type`, which only newer exports have). Re-reading a file, or reading the same
export as CSV or XLSX, gives the same ids; distinct records that share an ID get distinct ids. A record whose
id equals one of the previous 4,096 records is yielded as `Skipped` (an export copy), so ids within a
file are unique without holding the whole file in memory. Rows without a usable ID get `flock~<hash>`.

Redaction markers (`***`, `REDACTED`, ...) in text fields are kept as given; in number and time fields they
read as absent. `——` reads as absent everywhere. Surrounding spaces are trimmed (Marin's ` REDACTED`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime, tzinfo

import msgspec

from monitor.events import AccessEvent, Query, Requester, Source

from ._model import IngestOptions, Item, MissingOption, RowError, Skipped
from ._table import RowParser, TableAdapter, require_owner
from ._values import SENTINEL, digest, is_redacted, natural_id, parse_count, parse_time, show, text, zone

_REPEAT_WINDOW = 4096
# Where a second timestamp starts inside one line: `11/20/2025, 04:48:00 AM UTC 12/04/2025, ...`.
_SECOND_BOUND = re.compile(r"\s+(?=\d{1,2}/\d{1,2}/\d{4}\b|\d{4}-\d{2}-\d{2}[T ]\d)")
_MAX_AGENCY = 512


class RecentIds:
    """The last few thousand event ids of a file, to recognise export copies in bounded memory."""

    def __init__(self, size: int = _REPEAT_WINDOW) -> None:
        self._size = size
        self._seen: OrderedDict[str, int] = OrderedDict()

    def first_line(self, event_id: str, line: int) -> int | None:
        """The line where `event_id` was seen recently, or None (and remember it)."""
        first = self._seen.get(event_id)
        if first is not None:
            return first
        self._seen[event_id] = line
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)
        return None


def _timestamp(raw: str, assume: tzinfo) -> datetime | None:
    """Parsed time; None for blank, sentinel or redacted; ValueError otherwise."""
    if not raw or raw == SENTINEL:
        return None
    try:
        return parse_time(raw, assume)
    except ValueError:
        if is_redacted(raw):
            return None
        raise


def _time_frame(raw: str, assume: tzinfo) -> tuple[datetime | None, datetime | None]:
    """Flock's Time Frame: `<start>` newline `<end>` (Lodi's exports: `<start> to <end>` on one line; a printed
    PDF's wrapped cell: `<start> <end>`, split where the second date begins)."""
    value = raw.strip()
    if not value or value == SENTINEL:
        return None, None
    parts = value.splitlines()
    if len(parts) != 2:
        parts = [part for part in value.splitlines() if part.strip()]
        if len(parts) == 1:
            parts = parts[0].split(" to ")
        if len(parts) == 1:
            parts = _SECOND_BOUND.split(parts[0])
        if len(parts) != 2:
            if is_redacted(value):
                return None, None
            raise ValueError(f"{len(parts)} bounds where a start and an end belong")
    return _timestamp(parts[0].strip(), assume), _timestamp(parts[1].strip(), assume)


class FlockNetworkAudit(TableAdapter):
    """Flock network audit (searches of the owner's cameras, by anyone) and organisation audit (the owner's users).

    Columns: `ID, Name, Org Name, Total Networks Searched, Total Devices Searched, Time Frame, License Plate,
    Reason, Case #, Filters, Search Time, Search Type, Text Prompt, Moderation[, Offense Type]`, names
    compared without case or leading spaces. An export without `Org Name` needs `default_requester`.
    """

    name = "flock-network-audit"
    needs_owner = True
    zoneless_times = True

    def accepts(self, names: list[str]) -> bool:
        """A `Search Time` and `Reason` column with at least one of the search-scope columns."""
        have = set(names)
        return (
            "search time" in have
            and "reason" in have
            and bool(have & {"license plate", "time frame", "total networks searched"})
        )

    def parser(self, names: list[str], label: str, options: IngestOptions) -> RowParser:
        """Row parser for one table; the column positions are fixed per table."""
        if "org name" not in names and options.default_requester is None:
            message = (
                f"{label}: this audit has no Org Name column; give the default requester option "
                "(the owner itself for an organisation audit)"
            )
            raise MissingOption(message)
        return _network_parser(names, label, options)


def _network_parser(names: list[str], label: str, options: IngestOptions) -> RowParser:
    owner = require_owner(FlockNetworkAudit.name, label, options)
    default = options.default_requester
    assume = zone(options.assume_tz)
    source = Source(vendor=options.source_vendor or "flock", log="network_audit")
    recent = RecentIds()
    col: dict[str, int] = {}
    for index, name in enumerate(names):
        col.setdefault(name, index)
    i_id, i_name, i_org = col.get("id", -1), col.get("name", -1), col.get("org name", -1)
    i_nets, i_devs = col.get("total networks searched", -1), col.get("total devices searched", -1)
    i_frame, i_plate, i_reason = col.get("time frame", -1), col.get("license plate", -1), col["reason"]
    i_case, i_filters, i_time = col.get("case #", -1), col.get("filters", -1), col["search time"]
    i_type, i_prompt, i_mod = col.get("search type", -1), col.get("text prompt", -1), col.get("moderation", -1)
    i_offense = col.get("offense type", -1)

    def error(line: int, field: str, reason: str) -> RowError:
        return RowError(label, line, reason, field=field)

    def parse(line: int, end: int, cells: list[str]) -> Item:
        cells.append("")  # absent columns have index -1: they read as blank
        raw_time = cells[i_time].strip()
        try:
            occurred = _timestamp(raw_time, assume)
        except ValueError:
            return error(line, "Search Time", f"invalid_field: Search Time {show(raw_time)} is not a timestamp")
        if occurred is None:
            why = "redacted" if raw_time and raw_time != SENTINEL else "empty"
            return error(line, "Search Time", f"missing_field: Search Time is {why}; an access needs its time")
        raw_frame = cells[i_frame].strip()
        try:
            frame_start, frame_end = _time_frame(raw_frame, assume)
        except ValueError:
            # Only the cell's shape: a parser's message may quote the cell, and a cell may hold a plate.
            why = f"invalid_field: Time Frame {show(raw_frame)} is not a start and an end time"
            return error(line, "Time Frame", why)
        raw_nets, raw_devs = cells[i_nets].strip(), cells[i_devs].strip()
        try:
            networks = parse_count(raw_nets)
        except ValueError:
            return error(line, "Total Networks Searched", f"invalid_field: Total Networks Searched {show(raw_nets)}")
        try:
            devices = parse_count(raw_devs)
        except ValueError:
            return error(line, "Total Devices Searched", f"invalid_field: Total Devices Searched {show(raw_devs)}")
        user = text(cells[i_name])
        org = text(cells[i_org])
        if org is not None:
            if len(org) > _MAX_AGENCY:
                return error(line, "Org Name", f"invalid_field: Org Name is longer than {_MAX_AGENCY} characters")
            requester = Requester(agency=org, user=user)
        elif default is not None:
            requester = msgspec.structs.replace(default, user=user) if user is not None else default
        else:
            return error(line, "Org Name", "missing_field: Org Name is empty and no default requester is configured")
        raw_id = cells[i_id].strip()
        plate, reason, case = text(cells[i_plate]), text(cells[i_reason]), text(cells[i_case])
        search_type = text(cells[i_type])
        # Times enter the hash as instants, so the CSV and the XLSX of one export give the same ids.
        start_text = str(frame_start.timestamp()) if frame_start else None
        end_text = str(frame_end.timestamp()) if frame_end else None
        key = digest(
            owner.agency, raw_id, user, org, str(networks), start_text, end_text, plate, reason, case,
            cells[i_filters].strip(), str(occurred.timestamp()), search_type, cells[i_prompt].strip(),
            cells[i_mod].strip(),
        )  # fmt: skip
        event_id = f"{natural_id(raw_id) or 'flock'}~{key}"
        first = recent.first_line(event_id, line)
        if first is not None:
            return Skipped(label, line, f"repeat of the record at line {first} (an export copy)")
        query = Query(
            plate=plate,
            reason=reason,
            case_number=case,
            offense_type=text(cells[i_offense]),
            time_frame_start=frame_start,
            time_frame_end=frame_end,
            networks_searched=networks,
            devices_searched=devices,
            search_type=search_type,
        )
        return AccessEvent(
            event_id=event_id,
            event_type="query",
            occurred_at=occurred,
            owner=owner,
            requester=requester,
            query=query,
            source=source,
        )

    return parse


class FlockPortalAudit(TableAdapter):
    """Flock transparency-portal search audit: `"id","userId","searchDate","cameraCount","reason"`.

    It lists the owner's own searches, so the requester is the owner's agency (or `default_requester`),
    with `userId` as the user. `searchDate` has no zone: read in `assume_tz` (UTC by default). Reasons are
    kept as given: the export writes some spaces as `+` (`Person+Crime`); the purpose classifier reads both.
    """

    name = "flock-portal-audit"
    needs_owner = True
    zoneless_times = True
    _columns = frozenset({"id", "userid", "searchdate", "cameracount", "reason"})

    def accepts(self, names: list[str]) -> bool:
        """All five portal columns."""
        return self._columns <= set(names)

    def parser(self, names: list[str], label: str, options: IngestOptions) -> RowParser:
        """Row parser for one table."""
        owner = require_owner(self.name, label, options)
        requester = options.default_requester or Requester(agency=owner.agency, ori=owner.ori, state=owner.state)
        assume = zone(options.assume_tz)
        source = Source(vendor=options.source_vendor or "flock", log="portal_search_audit")
        recent = RecentIds()
        i_id, i_user, i_date = names.index("id"), names.index("userid"), names.index("searchdate")
        i_count, i_reason = names.index("cameracount"), names.index("reason")

        def parse(line: int, end: int, cells: list[str]) -> Item:
            raw_date = cells[i_date].strip()
            try:
                occurred = _timestamp(raw_date, assume)
            except ValueError:
                return RowError(label, line, f"invalid_field: searchDate {show(raw_date)}", field="searchDate")
            if occurred is None:
                return RowError(label, line, "missing_field: searchDate is empty", field="searchDate")
            raw_count = cells[i_count].strip()
            try:
                cameras = parse_count(raw_count)
            except ValueError:
                return RowError(label, line, f"invalid_field: cameraCount {show(raw_count)}", field="cameraCount")
            raw_id, user, reason = cells[i_id].strip(), text(cells[i_user]), text(cells[i_reason])
            key = digest(owner.agency, raw_id, user, str(occurred.timestamp()), str(cameras), reason)
            event_id = f"{natural_id(raw_id) or 'flock'}~{key}"
            first = recent.first_line(event_id, line)
            if first is not None:
                return Skipped(label, line, f"repeat of the record at line {first} (an export copy)")
            who = msgspec.structs.replace(requester, user=user) if user is not None else requester
            return AccessEvent(
                event_id=event_id,
                event_type="query",
                occurred_at=occurred,
                owner=owner,
                requester=who,
                query=Query(reason=reason, devices_searched=cameras),
                source=source,
            )

        return parse
