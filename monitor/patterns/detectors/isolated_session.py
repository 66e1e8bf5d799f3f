"""`misuse.isolated_session` (interface stub: the detector lands in the next commits)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from monitor.alerts import Alert
from monitor.patterns.detector import Detector, PatternContext, Step
from monitor.patterns.observation import Observation, agency_tag

__all__ = ["IsolatedSession", "IsolatedSessionState"]


class IsolatedSessionState(msgspec.Struct, kw_only=True):
    """State of one key (fields land with the detector)."""


class IsolatedSession(Detector[IsolatedSessionState]):
    kind = "misuse.isolated_session"
    state_type = IsolatedSessionState

    def state_key(self, obs: Observation) -> str | None:
        if obs.action != "search" or obs.user_hash is None:
            return None
        return f"{obs.owner_key}|{agency_tag(obs.requester_key)}|{obs.user_hash}"

    def step(
        self, state: IsolatedSessionState | None, obs: Observation, ctx: PatternContext, earlier: Sequence[Alert]
    ) -> Step[IsolatedSessionState]:
        return state, []
