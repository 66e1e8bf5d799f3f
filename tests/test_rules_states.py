"""State law packs beyond California and Illinois: chosen by the owner's state, each rule fires where its
statute is broken and nowhere else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.engine import Engine
from monitor.events import AccessEvent, decode_event
from monitor.hashing import Pseudonymizer
from monitor.policy import load_policy
from monitor.retention import RETENTION_GRACE_DAYS
from monitor.rules.examples import run_examples
from monitor.rules.pack import load_builtin_packs

KEY = b"state-pack-tests-key-0123456789ab"
PACKS = load_builtin_packs()
NEW_STATES = {
    "AR": "us-ar",
    "CO": "us-co",
    "GA": "us-ga",
    "MN": "us-mn",
    "MT": "us-mt",
    "NC": "us-nc",
    "NE": "us-ne",
    "OR": "us-or",
    "TN": "us-tn",
    "UT": "us-ut",
    "VT": "us-vt",
}
OCCURRED = datetime(2026, 5, 12, 17, 3, 11, tzinfo=UTC)  # after every pack's law came into force
RETENTION_RULES = [
    (pack, rule.id, rule.retention_days)
    for pack in (PACKS[name] for name in NEW_STATES.values())
    for rule in pack.rules
    if rule.kind == "retention.exceeded"
]


@pytest.fixture(scope="module")
def engine() -> Engine:
    """The shipped default policy: none of these states' owners is listed, so packs follow the event's state."""
    return Engine(load_policy(None), Pseudonymizer(KEY), PACKS)


def search(state: str, requester: str | None = None, **query: Any) -> AccessEvent:
    owner = f"Capital City {state} PD"
    document = {
        "event_id": f"{state}-1",
        "event_type": "query",
        "occurred_at": OCCURRED.isoformat(),
        "owner": {"agency": owner, "state": state},
        "requester": {"agency": requester or owner, "user": "u-1"},
        "query": {"plate": "ABC123", "reason": "stolen vehicle", "search_type": "search", **query},
    }
    return decode_event(json.dumps(document))


def fired(engine: Engine, ev: AccessEvent) -> set[str]:
    return {alert.rule_id for alert in engine.judge(ev)}


class TestSelection:
    @pytest.mark.parametrize(("state", "pack"), sorted(NEW_STATES.items()))
    def test_pack_chosen_by_owner_state(self, engine: Engine, state: str, pack: str) -> None:
        """An owner in the state gets that state's pack, and no other state's."""
        context = engine.owner_context(search(state))
        assert context.state_packs == (pack,)
        assert {rule.pack for rule in context.rules} >= {pack, "owner-policy"}

    def test_ten_states_packed(self) -> None:
        """At least ten states beyond California and Illinois have a law pack, each a state-law pack."""
        assert all(PACKS[name].is_state_law for name in NEW_STATES.values())
        assert len(NEW_STATES) >= 10


class TestExamples:
    @pytest.mark.parametrize("pack", sorted(NEW_STATES.values()))
    def test_every_example_behaves(self, pack: str) -> None:
        """Every must-fire and must-not-fire example of the pack behaves through the real engine."""
        results = run_examples({pack: PACKS[pack], "owner-policy": PACKS["owner-policy"]})
        mine = [result for result in results if result.pack == pack]
        assert mine
        assert [result.detail for result in mine if not result.passed] == []

    # Oregon's 2026 Act is cited as a whole: its section numbers could not be verified (see the pack).
    @pytest.mark.parametrize("pack", sorted(set(NEW_STATES.values()) - {"us-or"}))
    def test_rules_cite_the_statute(self, pack: str) -> None:
        """Every rule cites a section of its state's code, and has examples both ways."""
        for rule in PACKS[pack].rules:
            assert rule.spec.citations
            assert all(citation.section for citation in rule.spec.citations)
            assert rule.spec.examples.fire
            assert rule.spec.examples.not_fire


