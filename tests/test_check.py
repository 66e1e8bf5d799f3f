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

    def test_more_files_than_open_file_limit(self, tmp_path: Path) -> None:
        """`check logs/*.jsonl` over more files than the process may hold open (1,024 is common) judges them all."""
        import resource

        paths = []
        for index in range(300):
            path = tmp_path / f"day-{index:03d}.jsonl"
            path.write_text(line(f"e{index}", "FBI") + "\n")
            paths.append(str(path))

        def few_files() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

        result = subprocess.run(
            [sys.executable, "-m", "cli", "check", *paths],
            capture_output=True,
            env=ENV,
            timeout=120,
            preexec_fn=few_files,
        )
        assert result.returncode == 1, result.stderr.decode()[-2000:]
        assert b"300 events (0 clean, 300 alerted)" in result.stderr

    def test_unusable_second_input_stops_before_any_alert(self, tmp_path: Path) -> None:
        """With a readable first file and a missing second one, nothing is judged and the exit status is 2."""
        path = tmp_path / "events.jsonl"
        path.write_text(line("a", "FBI") + "\n")
        result = run_check(str(path), str(tmp_path / "missing.jsonl"))
        assert result.returncode == 2
        assert result.stdout == b""


def run_cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cli", *args], input=stdin, capture_output=True, env=ENV, timeout=60)


def event_bytes(**changes: object) -> bytes:
    event = json.loads(line("h", "Alameda County CA SO"))
    event.update(changes)
    return json.dumps(event).encode()


class TestCheckNeverCrashes:
    @pytest.mark.parametrize(
        "raw",
        [
            b'{"event_id": "deep", "x": ' + b"[" * 1_000 + b"]" * 1_000 + b"}",
            b'{"event_id": "deep2", "x": ' + b'{"a":' * 3_000 + b"1" + b"}" * 3_000 + b"}",
            event_bytes(occurred_at="0001-01-01T00:00:00+05:00"),
            event_bytes(occurred_at="9999-12-31T23:59:59-05:00"),
            event_bytes(query={"time_frame_start": "0001-01-01T00:00:00+05:00", "reason": "x"}),
            event_bytes(event_type="7ABC123"),
            b"[" * 60_000,
        ],
    )
    def test_hostile_line_is_reported_not_a_traceback(self, raw: bytes) -> None:
        """A hostile line is one invalid record on stderr; no traceback; exit 2 (invalid, no alert), never 1."""
        stdin = line("ok", "Alameda County CA SO").encode() + b"\n" + raw + b"\n"
        result = run_check("-", stdin=stdin)
        assert b"Traceback" not in result.stderr, result.stderr.decode()[-2000:]
        assert result.returncode == 2, result.stderr
        assert b"2 records: 1 events (1 clean, 0 alerted), 1 invalid" in result.stderr
        assert b"7ABC123" not in result.stderr
        assert b"of shape of shape" not in result.stderr  # masked once, at decoding

    @pytest.mark.parametrize("cut", [30, 200])
    def test_cut_short_gzip_is_named_as_damaged(self, tmp_path: Path, cut: int) -> None:
        """A gzip input cut short (in its header or mid-stream) is a damaged file named on stderr, never
        an "internal error"; the events before the cut are judged; exit 2."""
        import gzip

        whole = gzip.compress("".join(line(f"e{n}", "Alameda County CA SO") + "\n" for n in range(200)).encode())
        path = tmp_path / "events.jsonl.gz"
        path.write_bytes(whole[:cut])
        result = run_check(str(path))
        assert result.returncode == 2, result.stderr
        assert b"internal error" not in result.stderr
        assert f"{path}: damaged or incomplete compressed data".encode() in result.stderr

    def test_event_at_the_size_limit_after_a_byte_order_mark(self, tmp_path: Path) -> None:
        """An event of exactly 64 KiB on a first line that starts with a BOM is one event, judged, not two bad lines."""
        from monitor.events import MAX_EVENT_BYTES

        event = line("big", "FBI", reason="x")
        event = event.replace('"x"', '"' + "x" * (MAX_EVENT_BYTES - len(event.encode()) + 1) + '"')
        assert len(event.encode()) == MAX_EVENT_BYTES
        path = tmp_path / "bom.jsonl"
        path.write_bytes(b"\xef\xbb\xbf" + event.encode() + b"\n")
        result = run_check(str(path))
        assert result.returncode == 1, result.stderr
        assert b"1 records: 1 events (0 clean, 1 alerted), 0 invalid" in result.stderr

    def test_concatenated_files_with_byte_order_marks_are_all_judged(self, tmp_path: Path) -> None:
        """`cat a.jsonl b.jsonl` of two files that start with a BOM: the event after the second BOM is judged too."""
        path = tmp_path / "joined.jsonl"
        path.write_bytes(b"".join(b"\xef\xbb\xbf" + line(name, "FBI").encode() + b"\n" for name in ("a", "b")))
        result = run_check(str(path))
        assert result.returncode == 1, result.stderr
        assert {decode_alert(raw).event_id for raw in result.stdout.splitlines()} == {"a", "b"}
        assert b"0 invalid" in result.stderr

    def test_year_edge_with_agreements_is_an_invalid_field(self, tmp_path: Path) -> None:
        """Year 0001 for an owner with sharing agreements is an invalid field, not an OverflowError in the engine."""
        policy = tmp_path / "policy.yaml"
        policy.write_text(
            "owners:\n  - {id: oakland, agency: Oakland CA PD, state: CA, requires_agreement: true,\n"
            "     agreements: [{agency: Alameda County CA SO, state: CA, since: 2020-01-01}]}\n"
        )
        stdin = event_bytes(occurred_at="0001-01-01T00:00:00+05:00") + b"\n"
        result = run_check("--policy", str(policy), "-", stdin=stdin)
        assert b"Traceback" not in result.stderr
        assert b"field $.occurred_at: invalid_field: year 1 is outside 1970..2100" in result.stderr


