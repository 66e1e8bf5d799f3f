"""Rate limit for repeated warnings and errors: an outage must not write tens of lines a second.

With the broker down, the Kafka clients underneath log the same connection error for every retry
(about 75 lines a second measured before this filter). The filter lets the first `burst` records of one
kind through in each `window_seconds`, drops the rest, and adds the count of what it dropped to the
next record of that kind it lets through (`suppressed_repeats=N`), so nothing is hidden, only folded.

A record's kind is its logger, its level and its message *template* (the structlog event name, or the
standard library's format string before its arguments), so "cannot reach 127.0.0.1:9092" repeated with
different ports or node ids still counts as one kind. INFO and below pass untouched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from typing import Any

__all__ = ["RepeatLimiter", "install_repeat_limiter"]

DEFAULT_BURST = 5
DEFAULT_WINDOW_SECONDS = 10.0
_MAX_KINDS = 1024  # distinct kinds remembered; beyond it the oldest are forgotten (bounded memory)


class RepeatLimiter(logging.Filter):
    """A logging filter passing at most `burst` records of one kind per window (WARNING and above)."""

    def __init__(
        self,
        burst: int = DEFAULT_BURST,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.burst = burst
        self.window_seconds = window_seconds
        self._clock = clock
        self._lock = threading.Lock()
        # kind -> [window start, records passed in this window, records suppressed since the last pass]
        self._kinds: dict[tuple[str, int, str], list[float]] = {}
        self.suppressed_total = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = (record.name, record.levelno, _template(record))
        now = self._clock()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None:
                if len(self._kinds) >= _MAX_KINDS:
                    self._kinds.pop(next(iter(self._kinds)))
                state = self._kinds[kind] = [now, 0, 0]
            if now - state[0] >= self.window_seconds:
                state[0], state[1] = now, 0
            if state[1] >= self.burst:
                state[2] += 1
                self.suppressed_total += 1
                return False
            state[1] += 1
            suppressed, state[2] = int(state[2]), 0
        if suppressed:
            _mark(record, suppressed)
        return True


def _template(record: logging.LogRecord) -> str:
    message = record.msg
    if isinstance(message, MutableMapping):  # structlog's event dict, wrapped for the formatter
        return str(message.get("event", ""))
    return str(message)


def _mark(record: logging.LogRecord, suppressed: int) -> None:
    message: Any = record.msg
    if isinstance(message, MutableMapping):
        message["suppressed_repeats"] = suppressed
    else:
        # No '%' is added, so the record's own arguments still format.
        record.msg = f"{message} [suppressed_repeats={suppressed}]"


def install_repeat_limiter(limiter: RepeatLimiter | None = None) -> RepeatLimiter:
    """Attach one limiter to every handler of the root logger (where configure_logging sends all logs)."""
    limiter = limiter if limiter is not None else RepeatLimiter()
    for handler in logging.getLogger().handlers:
        if limiter not in handler.filters:
            handler.addFilter(limiter)
    return limiter
