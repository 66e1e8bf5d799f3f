"""The resolver's vocabulary: agency classes, confidence, a resolution and its evidence.

Invariants every resolution keeps, so that callers can rely on them:

- `STATE_LOCAL` always carries a `state` and HIGH or MEDIUM confidence: weak evidence is never a public
  agency of some state, it is `UNRESOLVED`.
- `UNRESOLVED` always carries LOW confidence; its `state`, when set, is informational only (a code seen in
  the name of a body whose class is unclear).
- For FEDERAL, TRIBAL, PRIVATE and PLACEHOLDER the `state` is informational (where the unit sits): a state
  code in a federal unit's name never makes it local.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["EVIDENCE_IDS", "AgencyClass", "Confidence", "RegistryEntry", "Resolution"]


class AgencyClass(StrEnum):
    """What kind of body an organisation is, independent of who asks."""

    STATE_LOCAL = "state_local"  # public agency of a US state or of its subdivisions (city, county, district)
    FEDERAL = "federal"
    TRIBAL = "tribal"
    PRIVATE = "private"
    PLACEHOLDER = "placeholder"  # vendor test, demo and training organisations, deleted accounts
    UNRESOLVED = "unresolved"  # evidence too weak or conflicting: a human must look


class Confidence(StrEnum):
    """How strong the evidence behind a resolution is.

    HIGH: the owner's registry, or two independent pieces that agree (a state code and a place of that
    state; an ORI and the name; an explicit federal or California body). MEDIUM: one clear piece.
    LOW: only ever with UNRESOLVED.
    """

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


# Stable evidence ids carried in `Resolution.resolved_by` (alerts and dashboards may group by them).
EVIDENCE_IDS = frozenset(
    {
        "registry",  # the owner's own list of known agencies
        "registry-conflict",  # the registry calls a name local that names a federal body
        "ori",  # an ORI code decided or confirmed the state
        "federal-agency",  # a federal agency, unit, installation or land-management area named
        "placeholder-pattern",  # test / demo / training org, or an account marked "do not use" and nothing else
        "tribal-pattern",
        "private-pattern",  # company suffixes, vendors, railroads, private and religious institutions
        "interagency-network",  # RISS centres, HIDTA: multi-state memberships that include federal agencies
        "dual-status",  # the National Guard: a state force that can be federalised
        "california-body",  # CHP, Cal Fire, UC, CSU, CA fusion centres and departments
        "public-institution",  # state universities, community colleges
        "transit-agency",  # a public transit agency's police, named by the agency (MARTA, SEPTA)
        "ambiguous-institution",  # a university, college or hospital that may be public or private
        "state-agency-name",  # "<State> State Police", "Attorney General of Illinois"
        "state-code-in-name",  # "<Place> <ST> PD"
        "place-gazetteer",  # a place or county that exists in exactly one state
        "ambiguous-place",  # a place that exists in several states, none dwarfing the others (Glendale)
        "prominent-place",  # a place of several states whose largest dwarfs the rest (Houston: Texas)
        "home-state",  # an ambiguous place that the owner's own state has, not dwarfed elsewhere
        "stated-state",  # the vendor's state field, confirmed by the gazetteer
        "state-conflict",  # pieces of evidence disagree about the state
        "no-evidence",
    }
)


@dataclass(frozen=True, slots=True)
class Resolution:
    """Who an organisation is, and the evidence that says so."""

    agency_class: AgencyClass
    state: str | None  # two-letter USPS code when known
    confidence: Confidence
    resolved_by: str  # one of EVIDENCE_IDS
    matched: str  # the span, code or registry entry that decided it, with notes on ignored input


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """An agency the owner vouches for (a sharing agreement, a known partner): the strongest evidence."""

    name: str
    agency_class: AgencyClass
    state: str | None
