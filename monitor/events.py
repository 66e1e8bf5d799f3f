"""The v1 access event: the contract every producer writes and every consumer reads.

Decoding is strict about types (no string-to-number coercion) and tolerant of unknown fields,
because the contract allows producers to add optional fields without a version change.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

import msgspec

__all__ = [
    "MAX_EVENT_BYTES",
    "AccessEvent",
    "EventError",
    "Owner",
    "Query",
    "Requester",
    "Sharing",
    "Source",
    "decode_event",
    "encode_event",
]

MAX_EVENT_BYTES = 64 * 1024
"""An access event is a few hundred bytes; anything this large is a producer bug, not an event."""

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
Count = Annotated[int, msgspec.Meta(ge=0)]

EventType = Literal["query", "sharing_change"]
SharingAction = Literal["grant", "revoke", "approve_request", "deny_request"]
SharingDirection = Literal["outbound", "inbound"]


class Owner(msgspec.Struct, frozen=True, kw_only=True):
    """The agency whose ALPR data is accessed."""

    agency: NonEmpty
    ori: str | None = None
    state: str | None = None


class Requester(msgspec.Struct, frozen=True, kw_only=True):
    """Who searched, or who is granted access; `on_behalf_of` names a party a proxy acted for."""

    agency: NonEmpty
    ori: str | None = None
    state: str | None = None
    user: str | None = None
    on_behalf_of: str | None = None


class Query(msgspec.Struct, frozen=True, kw_only=True):
    """What a search asked for; every field may be absent, and absence is itself a finding."""

    plate: str | None = None
    reason: str | None = None
    case_number: str | None = None
    offense_type: str | None = None
    time_frame_start: Timestamp | None = None
    time_frame_end: Timestamp | None = None
    networks_searched: Count | None = None
    devices_searched: Count | None = None
    search_type: str | None = None


class Sharing(msgspec.Struct, frozen=True, kw_only=True):
    """A change to who may search: a grant, a revocation, or a decision on an access request."""

    action: SharingAction
    direction: SharingDirection = "outbound"
    actor: str | None = None
    approval_mode: str | None = None
    batch_size: Annotated[int, msgspec.Meta(ge=1)] | None = None
    command_review: bool | None = None


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """Where the event came from (optional provenance)."""

    vendor: str | None = None
    log: str | None = None


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


_decoder = msgspec.json.Decoder(AccessEvent)
_encoder = msgspec.json.Encoder()
_loose_decoder = msgspec.json.Decoder()
_PATH = re.compile(r" - at `(\$[^`]*)`")


def decode_event(raw: bytes | str) -> AccessEvent:
    """Decode one v1 event from JSON, or raise `EventError` naming the field and event id."""
    if len(raw) > MAX_EVENT_BYTES:
        raise EventError("oversize", f"{len(raw)} bytes exceeds the {MAX_EVENT_BYTES}-byte limit")
    try:
        return _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        if _undecodable_reason(raw) == "invalid_encoding":
            # Bytes that are not UTF-8 are the first thing the producer must fix, whatever else is wrong.
            raise EventError("invalid_encoding", "the message is not valid UTF-8") from None
        message = str(exc)
        match = _PATH.search(message)
        detail = _PATH.sub("", message)
        raise EventError(
            "invalid_field", detail, field=match.group(1) if match else None, event_id=_peek_event_id(raw)
        ) from None
    except msgspec.DecodeError as exc:
        raise EventError(_undecodable_reason(raw), str(exc)) from None
    except UnicodeDecodeError as exc:
        # msgspec reports bad UTF-8 inside a JSON string this way rather than as a DecodeError.
        raise EventError("invalid_encoding", f"not UTF-8 at byte {exc.start}") from None


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
        loose = _loose_decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if isinstance(loose, dict):
        event_id = loose.get("event_id")
        if isinstance(event_id, str) and 0 < len(event_id) <= 128:
            return event_id
    return None


def encode_event(event: AccessEvent) -> bytes:
    """Encode an event as compact v1 JSON (absent optional objects are written as null)."""
    return _encoder.encode(event)
