"""`volume.new_requester` (interface stub: the detector lands in the next commits)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from monitor.alerts import Alert
from monitor.patterns.detector import Detector, PatternContext, Step
from monitor.patterns.observation import Observation

__all__ = ["NewRequester", "NewRequesterState"]


class NewRequesterState(msgspec.Struct, kw_only=True):
    """State of one key (fields land with the detector)."""


class NewRequester(Detector[NewRequesterState]):
    kind = "volume.new_requester"
    state_type = NewRequesterState

    def state_key(self, obs: Observation) -> str | None:
        if obs.action != "search" or obs.jurisdiction == "in_state":
            return None
        return f"{obs.owner_key}|{obs.requester_key}"

    def step(
        self, state: NewRequesterState | None, obs: Observation, ctx: PatternContext, earlier: Sequence[Alert]
    ) -> Step[NewRequesterState]:
        return state, []
