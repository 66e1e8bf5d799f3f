"""`sharing.standing_access`: who holds access to an owner's data, and a daily alert while a prohibited one does.

One row per owner and recipient (the Long Beach shape: a group approval let ICE in for ten months). A row
starts active on a grant or approval (a sharing event, or a grant inferred from two snapshots of a sharing
list) or on the first search that proves access exists; a revoke ends it. While a recipient the owner may
not share with (the engine's recipient or agreement rules fired on it: federal, out of state, non-public,
unresolved, or no agreement the owner requires) holds access, the detector raises one alert on the day
access begins and one for every further UTC day, with `active_since` and `active_days`, until the revoke.
The daily alerts come from `advance` (and from any observation of the row, should advances be missed):
each has its own id (owner, recipient, day) and `occurred_at` on that day, so a late or repeated advance
neither skips a day nor repeats one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import msgspec

from monitor.alerts import Alert, AlertOwner, AlertRequester, Severity
from monitor.patterns.detector import KEEP, Detector, Notes, PatternContext, Step, iso, pattern_alert, pattern_alert_id
from monitor.patterns.observation import Observation

__all__ = ["GAUGE_CLASSES", "StandingAccess", "StandingAccessState", "gauge_class"]

RULE_ID = "patterns.sharing.standing-access"
TITLE = "Prohibited recipient holds standing access"
# One advance raises at most this many daily alerts: a timestamp centuries ahead (a bad record, an attack)
# must not make millions. Older days of such a gap are skipped; `active_days` still counts them.
MAX_CATCH_UP_DAYS = 366
# Revoked rows are kept this long (what the audit shows as past access), then dropped.
KEEP_REVOKED_DAYS = 90
# The gauge's jurisdiction label (alpr_prohibited_active_grants): private, tribal and test bodies are non-public.
GAUGE_CLASSES = ("federal", "out_of_state", "non_public", "unresolved", "in_state")
_NON_PUBLIC = frozenset({"private", "tribal", "placeholder"})


def gauge_class(jurisdiction: str) -> str:
    """A recipient's jurisdiction class as the gauge labels it (bounded)."""
    return "non_public" if jurisdiction in _NON_PUBLIC else jurisdiction


class StandingAccessState(msgspec.Struct, kw_only=True, gc=False):
    """One owner-recipient row of the sharing table."""

    owner_id: str
    owner_agency: str
    owner_state: str | None
    recipient: str
    jurisdiction: str
    active: bool
    since: datetime | None = None  # when the current access began
    granted_via: str | None = None  # sharing_event | snapshot | search
    approval_mode: str | None = None  # single | group | lookup setting, as the source says
    granted_by: str | None = None  # actor hash
    grant_event_id: str | None = None
    first_search: datetime | None = None
    last_search_day: date | None = None
    prohibited: Severity | None = None
    prohibited_rule: str | None = None
    citations: tuple[str, ...] = ()
    alerted_through: date | None = None  # last day of exposure alerted
    revoked_at: datetime | None = None

    @property
    def label(self) -> tuple[str, str]:
        """(owner, jurisdiction) labels of `alpr_prohibited_active_grants`."""
        return self.owner_id, gauge_class(self.jurisdiction)

    def active_days(self, day: date) -> int:
        """Days of exposure up to and including `day` (the first day counts as 1)."""
        return 0 if self.since is None else (day - self.since.date()).days + 1


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


