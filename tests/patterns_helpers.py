"""Event builders and a detector harness for the pattern tests (no broker)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from monitor.alerts import Alert
from monitor.engine import Engine, load_engine
from monitor.events import AccessEvent, Owner, Query, Requester, Sharing, Source
from monitor.hashing import Pseudonymizer
from monitor.patterns import Observation, PatternContext, PatternRunner, observe, replay
from monitor.patterns.ordering import in_event_time
from monitor.policy import parse_policy

KEY = b"pattern-tests-key-0123456789"
DETECTED_AT = datetime(2030, 1, 1, tzinfo=UTC)
T0 = datetime(2025, 2, 3, 9, 0, tzinfo=UTC)
LONG_BEACH = Owner(agency="Long Beach CA PD", state="CA")
_ids = count()


def engine(policy_yaml: str | None = None) -> Engine:
    """The shipped policy (or the given one) with the test key."""
    if policy_yaml is None:
        return load_engine(None, Pseudonymizer(KEY))
    return Engine(parse_policy(policy_yaml.encode(), "<test policy>"), Pseudonymizer(KEY))


def context(judge: Engine) -> PatternContext:
    return PatternContext(judge.policy, clock=lambda: DETECTED_AT)


def search(
    when: datetime,
    *,
    agency: str = "Long Beach CA PD",
    user: str | None = "officer-1",
    plate: str | None = "7ABC123",
    reason: str | None = "investigation",
    case_number: str | None = None,
    owner: Owner = LONG_BEACH,
    event_id: str | None = None,
) -> AccessEvent:
    return AccessEvent(
        event_id=event_id or f"s-{next(_ids)}",
        event_type="query",
        occurred_at=when,
        owner=owner,
        requester=Requester(agency=agency, user=user),
        query=Query(plate=plate, reason=reason, case_number=case_number, search_type="search"),
        source=Source(vendor="flock", log="network_audit"),
    )


def sharing(
    when: datetime,
    action: str,
    agency: str,
    *,
    mode: str | None = "single",
    actor: str | None = "admin-7",
    owner: Owner = LONG_BEACH,
    log: str = "event_log",
    event_id: str | None = None,
) -> AccessEvent:
    return AccessEvent(
        event_id=event_id or f"g-{next(_ids)}",
        event_type="sharing_change",
        occurred_at=when,
        owner=owner,
        requester=Requester(agency=agency),
        sharing=Sharing(action=action, approval_mode=mode, actor=actor),  # type: ignore[arg-type]
        source=Source(vendor="flock", log=log),
    )


def observations(judge: Engine, events: Iterable[AccessEvent]) -> list[Observation]:
    found = (observe(judge, event) for event in events)
    return [obs for obs in found if obs is not None]


def run(judge: Engine, events: Iterable[AccessEvent], runner: PatternRunner | None = None) -> list[Alert]:
    """Every pattern alert of `events`, offline: event-time order, daily advances, a sweep at the end."""
    runner = runner or PatternRunner(context(judge))
    return list(replay(runner, in_event_time(observations(judge, events))))


def days(n: float) -> timedelta:
    return timedelta(days=n)


def of_kind(alerts: Iterable[Alert], kind: str) -> list[Alert]:
    return [alert for alert in alerts if alert.kind == kind]


def evidence(alert: Alert, name: str) -> Any:
    return alert.evidence[name]
