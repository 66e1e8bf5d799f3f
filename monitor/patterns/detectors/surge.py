"""`volume.surge`: an agency's searches of an owner's data on one day far above its own baseline.

Per owner and agency, searches are counted per UTC day over the last `baseline_days` (28) days. When a day
begins for the agency, its threshold is fixed from the previous `baseline_days` days (days without a search
count as 0): max(median_factor x median, median + mad_factor x MAD, floor), by default
max(3 x median, median + 5 x MAD, 50). Days before the agency's first search are not
counted, and an in-state agency is judged only after `min_history_days` (7), so the start of an export
is not a surge; an outside agency is judged from its first day. The search that takes the day's count
above it raises the alert,
once per agency and day (id: owner, agency, day). Day buckets older than the baseline are dropped, and the
row with them when the agency has been quiet that long.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from statistics import median

import msgspec

from monitor.patterns.detector import (
    KEEP,
    Detector,
    Notes,
    PatternContext,
    Step,
    alert_owner,
    alert_requester,
    iso,
    pattern_alert,
    pattern_alert_id,
)
from monitor.patterns.observation import Observation
from monitor.policy import SurgeSettings

__all__ = ["Surge", "SurgeState", "surge_threshold"]

RULE_ID = "patterns.volume.surge"
TITLE = "Search surge"


class SurgeState(msgspec.Struct, kw_only=True, gc=False):
    """Day buckets (proleptic ordinals, ascending) of one agency's searches of one owner's data."""

    days: list[int]
    counts: list[int]
    first_day: int  # of the agency's first search (baselines start there, not at the window's start)
    threshold: float  # for the last day in `days`
    median: float
    mad: float
    alerted_day: int = 0


def surge_threshold(history: list[int], settings: SurgeSettings) -> tuple[float, float, float]:
    """(threshold, median, MAD) from the daily counts of the baseline days (zeros included)."""
    middle = median(history) if history else 0.0
    mad = median([abs(count - middle) for count in history]) if history else 0.0
    threshold = max(settings.median_factor * middle, middle + settings.mad_factor * mad, float(settings.floor))
    return threshold, float(middle), float(mad)


def _midnight(day: int) -> datetime:
    return datetime.combine(date.fromordinal(day), time(), tzinfo=UTC)


class Surge(Detector[SurgeState]):
    kind = "volume.surge"
    state_type = SurgeState

    def state_key(self, obs: Observation) -> str | None:
        return obs.agency_key if obs.action == "search" else None

    def step(self, state: SurgeState | None, obs: Observation, ctx: PatternContext, notes: Notes) -> Step[SurgeState]:
        settings = ctx.settings_for(obs.owner_id).surge
        if not settings.enabled:
            return KEEP, []
        today = obs.occurred_at.toordinal()
        if state is None:
            threshold, middle, mad = surge_threshold([], settings)
            state = SurgeState(days=[today], counts=[0], first_day=today, threshold=threshold, median=middle, mad=mad)
        else:
            if state.days[-1] < today:
                _trim(state, today - settings.baseline_days)
                by_day = dict(zip(state.days, state.counts, strict=True))
                since = max(state.first_day, today - settings.baseline_days)
                history = [by_day.get(day, 0) for day in range(since, today)]
                state.threshold, state.median, state.mad = surge_threshold(history, settings)
                state.days.append(today)
                state.counts.append(0)
            elif state.days[-1] > today:
                # Out of event-time order (live stragglers): count it on its day, judge nothing.
                _count_late(state, today)
                return state, []
        state.counts[-1] += 1
        count = state.counts[-1]
        if count <= state.threshold or state.alerted_day == today:
            return state, []
        if obs.jurisdiction == "in_state" and today - state.first_day < settings.min_history_days:
            return state, []
        state.alerted_day = today
        key = obs.agency_key
        start = _midnight(today - settings.baseline_days)
        alert = pattern_alert(
            ctx,
            kind=self.kind,
            rule_id=RULE_ID,
            title=TITLE,
            severity="high" if obs.prohibited in ("critical", "high") else "medium",
            summary=(
                f"{obs.requester_agency} ran more than {state.threshold:g} searches of {obs.owner_agency}'s "
                f"ALPR data in one day (its median over {settings.baseline_days} days: {state.median:g})"
            ),
            alert_id=pattern_alert_id(self.kind, key, date.fromordinal(today).isoformat()),
            event_id=obs.event_id,
            occurred_at=obs.occurred_at,
            owner=alert_owner(obs),
            requester=alert_requester(obs),
            evidence={
                "window_start": iso(start),
                "window_end": iso(obs.occurred_at),
                "count": str(count),
                "baseline": f"{state.threshold:g}",
                "median": f"{state.median:g}",
                "mad": f"{state.mad:g}",
                "distinct_days": str(len(state.days) - 1),
                "event_ids": obs.event_id,
            },
            citations=obs.citations,
        )
        return state, [alert]

    def advance(self, key: str, state: SurgeState, now: datetime, ctx: PatternContext) -> Step[SurgeState]:
        owner_id = key.split("|", 1)[0]
        oldest = now.toordinal() - ctx.settings_for(owner_id).surge.baseline_days
        if state.days[-1] < oldest:
            return None, []
        if state.days[0] >= oldest:
            return KEEP, []
        _trim(state, oldest)
        return state, []


def _trim(state: SurgeState, oldest: int) -> None:
    cut = 0
    while cut < len(state.days) and state.days[cut] < oldest:
        cut += 1
    if cut:
        del state.days[:cut]
        del state.counts[:cut]


def _count_late(state: SurgeState, day: int) -> None:
    for index, known in enumerate(state.days):
        if known == day:
            state.counts[index] += 1
            return
        if known > day:
            state.days.insert(index, day)
            state.counts.insert(index, 1)
            return
