"""One message's failure as a typed reason: what the worker's dead-letter topic and `check`'s report say.

Whatever goes wrong while decoding or judging one message, the message is set aside with a reason and the
stream goes on. `failure_of` turns ANY exception into an `EventError` whose `reason` is one of the stable
dead-letter codes below and whose `detail` never quotes event data: for an unexpected exception only its
type and where it was raised are kept, because its message may quote a plate or a user name.

Reasons: `invalid_json`, `invalid_field`, `invalid_encoding`, `oversize` (the producer must fix the message)
and `engine_error` (a bug of ours, on a valid event: the event is kept for replay once it is fixed).
"""

from __future__ import annotations

import traceback
from typing import Literal

import msgspec

from monitor.events import VOCABULARY, EventError
from monitor.masking import mask_quoted

__all__ = ["ENGINE_ERROR", "REASONS", "Stage", "exception_site", "failure_of"]

ENGINE_ERROR = "engine_error"
"""A valid event the engine failed on: a bug to fix, kept with the event for replay."""
REASONS = ("invalid_json", "invalid_field", "invalid_encoding", "oversize", ENGINE_ERROR)
"""Every reason `failure_of` (and `decode_event`) can give: a bounded set, fit for a metric label."""

Stage = Literal["decode", "judge"]


def exception_site(exc: BaseException) -> str | None:
    """`file:line` where `exc` was raised, or None when it carries no traceback."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ is not None else None
    if not frames:
        return None
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}"


def _named(exc: BaseException) -> str:
    site = exception_site(exc)
    return f"{type(exc).__name__} at {site}" if site else type(exc).__name__


def failure_of(exc: BaseException, stage: Stage, *, event_id: str | None = None) -> EventError:
    """The typed dead-letter reason for `exc`, raised while decoding or judging one message.

    An `EventError` is returned as it is (given `event_id` if it had none). In the decode stage, reader
    errors map to the producer's reasons; anything else in either stage is `engine_error` naming the
    exception's type and site, with the exception as `__cause__` for the operator's log.
    """
    if isinstance(exc, EventError):
        if exc.event_id is None and event_id is not None:
            return EventError(exc.reason, exc.detail, field=exc.field, event_id=event_id)
        return exc
    error: EventError
    if stage == "decode" and isinstance(exc, UnicodeDecodeError):
        error = EventError("invalid_encoding", f"not UTF-8 at byte {exc.start}", event_id=event_id)
    elif stage == "decode" and isinstance(exc, RecursionError):
        error = EventError("invalid_json", "nested too deep to read", event_id=event_id)
    elif stage == "decode" and isinstance(exc, msgspec.ValidationError):
        error = EventError("invalid_field", mask_quoted(str(exc), VOCABULARY), event_id=event_id)
    elif stage == "decode" and isinstance(exc, msgspec.DecodeError):
        error = EventError("invalid_json", mask_quoted(str(exc), VOCABULARY), event_id=event_id)
    elif stage == "decode" and isinstance(exc, MemoryError):
        error = EventError("oversize", "too large to read", event_id=event_id)
    else:
        error = EventError(ENGINE_ERROR, _named(exc), event_id=event_id)
    error.__cause__ = exc
    return error
