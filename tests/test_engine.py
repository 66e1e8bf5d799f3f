"""The engine: owners, facts, rules and alerts together, on events like the real incidents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import KINDS, encode_alert
from monitor.engine import Engine, load_engine
from monitor.events import AccessEvent, decode_event
from monitor.hashing import Pseudonymizer
from monitor.policy import PolicyError, load_policy, parse_policy

KEY = b"engine-tests-key-0123456789abcdef"
NOW = datetime(2025, 4, 22, 17, 3, 12, tzinfo=UTC)


def event(**changes: Any) -> AccessEvent:
    document: dict[str, Any] = {
        "event_id": "ev-1",
        "event_type": "query",
        "occurred_at": "2025-04-22T17:03:11Z",
        "owner": {"agency": "Oakland CA PD", "state": "CA"},
        "requester": {"agency": "Alameda County CA SO", "user": "officer.jones"},
        "query": {"plate": "7ABC123", "reason": "stolen vehicle 25-0412", "search_type": "search"},
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    return decode_event(json.dumps(document))


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy(None), Pseudonymizer(KEY), clock=lambda: NOW)


def rule_ids(engine: Engine, ev: AccessEvent) -> set[str]:
    return {alert.rule_id for alert in engine.judge(ev)}


FRESNO = {"agency": "Fresno CA PD", "state": "CA"}


def fresno_engine(tmp_path: Path, settings: str) -> Engine:
    """An engine whose policy lists Fresno PD with the given extra YAML lines (indented four spaces)."""
    path = tmp_path / "p.yaml"
    path.write_text("owners:\n  - id: fresno\n    agency: Fresno CA PD\n    state: CA\n" + settings)
    return load_engine(path, Pseudonymizer(KEY))


class TestIncidents:
    def test_clean_in_state_search(self, engine: Engine) -> None:
        """A California sheriff searching Oakland's data for a stolen car raises nothing."""
        assert engine.judge(event()) == []

    def test_chp_on_behalf_of_ice(self, engine: Engine) -> None:
        """CHP searching 'on behalf of ICE' is a federal recipient and an immigration purpose."""
        ids = rule_ids(engine, event(requester={"agency": "California Highway Patrol", "on_behalf_of": "ICE"}))
        assert {"ca.sb34.federal-recipient", "ca.values-act.immigration-purpose", "oakland.no-federal-sharing"} <= ids

    def test_in_state_agency_with_immigration_reason(self, engine: Engine) -> None:
        """An in-state requester whose reason shows ICE still violates the Values Act."""
        ids = rule_ids(engine, event(requester={"agency": "California Highway Patrol"}, query={"reason": "ICE case"}))
        assert ids == {"ca.values-act.immigration-purpose"}

    def test_out_of_state_requester(self, engine: Engine) -> None:
        """An out-of-state agency searching California data is flagged by state law and Oakland's policy."""
        ids = rule_ids(engine, event(requester={"agency": "Acworth GA PD"}))
        assert ids == {"ca.sb34.out-of-state-recipient", "oakland.no-out-of-state-sharing"}

    def test_long_beach_group_approval(self, engine: Engine) -> None:
        """One action approving 312 requests is a group approval without command review."""
        ev = event(
            owner={"agency": "Long Beach CA PD"},
            requester={"agency": "Torrance CA PD", "user": "contractor-1"},
            event_type="sharing_change",
            query=None,
            sharing={"action": "approve_request", "approval_mode": "group", "batch_size": 312},
        )
        assert rule_ids(engine, ev) == {"long-beach.group-approval", "long-beach.command-review"}

    def test_unlisted_owner_gets_state_pack(self, engine: Engine) -> None:
        """An owner missing from the policy still gets its state's law, found from the event's state."""
        ev = event(owner={"agency": "Fresno CA PD", "state": "CA"}, requester={"agency": "FBI"})
        alerts = engine.judge(ev)
        assert {alert.rule_id for alert in alerts} == {"ca.sb34.federal-recipient"}
        assert alerts[0].owner.id == "other"


