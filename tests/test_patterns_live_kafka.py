"""Pattern detectors in `alpr-monitor worker` processes on the real broker: crash, rebalance, recovery.

Expected alerts come from running the same detectors offline over the same events (`replay` in event-time
order, as `check` does). Every wait is bounded, so a stuck worker fails the test with its log.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from conftest import PSEUDONYM_KEY
from kafka_broker import KafkaBroker, free_loopback_ports

from monitor.alerts import Alert, decode_alert
from monitor.engine import Engine
from monitor.events import AccessEvent, Owner, Query, Requester, Sharing, Source, encode_event
from monitor.patterns import PatternContext, PatternRunner, observe, partition_key, replay
from monitor.patterns.ordering import in_event_time
from streams.patterns import repartition_topic_name

REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4
PATTERN_KINDS = frozenset(
    {
        "sharing.standing_access",
        "misuse.repeat_target",
        "misuse.isolated_session",
        "volume.new_requester",
        "volume.surge",
    }
)
# Bounds on waiting, not timing checks: generous for a loaded CI machine.
START_DEADLINE_S = 90.0
DRAIN_DEADLINE_S = 150.0


@dataclass(frozen=True)
class Topics:
    app_id: str
    source: str
    alerts: str
    dlq: str


@pytest.fixture
async def topics(kafka_broker: KafkaBroker) -> Topics:
    """Fresh topics and consumer group for one test; the input topic has four partitions."""
    name = f"patterns-{uuid.uuid4().hex[:10]}"
    made = Topics(app_id=name, source=f"{name}.events", alerts=f"{name}.alerts", dlq=f"{name}.dlq")
    await kafka_broker.create_topic(made.source, partitions=PARTITIONS)
    await kafka_broker.create_topic(made.alerts, partitions=1)
    await kafka_broker.create_topic(made.dlq, partitions=1)
    return made


class Worker:
    """One `alpr-monitor worker` process with its own /metrics port and log file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_loopback_ports(1)[0]
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"],
            env={**env, "ALPR_METRICS_PORT": str(self.port)},
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def metrics_text(self) -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            return ""

    def processed(self) -> float:
        total = 0.0
        for line in self.metrics_text().splitlines():
            if line.startswith("alpr_events_processed_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()


@pytest.fixture
def start_worker(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[Callable[[Topics], Worker]]:
    """Start workers on a test's topics (timer every second); any still running at the end is killed."""
    started: list[Worker] = []

    def start(topics: Topics) -> Worker:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ALPR_")},
            "ALPR_BROKER": f"kafka://{kafka_broker.bootstrap}",
            "ALPR_INPUT_TOPIC": topics.source,
            "ALPR_ALERTS_TOPIC": topics.alerts,
            "ALPR_DLQ_TOPIC": topics.dlq,
            "ALPR_APP_ID": topics.app_id,
            "ALPR_PSEUDONYM_KEY": PSEUDONYM_KEY.decode(),
            "ALPR_DATA_DIR": str(tmp_path / f"faust-{len(started)}"),
            "ALPR_LOG_FORMAT": "json",
            "ALPR_PATTERN_TICK_SECONDS": "1",
            "ALPR_BATCH_SIZE": "200",
        }
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL, timeout=10)


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value, key=key) for key, value in messages])
    finally:
        await producer.stop()


def _by_owner(engine: Engine, events: list[AccessEvent]) -> list[tuple[bytes, bytes]]:
    return [(partition_key(engine, event), encode_event(event)) for event in events]


