"""`misuse.repeat_target` (interface stub: the detector lands in the next commits)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from monitor.alerts import Alert
from monitor.patterns.detector import Detector, PatternContext, Step
from monitor.patterns.observation import Observation, agency_tag

__all__ = ["RepeatTarget", "RepeatTargetState"]


class RepeatTargetState(msgspec.Struct, kw_only=True):
    """State of one key (fields land with the detector)."""


class RepeatTarget(Detector[RepeatTargetState]):
    kind = "misuse.repeat_target"
    state_type = RepeatTargetState

    def state_key(self, obs: Observation) -> str | None:
        if obs.action != "search" or obs.user_hash is None or obs.plate_hash is None:
            return None
        return f"{obs.owner_key}|{agency_tag(obs.requester_key)}|{obs.user_hash}|{obs.plate_hash}"

    def step(
        self, state: RepeatTargetState | None, obs: Observation, ctx: PatternContext, earlier: Sequence[Alert]
    ) -> Step[RepeatTargetState]:
        return state, []
