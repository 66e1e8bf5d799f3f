"""Plain words for the report's readers: what each kind and jurisdiction class means."""

from __future__ import annotations

from monitor.alerts import KINDS, SEVERITIES
from monitor.facts import RELATIVE_JURISDICTIONS

# Worst first: the order tables and charts use.
CLASS_ORDER: tuple[str, ...] = ("federal", "out_of_state", "private", "tribal", "placeholder", "unresolved", "in_state")
assert set(CLASS_ORDER) == set(RELATIVE_JURISDICTIONS), "a new jurisdiction class needs a place in the report"

CLASS_LABELS: dict[str, str] = {
    "federal": "Federal",
    "out_of_state": "Out of state",
    "private": "Private",
    "tribal": "Tribal",
    "placeholder": "Placeholder / test",
    "unresolved": "Unresolved",
    "in_state": "In state",
}

CLASS_MEANING: dict[str, str] = {
    "federal": "a U.S. federal agency",
    "out_of_state": "a public agency of another state than the data owner's",
    "private": "a private company, university or other non-government body",
    "tribal": "a tribal government agency",
    "placeholder": "a test, demo or 'do not use' organisation, not a real agency",
    "unresolved": "an agency whose jurisdiction could not be established from its name; needs review",
    "in_state": "a public agency of the data owner's own state",
}

KIND_LABELS: dict[str, str] = {
    "recipient.federal": "Federal recipient",
    "recipient.out_of_state": "Out-of-state recipient",
    "recipient.non_public": "Non-public recipient",
    "recipient.unresolved": "Unresolved recipient",
    "purpose.immigration": "Immigration purpose",
    "purpose.reproductive_health": "Reproductive-health purpose",
    "purpose.protected_activity": "Protected-activity purpose",
    "purpose.missing": "No purpose recorded",
    "purpose.uninformative": "Uninformative purpose",
    "record.incomplete": "Incomplete access record",
    "sharing.group_approval": "Group approval",
    "sharing.unreviewed": "Unreviewed grant",
    "sharing.no_agreement": "No agreement or declaration",
    "retention.exceeded": "Retention exceeded",
    "purpose.not_permitted": "Offense type not permitted",
    "search.too_wide": "Search too wide",
    "sharing.standing_access": "Standing access",
    "misuse.repeat_target": "Repeat target",
    "misuse.isolated_session": "Isolated session",
    "volume.new_requester": "New outside requester",
    "volume.surge": "Search surge",
}

KIND_MEANING: dict[str, str] = {
    "recipient.federal": "a U.S. federal agency searched the data or was granted access to it",
    "recipient.out_of_state": "an agency of another state searched the data or was granted access to it",
    "recipient.non_public": "a body that is not a public agency of the owner's state (private, tribal, placeholder) "
    "got access",
    "recipient.unresolved": "the recipient's jurisdiction could not be established with confidence; needs review",
    "purpose.immigration": "the stated purpose indicates immigration enforcement",
    "purpose.reproductive_health": "the stated purpose concerns abortion or other protected health care",
    "purpose.protected_activity": "the purpose targets protest, religion or another protected class or activity",
    "purpose.missing": "no purpose was recorded for the search",
    "purpose.uninformative": 'the recorded purpose states nothing ("inv", ".", a bare case number)',
    "record.incomplete": "another element the access log must hold (user, query data) is missing",
    "sharing.group_approval": "one action approved many access requests at once",
    "sharing.unreviewed": "access was granted without the review the owner's policy requires",
    "sharing.no_agreement": "an agency with no sharing agreement or required declaration on file got access",
    "retention.exceeded": "a search reached back further than the owner keeps data",
    "purpose.not_permitted": "the search's offense type is not one the owner's policy allows ALPR searches for",
    "search.too_wide": "a search reached more networks, or further beyond the state, than the owner's policy allows",
    "sharing.standing_access": "a recipient the owner may not share with held access; one alert per day of exposure",
    "misuse.repeat_target": "one user searched the same plate many times across several days",
    "misuse.isolated_session": "a burst of searches by a user far outside their usual hours, quiet on both sides",
    "volume.new_requester": "an agency that is not a public agency of the owner's state searched for the first time",
    "volume.surge": "an agency's daily searches far above its own baseline",
}
assert set(KIND_LABELS) == set(KINDS) == set(KIND_MEANING), "a new alert kind needs words in the report"

SEVERITY_ORDER: tuple[str, ...] = SEVERITIES
SEVERITY_COLOURS: dict[str, str] = {"critical": "#b3261e", "high": "#e8710a", "medium": "#c9a100", "low": "#5f6b7a"}
CLASS_COLOURS: dict[str, str] = {
    "federal": "#b3261e",
    "out_of_state": "#e8710a",
    "private": "#8e44ad",
    "tribal": "#1a7f8e",
    "placeholder": "#9aa0a6",
    "unresolved": "#c9a100",
    "in_state": "#2e7d32",
}


def kind_label(kind: str) -> str:
    """A kind's label, or the kind itself when a pack uses one the report does not know."""
    return KIND_LABELS.get(kind, kind)


def class_label(jurisdiction: str) -> str:
    """A jurisdiction class's label, or the class itself."""
    return CLASS_LABELS.get(jurisdiction, jurisdiction)


def record_nouns(event_types: set[str]) -> tuple[str, str, str]:
    """What to call the records (one, many) and the preposition for who got them: grants *to*, searches *by*."""
    if event_types == {"sharing_change"}:
        return "grant", "grants", "to"
    if event_types == {"query"}:
        return "search", "searches", "by"
    return "access", "accesses", "by"
