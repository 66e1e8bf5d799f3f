"""The v1 alert: what the monitor says about one event under one rule."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

import msgspec

__all__ = [
    "KINDS",
    "PATTERN_KINDS",
    "SEVERITIES",
    "Alert",
    "AlertOwner",
    "AlertRequester",
    "Severity",
    "alert_id_for",
    "decode_alert",
    "encode_alert",
]

Severity = Literal["critical", "high", "medium", "low"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")

# The contract's stable vocabulary; dashboards, routing and tests depend on it.
KINDS: tuple[str, ...] = (
    "recipient.federal",
    "recipient.out_of_state",
    "recipient.non_public",
    "recipient.unresolved",
    "purpose.immigration",
    "purpose.reproductive_health",
    "purpose.protected_activity",
    "purpose.missing",
    "purpose.uninformative",
    "record.incomplete",
    "sharing.group_approval",
    "sharing.unreviewed",
    "sharing.no_agreement",
    "retention.exceeded",
    # v1.2 (additive): the owner-policy baseline.
    "purpose.not_permitted",
    "search.too_wide",
    # Contract v1.1: patterns over time, raised by the stateful detectors in monitor.patterns.
    "sharing.standing_access",
    "misuse.repeat_target",
    "misuse.isolated_session",
    "volume.new_requester",
    "volume.surge",
)
PATTERN_KINDS: tuple[str, ...] = (
    "sharing.standing_access",
    "misuse.repeat_target",
    "misuse.isolated_session",
    "volume.new_requester",
    "volume.surge",
)


class AlertOwner(msgspec.Struct, frozen=True, kw_only=True):
    agency: str
    state: str | None = None
    id: str | None = None  # the owner's id in the policy file, "other" when not listed


class AlertRequester(msgspec.Struct, frozen=True, kw_only=True):
    agency: str
    jurisdiction: str
    state: str | None = None
    on_behalf_of: str | None = None


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One rule's finding on one event (contract v1; `pack`, `title`, `plate_hash`, `user_hash` are additions)."""

    alert_id: str
    event_id: str
    rule_id: str
    kind: str
    severity: Severity
    summary: str
    citations: list[str]
    owner: AlertOwner
    requester: AlertRequester
    evidence: dict[str, str]
    policy_version: str
    occurred_at: datetime
    detected_at: datetime
    pack: str | None = None
    title: str | None = None
    plate_hash: str | None = None
    user_hash: str | None = None


def alert_id_for(event_key: str, rule_id: str) -> str:
    """Deterministic id: the same event judged by the same rule always gives the same id.

    `event_key` is the event id qualified by its source, so ids from two vendors cannot collide.
    Redelivery after a crash therefore repeats ids, which consumers deduplicate on.
    """
    return hashlib.blake2b(f"{event_key}\x00{rule_id}".encode(), digest_size=16).hexdigest()


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Alert)


def encode_alert(alert: Alert) -> bytes:
    """Encode an alert as one compact JSON object."""
    return _encoder.encode(alert)


def decode_alert(raw: bytes | str) -> Alert:
    """Decode an alert written by `encode_alert`."""
    return _decoder.decode(raw)
