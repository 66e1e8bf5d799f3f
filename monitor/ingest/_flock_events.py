"""Flock event log: `Timestamp,User,Event Type,Entity Type,Entity Details,Event Id`.

Only sharing changes become events (`sharing_change`); every other row (hotlist edits, users, settings) is
yielded as `Skipped` with its entity and event type, so nothing disappears unseen. `Entity Details` is a
multi-line `Key: value` block; the keys read are:

- the other party: `Receiving Organization`, `Requesting Organization`, `Organization`, `Agency`,
  `Shared With`, `Granted To` (and plurals; `;` or `|` separate several names); several names give one
  event per name, ids `<Event Id>:1`, `:2`, ...
- `Network` / `Network Name`: the network being shared. When it is not the owner's and no other party is
  named (or the named party is the owner), the owner was given access to it: direction `inbound`.
- `Direction` (`Inbound`/`Outbound`), `Status`, `Approval Mode`, `Approved Count` / `Batch Size` / `Count`,
  `Command Review` (yes/no) or `Reviewed By`.

The action comes from the event type and `Status`: revoke (revoke, delete, remove, disable, inactive),
deny_request (deny, reject, decline), approve_request (approve, accept), grant (grant, create, add,
enable, share, active). A bulk or group approval (`Bulk Approve`, `Approval Mode: Group`, a count above
one, or several names) has `approval_mode` "group". A bulk approval that names no party gives one event
whose requester is `(not named in the event log)`, so the group approval is still seen and the party goes
to review.
"""

from __future__ import annotations

import re

from monitor.events import AccessEvent, Requester, Sharing, SharingAction, SharingDirection, Source

from ._model import IngestOptions, Item, RowError, Skipped
from ._table import RowParser, TableAdapter, column_name, require_owner
from ._values import CellError, collapse, digest, natural_id, parse_count, parse_time, show, term, zone

UNNAMED = "(not named in the event log)"

_PARTY_KEYS = frozenset(
    {
        "receiving organization", "receiving organizations", "receiving agency", "requesting organization",
        "requesting organizations", "requesting agency", "requesting agencies", "organization", "organizations",
        "organization name", "agency", "agencies", "agency name", "shared with", "granted to", "recipient",
        "recipients", "approved organizations", "approved agencies",
    }
)  # fmt: skip
_NETWORK_KEYS = frozenset({"network", "network name", "shared network"})
_COUNT_KEYS = (
    "approved count", "batch size", "request count", "requests approved", "approved requests", "number of requests",
    "count",
)  # fmt: skip
_REVIEW_KEYS = ("command review", "command reviewed", "command approval", "reviewed")
_TRUE = frozenset({"yes", "y", "true", "1", "on"})
_FALSE = frozenset({"no", "n", "false", "0", "off", "none"})
_SPLIT = re.compile(r"\s*[;|]\s*")
_SHARING_KIND = re.compile(r"shar|bulkapprov|groupapprov|accessrequest")
_BULK = re.compile(r"\b(?:bulk|group|batch|all|mass)\b", re.IGNORECASE)
# Checked in this order: "Sharing Request Approved" is an approval, "Status: Inactive" a revocation.
_ACTIONS: tuple[tuple[SharingAction, tuple[str, ...]], ...] = (
    ("revoke", ("revok", "delet", "remov", "disabl", "terminat", "unshar", "inactiv", "cancel")),
    ("deny_request", ("deny", "denied", "reject", "declin")),
    ("approve_request", ("approv", "accept")),
    ("grant", ("grant", "creat", "add", "enabl", "shar", "activ", "invit")),
)


def _details(raw: str) -> list[tuple[str, str]]:
    """`Key: value` lines as (normalised key, value); a line without a key continues the previous value."""
    pairs: list[tuple[str, str]] = []
    for line in raw.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and len(key) <= 48:
            pairs.append((column_name(key), value.strip()))
        elif pairs and line.strip():
            key, value = pairs[-1]
            pairs[-1] = (key, f"{value}\n{line.strip()}")
    return pairs


def _action(event_type: str, status: str) -> SharingAction | None:
    words = f"{event_type} {status}".lower()
    for action, stems in _ACTIONS:
        if any(stem in words for stem in stems):
            return action
    return None


def _flag(value: str) -> bool | None:
    lowered = value.strip().lower()
    return True if lowered in _TRUE else False if lowered in _FALSE else None


class FlockEventLog(TableAdapter):
    """Flock event log: sharing grants, revocations and decisions on access requests."""

    name = "flock-event-log"
    needs_owner = True  # the log is one organisation's; it does not name it
    zoneless_times = True
    _columns = frozenset({"timestamp", "user", "event type", "entity type", "entity details"})

    def accepts(self, names: list[str]) -> bool:
        """The five event-log columns (`Event Id` is optional)."""
        return self._columns <= set(names)

    def parser(self, names: list[str], label: str, options: IngestOptions) -> RowParser:
        """Row parser for one table."""
        return _EventRows(names, label, options)


