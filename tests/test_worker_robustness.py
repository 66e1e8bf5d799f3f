"""The worker's defences without a broker: poison pills, whole-batch failures, output limits, health, shutdown, logs."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mode
import pytest
import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import OffsetAndMetadata
from aiokafka.structs import TopicPartition as AioTP
from conftest import build_known_stream
from faust.types import TP
from kafka_broker import KafkaBroker
from prometheus_client import CollectorRegistry
from test_worker_agent import AGENT_DEADLINE_S, FakeProducer, FakeRecord, _app, _consumer_messages, _headers, _messages

import streams.app
import streams.batch
from monitor.engine import Engine
from monitor.notify import NotifierSettings
from monitor.settings import Settings
from streams.batch import MAX_DEAD_LETTER_BYTES, Message, judge_batch
from streams.health import Health, serve_http
from streams.log_limit import RepeatLimiter
from streams.metrics import WorkerMetrics
from streams.notifier import NOTIFIER_CHECKS, Notifier
from streams.policy_agreement import (
    FRESH_SECONDS,
    PolicyAgreement,
    commit_metadata,
    parse_commit_metadata,
    stamp_commits,
)
from streams.topics import OutputLimits, TopicCheck
from streams.worker import EXIT_SHUTDOWN_TIMEOUT, ShutdownWatchdog

SOURCE = "alpr.access-events"


def poison_pill(event_id: str = "pill", depth: int = 1_000) -> bytes:
    """A valid event with `depth` levels of nesting in an extra field: about 2 KB."""
    event = {
        "event_id": event_id,
        "event_type": "query",
        "occurred_at": "2025-04-22T17:03:11Z",
        "owner": {"agency": "Oakland CA PD", "state": "CA"},
        "requester": {"agency": "Federal Bureau of Investigation"},
        "query": {"plate": "7ABC123", "reason": "stolen vehicle 24-001234"},
    }
    return json.dumps(event)[:-1].encode() + b', "extra": ' + b"[" * depth + b"]" * depth + b"}"


class TestPoisonPill:
    def test_deep_nesting_is_dead_lettered_and_the_rest_judged(self, reference_engine: Engine) -> None:
        """A 1,000-level nested field (RecursionError in the decoder before) dead-letters that message alone."""
        stream = build_known_stream(reference_engine, 20)
        pill = poison_pill()
        assert len(pill) < 2_500
        messages = [*_messages(stream), Message(b"pill", pill, 0, len(stream.messages))]
        result = judge_batch(reference_engine, messages, SOURCE)
        [dead] = [d for d in result.dead if d.key == b"pill"]
        assert _headers(dead.headers)["alpr-reason"] == "invalid_json"
        assert dead.value == pill
        assert result.read == len(messages)
        assert {a.alert_id for a, _ in result.alerts} == set(stream.alerts)

    @pytest.mark.parametrize("error", [RecursionError, ZeroDivisionError, MemoryError, UnicodeDecodeError])
    def test_any_decoder_exception_dead_letters_the_message(
        self, reference_engine: Engine, monkeypatch: pytest.MonkeyPatch, error: type[BaseException]
    ) -> None:
        """Whatever the decoder raises for one message, that message is dead-lettered with a reason, never raised."""
        stream = build_known_stream(reference_engine, 5)
        real = streams.batch.decode_event

        def failing(raw: bytes | str) -> Any:
            if isinstance(raw, bytes) and b"k-federal" in raw:
                if error is UnicodeDecodeError:
                    raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
                raise error("7ABC123 officer-1")  # a message quoting event data must not be repeated
            return real(raw)

        monkeypatch.setattr(streams.batch, "decode_event", failing)
        result = judge_batch(reference_engine, _messages(stream), SOURCE)
        [dead] = [d for d in result.dead if d.key == b"k-federal"]
        headers = _headers(dead.headers)
        assert headers["alpr-reason"] in {"invalid_json", "invalid_encoding", "oversize", "engine_error"}
        assert "7ABC123" not in repr(headers)
        assert result.read == len(stream.messages)

    async def test_whole_batch_failure_falls_back_to_one_message_at_a_time(
        self, tmp_path: Path, reference_engine: Engine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A batch whose judging fails as a whole is judged one message at a time; only the failing one is dead."""
        real = streams.app.judge_batch

        def fragile(engine: Any, messages: list[Message], topic: str) -> Any:
            if len(messages) > 1:
                raise MemoryError  # the whole batch at once is too much
            if messages[0].key == b"k-federal":
                raise ValueError("this one fails even alone")
            return real(engine, messages, topic)

        monkeypatch.setattr(streams.app, "judge_batch", fragile)
        producer = FakeProducer()
        settings = Settings(app_id=f"fallback-{tmp_path.name}", data_dir=tmp_path / "faust")
        app = _app(settings, reference_engine, producer)
        stream = build_known_stream(reference_engine, 30)
        inputs = _consumer_messages(settings.input_topic, stream.messages)
        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(app.consumer.handle_batch(inputs), AGENT_DEADLINE_S)

        dead = {key: _headers(headers or []) for key, _, headers in producer.topic(settings.dlq_topic)}
        assert dead[b"k-federal"]["alpr-reason"] == "engine_error"
        assert set(dead) == {b"k-federal", *stream.invalid}
        alerts = {key for key, _, _ in producer.topic(settings.alerts_topic)}
        federal = {a for a, (e, _) in stream.alerts.items() if e == "k-federal"}
        assert alerts == {a.encode() for a in set(stream.alerts) - federal}
        assert all(message.acked for message in inputs)
        assert any(e["event"].startswith("batch failed as a whole") for e in logs)