class TestCheckExitStatus:
    def test_invalid_records_without_alerts_exit_two(self, tmp_path: Path) -> None:
        """Clean events plus an unreadable line: exit 2, since not every record could be judged."""
        path = tmp_path / "events.jsonl"
        path.write_text(line("a", "Alameda County CA SO") + "\n{oops\n")
        result = run_check(str(path))
        assert result.returncode == 2
        assert b"1 invalid" in result.stderr

    def test_alerts_win_over_invalid_records(self, tmp_path: Path) -> None:
        """Alerts plus an unreadable line: exit 1, the alert is what the caller must act on first."""
        path = tmp_path / "events.jsonl"
        path.write_text(line("a", "FBI") + "\n{oops\n")
        assert run_check(str(path)).returncode == 1

    def test_skipped_records_do_not_change_the_status(self, tmp_path: Path) -> None:
        """Blank lines are not records: clean events and blank lines exit 0."""
        path = tmp_path / "events.jsonl"
        path.write_text("\n\n" + line("a", "Alameda County CA SO") + "\n\n")
        result = run_check(str(path))
        assert result.returncode == 0, result.stderr


class TestCheckFormatDetection:
    @pytest.mark.parametrize("first", ["", "   ", "{oops", "not json at all", "[1, 2]", "\ufeff"])
    def test_odd_first_line_of_json_lines_is_reported_not_fatal(self, tmp_path: Path, first: str) -> None:
        """A blank or bad first line is that line's problem; the events after it are still judged."""
        path = tmp_path / "events.jsonl"
        path.write_text(first + "\n" + line("a", "FBI") + "\n" + line("b", "Alameda County CA SO") + "\n")
        result = run_check(str(path))
        assert result.returncode == 1, result.stderr
        assert b"ca.sb34.federal-recipient" in result.stdout
        if first.strip("\ufeff ").strip():
            assert f"{path}:1:".encode() in result.stderr

    @pytest.mark.parametrize("fixture", ["flock-network-audit-2024.csv", "flock-event-log-2026.csv"])
    def test_leading_blank_lines_before_a_csv_header(self, tmp_path: Path, fixture: str) -> None:
        """Lines of spaces before a vendor CSV header do not make a known format unreadable."""
        original = Path(__file__).parent / "fixtures" / "ingest" / fixture
        padded = tmp_path / fixture
        padded.write_bytes(b"  \n\t\n\n" + original.read_bytes())
        options = ("--owner", "Oakland CA PD", "--owner-state", "CA")
        expected, result = run_check(*options, str(original)), run_check(*options, str(padded))
        assert result.returncode == expected.returncode == 1, result.stderr
        alerts = [(a.rule_id, a.kind, a.owner) for a in map(decode_alert, result.stdout.splitlines())]
        assert alerts == [(a.rule_id, a.kind, a.owner) for a in map(decode_alert, expected.stdout.splitlines())]


class TestEmptyPolicy:
    @pytest.mark.parametrize("content", ["", "# owners to come\n", "owners: []\n"])
    def test_check_refuses_an_empty_policy(self, tmp_path: Path, content: str) -> None:
        """`check` with an empty or comment-only policy exits 2 with a clear message."""
        policy = tmp_path / "policy.yaml"
        policy.write_text(content)
        result = run_check("--policy", str(policy), "-", stdin=(line("a", "FBI") + "\n").encode())
        assert result.returncode == 2
        assert b"no owners" in result.stderr
        assert result.stdout == b""

    def test_policy_lint_reports_an_empty_policy(self, tmp_path: Path) -> None:
        """`policy lint --policy` counts an empty policy file as a problem."""
        policy = tmp_path / "policy.yaml"
        policy.write_text("# nothing here\n")
        result = run_cli("policy", "lint", "--policy", str(policy))
        assert result.returncode == 1
        assert b"1 problems" in result.stdout
        assert b"no owners" in result.stdout