class StandingAccess(Detector[StandingAccessState]):
    kind = "sharing.standing_access"
    state_type = StandingAccessState
    ticks_daily = True

    def state_key(self, obs: Observation) -> str | None:
        if obs.action == "search" and obs.prohibited is None and obs.jurisdiction == "in_state":
            # The owner's own state's public agencies may search: their rows come from grants and lists only.
            return None
        return obs.agency_key

    def step(
        self, state: StandingAccessState | None, obs: Observation, ctx: PatternContext, notes: Notes
    ) -> Step[StandingAccessState]:
        if not ctx.settings_for(obs.owner_id).standing_access.enabled:
            return KEEP, []
        key = obs.agency_key
        when = obs.occurred_at
        if obs.action == "revoke":
            if state is None or not state.active:
                return KEEP, []
            state.active, state.revoked_at = False, when
            return state, []
        if state is None or not state.active:
            new = StandingAccessState(
                owner_id=obs.owner_id,
                owner_agency=obs.owner_agency,
                owner_state=obs.owner_state,
                recipient=obs.requester_agency,
                jurisdiction=obs.jurisdiction,
                active=True,
                since=when,
                granted_via=obs.via,
                approval_mode=obs.approval_mode,
                granted_by=obs.actor_hash,
                grant_event_id=obs.event_id,
                first_search=when if obs.action == "search" else (state.first_search if state else None),
                last_search_day=when.date() if obs.action == "search" else (state.last_search_day if state else None),
                prohibited=obs.prohibited,
                prohibited_rule=obs.prohibited_rule,
                citations=obs.citations,
            )
            alerts = self._due(key, new, when, ctx)
            if alerts:
                new.alerted_through = alerts[-1].occurred_at.date()
            return new, alerts
        changes: dict[str, object] = {}
        if obs.action == "search":
            if state.first_search is None:
                changes["first_search"] = when
            if state.last_search_day != when.date():
                changes["last_search_day"] = when.date()
        elif state.granted_via == "search":
            # A grant seen after the searches that proved access says how it was granted.
            changes.update(granted_via=obs.via, approval_mode=obs.approval_mode, granted_by=obs.actor_hash)
        if obs.prohibited != state.prohibited or obs.jurisdiction != state.jurisdiction:
            # The policy in force decides: a new agreement ends the alerts, a new prohibition starts them.
            if state.prohibited is None and obs.prohibited is not None:
                # Days before the prohibition took effect were not exposure: count from today.
                changes["alerted_through"] = when.date() - timedelta(days=1)
            changes.update(
                prohibited=obs.prohibited,
                prohibited_rule=obs.prohibited_rule,
                citations=obs.citations,
                jurisdiction=obs.jurisdiction,
            )
        for name, value in changes.items():
            setattr(state, name, value)
        alerts = self._due(key, state, when, ctx)
        if alerts:
            state.alerted_through = alerts[-1].occurred_at.date()
        elif not changes:
            return KEEP, []
        return state, alerts

    def advance(
        self, key: str, state: StandingAccessState, now: datetime, ctx: PatternContext
    ) -> Step[StandingAccessState]:
        if not state.active:
            if state.revoked_at is not None and now - state.revoked_at > timedelta(days=KEEP_REVOKED_DAYS):
                return None, []
            return KEEP, []
        alerts = self._due(key, state, now, ctx)
        if not alerts:
            return KEEP, []
        state.alerted_through = alerts[-1].occurred_at.date()
        return state, alerts

    def _due(self, key: str, state: StandingAccessState, now: datetime, ctx: PatternContext) -> list[Alert]:
        """The alerts for each day of exposure from the last one alerted through `now`'s day."""
        if (
            not state.active
            or state.prohibited is None
            or state.since is None
            or not ctx.settings_for(state.owner_id).standing_access.enabled
        ):
            return []
        first = state.since.date()
        day = first if state.alerted_through is None else max(first, state.alerted_through + timedelta(days=1))
        day = max(day, now.date() - timedelta(days=MAX_CATCH_UP_DAYS - 1))
        alerts = []
        while day <= now.date():
            alerts.append(self._alert(key, state, day, ctx))
            day += timedelta(days=1)
        return alerts

    def _alert(self, key: str, state: StandingAccessState, day: date, ctx: PatternContext) -> Alert:
        assert state.since is not None
        assert state.prohibited is not None
        active_days = state.active_days(day)
        occurred_at = state.since if day == state.since.date() else _midnight(day)
        evidence = {
            "active_since": iso(state.since),
            "active_days": str(active_days),
            "window_start": iso(state.since),
            "window_end": iso(_midnight(day) + timedelta(days=1)),
            "granted_via": state.granted_via or "",
            "approval_mode": state.approval_mode or "",
            "granted_by": state.granted_by or "",
            "first_search": iso(state.first_search) if state.first_search else "",
            "last_search_day": state.last_search_day.isoformat() if state.last_search_day else "",
            "prohibited_by": state.prohibited_rule or "",
            "event_ids": state.grant_event_id or "",
            "count": str(active_days),
        }
        how = {"search": "searches prove", "snapshot": "a sharing list shows", "sharing_event": "a grant gave"}
        return pattern_alert(
            ctx,
            kind=self.kind,
            rule_id=RULE_ID,
            title=TITLE,
            severity=state.prohibited,
            summary=(
                f"{state.recipient} has held access to {state.owner_agency}'s ALPR data for {active_days} "
                f"day{'s' if active_days != 1 else ''} ({how.get(state.granted_via or '', 'access seen')}); "
                "it must be revoked"
            ),
            alert_id=pattern_alert_id(self.kind, key, day.isoformat()),
            event_id=state.grant_event_id or "",
            occurred_at=occurred_at,
            owner=AlertOwner(agency=state.owner_agency, state=state.owner_state, id=state.owner_id),
            requester=AlertRequester(agency=state.recipient, jurisdiction=state.jurisdiction),
            evidence=evidence,
            citations=state.citations,
        )
