"""The worker's logic without a broker: batch judging, the batch handler and fetch loop, metrics, policy reload."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import mode
import pytest
import structlog
import yaml
from conftest import KnownStream, build_known_stream
from faust.types import TP
from faust.types.tuples import ConsumerMessage
from prometheus_client import CollectorRegistry, generate_latest

import streams.worker
from monitor.alerts import Alert, decode_alert
from monitor.engine import Engine, load_engine
from monitor.events import AccessEvent
from monitor.hashing import Pseudonymizer
from monitor.policy import PolicyError
from monitor.settings import Settings
from streams.app import create_app
from streams.batch import DLQ_HEADERS, MAX_DEAD_LETTER_BYTES, BatchResult, Message, judge_batch
from streams.metrics import WorkerMetrics
from streams.policy_reload import PolicyWatcher
from streams.worker import run_worker

# A bound on waiting for the agent, so a hung agent fails the test instead of hanging it.
AGENT_DEADLINE_S = 20.0
SOURCE = "alpr.access-events"


def _messages(stream: KnownStream) -> list[Message]:
    return [Message(key, value, 0, offset) for offset, (key, value) in enumerate(stream.messages)]


def _headers(headers: list[tuple[str, bytes]]) -> dict[str, str]:
    return {name: value.decode() for name, value in headers}


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _family_total(registry: CollectorRegistry, name: str) -> float:
    return sum(sample.value for family in registry.collect() for sample in family.samples if sample.name == name)


class TestJudgeBatch:
    def test_every_message_has_exactly_one_outcome(self, reference_engine: Engine) -> None:
        """Each message is alerted, clean or invalid, and the sets are the ones the engine gives directly."""
        stream = build_known_stream(reference_engine, 300)
        result = judge_batch(reference_engine, _messages(stream), SOURCE)

        outcomes = {outcome: 0 for outcome in ("clean", "alerted", "invalid")}
        for (_, outcome), count in result.processed.items():
            outcomes[outcome] += count
        assert result.read == len(stream.messages)
        assert outcomes == {
            "clean": len(stream.clean),
            "alerted": len(stream.alerted),
            "invalid": len(stream.invalid),
        }
        assert {alert.alert_id: (alert.event_id, alert.rule_id) for alert, _ in result.alerts} == stream.alerts
        assert {d.key: d.error.reason for d in result.dead} == stream.invalid

    def test_alert_payload_is_the_encoded_alert(self, reference_engine: Engine) -> None:
        """The bytes written for an alert decode back to the same alert."""
        result = judge_batch(reference_engine, _messages(build_known_stream(reference_engine, 20)), SOURCE)
        assert result.alerts
        for alert, payload in result.alerts:
            assert decode_alert(payload) == alert

    def test_dead_letter_keeps_original_bytes_and_says_why(self, reference_engine: Engine) -> None:
        """A malformed message is dead-lettered with its key, its exact bytes and headers naming reason and field."""
        stream = build_known_stream(reference_engine, 0)
        messages = _messages(stream)
        result = judge_batch(reference_engine, messages, SOURCE)
        by_key = {m.key: m for m in messages}
        for dead in result.dead:
            original = by_key[dead.key]
            headers = _headers(dead.headers)
            assert dead.value == original.value
            assert set(headers) == set(DLQ_HEADERS)
            assert headers["alpr-reason"] == stream.invalid[dead.key]
            assert headers["alpr-detail"]
            assert headers["alpr-source-topic"] == SOURCE
            assert (headers["alpr-source-partition"], headers["alpr-source-offset"]) == ("0", str(original.offset))
        wrong_type = _headers(next(d for d in result.dead if d.key == b"m-wrong-type").headers)
        assert wrong_type["alpr-field"] == "$.event_type"
        assert wrong_type["alpr-event-id"] == "m-wrong-type"

    def test_bad_utf8_inside_a_json_string_is_dead_lettered(self, reference_engine: Engine) -> None:
        """Latin-1 bytes in an agency name become an invalid_encoding dead letter, not an exception."""
        raw = (
            b'{"event_id": "latin1", "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z",'
            b' "owner": {"agency": "Oakland CA PD"}, "requester": {"agency": "Polic\xeda"}, "query": {}}'
        )
        result = judge_batch(reference_engine, [Message(b"k", raw, 3, 9)], SOURCE)
        assert [(d.error.reason, d.value) for d in result.dead] == [("invalid_encoding", raw)]
        assert result.processed == {("unknown", "invalid"): 1}

    def test_null_value_is_dead_lettered(self, reference_engine: Engine) -> None:
        """A tombstone (null value) is reported as unreadable, not skipped."""
        result = judge_batch(reference_engine, [Message(b"gone", None, 0, 0)], SOURCE)
        assert [(d.key, d.value, d.error.reason) for d in result.dead] == [(b"gone", None, "invalid_json")]

    def test_huge_message_is_cut_to_fit_the_dead_letter_topic(self, reference_engine: Engine) -> None:
        """A message too large for the producer is dead-lettered cut, with its original size in a header."""
        raw = b"x" * (MAX_DEAD_LETTER_BYTES + 10)
        [dead] = judge_batch(reference_engine, [Message(None, raw, 0, 0)], SOURCE).dead
        assert dead.error.reason == "oversize"
        assert dead.value == raw[:MAX_DEAD_LETTER_BYTES]
        assert _headers(dead.headers)["alpr-truncated-from"] == str(len(raw))

    def test_engine_failure_dead_letters_only_that_event(self, reference_engine: Engine) -> None:
        """A rule bug on one event sends that event to the DLQ as engine_error; the rest are judged."""

        class Flaky:
            def judge(self, event: AccessEvent) -> list[Alert]:
                if event.event_id == "k-federal":
                    raise KeyError("boom")
                return reference_engine.judge(event)

        stream = build_known_stream(reference_engine, 10)
        result = judge_batch(Flaky(), _messages(stream), SOURCE)
        engine_errors = [d for d in result.dead if d.error.reason == "engine_error"]
        assert [d.key for d in engine_errors] == [b"k-federal"]
        assert isinstance(engine_errors[0].error.__cause__, KeyError)
        assert result.read == len(stream.messages)
        assert {a.event_id for a, _ in result.alerts} == {e for e, _ in stream.alerts.values()} - {"k-federal"}


@dataclass
class FakeProducer:
    """Stands in for the Kafka producer: records sends; their acknowledgements resolve when released."""

    auto_ack: bool = True
    sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]] | None]] = field(default_factory=list)
    pending: list[asyncio.Future[None]] = field(default_factory=list)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: list[tuple[str, bytes]] | None,
        **_: Any,
    ) -> asyncio.Future[None]:
        self.sent.append((topic, key, value, headers))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.auto_ack:
            future.set_result(None)
        else:
            self.pending.append(future)
        return future

    def topic(self, name: str) -> list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]] | None]]:
        return [(key, value, headers) for topic, key, value, headers in self.sent if topic == name]


def _consumer_messages(topic: str, messages: list[tuple[bytes, bytes]], partition: int = 0) -> list[Any]:
    """Faust's own message objects for (key, value) pairs, as the consumer makes them from fetched records."""
    tp = TP(topic, partition)
    return [
        ConsumerMessage(topic, partition, offset, time.time(), 0, [], key, value, None, tp=tp, generation_id=0)
        for offset, (key, value) in enumerate(messages)
    ]


