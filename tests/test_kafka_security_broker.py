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

import pytest
from aiohttp import web
from conftest import PSEUDONYM_KEY, build_known_stream
from kafka_broker import free_loopback_ports
from secure_kafka_broker import Grant, SecureKafkaBroker, produce, read_all

from monitor.alerts import decode_alert, encode_alert
from monitor.engine import Engine
from streams.patterns import repartition_topic_name
from streams.state_store import changelog_topic_name

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


def _worker_topics(broker: SecureKafkaBroker, principal: str, *, group_acl: bool = True) -> Topics:
    """Fresh topics made by the admin, and the least-privilege ACLs a worker needs on them."""
    name = _unique(f"secure-{principal}")
    topics = Topics(app_id=name, source=f"{name}.events", alerts=f"{name}.alerts", dlq=f"{name}.dlq")
    broker.create_topics([topics.source], partitions=INPUT_PARTITIONS)
    broker.create_topics([topics.alerts, topics.dlq])
    grants = [
        Grant(principal, "topic", topics.source, "READ"),
        Grant(principal, "topic", topics.alerts, "WRITE"),
        Grant(principal, "topic", topics.dlq, "WRITE"),
    ]
    # The pattern detectors' internal topics (streams.patterns): the worker creates, writes and reads them.
    for internal in (changelog_topic_name(name), repartition_topic_name(name)):
        grants += [Grant(principal, "topic", internal, operation) for operation in ("CREATE", "READ", "WRITE")]
    if group_acl:
        grants.append(Grant(principal, "group", topics.app_id, "READ"))
    broker.grant(grants)
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
        generated: int = 400,
        extra_env: dict[str, str] | None = None,
    ) -> Process:
        topics = _worker_topics(broker, principal)
        stream = build_known_stream(engine, generated)
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
            **(extra_env or {}),
        }
        worker = Process(["worker"], env, tmp_path / "worker.log")
        processes.append(worker)
        total = len(stream.messages)
        await _wait_for(lambda: _processed(port) >= total, worker, broker, f"{total} events judged")

        # The pattern detectors run too (their internal topics need the ACLs above); their alerts are
        # tests/test_patterns_live_kafka.py's business: the rules' alerts are compared here.
        alerts = [decode_alert(r.value) for r in await read_all(broker, topics.alerts, 1)]
        rules = [alert for alert in alerts if not alert.rule_id.startswith("patterns.")]
        pairs = {alert.alert_id: (alert.event_id, alert.rule_id) for alert in rules}
        assert pairs == stream.alerts
        assert len(rules) == len(stream.alerts)
        dead = await read_all(broker, topics.dlq, 1)
        assert sorted(r.key for r in dead) == sorted(stream.invalid)
        assert worker.stop() == 0
        assert_no_secret(broker, worker.text(), "the worker's log")
        [connection] = [json.loads(line) for line in worker.text().splitlines() if '"kafka connection"' in line]
        assert connection["security"].startswith(security_env["ALPR_KAFKA_SECURITY_PROTOCOL"])
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

    async def test_worker_over_oauthbearer_with_least_privilege(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path, processes: list[Process]
    ) -> None:
        """Over SASL_SSL OAUTHBEARER (token from the hook, Faust's OAuthCredentials), with only its ACLs, the worker
        writes exactly the engine's alerts and dead letters."""
        broker = secure_kafka_broker
        env = broker.oauth_env("oauth-worker")
        await self._judges_known_stream(
            broker, reference_engine, "oauth-worker", env, broker.sasl_ssl_bootstrap, tmp_path, processes, generated=100
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


def _events_file(engine: Engine, path: Path, count: int) -> int:
    """A v1 JSONL file of the known stream's well-formed events; returns how many."""
    stream = build_known_stream(engine, count)
    lines = [raw.decode() for key, raw in stream.messages if key not in stream.invalid]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


def _produce_cmd(
    broker: SecureKafkaBroker, bootstrap: str, topic: str, events: Path, env: dict[str, str], tmp_path: Path
) -> Process:
    args = ["produce", "--broker", f"kafka://{bootstrap}", "--topic", topic, str(events)]
    return Process(args, _base_env(tmp_path) | env, tmp_path / f"produce-{uuid.uuid4().hex[:6]}.log")


@pytest.mark.kafka
class TestProduceOnSecuredKafka:
    async def test_produce_over_sasl_ssl_plain(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path, processes: list[Process]
    ) -> None:
        """`produce` over SASL_SSL PLAIN (the Confluent Cloud mode) with WRITE on its topic sends every event."""
        broker = secure_kafka_broker
        topic = _unique("secure-produce")
        broker.create_topics([topic])
        broker.grant([Grant("producer", "topic", topic, "WRITE")])
        events = tmp_path / "events.jsonl"
        count = _events_file(reference_engine, events, 50)
        process = _produce_cmd(broker, broker.sasl_ssl_bootstrap, topic, events, broker.sasl_env("producer"), tmp_path)
        processes.append(process)
        assert process.wait() == 0, process.tail(broker)
        assert len(await read_all(broker, topic, 1)) == count
        assert_no_secret(broker, process.text(), "produce's output")

    async def test_produce_over_sasl_ssl_oauthbearer(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path, processes: list[Process]
    ) -> None:
        """`produce` over SASL_SSL OAUTHBEARER, the token from the `module:callable` hook, sends every event."""
        broker = secure_kafka_broker
        topic = _unique("secure-oauth")
        broker.create_topics([topic])
        broker.grant([Grant("oauth-producer", "topic", topic, "WRITE")])
        events = tmp_path / "events.jsonl"
        count = _events_file(reference_engine, events, 20)
        env = broker.oauth_env("oauth-producer")
        process = _produce_cmd(broker, broker.sasl_ssl_bootstrap, topic, events, env, tmp_path)
        processes.append(process)
        assert process.wait() == 0, process.tail(broker)
        assert len(await read_all(broker, topic, 1)) == count


@pytest.mark.kafka
class TestRefusals:
    """Each refusal ends the client in bounded time, non-zero, naming what to fix and never the secret."""

    def _refused(
        self, broker: SecureKafkaBroker, bootstrap: str, env: dict[str, str], tmp_path: Path, engine: Engine
    ) -> tuple[int, str]:
        topic = _unique("secure-refused")
        broker.create_topics([topic])
        events = tmp_path / "events.jsonl"
        _events_file(engine, events, 5)
        process = _produce_cmd(broker, bootstrap, topic, events, env, tmp_path)
        status = process.wait()
        text = process.text()
        assert_no_secret(broker, text, "produce's output")
        return status, text

    def test_wrong_password(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path
    ) -> None:
        """A wrong SCRAM password: exit 2, 'SASL authentication failed' for the user, the password never shown."""
        broker = secure_kafka_broker
        wrong = "wrong-" + uuid.uuid4().hex
        env = broker.sasl_env("worker", password=wrong)
        status, text = self._refused(broker, broker.sasl_ssl_bootstrap, env, tmp_path, reference_engine)
        assert status == 2
        assert "SASL authentication failed for user 'worker' (SCRAM-SHA-512)" in text
        assert wrong not in text

    def test_untrusted_ca(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path
    ) -> None:
        """A CA file that did not sign the broker's certificate: exit 2, 'not trusted', the CA file named."""
        broker = secure_kafka_broker
        env = broker.sasl_env("producer") | {"ALPR_KAFKA_SSL_CA_FILE": str(broker.other_ca_file)}
        status, text = self._refused(broker, broker.sasl_ssl_bootstrap, env, tmp_path, reference_engine)
        assert status == 2
        assert f"the broker's certificate is not trusted by the CA in {broker.other_ca_file}" in text

    def test_missing_client_certificate(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path
    ) -> None:
        """No client certificate on the mTLS listener: exit 2, 'requires a client certificate'."""
        broker = secure_kafka_broker
        status, text = self._refused(broker, broker.ssl_bootstrap, broker.mtls_env(None), tmp_path, reference_engine)
        assert status == 2
        assert "the broker requires a client certificate (mTLS)" in text

    def test_certificate_for_another_host(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path
    ) -> None:
        """A broker certificate that does not name the address dialled is refused (hostname check on by default);
        ALPR_KAFKA_SSL_CHECK_HOSTNAME=false, set knowingly, lets the same connection through."""
        broker = secure_kafka_broker
        env = broker.mtls_env("worker-mtls")
        status, text = self._refused(broker, broker.misnamed_bootstrap, env, tmp_path, reference_engine)
        assert status == 2
        assert "the broker's certificate does not name the address dialled" in text
        topic = _unique("secure-misnamed")
        broker.create_topics([topic])
        broker.grant([Grant("worker-mtls", "topic", topic, "WRITE")])
        events = tmp_path / "events.jsonl"
        _events_file(reference_engine, events, 5)
        unchecked = env | {"ALPR_KAFKA_SSL_CHECK_HOSTNAME": "false"}
        process = _produce_cmd(broker, broker.misnamed_bootstrap, topic, events, unchecked, tmp_path)
        assert process.wait() == 0, process.tail(broker)

    def test_topic_without_acl(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path
    ) -> None:
        """A valid principal without an ACL on the topic: a bounded, non-zero exit naming the authorisation failure."""
        broker = secure_kafka_broker
        env = broker.mtls_env("no-acl-mtls")
        status, text = self._refused(broker, broker.ssl_bootstrap, env, tmp_path, reference_engine)
        assert status != 0
        assert "TopicAuthorizationFailed" in text

    def _worker_refused(
        self, broker: SecureKafkaBroker, bootstrap: str, env: dict[str, str], tmp_path: Path, *, group_acl: bool = True
    ) -> str:
        topics = _worker_topics(broker, "worker", group_acl=group_acl)  # ACLs for `worker` only
        env = _base_env(tmp_path) | env
        env |= {
            "ALPR_BROKER": f"kafka://{bootstrap}",
            "ALPR_INPUT_TOPIC": topics.source,
            "ALPR_ALERTS_TOPIC": topics.alerts,
            "ALPR_DLQ_TOPIC": topics.dlq,
            "ALPR_APP_ID": topics.app_id,
            "ALPR_PSEUDONYM_KEY": PSEUDONYM_KEY.decode(),
            "ALPR_METRICS_PORT": "0",
        }
        worker = Process(["worker"], env, tmp_path / "worker.log")
        status = worker.wait()
        text = worker.text()
        assert status == 2, worker.tail(broker)
        assert_no_secret(broker, text, "the worker's log")
        return text

    def test_worker_on_topics_without_acl(self, secure_kafka_broker: SecureKafkaBroker, tmp_path: Path) -> None:
        """A worker whose principal has no ACL on its topics exits 2 at start, naming the topics, instead of waiting."""
        broker = secure_kafka_broker
        text = self._worker_refused(broker, broker.sasl_ssl_bootstrap, broker.sasl_env("no-acl"), tmp_path)
        assert "the Kafka broker refused us: not authorised for topic(s)" in text
        assert "SASL_SSL, SCRAM-SHA-512, user no-acl" in text

    async def test_notifier_with_wrong_password_exits_2(
        self, secure_kafka_broker: SecureKafkaBroker, tmp_path: Path, processes: list[Process]
    ) -> None:
        """`notify` with a wrong password exits 2 (configuration, not an outage), naming the failure, not the secret."""
        broker = secure_kafka_broker
        alerts = _unique("secure-notify-refused")
        broker.create_topics([alerts])
        config = tmp_path / "endpoints.yaml"
        config.write_text("endpoints:\n  - {name: audit, kind: webhook, url: 'http://127.0.0.1:9/hook'}\n")
        wrong = "wrong-" + uuid.uuid4().hex
        env = _base_env(tmp_path) | broker.sasl_env("notifier", password=wrong)
        args = ["notify", "--config", str(config), "--broker", f"kafka://{broker.sasl_ssl_bootstrap}"]
        notifier = Process([*args, "--topic", alerts, "--metrics-port", "0"], env, tmp_path / "notify.log")
        processes.append(notifier)
        assert notifier.wait() == 2, notifier.tail(broker)
        text = notifier.text()
        assert "SASL authentication failed for user 'notifier' (SCRAM-SHA-256)" in text
        assert wrong not in text
        assert_no_secret(broker, text, "the notifier's log")

    def test_worker_without_group_acl(self, secure_kafka_broker: SecureKafkaBroker, tmp_path: Path) -> None:
        """A worker allowed its topics but not its consumer group exits 2 at start, naming the group."""
        broker = secure_kafka_broker
        env = broker.sasl_env("worker")
        text = self._worker_refused(broker, broker.sasl_ssl_bootstrap, env, tmp_path, group_acl=False)
        assert "the Kafka broker refused us: not authorised for consumer group 'secure-worker-" in text

    def test_worker_with_wrong_password(self, secure_kafka_broker: SecureKafkaBroker, tmp_path: Path) -> None:
        """A worker with a wrong password exits 2 at start with 'SASL authentication failed', not retrying forever."""
        broker = secure_kafka_broker
        wrong = "wrong-" + uuid.uuid4().hex
        text = self._worker_refused(
            broker, broker.sasl_ssl_bootstrap, broker.sasl_env("worker", password=wrong), tmp_path
        )
        assert "SASL authentication failed for user 'worker' (SCRAM-SHA-512)" in text
        assert wrong not in text


class Webhook:
    """A loopback HTTP receiver recording the alert ids posted to it."""

    def __init__(self) -> None:
        self.alert_ids: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            self.alert_ids[(await request.json())["alert_id"]] += 1
            return web.Response(status=200)

        app = web.Application()
        app.router.add_post("/hook", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/hook"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def _some_alerts(engine: Engine) -> list[tuple[bytes, bytes]]:
    """Real alerts of the known stream's hand-written events, keyed by alert id as the worker writes them."""
    from monitor.events import decode_event

    stream = build_known_stream(engine, 0)
    found = []
    for key, raw in stream.messages:
        if key in stream.invalid:
            continue
        for alert in engine.judge(decode_event(raw)):
            found.append((alert.alert_id.encode(), encode_alert(alert)))
    return found


@pytest.mark.kafka
class TestNotifierOnSecuredKafka:
    async def test_notifier_over_sasl_ssl_scram_sha_256(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path, processes: list[Process]
    ) -> None:
        """`notify` over SASL_SSL SCRAM-SHA-256 with only its ACLs posts every alert once and exits 0 on SIGTERM."""
        broker = secure_kafka_broker
        name = _unique("secure-notify")
        alerts, dlq, group = f"{name}.alerts", f"{name}.notify-dlq", f"{name}-group"
        broker.create_topics([alerts, dlq])
        broker.grant(
            [
                Grant("notifier", "topic", alerts, "READ"),
                Grant("notifier", "topic", dlq, "WRITE"),
                Grant("notifier", "group", group, "READ"),
            ]
        )
        messages = _some_alerts(reference_engine)
        await produce(broker, alerts, messages)
        webhook = Webhook()
        await webhook.start()
        try:
            config = tmp_path / "endpoints.yaml"
            config.write_text(f"endpoints:\n  - {{name: audit, kind: webhook, url: '{webhook.url}'}}\n")
            env = _base_env(tmp_path) | broker.sasl_env("notifier") | {"ALPR_NOTIFY_DLQ_TOPIC": dlq}
            args = ["notify", "--config", str(config), "--broker", f"kafka://{broker.sasl_ssl_bootstrap}"]
            args += ["--topic", alerts, "--group", group, "--metrics-port", "0"]
            notifier = Process(args, env, tmp_path / "notify.log")
            processes.append(notifier)
            expected = {key.decode() for key, _ in messages}
            await _wait_for(lambda: set(webhook.alert_ids) == expected, notifier, broker, "every alert posted")
            assert notifier.stop() == 0, notifier.tail(broker)
        finally:
            await webhook.stop()
        assert all(count == 1 for count in webhook.alert_ids.values())
        assert_no_secret(broker, notifier.text(), "the notifier's log")


@pytest.mark.kafka
class TestNoSecretInLogs:
    async def test_debug_logs_of_every_client_hold_no_secret(
        self, secure_kafka_broker: SecureKafkaBroker, reference_engine: Engine, tmp_path: Path, processes: list[Process]
    ) -> None:
        """At DEBUG, the logs of a SCRAM worker, an mTLS worker, a good and a refused `produce`, and the broker's
        own logs hold no password and no line of any private key."""
        broker = secure_kafka_broker
        debug = {"ALPR_LOG_LEVEL": "DEBUG"}
        outputs: dict[str, str] = {}
        (tmp_path / "scram").mkdir()
        (tmp_path / "mtls").mkdir()
        scram = await TestWorkerOnSecuredKafka()._judges_known_stream(
            broker, reference_engine, "worker", broker.sasl_env("worker"), broker.sasl_ssl_bootstrap,
            tmp_path / "scram", processes, generated=20, extra_env=debug,
        )  # fmt: skip
        outputs["SCRAM worker"] = scram.text()
        mtls = await TestWorkerOnSecuredKafka()._judges_known_stream(
            broker, reference_engine, "worker-mtls", broker.mtls_env("worker-mtls"), broker.ssl_bootstrap,
            tmp_path / "mtls", processes, generated=20, extra_env=debug,
        )  # fmt: skip
        outputs["mTLS worker"] = mtls.text()
        topic = _unique("secure-debug")
        broker.create_topics([topic])
        broker.grant([Grant("producer", "topic", topic, "WRITE")])
        events = tmp_path / "events.jsonl"
        _events_file(reference_engine, events, 5)
        for label, env in (
            ("produce", broker.sasl_env("producer") | debug),
            ("refused produce", broker.sasl_env("producer", password=broker.passwords["worker"]) | debug),
        ):
            process = _produce_cmd(broker, broker.sasl_ssl_bootstrap, topic, events, env, tmp_path)
            process.wait()
            outputs[label] = process.text()
        assert "SASL authentication failed for user 'producer'" in outputs["refused produce"]
        for log in (broker.data_dir / "logs").glob("*"):
            outputs[f"broker {log.name}"] = log.read_text(errors="replace")
        assert sum(len(text.splitlines()) for text in outputs.values()) > 100, "the runs logged at DEBUG"
        secrets = broker.secret_strings()
        # The detector works: the broker's own configuration holds the PLAIN users' passwords.
        assert any(secret in (broker.data_dir / "server.properties").read_text() for secret in secrets)
        for label, text in outputs.items():
            for number, line in enumerate(text.splitlines(), 1):
                leaked = [len(secret) for secret in secrets if secret in line]
                assert not leaked, f"{label} line {number} holds a secret ({leaked} characters)"
