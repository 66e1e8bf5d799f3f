"""The audit's pattern sections: who holds access now (with days of exposure) and repeat targets."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.audit import AuditRun
from monitor.engine import Engine
from tests.patterns_helpers import engine
from tests.patterns_scenario import (
    DAYS,
    GRANT_DAY,
    ICE,
    LOOKUP_AGENCY,
    LOOKUP_DAY,
    REVOKE_DAY,
    START,
    Scenario,
    build,
)


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Scenario, Path, dict[str, Any]]:
    judge = engine()
    scenario = build()
    out = tmp_path_factory.mktemp("audit")
    run = AuditRun(judge, out, progress=False, parallel=False)
    run.consume(scenario.events)
    run.finish()
    return judge, scenario, out, json.loads((out / "summary.json").read_text())


class TestPatternSections:
    def test_who_holds_access_now(self, audited: tuple[Engine, Scenario, Path, dict[str, Any]]) -> None:
        """At the end of the input the out-of-state agency holds access (with its days), ICE no longer does."""
        _, _, _, figures = audited
        holders = {row["recipient"]: row for row in figures["who_holds_access_now"]}
        assert ICE not in holders  # revoked on day 150
        texas = holders[LOOKUP_AGENCY]
        assert texas["prohibited"] is True
        assert texas["granted_via"] == "search"
        last_day = date.fromisoformat(figures["period"][1][:10])
        since = date.fromisoformat(texas["since"][:10])
        assert since == (START + timedelta(days=LOOKUP_DAY)).date()
        assert texas["days_of_exposure"] == (last_day - since).days + 1  # both days included
        assert texas["days_of_exposure"] >= DAYS - LOOKUP_DAY - 1
        assert figures["in_state_public_agencies_holding_access"] == 0

    def test_prohibited_access_during_the_period(self, audited: tuple[Engine, Scenario, Path, dict[str, Any]]) -> None:
        """ICE's revoked access is still reported with its full exposure, from the group approval to the revoke."""
        _, _, out, figures = audited
        rows = {row["recipient"]: row for row in figures["prohibited_access_during_period"]}
        ice = rows[ICE]
        assert ice["holds_access_now"] is False
        assert ice["days_of_exposure"] == REVOKE_DAY - GRANT_DAY + 1
        assert ice["approval_mode"] == "group"
        assert rows[LOOKUP_AGENCY]["holds_access_now"] is True
        assert "### Prohibited access during the period" in (out / "summary.md").read_text()

    def test_repeat_targets_rows(self, audited: tuple[Engine, Scenario, Path, dict[str, Any]]) -> None:
        """Each stalking target is a row with hashes, counts, days, reasons and whether a case number was given."""
        judge, scenario, _, figures = audited
        rows = {(row["user_hash"], row["plate_hash"]): row for row in figures["repeat_targets"]}
        hashing = judge.pseudonymizer
        for case, _, user, plate, _ in scenario.targets:
            row = rows[hashing.user(user), hashing.plate(plate)]
            assert row["searches"] >= 5, case
            assert row["days"] >= 3, case
            assert row["case_number_given"] is False, case
            assert row["reasons"], case
        missouri = rows[hashing.user("officer-mo"), hashing.plate("MOTGT01")]
        assert missouri["severity"] == "high"

    def test_findings_and_totals_include_pattern_alerts(
        self, audited: tuple[Engine, Scenario, Path, dict[str, Any]]
    ) -> None:
        """Pattern alerts are in findings.jsonl and the totals still add up; nothing names a plate or user."""
        _, scenario, out, figures = audited
        assert figures["totals"]["consistent"] is True
        assert (
            figures["alerts_by_kind"]["sharing.standing_access"]
            == figures["pattern_alerts_by_kind"]["sharing.standing_access"]
        )
        text = (out / "findings.jsonl").read_text() + (out / "summary.md").read_text()
        assert "EXPARTNR" not in text
        assert "officer-fl" not in text
        summary = (out / "summary.md").read_text()
        assert "## Who holds access now" in summary
        assert "## Repeat targets" in summary
        report = (out / "report.html").read_text()
        assert 'id="access-now"' in report
        assert 'id="repeat-targets"' in report
        assert "Texas Department of Public Safety" in report
        assert "EXPARTNR" not in report
        assert "officer-fl" not in report
        assert len(scenario.targets) == 8
