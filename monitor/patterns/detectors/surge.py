"""`volume.surge` (interface stub: the detector lands in the next commits)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from monitor.alerts import Alert
from monitor.patterns.detector import Detector, PatternContext, Step
from monitor.patterns.observation import Observation

__all__ = ["Surge", "SurgeState"]


class SurgeState(msgspec.Struct, kw_only=True):
    """State of one key (fields land with the detector)."""


class Surge(Detector[SurgeState]):
    kind = "volume.surge"
    state_type = SurgeState

    def state_key(self, obs: Observation) -> str | None:
        return f"{obs.owner_key}|{obs.requester_key}" if obs.action == "search" else None

    def step(
        self, state: SurgeState | None, obs: Observation, ctx: PatternContext, earlier: Sequence[Alert]
    ) -> Step[SurgeState]:
        return state, []
