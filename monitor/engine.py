"""The classifier: one event in, the alerts it deserves out.

The same engine serves the live worker and `alpr-monitor check`. Per event it resolves the owner
(cached), computes the facts once, and runs the owner's compiled rules. Everything costly is cached
by value (agency names, reasons), because real traffic repeats both endlessly.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import msgspec

from monitor.alerts import Alert, AlertOwner, AlertRequester, alert_id_for
from monitor.events import AccessEvent, Sharing
from monitor.facts import Facts
from monitor.hashing import Pseudonymizer
from monitor.jurisdiction import AgencyClass, AgencyResolver, Confidence, RegistryEntry, Resolution, state_code
from monitor.policy import Agreement, Declaration, KnownAgency, OwnerPolicy, Policy, PolicyError, load_policy
from monitor.purpose import Certainty, PurposeCategory, PurposeHit, classify_purpose, is_redacted
from monitor.retention import RETENTION_GRACE_DAYS, past_retention, reach_seconds
from monitor.rules.conditions import ConditionError, Predicate, compile_condition, operands, retention_periods
from monitor.rules.pack import CompiledRule, Pack, load_builtin_packs

__all__ = [
    "NO_STATE_LAW",
    "RETENTION_GRACE_DAYS",
    "Assessment",
    "Engine",
    "OwnerContext",
    "load_engine",
    "mask_identifiers",
    "relative_jurisdiction",
    "search_figures",
]

UNLISTED_OWNER = "other"
NO_STATE_LAW = "no state law pack: only the owner policy was checked"
_MAX_CACHED_JUDGEMENTS = 200_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Worse recipients first: when a proxy acts for someone, the worse of the two is who gets the data.
_RECIPIENT_RANK = {
    "federal": 6,
    "out_of_state": 5,
    "private": 4,
    "tribal": 3,
    "placeholder": 2,
    "unresolved": 1,
    "in_state": 0,
}
_ABSOLUTE_TO_RELATIVE = {
    AgencyClass.FEDERAL: "federal",
    AgencyClass.TRIBAL: "tribal",
    AgencyClass.PRIVATE: "private",
    AgencyClass.PLACEHOLDER: "placeholder",
    AgencyClass.UNRESOLVED: "unresolved",
}
_PLAIN_WORDS = {
    "federal": "Federal agency",
    "out_of_state": "Out-of-state agency",
    "private": "Private entity",
    "tribal": "Tribal agency",
    "placeholder": "Placeholder organisation",
    "unresolved": "Unidentified agency",
    "in_state": "In-state agency",
}
_GRANTING_ACTIONS = frozenset({"grant", "approve_request"})


def relative_jurisdiction(resolution: Resolution, owner_state: str | None) -> str:
    """The recipient's jurisdiction seen from the owner's state; weak evidence never counts as in-state."""
    relative = _ABSOLUTE_TO_RELATIVE.get(resolution.agency_class)
    if relative is not None:
        return relative
    if resolution.state is None or owner_state is None or resolution.confidence is Confidence.LOW:
        return "unresolved"
    return "in_state" if resolution.state == owner_state else "out_of_state"


@dataclass(frozen=True, slots=True)
class _Dated:
    since: date | None
    until: date | None

    def current(self, day: date) -> bool:
        return (self.since is None or self.since <= day) and (self.until is None or day <= self.until)


def _index(entries: Iterable[Agreement | Declaration]) -> dict[str, list[_Dated]]:
    """Index agreements or declarations by case-folded name and by ORI."""
    index: dict[str, list[_Dated]] = {}
    for entry in entries:
        if isinstance(entry, Declaration):
            dated = _Dated(entry.signed, entry.expires)
        else:
            dated = _Dated(entry.since, entry.until)
        for key in (entry.agency.casefold(), entry.ori):
            if key:
                index.setdefault(key, []).append(dated)
    return index


def _registry_entries(entries: Iterable[KnownAgency]) -> list[RegistryEntry]:
    return [RegistryEntry(name=e.agency, agency_class=e.agency_class, state=e.state) for e in entries]


PurposeProfile = tuple[frozenset[str], frozenset[str], bool]
_NO_PURPOSE: PurposeProfile = (frozenset(), frozenset(), False)
_PER_EVENT_EVIDENCE = ("purpose.", "retention.", "search.")
# Exports that never carry the plate or search type: their absence there is the export's, not the log's.
_LOGS_WITHOUT_QUERY_DATA = frozenset({"portal_search_audit"})


# A free-standing case number ("24-1187", "2025/00123", "123456") never changes what a reason says;
# folding them lets the cache below serve "burglary 24-1187" and "burglary 25-0042" alike. Only numbers
# with a separator or of four or more digits are folded, so the terms "287 (g)", "I 247", "287g" and
# "I-247" are never touched.
_CASE_NUMBER = re.compile(r"(?<![\w(/-])(?:\d+(?:[-/]\d+)+|\d{4,})(?![\w(/-])")


def purpose_profile(reason: str | None) -> PurposeProfile:
    """Stated and suggested purpose categories of a reason, and whether the export redacted it."""
    if reason is None:
        return _profile(None)
    return _profile(_CASE_NUMBER.sub("0", reason))


@lru_cache(maxsize=131_072)
def _profile(reason: str | None) -> PurposeProfile:
    if is_redacted(reason):
        return (frozenset(), frozenset(), True)
    hits = classify_purpose(reason)
    strong = frozenset(hit.category.value for hit in hits if hit.certainty is Certainty.STRONG)
    return (strong, frozenset(hit.category.value for hit in hits) - strong, False)


class _Key(NamedTuple):
    """The inputs the facts are computed from; equal keys give equal facts and equal fired rules."""

    owner_agency: str
    owner_ori: str | None
    owner_state: str | None
    event_type: str
    requester_agency: str
    requester_ori: str | None
    requester_state: str | None
    on_behalf_of: str | None
    missing: frozenset[str]
    purpose: PurposeProfile
    sharing: Sharing | None
    retention_past: frozenset[int]
    agreement_on_file: bool
    declaration_on_file: bool
    offense_type_outside_owner_list: bool
    search_networks_over_owner_limit: bool
    search_type_prohibited_by_owner: bool
    laws_in_force: int  # how many of the owner's in-force dates the event is on or after


@dataclass(frozen=True, slots=True)
class _Judgement:
    """What every event with the same judgement key shares: its facts and its fired rules' alert templates."""

    facts: Facts
    decided_by: Resolution
    beneficiary: Resolution | None
    # (rule, alert template or None when built per event, citations of the baseline rules it superseded)
    templates: tuple[tuple[CompiledRule, Alert | None, tuple[str, ...]], ...]