class _EventRows:
    def __init__(self, names: list[str], label: str, options: IngestOptions) -> None:
        self.owner = require_owner(FlockEventLog.name, label, options)
        self.label = label
        self.assume = zone(options.assume_tz)
        self.source = Source(vendor=options.source_vendor or "flock", log="event_log")
        self.i_time, self.i_user = names.index("timestamp"), names.index("user")
        self.i_type, self.i_entity = names.index("event type"), names.index("entity type")
        self.i_details = names.index("entity details")
        self.i_id = names.index("event id") if "event id" in names else -1
        self.owner_key = collapse(self.owner.agency).casefold()

    def __call__(self, line: int, end: int, cells: list[str]) -> Item | list[Item]:
        event_type, entity = collapse(cells[self.i_type]), collapse(cells[self.i_entity])
        kind = f"{entity} {event_type}".lower().replace(" ", "")
        if not _SHARING_KIND.search(kind):
            return Skipped(self.label, line, f"not a sharing change ({term(entity)} {term(event_type)})")
        if "setting" in kind:
            return Skipped(self.label, line, f"sharing settings change, not a grant or revocation ({term(entity)})")
        raw_time = cells[self.i_time].strip()
        try:
            occurred = parse_time(raw_time, self.assume)
        except ValueError:
            return self._error(line, "Timestamp", f"invalid_field: Timestamp {show(raw_time)} is not a timestamp")
        details = _details(cells[self.i_details])
        values: dict[str, str] = {}
        parties: list[str] = []
        for key, value in details:
            values.setdefault(key, value)
            if key in _PARTY_KEYS:
                parties.extend(name for name in (collapse(part) for part in _SPLIT.split(value)) if name)
        action = _action(event_type, values.get("status", ""))
        if action is None:
            reason = f"invalid_field: sharing event {term(event_type)} has no recognisable action"
            return self._error(line, "Event Type", reason)
        if action == "grant" and "request" in kind and "creat" in event_type.lower():
            return Skipped(self.label, line, "access request created (pending: no access granted yet)")
        direction = self._direction(values, parties)
        if isinstance(direction, RowError):
            return direction
        way, parties = direction
        try:
            sharing = self._sharing(action, way, cells, event_type, values, len(parties))
        except CellError as exc:  # only these messages are safe to repeat: they show cells by shape
            return self._error(line, "Entity Details", f"invalid_field: {exc}")
        if not parties:
            if sharing.approval_mode != "group":
                return self._error(line, "Entity Details", "missing_field: the details name no other party")
            parties = [UNNAMED]
        if any(len(party) > 512 for party in parties):
            return self._error(line, "Entity Details", "invalid_field: an agency name is longer than 512 characters")
        raw_id = cells[self.i_id] if self.i_id >= 0 else ""
        base = natural_id(raw_id) or "flock-event~" + digest(
            self.owner.agency, raw_time, cells[self.i_user], event_type, entity, cells[self.i_details]
        )
        events: list[Item] = []
        for number, party in enumerate(parties, 1):
            events.append(
                AccessEvent(
                    event_id=base if len(parties) == 1 else f"{base}:{number}",
                    event_type="sharing_change",
                    occurred_at=occurred,
                    owner=self.owner,
                    requester=Requester(agency=party),
                    sharing=sharing,
                    source=self.source,
                )
            )
        return events

    def _direction(self, values: dict[str, str], parties: list[str]) -> tuple[SharingDirection, list[str]] | RowError:
        explicit = values.get("direction", "").strip().lower()
        network = collapse(next((values[key] for key in _NETWORK_KEYS if key in values), ""))
        others = [party for party in parties if party.casefold() != self.owner_key]
        foreign_network = bool(network) and network.casefold() != self.owner_key
        if explicit.startswith("in") or (not explicit and foreign_network and not others):
            # The owner was let into another network: that network's agency is the other party.
            return "inbound", others or ([network] if foreign_network else [])
        return "outbound", others

    def _sharing(
        self,
        action: SharingAction,
        direction: SharingDirection,
        cells: list[str],
        event_type: str,
        values: dict[str, str],
        party_count: int,
    ) -> Sharing:
        batch: int | None = None
        for key in _COUNT_KEYS:
            if key in values:
                try:
                    batch = parse_count(values[key].strip()) or None  # redacted or zero: no batch size
                except ValueError:
                    raise CellError(f"{key} {show(values[key])} is not a count") from None
                break
        if batch is None and party_count > 1:
            batch = party_count
        mode = values.get("approval mode") or values.get("approval type")
        if mode:
            approval_mode: str | None = mode.strip().lower()
        elif _BULK.search(event_type) or (batch or 0) > 1:
            approval_mode = "group"
        else:
            approval_mode = None
        review = next((_flag(values[key]) for key in _REVIEW_KEYS if key in values), None)
        if review is None and values.get("reviewed by", "").strip():
            review = True
        return Sharing(
            action=action,
            direction=direction,
            actor=collapse(cells[self.i_user]) or None,
            approval_mode=approval_mode,
            batch_size=batch,
            command_review=review,
        )

    def _error(self, line: int, field: str, reason: str) -> RowError:
        return RowError(self.label, line, reason, field=field)