async def _alerts(bootstrap: str, topic: str) -> list[Alert]:
    """Every alert on the (one-partition) alerts topic so far."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, 0)
        found: list[Alert] = []
        next_offset = 0
        deadline = time.monotonic() + DRAIN_DEADLINE_S
        while next_offset < end:
            assert time.monotonic() < deadline, f"could not read {topic} to its end"
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for record in batch.get(tp, []):
                next_offset = record.offset + 1
                if record.value is not None:
                    found.append(decode_alert(record.value))
        return found
    finally:
        await consumer.stop()


async def _committed_lag(bootstrap: str, group: str, topic: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        done = {tp: committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0 for tp in partitions}
        return sum(ends[tp] - done[tp] for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()


async def _until(check: Callable[[], object], deadline_s: float, workers: list[Worker], what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        for worker in workers:
            if worker.proc.poll() is not None:
                pytest.fail(f"worker exited ({worker.proc.returncode}) waiting for {what}:\n{worker.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n" + "\n---\n".join(w.tail() for w in workers))
        await asyncio.sleep(0.25)


def _offline(engine: Engine, events: list[AccessEvent]) -> list[Alert]:
    """The pattern alerts the detectors raise offline over `events` in event-time order (what `check` does)."""
    runner = PatternRunner(PatternContext(engine.policy))
    observations = (obs for event in events if (obs := observe(engine, event)) is not None)
    return list(replay(runner, in_event_time(observations)))


def _search(
    event_id: str, at: datetime, owner: str, agency: str, user: str, plate: str, *, case: str | None = None
) -> AccessEvent:
    return AccessEvent(
        event_id=event_id,
        event_type="query",
        occurred_at=at,
        owner=Owner(agency=owner, state="CA"),
        requester=Requester(agency=agency, state="CA" if " CA " in f" {agency} " else None, user=user),
        query=Query(plate=plate, reason="investigation", case_number=case),
        source=Source(vendor="test", log="organization_audit"),
    )


def _stalking(prefix: str) -> list[AccessEvent]:
    """Ten searches of one plate by one officer over five days, no case number: high at the tenth."""
    start = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    return [
        _search(
            f"{prefix}-{i}",
            start + timedelta(days=i // 2, hours=i % 2),
            "Oakland CA PD",
            "Oakland CA PD",
            "ofc-17",
            "7ABC123",
        )
        for i in range(10)
    ]


def _mixed_stream(seed: int, count: int) -> list[AccessEvent]:
    """Months of background searches by many users over several owners, with repeat targets, a BOLO
    look-alike, outside agencies and a federal grant among them, in event-time order."""
    rnd = random.Random(seed)
    owners = ["Oakland CA PD", "Long Beach CA PD", "San Francisco CA PD", "Fresno CA PD", "Eugene OR PD"]
    agencies = [
        "Berkeley CA PD",
        "Alameda County CA SO",
        "California Highway Patrol",
        "Reno NV PD",
        "Federal Bureau of Investigation",
    ]
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    events: list[AccessEvent] = []
    for i in range(count):
        at = start + timedelta(minutes=37 * i)
        owner = rnd.choice(owners)
        agency = rnd.choice(agencies[:3]) if rnd.random() < 0.9 else rnd.choice(agencies[3:])
        events.append(
            _search(f"bg-{seed}-{i}", at, owner, agency, f"u-{rnd.randrange(40)}", f"{rnd.randrange(10**6):06d}X")
        )
        if i % 23 == 0:  # a stalker: one plate, a few times a week
            events.append(
                _search(
                    f"st-{seed}-{i}", at + timedelta(minutes=3), "Oakland CA PD", "Oakland CA PD", "ofc-17", "7ABC123"
                )
            )
        if i % 29 == 0:  # a second one in another owner's data
            events.append(
                _search(
                    f"st2-{seed}-{i}", at + timedelta(minutes=5), "Fresno CA PD", "Fresno CA PD", "det-9", "4XYZ777"
                )
            )
    for j in range(12):  # a BOLO plate checked every 30 minutes for one day: a look-alike, never high
        events.append(
            _search(
                f"bolo-{seed}-{j}",
                start + timedelta(days=9, minutes=30 * j),
                "Oakland CA PD",
                "Oakland CA PD",
                "ofc-5",
                "BOLO111",
            )
        )
    events.append(
        AccessEvent(
            event_id=f"grant-{seed}",
            event_type="sharing_change",
            occurred_at=start + timedelta(days=3),
            owner=Owner(agency="Long Beach CA PD", state="CA"),
            requester=Requester(agency="Immigration and Customs Enforcement"),
            sharing=Sharing(action="approve_request", direction="outbound", approval_mode="group", batch_size=312),
            source=Source(vendor="test", log="sharing_audit"),
        )
    )
    events.sort(key=lambda e: e.occurred_at)
    return events


@pytest.mark.kafka
class TestRecoveryAcrossSigkill:
    async def test_tenth_search_after_a_sigkill_at_the_ninth_raises_the_same_alert(
        self,
        kafka_broker: KafkaBroker,
        topics: Topics,
        start_worker: Callable[[Topics], Worker],
        reference_engine: Engine,
    ) -> None:
        """Nine searches committed, the worker SIGKILLed, the tenth sent to a new worker: the high repeat-target
        alert comes, with the id the detectors give offline (the count survived in the changelog)."""
        events = _stalking(f"kill-{uuid.uuid4().hex[:6]}")
        expected = [a for a in _offline(reference_engine, events) if a.kind == "misuse.repeat_target"]
        [high] = [a for a in expected if a.severity == "high"]
        assert high.event_id == events[9].event_id, "offline, the tenth search tips the high tier"
        messages = _by_owner(reference_engine, events)
        bootstrap = kafka_broker.bootstrap

        first = start_worker(topics)
        await _produce(bootstrap, topics.source, messages[:9])
        await _until(lambda: first.processed() >= 9, START_DEADLINE_S, [first], "nine events processed")
        # Input offsets committed: the next worker starts after the ninth, so only the table carries the count.
        await _until(
            lambda: _lag_is_zero(bootstrap, topics), DRAIN_DEADLINE_S, [first], "offsets of the nine committed"
        )
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL

        second = start_worker(topics)
        await _produce(bootstrap, topics.source, messages[9:])

        async def high_seen() -> bool:
            return any(a.alert_id == high.alert_id for a in await _alerts(bootstrap, topics.alerts))

        await _until(high_seen, DRAIN_DEADLINE_S, [second], "the high repeat-target alert")
        written = [a for a in await _alerts(bootstrap, topics.alerts) if a.kind == "misuse.repeat_target"]
        assert {a.alert_id for a in expected} <= {a.alert_id for a in written}
        assert all(a.alert_id in {e.alert_id for e in expected} for a in written), "no alert nobody expected"
        # The restarted worker began at the committed offset: the nine (but perhaps the last redelivered,
        # which the applied-offset marker keeps from counting twice) came from the changelog, not the input.
        assert second.processed() <= 2
        assert second.stop() == 0


async def _lag_is_zero(bootstrap: str, topics: Topics) -> bool:
    return await _committed_lag(bootstrap, topics.app_id, topics.source) == 0
