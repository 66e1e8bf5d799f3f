"""`misuse.repeat_target`: one user searching one plate again and again (the shape of the stalking cases).

Per owner, agency, user hash and plate hash (never a plate): searches per UTC day over `window_days` (90),
weighted, with the searches that carried a case number counted apart. Tiers (policy defaults):

- medium: 5+ searches on 3+ distinct days within 30 days;
- high: 10+ searches on 4+ days within 30 days, or 8+ searches spread over 21+ days (on 3+ days), or the
  plate being 20%+ of the user's searches in the window (users with 50+ searches) on 3+ days.

A search with a case number counts as `case_number_weight` (0.25) of one, and a pattern made mostly (half
or more) of such searches never goes above medium: an open investigation where a team searches one plate
under its case number is work, not stalking. Nor does a user with `many_plates` (5) other plates at a tier
within the window: re-checking a list of suspects alike is analysis, fixation on one person is not. Every
tier needs searches on several days, so a BOLO plate re-checked all day by one user stays below both. A tier alerts
once when reached; while the pattern goes on it alerts again at most every `realert_days` (30). Ids: owner, agency,
user, plate, tier and the search that tipped it, so replays repeat them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import msgspec

from monitor.alerts import Alert
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
from monitor.policy import RepeatTargetSettings

__all__ = ["RepeatTarget", "RepeatTargetState", "Tier", "tier_of"]

RULE_ID = "patterns.misuse.repeat-target"
TITLE = "Repeat searches of one plate by one user"
MAX_EVENT_IDS = 50
MAX_REASONS = 3
_RANK = {"": 0, "medium": 1, "high": 2}


class RepeatTargetState(msgspec.Struct, kw_only=True, gc=False, array_like=True):
    """One user's searches of one plate: day buckets (ordinals, ascending) and what the evidence needs."""

    days: list[int]
    counts: list[int]  # searches per day
    cased: list[int]  # of which with a case number
    event_ids: list[str]  # the latest MAX_EVENT_IDS
    reasons: list[str] = []  # up to MAX_REASONS distinct reasons, identifiers masked
    tier: str = ""  # the highest tier alerted in the current episode
    alerted_day: int = 0


class Tier(msgspec.Struct, frozen=True):
    """The tier a pattern reached, and the figures that show it."""

    name: str  # "", "medium" or "high"
    basis: str  # the threshold met, in words
    searches: int
    weighted: float
    days: int
    first_day: int
    cased: int
    share: float | None
    user_searches: int | None


def tier_of(
    state: RepeatTargetState,
    today: int,
    user_searches: int | None,
    rules: RepeatTargetSettings,
    user_targets: int = 0,
) -> Tier:
    """Judge a state as of `today` against the tiers (`user_targets`: the user's other plates at a tier)."""
    weight = rules.case_number_weight
    recent_from = today - rules.medium_within_days + 1
    searches = cased = 0
    weighted = recent_weighted = 0.0
    recent_days = 0
    for day, count, with_case in zip(state.days, state.counts, state.cased, strict=True):
        day_weight = (count - with_case) + weight * with_case
        searches += count
        cased += with_case
        weighted += day_weight
        if day >= recent_from:
            recent_weighted += day_weight
            recent_days += 1
    days = len(state.days)
    first = state.days[0] if state.days else today
    span = (state.days[-1] - first) if state.days else 0
    share = searches / user_searches if user_searches else None
    medium = recent_weighted >= rules.medium_searches and recent_days >= rules.medium_days
    basis = ""
    if recent_weighted >= rules.high_searches and recent_days >= rules.high_days:
        basis = f"{rules.high_searches:g}+ searches on {rules.high_days}+ days within {rules.medium_within_days} days"
    elif weighted >= rules.spread_searches and span >= rules.spread_span_days and days >= rules.medium_days:
        basis = f"{rules.spread_searches:g}+ searches spread over {rules.spread_span_days}+ days"
    elif (
        share is not None
        and user_searches is not None
        and user_searches >= rules.share_min_user_searches
        and share * 100 >= rules.share_percent
        and medium
    ):
        basis = f"{share:.0%} of the user's {user_searches} searches"
    name = "high" if basis else ""
    if name and 2 * cased >= searches:
        # Mostly under a case number: an investigation's pattern, at most worth a review.
        name = ""
    if name and user_targets >= rules.many_plates:
        # The user re-checks many plates alike (an analyst's list of suspects), not one person's plate.
        name = ""
    if not name and medium:
        name = "medium"
        basis = (
            f"{rules.medium_searches:g}+ searches on {rules.medium_days}+ days within {rules.medium_within_days} days"
        )
    return Tier(name, basis, searches, weighted, days, first, cased, share, user_searches)


