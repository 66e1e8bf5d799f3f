"""`volume.new_requester`: the first search of an owner's data by an agency that is not a public agency of its state.

Exactly once per owner and agency: the state (when and by which event the agency was first seen) is kept
for as long as the owner exists, one small row per agency, so the alert never repeats. Replays give the
same first event, hence the same id.
"""

from __future__ import annotations

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

__all__ = ["NewRequester", "NewRequesterState"]

RULE_ID = "patterns.volume.new-requester"
TITLE = "First search by an outside agency"


class NewRequesterState(msgspec.Struct, kw_only=True, gc=False):
    """When an outside agency first searched the owner's data."""

    first_seen: str  # RFC 3339
    event_id: str


class NewRequester(Detector[NewRequesterState]):
    kind = "volume.new_requester"
    state_type = NewRequesterState

    def state_key(self, obs: Observation) -> str | None:
        if obs.action != "search" or obs.jurisdiction == "in_state":
            return None
        return obs.agency_key

    def step(
        self, state: NewRequesterState | None, obs: Observation, ctx: PatternContext, notes: Notes
    ) -> Step[NewRequesterState]:
        if state is not None or not ctx.settings_for(obs.owner_id).new_requester.enabled:
            return KEEP, []
        key = obs.agency_key
        seen = iso(obs.occurred_at)
        alert = pattern_alert(
            ctx,
            kind=self.kind,
            rule_id=RULE_ID,
            title=TITLE,
            severity="high" if obs.prohibited in ("critical", "high") else "medium",
            summary=f"{obs.requester_agency} searched {obs.owner_agency}'s ALPR data for the first time",
            alert_id=pattern_alert_id(self.kind, key),
            event_id=obs.event_id,
            occurred_at=obs.occurred_at,
            owner=alert_owner(obs),
            requester=alert_requester(obs),
            evidence={
                "window_start": seen,
                "window_end": seen,
                "count": "1",
                "event_ids": obs.event_id,
                "jurisdiction": obs.jurisdiction,
            },
            citations=obs.citations,
            user_hash=obs.user_hash,
        )
        return NewRequesterState(first_seen=seen, event_id=obs.event_id), [alert]
