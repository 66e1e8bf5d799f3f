"""`alpr-monitor produce`: events from files onto the input topic, keyed by event id, with a rate limit."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_broker import KafkaBroker, free_loopback_ports

from monitor.events import AccessEvent, Owner, Query, Requester, decode_event, encode_event
from monitor.ingest import IngestOptions, read_events
from monitor.settings import Settings
from streams.produce import ProduceSummary, RateLimiter, _send_all, bootstrap_servers, produce_files

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# A bound on waiting, so a broken broker fails the test instead of hanging it; not a timing check.
CONSUME_DEADLINE_S = 60.0


def _by_id(event: AccessEvent) -> bytes:
    return event.event_id.encode()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _drain(limiter: RateLimiter, clock: FakeClock, count: int) -> None:
    """Acquire `count` tokens one by one, sleeping (on the fake clock) exactly as long as told."""
    for _ in range(count):
        clock.now += limiter.reserve()


class TestBootstrapServers:
    def test_strips_the_url_scheme(self) -> None:
        """Faust-style kafka:// URLs become the host:port list plain clients take."""
        assert bootstrap_servers("kafka://127.0.0.1:9092") == "127.0.0.1:9092"
        assert bootstrap_servers("kafka://a:1, kafka://b:2") == "a:1,b:2"

    def test_keeps_bare_addresses(self) -> None:
        """An address without a scheme is used as given."""
        assert bootstrap_servers("broker:9093") == "broker:9093"


class TestRateLimiter:
    def test_unlimited_never_waits(self) -> None:
        """Rate 0 means as fast as possible: no wait, whatever the count."""
        clock = FakeClock()
        limiter = RateLimiter(0, clock=clock)
        assert all(limiter.reserve() == 0.0 for _ in range(10_000))

    def test_long_run_average_equals_the_rate(self) -> None:
        """Sending n events takes (n - burst) / rate seconds: the burst is free, the rest paced at the rate."""
        clock = FakeClock()
        start = clock.now
        limiter = RateLimiter(200.0, burst=20, clock=clock)
        _drain(limiter, clock, 2020)
        assert clock.now - start == pytest.approx(2000 / 200.0)

    def test_burst_is_free_then_events_are_spaced(self) -> None:
        """The first `burst` events go at once; each next one waits 1/rate."""
        clock = FakeClock()
        limiter = RateLimiter(50.0, burst=5, clock=clock)
        assert [limiter.reserve() for _ in range(5)] == [0.0] * 5
        assert limiter.reserve() == pytest.approx(1 / 50)

    def test_idle_time_refills_only_up_to_the_burst(self) -> None:
        """A long pause does not bank an unbounded burst: after it, only `burst` events go without waiting."""
        clock = FakeClock()
        limiter = RateLimiter(100.0, burst=10, clock=clock)
        _drain(limiter, clock, 50)
        clock.now += 3600
        waits = [limiter.reserve() for _ in range(11)]
        assert waits[:10] == [0.0] * 10
        assert waits[10] > 0

    def test_an_overslept_wait_is_not_charged_twice(self) -> None:
        """A sleep longer than asked credits the extra time, so coarse sleeps do not push the rate below target."""
        clock = FakeClock()
        limiter = RateLimiter(100.0, burst=1, clock=clock)
        limiter.reserve()
        wait = limiter.reserve()
        clock.now += wait * 3  # the scheduler slept three times too long
        assert limiter.reserve() == 0.0

    def test_default_burst_is_a_tenth_of_a_second(self) -> None:
        """Without an explicit burst, the bucket holds 0.1 s of traffic (at least one event)."""
        assert RateLimiter(2000.0, clock=FakeClock()).capacity == 200
        assert RateLimiter(2.0, clock=FakeClock()).capacity == 1

    def test_negative_rate_is_refused(self) -> None:
        """A negative rate is a mistake, not 'unlimited'."""
        with pytest.raises(ValueError, match="rate"):
            RateLimiter(-1.0)


def _events(count: int, prefix: str) -> list[AccessEvent]:
    start = datetime(2025, 4, 22, 17, 0, tzinfo=UTC)
    return [
        AccessEvent(
            event_id=f"{prefix}-{index}",
            event_type="query",
            occurred_at=start + timedelta(seconds=index),
            owner=Owner(agency="Oakland CA PD", state="CA"),
            requester=Requester(agency="Berkeley CA PD", user=f"u-{index % 7}"),
            query=Query(plate=f"7ABC{index:03d}", reason=f"stolen vehicle 25-{index:04d}"),
        )
        for index in range(count)
    ]


def _settings(broker: KafkaBroker | str, topic: str) -> Settings:
    address = broker if isinstance(broker, str) else broker.bootstrap
    return Settings(broker=f"kafka://{address}", input_topic=topic)


def _topic(broker: KafkaBroker) -> str:
    name = f"test-produce-{uuid.uuid4().hex[:12]}"
    asyncio.run(broker.create_topic(name, 3))
    return name


