"""One batch of input messages judged: the alerts to publish, the dead letters, and the counts.

Plain Python with no Kafka import, so the worker's per-message logic is tested without a broker and
the consumer's batch handler (streams.app) only moves bytes. Every message read ends up in exactly
one of three outcomes: alerted, clean, or invalid (dead-lettered with its original bytes and the reason).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from monitor.alerts import Alert, encode_alert
from monitor.events import AccessEvent, EventError, decode_event
from monitor.failures import ENGINE_ERROR, exception_site, failure_of

__all__ = [
    "DLQ_HEADERS",
    "ENGINE_ERROR",
    "MAX_DEAD_LETTER_BYTES",
    "MAX_KEY_BYTES",
    "BatchResult",
    "DeadLetter",
    "Judge",
    "Message",
    "dead_letter_for",
    "exception_site",
    "fit_dead_letter",
    "judge_batch",
]


# Header names on a dead letter; the value is the producer's original bytes, untouched.
DLQ_HEADERS = (
    "alpr-reason",  # invalid_json | invalid_field | invalid_encoding | oversize | engine_error | alert_too_large
    "alpr-detail",  # what is wrong, in words
    "alpr-field",  # JSON path of the offending field, when known
    "alpr-event-id",  # the record's event_id, when it could be read at all
    "alpr-source-topic",
    "alpr-source-partition",
    "alpr-source-offset",
)


MAX_KEY_BYTES = 1024
"""A dead letter's key is cut to this size when the topic's limit would not hold it whole."""

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


def judge_batch(
    engine: Judge,
    messages: Iterable[Message],
    source_topic: str,
) -> BatchResult:
    """Decode and judge each message; unreadable ones become dead letters, never exceptions.

    Any exception raised for one message (the decoder's RecursionError on deep nesting, a rule bug, an
    alert that does not encode) dead-letters that message alone: one message never stops a partition.
    """
    result = BatchResult()
    alerts_add = result.alerts.append
    dead_add = result.dead.append
    processed = result.processed
    judge = engine.judge
    for message in messages:
        raw = message.value
        try:
            if raw is None:
                # A tombstone is not an event; say so instead of letting the decoder guess.
                raise EventError("invalid_json", "empty message (null value)")
            event = decode_event(raw)
        except Exception as exc:  # EventError, or any decoder surprise (bare UnicodeDecodeError, RecursionError)
            dead_add(_dead_letter(message, failure_of(exc, "decode"), source_topic))
            processed["unknown", "invalid"] += 1
            continue
        try:
            encoded = [(alert, encode_alert(alert)) for alert in judge(event)]
        except Exception as exc:  # a rule bug must not turn one event into a crash loop
            dead_add(_dead_letter(message, failure_of(exc, "judge", event_id=event.event_id), source_topic))
            processed[event.event_type, "invalid"] += 1
            continue
        result.judged.append((message.offset, message.key, raw, event, [alert for alert, _ in encoded]))
        if encoded:
            for pair in encoded:
                alerts_add(pair)
            processed[event.event_type, "alerted"] += 1
        else:
            processed[event.event_type, "clean"] += 1
    return result


def dead_letter_for(message: Message, error: EventError | BaseException, source_topic: str) -> DeadLetter:
    """The dead letter of a message handled outside `judge_batch`: an EventError as is, any other
    exception as engine_error (its type and site only)."""
    return _dead_letter(message, failure_of(error, "judge"), source_topic)


def fit_dead_letter(dead: DeadLetter, room: int) -> DeadLetter:
    """`dead` with its value cut to `room` bytes (and marked) when longer, so the topic accepts it.

    A key longer than the room (a hostile producer's) is cut too; both cuts say the original size.
    """
    key, value, headers = dead.key, dead.value, list(dead.headers)
    room = max(room, 0)
    if key is not None and len(key) > min(room, MAX_KEY_BYTES):
        headers.append(("alpr-key-truncated-from", str(len(key)).encode()))
        key = key[:MAX_KEY_BYTES]
    if key is not None:
        room -= len(key)
    if value is not None and len(value) > room:
        if not any(name == "alpr-truncated-from" for name, _ in headers):
            headers.append(("alpr-truncated-from", str(len(value)).encode()))
        value = value[: max(room, 0)]
    if (key, value) == (dead.key, dead.value):
        return dead
    return DeadLetter(key, value, headers, dead.error, dead.partition, dead.offset)