@dataclass
class Harness:
    """The worker's Faust app with a fake producer, and what its batch handler reported per batch."""

    settings: Settings
    app: Any
    producer: FakeProducer
    metrics: WorkerMetrics
    batches: list[BatchResult]

    def inputs(self, messages: list[tuple[bytes, bytes]]) -> list[Any]:
        return _consumer_messages(self.settings.input_topic, messages)

    async def judge(self, messages: list[Any]) -> None:
        await asyncio.wait_for(self.app.consumer.handle_batch(messages), AGENT_DEADLINE_S)


def _app(settings: Settings, engine: Any, producer: FakeProducer, **options: Any) -> Any:
    app = create_app(settings, lambda: engine, **options)
    app.finalize()
    app.conf.store = "memory://"
    app.producer.send = producer.send
    return app


@pytest.fixture
def harness(tmp_path: Path, reference_engine: Engine) -> Harness:
    settings = Settings(app_id=f"agent-test-{tmp_path.name}", data_dir=tmp_path / "faust")
    metrics = WorkerMetrics(CollectorRegistry())
    metrics.set_policy(reference_engine.version, reference_engine.owner_ids)
    batches: list[BatchResult] = []
    producer = FakeProducer()
    app = _app(settings, reference_engine, producer, metrics=metrics, on_batch=batches.append)
    return Harness(settings, app, producer, metrics, batches)


