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
    # The owner-policy baseline (defaults give a listed owner with no switches the same facts as before).
    retention_past: frozenset[int] = frozenset()
    owner_requires_purpose: bool = False
    owner_requires_informative_purpose: bool = False
    owner_requires_case_number: bool = False
    owner_prohibited_purposes: frozenset[str] = frozenset()
    offense_type_outside_owner_list: bool = False
    search_networks_over_owner_limit: bool = False
    search_type_prohibited_by_owner: bool = False


FactType = Literal["str", "set", "bool", "int", "reach"]


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
        "access-log elements missing from a search record (a redacted value is recorded, not missing)",
        ("user", "query_data", "case_number"),
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
    "search.reach": FactSpec(
        "retention_past",
        "reach",
        "how far back the search's time frame reached; `{past_days: N}` is true when it reached past N days "
        "plus the one grace day (monitor.retention), the test every retention rule uses",
    ),
    "owner.requires_purpose": FactSpec(
        "owner_requires_purpose", "bool", "owner policy: every search records a purpose (default on)"
    ),
    "owner.requires_informative_purpose": FactSpec(
        "owner_requires_informative_purpose",
        "bool",
        "owner policy: a purpose that states nothing is a finding (default on)",
    ),
    "owner.requires_case_number": FactSpec(
        "owner_requires_case_number", "bool", "owner policy: every search records a case number"
    ),
    "owner.prohibited_purposes": FactSpec(
        "owner_prohibited_purposes",
        "set",
        "purpose categories the owner's policy prohibits (whatever the search says)",
        ("immigration", "reproductive_health", "protected_activity"),
    ),
    "offense_type.outside_owner_list": FactSpec(
        "offense_type_outside_owner_list",
        "bool",
        "the owner lists allowed offense types and the search names another one",
    ),
    "search.networks_over_owner_limit": FactSpec(
        "search_networks_over_owner_limit",
        "bool",
        "the search reached more networks than the owner's `max_networks`",
    ),
    "search.type_prohibited_by_owner": FactSpec(
        "search_type_prohibited_by_owner",
        "bool",
        "the search type is one the owner's policy prohibits (e.g. a lookup beyond the state)",
    ),
}
