"""The audit's running totals: everything the report needs, in memory bounded whatever the input size.

Findings themselves go to disk as they are made; only counters and capped samples stay here. Every cap
is counted past (a table of the first N agencies also says how many events it leaves out), so the report
can state exactly what it shows.
"""

from __future__ import annotations

import heapq
import math
import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TypeVar

from monitor.alerts import Alert
from monitor.engine import mask_identifiers
from monitor.events import AccessEvent
from monitor.ingest import RowError, Skipped
from monitor.purpose import Certainty, PurposeCategory, classify_purpose, is_redacted
from monitor.retention import RETENTION_GRACE_DAYS, past_period, past_retention, reach_seconds

__all__ = [
    "DEVICE_BUCKETS",
    "NETWORK_BUCKETS",
    "REACH_BUCKETS",
    "Caps",
    "ListedEvent",
    "PartyTally",
    "Reach",
    "Retention",
    "Tally",
    "Totals",
    "Widest",
    "masked_reason",
]  # fmt: skip

_K = TypeVar("_K", bound=Hashable)
_DIGITS = re.compile(r"\d+")
_WORD_ONLY = re.compile(r"[\W_]+")


def masked_reason(reason: str) -> str:
    """A reason as the report may show it: identifiers masked exactly as in alert evidence (the engine's
    `mask_identifiers`, so a report and its findings agree), spaces collapsed, shortened.
    """
    masked = " ".join(mask_identifiers(reason).split())
    return masked if len(masked) <= 60 else masked[:59] + "…"


@dataclass(frozen=True, slots=True)
class Caps:
    """How much detail the report keeps; counts beyond a cap are still totalled."""

    agencies: int = 20_000  # distinct (requester, class) and (owner, state) pairs itemised
    listed: int = 500  # immigration-purpose searches and retention breaches listed one by one
    error_examples: int = 50  # malformed rows shown in the report (errors.csv has them all)
    reasons: int = 5_000  # distinct masked uninformative reasons counted
    days: int = 4_000  # distinct days in the day-by-day series before only months are kept


@dataclass(slots=True)
class Totals:
    """Every record is accounted for: records = events + invalid + skipped; events = clean + alerted.

    `records` and `findings_lines` are counted apart from the classification, so `consistent` can fail:
    `records` is what the readers handed over, counted as it arrives; `findings_lines` is the number of
    lines in findings.jsonl, counted from the file once it is closed (None until then).
    """

    records: int = 0
    events: int = 0
    clean: int = 0
    alerted: int = 0
    invalid: int = 0
    skipped: int = 0
    alerts: int = 0
    findings_lines: int | None = None

    def consistent(self) -> bool:
        """Whether the independent counts agree (they should; the report says so, or says they do not)."""
        return (
            self.records == self.events + self.invalid + self.skipped
            and self.events == self.clean + self.alerted
            and self.alerts >= self.alerted
            and (self.findings_lines is None or self.findings_lines == self.alerts)
        )


@dataclass(slots=True)
class PartyTally:
    """One requesting agency (or one owner): its events, the events with findings, and findings by kind."""

    events: int = 0
    alerted: int = 0
    kinds: Counter[str] = field(default_factory=Counter)  # events with at least one alert of the kind


# Buckets the reach and retention sections count in: (label, upper bound inclusive), the last unbounded.
NETWORK_BUCKETS: tuple[tuple[str, float], ...] = (
    ("1 network", 1), ("2 to 10", 10), ("11 to 100", 100), ("101 to 1,000", 1_000), ("more than 1,000", math.inf),
)  # fmt: skip
DEVICE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("1 to 10", 10), ("11 to 100", 100), ("101 to 1,000", 1_000), ("1,001 to 10,000", 10_000),
    ("more than 10,000", math.inf),
)  # fmt: skip
REACH_BUCKETS: tuple[tuple[str, float], ...] = (
    ("a day or less", 1), ("2 to 7 days", 7), ("8 to 30 days", 30), ("31 to 90 days", 90), ("91 to 365 days", 365),
    ("more than a year", math.inf),
)  # fmt: skip


