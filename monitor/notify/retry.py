"""When to retry a notification and how long to wait: exponential backoff with jitter, bounded.

Pure arithmetic with the clock and the randomness passed in, so it is tested without sleeping.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "Verdict", "classify_status", "parse_retry_after"]

# Statuses that say "not now" rather than "never": rate limited, request timeout, server-side trouble.
_RETRY_4XX = frozenset({408, 429})
# Beyond this many doublings the delay is long past any cap; stops float overflow in a days-long outage.
_MAX_EXPONENT = 64


class Verdict(enum.Enum):
    """What one HTTP answer means for the notification."""

    DELIVERED = "delivered"
    RETRY = "retry"  # 408, 429, 5xx; connection errors and timeouts are retried too
    PERMANENT = "permanent"  # any other status: retrying cannot help; dead-letter it


def classify_status(status: int) -> Verdict:
    """2xx delivered; 408, 429 and 5xx retried; any other status (4xx, an unfollowed 3xx) is permanent."""
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if status in _RETRY_4XX or 500 <= status < 600:
        return Verdict.RETRY
    return Verdict.PERMANENT


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # HTTP dates are GMT; an unlabelled one is read as such
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped at `max_backoff_s`.

    `max_attempts` / `max_elapsed_s` of None mean "retry until delivered": an endpoint outage then holds
    the notifier's progress (nothing is lost) instead of dead-lettering alerts that were never seen.
    """

    initial_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.2  # fraction of the delay taken off at random, so retries of many alerts spread out
    max_attempts: int | None = None
    max_elapsed_s: float | None = None

    def __post_init__(self) -> None:
        problems = []
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            problems.append("need 0 < initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1:
            problems.append("multiplier must be >= 1")
        if not 0 <= self.jitter <= 1:
            problems.append("jitter must be within [0, 1]")
        if self.max_attempts is not None and self.max_attempts < 1:
            problems.append("max_attempts must be >= 1 (None: no limit)")
        if self.max_elapsed_s is not None and self.max_elapsed_s < 0:
            problems.append("max_elapsed_s must be >= 0 (None: no limit)")
        if problems:
            raise ValueError(f"invalid retry policy {self!r}: " + "; ".join(problems))

    def delay(self, attempt: int, retry_after: float | None = None, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        A server's Retry-After is honoured as a minimum, but never beyond `max_backoff_s`: the wait stays
        bounded whatever the server asks.
        """
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**exponent)
        wait = base * (1.0 - self.jitter * rand())
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(wait, self.max_backoff_s)

    def exhausted(self, attempts: int, elapsed_s: float) -> bool:
        """True when, after `attempts` failed attempts over `elapsed_s` seconds, the policy gives up."""
        if self.max_attempts is not None and attempts >= self.max_attempts:
            return True
        return self.max_elapsed_s is not None and elapsed_s >= self.max_elapsed_s
