"""`alpr-monitor check`: alerts on stdout, unreadable lines on stderr, exit status 0 / 1 / 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.alerts import decode_alert

ENV = {**os.environ, "ALPR_PSEUDONYM_KEY": "check-tests-key-0123456789"}


def run_check(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "check", *args], input=stdin, capture_output=True, env=ENV, timeout=60
    )


def line(event_id: str, requester: str, reason: str = "burglary 25-1") -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "event_type": "query",
            "occurred_at": "2025-04-22T17:03:11Z",
            "owner": {"agency": "Oakland CA PD", "state": "CA"},
            "requester": {"agency": requester, "user": "u-1"},
            "query": {"plate": "7ABC123", "reason": reason, "search_type": "search"},
        }
    )


class TestCheckCommand:
    def test_clean_input_exits_zero(self, tmp_path: Path) -> None:
        """Clean events give no output and exit status 0."""
        path = tmp_path / "clean.jsonl"
        path.write_text(line("a", "Alameda County CA SO") + "\n")
        result = run_check(str(path))
        assert result.returncode == 0, result.stderr
        assert result.stdout == b""
        assert b"1 events (1 clean, 0 alerted)" in result.stderr

    def test_alerts_and_bad_lines(self, tmp_path: Path) -> None:
        """Alerts go to stdout as JSON lines; a bad line is named with its line number and field; exit 1."""
        path = tmp_path / "mixed.jsonl"
        bad = json.loads(line("b", "FBI"))
        bad["query"]["devices_searched"] = "many"
        path.write_text("\n".join([line("a", "FBI"), "{oops", json.dumps(bad), line("c", "Alameda County CA SO")]))
        result = run_check(str(path))
        assert result.returncode == 1
        alerts = [decode_alert(raw) for raw in result.stdout.splitlines()]
        assert {(a.event_id, a.rule_id) for a in alerts} == {
            ("a", "ca.sb34.federal-recipient"),
            ("a", "oakland.no-federal-sharing"),
            ("a", "patterns.sharing.standing-access"),
            ("a", "patterns.volume.new-requester"),
        }
        errors = result.stderr.decode()
        assert f"{path}:2:" in errors
        assert "invalid_json" in errors
        assert f"{path}:3: event 'b' field $.query.devices_searched" in errors
        assert "4 records: 2 events (1 clean, 1 alerted), 2 invalid" in errors
        assert b"7ABC123" not in result.stdout

    def test_no_patterns_judges_each_event_alone(self, tmp_path: Path) -> None:
        """`--no-patterns` leaves out the pattern detectors: only the per-event rules' alerts."""
        path = tmp_path / "one.jsonl"
        path.write_text(line("a", "FBI") + "\n")
        result = run_check("--no-patterns", str(path))
        assert result.returncode == 1
        assert {decode_alert(raw).pack for raw in result.stdout.splitlines()} <= {"us-ca", "oakland"}
        assert b"0 pattern alerts" in result.stderr

    def test_reads_standard_input(self) -> None:
        """`-` reads events from standard input."""
        result = run_check("-", stdin=(line("a", "Reno NV PD") + "\n").encode())
        assert result.returncode == 1
        assert b"ca.sb34.out-of-state-recipient" in result.stdout

    @pytest.mark.parametrize(
        "args",
        [["/nonexistent/events.jsonl"], ["--policy", "/nonexistent/policy.yaml", "-"]],
    )
    def test_unusable_input_or_policy_exits_two(self, args: list[str]) -> None:
        """A missing input file or policy file gives exit status 2 and a message."""
        result = run_check(*args, stdin=b"")
        assert result.returncode == 2
        assert b"alpr-monitor" in result.stderr

    def test_unusable_second_input_stops_before_any_alert(self, tmp_path: Path) -> None:
        """With a readable first file and a missing second one, nothing is judged and the exit status is 2."""
        path = tmp_path / "events.jsonl"
        path.write_text(line("a", "FBI") + "\n")
        result = run_check(str(path), str(tmp_path / "missing.jsonl"))
        assert result.returncode == 2
        assert result.stdout == b""