def _consume(broker: KafkaBroker, topic: str, expected: int) -> list[tuple[bytes | None, bytes]]:
    async def run() -> list[tuple[bytes | None, bytes]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=broker.bootstrap,
            group_id=f"test-produce-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        received: list[tuple[bytes | None, bytes]] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + CONSUME_DEADLINE_S
            while len(received) < expected and loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                received += [(record.key, record.value) for records in batches.values() for record in records]
            # Anything beyond `expected` would be a duplicate: give it a moment to show up.
            batches = await consumer.getmany(timeout_ms=500)
            received += [(record.key, record.value) for records in batches.values() for record in records]
        finally:
            await consumer.stop()
        return received

    return asyncio.run(run())


@pytest.mark.kafka
class TestProduceFiles:
    def test_every_event_arrives_once_keyed_by_its_owner(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        """All events of a v1 JSONL file land on the input topic once each, key = the owner, value = v1 JSON."""
        events = _events(250, "ok")
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"".join(encode_event(event) + b"\n" for event in events))
        topic = _topic(kafka_broker)
        err = io.StringIO()

        status = produce_files(_settings(kafka_broker, topic), [str(path)], err=err)

        assert status == 0, err.getvalue()
        received = _consume(kafka_broker, topic, len(events))
        # Oakland CA PD is the policy's owner "oakland-pd": every one of its events carries that key.
        assert sorted(received) == sorted((b"oakland-pd", encode_event(event)) for event in events)
        assert "250 sent" in err.getvalue()

    def test_unreadable_records_are_reported_and_the_rest_sent(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        """Bad lines are named as file:line: reason on stderr, counted, the good ones sent, and the status is 1."""
        good = _events(3, "mixed")
        lines = [encode_event(good[0]), b'{"event_id": "broken-1", "event_type": "query"', encode_event(good[1])]
        lines += [b'{"event_id": "broken-2", "event_type": "query", "occurred_at": "yesterday"}', encode_event(good[2])]
        path = tmp_path / "mixed.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        topic = _topic(kafka_broker)
        err = io.StringIO()

        status = produce_files(_settings(kafka_broker, topic), [str(path)], err=err)

        assert status == 1
        report = err.getvalue()
        assert f"{path}:2:" in report
        assert f"{path}:4:" in report
        assert "2 unreadable" in report
        sent = sorted(decode_event(value).event_id for _, value in _consume(kafka_broker, topic, 3))
        assert sent == sorted(event.event_id for event in good)

    def test_nothing_usable_gives_status_2(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        """A file with no readable record sends nothing and exits 2."""
        path = tmp_path / "bad.jsonl"
        path.write_text("not json\n{}\n")
        err = io.StringIO()

        assert produce_files(_settings(kafka_broker, _topic(kafka_broker)), [str(path)], err=err) == 2
        assert "0 sent" in err.getvalue()

    def test_missing_file_is_reported(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        """A file that cannot be opened is named on stderr; the other files are still sent."""
        events = _events(5, "partial")
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"".join(encode_event(event) + b"\n" for event in events))
        missing = tmp_path / "nope.jsonl"
        topic = _topic(kafka_broker)
        err = io.StringIO()

        status = produce_files(_settings(kafka_broker, topic), [str(missing), str(path)], err=err)

        assert status == 1
        assert f"{missing}: cannot read" in err.getvalue()
        assert len(_consume(kafka_broker, topic, 5)) == 5

    def test_corrupt_gzip_stops_only_its_file(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        """A gzip file cut short (EOFError) or damaged (zlib.error) is reported; the other files are sent."""
        import gzip

        events = _events(40, "gz")
        whole = gzip.compress(b"".join(encode_event(event) + b"\n" for event in events[:30]))
        cut, damaged = tmp_path / "cut.jsonl.gz", tmp_path / "damaged.jsonl.gz"
        cut.write_bytes(whole[: len(whole) // 2])
        damaged.write_bytes(whole[:40] + bytes(byte ^ 0xFF for byte in whole[40:80]) + whole[80:])
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"".join(encode_event(event) + b"\n" for event in events[30:]))
        topic = _topic(kafka_broker)
        err = io.StringIO()

        status = produce_files(_settings(kafka_broker, topic), [str(cut), str(damaged), str(path)], err=err)

        assert status == 1, err.getvalue()
        assert f"{cut}: cannot read" in err.getvalue()
        assert f"{damaged}: cannot read" in err.getvalue()
        sent = {decode_event(value).event_id for _, value in _consume(kafka_broker, topic, 10)}
        assert {event.event_id for event in events[30:]} <= sent  # keys are owners now: compare the events

    def test_vendor_export_is_sent_as_v1_events(self, kafka_broker: KafkaBroker) -> None:
        """A real Flock portal search audit is converted and every event the reader yields from it is sent."""
        path = DATA / "flock-portal-search-audit-eugene-2025.csv"
        options = IngestOptions(owner=Owner(agency="Eugene OR PD", state="OR"))
        expected = [item for item in read_events(str(path), None, options) if isinstance(item, AccessEvent)]
        topic = _topic(kafka_broker)
        err = io.StringIO()

        status = produce_files(_settings(kafka_broker, topic), [str(path)], fmt=None, options=options, err=err)

        assert status == 0, err.getvalue()
        received = _consume(kafka_broker, topic, len(expected))
        assert sorted(decode_event(value).event_id for _, value in received) == sorted(e.event_id for e in expected)
        assert {key for key, _ in received} == {b"~eugene or pd"}, "keyed by owner (not in the policy: folded name)"
        assert {decode_event(value).owner.agency for _, value in received} == {"Eugene OR PD"}

    def test_rate_limited_run_sends_everything(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        """With a rate set, every event is still sent (the pacing itself is tested with a fake clock above)."""
        events = _events(40, "paced")
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"".join(encode_event(event) + b"\n" for event in events))
        topic = _topic(kafka_broker)

        assert produce_files(_settings(kafka_broker, topic), [str(path)], rate=400.0, err=io.StringIO()) == 0
        assert len(_consume(kafka_broker, topic, 40)) == 40


def _with_long_reason(event: AccessEvent, size: int) -> AccessEvent:
    assert event.query is not None
    return msgspec.structs.replace(event, query=msgspec.structs.replace(event.query, reason="x" * size))


@pytest.mark.kafka
class TestUndeliverable:
    def test_event_over_the_topic_limit_is_counted_and_the_rest_sent(
        self, kafka_broker: KafkaBroker, tmp_path: Path
    ) -> None:
        """An event larger than the topic's max.message.bytes is reported and counted; the others arrive; status 1."""
        events = _events(4, "limit")
        events[1] = _with_long_reason(events[1], 8000)
        path = tmp_path / "events.jsonl"
        path.write_bytes(b"".join(encode_event(event) + b"\n" for event in events))
        topic = f"test-produce-small-{uuid.uuid4().hex[:12]}"
        asyncio.run(kafka_broker.create_topic(topic, 1, config={"max.message.bytes": "4096"}))
        err = io.StringIO()

        # At 20 events/s each send is confirmed before the next, so the big one fails alone.
        status = produce_files(_settings(kafka_broker, topic), [str(path)], rate=20.0, err=err)

        report = err.getvalue()
        assert status == 1, report
        assert "'limit-1': not delivered: MessageSizeTooLargeError" in report
        assert "4 records: 3 sent" in report
        assert "1 not delivered" in report
        sent = sorted(decode_event(value).event_id for _, value in _consume(kafka_broker, topic, 3))
        assert sent == sorted(event.event_id for event in events if event.event_id != "limit-1")

    def test_send_refused_by_the_client_is_counted_not_raised(self, kafka_broker: KafkaBroker) -> None:
        """An event the producer refuses outright (over its request limit) is counted as failed; the rest go."""
        events = _events(5, "refused")
        events[2] = _with_long_reason(events[2], 4000)
        topic = _topic(kafka_broker)
        summary = ProduceSummary()
        lines: list[str] = []

        async def run() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all", max_request_size=2048)
            await producer.start()
            try:
                await _send_all(
                    producer, topic, events, RateLimiter(0), summary, lambda _: None, lines.append, key_for=_by_id
                )
            finally:
                await producer.stop()

        asyncio.run(run())

        assert (summary.sent, summary.failed, summary.status()) == (4, 1, 1)
        assert [line for line in lines if "refused-2" in line and "MessageSizeTooLargeError" in line], lines
        assert len(_consume(kafka_broker, topic, 4)) == 4


class TestUnreachableBroker:
    def test_no_broker_gives_status_2(self, tmp_path: Path) -> None:
        """With nothing listening at the broker address, produce says so and exits 2."""
        path = tmp_path / "events.jsonl"
        path.write_bytes(encode_event(_events(1, "x")[0]) + b"\n")
        port = free_loopback_ports(1)[0]
        err = io.StringIO()

        assert produce_files(_settings(f"127.0.0.1:{port}", "t"), [str(path)], err=err) == 2
        assert "cannot reach the broker" in err.getvalue()


@pytest.mark.kafka
class TestIngestCommand:
    def test_ingest_sends_a_vendor_export(self, kafka_broker: KafkaBroker, tmp_path: Path) -> None:
        """`alpr-monitor ingest EXPORT --owner ...` sends every record of a real Flock audit to the topic."""
        import os
        import subprocess
        import sys

        path = DATA / "flock-portal-search-audit-eugene-2025.csv"
        topic = _topic(kafka_broker)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "cli",
                "ingest",
                str(path),
                "--owner",
                "Eugene OR PD",
                "--owner-state",
                "OR",
            ],
            env={**os.environ, "ALPR_BROKER": f"kafka://{kafka_broker.bootstrap}", "ALPR_INPUT_TOPIC": topic},
            capture_output=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr.decode()
        received = _consume(kafka_broker, topic, 4294)
        assert len({decode_event(value).event_id for _, value in received}) == 4294
        assert {key for key, _ in received} == {b"~eugene or pd"}, "every event keyed by its owner"
