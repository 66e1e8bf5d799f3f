"""The container image (deploy/container): linted, built with podman from the local base, and run for real.

The image is built once per session by deploy/container/build.sh (a no-op when an image with the same
content key exists); every run is read-only, non-root, with all capabilities dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from conftest import PSEUDONYM_KEY, build_known_stream
from kafka_broker import KafkaBroker, free_loopback_ports

from monitor.alerts import decode_alert
from monitor.engine import Engine
from streams.sample import sample_messages

ROOT = Path(__file__).resolve().parents[1]
CONTAINER_DIR = ROOT / "deploy" / "container"
HADOLINT = ROOT / ".venv" / "bin" / "hadolint"
SHELLCHECK = ROOT / ".venv" / "bin" / "shellcheck"
DEPLOY_SCRIPTS = [CONTAINER_DIR / "build.sh", CONTAINER_DIR / "base.sh", ROOT / "deploy" / "helm" / "ci" / "check.sh"]
BUILD_TIMEOUT_S = 1800  # a cold build (base rootfs + wheels) on a loaded 2-core machine
RUN_DEADLINE_S = 120.0
# What every run in these tests adds to `podman run`: the hardening the deployment files ask for too.
HARDENED = [
    "--read-only",
    "--cap-drop=all",
    "--security-opt=no-new-privileges",
    "--user=10001:10001",
    "--tmpfs=/tmp:rw,U",
    "--tmpfs=/var/lib/alpr-monitor:rw,U",
]


def _podman_env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINER_DIR / "containers.conf")}


def _podman(*args: str, timeout: float = RUN_DEADLINE_S) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], env=_podman_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="session")
def image() -> str:
    """The image reference built by build.sh (built once per session; cached across sessions by content)."""
    proc = subprocess.run(
        [str(CONTAINER_DIR / "build.sh")],
        cwd=ROOT,
        env=_podman_env(),
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"build.sh failed ({proc.returncode}):\n{proc.stderr[-4000:]}", pytrace=False)
    return proc.stdout.strip().splitlines()[-1]


def _hadolint(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "Containerfile"
    path.write_text(text)
    # shellcheck on PATH: hadolint then also checks the shell of every RUN line.
    env = {**os.environ, "PATH": f"{SHELLCHECK.parent}:{os.environ['PATH']}"}
    return subprocess.run(
        [str(HADOLINT), "--no-color", str(path)], capture_output=True, text=True, env=env, check=False
    )


def _shellcheck(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SHELLCHECK), *map(str, paths)], capture_output=True, text=True, check=False)


class TestContainerfile:
    def test_hadolint_passes(self, tmp_path: Path) -> None:
        """hadolint finds nothing to report in the shipped Containerfile."""
        proc = _hadolint((CONTAINER_DIR / "Containerfile").read_text(), tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_hadolint_catches_an_unpinned_base(self, tmp_path: Path) -> None:
        """The same linter run flags a base pinned to nothing (so the check above can fail)."""
        text = (CONTAINER_DIR / "Containerfile").read_text()
        proc = _hadolint(text.replace("FROM ${BASE_IMAGE} AS build", "FROM debian:latest AS build"), tmp_path)
        assert proc.returncode != 0
        assert "DL3007" in proc.stdout

    def test_runtime_stage_runs_no_shell_at_start(self) -> None:
        """The entrypoint is exec form (a JSON list), so starting the container needs no shell."""
        lines = (CONTAINER_DIR / "Containerfile").read_text().splitlines()
        entry = [line for line in lines if line.startswith(("ENTRYPOINT", "CMD"))]
        assert len(entry) == 2
        for line in entry:
            json.loads(line.split(None, 1)[1])


class TestDeployScripts:
    def test_shellcheck_passes(self) -> None:
        """shellcheck finds nothing in the image and chart scripts."""
        proc = _shellcheck(*DEPLOY_SCRIPTS)
        assert proc.returncode == 0, proc.stdout

    def test_shellcheck_catches_an_unquoted_expansion(self, tmp_path: Path) -> None:
        """The same check flags build.sh with its wheel directory left unquoted (so the check above can fail)."""
        script = tmp_path / "build.sh"
        text = (CONTAINER_DIR / "build.sh").read_text()
        script.write_text(text.replace('--wheel-dir "$context/wheels"', "--wheel-dir $context/wheels"))
        proc = _shellcheck(script)
        assert proc.returncode != 0
        assert "SC2086" in proc.stdout


class TestImage:
    def test_image_defaults_to_a_non_root_user(self, image: str) -> None:
        """The image's configured user is the fixed non-root uid/gid 10001, with an exec-form entrypoint."""
        proc = _podman("image", "inspect", image)
        assert proc.returncode == 0, proc.stderr
        config = json.loads(proc.stdout)[0]["Config"]
        assert config["User"] == "10001:10001"
        assert config["Entrypoint"] == ["/opt/alpr-monitor/bin/alpr-monitor"]

    def test_root_file_system_is_not_writable(self, image: str) -> None:
        """Run read-only without --user, the process is uid 10001 and cannot write to the image's files."""
        probe = (
            "import os\n"
            "print(os.getuid(), os.getgid())\n"
            "try:\n    open('/opt/alpr-monitor/probe', 'w')\nexcept OSError as exc:\n    print('refused', exc.errno)\n"
        )
        proc = _podman(
            "run", "--rm", "--read-only", "--cap-drop=all", "--entrypoint=/opt/alpr-monitor/bin/python", image,
            "-c", probe,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.split("\n")[:2] == ["10001 10001", "refused 30"]  # EROFS

    def test_demo_once_inside_the_image(self, image: str) -> None:
        """`demo --once` in the hardened container judges the whole sample and prints the closing line."""
        sample = sample_messages(datetime.now(UTC))
        outcome = Counter(
            # A pattern an event tips (contract v1.1 kinds) does not change its outcome; a rule's alert does.
            "invalid"
            if message.expect == ("dlq",)
            else "alerted"
            if {kind for kind in message.expect if kind.split(".")[0] not in {"misuse", "volume"}}
            - {"sharing.standing_access"}
            else "clean"
            for message in sample
        )
        proc = _podman(
            "run", "--rm", *HARDENED, "--network=none", "-e", "ALPR_PSEUDONYM_KEY=image-demo-key-0123456789abcdef",
            image, "demo", "--once", "--metrics-port", "0",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        closing = [line for line in proc.stdout.splitlines() if line.startswith("events read")]
        assert closing, proc.stdout[-3000:]
        assert closing[-1].startswith(
            f"events read {len(sample)} = clean {outcome['clean']} + alerted {outcome['alerted']} "
            f"+ invalid {outcome['invalid']};"
        )


async def _produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=2_000_000)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value, key=key) for key, value in messages])
    finally:
        await producer.stop()


