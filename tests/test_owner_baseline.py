"""The owner-policy baseline: every owner's own policy is checked, whatever law packs its state has."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alert
from monitor.check import check_items
from monitor.engine import NO_STATE_LAW, Engine
from monitor.events import AccessEvent, decode_event
from monitor.hashing import Pseudonymizer
from monitor.policy import PolicyError, parse_policy
from monitor.retention import RETENTION_GRACE_DAYS, past_period, past_retention
from monitor.rules.conditions import ConditionError, compile_condition

KEY = b"owner-baseline-tests-key-0123456789"
NOW = datetime(2025, 11, 14, 0, 0, tzinfo=UTC)
SHERIFF = "Smith County TX SO"


def event(**changes: Any) -> AccessEvent:
    """A search of the Texas sheriff's data by its own deputy, with the given fields changed."""
    document: dict[str, Any] = {
        "event_id": "ev-1",
        "event_type": "query",
        "occurred_at": "2025-11-13T22:00:17Z",
        "owner": {"agency": SHERIFF, "state": "TX"},
        "requester": {"agency": SHERIFF, "user": "deputy.7"},
        "query": {
            "plate": "ABC1234",
            "reason": "burglary",
            "case_number": "25-1187",
            "offense_type": "Burglary",
            "time_frame_start": "2025-11-06T22:00:17Z",
            "networks_searched": 1,
            "devices_searched": 60,
            "search_type": "search",
        },
    }
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(document.get(key), dict):
            document[key] = {**document[key], **value}
        else:
            document[key] = value
    return decode_event(json.dumps(document))


def engine_for(settings: str = "", agency: str = SHERIFF, state: str = "TX") -> Engine:
    """An engine whose policy lists one owner with the given extra YAML lines (indented four spaces)."""
    text = f"owners:\n  - id: owner\n    agency: {agency}\n    state: {state}\n{settings}"
    return Engine(parse_policy(text.encode(), "test.yaml"), Pseudonymizer(KEY), clock=lambda: NOW)


def fired(engine: Engine, ev: AccessEvent) -> dict[str, Alert]:
    return {alert.rule_id: alert for alert in engine.judge(ev)}


class TestRetention:
    def test_texas_owner_gets_retention_findings(self) -> None:
        """A Texas owner (no state pack) with `retention_days: 30` gets retention findings from the baseline."""
        engine = engine_for("    retention_days: 30\n")
        alerts = fired(engine, event(query={"time_frame_start": "2024-06-01T00:00:00Z"}))
        alert = alerts["policy.retention-exceeded"]
        assert alert.kind == "retention.exceeded"
        assert alert.evidence["retention_days"] == "30"
        assert alert.evidence["reach_days"] == "530.9"
        assert alert.evidence["days_past_retention"] == "500.9"
        assert alert.evidence["grace_days"] == str(RETENTION_GRACE_DAYS)
        assert alert.evidence["retention_basis"] == "owner policy"

    @pytest.mark.parametrize(
        ("start", "expected"),
        [
            ("2025-10-14T22:00:17Z", False),  # exactly 30 days
            ("2025-10-13T22:00:18Z", False),  # a second short of 31 days: inside the grace day
            ("2025-10-13T22:00:16Z", True),  # a second past 31 days
        ],
    )
    def test_grace_day_boundary(self, start: str, expected: bool) -> None:
        """One grace day past the period is ordinary use; a second more is a finding."""
        engine = engine_for("    retention_days: 30\n")
        alerts = fired(engine, event(query={"time_frame_start": start}))
        assert ("policy.retention-exceeded" in alerts) is expected

    def test_no_retention_days_no_finding(self) -> None:
        """An owner whose policy states no retention period gets no retention finding."""
        assert "policy.retention-exceeded" not in fired(
            engine_for(), event(query={"time_frame_start": "2020-01-01T00:00:00Z"})
        )

    def test_one_definition(self) -> None:
        """`past_retention` is the grace the engine uses: 30 days + 1 grace day, in seconds."""
        assert not past_retention((30 + RETENTION_GRACE_DAYS) * 86_400, 30)
        assert past_retention((30 + RETENTION_GRACE_DAYS) * 86_400 + 1, 30)
        assert not past_retention(None, 30)


