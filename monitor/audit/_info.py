"""What the report says about the run itself: scope, inputs, policy, time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["InputFile", "RunInfo"]


@dataclass(frozen=True, slots=True)
class InputFile:
    """One input as given on the command line, with its size when it is a regular file."""

    path: str
    size: int | None


@dataclass(slots=True)
class RunInfo:
    """The run's context, shown at the top of the report and in the summary."""

    title: str
    generated_at: datetime
    policy_version: str
    scope: str | None = None  # one line saying what was audited, e.g. "California agencies' sharing grants"
    owner: str | None = None
    inputs: list[InputFile] = field(default_factory=list)
    seconds: float = 0.0
    # Owners for whom no state law pack applied (Engine.owners_without_state_law): "only the owner policy was checked".
    no_state_law: list[dict[str, object]] = field(default_factory=list)
