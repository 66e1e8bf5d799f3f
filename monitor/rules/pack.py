"""Rule packs: YAML files of rules, validated and compiled at load time.

Every rule carries a stable id, a kind from the contract, a severity, its legal citations as data,
known false positives, a local exception hook (matches nothing by default) and examples that must
and must not fire. Loading fails with the file, the rule id and the key when anything is off.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor._yaml import YAMLError, safe_load
from monitor.alerts import KINDS, Severity
from monitor.rules.conditions import NEVER, ConditionError, Predicate, compile_condition, retention_periods

__all__ = [
    "SUMMARY_FIELDS",
    "Citation",
    "CompiledRule",
    "Pack",
    "PackError",
    "PackSpec",
    "RuleSpec",
    "builtin_pack_paths",
    "load_builtin_packs",
    "load_pack",
]

# Placeholders a rule's summary template may use; filled only when the rule fires.
SUMMARY_FIELDS = frozenset(
    {
        "requester",
        "owner",
        "recipient",
        "recipient_agency",
        "via",
        "on_behalf_of",
        "matched",
        "term",
        "missing",
        "batch_size",
        "retention_days",
        "reach_days",
        "networks",
        "max_networks",
        "offense_type",
    }
)
_RULE_ID = re.compile(r"^[a-z0-9]+(?:[.-][a-z0-9]+)+$")


class PackError(ValueError):
    """A rule pack that cannot be used. Fix the file named in the message; the monitor will not start on it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Citation(_Strict):
    """A legal or policy authority, as data: rendered `"{authority} § {section}"`."""

    authority: str = Field(min_length=1)
    section: str | None = None
    note: str | None = None
    # Stands for the owner's own policy document: alerts cite the owner's `policy_document` when it has one.
    owner_document: bool = False

    def render(self) -> str:
        return f"{self.authority} § {self.section}" if self.section else self.authority


class Examples(_Strict):
    """Event patches (merged onto the pack's example base) on which the rule must fire, or must not."""

    fire: list[dict[str, Any]] = Field(default_factory=list)
    not_fire: list[dict[str, Any]] = Field(default_factory=list, alias="pass")


class RuleSpec(_Strict):
    id: str
    title: str = Field(min_length=1)
    kind: str
    severity: Severity
    summary: str = Field(min_length=1)
    citations: list[Citation]
    description: str = ""
    when: dict[str, Any]
    false_positives: list[str] = Field(default_factory=list)
    exceptions: list[dict[str, Any]] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    examples: Examples = Field(default_factory=Examples)
    # Rules (usually of the owner-policy baseline) this one replaces when both fire on one event: a statute
    # or local rule judging the same thing gives one finding, citing both authorities.
    supersedes: list[str] = Field(default_factory=list)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _RULE_ID.match(value):
            raise ValueError(f"rule id {value!r} must be dotted lower-case words, e.g. 'ca.sb34.federal-recipient'")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in KINDS:
            raise ValueError(f"kind {value!r} is not in the contract's list: {', '.join(KINDS)}")
        return value

    @field_validator("summary")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name}
        unknown = names - SUMMARY_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholders {sorted(unknown)}; allowed: {sorted(SUMMARY_FIELDS)}")
        return value


class AppliesTo(_Strict):
    """Which owners a pack serves: by the owner's state, or (local packs) by owner agency names."""

    all_owners: bool = False
    owner_states: list[str] = Field(default_factory=list)
    owner_agencies: list[str] = Field(default_factory=list)
    # A law in force from this day (UTC) on: events before it are not judged by the pack's rules.
    in_force_from: date | None = None