class TestPurpose:
    @pytest.mark.parametrize(
        ("reason", "rule"), [(None, "policy.purpose-missing"), ("inv", "policy.purpose-uninformative")]
    )
    def test_purpose_findings_on_by_default(self, reason: str | None, rule: str) -> None:
        """A listed owner with no switches gets missing and uninformative purposes as findings."""
        assert rule in fired(engine_for(), event(query={"reason": reason}))

    @pytest.mark.parametrize(
        ("switch", "reason", "rule"),
        [
            ("requires_purpose", None, "policy.purpose-missing"),
            ("requires_informative_purpose", "inv", "policy.purpose-uninformative"),
        ],
    )
    def test_purpose_findings_switch_off(self, switch: str, reason: str | None, rule: str) -> None:
        """An owner may switch each purpose finding off."""
        assert rule not in fired(engine_for(f"    {switch}: false\n"), event(query={"reason": reason}))

    def test_unlisted_owner_gets_purpose_defaults(self) -> None:
        """An owner not in the policy file still gets the default purpose checks."""
        engine = engine_for(agency="Somewhere Else TX PD")
        alerts = fired(engine, event(query={"reason": ""}))
        assert set(alerts) == {"policy.purpose-missing"}
        assert alerts["policy.purpose-missing"].owner.id == "other"

    def test_state_rule_supersedes_and_cites_both(self) -> None:
        """In California the statute's rule replaces the baseline's and carries the owner's document too."""
        engine = engine_for(
            "    policy_document: {title: Fresno PD ALPR Policy 462, url: 'https://example.org/462.pdf'}\n",
            agency="Fresno CA PD",
            state="CA",
        )
        alerts = fired(engine, event(owner={"agency": "Fresno CA PD", "state": "CA"}, query={"reason": None}))
        assert "policy.purpose-missing" not in alerts
        assert alerts["ca.sb34.purpose-missing"].citations == [
            "Cal. Civ. Code § 1798.90.52(a)(4)",
            "Fresno PD ALPR Policy 462 (https://example.org/462.pdf)",
        ]


