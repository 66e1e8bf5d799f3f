"""The v1 access event: the contract every producer writes and every consumer reads.

Decoding is strict about types (no string-to-number coercion) and tolerant of unknown fields,
because the contract allows producers to add optional fields without a version change.

Decoding is also the monitor's first defence against hostile input, so whatever the bytes,
`decode_event` returns an event or raises `EventError`, never anything else, and it bounds what it
accepts (see "Input limits" in the README):

- the whole event: MAX_EVENT_BYTES; nesting: MAX_DEPTH levels of objects and arrays (any deeper and the
  JSON reader would recurse without bound: 1,000 levels in 2 KB used to crash it);
- a key twice in one object (at any depth) is refused: readers disagree on which copy counts, and "last
  wins" let a second `requester` hide the first;
- counts: 0..MAX_COUNT; text fields: the lengths below (a reason is bounded by the event size alone, so
  padding a reason can never turn an alert into a dead letter);
- times: years EARLIEST_YEAR..LATEST_YEAR (outside them the engine's date arithmetic overflows).

Error details never quote an input value except v1 vocabulary (see `monitor.masking`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

import msgspec

from monitor._structure import find_problem, looks_plain
from monitor.masking import mask_quoted

__all__ = [
    "EARLIEST_YEAR",
    "LATEST_YEAR",
    "MAX_COUNT",
    "MAX_DEPTH",
    "MAX_EVENT_BYTES",
    "VOCABULARY",
    "AccessEvent",
    "EventError",
    "Owner",
    "Query",
    "Requester",
    "Sharing",
    "Source",
    "decode_event",
    "encode_event",
    "time_out_of_range",
]

MAX_EVENT_BYTES = 64 * 1024
"""An access event is a few hundred bytes; anything this large is a producer bug, not an event."""
MAX_DEPTH = 32
"""Levels of objects and arrays an event may nest (v1 itself uses two; unknown fields get the rest)."""
MAX_COUNT = 10**9
"""Largest count (devices or networks searched, requests in a batch) taken as real."""
EARLIEST_YEAR, LATEST_YEAR = 1970, 2100
"""Years a time in an event may fall in (inclusive); ALPR logs start long after 1970."""

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Code = Annotated[str, msgspec.Meta(max_length=64)]  # ORI, state, plate, search type, approval mode
Name = Annotated[str, msgspec.Meta(max_length=512)]  # user, actor, agency on whose behalf, case, offense
Label = Annotated[str, msgspec.Meta(max_length=128)]  # provenance
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]

EventType = Literal["query", "sharing_change"]
SharingAction = Literal["grant", "revoke", "approve_request", "deny_request"]
SharingDirection = Literal["outbound", "inbound"]
VOCABULARY = frozenset(get_args(EventType) + get_args(SharingAction) + get_args(SharingDirection))
"""The v1 enum values: the only input values an error message may quote as given."""


class Owner(msgspec.Struct, frozen=True, kw_only=True):
    """The agency whose ALPR data is accessed."""

    agency: NonEmpty
    ori: Code | None = None
    state: Code | None = None


class Requester(msgspec.Struct, frozen=True, kw_only=True):
    """Who searched, or who is granted access; `on_behalf_of` names a party a proxy acted for."""

    agency: NonEmpty
    ori: Code | None = None
    state: Code | None = None
    user: Name | None = None
    on_behalf_of: Name | None = None


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """What a search asked for; every field may be absent, and absence is itself a finding."""

    plate: Code | None = None
    reason: str | None = None  # bounded by MAX_EVENT_BYTES only: every word of it is judged
    case_number: Name | None = None
    offense_type: Name | None = None
    time_frame_start: Timestamp | None = None
    time_frame_end: Timestamp | None = None
    networks_searched: Count | None = None
    devices_searched: Count | None = None
    search_type: Code | None = None


class Sharing(msgspec.Struct, frozen=True, kw_only=True):
    """A change to who may search: a grant, a revocation, or a decision on an access request."""

    action: SharingAction
    direction: SharingDirection = "outbound"
    actor: Name | None = None
    approval_mode: Code | None = None
    batch_size: Annotated[int, msgspec.Meta(ge=1, le=MAX_COUNT)] | None = None
    command_review: bool | None = None


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """Where the event came from (optional provenance)."""

    vendor: Label | None = None
    log: Label | None = None


class AccessEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One access to ALPR data or one change to who may access it (contract v1)."""

    event_id: EventId
    event_type: EventType
    occurred_at: Timestamp
    owner: Owner
    requester: Requester
    query: Query | None = None
    sharing: Sharing | None = None
    source: Source | None = None

    def __post_init__(self) -> None:
        # msgspec turns a ValueError here into a ValidationError carrying our message.
        if self.event_type == "query" and self.query is None:
            raise ValueError("event_type 'query' needs a `query` object - at `$.query`")
        if self.event_type == "sharing_change" and self.sharing is None:
            raise ValueError("event_type 'sharing_change' needs a `sharing` object - at `$.sharing`")


