"""The live worker (`alpr-monitor worker`, a subprocess) on the real Kafka broker.

Known answers come from judging the same messages with the engine directly. Every wait is bounded,
so a stuck worker fails the test with its log instead of hanging the suite.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from conftest import PSEUDONYM_KEY, KnownStream, build_known_stream
from kafka_broker import KafkaBroker, free_loopback_ports

from monitor.alerts import decode_alert
from monitor.engine import Engine

REPO = Path(__file__).resolve().parents[1]
INPUT_PARTITIONS = 3
ALERT_PARTITIONS = 2
# Bounds on waiting, not timing checks: generous for a loaded CI machine.
START_DEADLINE_S = 60.0
DRAIN_DEADLINE_S = 90.0
POLL_S = 0.05


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Topics:
    app_id: str
    source: str
    alerts: str
    dlq: str


@pytest.fixture
async def topics(kafka_broker: KafkaBroker) -> Topics:
    """Fresh topics and consumer group for one test; the input topic has several partitions."""
    name = _unique("worker")
    made = Topics(app_id=name, source=f"{name}.events", alerts=f"{name}.alerts", dlq=f"{name}.dlq")
    await kafka_broker.create_topic(made.source, partitions=INPUT_PARTITIONS)
    await kafka_broker.create_topic(made.alerts, partitions=ALERT_PARTITIONS)
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

    def metrics_text(self) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            return None

    def processed(self) -> dict[str, float]:
        """alpr_events_processed_total summed by outcome (empty while /metrics is not up)."""
        text = self.metrics_text()
        totals: Counter[str] = Counter()
        if text is None:
            return {}
        for outcome, value in re.findall(
            r'^alpr_events_processed_total\{event_type="[^"]+",outcome="([^"]+)"\} (\S+)$', text, re.M
        ):
            totals[outcome] += float(value)
        return dict(totals)

    def logs(self) -> list[dict[str, Any]]:
        """The worker's JSON log lines (Faust's own plain lines are skipped)."""
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entries.append(json.loads(line))
        return entries

    def tail(self) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-40:])

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            status = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        return status


@pytest.fixture
def worker_factory(kafka_broker: KafkaBroker, tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """Start workers on the test's topics; every worker still running at the end is killed."""
    started: list[Worker] = []

    def start(topics: Topics, **settings: str) -> Worker:
        env = {
            **os.environ,
            "ALPR_BROKER": f"kafka://{kafka_broker.bootstrap}",
            "ALPR_INPUT_TOPIC": topics.source,
            "ALPR_ALERTS_TOPIC": topics.alerts,
            "ALPR_DLQ_TOPIC": topics.dlq,
            "ALPR_APP_ID": topics.app_id,
            "ALPR_PSEUDONYM_KEY": PSEUDONYM_KEY.decode(),
            "ALPR_DATA_DIR": str(tmp_path / f"faust-{len(started)}"),
            "ALPR_LOG_FORMAT": "json",
            # The rule path, exactly: the pattern detectors' alerts are tests/test_patterns_live_kafka.py's.
            "ALPR_PATTERNS": "false",
            **settings,
        }
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL, timeout=10)


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_request_size=2_000_000)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Record:
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


async def _read_all(bootstrap: str, topic: str, partition_count: int) -> list[Record]:
    """Every record on the topic, from the first offset to the current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        records: list[Record] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_DEADLINE_S
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            assert loop.time() < deadline, f"could not read {topic} to its end"
            batch = await consumer.getmany(timeout_ms=500)
            for found in batch.values():
                records.extend(Record(r.key, r.value, {k: v.decode() for k, v in r.headers}) for r in found)
        return records
    finally:
        await consumer.stop()


async def _group_lag(bootstrap: str, group: str, topic: str) -> int:
    """Messages on `topic` the consumer group has not committed past (all of them when it committed none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(INPUT_PARTITIONS)]
        ends = await consumer.end_offsets(partitions)
        try:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        except GroupCoordinatorNotAvailableError:  # the worker has not joined yet: nothing committed
            committed = {}
        done = {tp: (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0) for tp in partitions}
        return sum(ends[tp] - done[tp] for tp in partitions)
    finally:
        await consumer.stop()
        await admin.close()