class TestAlerts:
    def test_alert_ids_are_deterministic(self, engine: Engine) -> None:
        """The same event judged twice gives the same alert ids."""
        ev = event(requester={"agency": "FBI"})
        assert [a.alert_id for a in engine.judge(ev)] == [a.alert_id for a in engine.judge(ev)]

    def test_alert_carries_contract_fields(self, engine: Engine) -> None:
        """A federal alert carries kind, severity, citations, jurisdiction, evidence and the policy version."""
        (alert,) = [a for a in engine.judge(event(requester={"agency": "FBI"})) if a.rule_id.startswith("ca.")]
        assert alert.kind == "recipient.federal"
        assert alert.kind in KINDS
        assert alert.severity == "critical"
        assert "Cal. Civ. Code § 1798.90.55(b)" in alert.citations
        assert alert.requester.jurisdiction == "federal"
        assert alert.evidence["resolved_by"]
        assert alert.policy_version == engine.version
        assert len(alert.policy_version) == 12
        assert alert.detected_at == NOW

    def test_plate_and_user_never_in_clear(self, engine: Engine) -> None:
        """Neither the plate nor the user name appears in an alert; their keyed hashes do."""
        alerts = engine.judge(event(requester={"agency": "FBI"}))
        text = b"".join(encode_alert(alert) for alert in alerts).decode()
        assert "7ABC123" not in text
        assert "officer.jones" not in text
        assert alerts[0].plate_hash == Pseudonymizer(KEY).plate("7abc 123")
        assert alerts[0].user_hash == Pseudonymizer(KEY).user("officer.jones")

    def test_immigration_evidence_shows_span(self, engine: Engine) -> None:
        """An immigration alert shows the matched words and where they stand in the reason."""
        reason = "assist ICE ERO with pickup"
        (alert,) = engine.judge(event(query={"reason": reason}))
        start, end = (int(part) for part in alert.evidence["span"].split("-"))
        assert reason[start:end] == alert.evidence["matched"]
        assert "ICE" in alert.evidence["matched"]


