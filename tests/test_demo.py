"""`alpr-monitor demo --once`: the real worker on librdkafka's in-process mock cluster judges the built-in sample."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from streams.demo import ONCE_TIMEOUT_S
from streams.sample import SampleMessage, sample_messages

ROOT = Path(__file__).resolve().parents[1]
SEVERITY_WORDS = ("CRITICAL", "HIGH", "MEDIUM", "LOW")


def _sample() -> list[SampleMessage]:
    return sample_messages(datetime.now(UTC))


def _printed_alerts(stdout: str) -> set[tuple[str, str]]:
    """(kind, event id) of every alert printed: the kind on an alert's first line, the event id on its second."""
    lines = stdout.splitlines()
    found = set()
    for first, second in itertools.pairwise(lines):
        words = first.split()
        if words and words[0] in SEVERITY_WORDS and "event " in second:
            found.add((words[1], second.rsplit("event ", 1)[1].strip()))
    return found


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ALPR_PSEUDONYM_KEY": "demo-test-key-0123456789abcdef", "ALPR_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "cli", "demo", "--once", "--metrics-port", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        # A bound so a hung demo fails the test; the demo's own --once limit comes first.
        timeout=ONCE_TIMEOUT_S + 60,
        check=False,
    )


class TestDemoOnce:
    def test_exits_zero_after_the_sample(self, demo: subprocess.CompletedProcess[str]) -> None:
        """With --once the demo stops by itself with status 0 once every sample message is accounted for."""
        assert demo.returncode == 0, demo.stdout + demo.stderr

    def test_prints_every_expected_alert(self, demo: subprocess.CompletedProcess[str]) -> None:
        """Every alert kind the sample is built to raise (federal, immigration...) is printed for its event."""
        expected = {(kind, message.key.decode()) for message in _sample() for kind in message.expect if kind != "dlq"}
        assert {kind for kind, _ in expected} >= {
            "recipient.federal", "purpose.immigration", "recipient.out_of_state", "sharing.group_approval",
        }  # fmt: skip
        missing = expected - _printed_alerts(demo.stdout)
        assert not missing, demo.stdout

    def test_clean_events_raise_no_alert(self, demo: subprocess.CompletedProcess[str]) -> None:
        """No alert is printed for a sample event meant to be clean."""
        clean = {message.key.decode() for message in _sample() if not message.expect}
        flagged = {event_id for _, event_id in _printed_alerts(demo.stdout)}
        assert not clean & flagged, demo.stdout

    def test_reports_the_malformed_message(self, demo: subprocess.CompletedProcess[str]) -> None:
        """The broken message is read back from the dead-letter topic and printed with its reason."""
        dlq_lines = [line for line in demo.stdout.splitlines() if line.split()[:1] == ["DLQ"]]
        assert len(dlq_lines) == sum(1 for message in _sample() if message.expect == ("dlq",))
        assert "invalid_json" in dlq_lines[0]

    def test_summary_accounts_for_every_message(self, demo: subprocess.CompletedProcess[str]) -> None:
        """The summary's events read equal clean + alerted + invalid, matching the sample's composition."""
        sample = _sample()
        outcome = Counter(
            "invalid" if message.expect == ("dlq",) else "alerted" if message.expect else "clean" for message in sample
        )
        line = (
            f"events read {len(sample)} = clean {outcome['clean']} + alerted {outcome['alerted']} "
            f"+ invalid {outcome['invalid']}"
        )
        assert line in demo.stdout

    def test_serves_metrics(self, demo: subprocess.CompletedProcess[str]) -> None:
        """/metrics is served during the demo and counts every sample message."""
        assert f"/metrics: alpr_events_processed_total {len(_sample())}" in demo.stdout

    def test_never_prints_a_plate_in_clear(self, demo: subprocess.CompletedProcess[str]) -> None:
        """No plate of the sample appears anywhere in the demo's output or logs."""
        plates = set()
        for message in _sample():
            try:
                document = msgspec.json.decode(message.value)
            except msgspec.DecodeError:
                continue
            if document.get("query"):
                plates.add(document["query"]["plate"])
        assert plates
        output = demo.stdout + demo.stderr
        assert not [plate for plate in plates if plate in output]