class TestBatchHandler:
    async def test_known_events_give_expected_alerts(self, harness: Harness, reference_engine: Engine) -> None:
        """The app's batch handler writes exactly the engine's alerts to the alerts topic, keyed by alert id."""
        stream = build_known_stream(reference_engine, 200)
        await harness.judge(harness.inputs(stream.messages))

        written = harness.producer.topic(harness.settings.alerts_topic)
        alerts = [decode_alert(value) for _, value, _ in written if value is not None]
        assert [key for key, _, _ in written] == [alert.alert_id.encode() for alert in alerts]
        assert {alert.alert_id: (alert.event_id, alert.rule_id) for alert in alerts} == stream.alerts
        assert len(alerts) == len(stream.alerts)
        kinds: dict[str, set[str]] = {}
        for alert in alerts:
            kinds.setdefault(alert.event_id, set()).add(alert.kind)
        for event_id, expected in stream.kinds.items():
            if expected:
                assert expected <= kinds.get(event_id, set()), event_id
            else:
                assert event_id not in kinds, f"{event_id} should be clean, got {kinds[event_id]}"

    async def test_malformed_messages_go_to_the_dlq_with_original_bytes(
        self, harness: Harness, reference_engine: Engine
    ) -> None:
        """Each malformed message lands on the DLQ once, with its key, its exact bytes and its reason."""
        stream = build_known_stream(reference_engine, 50)
        await harness.judge(harness.inputs(stream.messages))

        dead = harness.producer.topic(harness.settings.dlq_topic)
        originals = stream.by_key
        assert sorted(key for key, _, _ in dead if key is not None) == sorted(stream.invalid)
        for key, value, headers in dead:
            assert key is not None
            assert headers is not None
            assert value == originals[key]
            assert _headers(headers)["alpr-reason"] == stream.invalid[key]

    async def test_counts_add_up_in_the_metrics(self, harness: Harness, reference_engine: Engine) -> None:
        """read = clean + alerted + invalid in alpr_events_processed_total; alerts and DLQ counters match."""
        stream = build_known_stream(reference_engine, 120)
        half = len(stream.messages) // 2
        inputs = harness.inputs(stream.messages)
        await harness.judge(inputs[:half])
        await harness.judge(inputs[half:])

        registry = harness.metrics.registry

        def outcome(name: str) -> float:
            return sum(
                _sample(registry, "alpr_events_processed_total", event_type=t, outcome=name)
                for t in ("query", "sharing_change", "unknown")
            )

        assert _family_total(registry, "alpr_events_processed_total") == len(stream.messages)
        assert (outcome("clean"), outcome("alerted"), outcome("invalid")) == (
            len(stream.clean),
            len(stream.alerted),
            len(stream.invalid),
        )
        assert _family_total(registry, "alpr_alerts_total") == len(stream.alerts)
        for reason in set(stream.invalid.values()):
            expected = sum(1 for r in stream.invalid.values() if r == reason)
            assert _sample(registry, "alpr_dlq_messages_total", reason=reason) == expected
        assert _sample(registry, "alpr_batch_processing_seconds_count") == len(harness.batches) == 2
        assert _sample(registry, "alpr_detection_lag_seconds_count") == len(stream.alerts)
        assert _sample(registry, "alpr_last_event_timestamp_seconds") > 0

    async def test_inputs_are_acked_only_after_outputs_are_acknowledged(
        self, harness: Harness, reference_engine: Engine
    ) -> None:
        """While any alert or dead letter of a batch is unacknowledged, none of its input messages is acked."""
        harness.producer.auto_ack = False
        stream = build_known_stream(reference_engine, 30)
        inputs = harness.inputs(stream.messages)
        judging = asyncio.ensure_future(harness.judge(inputs))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AGENT_DEADLINE_S
        # Wait until the handler has sent every output of the batch and is waiting on them.
        expected_outputs = len(stream.alerts) + len(stream.invalid)
        while len(harness.producer.pending) < expected_outputs and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert len(harness.producer.pending) == expected_outputs
        await asyncio.sleep(0.1)
        assert not judging.done()
        assert not any(message.acked for message in inputs)
        assert harness.batches == []

        for future in harness.producer.pending:
            future.set_result(None)
        await judging
        assert all(message.acked for message in inputs)

    @pytest.mark.parametrize(
        ("field", "secret"),
        [("event_type", "7ABC123"), ("event_type", "jsmith"), ("action", "8XYZ999"), ("direction", "mjones")],
    )
    async def test_plate_or_name_in_an_enum_field_never_reaches_logs_or_headers(
        self, harness: Harness, field: str, secret: str
    ) -> None:
        """A plate or a user name put in an enum field is shown by shape in the DLQ detail and the WARNING log."""
        event: dict[str, Any] = {
            "event_id": "enum-leak",
            "event_type": "sharing_change",
            "occurred_at": "2025-04-22T17:03:11Z",
            "owner": {"agency": "Oakland CA PD", "state": "CA"},
            "requester": {"agency": "FBI"},
            "sharing": {"action": "grant", "direction": "outbound"},
        }
        if field == "event_type":
            event["event_type"] = secret
        else:
            event["sharing"][field] = secret
        with structlog.testing.capture_logs() as logs:
            await harness.judge(harness.inputs([(b"enum-leak", json.dumps(event).encode())]))

        [(_, _, headers)] = harness.producer.topic(harness.settings.dlq_topic)
        values = _headers(headers or [])
        assert values["alpr-reason"] == "invalid_field"
        assert "of shape" in values["alpr-detail"]
        assert secret not in repr(values)
        [entry] = [e for e in logs if e["event"] == "unreadable event sent to the dead-letter topic"]
        assert entry["log_level"] == "warning"
        assert secret not in repr(logs)

    async def test_poison_pill_is_dead_lettered_and_the_batch_goes_on(
        self, harness: Harness, reference_engine: Engine
    ) -> None:
        """A 2 KB event nested 1,000 levels deep is dead-lettered as invalid_json; the events around it are judged."""
        stream = build_known_stream(reference_engine, 20)
        deep = b'{"event_id": "deep", "x": ' + b"[" * 1_000 + b"]" * 1_000 + b"}"
        messages = [stream.messages[0], (b"deep", deep), *stream.messages[1:]]
        await harness.judge(harness.inputs(messages))

        dead = {key: _headers(headers or []) for key, _, headers in harness.producer.topic(harness.settings.dlq_topic)}
        assert dead[b"deep"]["alpr-reason"] == "invalid_json"
        assert dead[b"deep"]["alpr-event-id"] == "deep"
        assert "nested deeper than" in dead[b"deep"]["alpr-detail"]
        alerts = [decode_alert(v) for _, v, _ in harness.producer.topic(harness.settings.alerts_topic) if v]
        assert {a.alert_id: (a.event_id, a.rule_id) for a in alerts} == stream.alerts
        assert [b.read for b in harness.batches] == [len(messages)]

    async def test_duplicate_requester_cannot_hide_a_federal_search(self, harness: Harness) -> None:
        """An FBI search followed by a second `requester` key is dead-lettered, not judged clean on the last copy."""
        raw = (
            b'{"event_id": "dup", "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z",'
            b' "owner": {"agency": "Oakland CA PD", "state": "CA"}, "requester": {"agency": "FBI"},'
            b' "query": {"plate": "7ABC123", "reason": "burglary"}, "requester": {"agency": "Alameda County CA SO"}}'
        )
        await harness.judge(harness.inputs([(b"dup", raw)]))
        [(_, _, headers)] = harness.producer.topic(harness.settings.dlq_topic)
        assert (_headers(headers or [])["alpr-reason"], _headers(headers or [])["alpr-field"]) == (
            "invalid_field",
            "$.requester",
        )

    async def test_out_of_range_year_is_an_invalid_field_not_an_engine_error(self, harness: Harness) -> None:
        """Year 0001 or 9999 in a time is dead-lettered as invalid_field naming the field, not engine_error."""
        raw = (
            b'{"event_id": "y1", "event_type": "query", "occurred_at": "0001-01-01T00:00:00+05:00",'
            b' "owner": {"agency": "Oakland CA PD", "state": "CA"}, "requester": {"agency": "FBI"}, "query": {}}'
        )
        await harness.judge(harness.inputs([(b"y1", raw)]))
        [(_, _, headers)] = harness.producer.topic(harness.settings.dlq_topic)
        values = _headers(headers or [])
        assert (values["alpr-reason"], values["alpr-field"]) == ("invalid_field", "$.occurred_at")

    async def test_engine_failure_is_dead_lettered_and_logged_without_event_data(
        self, harness: Harness, reference_engine: Engine
    ) -> None:
        """A rule bug dead-letters the event as engine_error; logs and DLQ headers name the error, never its text."""
        quoted: list[str] = []

        class Flaky:
            def judge(self, event: AccessEvent) -> list[Alert]:
                if event.event_id == "k-clean":
                    # A message quoting the event's plate and user, as a careless rule's error might.
                    assert event.query is not None
                    assert event.query.plate
                    assert event.requester.user
                    quoted.extend((event.query.plate, event.requester.user))
                    raise KeyError(f"no entry for plate {event.query.plate} searched by {event.requester.user}")
                return reference_engine.judge(event)

        app = _app(harness.settings, Flaky(), harness.producer)
        stream = build_known_stream(reference_engine, 10)
        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(app.consumer.handle_batch(harness.inputs(stream.messages)), AGENT_DEADLINE_S)

        written = harness.producer.topic(harness.settings.dlq_topic)
        dead = {key: _headers(headers or []) for key, _, headers in written}
        assert dead[b"k-clean"]["alpr-reason"] == "engine_error"
        detail = dead[b"k-clean"]["alpr-detail"]
        assert detail.startswith("KeyError at "), detail
        assert re.search(r"test_worker_agent\.py:\d+$", detail), detail
        [entry] = [e for e in logs if e["event"] == "engine failed on an event; sent to the dead-letter topic"]
        assert (entry["event_id"], entry["error_type"], entry["log_level"]) == ("k-clean", "KeyError", "error")
        assert len(quoted) == 2
        for text in quoted:
            assert text not in repr(logs)
            assert not [
                (name, value) for _, _, headers in written for name, value in headers or [] if text.encode() in value
            ]

    async def test_failed_send_leaves_the_batch_unacked_and_raises(
        self, harness: Harness, reference_engine: Engine
    ) -> None:
        """A send the broker rejects leaves the batch's messages unacked (to be redelivered) and raises."""
        harness.producer.auto_ack = False
        stream = build_known_stream(reference_engine, 5)
        inputs = harness.inputs(stream.messages)
        judging = asyncio.ensure_future(harness.judge(inputs))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AGENT_DEADLINE_S
        while not harness.producer.pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        harness.producer.pending[0].set_exception(RuntimeError("broker said no"))
        for future in harness.producer.pending[1:]:
            future.set_result(None)
        with pytest.raises(RuntimeError, match="broker said no"):
            await judging
        assert not any(message.acked for message in inputs)
        assert harness.batches == []

    async def test_batch_judged_across_a_rebalance_is_not_acked(
        self, harness: Harness, reference_engine: Engine
    ) -> None:
        """A batch whose outputs are acknowledged after the consumer generation changed is left unacked."""
        harness.producer.auto_ack = False
        stream = build_known_stream(reference_engine, 5)
        inputs = harness.inputs(stream.messages)
        judging = asyncio.ensure_future(harness.judge(inputs))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AGENT_DEADLINE_S
        while not harness.producer.pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        harness.app.consumer_generation_id += 1  # what Faust does when partitions are reassigned
        for future in harness.producer.pending:
            future.set_result(None)
        await judging
        assert not any(message.acked for message in inputs)

    async def test_batch_left_unacked_is_not_counted(self, harness: Harness, reference_engine: Engine) -> None:
        """A batch left unacked across a rebalance adds nothing to the metrics: its redelivery is counted instead."""
        harness.producer.auto_ack = False
        stream = build_known_stream(reference_engine, 5)
        inputs = harness.inputs(stream.messages)
        registry = harness.metrics.registry
        judging = asyncio.ensure_future(harness.judge(inputs))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + AGENT_DEADLINE_S
        while not harness.producer.pending and loop.time() < deadline:
            await asyncio.sleep(0.01)
        harness.app.consumer_generation_id += 1
        for future in harness.producer.pending:
            future.set_result(None)
        await judging

        assert _family_total(registry, "alpr_events_processed_total") == 0
        assert _family_total(registry, "alpr_alerts_total") == 0
        assert _family_total(registry, "alpr_dlq_messages_total") == 0
        assert _sample(registry, "alpr_batch_processing_seconds_count") == 0

        harness.producer.auto_ack = True  # the redelivered batch, judged by the partition's next owner
        await harness.judge(harness.inputs(stream.messages))
        assert _family_total(registry, "alpr_events_processed_total") == len(stream.messages)
        assert _family_total(registry, "alpr_alerts_total") == len(stream.alerts)