class TestTopLevelHelp:
    def test_help_says_what_the_tool_is_for(self) -> None:
        """`alpr-monitor --help` describes the monitor, not the module's internals."""
        result = run_cli("--help")
        assert result.returncode == 0
        text = result.stdout.decode()
        assert "licence-plate" in text.lower() or "license plate" in text.lower()
        assert "lazily" not in text
        assert "above both" not in text


class TestPseudonymKey:
    @pytest.mark.parametrize(
        ("command", "key"),
        [("worker", None), ("worker", "too-short-key"), ("check", "too-short-key"), ("audit", "too-short-key")],
    )
    def test_missing_or_short_key_is_unusable_configuration(
        self, tmp_path: Path, command: str, key: str | None
    ) -> None:
        """A missing (worker) or short pseudonym key exits 2 (do not restart) with a message, no traceback, no key."""
        from tests.kafka_broker import free_loopback_ports

        env = {k: v for k, v in ENV.items() if not k.startswith("ALPR_")}
        env |= {"ALPR_BROKER": f"kafka://127.0.0.1:{free_loopback_ports(1)[0]}", "ALPR_DATA_DIR": str(tmp_path)}
        if key is not None:
            env["ALPR_PSEUDONYM_KEY"] = key
        path = tmp_path / "clean.jsonl"
        path.write_text(line("a", "Alameda County CA SO") + "\n")
        args = {"worker": [], "check": [str(path)], "audit": [str(path), "--out", str(tmp_path / "out")]}[command]
        result = subprocess.run([sys.executable, "-m", "cli", command, *args], capture_output=True, env=env, timeout=60)
        assert result.returncode == 2, result.stderr.decode()[-2000:]
        assert b"Traceback" not in result.stderr
        assert b"ALPR_PSEUDONYM_KEY" in result.stderr
        assert b"too-short-key" not in result.stderr + result.stdout


class TestUnusableSettings:
    @pytest.mark.parametrize("command", ["worker", "check"])
    @pytest.mark.parametrize(("variable", "value"), [("ALPR_METRICS_PORT", "abc"), ("ALPR_LOG_FORMAT", "xml")])
    def test_bad_setting_exits_two_naming_the_variable(
        self, tmp_path: Path, command: str, variable: str, value: str
    ) -> None:
        """A setting that does not validate exits 2 (do not restart) naming the variable, with no traceback."""
        from tests.kafka_broker import free_loopback_ports

        path = tmp_path / "clean.jsonl"
        path.write_text(line("a", "Alameda County CA SO") + "\n")
        env = {**ENV, variable: value, "ALPR_BROKER": f"kafka://127.0.0.1:{free_loopback_ports(1)[0]}"}
        args = [str(path)] if command == "check" else []
        result = subprocess.run([sys.executable, "-m", "cli", command, *args], capture_output=True, env=env, timeout=60)
        assert result.returncode == 2, result.stderr.decode()[-2000:]
        assert b"Traceback" not in result.stderr
        assert variable.encode() in result.stderr

    def test_bad_notifier_setting_exits_two_naming_the_variable(self, tmp_path: Path) -> None:
        """An ALPR_NOTIFY_* value that does not validate exits 2 naming the variable, with no traceback."""
        from tests.kafka_broker import free_loopback_ports

        config = tmp_path / "endpoints.yaml"
        config.write_text("endpoints:\n  - name: w\n    kind: webhook\n    url: http://127.0.0.1:9/x\n")
        env = {
            **ENV,
            "ALPR_NOTIFY_CONCURRENCY": "abc",
            "ALPR_BROKER": f"kafka://127.0.0.1:{free_loopback_ports(1)[0]}",
        }
        result = subprocess.run(
            [sys.executable, "-m", "cli", "notify", "--config", str(config)], capture_output=True, env=env, timeout=60
        )
        assert result.returncode == 2, result.stderr.decode()[-2000:]
        assert b"Traceback" not in result.stderr
        assert b"ALPR_NOTIFY_CONCURRENCY" in result.stderr


class TestUnusableDataDir:
    def test_worker_data_dir_that_cannot_be_made_exits_two(self, tmp_path: Path) -> None:
        """An ALPR_DATA_DIR that cannot be created (read-only root, a file in the way) exits 2 naming the setting."""
        from tests.kafka_broker import free_loopback_ports

        blocker = tmp_path / "a-file"
        blocker.write_text("")
        env = {
            **ENV,
            "ALPR_DATA_DIR": str(blocker / "worker"),
            "ALPR_METRICS_PORT": "0",
            "ALPR_BROKER": f"kafka://127.0.0.1:{free_loopback_ports(1)[0]}",
        }
        result = subprocess.run([sys.executable, "-m", "cli", "worker"], capture_output=True, env=env, timeout=120)
        assert result.returncode == 2, result.stderr.decode()[-2000:]
        assert b"Traceback" not in result.stderr
        assert b"ALPR_DATA_DIR" in result.stderr
