"""`misuse.isolated_session`: a burst of searches by one user far outside that user's usual hours.

Per owner, agency and user (hashes only): the hours of day of all the user's searches, searches per day
over the repeat-target window, and the session in progress. A session is a run of searches with gaps under
`gap_hours` (8); it is judged when it ends, which is known only once `gap_hours` pass without a search (at
the user's next search, or at an `advance`). It is isolated when it followed at least `gap_hours` of
inactivity, lasted at most `max_session_hours`, held at least `min_session_searches` searches, all outside
the smallest block of consecutive hours holding `usual_hours_share` (85%) of the user's searches, and the
user had `min_history` (200) searches before it: sparse users make the block meaningless.

Severity low, medium when the same user raised a repeat target within the window (learnt in `settle`,
after the per-plate detector ran on the same search). The per-day counts also give the per-plate detector
the user's total (`Notes.user_searches`), for a plate's share of it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

import msgspec

from monitor.alerts import Alert, AlertOwner, AlertRequester
from monitor.patterns.detector import (
    KEEP,
    Detector,
    Keep,
    Notes,
    PatternContext,
    Step,
    iso,
    pattern_alert,
    pattern_alert_id,
)
from monitor.patterns.observation import Observation
from monitor.policy import PatternSettings

__all__ = ["IsolatedSession", "IsolatedSessionState", "usual_block"]

RULE_ID = "patterns.misuse.isolated-session"
TITLE = "Isolated search session"
MAX_EVENT_IDS = 50
MAX_TARGETS = 32  # enough to count "many plates" (`repeat_target.many_plates`) with room to spare
_REPEAT_TARGET = "misuse.repeat_target"


def usual_block(hours: list[int], share: float) -> tuple[int, int]:
    """(first hour, length) of the shortest circular block of hours holding `share` of the searches."""
    need = share * sum(hours)
    if need <= 0:
        return 0, 24
    best = (0, 24)
    end = held = 0  # the block is hours[start:end] on the doubled day
    for start in range(24):
        while held < need and end < start + 24:
            held += hours[end % 24]
            end += 1
        if held >= need and end - start < best[1]:
            best = (start, end - start)
        held -= hours[start]
    return best


@lru_cache(maxsize=64)
def _hours(hours: float) -> timedelta:
    return timedelta(hours=hours)


def _in_block(hour: int, block: tuple[int, int]) -> bool:
    return (hour - block[0]) % 24 < block[1]


class IsolatedSessionState(msgspec.Struct, kw_only=True, gc=False):
    owner_id: str
    owner_agency: str
    owner_state: str | None
    requester: str
    jurisdiction: str
    user_hash: str
    hours: list[int]
    days: list[int]
    counts: list[int]
    last_seen: datetime | None = None  # the last search before the session in progress
    block: tuple[int, int] = (0, 24)  # usual hours (first hour, length) when the session began
    session_start: datetime | None = None
    session_last: datetime | None = None
    session_count: int = 0
    session_outside: int = 0
    session_gap_before: bool = False
    session_first_key: str = ""
    session_events: list[str] = []
    repeat_target_day: int = 0
    targets: list[str] = []  # "<day ordinal>:<plate hash>" of repeat-target alerts, newest last, capped

    @property
    def window_total(self) -> int:
        return sum(self.counts)


class IsolatedSession(Detector[IsolatedSessionState]):
    kind = "misuse.isolated_session"
    state_type = IsolatedSessionState
    settles = True

    def state_key(self, obs: Observation) -> str | None:
        return obs.user_key if obs.action == "search" else None

    def step(
        self, state: IsolatedSessionState | None, obs: Observation, ctx: PatternContext, notes: Notes
    ) -> Step[IsolatedSessionState]:
        settings = ctx.settings_for(obs.owner_id)
        key = obs.user_key or ""
        when = obs.occurred_at
        if state is None:
            notes.user_searches = 1
            return _first_search(obs), []
        alerts = []
        gap = _hours(settings.isolated_session.gap_hours)
        if state.session_last is not None and when - state.session_last >= gap:
            alert = self._close(key, state, settings, ctx)
            if alert is not None:
                alerts.append(alert)
        if state.session_last is None:
            state.session_start = state.session_last = when
            state.session_gap_before = state.last_seen is not None and when - state.last_seen >= gap
            state.session_count = state.session_outside = 0
            state.session_first_key = obs.event_key
            state.session_events = []
            if sum(state.hours) >= settings.isolated_session.min_history:
                # The usual hours as they stood when the session began.
                state.block = usual_block(state.hours, settings.isolated_session.usual_hours_share)
            else:
                state.block = (0, 24)
        elif when > state.session_last:
            state.session_last = when
        state.session_count += 1
        if not _in_block(when.hour, state.block):
            state.session_outside += 1
        if len(state.session_events) < MAX_EVENT_IDS:
            state.session_events.append(obs.event_id)
        state.hours[when.hour] += 1
        today = when.toordinal()
        _add_day(state, today, today - settings.repeat_target.window_days + 1)
        notes.user_searches = state.window_total
        if state.targets:
            recent = today - settings.repeat_target.window_days
            notes.user_targets = len({t.partition(":")[2] for t in state.targets if int(t.partition(":")[0]) > recent})
        return state, alerts

    def settle(
        self, state: IsolatedSessionState, obs: Observation, ctx: PatternContext, notes: Notes
    ) -> IsolatedSessionState | Literal[Keep.KEEP]:
        if any(alert.kind == _REPEAT_TARGET for alert in notes.alerts):
            today = obs.occurred_at.toordinal()
            state.repeat_target_day = today
            state.targets = [*state.targets[-(MAX_TARGETS - 1) :], f"{today}:{obs.plate_hash}"]
            return state
        return KEEP

    def advance(
        self, key: str, state: IsolatedSessionState, now: datetime, ctx: PatternContext
    ) -> Step[IsolatedSessionState]:
        settings = ctx.settings_for(state.owner_id)
        window = settings.repeat_target.window_days
        alerts = []
        changed = False
        if state.session_last is not None and now - state.session_last >= timedelta(
            hours=settings.isolated_session.gap_hours
        ):
            alert = self._close(key, state, settings, ctx)
            changed = True
            if alert is not None:
                alerts.append(alert)
        last = state.session_last or state.last_seen
        if last is not None and now - last > timedelta(days=window):
            return None, alerts
        oldest = now.toordinal() - window + 1
        if state.days and state.days[0] < oldest:
            _trim(state, oldest)
            changed = True
        return (state if changed else KEEP), alerts

    def _close(
        self, key: str, state: IsolatedSessionState, settings: PatternSettings, ctx: PatternContext
    ) -> Alert | None:
        """End the session in progress (in `state`); its alert when it was isolated."""
        start, last, count = state.session_start, state.session_last, state.session_count
        assert start is not None
        assert last is not None
        rules = settings.isolated_session
        history = sum(state.hours) - count
        isolated = (
            rules.enabled
            and state.session_gap_before
            and history >= rules.min_history
            and count >= rules.min_session_searches
            and last - start <= timedelta(hours=rules.max_session_hours)
            and state.session_outside == count
        )
        alert = None
        if isolated:
            repeat = (
                state.repeat_target_day
                and last.toordinal() - state.repeat_target_day < settings.repeat_target.window_days
            )
            block_start, block_length = state.block
            alert = pattern_alert(
                ctx,
                kind=self.kind,
                rule_id=RULE_ID,
                title=TITLE,
                severity="medium" if repeat else "low",
                summary=(
                    f"A user of {state.requester} ran {count} searches of {state.owner_agency}'s ALPR data "
                    f"between {start:%H:%M} and {last:%H:%M} UTC, outside their usual hours, "
                    f"with {rules.gap_hours:g}+ hours of inactivity before and after"
                    + ("; the same user has a repeat target" if repeat else "")
                ),
                alert_id=pattern_alert_id(self.kind, key, state.session_first_key),
                event_id=state.session_events[-1] if state.session_events else "",
                occurred_at=last,
                owner=_owner(state),
                requester=_requester(state),
                evidence={
                    "window_start": iso(start),
                    "window_end": iso(last),
                    "count": str(count),
                    "baseline": f"{block_start:02d}:00-{(block_start + block_length) % 24:02d}:00 UTC",
                    "history": str(history),
                    "event_ids": ",".join(state.session_events),
                    "user_hash": state.user_hash,
                    "repeat_target": "true" if repeat else "false",
                },
                user_hash=state.user_hash,
            )
        state.last_seen = last
        state.session_start = state.session_last = None
        state.session_count = state.session_outside = 0
        state.session_events = []
        state.session_first_key = ""
        return alert


def _first_search(obs: Observation) -> IsolatedSessionState:
    """A user's state after their first search, built in one go (most keys are new: the common case).

    It is what `step` makes of an empty state: a session of one search that follows no inactivity, judged
    against no usual hours yet, and one search on the day in the per-day buckets."""
    assert obs.user_hash is not None
    when = obs.occurred_at
    hours = [0] * 24
    hours[when.hour] = 1
    return IsolatedSessionState(
        owner_id=obs.owner_id,
        owner_agency=obs.owner_agency,
        owner_state=obs.owner_state,
        requester=obs.requester_agency,
        jurisdiction=obs.jurisdiction,
        user_hash=obs.user_hash,
        hours=hours,
        days=[when.toordinal()],
        counts=[1],
        session_start=when,
        session_last=when,
        session_count=1,
        session_first_key=obs.event_key,
        session_events=[obs.event_id],
    )


def _owner(state: IsolatedSessionState) -> AlertOwner:
    return AlertOwner(agency=state.owner_agency, state=state.owner_state, id=state.owner_id)


def _requester(state: IsolatedSessionState) -> AlertRequester:
    return AlertRequester(agency=state.requester, jurisdiction=state.jurisdiction)


def _trim(state: IsolatedSessionState, oldest: int) -> None:
    cut = 0
    while cut < len(state.days) and state.days[cut] < oldest:
        cut += 1
    if cut:
        del state.days[:cut]
        del state.counts[:cut]


def _add_day(state: IsolatedSessionState, day: int, oldest: int) -> None:
    """Count one search on `day` in the per-day buckets, dropping buckets older than `oldest` (in place)."""
    days, counts = state.days, state.counts
    if days and days[-1] == day:
        counts[-1] += 1
        return
    if days and days[0] < oldest:
        _trim(state, oldest)
    if not days or days[-1] < day:
        days.append(day)
        counts.append(1)
        return
    index = next(i for i, known in enumerate(days) if known >= day)  # a straggler, live
    if days[index] == day:
        counts[index] += 1
    else:
        days.insert(index, day)
        counts.insert(index, 1)