@dataclass
class FakeRecord:
    """What aiokafka's fetcher returns per record (the fields Faust's consumer reads)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int = 0
    timestamp_type: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()
    checksum: None = None
    serialized_key_size: int = 0
    serialized_value_size: int = 0


class TestBatchConsumer:
    async def _drain(self, consumer: Any, fetches: list[dict[TP, list[FakeRecord]]]) -> None:
        """Run the consumer's fetch loop over `fetches` (one per round), then stop it."""
        fetcher = mode.Service()
        rounds = iter(fetches)

        async def next_records(timeout: float) -> tuple[dict[TP, list[FakeRecord]], None]:
            try:
                return next(rounds), None
            except StopIteration:
                fetcher._stopped.set()
                return {}, None

        consumer._wait_next_records = next_records
        # The highwater the broker last reported, per partition: one past the last record fetched here.
        ends = {tp: records[-1].offset + 1 for fetch in fetches for tp, records in fetch.items()}
        consumer.highwater = ends.__getitem__
        await asyncio.wait_for(consumer._drain_messages(fetcher), AGENT_DEADLINE_S)

    async def test_fetched_records_reach_the_handler_one_batch_per_partition(self, harness: Harness) -> None:
        """Each partition's fetched records are handed on as one batch, in offset order, read only once."""
        consumer = harness.app.consumer
        seen: list[list[tuple[int, int]]] = []

        async def handle(messages: list[Any]) -> None:
            seen.append([(m.partition, m.offset) for m in messages])

        consumer.handle_batch = handle
        topic = harness.settings.input_topic
        p0, p1 = TP(topic, 0), TP(topic, 1)
        first = {p0: [FakeRecord(topic, 0, o, b"k", b"v") for o in range(3)], p1: [FakeRecord(topic, 1, 7, b"k", b"v")]}
        # A second fetch overlapping the first (as after a seek back) hands on only what is new.
        second = {p0: [FakeRecord(topic, 0, o, b"k", b"v") for o in range(2, 5)]}
        await self._drain(consumer, [first, second])
        assert seen == [[(0, 0), (0, 1), (0, 2)], [(1, 7)], [(0, 3), (0, 4)]]

    async def test_a_batch_updates_what_fausts_livelock_check_reads(self, harness: Harness) -> None:
        """Per partition batch, Faust's monitor gets the inbound time and the end offset its sensors would record.

        Faust's check (aiokafka driver, `verify_event_path`) logs "Stream has not started processing"
        for a partition that has data but no `stream_inbound_time`; the batch path must set it.
        """
        consumer = harness.app.consumer
        monitor = harness.app.monitor
        handled: list[float] = []

        async def handle(messages: list[Any]) -> None:
            handled.append(time.monotonic())

        consumer.handle_batch = handle
        topic = harness.settings.input_topic
        p0, p1, p2 = TP(topic, 0), TP(topic, 1), TP(topic, 2)
        before = time.monotonic()
        fetch = {p0: [FakeRecord(topic, 0, o, b"k", b"v") for o in range(4)], p1: [FakeRecord(topic, 1, 9, b"k", b"v")]}
        assert p0 not in monitor.stream_inbound_time
        await self._drain(consumer, [fetch])

        assert len(handled) == 2
        assert before <= monitor.stream_inbound_time[p0] <= handled[0]
        assert handled[0] <= monitor.stream_inbound_time[p1] <= handled[1]
        assert (monitor.tp_end_offsets[p0], monitor.tp_end_offsets[p1]) == (4, 10)
        assert p2 not in monitor.stream_inbound_time

    async def test_rebalance_drops_what_was_fetched_but_not_handed_on(self, harness: Harness) -> None:
        """Once the generation changes mid-fetch, the other partitions' fetched records are dropped, never acked."""
        consumer = harness.app.consumer
        seen: list[int] = []

        async def handle(messages: list[Any]) -> None:
            seen.append(messages[0].partition)
            harness.app.consumer_generation_id += 1  # a rebalance completes while this batch is judged

        consumer.handle_batch = handle
        topic = harness.settings.input_topic
        fetch = {TP(topic, p): [FakeRecord(topic, p, 0, b"k", b"v")] for p in range(3)}
        await self._drain(consumer, [fetch])
        assert seen == [0]
        assert not any(consumer._acked.values())

    async def test_records_fetched_while_the_flow_is_stopped_are_not_handed_on(self, harness: Harness) -> None:
        """A fetch that lands during a rebalance (flow stopped) sends the consumer back to its committed offsets."""
        consumer = harness.app.consumer
        seen: list[Any] = []
        seeks: list[bool] = []

        async def handle(messages: list[Any]) -> None:
            seen.append(messages)

        async def perform_seek() -> None:
            seeks.append(True)

        consumer.handle_batch = handle
        consumer.perform_seek = perform_seek
        consumer.flow_active = False
        topic = harness.settings.input_topic
        await self._drain(consumer, [{TP(topic, 0): [FakeRecord(topic, 0, 0, b"k", b"v")]}])
        assert (seen, seeks) == ([], [True])