class RepeatTarget(Detector[RepeatTargetState]):
    kind = "misuse.repeat_target"
    state_type = RepeatTargetState

    def state_key(self, obs: Observation) -> str | None:
        if obs.action != "search" or obs.user_key is None or obs.plate_hash is None:
            return None
        return f"{obs.user_key}|{obs.plate_hash}"

    def step(
        self, state: RepeatTargetState | None, obs: Observation, ctx: PatternContext, notes: Notes
    ) -> Step[RepeatTargetState]:
        rules = ctx.settings_for(obs.owner_id).repeat_target
        if not rules.enabled:
            return KEEP, []
        today = obs.occurred_at.toordinal()
        oldest = today - rules.window_days + 1
        cased = 1 if obs.case_number else 0
        if state is None:
            state = RepeatTargetState(days=[today], counts=[1], cased=[cased], event_ids=[obs.event_id])
            if obs.reason:
                state.reasons = [obs.reason]
            return state, []
        days, counts, with_case = state.days, state.counts, state.cased
        if days[0] < oldest:
            cut = next((i for i, day in enumerate(days) if day >= oldest), len(days))
            del days[:cut], counts[:cut], with_case[:cut]
        if days and days[-1] == today:
            counts[-1] += 1
            with_case[-1] += cased
        elif not days or days[-1] < today:
            days.append(today)
            counts.append(1)
            with_case.append(cased)
        else:
            # A straggler (live, out of event-time order): counted on its own day.
            index = next(i for i, day in enumerate(days) if day >= today)
            if days[index] == today:
                counts[index] += 1
                with_case[index] += cased
            else:
                days.insert(index, today)
                counts.insert(index, 1)
                with_case.insert(index, cased)
        event_ids = state.event_ids
        if len(event_ids) >= MAX_EVENT_IDS:
            del event_ids[: len(event_ids) - MAX_EVENT_IDS + 1]
        event_ids.append(obs.event_id)
        reasons = state.reasons
        if obs.reason and len(reasons) < MAX_REASONS and obs.reason not in reasons:
            state.reasons = [*reasons, obs.reason]
        if len(days) < rules.medium_days:
            return state, []
        tier = tier_of(state, today, notes.user_searches, rules, notes.user_targets)
        episode = state.tier if today - state.alerted_day < rules.realert_days else ""
        if _RANK[tier.name] <= _RANK[episode]:
            return state, []
        state.tier, state.alerted_day = tier.name, today
        return state, [self._alert(obs, state, tier, ctx)]

    def advance(
        self, key: str, state: RepeatTargetState, now: datetime, ctx: PatternContext
    ) -> Step[RepeatTargetState]:
        owner_id = key.split("|", 1)[0]
        oldest = now.toordinal() - ctx.settings_for(owner_id).repeat_target.window_days + 1
        if state.days[-1] < oldest:
            return None, []
        if state.days[0] >= oldest:
            return KEEP, []
        cut = next(i for i, day in enumerate(state.days) if day >= oldest)
        del state.days[:cut], state.counts[:cut], state.cased[:cut]
        return state, []

    def _alert(self, obs: Observation, state: RepeatTargetState, tier: Tier, ctx: PatternContext) -> Alert:
        key = f"{obs.user_key}|{obs.plate_hash}"
        start = datetime.combine(date.fromordinal(tier.first_day), time(), tzinfo=UTC)
        evidence = {
            "window_start": iso(start),
            "window_end": iso(obs.occurred_at),
            "count": str(tier.searches),
            "weighted_count": f"{tier.weighted:g}",
            "distinct_days": str(tier.days),
            "baseline": tier.basis,
            "case_number_searches": str(tier.cased),
            "reasons": " | ".join(state.reasons),
            "event_ids": ",".join(state.event_ids),
            "plate_hash": obs.plate_hash or "",
            "user_hash": obs.user_hash or "",
        }
        if tier.share is not None:
            evidence["user_searches"] = str(tier.user_searches)
            evidence["share_percent"] = f"{100 * tier.share:.0f}"
        return pattern_alert(
            ctx,
            kind=self.kind,
            rule_id=RULE_ID,
            title=TITLE,
            severity="high" if tier.name == "high" else "medium",
            summary=(
                f"A user of {obs.requester_agency} searched one plate {tier.searches} times on {tier.days} days "
                f"in {obs.owner_agency}'s ALPR data ({tier.basis}"
                + (f"; {tier.cased} with a case number" if tier.cased else "; no case number")
                + ")"
            ),
            alert_id=pattern_alert_id(self.kind, key, tier.name, obs.event_key),
            event_id=obs.event_id,
            occurred_at=obs.occurred_at,
            owner=alert_owner(obs),
            requester=alert_requester(obs),
            evidence=evidence,
            plate_hash=obs.plate_hash,
            user_hash=obs.user_hash,
        )