class PackSpec(_Strict):
    pack: str = Field(pattern=r"^[a-z0-9-]+$")
    id_prefix: str = Field(pattern=r"^[a-z0-9-]+\.$")
    title: str
    description: str = ""
    applies_to: AppliesTo
    example_owner: dict[str, Any]
    example_base: dict[str, Any]
    rules: list[RuleSpec] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready for the hot path: `when` and `exception` are plain predicates over facts."""

    id: str
    pack: str
    title: str
    kind: str
    severity: Severity
    summary: str
    citations: tuple[str, ...]
    when: Predicate
    exception: Predicate
    spec: RuleSpec
    retention_days: int | None = None  # the period a retention rule tests against (None: the owner's own)
    owner_document: tuple[int, ...] = ()  # indexes of citations that stand for the owner's policy document
    supersedes: frozenset[str] = frozenset()
    in_force_from: date | None = None  # the pack's `applies_to.in_force_from`


@dataclass(frozen=True, slots=True)
class Pack:
    name: str
    source: str
    spec: PackSpec
    rules: tuple[CompiledRule, ...]

    @property
    def is_state_law(self) -> bool:
        """A pack chosen by the owner's state: a state's statutes, as opposed to local or owner policy."""
        return bool(self.spec.applies_to.owner_states)

    def applies_to(self, owner_state: str | None, owner_names: Iterable[str]) -> bool:
        """Whether this pack serves an owner in that state with those names (agency and aliases)."""
        scope = self.spec.applies_to
        if scope.all_owners:
            return True
        if scope.owner_agencies:
            wanted = {name.casefold() for name in scope.owner_agencies}
            return any(name.casefold() in wanted for name in owner_names)
        return owner_state is not None and owner_state in scope.owner_states


def _compile_rule(pack_name: str, source: str, rule: RuleSpec, in_force_from: date | None = None) -> CompiledRule:
    try:
        when = compile_condition(rule.when, "when")
        exception: Predicate = NEVER
        if rule.exceptions:
            exception = compile_condition({"any": rule.exceptions}, "exceptions")
    except ConditionError as exc:
        raise PackError(f"{source}: rule {rule.id}: {exc}") from None
    periods = retention_periods(rule.when)
    if len(periods) > 1:
        raise PackError(f"{source}: rule {rule.id}: tests more than one retention period {sorted(periods)}; split it")
    return CompiledRule(
        id=rule.id,
        pack=pack_name,
        title=rule.title,
        kind=rule.kind,
        severity=rule.severity,
        summary=rule.summary,
        citations=tuple(citation.render() for citation in rule.citations),
        when=when,
        exception=exception,
        spec=rule,
        retention_days=next(iter(periods), None),
        owner_document=tuple(i for i, citation in enumerate(rule.citations) if citation.owner_document),
        supersedes=frozenset(rule.supersedes),
        in_force_from=in_force_from,
    )


def _describe(exc: ValidationError, document: Any) -> str:
    """Name the rule id (not just its index) in pydantic's error locations."""
    lines = []
    for error in exc.errors():
        location = list(error["loc"])
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            rules = document.get("rules") if isinstance(document, dict) else None
            if isinstance(rules, list) and location[1] < len(rules) and isinstance(rules[location[1]], dict):
                location[1] = f"rule {rules[location[1]].get('id', location[1])}"
        lines.append(f"{'.'.join(str(part) for part in location)}: {error['msg']}")
    return "; ".join(lines)


def load_pack(text: str, source: str) -> Pack:
    """Parse, validate and compile one pack; `source` names the file in errors."""
    try:
        document = safe_load(text)
    except YAMLError as exc:
        raise PackError(f"{source}: not valid YAML: {exc}") from None
    try:
        spec = PackSpec.model_validate(document)
    except ValidationError as exc:
        raise PackError(f"{source}: {_describe(exc, document)}") from None
    seen: set[str] = set()
    for rule in spec.rules:
        if rule.id in seen:
            raise PackError(f"{source}: rule {rule.id}: duplicate rule id")
        if not rule.id.startswith(spec.id_prefix):
            raise PackError(f"{source}: rule {rule.id}: ids in pack {spec.pack!r} start with {spec.id_prefix!r}")
        seen.add(rule.id)
    rules = tuple(_compile_rule(spec.pack, source, rule, spec.applies_to.in_force_from) for rule in spec.rules)
    return Pack(name=spec.pack, source=source, spec=spec, rules=rules)


def builtin_pack_paths() -> list[Path]:
    """The packs shipped with the monitor, in a stable order."""
    folder = resources.files("monitor.rules") / "packs"
    return sorted(Path(str(entry)) for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_builtin_packs(extra: Iterable[Path] = ()) -> dict[str, Pack]:
    """Load the shipped packs plus any extra pack files; a pack name or rule id defined twice is an error."""
    packs: dict[str, Pack] = {}
    rule_sources: dict[str, str] = {}
    for path in [*builtin_pack_paths(), *extra]:
        pack = load_pack(path.read_text(encoding="utf-8"), str(path))
        if pack.name in packs:
            raise PackError(f"{path}: pack {pack.name!r} is already defined in {packs[pack.name].source}")
        for rule in pack.rules:
            if rule.id in rule_sources:
                raise PackError(f"{path}: rule {rule.id}: duplicate rule id (also in {rule_sources[rule.id]})")
            rule_sources[rule.id] = str(path)
        packs[pack.name] = pack
    for pack in packs.values():
        for rule in pack.rules:
            unknown = sorted(rule.supersedes - rule_sources.keys())
            if unknown:
                raise PackError(f"{pack.source}: rule {rule.id}: supersedes unknown rules {unknown}")
    return packs
