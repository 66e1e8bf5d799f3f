"""What a pattern detector sees of one event: pseudonymised facts, built from the engine's judgement.

The engine decides who the recipient is and whether the owner may share with it (the rule packs and the
owner's policy); this module only reads that decision, never repeats it. Plates, user names and the
actors of sharing changes appear only as keyed hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal

import msgspec

from monitor.alerts import SEVERITIES, Alert, Severity
from monitor.engine import UNLISTED_OWNER, Assessment, Engine, mask_identifiers, relative_jurisdiction
from monitor.events import AccessEvent
from monitor.ingest import SNAPSHOT_LOG
from monitor.purpose import is_redacted

__all__ = [
    "PROHIBITING_KINDS",
    "Action",
    "Observation",
    "ReasonQuality",
    "Via",
    "agency_tag",
    "observe",
    "owner_key",
    "partition_key",
]

Action = Literal["search", "grant", "revoke"]
Via = Literal["search", "sharing_event", "snapshot"]
ReasonQuality = Literal["stated", "uninformative", "missing", "redacted"]

# Engine findings that mean "the owner may not share with this recipient" (law, packs, or owner policy).
PROHIBITING_KINDS = frozenset(
    {
        "recipient.federal",
        "recipient.out_of_state",
        "recipient.non_public",
        "recipient.unresolved",
        "sharing.no_agreement",
    }
)
_GRANTS = frozenset({"grant", "approve_request"})
_MAX_REASON = 60
_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


class Observation(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One event as the detectors see it (never serialised to a topic; built again on replay)."""

    event_id: str
    event_key: str  # the event id qualified by its source, as in the engine's alert ids
    occurred_at: datetime  # UTC
    action: Action
    owner_key: str  # policy owner id, or "~" + folded agency name for an owner the policy does not list
    owner_id: str  # policy owner id or "other": the bounded metric label
    owner_agency: str
    owner_state: str | None
    requester_agency: str  # who searched, or who was granted or lost access
    requester_key: str  # folded requester name: the recipient in sharing state, the agency in volume state
    jurisdiction: str  # the requester's own class relative to the owner (monitor.facts.RELATIVE_JURISDICTIONS)
    prohibited: Severity | None = None  # worst PROHIBITING_KINDS severity the engine raised on the requester
    prohibited_rule: str | None = None
    prohibited_kind: str | None = None
    citations: tuple[str, ...] = ()
    user_hash: str | None = None
    plate_hash: str | None = None
    case_number: bool = False
    reason_quality: ReasonQuality = "missing"
    reason: str | None = None  # identifiers masked, truncated: evidence for reviewers, never a plate
    # State-key prefixes, built once per observation: "<owner>|<agency>" and "<owner>|<agency tag>|<user hash>".
    agency_key: str = ""
    user_key: str | None = None
    via: Via = "search"
    approval_mode: str | None = None
    actor_hash: str | None = None


@lru_cache(maxsize=16_384)
def agency_tag(requester_key: str) -> str:
    """A short stable tag of an agency for per-user keys (user ids are only unique within an agency)."""
    return hashlib.blake2b(requester_key.encode(), digest_size=6).hexdigest()


@lru_cache(maxsize=16_384)
def _fold(name: str) -> str:
    return " ".join(name.casefold().split())


def owner_key(engine: Engine, event: AccessEvent) -> str:
    """The owner an event's pattern state belongs to: the policy id, or the folded name of an unlisted owner."""
    owner_id = engine.owner_context(event).owner_id
    return owner_id if owner_id != UNLISTED_OWNER else "~" + _fold(event.owner.agency)


def partition_key(engine: Engine, event: AccessEvent) -> bytes:
    """The Kafka message key that keeps all of an owner's events, and so its pattern state, on one partition."""
    return owner_key(engine, event).encode()


def _redacted(value: str) -> bool:
    # Plates, users and case numbers are mostly letters and digits: no marker can be one of those.
    return not value.isalnum() and is_redacted(value)


@lru_cache(maxsize=65_536)
def _evidence_reason(reason: str) -> str | None:
    """A reason as evidence may quote it: identifiers masked, shortened; None for a redaction marker."""
    if is_redacted(reason):
        return None
    return mask_identifiers(" ".join(reason.split()))[:_MAX_REASON]