class TestOtherSwitches:
    def test_case_number_required(self) -> None:
        """With `requires_case_number`, a search without one is an incomplete record naming only the case number."""
        engine = engine_for("    requires_case_number: true\n")
        alert = fired(engine, event(query={"case_number": None}, requester={"user": None}))[
            "policy.case-number-missing"
        ]
        assert alert.kind == "record.incomplete"
        assert alert.evidence["missing"] == "case_number"
        assert "policy.case-number-missing" not in fired(engine, event())
        assert "policy.case-number-missing" not in fired(engine_for(), event(query={"case_number": None}))

    def test_case_number_is_not_a_california_log_element(self) -> None:
        """California's access-log rule does not report a missing case number it does not require."""
        engine = engine_for(agency="Fresno CA PD", state="CA")
        alert = fired(
            engine,
            event(
                owner={"agency": "Fresno CA PD", "state": "CA"}, requester={"user": None}, query={"case_number": None}
            ),
        )["ca.sb34.record-incomplete"]
        assert alert.evidence["missing"] == "user"
        assert alert.summary.endswith("lacks required log elements: user")

    @pytest.mark.parametrize(
        ("offense", "expected"), [("Trespass", True), ("burglary", False), (None, False), ("***", False)]
    )
    def test_allowed_offense_types(self, offense: str | None, expected: bool) -> None:
        """A search naming an offense type outside the owner's list is a finding; absent or redacted is not."""
        engine = engine_for("    allowed_offense_types: [Burglary, Homicide]\n")
        alerts = fired(engine, event(query={"offense_type": offense}))
        assert ("policy.offense-type-not-allowed" in alerts) is expected
        if expected:
            alert = alerts["policy.offense-type-not-allowed"]
            assert alert.kind == "purpose.not_permitted"
            assert alert.evidence["offense_type"] == offense
            assert alert.evidence["allowed_offense_types"] == "burglary,homicide"

    def test_network_limit_evidence(self) -> None:
        """A search of more networks than `max_networks` is too wide; the evidence carries networks and devices."""
        engine = engine_for("    max_networks: 1\n")
        alert = fired(engine, event(query={"networks_searched": 312, "devices_searched": 41_000}))[
            "policy.search-too-wide"
        ]
        assert alert.kind == "search.too_wide"
        assert (alert.evidence["networks_searched"], alert.evidence["devices_searched"]) == ("312", "41000")
        assert alert.evidence["max_networks"] == "1"
        assert "policy.search-too-wide" not in fired(engine, event())
        assert "policy.search-too-wide" not in fired(engine_for(), event(query={"networks_searched": 312}))

    def test_prohibited_search_type(self) -> None:
        """A search type the owner prohibits (as the export spells it, any case) is too wide."""
        engine = engine_for("    prohibited_search_types: [Lookup]\n")
        assert "policy.search-too-wide" in fired(engine, event(query={"search_type": "lookup"}))
        assert "policy.search-too-wide" not in fired(engine, event(query={"search_type": "search"}))

    def test_prohibited_immigration_purpose_outside_california(self) -> None:
        """A Texas owner that prohibits immigration purposes gets a finding where no state law does."""
        engine = engine_for("    prohibited_purposes: [immigration]\n")
        assert "policy.prohibited-purpose-immigration" in fired(engine, event(query={"reason": "ICE warrant"}))
        assert "policy.prohibited-purpose-immigration" not in fired(
            engine_for(), event(query={"reason": "ICE warrant"})
        )

    def test_search_figures_on_every_search_alert(self) -> None:
        """Every alert on a search carries how far it reached: days back, networks and devices."""
        alert = fired(engine_for(), event(query={"reason": "inv", "networks_searched": 4}))[
            "policy.purpose-uninformative"
        ]
        assert (
            alert.evidence["reach_days"],
            alert.evidence["networks_searched"],
            alert.evidence["devices_searched"],
        ) == (
            "7.0",
            "4",
            "60",
        )


class TestPolicyFile:
    def test_policy_document_cited(self) -> None:
        """Owner-policy alerts cite the owner's own document, section and address."""
        engine = engine_for(
            "    retention_days: 30\n    policy_document: {title: Smith County SO Policy 462, section: '462.4'}\n"
        )
        alert = fired(engine, event(query={"time_frame_start": "2024-06-01T00:00:00Z"}))["policy.retention-exceeded"]
        assert alert.citations == ["Smith County SO Policy 462 § 462.4"]

    @pytest.mark.parametrize(
        ("settings", "message"),
        [
            ("    max_networks: 0\n", "max_networks"),
            ("    allowed_offense_types: []\n", "allowed_offense_types"),
            ("    policy_document: {url: 'https://example.org'}\n", "policy_document.title"),
        ],
    )
    def test_bad_baseline_settings_are_named(self, settings: str, message: str) -> None:
        """A bad baseline setting is refused with the field named."""
        with pytest.raises(PolicyError, match=message):
            engine_for(settings)

    def test_exception_on_unknown_period_refused(self) -> None:
        """A local exception testing a retention period no rule of the owner uses is refused, not silently dead."""
        settings = (
            "    retention_days: 30\n    exceptions:\n      - rule: policy.retention-exceeded\n"
            "        when: {search.reach: {past_days: 45}}\n        reason: archive searches approved by the sheriff\n"
        )
        with pytest.raises(PolicyError, match=r"retention periods no rule uses: \[45\]"):
            engine_for(settings)