class TestWorkerMetrics:
    def _alert(self, reference_engine: Engine, event_id: str = "k-federal") -> Alert:
        stream = build_known_stream(reference_engine, 0)
        result = judge_batch(reference_engine, _messages(stream), SOURCE)
        return next(alert for alert, _ in result.alerts if alert.event_id == event_id)

    def test_owner_label_is_bounded_by_the_policy(self, reference_engine: Engine) -> None:
        """An alert whose owner id is not in the policy is counted under owner="other"."""
        metrics = WorkerMetrics(CollectorRegistry())
        metrics.set_policy("v1", ["oakland-pd"])
        alert = self._alert(reference_engine)
        stranger = alert.__class__(**{**_fields(alert), "owner": alert.owner.__class__(agency="X", id="not-listed")})
        metrics.record_batch({("query", "alerted"): 2}, [alert, stranger], [], 0.01)
        owners = {
            sample.labels["owner"]
            for family in metrics.registry.collect()
            for sample in family.samples
            if sample.name == "alpr_alerts_total"
        }
        assert owners == {"oakland-pd", "other"}

    def test_no_identifier_appears_in_the_exposition(self, reference_engine: Engine) -> None:
        """Event ids, plates and user names never appear in /metrics; the policy version does."""
        metrics = WorkerMetrics(CollectorRegistry())
        metrics.set_policy(reference_engine.version, reference_engine.owner_ids)
        stream = build_known_stream(reference_engine, 100)
        result = judge_batch(reference_engine, _messages(stream), SOURCE)
        metrics.record_batch(
            result.processed, [a for a, _ in result.alerts], [d.error.reason for d in result.dead], 0.5
        )
        text = generate_latest(metrics.registry).decode()
        assert f'alpr_policy_info{{version="{reference_engine.version}"}} 1.0' in text
        identifiers = set()
        for _, raw in stream.messages:
            try:
                document = json.loads(raw)
            except ValueError:
                continue
            identifiers.add(document.get("event_id"))
            identifiers.add((document.get("query") or {}).get("plate"))
            identifiers.add((document.get("requester") or {}).get("user"))
        identifiers.discard(None)
        assert identifiers
        assert [i for i in identifiers if f'"{i}"' in text] == []

    def test_zero_series_exist_before_the_first_event(self) -> None:
        """Every event type, outcome and DLQ reason is exposed at 0 from the start."""
        metrics = WorkerMetrics(CollectorRegistry())
        registry = metrics.registry
        assert (
            registry.get_sample_value("alpr_events_processed_total", {"event_type": "unknown", "outcome": "invalid"})
            == 0.0
        )
        assert registry.get_sample_value("alpr_dlq_messages_total", {"reason": "invalid_encoding"}) == 0.0

    def test_last_event_time_is_the_start_time_until_the_first_event(self) -> None:
        """mark_started sets alpr_last_event_timestamp_seconds to the start time; an event moves it on."""
        metrics = WorkerMetrics(CollectorRegistry())
        registry = metrics.registry
        assert _sample(registry, "alpr_last_event_timestamp_seconds") == 0.0
        metrics.mark_started(1_700_000_000.0)
        assert _sample(registry, "alpr_last_event_timestamp_seconds") == 1_700_000_000.0
        metrics.record_batch({("query", "clean"): 1}, [], [], 0.01)
        assert _sample(registry, "alpr_last_event_timestamp_seconds") > 1_700_000_000.0

    def test_worker_marks_its_start_before_serving_metrics(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pseudonymizer: Pseudonymizer
    ) -> None:
        """run_worker sets the last-event time to its start before serving /metrics: an idle new worker is not paged."""
        seen: list[float] = []
        real_serve = streams.worker.serve_http

        def recording_serve(host: str, port: int, registry: CollectorRegistry, health: Any) -> Any:
            seen.append(_sample(registry, "alpr_last_event_timestamp_seconds"))
            return real_serve(host, port, registry, health)

        async def no_topic_check(self: Any) -> None:
            pass

        class NoFaust:
            def __init__(self, app: Any, **_: Any) -> None:
                pass

            def execute_from_commandline(self) -> None:
                raise SystemExit(0)

        monkeypatch.setattr("streams.worker.serve_http", recording_serve)
        monkeypatch.setattr("streams.worker.TopicCheck.check_or_report", no_topic_check)
        monkeypatch.setattr("streams.worker.faust.Worker", NoFaust)
        monkeypatch.setattr("streams.worker.pattern_partitions", lambda _: None)  # no broker to ask
        # The worker's GC tuning is for its own process, not for the test session's.
        monkeypatch.setattr("gc.freeze", lambda: None)
        monkeypatch.setattr("gc.set_threshold", lambda *_: None)
        settings = Settings(app_id=f"start-{tmp_path.name}", data_dir=tmp_path / "faust", metrics_port=0)
        before = time.time()
        assert run_worker(settings, pseudonymizer) == 0
        assert len(seen) == 1
        assert before <= seen[0] <= time.time()

    def test_consumer_lag_replaces_partitions(self) -> None:
        """The lag gauge shows the partitions last reported, and no negative lag."""
        metrics = WorkerMetrics(CollectorRegistry())
        metrics.set_consumer_lag({0: 5, 1: 7})
        metrics.set_consumer_lag({1: -2})
        registry = metrics.registry
        assert registry.get_sample_value("alpr_consumer_lag_messages", {"partition": "0"}) is None
        assert registry.get_sample_value("alpr_consumer_lag_messages", {"partition": "1"}) == 0.0


