"""The start-up preflight only looks: on a broker that auto-creates topics it must not create the input topic."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from kafka_broker import KafkaBroker

from monitor.kafka_security import KafkaSecurity
from streams.kafka_refusals import preflight

pytestmark = pytest.mark.kafka


class TestPreflight:
    async def test_preflight_never_creates_a_missing_topic(self, kafka_broker: KafkaBroker) -> None:
        """A missing topic is no refusal (None), and after the preflight it is still missing."""
        topic = f"preflight-missing-{uuid.uuid4().hex[:8]}"
        assert kafka_broker.auto_create_topics  # the session broker creates topics on a metadata request
        assert await preflight(kafka_broker.bootstrap, KafkaSecurity(), [topic], "preflight-group") is None
        await asyncio.sleep(3)  # the broker creates auto-created topics asynchronously; give it the chance
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
        await admin.start()
        try:
            assert topic not in set(await admin.list_topics())
        finally:
            await admin.close()