class TestPolicy:
    def test_policy_version_is_content_hash(self) -> None:
        """Two different policy texts give two versions; the same text gives the same one."""
        text = b"owners: [{id: x, agency: X, state: CA}]\n"
        assert parse_policy(text, "a").version == parse_policy(text, "b").version
        assert parse_policy(text, "a").version != parse_policy(text + b"name: x\n", "a").version

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (b"owners: [{id: x, agency: X, state: Cali}]", "owners.0.state"),
            (b"owners: [{id: x, agency: X, state: CA, colour: red}]", "owners.0.colour"),
            (b"owners: [{id: x, agency: X, state: CA}, {id: x, agency: Y, state: CA}]", "duplicate owner ids"),
            (b"owners: [", "not valid YAML"),
            (b"", "is empty or holds only comments"),
            (b"# every owner removed\n\n", "is empty or holds only comments"),
            (b"owners: []\n", "lists no owners"),
            (b"name: registry only\nregistry: [{agency: FBI, class: federal}]\n", "lists no owners"),
            (b"owners: [{id: x, agency: X, state: CA, retention_days: 99999999}]", "owners.0.retention_days"),
        ],
    )
    def test_invalid_policy_is_named(self, text: bytes, message: str) -> None:
        """A bad policy names the file and the key."""
        with pytest.raises(PolicyError, match=message):
            parse_policy(text, "policy.yaml")

    def test_unknown_pack_and_exception_rule(self, tmp_path: Path) -> None:
        """An owner naming an unknown pack, or an exception for a rule it lacks, is refused at load."""
        path = tmp_path / "p.yaml"
        path.write_text("owners: [{id: x, agency: X, state: CA, packs: [us-xx]}]")
        with pytest.raises(PolicyError, match="unknown packs"):
            load_engine(path, Pseudonymizer(KEY))
        path.write_text(
            "owners: [{id: x, agency: X, state: CA, packs: [us-ca],"
            " exceptions: [{rule: il.2-130.no-declaration, when: {recipient: federal}, reason: test}]}]"
        )
        with pytest.raises(PolicyError, match="does not apply"):
            load_engine(path, Pseudonymizer(KEY))

    def test_local_exception_suppresses_rule(self, tmp_path: Path) -> None:
        """An owner's documented exception silences one rule for the matching events only."""
        engine = fresno_engine(
            tmp_path,
            "    exceptions:\n"
            "      - rule: ca.sb34.out-of-state-recipient\n"
            "        when: {requester.name: reno nv pd}\n"
            "        reason: mutual-aid agreement under court order 24-17\n",
        )
        owner = FRESNO
        assert rule_ids(engine, event(owner=owner, requester={"agency": "Reno NV PD"})) == set()
        assert rule_ids(engine, event(owner=owner, requester={"agency": "Acworth GA PD"})) == {
            "ca.sb34.out-of-state-recipient"
        }

    def test_agreement_dates_are_respected(self, tmp_path: Path) -> None:
        """With agreements required, access is clean inside the agreement's dates and flagged outside."""
        engine = fresno_engine(
            tmp_path,
            "    requires_agreement: true\n"
            "    agreements: [{agency: Clovis CA PD, state: CA, since: 2025-01-01, until: 2025-06-30}]\n",
        )
        owner = FRESNO
        inside = event(owner=owner, requester={"agency": "Clovis CA PD"})
        outside = event(owner=owner, requester={"agency": "Clovis CA PD"}, occurred_at="2025-07-01T00:00:00Z")
        assert rule_ids(engine, inside) == set()
        assert rule_ids(engine, outside) == {"policy.no-agreement"}


class TestPolicyExamples:
    def test_all_rule_examples_pass(self) -> None:
        """Every shipped rule fires on its must-fire examples and stays silent on its must-not-fire ones."""
        from monitor.rules.examples import run_examples
        from monitor.rules.pack import load_builtin_packs

        failures = [r.detail for r in run_examples(load_builtin_packs()) if not r.passed]
        assert failures == []


class TestPurposeProfileCache:
    def test_case_number_folding_changes_no_profile(self) -> None:
        """Folding free-standing case numbers before caching gives the same purpose profile for every real reason."""
        import csv

        from monitor.engine import _profile, purpose_profile

        data = Path(__file__).resolve().parents[1].parent / "shared" / "data"
        with (data / "flock-portal-search-audit-eugene-2025.csv").open(encoding="utf-8") as handle:
            reasons = {row["reason"] for row in csv.DictReader(handle)}
        reasons |= {"287(g) detainer", "I-247 request", "ice 287g", "26-13287", "ICE case 25-1", "#12345"}
        differ = [r for r in reasons if purpose_profile(r) != _profile.__wrapped__(r)]
        assert differ == []

    def test_terms_with_digits_survive_folding(self) -> None:
        """287(g) and I-247 still read as immigration after case numbers are folded."""
        from monitor.engine import purpose_profile

        assert "immigration" in purpose_profile("287(g) task force 24-118")[0]
        assert "immigration" in purpose_profile("I-247 detainer 2025/00123")[0]


class TestRetention:
    def test_last_n_days_search_is_not_a_breach(self, engine: Engine) -> None:
        """A search over 'the last 30 days' run minutes later does not breach Oakland's 30-day retention."""
        ev = event(query={"time_frame_start": "2025-03-23T16:58:00Z"})
        assert rule_ids(engine, ev) == set()

    def test_search_beyond_retention_is_a_breach(self, engine: Engine) -> None:
        """A search reaching 45 days back breaches a 30-day retention and says how far it reached."""
        (alert,) = engine.judge(event(query={"time_frame_start": "2025-03-08T17:03:11Z"}))
        assert alert.rule_id == "oakland.retention-30-days"
        assert alert.evidence["reach_days"] == "45.0"
        assert alert.evidence["retention_days"] == "30"