@dataclass(slots=True)
class OwnerContext:
    """Everything about one data owner that does not change from event to event."""

    owner_id: str
    state: str | None
    rules: tuple[CompiledRule, ...]
    resolver: AgencyResolver
    retention_days: int | None = None
    requires_agreement: bool = False
    prohibits_group_approval: bool = False
    requires_command_review: bool = False
    prohibited_purposes: frozenset[str] = frozenset()
    agreements: dict[str, list[_Dated]] = field(default_factory=dict)
    declarations: dict[str, list[_Dated]] = field(default_factory=dict)
    exceptions: dict[str, Predicate] = field(default_factory=dict)
    # The owner-policy baseline. An owner not in the policy file gets the defaults: purposes checked.
    agency: str = ""
    listed: bool = False
    state_packs: tuple[str, ...] = ()
    requires_purpose: bool = True
    requires_informative_purpose: bool = True
    requires_case_number: bool = False
    allowed_offense_types: frozenset[str] | None = None
    max_networks: int | None = None
    prohibited_search_types: frozenset[str] = frozenset()
    # Every retention period a rule or the owner's policy tests searches against, smallest first.
    retention_periods: tuple[int, ...] = ()
    # Rule citations as this owner's alerts carry them (its own policy document in place of the generic one).
    citations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Days laws of its packs came into force, sorted; and the first day any state law pack is in force.
    in_force_dates: tuple[date, ...] = ()
    state_law_from: date | None = None

    def finish(self, document: str | None = None) -> OwnerContext:
        """Derive the retention periods and the per-owner citations from the rules; returns self."""
        periods = {rule.retention_days for rule in self.rules if rule.retention_days is not None}
        if self.retention_days is not None:
            periods.add(self.retention_days)
        self.retention_periods = tuple(sorted(periods))
        self.in_force_dates = tuple(sorted({rule.in_force_from for rule in self.rules if rule.in_force_from}))
        if document is not None:
            for rule in self.rules:
                if rule.owner_document:
                    cited = list(rule.citations)
                    for index in rule.owner_document:
                        cited[index] = document
                    self.citations[rule.id] = tuple(dict.fromkeys(cited))
        return self