def _bounds(buckets: tuple[tuple[str, float], ...]) -> tuple[float, ...]:
    return tuple(bound for _, bound in buckets)


_NETWORK_BOUNDS, _DEVICE_BOUNDS, _REACH_BOUNDS = map(_bounds, (NETWORK_BUCKETS, DEVICE_BUCKETS, REACH_BUCKETS))


def _bucket(value: float, buckets: tuple[tuple[str, float], ...], bounds: tuple[float, ...]) -> str:
    """The label of the first bucket whose upper bound is at least `value` (a binary search: once per search)."""
    return buckets[bisect_left(bounds, value)][0]


@dataclass(frozen=True, slots=True)
class Widest:
    """The search that reached furthest by one measure: how far, when, by whom (no plate, no user)."""

    value: float
    event_id: str
    occurred_at: datetime
    requester: str


@dataclass(slots=True)
class Reach:
    """How much of the network each search covered: networks and devices searched at once."""

    searches: int = 0  # search events (queries)
    networks: Counter[str] = field(default_factory=Counter)  # NETWORK_BUCKETS label -> searches
    devices: Counter[str] = field(default_factory=Counter)  # DEVICE_BUCKETS label -> searches
    networks_unknown: int = 0
    devices_unknown: int = 0
    most_networks: Widest | None = None
    most_devices: Widest | None = None

    def add(self, event: AccessEvent) -> None:
        query = event.query
        assert query is not None
        self.searches += 1
        networks, devices = query.networks_searched, query.devices_searched
        if networks is None:
            self.networks_unknown += 1
        else:
            self.networks[_bucket(networks, NETWORK_BUCKETS, _NETWORK_BOUNDS)] += 1
            if self.most_networks is None or networks > self.most_networks.value:
                self.most_networks = Widest(networks, event.event_id, event.occurred_at, event.requester.agency)
        if devices is None:
            self.devices_unknown += 1
        else:
            self.devices[_bucket(devices, DEVICE_BUCKETS, _DEVICE_BOUNDS)] += 1
            if self.most_devices is None or devices > self.most_devices.value:
                self.most_devices = Widest(devices, event.event_id, event.occurred_at, event.requester.agency)

    @property
    def many_networks(self) -> int:
        """Searches of more than one network at once."""
        return sum(count for label, count in self.networks.items() if label != NETWORK_BUCKETS[0][0])


@dataclass(slots=True)
class Retention:
    """How far back each search reached (search time minus the time frame's start), against the owner's period.

    `past_period`: reached further back than the retention period; `past_grace`: further than the period plus
    the grace the rules allow (`RETENTION_GRACE_DAYS`), which is what a retention rule fires on.
    """

    grace_days: int = RETENTION_GRACE_DAYS
    searches: int = 0  # search events
    with_frame: int = 0  # searches with a time frame start
    reach: Counter[str] = field(default_factory=Counter)  # REACH_BUCKETS label -> searches
    periods: Counter[int] = field(default_factory=Counter)  # retention days -> searches judged against it
    without_period: int = 0  # searches with a time frame whose owner states no retention period
    past_period: int = 0
    past_grace: int = 0
    furthest: Widest | None = None  # value in days

    def add(self, event: AccessEvent, retention_days: int | None) -> None:
        query = event.query
        assert query is not None
        self.searches += 1
        seconds = reach_seconds(event)
        if seconds is None:
            return
        self.with_frame += 1
        days = seconds / 86_400
        self.reach[_bucket(max(days, 0.0), REACH_BUCKETS, _REACH_BOUNDS)] += 1
        if self.furthest is None or days > self.furthest.value:
            self.furthest = Widest(days, event.event_id, event.occurred_at, event.requester.agency)
        if retention_days is None:
            self.without_period += 1
            return
        self.periods[retention_days] += 1
        # One definition with the rules (monitor.retention): past the period, and past it and the grace.
        if past_period(seconds, retention_days):
            self.past_period += 1
            if past_retention(seconds, retention_days):
                self.past_grace += 1