class TestRetentionLimits:
    @pytest.mark.parametrize(("pack", "rule_id", "days"), [(p.name, r, d) for p, r, d in RETENTION_RULES])
    def test_fires_just_past_the_grace_and_not_before(self, engine: Engine, pack: str, rule_id: str, days: int) -> None:
        """A search reaching a second past the period plus the grace day fires; a second short does not."""
        state = next(state for state, name in NEW_STATES.items() if name == pack)
        edge = OCCURRED - timedelta(days=days + RETENTION_GRACE_DAYS)
        assert rule_id in fired(engine, search(state, time_frame_start=(edge - timedelta(seconds=1)).isoformat()))
        assert rule_id not in fired(engine, search(state, time_frame_start=(edge + timedelta(seconds=1)).isoformat()))

    def test_statutory_period_in_evidence(self, engine: Engine) -> None:
        """A statute's retention alert names its own period, not the owner's, and how far past it the search went."""
        alerts = engine.judge(search("TN", time_frame_start="2025-05-12T17:03:11+00:00"))
        alert = next(a for a in alerts if a.rule_id == "tn.55-10-302.retention-90-days")
        assert alert.evidence["retention_days"] == "90"
        assert alert.evidence["retention_basis"] == "rule"
        assert alert.evidence["reach_days"] == "365.0"
        assert alert.evidence["days_past_retention"] == "275.0"
        assert alert.citations == ["Tenn. Code Ann. § 55-10-302(b)"]
        assert "365.0 days back" in alert.summary

    def test_owner_and_statute_periods_both_checked(self, tmp_path: Any) -> None:
        """An Arkansas owner with a 30-day policy: 60 days back breaks its policy only, 200 days both."""
        from monitor.engine import load_engine

        path = tmp_path / "p.yaml"
        path.write_text("owners:\n  - {id: lr, agency: Capital City AR PD, state: AR, retention_days: 30}\n")
        engine = load_engine(path, Pseudonymizer(KEY))
        sixty = fired(engine, search("AR", time_frame_start=(OCCURRED - timedelta(days=60)).isoformat()))
        two_hundred = fired(engine, search("AR", time_frame_start=(OCCURRED - timedelta(days=200)).isoformat()))
        assert "policy.retention-exceeded" in sixty
        assert "ar.alpr-act.retention-150-days" not in sixty
        assert {"policy.retention-exceeded", "ar.alpr-act.retention-150-days"} <= two_hundred


class TestRecipientsAndPurposes:
    @pytest.mark.parametrize("state", ["AR", "GA"])
    def test_private_recipient_fires_law_enforcement_does_not(self, engine: Engine, state: str) -> None:
        """Sharing only among law enforcement agencies: a private company fires, federal and other states do not."""
        rule_id = {"AR": "ar.alpr-act.non-law-enforcement-recipient", "GA": "ga.35-1-22.non-law-enforcement-recipient"}
        private = search(state, requester="TN - Loeb Properties Inc - Security")
        federal = search(state, requester="FBI")
        assert rule_id[state] in fired(engine, private)
        assert rule_id[state] not in fired(engine, federal)

    @pytest.mark.parametrize(
        ("state", "rule_id"),
        [("NE", "ne.60-3204.query-reason-missing"), ("MN", "mn.13-824.purpose-not-documented")],
    )
    def test_statute_purpose_rule_replaces_baseline(self, engine: Engine, state: str, rule_id: str) -> None:
        """Where a statute requires a documented reason, its rule fires in place of the baseline's."""
        rules = fired(engine, search(state, reason=None))
        assert rule_id in rules
        assert "policy.purpose-missing" not in rules

    def test_colorado_old_record_needs_reason(self, engine: Engine) -> None:
        """Colorado: a search past the first anniversary with no reason recorded is a finding; a recent one is not."""
        old = (OCCURRED - timedelta(days=500)).isoformat()
        assert "co.24-72-113.old-record-access-reason-missing" in fired(
            engine, search("CO", reason=None, time_frame_start=old)
        )
        recent = fired(engine, search("CO", reason=None, time_frame_start=(OCCURRED - timedelta(days=5)).isoformat()))
        assert "co.24-72-113.old-record-access-reason-missing" not in recent
        assert "policy.purpose-missing" in recent


class TestInForce:
    def test_law_not_applied_before_it_came_into_force(self, engine: Engine) -> None:
        """Oregon's 2026 Act judges searches from 31 March 2026 on, not earlier ones reaching as far."""
        before = decode_event(
            json.dumps(
                {
                    "event_id": "or-early",
                    "event_type": "query",
                    "occurred_at": "2026-03-30T23:59:59Z",
                    "owner": {"agency": "Capital City OR PD", "state": "OR"},
                    "requester": {"agency": "Capital City OR PD", "user": "u-1"},
                    "query": {"plate": "ABC123", "reason": "burglary", "time_frame_start": "2025-12-01T00:00:00Z"},
                }
            )
        )
        after = search("OR", time_frame_start="2026-01-01T00:00:00Z")
        assert "or.sb1516.retention-30-days" not in fired(engine, before)
        assert "or.sb1516.retention-30-days" in fired(engine, after)

    def test_summary_says_no_law_in_force_for_early_events(self) -> None:
        """Events before the Act are named as judged without state law, with the day the law began."""
        engine = Engine(load_policy(None), Pseudonymizer(KEY), PACKS)
        engine.judge(search("OR"))
        assert engine.owners_without_state_law() == []
        early = decode_event(
            json.dumps(
                {
                    "event_id": "or-2025",
                    "event_type": "query",
                    "occurred_at": "2025-06-01T00:00:00Z",
                    "owner": {"agency": "Capital City OR PD", "state": "OR"},
                    "requester": {"agency": "Capital City OR PD", "user": "u-1"},
                    "query": {"plate": "ABC123", "reason": "burglary"},
                }
            )
        )
        engine.judge(early)
        (entry,) = engine.owners_without_state_law()
        assert entry["state_law_from"] == "2026-03-31"
        assert str(entry["note"]).startswith("no state law pack: only the owner policy was checked for events before")
