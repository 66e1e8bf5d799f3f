"""Sharing lists: who may search whose data, as of one moment. Each entry becomes a `grant` event.

A list has no time per row, so every event's `occurred_at` is the moment the list was observed:
`IngestOptions.as_of`, else a date the report prints, else the file's modification time (the read time
for standard input). Give `as_of` for output that does not depend on the file system.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from monitor.events import AccessEvent, Owner, Requester, Sharing, Source

from ._flock_audit import RecentIds
from ._model import IngestOptions, Item, RowError, Skipped
from ._table import RowParser, TableAdapter, require_owner
from ._values import US_STATES, collapse, digest, natural_id, zone

_GRANT = Sharing(action="grant", direction="outbound")
_MAX_AGENCY = 512


def observed_at(path: str, options: IngestOptions, printed: datetime | None = None) -> datetime:
    """When a list was observed: the option, the printed date, the file's mtime, or now."""
    if options.as_of is not None:
        when = options.as_of
        if when.tzinfo is None:
            when = when.replace(tzinfo=zone(options.assume_tz))
        return when.astimezone(UTC)
    if printed is not None:
        return printed
    for candidate in (path, path.rpartition("#")[0]):  # "book.xlsx#Sheet" names a worksheet of book.xlsx
        try:
            return datetime.fromtimestamp(int(os.stat(candidate).st_mtime), UTC)
        except (OSError, ValueError):
            continue
    return datetime.now(UTC).replace(microsecond=0)


def state_code(raw: str) -> str | None:
    """A US state or territory code, or None (`??`, blanks and anything else are not evidence)."""
    value = raw.strip().upper()
    return value if value in US_STATES else None


class FlockSharingGraph(TableAdapter):
    """The sharing graph scraped from Flock portals: `src_agency,external_agency,src_agency_id,external_agency_id`.

    Each row: `src_agency` (the owner of that row; its state is left to the resolver) lets
    `external_agency` search its cameras. Event id `flock-share:<src id>:<external id>`, so a later scrape
    of the same grant has the same id. When `owner` is given and names the row's source agency, that
    owner (with its ORI and state) is used.
    """

    name = "flock-sharing-graph"

    def accepts(self, names: list[str]) -> bool:
        """`src_agency` and `external_agency` columns."""
        return {"src_agency", "external_agency"} <= set(names)

    def parser(self, names: list[str], label: str, options: IngestOptions) -> RowParser:
        """Row parser for one table."""
        when = observed_at(label, options)
        source = Source(vendor=options.source_vendor or "flock", log="sharing_graph")
        configured = options.owner
        i_src, i_ext = names.index("src_agency"), names.index("external_agency")
        i_src_id = names.index("src_agency_id") if "src_agency_id" in names else -1
        i_ext_id = names.index("external_agency_id") if "external_agency_id" in names else -1
        recent = RecentIds()

        def parse(line: int, end: int, cells: list[str]) -> Item:
            src, ext = collapse(cells[i_src]), collapse(cells[i_ext])
            for field, value in (("src_agency", src), ("external_agency", ext)):
                if not value:
                    return RowError(label, line, f"missing_field: {field} is empty", field=field)
                if len(value) > _MAX_AGENCY:
                    return RowError(label, line, f"invalid_field: {field} is too long", field=field)
            src_id = natural_id(cells[i_src_id]) if i_src_id >= 0 else None
            ext_id = natural_id(cells[i_ext_id]) if i_ext_id >= 0 else None
            if src_id and ext_id:
                event_id = f"flock-share:{src_id}:{ext_id}"
            else:
                event_id = "flock-share~" + digest(src.casefold(), ext.casefold())
            first = recent.first_line(event_id, line)
            if first is not None:
                return Skipped(label, line, f"repeat of the grant at line {first}")
            owner = configured if configured is not None and configured.agency == src else Owner(agency=src)
            return AccessEvent(
                event_id=event_id,
                event_type="sharing_change",
                occurred_at=when,
                owner=owner,
                requester=Requester(agency=ext),
                sharing=_GRANT,
                source=source,
            )

        return parse


_NAME_COLUMNS = ("agency", "agency name", "name", "organization", "organization name", "external agency")
_OTHER_COLUMNS = frozenset({"state", "type", "agency type", "organization type"})


class FlockSharingList(TableAdapter):
    """A Flock transparency-portal sharing list (`Agency`, or `Name,State,Type`): the owner's recipients.

    Each row: the owner (from the options) lets that agency search its data. A `State` column that holds a
    state code becomes `requester.state` (`??` and blanks do not). `Type` is not part of the v1 event.
    """

    name = "flock-sharing-list"
    needs_owner = True

    def accepts(self, names: list[str]) -> bool:
        """One name column, and otherwise only state and type columns."""
        have = set(names)
        named = have & set(_NAME_COLUMNS)
        return len(named) == 1 and have - named <= _OTHER_COLUMNS

    def parser(self, names: list[str], label: str, options: IngestOptions) -> RowParser:
        """Row parser for one table."""
        owner = require_owner(self.name, label, options)
        when = observed_at(label, options)
        source = Source(vendor=options.source_vendor or "flock", log="sharing_list")
        i_name = next(names.index(column) for column in _NAME_COLUMNS if column in names)
        i_state = names.index("state") if "state" in names else -1
        field = names[i_name]
        recent = RecentIds()

        def parse(line: int, end: int, cells: list[str]) -> Item:
            agency = collapse(cells[i_name])
            if not agency:
                return RowError(label, line, f"missing_field: {field} is empty", field=field)
            if len(agency) > _MAX_AGENCY:
                return RowError(label, line, f"invalid_field: {field} is too long", field=field)
            state = state_code(cells[i_state]) if i_state >= 0 else None
            event_id = "flock-list~" + digest(owner.agency, agency, state)
            first = recent.first_line(event_id, line)
            if first is not None:
                return Skipped(label, line, f"repeat of the entry at line {first}")
            return AccessEvent(
                event_id=event_id,
                event_type="sharing_change",
                occurred_at=when,
                owner=owner,
                requester=Requester(agency=agency, state=state),
                sharing=_GRANT,
                source=source,
            )

        return parse