class TestOutputLimits:
    async def test_dead_letter_is_cut_to_the_dlq_topic_limit(self, tmp_path: Path, reference_engine: Engine) -> None:
        """With a DLQ topic accepting 20,000 bytes, a 70 KB oversize input is written cut to fit, and marked."""
        producer = FakeProducer()
        settings = Settings(app_id=f"limits-{tmp_path.name}", data_dir=tmp_path / "faust")
        check = TopicCheck(settings)
        check.limits = OutputLimits(alerts=1_048_588, dlq=20_000)
        app = _app(settings, reference_engine, producer, topic_check=check)
        raw = b'{"event_id": "big", "pad": "' + b"x" * 70_000 + b'"}'
        inputs = _consumer_messages(settings.input_topic, [(b"big", raw)])
        await asyncio.wait_for(app.consumer.handle_batch(inputs), AGENT_DEADLINE_S)
        [(key, value, headers)] = producer.topic(settings.dlq_topic)
        assert value is not None
        record = len(key or b"") + len(value) + sum(len(n) + len(v) for n, v in headers or [])
        assert record < 20_000
        assert _headers(headers or [])["alpr-truncated-from"] == str(len(raw))
        assert raw.startswith(value)
        assert all(message.acked for message in inputs)

    async def test_alert_too_large_for_its_topic_goes_to_the_dlq_naming_topic_and_setting(
        self, tmp_path: Path, reference_engine: Engine
    ) -> None:
        """An alert bigger than the alerts topic accepts sends its event to the DLQ; the log names topic and setting."""
        producer = FakeProducer()
        settings = Settings(app_id=f"limits-{tmp_path.name}", data_dir=tmp_path / "faust")
        check = TopicCheck(settings)
        check.limits = OutputLimits(alerts=600, dlq=1_048_588)
        app = _app(settings, reference_engine, producer, topic_check=check)
        stream = build_known_stream(reference_engine, 0)
        with structlog.testing.capture_logs() as logs:
            inputs = _consumer_messages(settings.input_topic, [(b"k-federal", stream.by_key[b"k-federal"])])
            await asyncio.wait_for(app.consumer.handle_batch(inputs), AGENT_DEADLINE_S)
        assert producer.topic(settings.alerts_topic) == []
        [(key, _, headers)] = producer.topic(settings.dlq_topic)
        assert key == b"k-federal"
        detail = _headers(headers or [])
        assert detail["alpr-reason"] == "alert_too_large"
        assert settings.alerts_topic in detail["alpr-detail"]
        assert "max.message.bytes" in detail["alpr-detail"]
        [entry] = {e["event"]: e for e in logs if e["log_level"] == "error" and "alert larger" in e["event"]}.values()
        assert (entry["topic"], entry["setting"]) == (settings.alerts_topic, "max.message.bytes")

    async def test_alert_too_large_dead_letters_its_own_event_when_an_id_repeats(
        self, tmp_path: Path, reference_engine: Engine
    ) -> None:
        """A clean event sharing the event id of a violation whose alert is too large cannot take its place on
        the DLQ: the violation's own message is dead-lettered, never lost."""
        producer = FakeProducer()
        settings = Settings(app_id=f"limits-{tmp_path.name}", data_dir=tmp_path / "faust")
        check = TopicCheck(settings)
        check.limits = OutputLimits(alerts=600, dlq=1_048_588)
        app = _app(settings, reference_engine, producer, topic_check=check)
        stream = build_known_stream(reference_engine, 0)
        federal = stream.by_key[b"k-federal"]
        decoy = json.loads(stream.by_key[b"k-clean"])
        decoy["event_id"] = json.loads(federal)["event_id"]
        inputs = _consumer_messages(
            settings.input_topic, [(b"decoy", json.dumps(decoy).encode()), (b"k-federal", federal)]
        )
        await asyncio.wait_for(app.consumer.handle_batch(inputs), AGENT_DEADLINE_S)
        assert [(key, value) for key, value, _ in producer.topic(settings.dlq_topic)] == [(b"k-federal", federal)]

    def test_default_dead_letter_cap_is_unchanged_without_a_limit(self) -> None:
        """Without a known topic limit, dead letters keep up to MAX_DEAD_LETTER_BYTES of the original."""
        assert OutputLimits().dlq > MAX_DEAD_LETTER_BYTES


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