def _fields(alert: Alert) -> dict[str, Any]:
    return {name: getattr(alert, name) for name in alert.__struct_fields__}


def _write_policy(path: Path, change: Callable[[dict[str, Any]], None] | None = None) -> None:
    document = yaml.safe_load((resources.files("monitor") / "default-policy.yaml").read_text())
    if change is not None:
        change(document)
    path.write_text(yaml.safe_dump(document))


def _silence_oakland(document: dict[str, Any]) -> None:
    """Oakland's owner entry with an explicit empty pack list: no rule applies to its data any more."""
    for owner in document["owners"]:
        if owner["id"] == "oakland-pd":
            owner["packs"] = []


def _break(document: dict[str, Any]) -> None:
    document["owners"][0]["state"] = "Cascadia"  # not a US state


class TestPolicyWatcher:
    async def test_changed_policy_is_swapped_in_and_logged(self, tmp_path: Path, pseudonymizer: Pseudonymizer) -> None:
        """After the file changes, poll() builds a new engine, logs both versions and updates alpr_policy_info."""
        path = tmp_path / "policy.yaml"
        _write_policy(path)
        metrics = WorkerMetrics(CollectorRegistry())
        watcher = PolicyWatcher(path, pseudonymizer, metrics)
        before = watcher.current()
        assert await watcher.poll() is False

        _write_policy(path, _silence_oakland)
        with structlog.testing.capture_logs() as logs:
            assert await watcher.poll() is True
        after = watcher.current()
        assert after is not before
        assert after.version != before.version
        [entry] = [e for e in logs if e["event"] == "policy reloaded"]
        assert (entry["previous_version"], entry["version"]) == (before.version, after.version)
        assert metrics.registry.get_sample_value("alpr_policy_info", {"version": after.version}) == 1.0
        assert metrics.registry.get_sample_value("alpr_policy_info", {"version": before.version}) is None

    async def test_new_policy_changes_the_verdicts(
        self, tmp_path: Path, pseudonymizer: Pseudonymizer, reference_engine: Engine
    ) -> None:
        """The reloaded engine judges by the new file: Oakland's federal search no longer alerts."""
        path = tmp_path / "policy.yaml"
        _write_policy(path)
        watcher = PolicyWatcher(path, pseudonymizer)
        stream = build_known_stream(reference_engine, 0)
        federal = [Message(k, v, 0, 0) for k, v in stream.messages if k == b"k-federal"]
        assert judge_batch(watcher.current(), federal, SOURCE).alerts

        _write_policy(path, _silence_oakland)
        await watcher.poll()
        assert judge_batch(watcher.current(), federal, SOURCE).alerts == []

    async def test_invalid_policy_is_refused_and_the_old_one_stays(
        self, tmp_path: Path, pseudonymizer: Pseudonymizer
    ) -> None:
        """An invalid new file is refused with the loader's message naming the file; the engine in force stays."""
        path = tmp_path / "policy.yaml"
        _write_policy(path)
        metrics = WorkerMetrics(CollectorRegistry())
        watcher = PolicyWatcher(path, pseudonymizer, metrics)
        before = watcher.current()

        _write_policy(path, _break)
        with structlog.testing.capture_logs() as logs:
            assert await watcher.poll() is False
            assert await watcher.poll() is False  # the same bad content is reported once
        assert watcher.current() is before
        [entry] = [e for e in logs if e["event"] == "policy refused; the policy in force stays"]
        assert entry["log_level"] == "error"
        assert str(path) in entry["error"]
        assert "state" in entry["error"]
        assert entry["version"] == before.version
        assert metrics.registry.get_sample_value("alpr_policy_info", {"version": before.version}) == 1.0

        _write_policy(path, _silence_oakland)
        assert await watcher.poll() is True

    @pytest.mark.parametrize("content", ["", "# all owners removed\n", "owners: []\n", "name: x\nregistry: []\n"])
    async def test_reload_that_drops_every_owner_is_refused(
        self, tmp_path: Path, pseudonymizer: Pseudonymizer, content: str
    ) -> None:
        """An empty, comment-only or owner-less new file is refused at ERROR; the policy in force stays."""
        path = tmp_path / "policy.yaml"
        _write_policy(path)
        watcher = PolicyWatcher(path, pseudonymizer)
        before = watcher.current()
        path.write_text(content)
        with structlog.testing.capture_logs() as logs:
            assert await watcher.poll() is False
        assert watcher.current() is before
        [entry] = [e for e in logs if e["event"] == "policy refused; the policy in force stays"]
        assert entry["log_level"] == "error"
        assert "no owners" in entry["error"]

    @pytest.mark.parametrize("content", ["", "# nothing yet\n", "owners: []\n"])
    def test_empty_policy_at_start_raises(self, tmp_path: Path, pseudonymizer: Pseudonymizer, content: str) -> None:
        """An empty or comment-only file at start-up raises PolicyError instead of running with no owners."""
        path = tmp_path / "policy.yaml"
        path.write_text(content)
        with pytest.raises(PolicyError, match="no owners"):
            PolicyWatcher(path, pseudonymizer)

    def test_invalid_policy_at_start_raises(self, tmp_path: Path, pseudonymizer: Pseudonymizer) -> None:
        """A bad file at start-up raises PolicyError, so the worker does not start with no policy."""
        path = tmp_path / "policy.yaml"
        _write_policy(path, _break)
        with pytest.raises(PolicyError, match=r"policy\.yaml"):
            PolicyWatcher(path, pseudonymizer)

    async def test_policy_grown_past_the_limit_is_refused(self, tmp_path: Path, pseudonymizer: Pseudonymizer) -> None:
        """A policy file padded past MAX_POLICY_BYTES is refused at ERROR naming the limit; the old one stays."""
        from monitor.policy import MAX_POLICY_BYTES

        path = tmp_path / "policy.yaml"
        _write_policy(path)
        watcher = PolicyWatcher(path, pseudonymizer)
        before = watcher.current()
        padding = ("#" * 1023 + "\n") * (MAX_POLICY_BYTES // 1024 + 1)
        path.write_text(path.read_text() + padding)  # still a valid policy, only too large to read whole
        with structlog.testing.capture_logs() as logs:
            assert await watcher.poll() is False
        assert watcher.current() is before
        assert any(e["log_level"] == "error" and "bytes" in e.get("error", "") for e in logs), logs

    async def test_policy_replaced_by_a_fifo_never_blocks(self, tmp_path: Path, pseudonymizer: Pseudonymizer) -> None:
        """A policy path that becomes a FIFO (or a directory) is refused at once: the event loop never waits on it."""
        import os
        import threading

        path = tmp_path / "policy.yaml"
        _write_policy(path)
        watcher = PolicyWatcher(path, pseudonymizer)
        before = watcher.current()
        path.unlink()
        os.mkfifo(path)
        outcome: list[bool] = []
        poller = threading.Thread(target=lambda: outcome.append(asyncio.run(watcher.poll())), daemon=True)
        poller.start()
        poller.join(30)
        if poller.is_alive():  # unblock the reader stuck in open(): a writer that closes at once
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
            poller.join(30)
        assert outcome == [False]
        assert watcher.current() is before
        with pytest.raises(PolicyError, match="not a regular file"):
            PolicyWatcher(path, pseudonymizer)
        with pytest.raises(PolicyError, match=r"not a regular file|Is a directory"):
            PolicyWatcher(tmp_path, pseudonymizer)

    async def test_builtin_policy_is_never_polled(self, pseudonymizer: Pseudonymizer) -> None:
        """With no policy file, poll() keeps the built-in engine."""
        watcher = PolicyWatcher(None, pseudonymizer, loader=load_engine)
        engine = watcher.current()
        assert await watcher.poll() is False
        assert watcher.current() is engine