async def _alert_ids(bootstrap: str, topic: str, partitions: int, want: set[str], container: str) -> set[str]:
    """Alert ids read from the alerts topic until `want` are all seen (bounded; fails with the container's log)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    seen: set[str] = set()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        deadline = time.monotonic() + RUN_DEADLINE_S
        while not want <= seen:
            if time.monotonic() > deadline:
                logs = _podman("logs", "--tail", "40", container).stdout
                pytest.fail(f"alerts missing after {RUN_DEADLINE_S:.0f}s: {sorted(want - seen)}\n{logs}")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    assert record.value is not None
                    seen.add(decode_alert(record.value).alert_id)
        return seen
    finally:
        await consumer.stop()


def _http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


async def _wait_status(url: str, wanted: int) -> int | None:
    """The URL's status once it is `wanted`, or the last one seen when RUN_DEADLINE_S has passed."""
    deadline = time.monotonic() + RUN_DEADLINE_S
    status = _http_status(url)
    while status != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        status = _http_status(url)
    return status


@pytest.fixture
def container_name() -> Iterator[str]:
    """A unique container name; the container is removed at the end whatever happened."""
    name = f"alpr-test-{uuid.uuid4().hex[:10]}"
    yield name
    _podman("rm", "--force", "--time=5", name)


@pytest.mark.kafka
class TestWorkerImageOnKafka:
    async def test_worker_in_the_image_alerts_on_a_known_stream(
        self, image: str, kafka_broker: KafkaBroker, reference_engine: Engine, container_name: str, tmp_path: Path
    ) -> None:
        """The containerised worker (host loopback network) turns a known stream into exactly the expected alerts."""
        name = f"image-{uuid.uuid4().hex[:10]}"
        source, alerts, dlq = f"{name}.events", f"{name}.alerts", f"{name}.dlq"
        await kafka_broker.create_topic(source, partitions=2)
        await kafka_broker.create_topic(alerts, partitions=2)
        await kafka_broker.create_topic(dlq, partitions=1)
        stream = build_known_stream(reference_engine, 40)
        federal = {alert_id for alert_id, (event_id, _) in stream.alerts.items() if event_id == "k-federal"}
        assert federal, "the known stream's federal search must raise an alert"
        port = free_loopback_ports(1)[0]
        env = {
            "ALPR_BROKER": f"kafka://{kafka_broker.bootstrap}",
            "ALPR_INPUT_TOPIC": source,
            "ALPR_ALERTS_TOPIC": alerts,
            "ALPR_DLQ_TOPIC": dlq,
            "ALPR_APP_ID": name,
            # The key as a mounted secret file, the way the chart and the systemd units hand it over.
            "ALPR_PSEUDONYM_KEY_FILE": "/run/secrets/alpr-monitor/pseudonym-key",
            "ALPR_METRICS_HOST": "127.0.0.1",
            "ALPR_METRICS_PORT": str(port),
            "ALPR_PATTERNS": "false",  # the rule path's known answers, exactly
        }
        key_file = tmp_path / "pseudonym-key"
        key_file.write_bytes(PSEUDONYM_KEY + b"\n")
        key_file.chmod(0o644)
        flags = [item for key, value in env.items() for item in ("-e", f"{key}={value}")]
        flags.append(f"--volume={key_file}:/run/secrets/alpr-monitor/pseudonym-key:ro")
        started = _podman("run", "--detach", "--name", container_name, *HARDENED, "--network=host", *flags, image)
        assert started.returncode == 0, started.stderr
        await _produce(kafka_broker.bootstrap, source, stream.messages)

        seen = await _alert_ids(kafka_broker.bootstrap, alerts, 2, set(stream.alerts), container_name)
        assert seen == set(stream.alerts)
        assert federal <= seen
        assert _http_status(f"http://127.0.0.1:{port}/metrics") == 200
        # The endpoints the chart's probes and the compose healthcheck ask, served from inside the image.
        assert _http_status(f"http://127.0.0.1:{port}/healthz") == 200
        assert await _wait_status(f"http://127.0.0.1:{port}/readyz", 200) == 200
        stopped = _podman("stop", "--time=40", container_name, timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        status = _podman("inspect", "--format", "{{.State.ExitCode}}", container_name)
        assert status.stdout.strip() == "0", _podman("logs", "--tail", "40", container_name).stdout