async def _wait_until(check: Callable[[], bool], deadline_s: float, worker: Worker, what: str) -> None:
    deadline = time.monotonic() + deadline_s
    while not check():
        if worker.proc.poll() is not None:
            pytest.fail(f"worker exited ({worker.proc.returncode}) while waiting for {what}:\n{worker.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{worker.tail()}")
        await asyncio.sleep(POLL_S)


async def _wait_drained(bootstrap: str, topics: Topics, worker: Worker) -> None:
    """Until the worker's consumer group has committed every input message (consumer lag 0)."""
    deadline = time.monotonic() + DRAIN_DEADLINE_S
    while (lag := await _group_lag(bootstrap, topics.app_id, topics.source)) > 0:
        if worker.proc.poll() is not None:
            pytest.fail(f"worker exited ({worker.proc.returncode}) with lag {lag}:\n{worker.tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"consumer group still {lag} messages behind:\n{worker.tail()}")
        await asyncio.sleep(0.25)


def _alert_pairs(records: list[Record]) -> dict[str, tuple[str, str]]:
    pairs = {}
    for record in records:
        assert record.value is not None
        alert = decode_alert(record.value)
        assert record.key == alert.alert_id.encode(), "alerts are keyed by alert_id"
        pairs[alert.alert_id] = (alert.event_id, alert.rule_id)
    return pairs


@pytest.mark.kafka
class TestWorkerOnKafka:
    async def test_known_stream_gives_exactly_the_expected_outputs(
        self, kafka_broker: KafkaBroker, topics: Topics, worker_factory: Callable[..., Worker], reference_engine: Engine
    ) -> None:
        """Alerts are exactly the engine's, malformed messages are on the DLQ as sent, and the counts add up."""
        stream = build_known_stream(reference_engine, 3000)
        worker = worker_factory(topics)
        await _wait_until(lambda: worker.metrics_text() is not None, START_DEADLINE_S, worker, "/metrics")
        half = len(stream.messages) // 2
        await _produce(kafka_broker.bootstrap, topics.source, stream.messages[:half])
        # /metrics scraped during the run, with half the stream still unsent: consistent and never ahead.
        await _wait_until(lambda: sum(worker.processed().values()) > 0, DRAIN_DEADLINE_S, worker, "first events")
        during = worker.processed()
        assert 0 < sum(during.values()) <= half
        assert set(during) == {"clean", "alerted", "invalid"}
        await _produce(kafka_broker.bootstrap, topics.source, stream.messages[half:])
        total = len(stream.messages)
        await _wait_until(lambda: sum(worker.processed().values()) >= total, DRAIN_DEADLINE_S, worker, "all events")
        await _wait_drained(kafka_broker.bootstrap, topics, worker)

        alerts = await _read_all(kafka_broker.bootstrap, topics.alerts, ALERT_PARTITIONS)
        assert _alert_pairs(alerts) == stream.alerts
        assert len(alerts) == len(stream.alerts), "a run without a crash writes each alert once"

        dead = await _read_all(kafka_broker.bootstrap, topics.dlq, 1)
        originals = stream.by_key
        assert sorted(r.key for r in dead if r.key is not None) == sorted(stream.invalid)
        for record in dead:
            assert record.key is not None
            assert record.value == originals[record.key], "the DLQ keeps the original bytes"
            assert record.headers["alpr-reason"] == stream.invalid[record.key]
            assert record.headers["alpr-source-topic"] == topics.source
            assert int(record.headers["alpr-source-partition"]) in range(INPUT_PARTITIONS)
        assert {r.headers["alpr-event-id"] for r in dead if r.key == b"m-wrong-type"} == {"m-wrong-type"}

        processed = worker.processed()
        assert processed == {
            "clean": len(stream.clean),
            "alerted": len(stream.alerted),
            "invalid": len(stream.invalid),
        }
        text = worker.metrics_text()
        assert text is not None
        assert _metric_sum(text, "alpr_alerts_total") == len(stream.alerts)
        assert _metric_sum(text, "alpr_dlq_messages_total") == len(stream.invalid)
        assert f'alpr_policy_info{{version="{reference_engine.version}"}} 1.0' in text

        assert worker.stop() == 0
        logs = worker.logs()
        unreadable = [e for e in logs if e["event"] == "unreadable event sent to the dead-letter topic"]
        assert sorted(e["reason"] for e in unreadable) == sorted(stream.invalid.values())
        assert all({"topic", "partition", "offset"} <= set(e) for e in unreadable)
        log_text = worker.log_path.read_text(errors="replace")
        for _, raw in stream.messages[:200]:
            document = _json_or_none(raw)
            if document and document.get("query"):
                assert document["query"]["plate"] not in log_text

    async def test_sigkill_mid_stream_loses_no_alert(
        self, kafka_broker: KafkaBroker, topics: Topics, worker_factory: Callable[..., Worker], reference_engine: Engine
    ) -> None:
        """A worker killed with SIGKILL and restarted writes every expected alert, ids unchanged, nothing else."""
        stream = build_known_stream(reference_engine, 20_000)
        await _produce(kafka_broker.bootstrap, topics.source, stream.messages)

        first = worker_factory(topics)
        await _wait_until(lambda: sum(first.processed().values()) >= 2_000, START_DEADLINE_S, first, "2000 events")
        read_at_kill = sum(first.processed().values())
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        assert read_at_kill < len(stream.messages), "the kill must land mid-stream"

        second = worker_factory(topics)
        await _wait_drained(kafka_broker.bootstrap, topics, second)

        alerts = await _read_all(kafka_broker.bootstrap, topics.alerts, ALERT_PARTITIONS)
        written = _alert_pairs(alerts)
        missing = set(stream.alerts) - set(written)
        unexpected = set(written) - set(stream.alerts)
        assert not missing, f"{len(missing)} alerts lost"
        assert not unexpected, f"{len(unexpected)} alerts nobody expected"
        assert written == stream.alerts, "redelivered events keep their alert ids"
        dead_keys = {r.key for r in await _read_all(kafka_broker.bootstrap, topics.dlq, 1)}
        assert dead_keys == set(stream.invalid)
        # The restarted worker began at the last commit, never past it.
        assert sum(second.processed().values()) >= len(stream.messages) - read_at_kill
        assert second.stop() == 0

    async def test_metrics_lag_gauge_reports_each_partition(
        self, kafka_broker: KafkaBroker, topics: Topics, worker_factory: Callable[..., Worker], reference_engine: Engine
    ) -> None:
        """Once drained, /metrics shows consumer lag 0 for every input partition and a recent last-event time."""
        stream = build_known_stream(reference_engine, 300)
        worker = worker_factory(topics)
        await _produce(kafka_broker.bootstrap, topics.source, stream.messages)
        await _wait_drained(kafka_broker.bootstrap, topics, worker)

        def lag_reported() -> bool:
            text = worker.metrics_text() or ""
            found = re.findall(r'^alpr_consumer_lag_messages\{partition="(\d+)"\} (\S+)$', text, re.M)
            return sorted(found) == [(str(p), "0.0") for p in range(INPUT_PARTITIONS)]

        await _wait_until(lag_reported, 30.0, worker, "consumer lag 0 on every partition")
        text = worker.metrics_text() or ""
        [last] = re.findall(r"^alpr_last_event_timestamp_seconds (\S+)$", text, re.M)
        assert abs(float(last) - time.time()) < 120
        assert worker.stop() == 0


@pytest.mark.kafka
class TestPolicyHotReload:
    async def test_changed_policy_applies_without_restart_and_bad_one_is_refused(
        self,
        kafka_broker: KafkaBroker,
        topics: Topics,
        worker_factory: Callable[..., Worker],
        reference_engine: Engine,
        tmp_path: Path,
    ) -> None:
        """An edited policy is picked up and logged; an invalid one is refused and the one in force stays."""
        federal = _federal_search(build_known_stream(reference_engine, 0))
        policy = tmp_path / "policy.yaml"
        policy.write_text(yaml.safe_dump(_default_policy()))
        worker = worker_factory(topics, ALPR_POLICY_PATH=str(policy), ALPR_POLICY_RELOAD_SECONDS="0.3")
        await _wait_until(lambda: worker.metrics_text() is not None, START_DEADLINE_S, worker, "/metrics")
        first_version = _policy_version(worker)

        await _produce(kafka_broker.bootstrap, topics.source, [_renamed(federal, "reload-1")])
        await _wait_until(lambda: sum(worker.processed().values()) >= 1, DRAIN_DEADLINE_S, worker, "event 1")
        assert {
            e
            for e, _ in _alert_pairs(await _read_all(kafka_broker.bootstrap, topics.alerts, ALERT_PARTITIONS)).values()
        } == {"reload-1"}

        silenced = _default_policy()
        for owner in silenced["owners"]:
            if owner["id"] == "oakland-pd":
                owner["packs"] = []
        policy.write_text(yaml.safe_dump(silenced))
        await _wait_until(lambda: _has_log(worker, "policy reloaded"), 30.0, worker, "the reload log line")
        second_version = _policy_version(worker)
        assert second_version != first_version
        [reloaded] = [e for e in worker.logs() if e["event"] == "policy reloaded"]
        assert (reloaded["previous_version"], reloaded["version"]) == (first_version, second_version)

        broken = _default_policy()
        broken["owners"][0]["state"] = "Cascadia"  # not a US state
        policy.write_text(yaml.safe_dump(broken))
        await _wait_until(
            lambda: _has_log(worker, "policy refused; the policy in force stays"), 30.0, worker, "refusal"
        )
        [refused] = [e for e in worker.logs() if e["event"] == "policy refused; the policy in force stays"]
        assert str(policy) in refused["error"]
        assert "state" in refused["error"]
        assert _policy_version(worker) == second_version

        # The silenced policy, still in force, judges the next federal search of Oakland's data clean.
        await _produce(kafka_broker.bootstrap, topics.source, [_renamed(federal, "reload-2")])
        await _wait_until(lambda: worker.processed().get("clean", 0) >= 1, DRAIN_DEADLINE_S, worker, "event 2")
        await _wait_drained(kafka_broker.bootstrap, topics, worker)
        alerted = {
            e
            for e, _ in _alert_pairs(await _read_all(kafka_broker.bootstrap, topics.alerts, ALERT_PARTITIONS)).values()
        }
        assert alerted == {"reload-1"}
        assert worker.stop() == 0


class TestWorkerStartup:
    def test_invalid_policy_at_start_exits_2_with_a_clear_message(self, tmp_path: Path) -> None:
        """A worker given an unusable policy file does not start: exit status 2 and the file and key named."""
        policy = tmp_path / "bad-policy.yaml"
        broken = _default_policy()
        broken["owners"][0]["state"] = "Cascadia"  # not a US state
        policy.write_text(yaml.safe_dump(broken))
        env = {
            **os.environ,
            "ALPR_POLICY_PATH": str(policy),
            "ALPR_PSEUDONYM_KEY": PSEUDONYM_KEY.decode(),
            "ALPR_BROKER": "kafka://127.0.0.1:9",  # never dialled: the policy check comes first
            "ALPR_METRICS_PORT": "0",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "cli", "worker"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert "cannot use the policy" in proc.stderr
        assert "bad-policy.yaml" in proc.stderr
        assert "state" in proc.stderr


def _metric_sum(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name}\{{[^}}]*\}} (\S+)$", text, re.M))


