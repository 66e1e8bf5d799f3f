"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kafka_broker import BrokerStartError, KafkaBroker


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A real single-node Kafka broker on a free loopback port, shared by the whole session.

    A broker that cannot start fails the test (with its log tail) rather than skipping it:
    every real-component test must run.
    """
    broker = KafkaBroker()
    try:
        broker.start(tmp_path_factory.mktemp("kafka"))
    except BrokerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield broker
    broker.stop()