class EventError(ValueError):
    """An input that is not a valid v1 event.

    `reason` is a short stable code (used as a metric label and DLQ header), `field` the JSON path of
    the offending field when known, `event_id` the event's id when it could be read at all.
    The producer must fix the record; the monitor reports it and moves on.
    """

    def __init__(self, reason: str, detail: str, *, field: str | None = None, event_id: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.field = field
        self.event_id = event_id
        where = (
            f" (event {event_id!r}" + (f", field {field}" if field else "") + ")"
            if event_id
            else (f" (field {field})" if field else "")
        )
        super().__init__(f"{reason}: {detail}{where}")


def time_out_of_range(when: datetime) -> str | None:
    """Why `when` cannot be an access time (its year is outside EARLIEST_YEAR..LATEST_YEAR), or None."""
    if EARLIEST_YEAR <= when.year <= LATEST_YEAR:
        return None
    return f"year {when.year} is outside {EARLIEST_YEAR}..{LATEST_YEAR}"


_decoder = msgspec.json.Decoder(AccessEvent)
_encoder = msgspec.json.Encoder()
_loose_decoder = msgspec.json.Decoder()
_PATH = re.compile(r" - at `(\$[^`]*)`")
_FIELD_NAMES = frozenset(
    name for struct in (AccessEvent, Owner, Requester, Query, Sharing, Source) for name in struct.__struct_fields__
)


def decode_event(raw: bytes | str) -> AccessEvent:
    """Decode one v1 event from JSON, or raise `EventError` naming the field and event id.

    Never raises anything else, whatever `raw` holds (see the module docstring for the limits).
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise EventError("oversize", f"{len(raw)} bytes exceeds the {MAX_EVENT_BYTES}-byte limit")
    try:
        event = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        if _undecodable_reason(raw) == "invalid_encoding":
            # Bytes that are not UTF-8 are the first thing the producer must fix, whatever else is wrong.
            raise EventError("invalid_encoding", "the message is not valid UTF-8") from None
        message = str(exc)
        match = _PATH.search(message)
        detail = mask_quoted(_PATH.sub("", message), VOCABULARY)
        raise EventError(
            "invalid_field", detail, field=match.group(1) if match else None, event_id=_peek_event_id(raw)
        ) from None
    except msgspec.DecodeError as exc:
        raise EventError(_undecodable_reason(raw), mask_quoted(str(exc), VOCABULARY)) from None
    except UnicodeDecodeError as exc:
        # msgspec reports bad UTF-8 inside a JSON string this way rather than as a DecodeError.
        raise EventError("invalid_encoding", f"not UTF-8 at byte {exc.start}") from None
    except RecursionError:
        # The reader recursed past the interpreter's limit long after MAX_DEPTH: find where MAX_DEPTH was passed.
        raise _structure_error(raw) or EventError("invalid_json", f"nested deeper than {MAX_DEPTH} levels") from None
    except Exception as exc:  # the reader is not documented to raise anything else; never let it through
        raise EventError("invalid_json", f"unreadable ({type(exc).__name__})") from None
    problem = None if looks_plain(_as_bytes(raw), MAX_DEPTH) else _structure_error(raw)
    if problem is not None:
        raise problem
    _check_times(event)
    return event


def _as_bytes(raw: bytes | str) -> bytes:
    return raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw


def _structure_error(raw: bytes | str) -> EventError | None:
    problem = find_problem(_as_bytes(raw), MAX_DEPTH, _FIELD_NAMES, "event_id")
    if problem is None:
        return None
    return EventError(problem.reason, problem.detail, field=problem.field, event_id=problem.event_id)


def _check_times(event: AccessEvent) -> None:
    query = event.query
    times: list[tuple[str, datetime | None]] = [("$.occurred_at", event.occurred_at)]
    if query is not None:
        times += [
            ("$.query.time_frame_start", query.time_frame_start),
            ("$.query.time_frame_end", query.time_frame_end),
        ]
    for path, when in times:
        problem = None if when is None else time_out_of_range(when)
        if problem is not None:
            raise EventError("invalid_field", problem, field=path, event_id=event.event_id)


def _undecodable_reason(raw: bytes | str) -> str:
    """Tell bytes that are not UTF-8 apart from UTF-8 that is not JSON: producers fix them differently."""
    if isinstance(raw, bytes):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return "invalid_encoding"
    return "invalid_json"


def _peek_event_id(raw: bytes | str) -> str | None:
    """Best-effort read of `event_id` from an invalid event, so the error can name the record."""
    try:
        loose: Any = _loose_decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    except RecursionError:  # the scan reads the id on its way to the first level past MAX_DEPTH
        problem = find_problem(_as_bytes(raw), MAX_DEPTH, _FIELD_NAMES, "event_id")
        return None if problem is None else problem.event_id
    if isinstance(loose, dict):
        event_id = loose.get("event_id")
        if isinstance(event_id, str) and 0 < len(event_id) <= 128:
            return event_id
    return None


def encode_event(event: AccessEvent) -> bytes:
    """Encode an event as compact v1 JSON (absent optional objects are written as null)."""
    return _encoder.encode(event)