@pytest.fixture
def served() -> Iterator[tuple[Health, FakeClock, int, CollectorRegistry]]:
    clock = FakeClock()
    registry = CollectorRegistry()
    health = Health(["partitions_assigned", "input_topic"], stall_seconds=60, clock=clock, registry=registry)
    server = serve_http("127.0.0.1", 0, registry, health)
    try:
        yield health, clock, server.port, registry
    finally:
        server.close()


class TestHealthEndpoints:
    def test_wedged_fetch_loop_fails_liveness(
        self, served: tuple[Health, FakeClock, int, CollectorRegistry], tmp_path: Path, reference_engine: Engine
    ) -> None:
        """/healthz is 200 while the fetch loop goes round and 503 once a batch holds it past the stall limit."""
        health, clock, port, _ = served
        assert _get(port, "/healthz")[0] == 200  # not started yet

        async def scenario() -> None:
            settings = Settings(app_id=f"wedge-{tmp_path.name}", data_dir=tmp_path / "faust")
            app = _app(settings, reference_engine, FakeProducer(), health=health)
            consumer = app.consumer
            release = asyncio.Event()
            entered = asyncio.Event()

            async def wedged(messages: list[Any]) -> None:
                entered.set()
                await release.wait()  # a batch that never finishes

            consumer.handle_batch = wedged
            topic = settings.input_topic
            fetches = iter([{}, {TP(topic, 0): [FakeRecord(topic, 0, 0, b"k", b"v")]}])
            fetcher = mode.Service()

            async def next_records(timeout: float) -> tuple[dict[TP, list[FakeRecord]], None]:
                try:
                    return next(fetches), None
                except StopIteration:
                    fetcher._stopped.set()
                    return {}, None

            consumer._wait_next_records = next_records
            consumer.highwater = lambda tp: 1
            loop_task = asyncio.ensure_future(consumer._drain_messages(fetcher))
            await asyncio.wait_for(entered.wait(), AGENT_DEADLINE_S)
            status, body = await asyncio.to_thread(_get, port, "/healthz")
            assert status == 200, body
            clock.now += 61
            status, body = await asyncio.to_thread(_get, port, "/healthz")
            assert status == 503, body
            assert body["checks"]["fetch_loop"]["ok"] is False
            release.set()
            await asyncio.wait_for(loop_task, AGENT_DEADLINE_S)
            status, _ = await asyncio.to_thread(_get, port, "/healthz")
            assert status == 200

        asyncio.run(scenario())

    def test_readiness_lists_failing_checks_and_sets_the_gauge(
        self, served: tuple[Health, FakeClock, int, CollectorRegistry]
    ) -> None:
        """/readyz is 503 with the failing check's detail until every check passes; alpr_worker_ready follows."""
        health, _, port, registry = served
        health.set_check("partitions_assigned", True, "input partitions [0]")
        health.set_check("input_topic", False, "input topic x does not exist")
        status, body = _get(port, "/readyz")
        assert status == 503
        assert body["checks"]["input_topic"] == {"ok": False, "detail": "input topic x does not exist"}
        assert registry.get_sample_value("alpr_worker_ready") == 0
        health.set_check("input_topic", True, "found")
        assert _get(port, "/readyz")[0] == 200
        assert registry.get_sample_value("alpr_worker_ready") == 1

    def test_metrics_are_still_served_on_the_same_port(self, served: tuple[Health, FakeClock, int, Any]) -> None:
        """/metrics answers next to the health endpoints, with the readiness gauge."""
        _, _, port, _ = served
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            assert b"alpr_worker_ready" in response.read()