def _reason_quality(purpose: frozenset[str], weak: frozenset[str], redacted: bool) -> ReasonQuality:
    if redacted:
        return "redacted"
    if "missing" in purpose:
        return "missing"
    if "uninformative" in purpose or "uninformative" in weak:
        return "uninformative"
    return "stated"


def observe(
    engine: Engine,
    event: AccessEvent,
    alerts: Sequence[Alert] | None = None,
    *,
    assessment: Assessment | None = None,
) -> Observation | None:
    """The observation of one event, or None when it says nothing about access to the owner's data.

    Searches and outbound grants, approvals and revocations are observed; inbound changes and denied
    requests are not. Pass the engine's `alerts` for this event, or its whole `assessment`, when the caller
    has them already (the worker and `check` do); otherwise the engine judges the event again.
    """
    sharing = event.sharing
    action: Action
    if event.event_type == "query":
        action = "search"
    elif sharing is not None and sharing.direction == "outbound" and sharing.action in _GRANTS:
        action = "grant"
    elif sharing is not None and sharing.direction == "outbound" and sharing.action == "revoke":
        action = "revoke"
    else:
        return None
    if assessment is None:
        assessment = engine.assess(event, with_alerts=alerts is None)
    if alerts is None:
        alerts = assessment.alerts
    context, facts = assessment.context, assessment.facts
    requester = event.requester
    jurisdiction = facts.recipient
    if assessment.via_beneficiary:
        # The proxy holds the access; the party it acted for is the per-event rules' business.
        own = context.resolver.resolve(requester.agency, requester.ori, requester.state)
        jurisdiction = relative_jurisdiction(own, context.state)
    worst: Alert | None = None
    for alert in alerts:
        if (
            alert.kind in PROHIBITING_KINDS
            and alert.evidence.get("via") != "on_behalf_of"
            and (worst is None or _SEVERITY_RANK[alert.severity] < _SEVERITY_RANK[worst.severity])
        ):
            worst = alert
    pseudonymizer = engine.pseudonymizer
    source = event.source
    query = event.query
    via: Via = "search"
    reason: str | None = None
    plate_hash = user_hash = actor_hash = None
    case_number = False
    if query is not None and action == "search":
        plate = query.plate
        plate_hash = None if not plate or _redacted(plate) else pseudonymizer.plate(plate)
        case = query.case_number
        case_number = case is not None and bool(case.strip()) and not _redacted(case)
        if query.reason:
            reason = _evidence_reason(query.reason)
    user = requester.user
    if user and not _redacted(user):
        user_hash = pseudonymizer.user(user)
    if sharing is not None:
        via = "snapshot" if source is not None and source.log == SNAPSHOT_LOG else "sharing_event"
        if sharing.actor and not _redacted(sharing.actor):
            actor_hash = pseudonymizer.user(sharing.actor)
    owner_id = context.owner_id
    owner = owner_id if owner_id != UNLISTED_OWNER else "~" + _fold(event.owner.agency)
    requester_key = _fold(requester.agency)
    return Observation(
        event_id=event.event_id,
        event_key=f"{source.vendor}/{source.log}/{event.event_id}" if source else event.event_id,
        occurred_at=event.occurred_at.astimezone(UTC),
        action=action,
        owner_key=owner,
        owner_id=owner_id,
        owner_agency=event.owner.agency,
        owner_state=context.state,
        requester_agency=requester.agency,
        requester_key=requester_key,
        jurisdiction=jurisdiction,
        prohibited=worst.severity if worst else None,
        prohibited_rule=worst.rule_id if worst else None,
        prohibited_kind=worst.kind if worst else None,
        citations=tuple(worst.citations) if worst else (),
        user_hash=user_hash,
        plate_hash=plate_hash,
        case_number=case_number,
        reason_quality=_reason_quality(facts.purpose, facts.purpose_weak, facts.reason_redacted),
        reason=reason,
        via=via,
        approval_mode=sharing.approval_mode.casefold() if sharing and sharing.approval_mode else None,
        actor_hash=actor_hash,
        agency_key=f"{owner}|{requester_key}",
        user_key=f"{owner}|{agency_tag(requester_key)}|{user_hash}" if user_hash else None,
    )
