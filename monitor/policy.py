"""The owner policy file: who the data owners are, which packs serve them, and what they agreed to.

One file can describe many owners (a state-wide or vendor-wide deployment). Its version is the hash of
its bytes, stamped on every alert, so an alert can always be traced to the exact policy that made it.
"""

from __future__ import annotations

import hashlib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from monitor._yaml import YAMLError, safe_load
from monitor.jurisdiction import AgencyClass, state_code
from monitor.small_files import UnreadableFile, read_small_file

__all__ = [
    "DEFAULT_POLICY",
    "MAX_POLICY_BYTES",
    "Agreement",
    "Declaration",
    "KnownAgency",
    "LocalException",
    "OwnerPolicy",
    "PatternSettings",
    "Policy",
    "PolicyDocument",
    "PolicyError",
    "load_policy",
    "parse_policy",
]

DEFAULT_POLICY = "default-policy.yaml"
ProhibitablePurpose = Literal["immigration", "reproductive_health", "protected_activity"]


class PolicyError(ValueError):
    """A policy file that cannot be used. At start-up the monitor stops; on reload the old policy stays in force."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _state_code(value: str | None) -> str | None:
    if value is None:
        return None
    code = state_code(value)
    if code is None:
        raise ValueError(f"state {value!r} is not a US state: give its two-letter code such as 'CA'")
    return code


class KnownAgency(_Strict):
    """An agency whose jurisdiction the operator vouches for: the strongest evidence the resolver takes."""

    agency: str = Field(min_length=1)
    agency_class: AgencyClass = Field(default=AgencyClass.STATE_LOCAL, alias="class")
    state: str | None = None
    ori: str | None = None

    _state = field_validator("state")(_state_code)

    @model_validator(mode="after")
    def _public_agency_has_state(self) -> KnownAgency:
        if self.agency_class is AgencyClass.STATE_LOCAL and self.state is None:
            raise ValueError(f"{self.agency!r} is a state or local agency: give its `state`")
        return self


class Agreement(KnownAgency):
    """A current sharing agreement between the owner and another agency (dates inclusive)."""

    since: date | None = None
    until: date | None = None


class Declaration(KnownAgency):
    """A written declaration under 625 ILCS 5/2-130 that shared data will not be used for prohibited purposes."""

    signed: date
    expires: date | None = None


class LocalException(_Strict):
    """An owner's documented exception to one rule; `reason` is required so every exception is explained."""

    rule: str
    when: dict[str, Any]
    reason: str = Field(min_length=1)


class PolicyDocument(_Strict):
    """The owner's own published ALPR policy: what owner-policy alerts cite."""

    title: str = Field(min_length=1, max_length=300)
    url: str | None = Field(default=None, max_length=2000)
    section: str | None = Field(default=None, max_length=100)

    def render(self) -> str:
        cited = f"{self.title} § {self.section}" if self.section else self.title
        return f"{cited} ({self.url})" if self.url else cited


class StandingAccessSettings(_Strict):
    """`sharing.standing_access`: a prohibited recipient holding access, alerted on day 1 and every day after."""

    enabled: bool = True


class RepeatTargetSettings(_Strict):
    """`misuse.repeat_target`: one user searching one plate again and again (the stalking shape).

    A search carrying a case number counts as `case_number_weight` of a search, so a team working one
    case, or a BOLO checked under its case number, stays below the tiers.
    """

    enabled: bool = True
    window_days: int = Field(default=90, ge=1, le=366)
    medium_searches: float = Field(default=5, gt=0)
    medium_days: int = Field(default=3, ge=1)
    medium_within_days: int = Field(default=30, ge=1)
    high_searches: float = Field(default=10, gt=0)
    high_days: int = Field(default=4, ge=1)
    spread_searches: float = Field(default=8, gt=0)
    spread_span_days: int = Field(default=21, ge=1)
    share_percent: float = Field(default=20, gt=0, le=100)
    share_min_user_searches: int = Field(default=50, ge=1)
    case_number_weight: float = Field(default=0.25, ge=0, le=1)
    realert_days: int = Field(default=30, ge=1)
    # A user with this many other plates at a tier within `window_days` re-checks plates alike (analysis,
    # monitoring a list of suspects), not one person: high is capped at medium for that user.
    many_plates: int = Field(default=5, ge=1)


class IsolatedSessionSettings(_Strict):
    """`misuse.isolated_session`: a burst far outside a user's usual hours, long quiet on both sides."""

    enabled: bool = True
    min_history: int = Field(default=200, ge=1)
    gap_hours: float = Field(default=8, gt=0)
    usual_hours_share: float = Field(default=0.85, gt=0, le=1)
    max_session_hours: float = Field(default=3, gt=0)
    min_session_searches: int = Field(default=3, ge=1)


class NewRequesterSettings(_Strict):
    """`volume.new_requester`: the first search by an agency that is not a public agency of the owner's state."""

    enabled: bool = True


class SurgeSettings(_Strict):
    """`volume.surge`: an agency's searches on one day above max(factor x median, median + mad_factor x MAD, floor)
    of its own daily counts over the previous `baseline_days` since its first search (days without a search
    count as 0). An in-state agency is judged once it has `min_history_days` of history; an outside agency
    from its first day (a flood from nothing is the national-lookup shape)."""

    enabled: bool = True
    baseline_days: int = Field(default=28, ge=7, le=366)
    min_history_days: int = Field(default=7, ge=0)
    median_factor: float = Field(default=3, gt=0)
    mad_factor: float = Field(default=5, gt=0)
    floor: int = Field(default=50, ge=1)