def _closed_by_server(sock: Any) -> bool:
    """Whether the server closed `sock` (False when it is still open after the socket's timeout)."""
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


class TestHealthServerUnderIdleConnections:
    def test_idle_connections_neither_pile_up_threads_nor_stay_open(
        self, served: tuple[Health, FakeClock, int, CollectorRegistry]
    ) -> None:
        """Idle (slowloris) connections hold a bounded number of threads and are closed by the server."""
        import socket
        import threading

        from streams.health import MAX_CONNECTIONS

        _, _, port, _ = served
        before = threading.active_count()
        idle = [socket.create_connection(("127.0.0.1", port), timeout=60) for _ in range(MAX_CONNECTIONS + 40)]
        try:
            for sock in idle:
                sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # a request that never ends
            # The last one is turned away at once: by then the server has taken every connection.
            assert _closed_by_server(idle[-1])
            assert threading.active_count() <= before + MAX_CONNECTIONS
            assert all(_closed_by_server(sock) for sock in idle)  # the rest once idle too long
        finally:
            for sock in idle:
                sock.close()
        assert _get(port, "/healthz")[0] == 200


class TestShutdownWatchdog:
    def test_expiry_exits_with_the_timeout_status(self) -> None:
        """An armed watchdog that is not disarmed ends the process with status 3 after its bound."""
        exited: list[int] = []
        done = threading.Event()

        def fake_exit(status: int) -> None:
            exited.append(status)
            done.set()

        ShutdownWatchdog(0.05, exit=fake_exit).arm()
        assert done.wait(10)
        assert exited == [EXIT_SHUTDOWN_TIMEOUT]

    def test_disarmed_watchdog_never_fires(self) -> None:
        """A shutdown that finished in time disarms the watchdog: no forced exit."""
        exited: list[int] = []
        watchdog = ShutdownWatchdog(0.2, exit=exited.append)
        watchdog.arm()
        watchdog.disarm()
        time.sleep(0.5)  # longer than the bound: it would have fired by now
        assert exited == []


class TestRepeatLimiter:
    def _records(self, count: int, template: str = "Unable connect to %s") -> list[logging.LogRecord]:
        return [
            logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, template, (f"node-{i}",), None)
            for i in range(count)
        ]

    def test_repeats_are_folded_and_counted(self) -> None:
        """Of 750 identical errors in one window, 5 pass; the next window's first says how many were dropped."""
        clock = FakeClock()
        limiter = RepeatLimiter(burst=5, window_seconds=10, clock=clock)
        passed = [r for r in self._records(750) if limiter.filter(r)]
        assert len(passed) == 5
        assert limiter.suppressed_total == 745
        clock.now += 10
        [next_one, *_] = [r for r in self._records(2) if limiter.filter(r)]
        assert "suppressed_repeats=745" in next_one.getMessage()

    def test_structlog_events_get_the_count_as_a_field(self) -> None:
        """A structlog event dict gets `suppressed_repeats` when repeats of it were dropped."""
        clock = FakeClock()
        limiter = RepeatLimiter(burst=1, window_seconds=10, clock=clock)

        def record() -> logging.LogRecord:
            return logging.LogRecord("streams.app", logging.WARNING, __file__, 1, {"event": "x"}, None, None)

        assert limiter.filter(record())
        assert not limiter.filter(record())
        clock.now += 10
        passed = record()
        assert limiter.filter(passed)
        assert isinstance(passed.msg, dict)
        assert passed.msg["suppressed_repeats"] == 1

    def test_info_and_distinct_errors_pass(self) -> None:
        """INFO lines are never limited, and different messages are counted apart."""
        limiter = RepeatLimiter(burst=1, window_seconds=10, clock=FakeClock())
        info = [logging.LogRecord("x", logging.INFO, __file__, 1, "same", None, None) for _ in range(10)]
        assert all(limiter.filter(r) for r in info)
        assert limiter.filter(self._records(1, "first %s")[0])
        assert limiter.filter(self._records(1, "second %s")[0])


class TestTopicCheckMetrics:
    def test_input_topic_missing_gauge_exists_from_the_start(self) -> None:
        """alpr_input_topic_missing is exported (0) before any check, so absent() rules can rely on it."""
        metrics = WorkerMetrics(CollectorRegistry())
        assert metrics.registry.get_sample_value("alpr_input_topic_missing") == 0


