"""The audit's pattern sections: who holds access now, and repeat targets (data for summary.json/.md/HTML).

Both come from the pattern detectors run over the audit's events in event-time order (the same detectors
the live worker runs): "who holds access now" from the standing-access table as the input leaves it, the
repeat targets from the detector's alerts (the latest, fullest one per user and plate). Hashes only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from monitor.alerts import Alert
from monitor.patterns.detectors.standing_access import StandingAccessState

from ._tally import masked_reason

__all__ = ["AccessHolder", "PatternFindings", "RepeatTargetRow"]

MAX_REPEAT_TARGETS = 200
MAX_HOLDERS = 500
_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@dataclass(frozen=True, slots=True)
class AccessHolder:
    """One recipient outside the owner's own state's public agencies, or prohibited, that holds access."""

    owner: str
    recipient: str
    jurisdiction: str
    prohibited: bool
    since: str
    days_of_exposure: int
    granted_via: str
    approval_mode: str
    granted_by: str
    first_search: str
    last_search_day: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class RepeatTargetRow:
    owner: str
    requester: str
    user_hash: str
    plate_hash: str
    severity: str
    searches: int
    days: int
    first_day: str
    last_search: str
    reasons: str
    case_number_searches: int
    basis: str

    @property
    def case_number_given(self) -> bool:
        return self.case_number_searches > 0

    def as_dict(self) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.__slots__}
        values["case_number_given"] = self.case_number_given
        return values


@dataclass(slots=True)
class PatternFindings:
    """Pattern alerts seen by the audit, and the two tables the report shows."""

    by_kind: Counter[str] = field(default_factory=Counter)
    _targets: dict[tuple[str, str, str], Alert] = field(default_factory=dict)
    _exposures: dict[tuple[str, str], Alert] = field(default_factory=dict)  # latest standing-access alert
    holders: list[AccessHolder] = field(default_factory=list)
    holders_in_state: int = 0  # public agencies of the owner's state holding access (not listed)

    def add(self, alert: Alert) -> None:
        self.by_kind[alert.kind] += 1
        if alert.kind == "sharing.standing_access":
            exposure = (alert.owner.id or alert.owner.agency, alert.requester.agency)
            known = self._exposures.get(exposure)
            if known is None or alert.occurred_at >= known.occurred_at:
                self._exposures[exposure] = alert
            return
        if alert.kind != "misuse.repeat_target" or not alert.user_hash or not alert.plate_hash:
            return
        key = (alert.owner.id or alert.owner.agency, alert.user_hash, alert.plate_hash)
        known = self._targets.get(key)
        if known is None or (_RANK[alert.severity], alert.occurred_at) >= (_RANK[known.severity], known.occurred_at):
            self._targets[key] = alert

    def set_holders(self, rows: list[StandingAccessState], as_of: date | None) -> None:
        """The active rows of the sharing table at the end of the input (days of exposure up to `as_of`)."""
        holders = []
        for row in rows:
            if not row.active or row.since is None:
                continue
            if row.prohibited is None and row.jurisdiction == "in_state":
                self.holders_in_state += 1
                continue
            day = as_of or row.since.date()
            holders.append(
                AccessHolder(
                    owner=row.owner_agency,
                    recipient=row.recipient,
                    jurisdiction=row.jurisdiction,
                    prohibited=row.prohibited is not None,
                    since=row.since.isoformat(),
                    days_of_exposure=max(row.active_days(day), 1),
                    granted_via=row.granted_via or "",
                    approval_mode=row.approval_mode or "",
                    granted_by=row.granted_by or "",
                    first_search=row.first_search.isoformat() if row.first_search else "",
                    last_search_day=row.last_search_day.isoformat() if row.last_search_day else "",
                )
            )
        holders.sort(key=lambda h: (not h.prohibited, -h.days_of_exposure, h.owner, h.recipient))
        self.holders = holders[:MAX_HOLDERS]

    def repeat_targets(self) -> list[RepeatTargetRow]:
        """One row per owner, user and plate, worst and most searched first."""
        rows = []
        for alert in self._targets.values():
            evidence = alert.evidence
            rows.append(
                RepeatTargetRow(
                    owner=alert.owner.agency,
                    requester=alert.requester.agency,
                    user_hash=alert.user_hash or "",
                    plate_hash=alert.plate_hash or "",
                    severity=alert.severity,
                    searches=int(evidence.get("count", "0")),
                    days=int(evidence.get("distinct_days", "0")),
                    first_day=evidence.get("window_start", "")[:10],
                    last_search=alert.occurred_at.isoformat(),
                    reasons=masked_reason(evidence.get("reasons", "")),
                    case_number_searches=int(evidence.get("case_number_searches", "0")),
                    basis=evidence.get("baseline", ""),
                )
            )
        rows.sort(key=lambda r: (-_RANK[r.severity], -r.searches, r.user_hash, r.plate_hash))
        return rows[:MAX_REPEAT_TARGETS]

    def exposures(self) -> list[dict[str, Any]]:
        """Every prohibited recipient that held access during the input, revoked since or not, longest first."""
        holding = {(h.owner, h.recipient) for h in self.holders if h.prohibited}
        rows = [
            {
                "owner": alert.owner.agency,
                "recipient": alert.requester.agency,
                "jurisdiction": alert.requester.jurisdiction,
                "severity": alert.severity,
                "active_since": alert.evidence.get("active_since", ""),
                "last_day_alerted": alert.occurred_at.date().isoformat(),
                "days_of_exposure": int(alert.evidence.get("active_days", "0")),
                "granted_via": alert.evidence.get("granted_via", ""),
                "approval_mode": alert.evidence.get("approval_mode", ""),
                "holds_access_now": (alert.owner.agency, alert.requester.agency) in holding,
            }
            for alert in sorted(
                self._exposures.values(),
                key=lambda a: (-int(a.evidence.get("active_days", "0")), a.owner.agency, a.requester.agency),
            )
        ]
        return rows[:MAX_HOLDERS]

    def figures(self) -> dict[str, Any]:
        """The sections as plain data for summary.json."""
        return {
            "pattern_alerts_by_kind": dict(self.by_kind),
            "who_holds_access_now": [holder.as_dict() for holder in self.holders],
            "prohibited_access_during_period": self.exposures(),
            "in_state_public_agencies_holding_access": self.holders_in_state,
            "repeat_targets": [row.as_dict() for row in self.repeat_targets()],
        }