@dataclass(frozen=True, slots=True)
class ListedEvent:
    """One event shown individually (an immigration-purpose search, a retention breach): no plate, no user."""

    event_id: str
    occurred_at: datetime
    owner: str
    requester: str
    on_behalf_of: str | None
    jurisdiction: str
    severity: str
    rule_ids: tuple[str, ...]
    matched: str
    detail: str


@dataclass(slots=True)
class Tally:
    """Bounded aggregates over one audit run."""

    caps: Caps = field(default_factory=Caps)
    totals: Totals = field(default_factory=Totals)
    by_severity: Counter[str] = field(default_factory=Counter)  # alerts
    by_kind: Counter[str] = field(default_factory=Counter)  # alerts
    events_by_kind: Counter[str] = field(default_factory=Counter)  # events with >= 1 alert of the kind
    kind_severity: Counter[tuple[str, str]] = field(default_factory=Counter)  # alerts
    rules: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # (rule, kind, severity, title)
    citations: dict[str, dict[str, None]] = field(default_factory=dict)  # kind -> ordered set
    kind_by_month: Counter[tuple[str, str]] = field(default_factory=Counter)  # (YYYY-MM, kind) -> events
    kind_by_day: Counter[tuple[date, str]] | None = field(default_factory=Counter)
    events_by_month: Counter[str] = field(default_factory=Counter)
    first_event: datetime | None = None
    last_event: datetime | None = None
    # requesters by jurisdiction class relative to the owner
    class_events: Counter[str] = field(default_factory=Counter)
    class_alerted: Counter[str] = field(default_factory=Counter)
    requesters: dict[tuple[str, str], PartyTally] = field(default_factory=dict)
    requesters_beyond_cap: Counter[str] = field(default_factory=Counter)  # class -> events not itemised
    owners: dict[tuple[str, str | None], PartyTally] = field(default_factory=dict)
    owners_beyond_cap: int = 0
    # events listed one by one
    immigration: list[ListedEvent] = field(default_factory=list)
    # (requester, class, matched words or the basis, whether the words are the reason's)
    immigration_groups: Counter[tuple[str, str, str, bool]] = field(default_factory=Counter)
    # the breaches reaching back furthest: a min-heap of (days, arrival, row), so the mildest goes first
    _retention: list[tuple[float, int, ListedEvent]] = field(default_factory=list)
    # data quality
    reasons: Counter[str] = field(default_factory=Counter)  # query events by what their reason says
    uninformative_reasons: Counter[str] = field(default_factory=Counter)  # masked reason -> count
    uninformative_beyond_cap: int = 0
    query_without_user: int = 0
    missing_elements: Counter[str] = field(default_factory=Counter)  # from record.incomplete alerts
    errors_by_code: Counter[str] = field(default_factory=Counter)
    error_examples: list[RowError] = field(default_factory=list)
    skipped_by_reason: Counter[str] = field(default_factory=Counter)
    event_types: Counter[str] = field(default_factory=Counter)
    # how far searches reached
    reach: Reach = field(default_factory=Reach)
    retention: Retention = field(default_factory=Retention)
    _days: set[date] = field(default_factory=set)

    # -- records ----------------------------------------------------------------------------------

    def add_error(self, error: RowError) -> None:
        self.totals.invalid += 1
        code = error.reason.partition(":")[0].strip() or "invalid"
        self.errors_by_code[code[:40]] += 1
        if len(self.error_examples) < self.caps.error_examples:
            self.error_examples.append(error)

    def add_skipped(self, skipped: Skipped) -> None:
        self.totals.skipped += 1
        reason = _DIGITS.sub("#", skipped.reason)[:80]
        if reason in self.skipped_by_reason or len(self.skipped_by_reason) < 100:
            self.skipped_by_reason[reason] += 1
        else:
            self.skipped_by_reason["other reasons"] += 1

    def add_event(
        self,
        event: AccessEvent,
        alerts: list[Alert],
        jurisdiction: str,
        owner_state: str | None,
        retention_days: int | None = None,
    ) -> None:
        """Count one judged event; `jurisdiction` is the requester's class relative to the owner, and
        `retention_days` the owner's retention period (None: it states none)."""
        totals = self.totals
        totals.events += 1
        self.event_types[event.event_type] += 1
        when = event.occurred_at
        if self.first_event is None or when < self.first_event:
            self.first_event = when
        if self.last_event is None or when > self.last_event:
            self.last_event = when
        month = f"{when.year:04d}-{when.month:02d}"
        self.events_by_month[month] += 1
        if event.query is not None and event.event_type == "query":
            self._add_reason(event)
            self.reach.add(event)
            self.retention.add(event, retention_days)

        kinds: set[str] = {alert.kind for alert in alerts}
        self.class_events[jurisdiction] += 1
        requester = self._party(self.requesters, (event.requester.agency, jurisdiction))
        owner = self._party(self.owners, (event.owner.agency, owner_state))
        if requester is None:
            self.requesters_beyond_cap[jurisdiction] += 1
        else:
            requester.events += 1
        if owner is None:
            self.owners_beyond_cap += 1
        else:
            owner.events += 1
        if not alerts:
            totals.clean += 1
            return

        totals.alerted += 1
        totals.alerts += len(alerts)
        self.class_alerted[jurisdiction] += 1
        for party in (requester, owner):
            if party is not None:
                party.alerted += 1
                party.kinds.update(kinds)
        self.events_by_kind.update(kinds)
        by_day = self.kind_by_day
        if by_day is not None:
            day = when.date()
            self._days.add(day)
            if len(self._days) > self.caps.days:
                by_day = self.kind_by_day = None  # too long a span for a daily series: months will do
                self._days.clear()
        for kind in kinds:
            self.kind_by_month[month, kind] += 1
            if by_day is not None:
                by_day[day, kind] += 1
        for alert in alerts:
            self.by_severity[alert.severity] += 1
            self.by_kind[alert.kind] += 1
            self.kind_severity[alert.kind, alert.severity] += 1
            self.rules[alert.rule_id, alert.kind, alert.severity, alert.title or ""] += 1
            cited = self.citations.setdefault(alert.kind, {})
            if len(cited) < 12:
                cited.update(dict.fromkeys(alert.citations))
            if alert.kind == "record.incomplete":
                for element in alert.evidence.get("missing", "").split(","):
                    if element:
                        self.missing_elements[element] += 1
        if "purpose.immigration" in kinds:
            row = _listed(event, alerts, "purpose.immigration", jurisdiction)
            if len(self.immigration) < self.caps.listed:
                self.immigration.append(row)
            group = (row.requester, row.jurisdiction, row.matched or row.detail, bool(row.matched))
            if group in self.immigration_groups or len(self.immigration_groups) < self.caps.listed:
                self.immigration_groups[group] += 1
            else:
                self.immigration_groups["other requesters", "", "", False] += 1
        if "retention.exceeded" in kinds:
            self._add_retention(_listed(event, alerts, "retention.exceeded", jurisdiction))

    def add_pattern_alert(self, alert: Alert) -> None:
        """Count an alert of the pattern detectors (it belongs to a pattern, not to one event's tally)."""
        self.totals.alerts += 1
        self.by_severity[alert.severity] += 1
        self.by_kind[alert.kind] += 1
        self.kind_severity[alert.kind, alert.severity] += 1
        self.rules[alert.rule_id, alert.kind, alert.severity, alert.title or ""] += 1

    # -- helpers ----------------------------------------------------------------------------------

    def _party(self, table: dict[_K, PartyTally], key: _K) -> PartyTally | None:
        party = table.get(key)
        if party is None and len(table) < self.caps.agencies:
            party = table[key] = PartyTally()
        return party

    def _add_reason(self, event: AccessEvent) -> None:
        query = event.query
        assert query is not None
        if not (event.requester.user or "").strip():
            self.query_without_user += 1
        reason = query.reason
        if is_redacted(reason):
            self.reasons["redacted"] += 1
            return
        hits = classify_purpose(reason)
        if any(hit.category is PurposeCategory.MISSING for hit in hits):
            self.reasons["missing"] += 1
            return
        uninformative = next((hit for hit in hits if hit.category is PurposeCategory.UNINFORMATIVE), None)
        if uninformative is None:
            self.reasons["stated"] += 1
            return
        strong = uninformative.certainty is Certainty.STRONG
        self.reasons["uninformative" if strong else "vague"] += 1
        masked = masked_reason(reason or "").casefold()  # "Investigation" and "INVESTIGATION" are one reason
        if masked in self.uninformative_reasons or len(self.uninformative_reasons) < self.caps.reasons:
            self.uninformative_reasons[masked] += 1
        else:
            self.uninformative_beyond_cap += 1

    def _add_retention(self, row: ListedEvent) -> None:
        try:
            reach = float(row.matched.partition(" ")[0])
        except ValueError:
            reach = 0.0
        entry = (reach, self.totals.events, row)
        if len(self._retention) < self.caps.listed:
            heapq.heappush(self._retention, entry)
        elif reach > self._retention[0][0]:
            heapq.heapreplace(self._retention, entry)

    # -- views ------------------------------------------------------------------------------------

    @property
    def retention_breaches(self) -> list[ListedEvent]:
        """The retention breaches kept for the report, the furthest reach first (then in arrival order)."""
        return [row for _, _, row in sorted(self._retention, key=lambda entry: (-entry[0], entry[1]))]

    def distinct_requesters(self) -> Counter[str]:
        """Distinct requesting agencies per jurisdiction class (among those itemised)."""
        return Counter(jurisdiction for _, jurisdiction in self.requesters)

    def requesters_in(self, jurisdiction: str, limit: int) -> list[tuple[str, PartyTally]]:
        """The agencies of one class with the most events, most first (ties by name)."""
        rows = [(name, party) for (name, cls), party in self.requesters.items() if cls == jurisdiction]
        rows.sort(key=lambda row: (-row[1].events, row[0].casefold()))
        return rows[:limit]

    def owners_with(self, kind: str) -> list[tuple[str, str | None, int]]:
        """Owners with events of one kind: (agency, state, events), most first."""
        rows = [(name, state, party.kinds[kind]) for (name, state), party in self.owners.items() if party.kinds[kind]]
        rows.sort(key=lambda row: (-row[2], row[0].casefold()))
        return rows


_SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}


def _listed(event: AccessEvent, alerts: list[Alert], kind: str, jurisdiction: str) -> ListedEvent:
    """One event of `kind` as a report row: the matched words or the reach, never the whole reason."""
    mine = [alert for alert in alerts if alert.kind == kind]
    first = mine[0]
    evidence = first.evidence
    if kind == "retention.exceeded":
        matched = f"{evidence.get('reach_days', '?')} days back"
        detail = f"retention {evidence.get('retention_days', '?')} days"
    else:
        matched = evidence.get("matched", "")
        term = evidence.get("term", "")
        detail = term if _WORD_ONLY.sub("", term.casefold()) != _WORD_ONLY.sub("", matched.casefold()) else ""
        if "basis" in evidence and not term:
            # Not the reason's words: the engine matched the requester's own name (HSI, Border Patrol).
            detail = f"{evidence['basis']} (“{matched}” in its name)" if matched else evidence["basis"]
            matched = ""
    return ListedEvent(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        owner=event.owner.agency,
        requester=event.requester.agency,
        on_behalf_of=event.requester.on_behalf_of,
        jurisdiction=first.requester.jurisdiction or jurisdiction,
        severity=min((alert.severity for alert in mine), key=_SEVERITY_RANK.__getitem__),
        rule_ids=tuple(dict.fromkeys(alert.rule_id for alert in mine)),
        matched=matched,
        detail=detail,
    )
