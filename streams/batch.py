"""One batch of input messages judged: the alerts to publish, the dead letters, and the counts.

Plain Python with no Kafka import, so the worker's per-message logic is tested without a broker and
the consumer's batch handler (streams.app) only moves bytes. Every message read ends up in exactly
one of three outcomes: alerted, clean, or invalid (dead-lettered with its original bytes and the reason).
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from monitor.alerts import Alert, encode_alert
from monitor.events import AccessEvent, EventError, decode_event

__all__ = [
    "DLQ_HEADERS",
    "ENGINE_ERROR",
    "MAX_DEAD_LETTER_BYTES",
    "BatchResult",
    "DeadLetter",
    "Judge",
    "Message",
    "exception_site",
    "judge_batch",
]

ENGINE_ERROR = "engine_error"
"""DLQ reason for a valid event the engine failed on: a bug to fix, kept with the event for replay."""

# Header names on a dead letter; the value is the producer's original bytes, untouched.
DLQ_HEADERS = (
    "alpr-reason",  # invalid_json | invalid_field | invalid_encoding | oversize | engine_error
    "alpr-detail",  # what is wrong, in words
    "alpr-field",  # JSON path of the offending field, when known
    "alpr-event-id",  # the record's event_id, when it could be read at all
    "alpr-source-topic",
    "alpr-source-partition",
    "alpr-source-offset",
)


MAX_DEAD_LETTER_BYTES = 512 * 1024
"""Dead letters keep the original bytes up to this size (far above MAX_EVENT_BYTES); a longer value is
cut and says so in `alpr-truncated-from`, so that it still fits the producer's request limit and a huge
message cannot crash the worker over and over."""


class Judge(Protocol):
    """What the batch needs from the engine (monitor.engine.Engine satisfies it)."""

    def judge(self, event: AccessEvent) -> list[Alert]: ...


Judged = tuple[int, bytes | None, bytes | None, AccessEvent, Sequence[Alert] | None]
"""A valid event as judged: offset, key, raw value, the event, its alerts (None: not judged yet)."""


class Message(NamedTuple):
    """One input message as read from the topic."""

    key: bytes | None
    value: bytes | None
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An unreadable message: original key and bytes, and headers saying why and where it came from."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    error: EventError
    partition: int
    offset: int


@dataclass(slots=True)
class BatchResult:
    """What one batch produced; `processed` counts by (event_type, outcome)."""

    alerts: list[tuple[Alert, bytes]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    processed: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Each valid event judged: (offset, key, value, event, its alerts), for the pattern detectors.
    judged: list[Judged] = field(default_factory=list)

    @property
    def read(self) -> int:
        return sum(self.processed.values())


def _dead_letter(message: Message, error: EventError, source_topic: str) -> DeadLetter:
    values = (
        error.reason,
        error.detail,
        error.field or "",
        error.event_id or "",
        source_topic,
        str(message.partition),
        str(message.offset),
    )
    headers = [(name, value.encode()) for name, value in zip(DLQ_HEADERS, values, strict=True)]
    value = message.value
    if value is not None and len(value) > MAX_DEAD_LETTER_BYTES:
        headers.append(("alpr-truncated-from", str(len(value)).encode()))
        value = value[:MAX_DEAD_LETTER_BYTES]
    return DeadLetter(message.key, value, headers, error, message.partition, message.offset)


def exception_site(exc: BaseException) -> str | None:
    """`file:line` where `exc` was raised, or None when it carries no traceback."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else None
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}"


def judge_batch(engine: Judge, messages: Iterable[Message], source_topic: str) -> BatchResult:
    """Decode and judge each message; unreadable ones become dead letters, never exceptions."""
    result = BatchResult()
    alerts_add = result.alerts.append
    processed = result.processed
    judge = engine.judge
    for message in messages:
        raw = message.value
        try:
            if raw is None:
                # A tombstone is not an event; say so instead of letting the decoder guess.
                raise EventError("invalid_json", "empty message (null value)")
            event = decode_event(raw)
        except EventError as error:
            result.dead.append(_dead_letter(message, error, source_topic))
            processed["unknown", "invalid"] += 1
            continue
        except UnicodeDecodeError as exc:
            # msgspec raises this bare for bad UTF-8 inside a JSON string (e.g. a Latin-1 agency name).
            bad = EventError("invalid_encoding", f"a JSON string is not valid UTF-8 ({exc.reason})")
            result.dead.append(_dead_letter(message, bad, source_topic))
            processed["unknown", "invalid"] += 1
            continue
        try:
            alerts = judge(event)
        except Exception as exc:  # a rule bug must not turn one event into a crash loop
            # The exception's type and where it was raised, never its message: that may quote event
            # data (a plate, a user name), and the detail travels in a DLQ header and in the logs.
            site = exception_site(exc)
            detail = f"{type(exc).__name__} at {site}" if site else type(exc).__name__
            failure = EventError(ENGINE_ERROR, detail, event_id=event.event_id)
            failure.__cause__ = exc
            result.dead.append(_dead_letter(message, failure, source_topic))
            processed[event.event_type, "invalid"] += 1
            continue
        result.judged.append((message.offset, message.key, raw, event, alerts))
        if alerts:
            for alert in alerts:
                alerts_add((alert, encode_alert(alert)))
            processed[event.event_type, "alerted"] += 1
        else:
            processed[event.event_type, "clean"] += 1
    return result
