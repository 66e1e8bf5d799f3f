"""Pattern detectors in `alpr-monitor worker` processes on the real broker: crash, rebalance, recovery.

Expected alerts come from running the same detectors offline over the same events (`replay` in event-time
order, as `check` does). Every wait is bounded, so a stuck worker fails the test with its log.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
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
from aiokafka.errors import KafkaError
from conftest import PSEUDONYM_KEY
from kafka_broker import KafkaBroker, free_loopback_ports

from monitor.alerts import Alert, decode_alert
from monitor.engine import Engine
from monitor.events import AccessEvent, Owner, Query, Requester, Sharing, Source, encode_event
from monitor.patterns import PatternContext, PatternRunner, observe, partition_key, replay
from monitor.patterns.ordering import in_event_time
from streams.patterns import kafka_partition, repartition_topic_name
from streams.state_store import changelog_topic_name

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


def _stalking(prefix: str, user: str = "ofc-17", plate: str = "7ABC123") -> list[AccessEvent]:
    """Ten searches of one plate by one officer over five days, no case number: high at the tenth."""
    start = datetime(2025, 3, 3, 15, 0, tzinfo=UTC)
    return [
        _search(
            f"{prefix}-{i}",
            start + timedelta(days=i // 2, hours=i % 2),
            "Oakland CA PD",
            "Oakland CA PD",
            user,
            plate,
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
    try:
        return await _committed_lag(bootstrap, topics.app_id, topics.source) == 0
    except KafkaError:  # the group has no coordinator yet
        return False


def _grant(event_id: str, at: datetime, action: str = "approve_request") -> AccessEvent:
    return AccessEvent(
        event_id=event_id,
        event_type="sharing_change",
        occurred_at=at,
        owner=Owner(agency="Long Beach CA PD", state="CA"),
        requester=Requester(agency="Immigration and Customs Enforcement"),
        sharing=Sharing(action=action, direction="outbound", approval_mode="group", batch_size=312),  # type: ignore[arg-type]
        source=Source(vendor="test", log="sharing_audit"),
    )


@pytest.mark.kafka
class TestWallClockTimer:
    async def test_next_days_standing_access_alert_comes_without_an_event(
        self,
        kafka_broker: KafkaBroker,
        topics: Topics,
        start_worker: Callable[[Topics], Worker],
        reference_engine: Engine,
    ) -> None:
        """A federal agency let in at 23:59:50 (event time) gets its day-one alert at once, and its day-two
        alert from the worker's timer once the partition's clock passes midnight, with no further event;
        the prohibited-grant gauge counts it."""
        grant = _grant(f"grant-{uuid.uuid4().hex[:6]}", datetime(2025, 2, 11, 23, 59, 50, tzinfo=UTC))
        bootstrap = kafka_broker.bootstrap
        worker = start_worker(topics)
        await _produce(bootstrap, topics.source, _by_owner(reference_engine, [grant]))

        async def standing() -> list[Alert]:
            return [a for a in await _alerts(bootstrap, topics.alerts) if a.kind == "sharing.standing_access"]

        async def two_days() -> bool:
            return len(await standing()) >= 2

        await _until(two_days, DRAIN_DEADLINE_S, [worker], "standing-access alerts for two days")
        alerts = sorted(await standing(), key=lambda a: a.occurred_at)
        assert [a.evidence["active_days"] for a in alerts[:2]] == ["1", "2"]
        assert alerts[1].occurred_at == datetime(2025, 2, 12, tzinfo=UTC), "day two's alert falls on day two"
        assert worker.processed() == 1, "one event in, alerts for two days out"
        # The same ids the detector gives offline when time is advanced past midnight.
        runner = PatternRunner(PatternContext(reference_engine.policy))
        obs = observe(reference_engine, grant)
        assert obs is not None
        offline = runner.observe(obs) + runner.advance_all(datetime(2025, 2, 12, 0, 0, 5, tzinfo=UTC))
        assert [a.alert_id for a in alerts[:2]] == [a.alert_id for a in offline]

        def gauge_counts() -> bool:
            text = worker.metrics_text()
            return 'alpr_prohibited_active_grants{jurisdiction="federal",owner="long-beach-pd"} 1.0' in text

        await _until(gauge_counts, START_DEADLINE_S, [worker], "the prohibited-grant gauge")
        assert worker.stop() == 0


@pytest.mark.kafka
class TestRebalanceAndKeying:
    async def test_two_workers_one_killed_give_the_offline_pattern_alerts(
        self,
        kafka_broker: KafkaBroker,
        topics: Topics,
        start_worker: Callable[[Topics], Worker],
        reference_engine: Engine,
    ) -> None:
        """Two workers share four partitions; one is SIGKILLed mid-stream; the survivor takes its partitions
        over (state from the changelog) and every pattern alert of the offline run is written (duplicates
        allowed, none lost, none invented)."""
        events = _mixed_stream(11, 2500)
        expected = {a.alert_id: a for a in _offline(reference_engine, events)}
        assert {a.kind for a in expected.values()} >= {
            "misuse.repeat_target",
            "volume.new_requester",
            "sharing.standing_access",
        }
        bootstrap = kafka_broker.bootstrap
        workers = [start_worker(topics), start_worker(topics)]
        messages = _by_owner(reference_engine, events)
        third = len(messages) // 3
        # A third of the stream first; the busier worker is killed once both hold partitions (or one has
        # done 300 events), then the rest is sent: the survivor continues the dead one's partitions.
        await _produce(bootstrap, topics.source, messages[:third])

        def under_way() -> bool:
            done = [w.processed() for w in workers]
            return sum(done) >= 300 and (min(done) > 0 or max(done) >= third)

        await _until(under_way, DRAIN_DEADLINE_S, workers, "both workers under way")
        victim, survivor = sorted(workers, key=lambda w: w.processed(), reverse=True)
        assert victim.processed() > 0
        assert victim.stop(signal.SIGKILL) == -signal.SIGKILL
        await _produce(bootstrap, topics.source, messages[third:])
        await _until(lambda: _lag_is_zero(bootstrap, topics), DRAIN_DEADLINE_S * 2, [survivor], "the survivor drained")
        second = survivor

        async def all_written() -> bool:
            written = {a.alert_id for a in await _alerts(bootstrap, topics.alerts) if a.kind in PATTERN_KINDS}
            return set(expected) <= written

        await _until(all_written, DRAIN_DEADLINE_S, [second], "every offline pattern alert")
        written = [a for a in await _alerts(bootstrap, topics.alerts) if a.kind in PATTERN_KINDS]
        unexpected = {(a.kind, a.occurred_at.date()) for a in written if a.alert_id not in expected}
        # Live, the standing-access alert also covers the days the partition's clock has passed since.
        assert {kind for kind, _ in unexpected} <= {"sharing.standing_access"}, unexpected
        assert second.stop() == 0

    async def test_miskeyed_input_is_repartitioned_not_split(
        self,
        kafka_broker: KafkaBroker,
        topics: Topics,
        start_worker: Callable[[Topics], Worker],
        reference_engine: Engine,
    ) -> None:
        """Events keyed by event id (spread over every partition) reach their owner's partition through the
        repartition topic: the rule alerts are unchanged and the detectors find the same patterns as offline
        (same tiers, users, plates, recipients). The forwarded events arrive late, so which event tips a
        pattern (and so its id) may differ: keying by owner is what gives identical ids."""
        # Background traffic, and a stalker just at the high tier (ten searches): split over four partitions,
        # no partition would see enough of them.
        events = sorted(_mixed_stream(12, 300) + _stalking("mk", "ofc-88", "6MKY123"), key=lambda e: e.occurred_at)
        offline = _offline(reference_engine, events)
        assert [a for a in offline if a.kind == "misuse.repeat_target" and a.event_id == "mk-9"]
        rule_alerts = {a.alert_id for event in events for a in reference_engine.judge(event)}
        bootstrap = kafka_broker.bootstrap
        worker = start_worker(topics)
        await _produce(bootstrap, topics.source, [(e.event_id.encode(), encode_event(e)) for e in events])
        await _until(lambda: _lag_is_zero(bootstrap, topics), DRAIN_DEADLINE_S, [worker], "drained")
        await _until(
            lambda: _repartition_drained(bootstrap, topics), DRAIN_DEADLINE_S, [worker], "forwarded events drained"
        )
        written = await _alerts(bootstrap, topics.alerts)
        assert rule_alerts <= {a.alert_id for a in written}
        live = {_pattern(a) for a in written if a.kind in PATTERN_KINDS}
        assert {_pattern(a) for a in offline} == live
        forwarded = await _topic_size(bootstrap, repartition_topic_name(topics.app_id))
        assert 0 < forwarded < len(events), "the events off their owner's partition, and only those, took the hop"

        # The lag gauge is the input's, not the repartition topic's offsets mistaken for it.
        def lag_zero() -> bool:
            found = re.findall(r'^alpr_consumer_lag_messages\{partition="(\d+)"\} (\S+)$', worker.metrics_text(), re.M)
            return sorted(found) == [(str(p), "0.0") for p in range(PARTITIONS)]

        await _until(lag_zero, START_DEADLINE_S, [worker], "consumer lag 0 on every input partition")
        # Every state record sits on its owner's partition: the state is not split.
        placed = await _changelog_placement(bootstrap, changelog_topic_name(topics.app_id))
        assert placed
        for key, partitions in placed.items():
            owner = key.split(b"|")[1]
            assert partitions == {kafka_partition(owner, PARTITIONS)}, key
        assert worker.stop() == 0


async def _changelog_placement(bootstrap: str, topic: str) -> dict[bytes, set[int]]:
    """Detector state keys on the changelog (markers and clocks left out) and the partitions holding them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        for tp in partitions:
            consumer.seek(tp, 0)
        placed: dict[bytes, set[int]] = {}
        done = {tp: ends[tp] == 0 for tp in partitions}
        deadline = time.monotonic() + DRAIN_DEADLINE_S
        while not all(done.values()):
            assert time.monotonic() < deadline, f"could not read {topic}"
            for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                for record in records:
                    done[tp] = record.offset + 1 >= ends[tp]
                    if record.key is not None and not record.key.startswith(b"\x00"):
                        placed.setdefault(record.key, set()).add(tp.partition)
        return placed
    finally:
        await consumer.stop()


def _pattern(alert: Alert) -> tuple[str | None, ...]:
    """What a pattern alert is about, whichever event tipped it: kind and owner, agency; for misuse, tier,
    user and plate."""
    if not alert.kind.startswith("misuse."):
        return (alert.kind, alert.owner.id, alert.requester.agency)
    return (alert.kind, alert.severity, alert.owner.id, alert.requester.agency, alert.user_hash, alert.plate_hash)


async def _repartition_drained(bootstrap: str, topics: Topics) -> bool:
    name = repartition_topic_name(topics.app_id)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        partitions = [TopicPartition(name, p) for p in range(PARTITIONS)]
        committed = await admin.list_consumer_group_offsets(topics.app_id, partitions=partitions)
    except KafkaError:
        return False
    finally:
        await admin.close()
    done = sum(committed[tp].offset for tp in partitions if tp in committed and committed[tp].offset >= 0)
    return done == await _topic_size(bootstrap, name)


async def _topic_size(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await consumer.stop()
