"""Liveness and readiness for the worker and the notifier, served next to /metrics.

`GET /healthz` answers "is the process's fetch loop alive?": 200 while the loop went round within
`stall_seconds` (a round that fetched nothing counts: an idle or broker-less loop is alive), or has not
started yet; 503 once it is wedged (a batch that never finishes, a blocked event loop). A probe that
restarts the process on 503 is right to.

`GET /readyz` answers "is this instance doing its job?": 200 when every named check passes (partitions
assigned, policy loaded, input topic exists, output topics writable, as the service reports them), 503
with the failing checks otherwise. A missing input topic turns readiness false instead of letting the
worker idle in silence.

Both answer JSON: `{"status": "ok"|"failing", "checks": {name: {"ok": bool, "detail": str}}}`.
The HTTP server is the same small threaded WSGI server prometheus-client uses for /metrics.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Gauge, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from streams.metrics import MetricsServer

__all__ = ["DEFAULT_STALL_SECONDS", "IDLE_TIMEOUT_SECONDS", "MAX_CONNECTIONS", "Health", "serve_http"]

DEFAULT_STALL_SECONDS = 120.0
"""A fetch loop silent this long is wedged: rounds take about a second, batches well under a minute."""

MAX_CONNECTIONS = 64
"""Connections served at once; more are closed on arrival. Each holds a thread, so without a bound idle
(slowloris) connections pile up threads until the process can start none (watchdog, policy reload)."""
IDLE_TIMEOUT_SECONDS = 5.0
"""A connection silent this long is closed, so idle ones cannot hold the slots a probe needs."""

Clock = Callable[[], float]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Health:
    """What the service reports about itself: loop rounds (liveness) and named checks (readiness).

    Thread-safe: the event loop writes, the HTTP thread reads.
    """

    def __init__(
        self,
        checks: Iterable[str],
        *,
        stall_seconds: float = DEFAULT_STALL_SECONDS,
        clock: Clock = time.monotonic,
        registry: CollectorRegistry | None = None,
        ready_metric: str = "alpr_worker_ready",
    ) -> None:
        self.stall_seconds = stall_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last_round: float | None = None
        # Every check starts failing with "not checked yet": readiness is earned, not assumed.
        self._checks: dict[str, tuple[bool, str]] = {name: (False, "not checked yet") for name in checks}
        self._ready_gauge: Gauge | None = None
        if registry is not None:
            self._ready_gauge = Gauge(ready_metric, "1 when every readiness check passes, else 0", registry=registry)
            self._ready_gauge.set(0)

    def loop_round(self) -> None:
        """The fetch loop went round once (with or without records)."""
        now = self._clock()
        with self._lock:
            self._last_round = now

    def set_check(self, name: str, ok: bool, detail: str = "") -> None:
        """Record one readiness check's state; `detail` says what is wrong (never event data)."""
        with self._lock:
            self._checks[name] = (ok, detail or ("ok" if ok else "failing"))
            ready = all(state for state, _ in self._checks.values())
        if self._ready_gauge is not None:
            self._ready_gauge.set(1 if ready else 0)

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            last = self._last_round
        if last is None:
            return True, _body({"fetch_loop": (True, "starting: the fetch loop has not run yet")})
        silent = self._clock() - last
        if silent > self.stall_seconds:
            detail = f"no fetch loop round for {silent:.0f} s (limit {self.stall_seconds:.0f} s)"
            return False, _body({"fetch_loop": (False, detail)})
        return True, _body({"fetch_loop": (True, f"last round {silent:.1f} s ago")})

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            checks = dict(self._checks)
        return all(ok for ok, _ in checks.values()), _body(checks)


def _body(checks: dict[str, tuple[bool, str]]) -> dict[str, Any]:
    ok = all(state for state, _ in checks.values())
    return {
        "status": "ok" if ok else "failing",
        "checks": {name: {"ok": state, "detail": detail} for name, (state, detail) in checks.items()},
    }


class _QuietHandler(WSGIRequestHandler):
    """No access log line per probe or scrape; a connection idle past IDLE_TIMEOUT_SECONDS is closed."""

    timeout = IDLE_TIMEOUT_SECONDS

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _health_app(registry: CollectorRegistry, health: Health) -> Callable[[dict[str, Any], StartResponse], list[bytes]]:
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            ok, body = health.liveness() if path == "/healthz" else health.readiness()
            payload = json.dumps(body).encode()
            status = "200 OK" if ok else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
            return [payload]
        result: list[bytes] = metrics_app(environ, start_response)
        return result

    return app


class _BoundedServer(ThreadingWSGIServer):
    """prometheus-client's threaded server, serving at most MAX_CONNECTIONS connections at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # full: turned away rather than a thread more
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


def serve_http(host: str, port: int, registry: CollectorRegistry, health: Health) -> MetricsServer:
    """Serve /metrics, /healthz and /readyz on host:port (port 0: any free port) in a daemon thread."""
    server = make_server(host, port, _health_app(registry, health), _BoundedServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="alpr-http", daemon=True)
    thread.start()
    return MetricsServer(server, thread)
