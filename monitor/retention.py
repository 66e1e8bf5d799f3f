"""How far back a search reached, and when that is past a retention period: one definition for all.

The owner's policy, the state packs' statutory periods and the audit report all use these, so a
search counts as "past the period" the same way everywhere.
"""

from __future__ import annotations

from monitor.events import AccessEvent

__all__ = ["RETENTION_GRACE_DAYS", "past_period", "past_retention", "reach_days", "reach_seconds"]

# Purges run daily and search forms offer "last N days": a search reaching a day past the period is
# ordinary use; more than that means data was kept too long.
RETENTION_GRACE_DAYS = 1
_DAY = 86_400


def reach_seconds(event: AccessEvent) -> float | None:
    """Seconds between the start of the search's time frame and the search; None when the record has no start."""
    query = event.query
    if query is None or query.time_frame_start is None:
        return None
    return (event.occurred_at - query.time_frame_start).total_seconds()


def reach_days(event: AccessEvent) -> float | None:
    """How many days back the search reached (fractional), or None when the record does not say."""
    seconds = reach_seconds(event)
    return None if seconds is None else seconds / _DAY


def past_retention(seconds: float | None, retention_days: int) -> bool:
    """Whether a search reaching `seconds` back reached data older than `retention_days` plus the grace."""
    return seconds is not None and seconds > (retention_days + RETENTION_GRACE_DAYS) * _DAY


def past_period(seconds: float | None, retention_days: int) -> bool:
    """Whether a search reached data older than `retention_days`, grace or not (the report's wider count;
    only `past_retention` makes a finding)."""
    return seconds is not None and seconds > retention_days * _DAY
