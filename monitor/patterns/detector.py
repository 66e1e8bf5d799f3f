"""The detector contract: a pure state machine over observations, and the context it runs in."""

from __future__ import annotations

import enum
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar, Final, Generic, Literal, TypeVar

import msgspec

from monitor.alerts import Alert, AlertOwner, AlertRequester, Severity
from monitor.patterns.observation import Observation
from monitor.policy import PatternSettings, Policy

__all__ = [
    "KEEP",
    "Detector",
    "Keep",
    "Notes",
    "PatternContext",
    "Step",
    "alert_owner",
    "alert_requester",
    "iso",
    "pattern_alert",
    "pattern_alert_id",
]

S = TypeVar("S", bound=msgspec.Struct)


class Keep(enum.Enum):
    """What `step`, `advance` and `settle` return for "nothing changed": the runner writes nothing."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP
Step = tuple[S | Literal[Keep.KEEP] | None, list[Alert]]


def pattern_alert_id(kind: str, key: str, *parts: str) -> str:
    """Deterministic id of a pattern alert: its kind, its state key, and what identifies the pattern
    (the tipping event's key, a tier, a day of exposure). Replays give the same id whatever the store."""
    text = "\x00".join(("pattern", kind, key, *parts))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(slots=True)
class Notes:
    """Scratch for one observation, passed along the detectors in runner order and then dropped.

    `alerts`: what detectors earlier in the order raised for this observation. `user_searches`: the user's
    searches of this owner's data over the repeat-target window, including this one (set by the per-user
    detector, read by the per-plate one for a plate's share of the user's searches). `user_targets`: how many
    of the user's plates reached a repeat-target tier within the window (same source).
    """

    alerts: list[Alert] = field(default_factory=list)
    user_searches: int | None = None
    user_targets: int = 0  # other plates of this user that reached a repeat-target tier recently


@dataclass(frozen=True, slots=True)
class PatternContext:
    """What detectors need besides their state: thresholds by owner, the policy version, a clock.

    The clock only stamps `detected_at`; nothing a detector decides depends on it.
    """

    policy: Policy
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _settings: dict[str, PatternSettings] = field(default_factory=dict, repr=False, compare=False)

    @property
    def policy_version(self) -> str:
        return self.policy.version

    def settings_for(self, owner_id: str) -> PatternSettings:
        """Thresholds for an owner: its overrides over the policy's `patterns:` defaults."""
        settings = self._settings.get(owner_id)
        if settings is None:
            settings = self._settings[owner_id] = self.policy.pattern_settings(owner_id)
        return settings


class Detector(ABC, Generic[S]):
    """One pattern kind: a pure state machine (see the package docstring for the contract)."""

    kind: ClassVar[str]  # the contract v1.1 kind it raises, also its name and its table's name
    state_type: ClassVar[type[msgspec.Struct]]
    ticks_daily: ClassVar[bool] = False  # must be advanced at least once per UTC day
    settles: ClassVar[bool] = False  # `settle` is called once every detector has stepped

    def __init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[S] = msgspec.msgpack.Decoder(self.state_type)

    @abstractmethod
    def state_key(self, obs: Observation) -> str | None:
        """The key this observation's state lives under (`"<owner key>|..."`), or None to ignore it."""

    @abstractmethod
    def step(self, state: S | None, obs: Observation, ctx: PatternContext, notes: Notes) -> Step[S]:
        """One observation in: the state to write (which may be `state` changed in place), `KEEP` when
        nothing changed, or None to delete the key; and the alerts."""

    def settle(self, state: S, obs: Observation, ctx: PatternContext, notes: Notes) -> S | Literal[Keep.KEEP]:
        """After every detector stepped (only when `settles`), with the state `step` returned: fold in what
        later detectors raised. `KEEP` when it changed nothing."""
        return KEEP

    def advance(self, key: str, state: S, now: datetime, ctx: PatternContext) -> Step[S]:
        """Time passes to `now` without an event: alerts due by then, state trimmed to its window."""
        return KEEP, []

    def encode(self, state: S) -> bytes:
        """State as bytes (MessagePack), as a Faust table or a crash/restore keeps it."""
        return self._encoder.encode(state)

    def decode(self, data: bytes) -> S:
        """State from `encode`'s bytes."""
        return self._decoder.decode(data)


PATTERN_PACK = "patterns"


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, as evidence values are written."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_owner(obs: Observation) -> AlertOwner:
    return AlertOwner(agency=obs.owner_agency, state=obs.owner_state, id=obs.owner_id)


def alert_requester(obs: Observation) -> AlertRequester:
    return AlertRequester(agency=obs.requester_agency, jurisdiction=obs.jurisdiction)


def pattern_alert(
    ctx: PatternContext,
    *,
    kind: str,
    rule_id: str,
    title: str,
    severity: Severity,
    summary: str,
    alert_id: str,
    event_id: str,
    occurred_at: datetime,
    owner: AlertOwner,
    requester: AlertRequester,
    evidence: dict[str, str],
    citations: Sequence[str] = (),
    plate_hash: str | None = None,
    user_hash: str | None = None,
) -> Alert:
    """A contract v1.1 pattern alert (the same shape as a per-event alert)."""
    return Alert(
        alert_id=alert_id,
        event_id=event_id,
        rule_id=rule_id,
        kind=kind,
        severity=severity,
        summary=summary,
        citations=list(citations),
        owner=owner,
        requester=requester,
        evidence=evidence,
        policy_version=ctx.policy_version,
        occurred_at=occurred_at,
        detected_at=ctx.clock(),
        pack=PATTERN_PACK,
        title=title,
        plate_hash=plate_hash,
        user_hash=user_hash,
    )