@pytest.mark.kafka
class TestNotifierHealth:
    async def test_notifier_turns_ready_and_a_wedged_loop_fails_liveness(
        self, kafka_broker: KafkaBroker, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Notifier /readyz turns 200 once it holds the alerts partition; a loop stuck in a fetch fails /healthz."""
        name = f"notifier-health-{uuid.uuid4().hex[:8]}"
        await kafka_broker.create_topic(f"{name}.alerts")
        await kafka_broker.create_topic(f"{name}.dlq")
        clock = FakeClock()
        registry = CollectorRegistry()
        health = Health(NOTIFIER_CHECKS, stall_seconds=60, clock=clock, registry=registry, ready_metric="alpr_ready")
        server = serve_http("127.0.0.1", 0, registry, health)
        wedged, release = asyncio.Event(), asyncio.Event()
        real_getmany = AIOKafkaConsumer.getmany

        async def getmany(self: AIOKafkaConsumer, *args: Any, **kwargs: Any) -> Any:
            if wedged.is_set():
                await release.wait()  # a fetch that never returns
            return await real_getmany(self, *args, **kwargs)

        monkeypatch.setattr(AIOKafkaConsumer, "getmany", getmany)
        settings = Settings(broker=f"kafka://{kafka_broker.bootstrap}", alerts_topic=f"{name}.alerts")
        notify = NotifierSettings(group_id=name, dlq_topic=f"{name}.dlq", batch_wait_s=0.1, session_timeout_s=6.0)
        notifier = Notifier(settings, notify, [], health=health)
        stop = asyncio.Event()
        task = asyncio.create_task(notifier.run(stop))
        try:
            deadline = time.monotonic() + 60
            while (await asyncio.to_thread(_get, server.port, "/readyz"))[0] != 200:
                assert not task.done(), task
                assert time.monotonic() < deadline, health.readiness()
                await asyncio.sleep(0.1)
            assert (await asyncio.to_thread(_get, server.port, "/healthz"))[0] == 200
            wedged.set()
            await asyncio.sleep(0.5)  # the loop is now inside the stuck fetch
            clock.now += 61
            status, body = await asyncio.to_thread(_get, server.port, "/healthz")
            assert status == 503, body
        finally:
            release.set()
            stop.set()
            await asyncio.wait_for(task, 30)
            server.close()


class TestPolicyAgreementCheck:
    def _agreement(self, version: str = "aaa") -> PolicyAgreement:
        return PolicyAgreement(Settings(input_topic="in"), lambda: version, WorkerMetrics(CollectorRegistry()))

    def test_fresh_commit_under_another_version_is_a_mismatch(self) -> None:
        """A partition committed a moment ago under another policy version makes two versions."""
        agreement = self._agreement()
        committed = {
            AioTP("in", 0): OffsetAndMetadata(5, commit_metadata("aaa", now=1_000)),
            AioTP("in", 1): OffsetAndMetadata(7, commit_metadata("bbb", now=990)),
        }
        assert agreement.compare(committed, now=1_000) == {"aaa", "bbb"}
        with structlog.testing.capture_logs() as logs:
            agreement.report({"aaa", "bbb"})
        assert agreement.metrics is not None
        assert agreement.metrics.registry.get_sample_value("alpr_policy_mismatch") == 1
        [entry] = logs
        assert (entry["log_level"], entry["versions"]) == ("error", ["aaa", "bbb"])

    def test_stale_foreign_and_other_topic_commits_are_ignored(self) -> None:
        """Old commits, commits without our metadata and other topics' commits do not count."""
        agreement = self._agreement()
        committed = {
            AioTP("in", 0): OffsetAndMetadata(5, commit_metadata("old", now=1_000 - FRESH_SECONDS - 1)),
            AioTP("in", 1): OffsetAndMetadata(7, ""),
            AioTP("other", 0): OffsetAndMetadata(7, commit_metadata("zzz", now=1_000)),
        }
        assert agreement.compare(committed, now=1_000) == {"aaa"}

    async def test_commits_carry_the_policy_version(self) -> None:
        """A stamped consumer writes the current version and time into every offset's metadata."""
        seen: list[dict[Any, OffsetAndMetadata]] = []

        class Consumer:
            async def commit(self, offsets: dict[Any, OffsetAndMetadata] | None = None) -> None:
                assert offsets is not None
                seen.append(offsets)

        consumer = Consumer()
        stamp_commits(consumer, lambda: "v1")
        await consumer.commit({AioTP("in", 0): OffsetAndMetadata(3, "")})
        [[(_, meta)]] = [list(batch.items()) for batch in seen]
        assert meta.offset == 3
        parsed = parse_commit_metadata(meta.metadata)
        assert parsed is not None
        assert parsed[0] == "v1"
