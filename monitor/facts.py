"""What the rules can see about one event: the facts, computed once per event.

Rules never look at the raw event: they test named facts (the vocabulary in `FACTS`), so a rule pack
is plain data and a new fact is added in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["FACTS", "RELATIVE_JURISDICTIONS", "FactSpec", "Facts"]

# The requester's jurisdiction as seen from the data owner's state: the label alerts and metrics carry.
RELATIVE_JURISDICTIONS: tuple[str, ...] = (
    "in_state",
    "out_of_state",
    "federal",
    "tribal",
    "private",
    "placeholder",
    "unresolved",
)


@dataclass(slots=True)
class Facts:
    """The facts of one event under one owner's policy."""

    event_type: str
    owner_id: str
    owner_state: str | None
    requester_name: str
    recipient: str
    recipient_confidence: str
    recipient_is_immigration_agency: bool
    grants_access: bool
    purpose: frozenset[str]
    purpose_weak: frozenset[str]
    reason_redacted: bool
    record_missing: frozenset[str]
    sharing_action: str | None
    sharing_direction: str | None
    sharing_approval_mode: str | None
    sharing_batch_size: int | None
    sharing_command_review: bool | None
    agreement_on_file: bool
    declaration_on_file: bool
    retention_exceeded: bool
    owner_requires_agreement: bool
    owner_prohibits_group_approval: bool
    owner_requires_command_review: bool
    purpose_prohibited_by_owner: frozenset[str]


FactType = Literal["str", "set", "bool", "int"]


@dataclass(frozen=True, slots=True)
class FactSpec:
    """A fact name as rule packs spell it, the attribute it reads, its type, and what it means."""

    attribute: str
    type: FactType
    meaning: str
    values: tuple[str, ...] = ()


FACTS: dict[str, FactSpec] = {
    "event_type": FactSpec("event_type", "str", "query or sharing_change", ("query", "sharing_change")),
    "owner.id": FactSpec("owner_id", "str", "the owner's id in the policy file ('other' when not listed)"),
    "owner.state": FactSpec("owner_state", "str", "the owner's two-letter state"),
    "requester.name": FactSpec("requester_name", "str", "requester agency name, case-folded (for local exceptions)"),
    "recipient": FactSpec(
        "recipient",
        "str",
        "jurisdiction of whoever gets the data (requester, or the party it acted for), relative to the owner",
        RELATIVE_JURISDICTIONS,
    ),
    "recipient.confidence": FactSpec("recipient_confidence", "str", "resolver confidence", ("high", "medium", "low")),
    "recipient.immigration_agency": FactSpec(
        "recipient_is_immigration_agency", "bool", "the recipient's name names an immigration agency (ICE, CBP, HSI)"
    ),
    "grants_access": FactSpec(
        "grants_access", "bool", "the event lets the recipient see owner data (a search, or an outbound grant/approval)"
    ),
    "purpose": FactSpec(
        "purpose",
        "set",
        "purpose categories the reason states clearly",
        ("immigration", "reproductive_health", "protected_activity", "uninformative", "missing"),
    ),
    "purpose.weak": FactSpec(
        "purpose_weak",
        "set",
        "purpose categories the reason suggests but does not establish (review)",
        ("immigration", "reproductive_health", "protected_activity", "uninformative", "missing"),
    ),
    "reason.redacted": FactSpec("reason_redacted", "bool", "the export redacted the reason"),
    "record.missing": FactSpec(
        "record_missing",
        "set",
        "access-log elements missing from a search record",
        ("user", "query_data"),
    ),
    "sharing.action": FactSpec(
        "sharing_action", "str", "sharing change action", ("grant", "revoke", "approve_request", "deny_request")
    ),
    "sharing.direction": FactSpec("sharing_direction", "str", "outbound or inbound", ("outbound", "inbound")),
    "sharing.approval_mode": FactSpec("sharing_approval_mode", "str", "single, group, ... as the vendor says"),
    "sharing.batch_size": FactSpec("sharing_batch_size", "int", "how many requests one action decided"),
    "sharing.command_review": FactSpec("sharing_command_review", "bool", "whether command-level review is recorded"),
    "agreement_on_file": FactSpec("agreement_on_file", "bool", "the owner has a current sharing agreement with them"),
    "declaration_on_file": FactSpec(
        "declaration_on_file", "bool", "a current written declaration (625 ILCS 5/2-130) is on file"
    ),
    "retention.exceeded": FactSpec("retention_exceeded", "bool", "the search reached back past the retention period"),
    "owner.requires_agreement": FactSpec("owner_requires_agreement", "bool", "owner policy: agreement required"),
    "owner.prohibits_group_approval": FactSpec(
        "owner_prohibits_group_approval", "bool", "owner policy: no group approvals"
    ),
    "owner.requires_command_review": FactSpec(
        "owner_requires_command_review", "bool", "owner policy: command review of each grant"
    ),
    "purpose.prohibited_by_owner": FactSpec(
        "purpose_prohibited_by_owner",
        "set",
        "stated purpose categories that the owner's own policy prohibits",
        ("immigration", "reproductive_health", "protected_activity"),
    ),
}
