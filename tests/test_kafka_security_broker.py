"""Every Kafka client of the project on a real secured broker: SASL_SSL (SCRAM, PLAIN), mTLS, ACLs.

The worker runs as `python -m cli worker` with least-privilege ACLs (read its input, write alerts and
DLQ, its consumer group; no create: the admin pre-creates the topics) and must judge a known stream
with exactly the engine's alerts. Refusals (wrong password, untrusted CA, no client certificate, a topic
without an ACL) end in bounded time with an error naming what is wrong, and no secret in any output.
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
from aiohttp import web
from conftest import PSEUDONYM_KEY, build_known_stream
from kafka_broker import free_loopback_ports
from secure_kafka_broker import Grant, SecureKafkaBroker, produce, read_all

from monitor.alerts import decode_alert, encode_alert
from monitor.engine import Engine

REPO = Path(__file__).resolve().parents[1]
INPUT_PARTITIONS = 2
DEADLINE_S = 120.0  # bound on waiting for a process or the broker, not a timing check
POLL_S = 0.1


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def assert_no_secret(broker: SecureKafkaBroker, text: str, where: str) -> None:
    """No password and no line of any private key appears anywhere in `text`."""
    for secret in broker.secret_strings():
        assert secret not in text, f"a secret ({len(secret)} characters) appears in {where}"


@dataclass(frozen=True)
class Topics:
    app_id: str
    source: str
    alerts: str
    dlq: str


def _worker_topics(broker: SecureKafkaBroker, principal: str) -> Topics:
    """Fresh topics made by the admin, and the least-privilege ACLs a worker needs on them."""
    name = _unique(f"secure-{principal}")
    topics = Topics(app_id=name, source=f"{name}.events", alerts=f"{name}.alerts", dlq=f"{name}.dlq")
    broker.create_topics([topics.source], partitions=INPUT_PARTITIONS)
    broker.create_topics([topics.alerts, topics.dlq])
    broker.grant(
        [
            Grant(principal, "topic", topics.source, "READ"),
            Grant(principal, "topic", topics.alerts, "WRITE"),
            Grant(principal, "topic", topics.dlq, "WRITE"),
            Grant(principal, "group", topics.app_id, "READ"),
        ]
    )
    return topics


class Process:
    """A `python -m cli ...` subprocess whose combined output goes to a log file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli", *args], env=env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def tail(self, broker: SecureKafkaBroker) -> str:
        return broker.redact("\n".join(self.text().splitlines()[-40:]))

    def wait(self, timeout: float = DEADLINE_S) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self.kill()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(60)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def _base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALPR_")}
    return env | {"ALPR_LOG_FORMAT": "json", "ALPR_DATA_DIR": str(tmp_path / "faust")}


def _processed(port: int) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(float(v) for v in re.findall(r"^alpr_events_processed_total\{[^}]*\} (\S+)$", text, re.M))


async def _wait_for(check: Callable[[], bool], process: Process, broker: SecureKafkaBroker, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        if process.proc.poll() is not None:
            pytest.fail(f"process exited ({process.proc.returncode}) while waiting for {what}:\n{process.tail(broker)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{process.tail(broker)}")
        await asyncio.sleep(POLL_S)


@pytest.mark.kafka
class TestWorkerOnSecuredKafka:
    async def _judges_known_stream(
        self,
        broker: SecureKafkaBroker,
        engine: Engine,
        principal: str,
        security_env: dict[str, str],
        bootstrap: str,
        tmp_path: Path,
        processes: list[Process],
    ) -> Process:
        topics = _worker_topics(broker, principal)
        stream = build_known_stream(engine, 400)
        await produce(broker, topics.source, stream.messages)
        [port] = free_loopback_ports(1)
        env = _base_env(tmp_path) | security_env
        env |= {
            "ALPR_BROKER": f"kafka://{bootstrap}",
            "ALPR_INPUT_TOPIC": topics.source,
            "ALPR_ALERTS_TOPIC": topics.alerts,
            "ALPR_DLQ_TOPIC": topics.dlq,
            "ALPR_APP_ID": topics.app_id,
            "ALPR_PSEUDONYM_KEY": PSEUDONYM_KEY.decode(),
            "ALPR_METRICS_PORT": str(port),
        }
        worker = Process(["worker"], env, tmp_path / "worker.log")
        processes.append(worker)
        total = len(stream.messages)
        await _wait_for(lambda: _processed(port) >= total, worker, broker, f"{total} events judged")

        alerts = await read_all(broker, topics.alerts, 1)
        pairs = {}
        for record in alerts:
            alert = decode_alert(record.value)
            pairs[alert.alert_id] = (alert.event_id, alert.rule_id)
        assert pairs == stream.alerts
        assert len(alerts) == len(stream.alerts)
        dead = await read_all(broker, topics.dlq, 1)
        assert sorted(r.key for r in dead) == sorted(stream.invalid)
        assert worker.stop() == 0
        assert_no_secret(broker, worker.text(), "the worker's log")
        return worker

    async def test_worker_over_scram_sha_512_with_least_privilege(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path, processes: list[Process]
    ) -> None:
        """Over SASL_SSL SCRAM-SHA-512 (password from a file), with only its ACLs, the worker writes exactly the
        engine's alerts and dead letters."""
        broker = secure_kafka_broker
        env = broker.sasl_env("worker", password_file=tmp_path / "kafka-password")
        await self._judges_known_stream(
            broker, reference_engine, "worker", env, broker.sasl_ssl_bootstrap, tmp_path, processes
        )

    async def test_worker_over_mtls_with_least_privilege(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path, processes: list[Process]
    ) -> None:
        """Over mTLS (principal = the certificate's CN), with only its ACLs, the worker writes exactly the engine's
        alerts and dead letters."""
        broker = secure_kafka_broker
        env = broker.mtls_env("worker-mtls")
        await self._judges_known_stream(
            broker, reference_engine, "worker-mtls", env, broker.ssl_bootstrap, tmp_path, processes
        )
