"""The real Prometheus tools for tests: promtool, amtool, and short-lived server processes.

A missing binary fails the test with the setup command to run; nothing here skips. The
servers listen on free loopback ports with throw-away data directories, so tests never
touch a system Prometheus or Alertmanager.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTMANAGER_DIR = REPO / "deploy" / "alertmanager"
SETUP_HINT = (
    "install the real tools with `scripts/setup.sh --full` (or `apt-get install -y prometheus prometheus-alertmanager`)"
)
TOOL_TIMEOUT_S = 120.0
START_TIMEOUT_S = 30.0


def binary(name: str) -> str:
    """Absolute path of a required executable; fails the test (never skips) when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: {SETUP_HINT}", pytrace=False)
    return path


def run_tool(
    name: str, *args: str | Path, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one of the tools and return its completed process (the caller checks the exit status)."""
    return subprocess.run(
        [binary(name), *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
        cwd=cwd,
    )


def check_metrics_text(text: str) -> list[str]:
    """Lint a Prometheus text exposition with `promtool check metrics`; return its problems ([] = clean).

    promtool exits 3 for lint problems and 1 when the text does not parse; both are
    reported as problem lines.
    """
    proc = run_tool("promtool", "check", "metrics", stdin=text)
    if proc.returncode == 0:
        return []
    lines = [line.strip() for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    return lines or [f"promtool check metrics exited {proc.returncode} without output"]


def free_port() -> int:
    """A port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A server process started by a test; `url` is its loopback base URL."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def get_json(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10.0)
        response.raise_for_status()
        return response.json()


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{server.name} did not become ready:\n{server.log_tail()}", pytrace=False)


@contextmanager
def _serve(name: str, argv: Sequence[str], port: int, workdir: Path) -> Iterator[Server]:
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    server = Server(name=name, url=f"http://127.0.0.1:{port}", process=process, log=log)
    try:
        _wait_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def alertmanager(config: Path, workdir: Path) -> Iterator[Server]:
    """Run the real Alertmanager on `config` (clustering off, data under `workdir`)."""
    port = free_port()
    argv = [
        binary("prometheus-alertmanager"),
        f"--config.file={config}",
        f"--storage.path={workdir / 'alertmanager-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with _serve("alertmanager", argv, port, workdir) as server:
        yield server


@contextmanager
def prometheus(config: Path, workdir: Path) -> Iterator[Server]:
    """Run the real Prometheus on `config` (TSDB under `workdir`)."""
    port = free_port()
    argv = [
        binary("prometheus"),
        f"--config.file={config}",
        f"--storage.tsdb.path={workdir / 'prometheus-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _serve("prometheus", argv, port, workdir) as server:
        yield server


@dataclass
class Request:
    """One HTTP request a notification receiver got."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class CaptureServer:
    """A loopback HTTP endpoint standing in for PagerDuty, Slack and the webhook target."""

    url: str
    requests: list[Request] = field(default_factory=list)
    _changed: threading.Condition = field(default_factory=threading.Condition)

    def record(self, request: Request) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[Request], bool], timeout: float) -> Request | None:
        """The first request matching `predicate`, waiting up to `timeout` seconds; None if none came."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for request in self.requests:
                    if predicate(request):
                        return request
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._changed.wait(remaining)


@contextmanager
def capture_server() -> Iterator[CaptureServer]:
    """Serve a CaptureServer on a free loopback port for the duration of the block."""
    capture: CaptureServer | None = None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            try:
                body: Any = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", errors="replace")
            assert capture is not None
            capture.record(Request(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            # PagerDuty's Events API answers 202; Slack and webhooks accept any 2xx.
            self.send_response(202)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"status": "success"}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    capture = CaptureServer(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield capture
    finally:
        httpd.shutdown()
        httpd.server_close()


def stage_prometheus(workdir: Path, worker_targets: Sequence[str], alertmanager_targets: Sequence[str]) -> Path:
    """Copy deploy/prometheus into `workdir` with its targets files pointing at the given addresses.

    The shipped prometheus.yml, rules and thresholds are used unchanged; only the file_sd
    target lists differ, which is what a deployment edits too.
    """
    staged = workdir / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, staged, ignore=shutil.ignore_patterns("tests", "README.md"))
    targets = staged / "targets"
    for stale in targets.glob("*.json"):
        stale.unlink()
    for name, addresses in (("alpr-monitor.json", worker_targets), ("alertmanager.json", alertmanager_targets)):
        (targets / name).write_text(json.dumps([{"targets": list(addresses), "labels": {}}]), encoding="utf-8")
    return staged / "prometheus.yml"


def render_alertmanager(
    workdir: Path, env: dict[str, str], template: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run deploy/alertmanager/render.py with exactly `env` into workdir/alertmanager/alertmanager.yml.

    The notification templates are copied beside it, since the configuration names them
    relative to its own directory.
    """
    staged = workdir / "alertmanager"
    if not staged.exists():
        shutil.copytree(ALERTMANAGER_DIR / "templates", staged / "templates")
    argv = [sys.executable, str(ALERTMANAGER_DIR / "render.py"), "-o", str(staged / "alertmanager.yml")]
    if template is not None:
        argv += ["--template", str(template)]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)


def alertmanager_env(capture_url: str) -> dict[str, str]:
    """Variables for render.py whose HTTP endpoints all point at a local CaptureServer."""
    return {
        "ALPR_AM_WEBHOOK_URL": f"{capture_url}/webhook",
        "ALPR_AM_WEBHOOK_TOKEN": "test-webhook-token",
        "ALPR_AM_PAGERDUTY_PRIVACY_ROUTING_KEY": "test-privacy-routing-key",
        "ALPR_AM_PAGERDUTY_PLATFORM_ROUTING_KEY": "test-platform-routing-key",
        "ALPR_AM_PAGERDUTY_URL": f"{capture_url}/pagerduty",
        "ALPR_AM_SLACK_API_URL": f"{capture_url}/slack",
        "ALPR_AM_SMTP_SMARTHOST": "127.0.0.1:1",
        "ALPR_AM_SMTP_FROM": "alpr-monitor@example.org",
        "ALPR_AM_SMTP_USERNAME": "alpr-monitor",
        "ALPR_AM_SMTP_PASSWORD": "test-smtp-password",
        "ALPR_AM_PRIVACY_EMAIL": "privacy-office@example.org",
        "ALPR_AM_TICKET_EMAIL": "privacy-tickets@example.org",
    }