class PatternSettings(_Strict):
    """Thresholds of the pattern detectors (contract v1.1); the policy's `patterns:` section, per owner overridable."""

    standing_access: StandingAccessSettings = StandingAccessSettings()
    repeat_target: RepeatTargetSettings = RepeatTargetSettings()
    isolated_session: IsolatedSessionSettings = IsolatedSessionSettings()
    new_requester: NewRequesterSettings = NewRequesterSettings()
    surge: SurgeSettings = SurgeSettings()


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = _merge(merged[name], value)
        else:
            merged[name] = value
    return merged


class OwnerPolicy(_Strict):
    """One data owner's entry. The baseline switches default to what a published ALPR policy usually
    promises (a purpose on every search); the others are off until the owner's policy says so."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    agency: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    ori: str | None = None
    state: str
    packs: list[str] | None = None
    retention_days: int | None = Field(default=None, ge=1, le=36_500)  # a century: beyond it, dates overflow
    requires_agreement: bool = False
    prohibits_group_approval: bool = False
    requires_command_review: bool = False
    prohibited_purposes: list[ProhibitablePurpose] = Field(default_factory=list)
    policy_document: PolicyDocument | None = None
    requires_purpose: bool = True
    requires_informative_purpose: bool = True
    requires_case_number: bool = False
    # None: any offense type; a list: searches naming another offense type are findings (case-insensitive).
    allowed_offense_types: list[str] | None = Field(default=None, min_length=1)
    # None: no limit; N: a search reaching more than N networks is a finding.
    max_networks: int | None = Field(default=None, ge=1)
    # Search types the owner's policy prohibits, as the vendor's export spells them (e.g. a lookup beyond the state).
    prohibited_search_types: list[str] = Field(default_factory=list)
    agreements: list[Agreement] = Field(default_factory=list)
    declarations: list[Declaration] = Field(default_factory=list)
    exceptions: list[LocalException] = Field(default_factory=list)
    # Overrides of the policy's `patterns:` thresholds for this owner, validated merged over them.
    patterns: dict[str, dict[str, Any]] = Field(default_factory=dict)

    _state = field_validator("state")(_state_code)

    @property
    def names(self) -> tuple[str, ...]:
        return (self.agency, *self.aliases)


class Policy(_Strict):
    name: str = "unnamed policy"
    registry: list[KnownAgency] = Field(default_factory=list)
    owners: list[OwnerPolicy] = Field(default_factory=list)
    patterns: PatternSettings = PatternSettings()
    version: str = ""
    source: str = ""
    _owner_patterns: dict[str, PatternSettings] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _owner_pattern_settings(self) -> Policy:
        defaults = self.patterns.model_dump()
        for index, owner in enumerate(self.owners):
            if not owner.patterns:
                continue
            try:
                self._owner_patterns[owner.id] = PatternSettings.model_validate(_merge(defaults, owner.patterns))
            except ValidationError as exc:
                raise ValueError(f"owners.{index}.patterns ({owner.id}): {_describe(exc)}") from None
        return self

    def pattern_settings(self, owner_id: str) -> PatternSettings:
        """The pattern thresholds for an owner id ("other" and owners without overrides get the defaults)."""
        return self._owner_patterns.get(owner_id, self.patterns)


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors())


def parse_policy(data: bytes, source: str) -> Policy:
    """Validate a policy file's bytes; the version is the first 12 hex digits of their SHA-256."""
    try:
        document = safe_load(data) or {}
    except YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(document, dict):
        raise PolicyError(f"{source}: a policy file is a mapping with `owners:` (and optional `registry:`)")
    version = hashlib.sha256(data).hexdigest()[:12]
    try:
        policy = Policy.model_validate({**document, "version": version, "source": source})
    except ValidationError as exc:
        raise PolicyError(f"{source}: {_describe(exc)}") from None
    if not policy.owners:
        # Owner retention, agreements and local packs would silently stop applying: refuse, do not guess.
        what = "is empty or holds only comments" if not document else "lists no owners"
        raise PolicyError(
            f"{source}: the policy {what}: a policy file needs at least one entry under `owners:` "
            "(see monitor/default-policy.yaml); no owners would judge every event without the owners' rules"
        )
    ids = [owner.id for owner in policy.owners]
    duplicates = sorted({owner_id for owner_id in ids if ids.count(owner_id) > 1})
    if duplicates:
        raise PolicyError(f"{source}: owners: duplicate owner ids {duplicates}")
    return policy


MAX_POLICY_BYTES = 8 * 1024 * 1024
"""A policy file is a few KB; one this large is a mistake, and reading it whole every reload would stall."""


def read_policy_file(path: Path) -> bytes:
    """The bytes of a policy file, or `PolicyError`: never blocks, never reads more than MAX_POLICY_BYTES.

    The file is polled by the running worker, so a FIFO or a device put in its place (open() and read()
    would wait forever on the event loop) or a file grown to gigabytes is refused with a clear error.
    """
    try:
        data = read_small_file(path, MAX_POLICY_BYTES)
    except UnreadableFile as exc:
        raise PolicyError(f"{path}: the policy file {exc}") from None
    return data


def load_policy(path: Path | None = None) -> Policy:
    """Load a policy file, or the shipped default policy when `path` is None."""
    if path is None:
        data = (resources.files("monitor") / DEFAULT_POLICY).read_bytes()
        return parse_policy(data, f"<built-in {DEFAULT_POLICY}>")
    return parse_policy(read_policy_file(path), str(path))
