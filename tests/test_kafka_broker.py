"""The real Kafka broker started by deploy/kafka: clients can create topics, produce and consume."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_broker import KafkaBroker

pytestmark = pytest.mark.kafka

N_MESSAGES = 1000
N_KEYS = 7
# A bound on waiting, so a broken broker fails the test instead of hanging it; not a timing check.
CONSUME_DEADLINE_S = 60.0


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


async def _consume(broker: KafkaBroker, topic: str, expected: int) -> list[tuple[int, bytes, bytes]]:
    """Read from the beginning until `expected` records arrived or the deadline passed."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.bootstrap,
        group_id=_unique("test-group"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: list[tuple[int, bytes, bytes]] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONSUME_DEADLINE_S
        while len(received) < expected and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                received.extend((tp.partition, r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    return received


class TestKafkaBroker:
    def test_bootstrap_is_loopback(self, kafka_broker: KafkaBroker) -> None:
        """The broker advertises a loopback address clients can dial, never 0.0.0.0."""
        host, _, port = kafka_broker.bootstrap.rpartition(":")
        assert host == "127.0.0.1"
        assert int(port) == kafka_broker.port > 0

    async def test_create_topic_makes_requested_partitions(self, kafka_broker: KafkaBroker) -> None:
        """create_topic returns once the topic exists with the requested partition count."""
        topic = _unique("test-create")
        await kafka_broker.create_topic(topic, partitions=4)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
        await producer.start()
        try:
            assert await producer.partitions_for(topic) == {0, 1, 2, 3}
        finally:
            await producer.stop()

    async def test_producing_to_unknown_topic_auto_creates_it(self, kafka_broker: KafkaBroker) -> None:
        """A topic nobody declared is created on first use with the default single partition."""
        topic = _unique("test-auto")
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap)
        await producer.start()
        try:
            record = await producer.send_and_wait(topic, b"first")
            assert await producer.partitions_for(topic) == {0}
        finally:
            await producer.stop()
        assert (record.topic, record.partition, record.offset) == (topic, 0, 0)

    async def test_produce_and_consume_1000_messages(self, kafka_broker: KafkaBroker) -> None:
        """Every produced message comes back exactly once, intact, in order within its key."""
        topic = _unique("test-roundtrip")
        await kafka_broker.create_topic(topic, partitions=3)
        sent = [
            (f"key-{i % N_KEYS}".encode(), f'{{"seq": {i}, "body": "{uuid.uuid4().hex}"}}'.encode())
            for i in range(N_MESSAGES)
        ]
        producer = AIOKafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
        await producer.start()
        try:
            futures = [await producer.send(topic, value=value, key=key) for key, value in sent]
            metadata = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        assert {m.partition for m in metadata} == {0, 1, 2}

        received = await _consume(kafka_broker, topic, N_MESSAGES)

        assert len(received) == N_MESSAGES
        assert sorted((k, v) for _, k, v in received) == sorted(sent)
        by_key: defaultdict[bytes, list[bytes]] = defaultdict(list)
        partitions_of_key: defaultdict[bytes, set[int]] = defaultdict(set)
        for partition, key, value in received:
            by_key[key].append(value)
            partitions_of_key[key].add(partition)
        for key, values in by_key.items():
            assert values == [v for k, v in sent if k == key]
            assert len(partitions_of_key[key]) == 1