def _json_or_none(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _default_policy() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO / "monitor" / "default-policy.yaml").read_text())
    return document


def _federal_search(stream: KnownStream) -> bytes:
    return stream.by_key[b"k-federal"]


def _renamed(raw: bytes, event_id: str) -> tuple[bytes, bytes]:
    document = json.loads(raw)
    document["event_id"] = event_id
    return event_id.encode(), json.dumps(document).encode()


def _policy_version(worker: Worker) -> str:
    [version] = re.findall(r'^alpr_policy_info\{version="([^"]+)"\} 1\.0$', worker.metrics_text() or "", re.M)
    return str(version)


def _has_log(worker: Worker, event: str) -> bool:
    return any(entry["event"] == event for entry in worker.logs())


def _produce_compressed(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]], codec: str) -> None:
    """Send with librdkafka (confluent-kafka) compressing every batch with `codec`, as many producers do."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 20, "acks": "all"})
    for key, value in messages:
        producer.produce(topic, value, key)
    assert producer.flush(60) == 0


@pytest.mark.kafka
class TestCompressedInput:
    @pytest.mark.parametrize("codec", ["snappy", "lz4", "zstd"])
    async def test_batches_compressed_by_the_producer_are_judged(
        self,
        kafka_broker: KafkaBroker,
        topics: Topics,
        worker_factory: Callable[..., Worker],
        reference_engine: Engine,
        codec: str,
    ) -> None:
        """Events a producer compressed with snappy, lz4 or zstd are judged like any others, with the same alerts."""
        stream = build_known_stream(reference_engine, 0)
        _produce_compressed(kafka_broker.bootstrap, topics.source, stream.messages, codec)
        worker = worker_factory(topics)
        total = len(stream.messages)
        await _wait_until(lambda: sum(worker.processed().values()) >= total, DRAIN_DEADLINE_S, worker, "all events")
        alerts = await _read_all(kafka_broker.bootstrap, topics.alerts, ALERT_PARTITIONS)
        assert _alert_pairs(alerts) == stream.alerts


@pytest.mark.kafka
class TestOperatorSignals:
    async def test_hup_usr1_usr2_neither_stop_nor_dump_nor_debug(
        self, kafka_broker: KafkaBroker, topics: Topics, worker_factory: Callable[..., Worker], reference_engine: Engine
    ) -> None:
        """SIGHUP, SIGUSR1 and SIGUSR2 (sent by logrotate or a terminal) leave the worker judging: no exit, no dump
        of local variables (raw events) to the log, no debugger on the event loop; SIGTERM still stops it with 0."""
        stream = build_known_stream(reference_engine, 0)
        worker = worker_factory(topics)
        half = len(stream.messages) // 2
        await _produce(kafka_broker.bootstrap, topics.source, stream.messages[:half])
        await _wait_until(lambda: sum(worker.processed().values()) >= half, DRAIN_DEADLINE_S, worker, "first half")
        for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGHUP):
            worker.proc.send_signal(sig)
        await _produce(kafka_broker.bootstrap, topics.source, stream.messages[half:])
        total = len(stream.messages)
        await _wait_until(lambda: sum(worker.processed().values()) >= total, DRAIN_DEADLINE_S, worker, "all events")
        alerts = await _read_all(kafka_broker.bootstrap, topics.alerts, ALERT_PARTITIONS)
        assert _alert_pairs(alerts) == stream.alerts
        assert worker.stop() == 0
        log_text = worker.log_path.read_text(errors="replace")
        assert "LOCAL VARIABLES" not in log_text
        assert "debugger" not in log_text.lower()
