"""Shared pytest fixtures."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kafka_broker import BrokerStartError, KafkaBroker
from secure_kafka_broker import SecureKafkaBroker

from monitor.events import decode_event
from monitor.hashing import Pseudonymizer


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


@pytest.fixture(scope="session")
def secure_kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureKafkaBroker]:
    """A secured broker (SASL_SSL with SCRAM and PLAIN, mTLS, ACLs enforced), started once for the session."""
    broker = SecureKafkaBroker()
    try:
        broker.start(tmp_path_factory.mktemp("secure-kafka"))
    except BrokerStartError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield broker
    broker.stop()


# --- The worker's known-answer event streams (tests/test_worker_*.py) ------------------------------

PSEUDONYM_KEY = b"worker-tests-pseudonym-key-0123456789"


@dataclass(frozen=True)
class KnownStream:
    """Input messages with the answers the engine, run directly, gives for them.

    `alerts` maps each expected alert id to its (event_id, rule_id); `invalid` maps the key of each
    malformed message to the DLQ reason it must carry; `kinds` holds hand-written expectations for a
    few events whose finding is obvious (a federal recipient, an immigration purpose, a clean search).
    """

    messages: list[tuple[bytes, bytes]]
    alerts: dict[str, tuple[str, str]]
    clean: frozenset[str]
    alerted: frozenset[str]
    invalid: dict[bytes, str]
    kinds: dict[str, frozenset[str]]

    @property
    def by_key(self) -> dict[bytes, bytes]:
        return dict(self.messages)


def _query(event_id: str, owner: str, requester: str, reason: str | None, *, occurred_at: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "query",
        "occurred_at": occurred_at,
        "owner": {"agency": owner, "state": "CA" if "CA" in owner else None},
        "requester": {"agency": requester, "user": f"officer-{len(event_id) % 7}"},
        "query": {"plate": f"7ABC{len(event_id) % 900 + 100}", "reason": reason, "time_frame_start": occurred_at},
        "source": {"vendor": "test", "log": "worker"},
    }


# Hand-written cases: (event, a kind the event must raise, or None for "no alert at all").
_HANDWRITTEN: list[tuple[dict[str, Any], str | None]] = [
    (
        _query(
            "k-federal",
            "Oakland CA PD",
            "Federal Bureau of Investigation",
            "stolen vehicle 24-001234",
            occurred_at="2025-04-22T17:03:11Z",
        ),
        "recipient.federal",
    ),
    (
        _query(
            "k-clean", "Oakland CA PD", "Berkeley CA PD", "stolen vehicle 24-001234", occurred_at="2025-04-22T17:04:11Z"
        ),
        None,
    ),
    (
        _query("k-immigration", "Oakland CA PD", "Berkeley CA PD", "ICE case", occurred_at="2025-04-22T17:05:11Z"),
        "purpose.immigration",
    ),
    (
        _query(
            "k-out-of-state",
            "Oakland CA PD",
            "Reno NV PD",
            "stolen vehicle 24-001234",
            occurred_at="2025-04-22T17:06:11Z",
        ),
        "recipient.out_of_state",
    ),
    (
        _query("k-uninformative", "Oakland CA PD", "Berkeley CA PD", "inv", occurred_at="2025-04-22T17:07:11Z"),
        "purpose.uninformative",
    ),
    (
        {
            "event_id": "k-sharing",
            "event_type": "sharing_change",
            "occurred_at": "2025-04-22T17:08:11Z",
            "owner": {"agency": "Oakland CA PD", "state": "CA"},
            "requester": {"agency": "Texas DPS"},
            "sharing": {"action": "grant", "direction": "outbound", "approval_mode": "group", "batch_size": 300},
        },
        "recipient.out_of_state",
    ),
]

# Malformed messages, keyed, with the DLQ reason each must get.
_MALFORMED: list[tuple[bytes, bytes, str]] = [
    (b"m-bad-json", b'{"event_id": "m-bad-json", "event_type": ', "invalid_json"),
    (
        b"m-wrong-type",
        b'{"event_id": "m-wrong-type", "event_type": "delete", "occurred_at": "2025-04-22T17:03:11Z",'
        b' "owner": {"agency": "Oakland CA PD"}, "requester": {"agency": "Berkeley CA PD"}}',
        "invalid_field",
    ),
    (
        b"m-missing-requester",
        b'{"event_id": "m-missing-requester", "event_type": "query", "occurred_at": "2025-04-22T17:03:11Z",'
        b' "owner": {"agency": "Oakland CA PD"}, "query": {"plate": "7ABC123"}}',
        "invalid_field",
    ),
    (b"m-not-utf8", b'{"event_id": "m-not-utf8", "reason": "\xff\xfe"}', "invalid_encoding"),
    (b"m-oversize", b'{"event_id": "m-oversize", "pad": "' + b"x" * 70_000 + b'"}', "oversize"),
]

_OWNERS = ["Oakland CA PD", "Long Beach CA PD", "San Francisco CA PD", "Eugene OR PD", "Austin TX PD"]
_REQUESTERS = [
    "Federal Bureau of Investigation",
    "Berkeley CA PD",
    "Reno NV PD",
    "Alameda County CA SO",
    "Immigration and Customs Enforcement",
    "Acme Security LLC",
    "Portland OR PD",
    "California Highway Patrol",
]
_REASONS = ["investigation", "ICE case", "stolen vehicle 24-001234", "inv", None, "protest", "homicide 23-1234", "."]


def build_known_stream(engine: Any, generated: int, *, seed: int = 7) -> KnownStream:
    """Hand-written events, malformed messages and `generated` seeded random events, with the answers."""
    rnd = random.Random(seed)
    documents = [event for event, _ in _HANDWRITTEN]
    for i in range(generated):
        minute, second = divmod(i % 3600, 60)
        documents.append(
            _query(
                f"g-{seed}-{i}",
                rnd.choice(_OWNERS),
                rnd.choice(_REQUESTERS),
                rnd.choice(_REASONS),
                occurred_at=f"2025-05-{1 + i % 28:02d}T10:{minute:02d}:{second:02d}Z",
            )
        )
    # Malformed messages spread evenly through the stream, not bunched at one end.
    spacing = max(1, len(documents) // (len(_MALFORMED) + 1))
    malformed_after = {spacing * (i + 1): bad for i, bad in enumerate(_MALFORMED)}
    messages: list[tuple[bytes, bytes]] = []
    alerts: dict[str, tuple[str, str]] = {}
    clean: set[str] = set()
    alerted: set[str] = set()
    invalid: dict[bytes, str] = {}
    for index, document in enumerate(documents):
        raw = json.dumps(document).encode()
        event_id = document["event_id"]
        messages.append((event_id.encode(), raw))
        found = engine.judge(decode_event(raw))
        for alert in found:
            alerts[alert.alert_id] = (event_id, alert.rule_id)
        (alerted if found else clean).add(event_id)
        if index in malformed_after:
            key, value, reason = malformed_after[index]
            messages.append((key, value))
            invalid[key] = reason
    kinds = {event["event_id"]: frozenset([kind] if kind else []) for event, kind in _HANDWRITTEN}
    return KnownStream(messages, alerts, frozenset(clean), frozenset(alerted), invalid, kinds)


@pytest.fixture(scope="session")
def pseudonymizer() -> Pseudonymizer:
    return Pseudonymizer(PSEUDONYM_KEY)


@pytest.fixture(scope="session")
def reference_engine(pseudonymizer: Pseudonymizer) -> Any:
    """The shipped policy's engine, built once: the expected answers come from judging directly."""
    from monitor.engine import load_engine

    return load_engine(None, pseudonymizer)
