"""The documented case shapes, in six months of traffic: every case is flagged, no look-alike is paged."""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

import msgspec
import pytest

from monitor.alerts import Alert, decode_alert
from monitor.check import check_items
from monitor.engine import Engine
from monitor.patterns import BytesStore, PatternRunner, observe, replay
from monitor.patterns.offline import OfflinePatterns
from monitor.patterns.ordering import in_event_time
from tests.patterns_helpers import DETECTED_AT, context, engine
from tests.patterns_scenario import DAYS, GRANT_DAY, ICE, LOOKUP_AGENCY, LOOKUP_DAY, REVOKE_DAY, START, Scenario, build

PAGING = {"critical", "high"}
RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


@pytest.fixture(scope="module")
def judged() -> tuple[Engine, Scenario, list[Alert]]:
    judge = engine()
    scenario = build()
    out = io.BytesIO()
    check_items(judge, scenario.events, out, io.StringIO(), patterns=OfflinePatterns(judge, run_size=50_000))
    alerts = [decode_alert(line) for line in out.getvalue().splitlines()]
    return judge, scenario, [alert for alert in alerts if alert.pack == "patterns"]


class TestScenario:
    def test_long_beach_group_approval_alerts_every_day_until_revoke(
        self, judged: tuple[Engine, Scenario, list[Alert]]
    ) -> None:
        """ICE's access from the group approval alerts critically on each day from the grant to the revoke."""
        _, _, alerts = judged
        ice = [a for a in alerts if a.kind == "sharing.standing_access" and a.requester.agency == ICE]
        days = sorted({(a.occurred_at - START).days for a in ice})
        assert days == list(range(GRANT_DAY, REVOKE_DAY + 1))
        assert {a.severity for a in ice} == {"critical"}
        assert ice[0].evidence["approval_mode"] == "group"

    def test_national_lookup_is_seen(self, judged: tuple[Engine, Scenario, list[Alert]]) -> None:
        """The out-of-state flood gives a new requester once, surges, and standing access proven by searches."""
        _, _, alerts = judged
        texas = defaultdict(list)
        for alert in alerts:
            if alert.requester.agency == LOOKUP_AGENCY:
                texas[alert.kind].append(alert)
        assert len(texas["volume.new_requester"]) == 1
        assert texas["volume.surge"]
        assert min((a.occurred_at - START).days for a in texas["volume.surge"]) == LOOKUP_DAY
        standing = texas["sharing.standing_access"]
        assert standing[0].evidence["granted_via"] == "search"
        assert len(standing) >= DAYS - LOOKUP_DAY - 2

    def test_every_stalking_target_is_flagged(self, judged: tuple[Engine, Scenario, list[Alert]]) -> None:
        """Each target plate of the Florida, Wisconsin, Kansas and Missouri shapes reaches its tier."""
        judge, scenario, alerts = judged
        hashing = judge.pseudonymizer
        worst: dict[tuple[str | None, str | None], str] = {}
        for alert in alerts:
            if alert.kind == "misuse.repeat_target":
                key = (alert.user_hash, alert.plate_hash)
                if RANK[alert.severity] > RANK.get(worst.get(key, "low"), 0):
                    worst[key] = alert.severity
        missed = [
            (case, plate, tier, worst.get((hashing.user(user), hashing.plate(plate))))
            for case, _, user, plate, tier in scenario.targets
            if RANK.get(worst.get((hashing.user(user), hashing.plate(plate)), ""), -1) < RANK[tier]
        ]
        assert missed == []

    def test_no_look_alike_or_background_user_is_paged(self, judged: tuple[Engine, Scenario, list[Alert]]) -> None:
        """BOLO checks, a team on one case number, analysts and ordinary officers never raise a high alert."""
        judge, scenario, alerts = judged
        innocent = {judge.pseudonymizer.user(user) for _, user in scenario.look_alike_users | scenario.background_users}
        paged = [a for a in alerts if a.severity in PAGING and a.user_hash in innocent]
        assert paged == []
        # The look-alikes are really there, and not silently dropped: their searches reach the detectors.
        assert len(scenario.look_alike_users) == 12

    def test_in_state_agencies_hold_no_standing_alert(self, judged: tuple[Engine, Scenario, list[Alert]]) -> None:
        """Standing access alerts only name the prohibited recipients."""
        _, _, alerts = judged
        names = {a.requester.agency for a in alerts if a.kind == "sharing.standing_access"}
        assert names == {ICE, LOOKUP_AGENCY}

    def test_table_store_with_a_restore_gives_the_same_alerts(
        self, judged: tuple[Engine, Scenario, list[Alert]]
    ) -> None:
        """The scenario through byte stores (as Faust tables keep state), restored from bytes at the middle of the
        stream as after a crash, raises exactly the alerts `check` raised."""
        judge, scenario, expected = judged
        ordered = list(in_event_time(o for o in (observe(judge, e) for e in scenario.events) if o is not None))
        ctx = context(judge)
        first = PatternRunner(ctx)
        first = PatternRunner(ctx, stores={d.kind: BytesStore(d) for d in first.detectors})
        half = len(ordered) // 2
        raised = list(replay(first, ordered[:half]))
        restored = {}
        for detector in first.detectors:
            store: BytesStore[Any] = BytesStore(detector)
            old = first.stores[detector.kind]
            assert isinstance(old, BytesStore)
            store.data = dict(old.data)
            restored[detector.kind] = store
        raised += replay(PatternRunner(ctx, stores=restored), ordered[half:])
        assert sorted(a.alert_id for a in raised) == sorted(a.alert_id for a in expected)
        # Everything but detected_at (the wall clock of the run) is a function of the input.
        same_clock = {a.alert_id: msgspec.structs.replace(a, detected_at=DETECTED_AT) for a in expected}
        assert {a.alert_id: a for a in raised} == same_clock