class TestReachCondition:
    @pytest.mark.parametrize("value", [{"past_days": 0}, {"past_days": "30"}, {"gte": 30}, 30, {"past_days": True}])
    def test_bad_reach_condition(self, value: object) -> None:
        """A reach condition takes only a positive number of days."""
        with pytest.raises(ConditionError, match="past_days"):
            compile_condition({"search.reach": value})


class TestNoStateLaw:
    def test_check_summary_says_no_state_law_pack(self) -> None:
        """`check`'s closing summary names the owner with no state law pack."""
        engine = engine_for("    retention_days: 30\n")
        summary = check_items(engine, [event()], io.BytesIO(), io.StringIO())
        assert summary.render().splitlines()[1] == f"check: {SHERIFF} (TX): {NO_STATE_LAW}"

    def test_owner_with_state_pack_not_listed(self) -> None:
        """An owner whose state has a pack does not appear in the note."""
        engine = engine_for(agency="Little Rock AR PD", state="AR")
        summary = check_items(
            engine, [event(owner={"agency": "Little Rock AR PD", "state": "AR"})], io.BytesIO(), io.StringIO()
        )
        assert summary.no_state_law == []
        assert len(summary.render().splitlines()) == 1

    def test_audit_summary_data(self, tmp_path: Path) -> None:
        """The audit's summary.json and summary.md carry the note for the report to show."""
        from monitor.audit import AuditRun

        engine = engine_for("    retention_days: 30\n")
        run = AuditRun(engine, tmp_path / "out", progress=False, parallel=False)
        run.consume([event(query={"time_frame_start": "2024-06-01T00:00:00Z"})])
        run.finish()
        figures = json.loads((tmp_path / "out" / "summary.json").read_text())
        assert figures["owners_without_state_law"] == [
            {"owner": SHERIFF, "state": "TX", "in_policy_file": True, "note": NO_STATE_LAW}
        ]
        assert figures["alerts_by_rule"]["policy.retention-exceeded"] == 1
        assert NO_STATE_LAW in (tmp_path / "out" / "summary.md").read_text()


class TestPastPeriod:
    def test_past_period_counts_inside_the_grace(self) -> None:
        """The report's wider count includes searches inside the grace day; findings do not."""
        half_day_past = (30 + 0.5) * 86_400
        assert past_period(half_day_past, 30)
        assert not past_retention(half_day_past, 30)
        assert not past_period(30 * 86_400, 30)


class TestCheckCommand:
    def test_two_inputs_keep_the_note(self, tmp_path: Path) -> None:
        """`alpr-monitor check` over two files: the closing summary names the owner with no state law pack."""
        import os
        import subprocess
        import sys

        policy = tmp_path / "policy.yaml"
        policy.write_text(f"owners:\n  - {{id: so, agency: {SHERIFF}, state: TX, retention_days: 30}}\n")
        first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        first.write_text(json.dumps(json.loads(_encoded(event(event_id="a")))) + "\n")
        second.write_text(json.dumps(json.loads(_encoded(event(event_id="b", query={"reason": None})))) + "\n")
        result = subprocess.run(
            [sys.executable, "-m", "cli", "check", "--policy", str(policy), str(first), str(second)],
            capture_output=True,
            env={**os.environ, "ALPR_PSEUDONYM_KEY": "baseline-tests-key-0123456789"},
            timeout=60,
        )
        assert result.returncode == 1
        lines = result.stderr.decode().splitlines()
        assert lines[-1] == f"check: {SHERIFF} (TX): {NO_STATE_LAW}"
        assert [json.loads(row)["rule_id"] for row in result.stdout.decode().splitlines()] == ["policy.purpose-missing"]


def _encoded(ev: AccessEvent) -> bytes:
    from monitor.events import encode_event

    return encode_event(ev)
