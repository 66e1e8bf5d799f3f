"""`sharing.standing_access` (interface stub: the detector lands in the next commits)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from monitor.alerts import Alert
from monitor.patterns.detector import Detector, PatternContext, Step
from monitor.patterns.observation import Observation

__all__ = ["StandingAccess", "StandingAccessState"]


class StandingAccessState(msgspec.Struct, kw_only=True):
    """State of one key (fields land with the detector)."""


class StandingAccess(Detector[StandingAccessState]):
    kind = "sharing.standing_access"
    state_type = StandingAccessState
    ticks_daily = True

    def state_key(self, obs: Observation) -> str | None:
        return f"{obs.owner_key}|{obs.requester_key}"

    def step(
        self, state: StandingAccessState | None, obs: Observation, ctx: PatternContext, earlier: Sequence[Alert]
    ) -> Step[StandingAccessState]:
        return state, []
