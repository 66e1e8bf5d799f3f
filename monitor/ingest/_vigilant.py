"""Vigilant LEARN "Agency Data Sharing Report", as text (the PDF's text layer, one agency per line).

Agencies listed under a "Detections Shared" heading may search the owner's detections (a `grant`,
direction `outbound`); those under "Detections Received" share their detections with the owner (a `grant`,
direction `inbound`). Entries under "Hot Lists Shared/Received" are hot-list sharing, not access to
detections: each is yielded as `Skipped`. Layout lines (the report title repeated on each page, `Page 2 of 5`,
column headings, `Total: 12`, rules) are not records. Any other line outside a list is `Skipped`.

An entry may be numbered or bulleted, and may carry more columns separated by two or more spaces or a
tab (the first is the name; a later one that is a state code is the state). A trailing state code in
parentheses, `Riverside Police Department (CA)`, becomes `requester.state`; names without one keep no state
(`Glendale Police Department` may be California or Arizona: the resolver decides).

The owner is `IngestOptions.owner`, else the report's `Agency:` line; the observation time is `as_of`,
else the report's `Report Date:` (or `Generated:`), else the file's modification time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from itertools import chain
from typing import IO

from monitor.events import AccessEvent, Owner, Requester, Sharing, Source

from ._flock_audit import RecentIds
from ._lists import observed_at, state_code
from ._model import IngestOptions, Item, MissingOption, RowError, Skipped
from ._table import text_stream
from ._values import collapse, digest, parse_time, zone

_TITLE = re.compile(r"data\s+sharing\s+report", re.IGNORECASE)
_HEADING = re.compile(r"(detections?|hot\s*-?\s*lists?)\s+(shared|received)\b.*", re.IGNORECASE)
_META = re.compile(
    r"(agency|agency name|organization|report date|date|generated|report generated|printed|run date|user)"
    r"\s*:\s*(.*)",
    re.IGNORECASE,
)
_LAYOUT = re.compile(
    r"(?:page\s+\d+(?:\s+of\s+\d+)?|(?:agency|organization)(?:\s+name)?(?:\s+state)?|name|state|"
    r"total\s*:?\s*\d+|vigilant(?:\s+solutions)?|learn|motorola solutions|law enforcement sensitive|confidential|"
    r"[-_=.\s]+|\d+)",
    re.IGNORECASE,
)
_BULLET = re.compile(r"(?:[-•*·▪]\s*|\d{1,4}[.)]\s+)")
_COLUMNS = re.compile(r"\t+|\s{2,}")
_PAREN_STATE = re.compile(r"\(([A-Za-z]{2})\)$")
_LONE_SURROGATE = re.compile("[\udc80-\udcff]")
_PREAMBLE_LIMIT = 500
_MAX_AGENCY = 512


class VigilantSharingReport:
    """Vigilant "Agency Data Sharing Report" agency lists."""

    name = "vigilant-sharing-report"

    def matches(self, header: str) -> bool:
        """The report title within the first lines."""
        lines = [line for line in header.splitlines()[:40] if line.strip()]
        return any(_TITLE.search(line) for line in lines[:12])

    def read(self, stream: IO[str] | IO[bytes], path: str, options: IngestOptions) -> Iterator[Item]:
        """Read the preamble now (owner and date), then stream the lists."""
        assume = zone(options.assume_tz)
        lines = enumerate(text_stream(stream, options.encoding), 1)
        preamble: list[tuple[int, str]] = []
        owner_name: str | None = None
        printed: datetime | None = None
        for number, raw in lines:
            line = collapse(raw)
            preamble.append((number, raw))
            if _HEADING.fullmatch(line) or len(preamble) >= _PREAMBLE_LIMIT:
                break
            meta = _META.fullmatch(line)
            if meta:
                key, value = meta.group(1).lower(), meta.group(2).strip()
                if key in ("agency", "agency name", "organization") and value and owner_name is None:
                    owner_name = value[:_MAX_AGENCY]
                elif key in ("report date", "date", "generated", "report generated", "run date") and printed is None:
                    try:
                        printed = parse_time(value, assume)
                    except ValueError:
                        printed = None
        owner = options.owner or (_owner(owner_name) if owner_name else None)
        if owner is None:
            message = f"{path}: the report names no agency (no 'Agency:' line); give the owner option"
            raise MissingOption(message)
        when = observed_at(path, options, printed)
        return self._items(iter(preamble), lines, path, owner, when, options)

    def _items(
        self,
        preamble: Iterator[tuple[int, str]],
        rest: Iterator[tuple[int, str]],
        path: str,
        owner: Owner,
        when: datetime,
        options: IngestOptions,
    ) -> Iterator[Item]:
        source = Source(vendor=options.source_vendor or "vigilant", log="agency_data_sharing_report")
        grants = {"shared": Sharing(action="grant", direction="outbound"),
                  "received": Sharing(action="grant", direction="inbound")}  # fmt: skip
        recent = RecentIds()
        section: tuple[str, str] | None = None
        for number, raw in chain(preamble, rest):
            line = collapse(raw)
            if not line:
                continue
            if _LONE_SURROGATE.search(line):
                yield RowError(path, number, "invalid_encoding: bytes not valid in the file's encoding")
                continue
            heading = _HEADING.fullmatch(line)
            if heading:
                kind = "detections" if heading.group(1).lower().startswith("detection") else "hotlists"
                section = (kind, heading.group(2).lower())
                continue
            if _TITLE.search(line) or _META.fullmatch(line) or _LAYOUT.fullmatch(line):
                continue
            if section is None:
                yield Skipped(path, number, "text outside a sharing list")
                continue
            kind, way = section
            if kind == "hotlists":
                yield Skipped(path, number, f"hot-list sharing ({way}), not access to detections")
                continue
            entry = _BULLET.sub("", raw.strip(), count=1)
            columns = [collapse(column) for column in _COLUMNS.split(entry) if column.strip()]
            name = columns[0] if columns else ""
            if not name:
                yield Skipped(path, number, "no agency name on the line")
                continue
            if len(name) > _MAX_AGENCY:
                yield RowError(path, number, "invalid_field: agency name is too long", field="agency")
                continue
            paren = _PAREN_STATE.search(name)
            state = state_code(paren.group(1)) if paren else None
            if state is None:
                state = next((code for code in map(state_code, columns[1:]) if code), None)
            event_id = "vigilant~" + digest(owner.agency, way, name)
            first = recent.first_line(event_id, number)
            if first is not None:
                yield Skipped(path, number, f"repeat of the entry at line {first}")
                continue
            yield AccessEvent(
                event_id=event_id,
                event_type="sharing_change",
                occurred_at=when,
                owner=owner,
                requester=Requester(agency=name, state=state),
                sharing=grants[way],
                source=source,
            )


def _owner(name: str) -> Owner:
    """The owner as the report names it, with the state its trailing `(CA)` gives."""
    paren = _PAREN_STATE.search(name)
    return Owner(agency=name, state=state_code(paren.group(1)) if paren else None)