class TestReviewFixes:
    def test_proxy_summary_names_who_got_the_data(self, engine: Engine) -> None:
        """When CHP searches on behalf of ICE, the federal alert names ICE and says it went through CHP."""
        alerts = engine.judge(event(requester={"agency": "California Highway Patrol", "on_behalf_of": "ICE"}))
        (federal,) = [a for a in alerts if a.rule_id == "ca.sb34.federal-recipient"]
        assert federal.summary == (
            "Federal agency ICE got access to Oakland CA PD's ALPR data through California Highway Patrol"
        )

    def test_owner_state_by_name(self, engine: Engine) -> None:
        """An owner state written out ('California') selects the same law as 'CA'."""
        by_code = rule_ids(
            engine, event(owner={"agency": "Fresno Police Department", "state": "CA"}, requester={"agency": "FBI"})
        )
        by_name = rule_ids(
            engine,
            event(owner={"agency": "Fresno Police Department", "state": "California"}, requester={"agency": "FBI"}),
        )
        assert by_code == by_name == {"ca.sb34.federal-recipient"}

    def test_owner_without_a_state_goes_to_review(self, engine: Engine) -> None:
        """An owner the monitor cannot place is reviewed, never judged clean."""
        ids = rule_ids(
            engine, event(owner={"agency": "Glendale Police Department", "state": None}, requester={"agency": "FBI"})
        )
        assert ids == {"policy.owner-state-unknown"}

    def test_proxy_papers_do_not_cover_the_party_acted_for(self, tmp_path: Path) -> None:
        """An agreement held by the proxy does not cover the agency it searched for."""
        engine = fresno_engine(
            tmp_path, "    requires_agreement: true\n    agreements: [{agency: Clovis CA PD, state: CA}]\n"
        )
        owner = FRESNO
        direct = event(owner=owner, requester={"agency": "Clovis CA PD"})
        proxied = event(owner=owner, requester={"agency": "Clovis CA PD", "on_behalf_of": "Madera CA PD"})
        assert rule_ids(engine, direct) == set()
        assert rule_ids(engine, proxied) == {"policy.no-agreement"}

    def test_agreement_days_are_utc(self, tmp_path: Path) -> None:
        """The same instant written with two offsets is judged the same against an agreement's last day."""
        engine = fresno_engine(
            tmp_path,
            "    requires_agreement: true\n    agreements: [{agency: Clovis CA PD, state: CA, until: 2025-12-31}]\n",
        )
        owner = FRESNO
        utc = event(owner=owner, requester={"agency": "Clovis CA PD"}, occurred_at="2026-01-01T02:00:00+00:00")
        pacific = event(owner=owner, requester={"agency": "Clovis CA PD"}, occurred_at="2025-12-31T18:00:00-08:00")
        assert rule_ids(engine, utc) == rule_ids(engine, pacific) == {"policy.no-agreement"}

    @pytest.mark.parametrize("reason", ["287 (g) task force 24-118", "I 247 detainer", "287 (g)"])
    def test_spaced_immigration_terms_survive_folding(self, engine: Engine, reason: str) -> None:
        """Case-number folding never hides a spaced immigration term."""
        assert "ca.values-act.immigration-purpose" in rule_ids(engine, event(query={"reason": reason}))

    @pytest.mark.parametrize("state", ["ZZ", "Californ"])
    def test_policy_state_must_be_a_state(self, state: str) -> None:
        """A policy naming a state that does not exist is refused with the key."""
        with pytest.raises(PolicyError, match="is not a US state"):
            parse_policy(f"owners: [{{id: x, agency: X, state: {state}}}]".encode(), "policy.yaml")
