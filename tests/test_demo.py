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
from streams.sample import LONG_BEACH_STORY, REPEAT_TARGET, SampleMessage, sample_messages

ROOT = Path(__file__).resolve().parents[1]
SEVERITY_WORDS = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
PATTERN_KINDS = frozenset(
    {
        "sharing.standing_access",
        "misuse.repeat_target",
        "misuse.isolated_session",
        "volume.new_requester",
        "volume.surge",
    }
)


def _sample() -> list[SampleMessage]:
    return sample_messages(datetime.now(UTC))


def _printed_pattern_lines(stdout: str, kind: str) -> list[tuple[str, str]]:
    """(first line, second line) of every printed alert of `kind`."""
    return [
        (first, second)
        for first, second in itertools.pairwise(stdout.splitlines())
        if first.split()[:1] and first.split()[0] in SEVERITY_WORDS and first.split()[1] == kind
    ]


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
        # An event counts as alerted when a rule fires on it; a pattern it tips does not change its outcome.
        outcome = Counter(
            "invalid" if message.expect == ("dlq",) else "alerted" if set(message.expect) - PATTERN_KINDS else "clean"
            for message in sample
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


class TestDemoPatterns:
    def test_long_beach_standing_access_repeats_daily_until_the_revoke(
        self, demo: subprocess.CompletedProcess[str]
    ) -> None:
        """The group approval that lets ICE in raises a standing-access alert on day 1, again on days 2 and 3
        (event time), and none after the revoke on day 4."""
        grant = f"{LONG_BEACH_STORY}sharing-0107"
        days = sorted(
            int(second.split(" day ", 1)[1].split()[0])
            for first, second in _printed_pattern_lines(demo.stdout, "sharing.standing_access")
            if second.rstrip().endswith(f"event {grant}")
        )
        assert days == [1, 2, 3], demo.stdout
        revoke = f"{LONG_BEACH_STORY}sharing-0112"
        assert not [pair for pair in _printed_alerts(demo.stdout) if pair[1] == revoke]

    def test_repeat_target_officer_is_flagged_medium_then_high(self, demo: subprocess.CompletedProcess[str]) -> None:
        """The officer searching one plate twice a day gets a medium alert at the 5th search and a high one at
        the 10th, showing the counts; the plate itself is never printed."""
        lines = _printed_pattern_lines(demo.stdout, "misuse.repeat_target")
        tiers = sorted((second.rsplit("event ", 1)[1].strip(), first.split()[0]) for first, second in lines)
        assert tiers == [(f"{REPEAT_TARGET}04", "MEDIUM"), (f"{REPEAT_TARGET}09", "HIGH")], demo.stdout
        assert "10 searches on 5 days" in demo.stdout