@dataclass(frozen=True, slots=True)
class Assessment:
    """An event's alerts with what the engine established on the way: what the pattern detectors build on.

    `via_beneficiary`: the recipient class is that of the party a proxy acted for, not the requester's own.
    """

    alerts: list[Alert]
    context: OwnerContext
    facts: Facts
    via_beneficiary: bool


class Engine:
    """Judges events against a policy and the rule packs; immutable, so a new policy means a new engine."""

    def __init__(
        self,
        policy: Policy,
        pseudonymizer: Pseudonymizer,
        packs: Mapping[str, Pack] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.policy = policy
        self.packs = dict(packs) if packs is not None else load_builtin_packs()
        self._pseudonymizer = pseudonymizer
        self._clock = clock
        self._global_registry = _registry_entries(policy.registry)
        self._global_resolver = AgencyResolver(self._global_registry)
        # One resolver per owner state: the owner's state is evidence for bare place names ("Springfield PD").
        self._resolvers_by_home: dict[str, AgencyResolver] = {}
        self._listed: dict[str, OwnerContext] = {}
        self._listed_by_name: dict[str, OwnerContext] = {}
        for owner in policy.owners:
            context = self._listed_context(owner)
            self._listed[owner.id] = context
            for name in owner.names:
                self._listed_by_name[name.casefold()] = context
            if owner.ori:
                self._listed_by_name[owner.ori] = context
        self._unlisted: dict[tuple[str, str | None, str | None], OwnerContext] = {}
        self._judgements: dict[_Key, _Judgement] = {}
        self._without_state_law: dict[tuple[str, str | None, bool, date | None], None] = {}

    @property
    def version(self) -> str:
        return self.policy.version

    @property
    def pseudonymizer(self) -> Pseudonymizer:
        """The keyed hash the engine's alerts use for plates and users (pattern state uses the same)."""
        return self._pseudonymizer

    @property
    def owner_ids(self) -> tuple[str, ...]:
        """Owner ids that may appear as a metric label: bounded by the policy file."""
        return (*self._listed, UNLISTED_OWNER)

    # -- owners ---------------------------------------------------------------------------------

    def _packs_for(self, state: str | None, names: Iterable[str], explicit: list[str] | None, where: str) -> list[Pack]:
        if explicit is not None:
            missing = [name for name in explicit if name not in self.packs]
            if missing:
                raise PolicyError(f"{where}: unknown packs {missing}; known: {sorted(self.packs)}")
            return [self.packs[name] for name in explicit]
        names = list(names)
        return [pack for pack in self.packs.values() if pack.applies_to(state, names)]

    def _listed_context(self, owner: OwnerPolicy) -> OwnerContext:
        where = f"{self.policy.source}: owner {owner.id}"
        packs = self._packs_for(owner.state, owner.names, owner.packs, where)
        rules = tuple(rule for pack in packs for rule in pack.rules)
        rule_ids = {rule.id for rule in rules}
        exceptions: dict[str, list[object]] = {}
        for exception in owner.exceptions:
            if exception.rule not in rule_ids:
                raise PolicyError(f"{where}: exception names rule {exception.rule!r}, which does not apply to it")
            exceptions.setdefault(exception.rule, []).append(exception.when)
        try:
            compiled = {
                rule_id: compile_condition({"any": conditions}, f"exceptions[{rule_id}]")
                for rule_id, conditions in exceptions.items()
            }
        except ConditionError as exc:
            raise PolicyError(f"{where}: {exc}") from None
        unknown_periods = (
            {days for conditions in exceptions.values() for item in conditions for days in retention_periods(item)}
            - {rule.retention_days for rule in rules}
            - {owner.retention_days}
        )
        if unknown_periods:
            # A reach is judged only against periods some rule of the owner names; others would never match.
            raise PolicyError(f"{where}: exceptions test retention periods no rule uses: {sorted(unknown_periods)}")
        registry = [
            *_registry_entries(owner.agreements),
            *_registry_entries(owner.declarations),
            *self._global_registry,
        ]
        return OwnerContext(
            owner_id=owner.id,
            state=owner.state,
            rules=rules,
            resolver=AgencyResolver(registry, home_state=state_code(owner.state)),
            retention_days=owner.retention_days,
            requires_agreement=owner.requires_agreement,
            prohibits_group_approval=owner.prohibits_group_approval,
            requires_command_review=owner.requires_command_review,
            prohibited_purposes=frozenset(owner.prohibited_purposes),
            agreements=_index(owner.agreements),
            declarations=_index(owner.declarations),
            exceptions=compiled,
            agency=owner.agency,
            listed=True,
            state_packs=tuple(pack.name for pack in packs if pack.is_state_law),
            state_law_from=_state_law_from(packs),
            requires_purpose=owner.requires_purpose,
            requires_informative_purpose=owner.requires_informative_purpose,
            requires_case_number=owner.requires_case_number,
            allowed_offense_types=(
                None
                if owner.allowed_offense_types is None
                else frozenset(name.strip().casefold() for name in owner.allowed_offense_types)
            ),
            max_networks=owner.max_networks,
            prohibited_search_types=frozenset(name.strip().casefold() for name in owner.prohibited_search_types),
        ).finish(owner.policy_document.render() if owner.policy_document else None)

    def owner_context(self, event: AccessEvent) -> OwnerContext:
        """The owner's context: from the policy when listed (by ORI or name), else derived from the event."""
        owner = event.owner
        listed = self._listed_by_name.get(owner.ori or "") or self._listed_by_name.get(owner.agency.casefold())
        if listed is not None:
            return listed
        key = (owner.agency, owner.ori, owner.state)
        context = self._unlisted.get(key)
        if context is None:
            state = state_code(owner.state)
            if state is None:
                # Only a public agency resolved with good evidence may pick the owner's state law.
                found = self._global_resolver.resolve(owner.agency, owner.ori)
                if found.agency_class is AgencyClass.STATE_LOCAL and found.confidence is not Confidence.LOW:
                    state = found.state
            packs = self._packs_for(state, (owner.agency,), None, "")
            rules = tuple(rule for pack in packs for rule in pack.rules)
            context = OwnerContext(
                UNLISTED_OWNER,
                state,
                rules,
                self._home_resolver(state),
                agency=owner.agency,
                state_packs=tuple(pack.name for pack in packs if pack.is_state_law),
                state_law_from=_state_law_from(packs),
            ).finish()
            if len(self._unlisted) < 100_000:
                self._unlisted[key] = context
        return context

    def _home_resolver(self, state: str | None) -> AgencyResolver:
        """The shared resolver for unlisted owners of `state` (the global one when the state is unknown)."""
        if state is None:
            return self._global_resolver
        found = self._resolvers_by_home.get(state)
        if found is None:
            found = self._resolvers_by_home[state] = AgencyResolver(self._global_registry, home_state=state)
        return found

    # -- facts ----------------------------------------------------------------------------------

    def _judgement_key(self, event: AccessEvent, context: OwnerContext) -> _Key:
        """Everything the facts depend on, reduced to few distinct values (a reason becomes its purpose
        profile), so facts and fired rules are computed once per distinct key, not once per event."""
        requester = event.requester
        query = event.query
        agreement = declaration = False
        offense_outside = networks_over = type_prohibited = False
        retention_past: frozenset[int] = frozenset()
        profile = _NO_PURPOSE
        if query is not None:
            if event.event_type == "query":
                profile = purpose_profile(query.reason)
            if context.retention_periods and query.time_frame_start is not None:
                reach = reach_seconds(event)
                retention_past = frozenset(days for days in context.retention_periods if past_retention(reach, days))
            allowed = context.allowed_offense_types
            if allowed is not None and query.offense_type and not is_redacted(query.offense_type):
                offense_outside = query.offense_type.strip().casefold() not in allowed
            if context.max_networks is not None and query.networks_searched is not None:
                networks_over = query.networks_searched > context.max_networks
            if context.prohibited_search_types and query.search_type:
                type_prohibited = query.search_type.strip().casefold() in context.prohibited_search_types
        laws_in_force = 0
        if context.in_force_dates:
            laws_in_force = bisect_right(context.in_force_dates, event.occurred_at.astimezone(UTC).date())
        if context.agreements or context.declarations:
            # Agreement dates are UTC calendar days, whatever offset the event was written with.
            day = event.occurred_at.astimezone(UTC).date()
            # A proxy's papers do not cover the party it acts for: both need them.
            agreement = _on_file(context.agreements, requester.agency, requester.ori, day) and (
                requester.on_behalf_of is None or _on_file(context.agreements, requester.on_behalf_of, None, day)
            )
            declaration = _on_file(context.declarations, requester.agency, requester.ori, day) and (
                requester.on_behalf_of is None or _on_file(context.declarations, requester.on_behalf_of, None, day)
            )
        return _Key(
            event.owner.agency,
            event.owner.ori,
            event.owner.state,
            event.event_type,
            requester.agency,
            requester.ori,
            requester.state,
            requester.on_behalf_of,
            _missing_elements(event) if event.event_type == "query" else frozenset(),
            profile,
            event.sharing,
            retention_past,
            agreement,
            declaration,
            offense_outside,
            networks_over,
            type_prohibited,
            laws_in_force,
        )

    def _facts(
        self, event: AccessEvent, context: OwnerContext, key: _Key
    ) -> tuple[Facts, Resolution, Resolution | None]:
        requester = event.requester
        resolver = context.resolver
        resolution = resolver.resolve(requester.agency, requester.ori, requester.state)
        recipient = relative_jurisdiction(resolution, context.state)
        decided_by = resolution
        beneficiary = None
        immigration_agency = _names_immigration_agency(requester.agency)
        if requester.on_behalf_of:
            beneficiary = resolver.resolve(requester.on_behalf_of)
            behalf = relative_jurisdiction(beneficiary, context.state)
            if _RECIPIENT_RANK[behalf] > _RECIPIENT_RANK[recipient]:
                recipient, decided_by = behalf, beneficiary
            immigration_agency = immigration_agency or _names_immigration_agency(requester.on_behalf_of)

        purpose, purpose_weak, reason_redacted = key.purpose
        sharing = event.sharing
        grants_access = event.event_type == "query" or (
            sharing is not None and sharing.direction == "outbound" and sharing.action in _GRANTING_ACTIONS
        )
        facts = Facts(
            event_type=event.event_type,
            owner_id=context.owner_id,
            owner_state=context.state,
            requester_name=requester.agency.casefold(),
            recipient=recipient,
            recipient_confidence=decided_by.confidence.value,
            recipient_is_immigration_agency=immigration_agency,
            grants_access=grants_access,
            purpose=purpose,
            purpose_weak=purpose_weak,
            reason_redacted=reason_redacted,
            record_missing=key.missing,
            sharing_action=sharing.action if sharing else None,
            sharing_direction=sharing.direction if sharing else None,
            sharing_approval_mode=sharing.approval_mode.casefold() if sharing and sharing.approval_mode else None,
            sharing_batch_size=sharing.batch_size if sharing else None,
            sharing_command_review=sharing.command_review if sharing else None,
            agreement_on_file=key.agreement_on_file,
            declaration_on_file=key.declaration_on_file,
            retention_exceeded=context.retention_days is not None and context.retention_days in key.retention_past,
            owner_requires_agreement=context.requires_agreement,
            owner_prohibits_group_approval=context.prohibits_group_approval,
            owner_requires_command_review=context.requires_command_review,
            purpose_prohibited_by_owner=(purpose | purpose_weak) & context.prohibited_purposes,
            retention_past=key.retention_past,
            owner_requires_purpose=context.requires_purpose,
            owner_requires_informative_purpose=context.requires_informative_purpose,
            owner_requires_case_number=context.requires_case_number,
            owner_prohibited_purposes=context.prohibited_purposes,
            offense_type_outside_owner_list=key.offense_type_outside_owner_list,
            search_networks_over_owner_limit=key.search_networks_over_owner_limit,
            search_type_prohibited_by_owner=key.search_type_prohibited_by_owner,
        )
        return facts, decided_by, beneficiary

    # -- judging --------------------------------------------------------------------------------

    def _evaluate(self, event: AccessEvent, context: OwnerContext, key: _Key) -> _Judgement:
        """Facts, fired rules and alert templates for every event with this key."""
        facts, decided_by, beneficiary = self._facts(event, context, key)
        in_force = context.in_force_dates[: key.laws_in_force]
        fired = [
            rule
            for rule in context.rules
            if (rule.in_force_from is None or rule.in_force_from in in_force)
            and rule.when(facts)
            and not rule.exception(facts)
            and not (rule.id in context.exceptions and context.exceptions[rule.id](facts))
        ]
        # A statute's or local rule's finding replaces the baseline's on the same point, and cites it too.
        fired_ids = {rule.id: rule for rule in fired}
        also: dict[str, tuple[str, ...]] = {}
        for rule in fired:
            replaced = [fired_ids[rule_id] for rule_id in sorted(rule.supersedes) if rule_id in fired_ids]
            if replaced:
                also[rule.id] = tuple(
                    citation for other in replaced for citation in context.citations.get(other.id, other.citations)
                )
        if also:
            superseded = {rule_id for rule in fired if rule.id in also for rule_id in rule.supersedes}
            fired = [rule for rule in fired if rule.id not in superseded]
        templates = tuple(
            # Purpose, retention and search evidence quote each event's own values: built per event.
            (
                rule,
                None
                if rule.kind.startswith(_PER_EVENT_EVIDENCE)
                else self._alert(event, context, facts, rule, decided_by, beneficiary, _EPOCH, also.get(rule.id, ())),
                also.get(rule.id, ()),
            )
            for rule in fired
        )
        return _Judgement(facts, decided_by, beneficiary, templates)

    def _judgement(self, event: AccessEvent) -> tuple[OwnerContext, _Judgement]:
        context = self.owner_context(event)
        if not context.state_packs:
            self._note_without_state_law(context)
        elif context.state_law_from is not None and event.occurred_at.astimezone(UTC).date() < context.state_law_from:
            self._note_without_state_law(context, context.state_law_from)
        key = self._judgement_key(event, context)
        judgement = self._judgements.get(key)
        if judgement is None:
            judgement = self._evaluate(event, context, key)
            if len(self._judgements) >= _MAX_CACHED_JUDGEMENTS:
                self._judgements.clear()
            self._judgements[key] = judgement
        return context, judgement

    def _note_without_state_law(self, context: OwnerContext, law_from: date | None = None) -> None:
        entry = (context.agency, context.state, context.listed, law_from)
        if entry not in self._without_state_law and len(self._without_state_law) < 1_000:
            self._without_state_law[entry] = None

    def owners_without_state_law(self) -> list[dict[str, object]]:
        """Owners judged so far for whom no state law pack applied (only owner policy and local packs ran), or
        none was in force yet on some events' dates (`state_law_from` then says since when one is)."""
        entries: list[dict[str, object]] = []
        for agency, state, listed, law_from in sorted(
            self._without_state_law, key=lambda e: (e[0].casefold(), e[1] or "", e[3] or date.min)
        ):
            entry: dict[str, object] = {"owner": agency, "state": state, "in_policy_file": listed, "note": NO_STATE_LAW}
            if law_from is not None:
                entry["state_law_from"] = law_from.isoformat()
                entry["note"] = (
                    f"{NO_STATE_LAW} for events before {law_from.isoformat()}, when its state's law came into force"
                )
            entries.append(entry)
        return entries

    def recipient(self, event: AccessEvent) -> tuple[str, str | None]:
        """Who got the data, as the rules saw it: the recipient's jurisdiction class and the owner's state."""
        context, judgement = self._judgement(event)
        return judgement.facts.recipient, context.state

    def judge(self, event: AccessEvent) -> list[Alert]:
        """All alerts this event deserves under the current policy (an empty list means clean)."""
        context, judgement = self._judgement(event)
        return self._alerts(event, context, judgement)

    def assess(self, event: AccessEvent, *, with_alerts: bool = True) -> Assessment:
        """`judge`, plus the owner context and the facts the alerts were decided on (`alerts` stays empty
        when `with_alerts` is False: for a caller that judged the event already)."""
        context, judgement = self._judgement(event)
        return Assessment(
            self._alerts(event, context, judgement) if with_alerts else [],
            context,
            judgement.facts,
            judgement.beneficiary is not None and judgement.decided_by is judgement.beneficiary,
        )

    def _alerts(self, event: AccessEvent, context: OwnerContext, judgement: _Judgement) -> list[Alert]:
        if not judgement.templates:
            return []
        detected_at = self._clock()
        source = event.source
        event_key = f"{source.vendor}/{source.log}/{event.event_id}" if source else event.event_id
        query = event.query
        plate = query.plate if query else None
        user = event.requester.user
        plate_hash = "redacted" if is_redacted(plate) else self._pseudonymizer.plate(plate)
        user_hash = "redacted" if is_redacted(user) else self._pseudonymizer.user(user)
        figures = search_figures(event)
        alerts = []
        for rule, template, also in judgement.templates:
            if template is None:
                template = self._alert(
                    event, context, judgement.facts, rule, judgement.decided_by, judgement.beneficiary, _EPOCH, also
                )
            alerts.append(
                msgspec.structs.replace(
                    template,
                    alert_id=alert_id_for(event_key, rule.id),
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                    detected_at=detected_at,
                    plate_hash=plate_hash,
                    user_hash=user_hash,
                    evidence={**template.evidence, **figures} if figures else template.evidence,
                )
            )
        return alerts

    def _alert(
        self,
        event: AccessEvent,
        context: OwnerContext,
        facts: Facts,
        rule: CompiledRule,
        decided_by: Resolution,
        beneficiary: Resolution | None,
        detected_at: datetime,
        also_cited: tuple[str, ...] = (),
    ) -> Alert:
        """The alert for one fired rule; `judge` fills in the per-event identity fields."""
        requester = event.requester
        evidence = _evidence(event, context, facts, rule, decided_by, beneficiary)
        via_proxy = beneficiary is not None and decided_by is beneficiary
        query = event.query
        fields = {
            "requester": requester.agency,
            # Who got the data: the party a proxy acted for when that party decided the recipient class.
            "recipient_agency": (requester.on_behalf_of or "") if via_proxy else requester.agency,
            "via": f" through {requester.agency}" if via_proxy else "",
            "owner": event.owner.agency,
            "recipient": _PLAIN_WORDS[facts.recipient],
            "on_behalf_of": requester.on_behalf_of or "",
            "matched": evidence.get("matched", ""),
            "term": evidence.get("term", ""),
            "missing": evidence.get("missing", "").replace(",", ", "),
            "batch_size": str(facts.sharing_batch_size or ""),
            "retention_days": str(rule.retention_days or context.retention_days or ""),
            "reach_days": evidence.get("reach_days", ""),
            "networks": str(query.networks_searched) if query and query.networks_searched is not None else "",
            "max_networks": str(context.max_networks or ""),
            "offense_type": evidence.get("offense_type", ""),
        }
        return Alert(
            alert_id="",
            event_id=event.event_id,
            rule_id=rule.id,
            kind=rule.kind,
            severity=rule.severity,
            summary=rule.summary.format_map(fields),
            citations=list(dict.fromkeys((*context.citations.get(rule.id, rule.citations), *also_cited))),
            owner=AlertOwner(agency=event.owner.agency, state=context.state, id=context.owner_id),
            requester=AlertRequester(
                agency=requester.agency,
                jurisdiction=facts.recipient,
                state=decided_by.state,
                on_behalf_of=requester.on_behalf_of,
            ),
            evidence=evidence,
            policy_version=self.policy.version,
            occurred_at=event.occurred_at,
            detected_at=detected_at,
            pack=rule.pack,
            title=rule.title,
        )


_IDENTIFIER = re.compile(r"\S*\d\S*")


def mask_identifiers(text: str) -> str:
    """Reasons sometimes hold a plate or a case number: any token with a digit is masked in evidence."""
    return _IDENTIFIER.sub("[id]", text)


def _state_law_from(packs: Iterable[Pack]) -> date | None:
    """The first day a state law pack among `packs` is in force, or None when one always is (or none exists)."""
    dates = [pack.spec.applies_to.in_force_from for pack in packs if pack.is_state_law]
    if not dates or None in dates:
        return None
    return min(day for day in dates if day is not None)


def _names_immigration_agency(name: str) -> bool:
    return any(
        hit.category is PurposeCategory.IMMIGRATION and hit.certainty is Certainty.STRONG
        for hit in classify_purpose(name)
    )


def _missing_elements(event: AccessEvent) -> frozenset[str]:
    """Log elements this search record lacks (redacted is not missing): those Cal. Civ. Code 1798.90.52(a)
    requires, and the case number some owners' policies require."""
    query = event.query
    missing = []
    if not (event.requester.user or "").strip():
        missing.append("user")
    if (
        query is not None
        and not (query.plate or "").strip()
        and not query.search_type
        and (event.source is None or event.source.log not in _LOGS_WITHOUT_QUERY_DATA)
    ):
        missing.append("query_data")
    if query is not None and not (query.case_number or "").strip():
        missing.append("case_number")
    return frozenset(missing)


def _on_file(index: dict[str, list[_Dated]], agency: str, ori: str | None, day: date) -> bool:
    if not index:
        return False
    entries = index.get(agency.casefold(), []) + (index.get(ori, []) if ori else [])
    return any(entry.current(day) for entry in entries)


def _purpose_hit(event: AccessEvent, category: str) -> PurposeHit | None:
    reason = event.query.reason if event.query else None
    for hit in classify_purpose(reason):
        if hit.category.value == category:
            return hit
    return None


def _evidence(
    event: AccessEvent,
    context: OwnerContext,
    facts: Facts,
    rule: CompiledRule,
    decided_by: Resolution,
    beneficiary: Resolution | None,
) -> dict[str, str]:
    """What made the rule fire, for the person reading the alert: never a plate or a user name."""
    family, _, detail = rule.kind.partition(".")
    evidence = {
        "resolved_by": decided_by.resolved_by,
        "matched": decided_by.matched,
        "confidence": decided_by.confidence.value,
    }
    if beneficiary is not None and decided_by is beneficiary:
        evidence["via"] = "on_behalf_of"
    if family == "purpose" and detail == "not_permitted":
        offense = event.query.offense_type if event.query else None
        evidence.update(
            matched=mask_identifiers(offense or ""),
            offense_type=mask_identifiers(offense or ""),
            allowed_offense_types=",".join(sorted(context.allowed_offense_types or ())),
            reason_field="query.offense_type",
        )
    elif family == "purpose" and detail not in ("missing",):
        hit = _purpose_hit(event, detail)
        if hit is None and facts.recipient_is_immigration_agency and detail == "immigration":
            evidence["basis"] = "recipient is an immigration agency"
        elif hit is not None:
            evidence.update(
                matched=mask_identifiers(hit.matched),
                term=hit.term,
                span=f"{hit.start}-{hit.end}",
                certainty=hit.certainty.value,
                reason_field="query.reason",
            )
    elif family == "purpose":
        evidence.update(matched="", reason_field="query.reason", basis="no purpose recorded")
    elif family == "record":
        # Only the elements this rule requires: a state law's log elements are not the owner's case number.
        required = {str(value) for value in operands(rule.spec.when, "record.missing")}
        evidence.update(matched="", missing=",".join(sorted(facts.record_missing & required)))
    elif family == "search" and event.query is not None:
        over = facts.search_networks_over_owner_limit
        evidence.update(
            matched=f"{event.query.networks_searched} networks" if over else event.query.search_type or "",
            search_type=event.query.search_type or "",
            max_networks=str(context.max_networks or ""),
        )
    elif family == "sharing":
        sharing = event.sharing
        if sharing is not None:
            evidence.update(
                action=sharing.action,
                direction=sharing.direction,
                approval_mode=sharing.approval_mode or "",
                batch_size=str(sharing.batch_size or ""),
                command_review=str(sharing.command_review).lower(),
            )
    elif family == "retention" and event.query is not None and event.query.time_frame_start is not None:
        reach = (event.occurred_at - event.query.time_frame_start).total_seconds() / 86_400
        period = rule.retention_days if rule.retention_days is not None else context.retention_days
        evidence.update(
            matched=event.query.time_frame_start.isoformat(),
            retention_days=str(period),
            retention_basis="owner policy" if rule.retention_days is None else "rule",
            reach_days=f"{reach:.1f}",
            days_past_retention=f"{reach - period:.1f}" if period is not None else "",
            grace_days=str(RETENTION_GRACE_DAYS),
        )
    return evidence


def search_figures(event: AccessEvent) -> dict[str, str]:
    """How far one search reached, as alert evidence: days back, networks and devices searched (when known)."""
    query = event.query
    if query is None or event.event_type != "query":
        return {}
    figures: dict[str, str] = {}
    reach = reach_seconds(event)
    if reach is not None:
        figures["reach_days"] = f"{reach / 86_400:.1f}"
    if query.networks_searched is not None:
        figures["networks_searched"] = str(query.networks_searched)
    if query.devices_searched is not None:
        figures["devices_searched"] = str(query.devices_searched)
    return figures


def load_engine(policy_path: Path | None, pseudonymizer: Pseudonymizer, extra_packs: Iterable[Path] = ()) -> Engine:
    """Build an engine from a policy file (the shipped default when None) and the shipped packs."""
    return Engine(load_policy(policy_path), pseudonymizer, load_builtin_packs(extra_packs))
