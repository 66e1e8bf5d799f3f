"""The detector contract: a pure state machine over observations, and the context it runs in."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Generic, TypeVar

import msgspec

from monitor.alerts import Alert
from monitor.patterns.observation import Observation
from monitor.policy import PatternSettings, Policy

__all__ = ["Detector", "PatternContext", "Step", "pattern_alert_id"]

S = TypeVar("S", bound=msgspec.Struct)
Step = tuple[S | None, list[Alert]]


def pattern_alert_id(kind: str, key: str, *parts: str) -> str:
    """Deterministic id of a pattern alert: its kind, its state key, and what identifies the pattern
    (the tipping event's key, a tier, a day of exposure). Replays give the same id whatever the store."""
    text = "\x00".join(("pattern", kind, key, *parts))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True, slots=True)
class PatternContext:
    """What detectors need besides their state: thresholds by owner, the policy version, a clock.

    The clock only stamps `detected_at`; nothing a detector decides depends on it.
    """

    policy: Policy
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @property
    def policy_version(self) -> str:
        return self.policy.version

    def settings_for(self, owner_id: str) -> PatternSettings:
        """Thresholds for an owner: its overrides over the policy's `patterns:` defaults."""
        return self.policy.pattern_settings(owner_id)


class Detector(ABC, Generic[S]):
    """One pattern kind: a pure state machine (see the package docstring for the contract)."""

    kind: ClassVar[str]  # the contract v1.1 kind it raises, also its name and its table's name
    state_type: ClassVar[type[msgspec.Struct]]
    ticks_daily: ClassVar[bool] = False  # must be advanced at least once per UTC day

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[S] = msgspec.msgpack.Decoder(self.state_type)

    @abstractmethod
    def state_key(self, obs: Observation) -> str | None:
        """The key this observation's state lives under (`"<owner key>|..."`), or None to ignore it."""

    @abstractmethod
    def step(self, state: S | None, obs: Observation, ctx: PatternContext, earlier: Sequence[Alert]) -> Step[S]:
        """One observation in: the new state (the same object when unchanged, None to delete) and alerts."""

    def advance(self, key: str, state: S, now: datetime, ctx: PatternContext) -> Step[S]:
        """Time passes to `now` without an event: alerts due by then, state trimmed to its window."""
        return state, []

    def encode(self, state: S) -> bytes:
        """State as bytes (MessagePack), as a Faust table or a crash/restore keeps it."""
        return self._encoder.encode(state)

    def decode(self, data: bytes) -> S:
        """State from `encode`'s bytes."""
        return self._decoder.decode(data)
