"""A real single-node Kafka broker for tests, run by deploy/kafka/{fetch,start,stop}.sh.

The shell scripts own how the broker is fetched, configured and started, so a developer running
them by hand gets the same broker the test suite gets; this module only picks ports, calls them
and turns a failed start into an error that carries the broker's own log.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import random
import socket
import subprocess
from contextlib import ExitStack
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

KAFKA_DIR = Path(__file__).resolve().parents[1] / "deploy" / "kafka"
FETCH_TIMEOUT_S = 600.0
START_TIMEOUT_S = 60
_START_ATTEMPTS = 3
_LOG_FILES = ("format.log", "kafka.out", "server.log")


class BrokerStartError(RuntimeError):
    """The broker could not be fetched or started; the message holds the relevant log tail."""


def ensure_kafka_jars() -> None:
    """Fetch the broker jars with deploy/kafka/fetch.sh unless they are already present."""
    try:
        proc = subprocess.run(
            [str(KAFKA_DIR / "fetch.sh")],
            capture_output=True,
            text=True,
            timeout=FETCH_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BrokerStartError(f"fetch.sh did not finish within {FETCH_TIMEOUT_S:.0f}s") from exc
    if proc.returncode != 0:
        raise BrokerStartError(f"fetch.sh failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")


def free_loopback_ports(count: int) -> list[int]:
    """Return `count` distinct ports that were free on 127.0.0.1 a moment ago."""
    with ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            # All bound at once so the kernel cannot hand the same port out twice.
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_fixed_ports(count: int, *, attempts: int = 50) -> list[int]:
    """`count` consecutive free loopback ports below the kernel's ephemeral range.

    A broker that is stopped and restarted on the same port must not have that port inside the
    ephemeral range: a client dialling it while the broker is down can be handed the same port as its
    own source port and connect to itself (TCP simultaneous open), and then never reconnect.
    """
    low, _ = _ephemeral_range()
    floor = 10_000 if low > 12_000 else 1_024
    rng = random.SystemRandom()
    for _ in range(attempts):
        first = rng.randrange(floor, low - count)
        ports = list(range(first, first + count))
        with ExitStack() as stack:
            try:
                for port in ports:
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return ports
    raise BrokerStartError(f"no {count} free consecutive loopback ports below {low}")


class KafkaBroker:
    """One broker process started from a fresh data directory; stop() is idempotent.

    `restart()` stops it and starts it again on the same data directory and ports (topics, offsets
    and cluster id kept), as a broker restart after a crash or an upgrade does.
    """

    def __init__(self, *, auto_create_topics: bool = True) -> None:
        self._port: int | None = None
        self._data_dir: Path | None = None
        self._ports: list[int] = []
        self._num_partitions = 1
        self.auto_create_topics = auto_create_topics

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("broker not started")
        return self._port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        if self._data_dir is None:
            raise RuntimeError("broker not started")
        return self._data_dir

    def start(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        num_partitions: int = 1,
        timeout_s: int = START_TIMEOUT_S,
    ) -> str:
        """Start the broker and return its bootstrap address; raise BrokerStartError on failure.

        With port=None, free loopback ports are chosen, and the start is retried with new ones
        if another process grabbed a port between the choice and the bind.
        """
        if self._port is not None:
            raise RuntimeError(f"broker already started on {self.bootstrap}")
        ensure_kafka_jars()
        self._num_partitions = num_partitions
        attempts = _START_ATTEMPTS if port is None else 1
        attempt = 1
        while True:
            ports = [port, port + 1] if port is not None else free_loopback_ports(2)
            try:
                proc = self._run_start(ports, data_dir, timeout_s, keep_data=False)
            except subprocess.TimeoutExpired as exc:
                self._stop_dir(data_dir)
                raise BrokerStartError(f"start.sh hung in {data_dir}\n{_log_tail(data_dir)}") from exc
            if proc.returncode == 0:
                self._port, self._data_dir, self._ports = ports[0], data_dir, ports
                # Backstop for sessions that end without running fixture teardown.
                atexit.register(self.stop)
                return self.bootstrap
            report = f"{proc.stdout}{proc.stderr}"
            if attempt < attempts and "already in use" in report:
                attempt += 1
                continue
            raise BrokerStartError(
                f"Kafka broker failed to start on 127.0.0.1:{ports[0]} "
                f"(start.sh exit {proc.returncode}, data dir {data_dir}):\n{report}"
            )

    def _run_start(
        self, ports: list[int], data_dir: Path, timeout_s: int, *, keep_data: bool
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env["KAFKA_NUM_PARTITIONS"] = str(self._num_partitions)
        env["KAFKA_START_TIMEOUT"] = str(timeout_s)
        env["KAFKA_AUTO_CREATE_TOPICS"] = "true" if self.auto_create_topics else "false"
        flags = ["--keep-data"] if keep_data else []
        return subprocess.run(
            [str(KAFKA_DIR / "start.sh"), *flags, str(ports[0]), str(data_dir), str(ports[1])],
            capture_output=True,
            text=True,
            env=env,
            # Generous: start.sh enforces timeout_s itself and also formats storage.
            timeout=timeout_s + 60,
            check=False,
        )

    def halt(self) -> None:
        """Stop the broker process but keep its data, ports and identity for `resume()`."""
        self._stop_dir(self.data_dir)

    def resume(self, timeout_s: int = START_TIMEOUT_S) -> str:
        """Start the broker again on its existing data directory and the same ports."""
        proc = self._run_start(self._ports, self.data_dir, timeout_s, keep_data=True)
        if proc.returncode != 0:
            raise BrokerStartError(f"restart on {self.data_dir} failed:\n{proc.stdout}{proc.stderr}")
        return self.bootstrap

    def restart_wiped(self, timeout_s: int = START_TIMEOUT_S) -> str:
        """Stop the broker and start it on the same ports with empty storage: every topic and offset gone."""
        self.halt()
        proc = self._run_start(self._ports, self.data_dir, timeout_s, keep_data=False)
        if proc.returncode != 0:
            raise BrokerStartError(f"wiped restart on {self.data_dir} failed:\n{proc.stdout}{proc.stderr}")
        return self.bootstrap

    def restart(self, timeout_s: int = START_TIMEOUT_S) -> str:
        """Stop the broker and start it again on the same data and ports."""
        self.halt()
        return self.resume(timeout_s)

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after a bounded wait); data stays for inspection."""
        if self._data_dir is not None:
            self._stop_dir(self._data_dir)
            atexit.unregister(self.stop)
        self._port = None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the broker's log files, for failure messages."""
        return _log_tail(self.data_dir, lines)

    async def create_topic(
        self,
        name: str,
        partitions: int = 1,
        *,
        config: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        """Create a topic (replication factor 1) and wait until every partition has a leader."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            response = await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=config or {})])
            for topic, error_code, *rest in response.topic_errors:
                if error_code != 0:
                    raise RuntimeError(f"creating topic {topic!r} failed: {error_code} {rest}")
            await asyncio.wait_for(_wait_for_leaders(admin, name, partitions), timeout_s)
        finally:
            await admin.close()

    def _stop_dir(self, data_dir: Path) -> None:
        subprocess.run(
            [str(KAFKA_DIR / "stop.sh"), str(data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


async def _wait_for_leaders(admin: AIOKafkaAdminClient, name: str, partitions: int) -> None:
    while True:
        [meta] = await admin.describe_topics([name])
        parts = meta["partitions"]
        if (
            meta["error_code"] == 0
            and len(parts) == partitions
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in parts)
        ):
            return
        await asyncio.sleep(0.05)


def _log_tail(data_dir: Path, lines: int = 40) -> str:
    chunks = []
    for name in _LOG_FILES:
        path = data_dir / "logs" / name
        if path.is_file():
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            chunks.append(f"--- tail of {path}\n" + "\n".join(tail))
    return "\n".join(chunks) or f"(no broker logs under {data_dir / 'logs'})"
