"""The standing-access page stays open until the revoke: the pattern rules under the real promtool."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from promtool import PROMETHEUS_DIR, run_tool

pytestmark = pytest.mark.prometheus

RULES = PROMETHEUS_DIR / "rules" / "patterns.yml"
TESTS = PROMETHEUS_DIR / "tests" / "patterns_test.yml"


class TestPatternRules:
    def test_unit_tests_pass(self) -> None:
        """`promtool test rules` passes: the page opens with the grant and closes only after the revoke."""
        proc = run_tool("promtool", "test", "rules", TESTS)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_without_keep_firing_the_page_would_close_early(self, tmp_path: Path) -> None:
        """Without keep_firing_for, a restart's gap in the gauge closes the page: the unit tests catch it."""
        staged = tmp_path / "prometheus"
        shutil.copytree(PROMETHEUS_DIR, staged)
        rules = staged / "rules" / "patterns.yml"
        text = rules.read_text(encoding="utf-8")
        bare = text.replace("        keep_firing_for: 15m\n", "")
        assert bare != text
        rules.write_text(bare, encoding="utf-8")
        proc = run_tool("promtool", "test", "rules", staged / "tests" / "patterns_test.yml")
        assert proc.returncode != 0
        assert "time: 39m" in proc.stdout + proc.stderr

    def test_summing_over_workers_is_required(self, tmp_path: Path) -> None:
        """Taken per worker instead of summed, the page would name one worker's rows only: the tests catch it."""
        staged = tmp_path / "prometheus"
        shutil.copytree(PROMETHEUS_DIR, staged)
        rules = staged / "rules" / "patterns.yml"
        text = rules.read_text(encoding="utf-8")
        summed = 'sum by (owner, jurisdiction) (alpr_prohibited_active_grants{jurisdiction!="unresolved"})'
        per_worker = text.replace(summed, 'alpr_prohibited_active_grants{jurisdiction!="unresolved"}')
        assert per_worker != text
        rules.write_text(per_worker, encoding="utf-8")
        proc = run_tool("promtool", "test", "rules", staged / "tests" / "patterns_test.yml")
        assert proc.returncode != 0
