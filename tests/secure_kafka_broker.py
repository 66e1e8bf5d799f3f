"""A real secured Kafka broker for tests, run by deploy/kafka/secure/{make-certs,start}.sh.

One broker per session, with certificates made here (openssl, a temporary directory):
- SASL_SSL listener: SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN users with random passwords, and
  OAUTHBEARER with Kafka's unsecured validator (unsigned tokens from tests/oauth_test_token.py);
- SSL listener requiring client certificates (mTLS; the principal is the certificate's CN), and another
  whose broker certificate names a different host (the client's hostname check must refuse it);
- ACLs enforced with `allow.everyone.if.no.acl.found=false`; `admin` (SCRAM-SHA-512) is a super user
  and creates topics and ACLs through confluent-kafka's AdminClient (aiokafka has no ACL API).
Client settings come from `KafkaSecurity` and `streams.kafka_clients`, as the product's own do.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import secrets
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafka_broker import KAFKA_DIR, BrokerStartError, ensure_kafka_jars, free_loopback_ports

from monitor.kafka_security import KafkaSecurity, load_kafka_security
from streams.kafka_clients import aiokafka_options, confluent_config

SECURE_DIR = KAFKA_DIR / "secure"
START_TIMEOUT_S = 90
ADMIN_TIMEOUT_S = 30.0
# mTLS client certificates made for the session: the worker's, and one that no ACL names.
MTLS_CLIENTS = ("worker-mtls", "no-acl-mtls")
# SASL users: name -> mechanism. `admin` is the super user (the first SCRAM-SHA-512 line).
SASL_USERS = {
    "admin": "SCRAM-SHA-512",
    "worker": "SCRAM-SHA-512",
    "notifier": "SCRAM-SHA-256",
    "producer": "PLAIN",
    "no-acl": "SCRAM-SHA-512",
}


@dataclass(frozen=True)
class Grant:
    """One ALLOW ACL: principal `User:<name>` may do `operation` on a topic or group."""

    principal: str
    resource: str  # "topic" or "group"
    name: str
    operation: str  # READ, WRITE, DESCRIBE, ...


class SecureKafkaBroker:
    """The secured broker: addresses, CA and client certificates, user passwords, admin helpers."""

    def __init__(self) -> None:
        self._data_dir: Path | None = None
        self.passwords = {name: secrets.token_hex(16) for name in SASL_USERS}
        self.ports: list[int] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, data_dir: Path) -> None:
        """Make certificates, start the broker; BrokerStartError (without any secret) on failure."""
        ensure_kafka_jars()
        certs = data_dir / "certs"
        made = subprocess.run(
            [str(SECURE_DIR / "make-certs.sh"), str(certs), *MTLS_CLIENTS],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if made.returncode != 0:
            raise BrokerStartError(f"make-certs.sh failed ({made.returncode}):\n{made.stderr}")
        users = data_dir / "users"
        users.touch(mode=0o600)
        # The admin first: start.sh makes the first SCRAM-SHA-512 user the super user.
        users.write_text("".join(f"{SASL_USERS[n]} {n} {self.passwords[n]}\n" for n in SASL_USERS))
        for attempt in range(3):
            self.ports = free_loopback_ports(5)
            (data_dir / "ports").write_text(" ".join(map(str, self.ports)))
            env = {**os.environ, "KAFKA_START_TIMEOUT": str(START_TIMEOUT_S)}
            proc = subprocess.run(
                [str(SECURE_DIR / "start.sh"), str(data_dir)],
                capture_output=True,
                text=True,
                env=env,
                timeout=START_TIMEOUT_S + 60,
                check=False,
            )
            if proc.returncode == 0:
                self._data_dir = data_dir
                atexit.register(self.stop)
                return
            report = self.redact(f"{proc.stdout}{proc.stderr}")
            if attempt < 2 and "already in use" in report:
                continue
            raise BrokerStartError(f"secured Kafka broker failed to start (exit {proc.returncode}):\n{report}")

    def stop(self) -> None:
        if self._data_dir is not None:
            subprocess.run(
                [str(KAFKA_DIR / "stop.sh"), str(self._data_dir)], capture_output=True, timeout=120, check=False
            )
            atexit.unregister(self.stop)
            self._data_dir = None

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("secured broker not started")
        return self._data_dir

    # -- addresses and client settings ------------------------------------------------------------

    @property
    def sasl_ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports[0]}"

    @property
    def ssl_bootstrap(self) -> str:
        return f"127.0.0.1:{self.ports[1]}"

    @property
    def misnamed_bootstrap(self) -> str:
        """mTLS like `ssl_bootstrap`, but the broker's certificate there names another host."""
        return f"127.0.0.1:{self.ports[4]}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "certs" / "ca.pem"

    @property
    def other_ca_file(self) -> Path:
        """A CA that signed nothing this broker presents."""
        return self.data_dir / "certs" / "other-ca.pem"

    def client_cert(self, name: str) -> tuple[Path, Path]:
        certs = self.data_dir / "certs"
        return certs / f"{name}.pem", certs / f"{name}.key"

    def sasl_env(self, user: str, *, password: str | None = None, password_file: Path | None = None) -> dict[str, str]:
        """ALPR_KAFKA_* for SASL_SSL as `user` (its own mechanism), the password inline or from a file."""
        env = {
            "ALPR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ALPR_KAFKA_SASL_MECHANISM": SASL_USERS[user],
            "ALPR_KAFKA_SASL_USERNAME": user,
            "ALPR_KAFKA_SSL_CA_FILE": str(self.ca_file),
        }
        if password_file is not None:
            password_file.touch(mode=0o600)
            password_file.write_text((password or self.passwords[user]) + "\n")
            env["ALPR_KAFKA_SASL_PASSWORD_FILE"] = str(password_file)
        else:
            env["ALPR_KAFKA_SASL_PASSWORD"] = password if password is not None else self.passwords[user]
        return env

    def oauth_env(self, subject: str) -> dict[str, str]:
        """ALPR_KAFKA_* for SASL_SSL OAUTHBEARER, the token from tests/oauth_test_token.py for `subject`."""
        return {
            "ALPR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ALPR_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
            "ALPR_KAFKA_OAUTH_TOKEN_PROVIDER": "tests.oauth_test_token:unsecured_token",
            "ALPR_KAFKA_SSL_CA_FILE": str(self.ca_file),
            "TEST_OAUTH_SUBJECT": subject,
        }

    def mtls_env(self, client: str | None) -> dict[str, str]:
        """ALPR_KAFKA_* for the SSL listener with `client`'s certificate (None: no certificate)."""
        env = {"ALPR_KAFKA_SECURITY_PROTOCOL": "SSL", "ALPR_KAFKA_SSL_CA_FILE": str(self.ca_file)}
        if client is not None:
            cert, key = self.client_cert(client)
            env |= {"ALPR_KAFKA_SSL_CERT_FILE": str(cert), "ALPR_KAFKA_SSL_KEY_FILE": str(key)}
        return env

    @staticmethod
    def security(env: dict[str, str]) -> KafkaSecurity:
        """The settings the product would build from `env` (the ALPR_KAFKA_* of sasl_env/mtls_env)."""
        prefix = "ALPR_KAFKA_"
        fields = {key.removeprefix(prefix).lower(): value for key, value in env.items()}
        if "sasl_password_file" in fields:
            fields["sasl_password"] = Path(fields.pop("sasl_password_file")).read_text().strip()
        return load_kafka_security(**fields)

    def admin_security(self) -> KafkaSecurity:
        return self.security(self.sasl_env("admin"))

    def admin_aiokafka(self) -> dict[str, Any]:
        """aiokafka keyword arguments for the super user over SASL_SSL (reading outputs, producing inputs)."""
        return {"bootstrap_servers": self.sasl_ssl_bootstrap, **aiokafka_options(self.admin_security())}

    # -- secrets, for leak checks -----------------------------------------------------------------

    def secret_strings(self) -> list[str]:
        """Every password and every private key's base64 lines: none may appear in any log."""
        found = list(self.passwords.values())
        for key in (self.data_dir / "certs").glob("*.key"):
            found += [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
        keystore = (self.data_dir / "certs" / "broker-keystore.pem").read_text()
        in_key = False
        for line in keystore.splitlines():
            if "PRIVATE KEY" in line:
                in_key = not line.startswith("-----END")
                continue
            if in_key and line:
                found.append(line)
        return found

    def redact(self, text: str) -> str:
        for secret in self.passwords.values():
            text = text.replace(secret, "<redacted>")
        return text

    # -- topics and ACLs (confluent-kafka AdminClient, as the super user over SASL_SSL) ---------------

    def _admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        # log_level 3: librdkafka's notices (queue purges on close) are not test output.
        config = {
            "bootstrap.servers": self.sasl_ssl_bootstrap,
            "log_level": 3,
            **confluent_config(self.admin_security()),
        }
        return AdminClient(config)

    def create_topics(self, names: Iterable[str], partitions: int = 1) -> None:
        from confluent_kafka.admin import NewTopic

        admin = self._admin()
        futures = admin.create_topics(
            [NewTopic(name, partitions, 1) for name in names], operation_timeout=ADMIN_TIMEOUT_S
        )
        for future in futures.values():
            future.result(timeout=ADMIN_TIMEOUT_S)

    def grant(self, grants: Iterable[Grant]) -> None:
        from confluent_kafka.admin import (
            AclBinding,
            AclOperation,
            AclPermissionType,
            ResourcePatternType,
            ResourceType,
        )

        kinds = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
        bindings = [
            AclBinding(
                kinds[g.resource],
                g.name,
                ResourcePatternType.LITERAL,
                f"User:{g.principal}",
                "*",
                AclOperation[g.operation],
                AclPermissionType.ALLOW,
            )
            for g in grants
        ]
        admin = self._admin()  # kept referenced until the futures resolve: a collected handle cancels them
        for future in admin.create_acls(bindings, request_timeout=ADMIN_TIMEOUT_S).values():
            future.result(timeout=ADMIN_TIMEOUT_S)


async def produce(broker: SecureKafkaBroker, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    """Write messages as the super user over SASL_SSL, acks=all."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(acks="all", linger_ms=5, max_request_size=2_000_000, **broker.admin_aiokafka())
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_all(broker: SecureKafkaBroker, topic: str, partitions: int, deadline_s: float = 60.0) -> list[Any]:
    """Every record on the topic up to its current end, read as the super user over SASL_SSL."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(enable_auto_commit=False, auto_offset_reset="earliest", **broker.admin_aiokafka())
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + deadline_s
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if loop.time() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for found in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(found)
        return records
    finally:
        await consumer.stop()
