"""The notifier against a local HTTP endpoint that fails, stalls, rate-limits and recovers, and a real Kafka broker.

What "exactly once" means here, precisely. The stand-in endpoint records every request with the answer it
gave. An alert is *acknowledged* to an endpoint when the endpoint answered 2xx without a stall, so the
notifier saw the answer. Stalled requests (the client timed out) may have reached the endpoint too; they are
recorded apart and are the only extra copies allowed within one notifier process. Across a restart the
in-memory dedup window starts empty: alerts of the batch that was in hand and not committed may be
acknowledged once more, and the restart test asserts that those, and only those, are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from kafka_broker import KafkaBroker, free_loopback_ports
from pydantic import SecretStr

from cli import main
from monitor.alerts import Alert, AlertOwner, AlertRequester, Severity, alert_id_for, encode_alert
from monitor.notify import Endpoint, NotifierSettings, Receiver, RetryPolicy, resolve_endpoints
from monitor.settings import Settings
from streams.notifier import DeadNotification, Deliverer, Notifier, NotifierMetrics, Origin

# Bounds on waiting, so a broken notifier fails the test instead of hanging it; not timing checks.
DEADLINE_S = 60.0
PATHS = ("webhook", "slack", "pagerduty")
ROUTING_KEY = "test-routing-key"
TIMEOUT_S = 0.3  # the receivers' request timeout in these tests
_SLACK_ID = re.compile(r"alert_id `([0-9a-f]+)`")


def make_alert(i: int, severity: Severity = "critical") -> Alert:
    now = datetime(2025, 4, 22, 17, 0, tzinfo=UTC) + timedelta(seconds=i)
    return Alert(
        alert_id=alert_id_for(f"test:ev-{i}", "ca.sb34.federal-recipient"),
        event_id=f"ev-{i}",
        rule_id="ca.sb34.federal-recipient",
        kind="recipient.federal",
        severity=severity,
        summary=f"Federal agency searched Oakland CA PD's ALPR data (#{i})",
        citations=["Cal. Civ. Code § 1798.90.55(b)"],
        owner=AlertOwner(agency="Oakland CA PD", state="CA", id="oakland-pd"),
        requester=AlertRequester(agency="Federal Bureau of Investigation", jurisdiction="federal"),
        evidence={"resolved_by": "federal-agency-list"},
        policy_version="pv-test",
        occurred_at=now,
        detected_at=now + timedelta(milliseconds=300),
    )


# --- the scripted endpoint -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One request as the script sees it: which channel, which alert, and how many times it came so far."""

    path: str
    alert_id: str
    n: int
    phase: str


@dataclass(frozen=True)
class Reply:
    status: int = 200
    delay: float = 0.0  # seconds before answering; beyond the client's timeout this is a stall
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


@dataclass(frozen=True)
class Received:
    path: str
    alert_id: str
    status: int
    phase: str
    at: float
    stalled: bool


def _alert_id(path: str, body: dict[str, Any], headers: Any) -> str:
    if path == "pagerduty":
        assert body["routing_key"] == ROUTING_KEY
        assert body["event_action"] == "trigger"
        return str(body["dedup_key"])
    if path == "slack":
        match = _SLACK_ID.search(body["blocks"][-1]["elements"][0]["text"])
        assert match is not None
        return match.group(1)
    assert headers["Idempotency-Key"] == body["alert_id"]
    return str(body["alert_id"])


class ScriptedEndpoint:
    """A loopback HTTP server standing in for a webhook, Slack and PagerDuty (one path each)."""

    def __init__(self, stall_after: float) -> None:
        self.script: Callable[[Hit], Reply] = lambda hit: Reply()
        self.phase = "A"
        self.received: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._stall_after = stall_after
        self._counts: Counter[tuple[str, str]] = Counter()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{path}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        alert_id = _alert_id(path, await request.json(), request.headers)
        self._counts[path, alert_id] += 1
        reply = self.script(Hit(path, alert_id, self._counts[path, alert_id], self.phase))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.delay:
                await asyncio.sleep(reply.delay)
        finally:
            self.in_flight -= 1
        stalled = reply.delay >= self._stall_after
        self.received.append(Received(path, alert_id, reply.status, self.phase, time.monotonic(), stalled))
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    def acked(self, path: str, phase: str | None = None) -> Counter[str]:
        """Acknowledged deliveries per alert id: 2xx answers the client received (not stalled)."""
        return Counter(
            r.alert_id
            for r in self.received
            if r.path == path and 200 <= r.status < 300 and not r.stalled and phase in (None, r.phase)
        )

    def requests(self, path: str, alert_id: str) -> list[Received]:
        return [r for r in self.received if r.path == path and r.alert_id == alert_id]


@pytest.fixture
async def endpoint() -> AsyncIterator[ScriptedEndpoint]:
    server = ScriptedEndpoint(stall_after=TIMEOUT_S)
    await server.start()
    yield server
    await server.stop()


def receivers(server: ScriptedEndpoint, paths: tuple[str, ...] = PATHS, **fields: Any) -> list[Receiver]:
    endpoints = []
    for path in paths:
        spec: dict[str, Any] = {"name": f"{path}-ep", "kind": path, "url": server.url(path), "timeout_s": TIMEOUT_S}
        if path == "pagerduty":
            spec["routing_key_env"] = "TEST_PD_KEY"
        endpoints.append(Endpoint.model_validate({**spec, **fields}))
    return resolve_endpoints(endpoints, {"TEST_PD_KEY": ROUTING_KEY})


async def wait_until(condition: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> None:
    """Poll `condition` until true; fail naming `what` after `deadline_s`."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {deadline_s}s waiting for {what}")
        await asyncio.sleep(0.05)


# --- delivery without Kafka ------------------------------------------------------------------------

FAST = RetryPolicy(initial_backoff_s=0.02, max_backoff_s=0.2, jitter=0.5)


def origin(i: int) -> Origin:
    return Origin("alpr.alerts", 0, i, None, encode_alert(make_alert(i)))


@dataclass
class Harness:
    deliverer: Deliverer
    dead: list[DeadNotification]
    metrics: NotifierMetrics


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def harness(
    client: httpx.AsyncClient, targets: list[Receiver], policy: RetryPolicy = FAST, concurrency: int = 8
) -> Harness:
    dead: list[DeadNotification] = []

    async def sink(notification: DeadNotification) -> None:
        dead.append(notification)

    metrics = NotifierMetrics()
    deliverer = Deliverer(
        targets, client, {r.name: policy for r in targets}, sink, concurrency=concurrency, metrics=metrics
    )
    return Harness(deliverer, dead, metrics)


def batch(indices: range | list[int]) -> list[tuple[Alert, Origin]]:
    return [(make_alert(i), origin(i)) for i in indices]


class TestDeliverer:
    async def test_server_errors_are_retried_until_delivered(
        self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient
    ) -> None:
        """Three 500s per alert, then 200: every alert is acknowledged once on every channel, none dead-lettered."""
        endpoint.script = lambda hit: Reply(500) if hit.n <= 3 else Reply(202 if hit.path == "pagerduty" else 200)
        h = harness(client, receivers(endpoint))

        report = await asyncio.wait_for(h.deliverer.deliver(batch(range(10))), DEADLINE_S)

        ids = {make_alert(i).alert_id for i in range(10)}
        for path in PATHS:
            assert endpoint.acked(path) == Counter(dict.fromkeys(ids, 1))
            assert h.metrics.value(path, "delivered") == 10
            assert h.metrics.value(path, "retried") == 30
        assert report.delivered == 30
        assert h.dead == []
        assert len(endpoint.received) == 10 * 3 * 4

    async def test_retry_after_is_honoured(self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient) -> None:
        """A 429 with Retry-After: 1 makes the notifier wait 1 s (not its 0.01 s backoff) before the next attempt."""
        endpoint.script = lambda hit: Reply(429, headers={"Retry-After": "1"}) if hit.n == 1 else Reply()
        policy = RetryPolicy(initial_backoff_s=0.01, max_backoff_s=5.0, jitter=0.0)
        h = harness(client, receivers(endpoint, ("webhook",)), policy)
        waits: list[float] = []

        async def record_wait(seconds: float) -> None:
            waits.append(seconds)  # the backoff the policy chose; no real time passes

        h.deliverer.sleep = record_wait

        await asyncio.wait_for(h.deliverer.deliver(batch([1])), DEADLINE_S)

        first, second = endpoint.requests("webhook", make_alert(1).alert_id)
        assert (first.status, second.status) == (429, 200)
        assert waits == [1.0]

    async def test_a_stalled_request_times_out_and_is_retried(
        self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient
    ) -> None:
        """A request the endpoint does not answer within timeout_s is retried; the retry is acknowledged."""
        endpoint.script = lambda hit: Reply(delay=1.0) if hit.n == 1 else Reply()
        h = harness(client, receivers(endpoint, ("webhook",)))

        await asyncio.wait_for(h.deliverer.deliver(batch(range(3))), DEADLINE_S)
        await wait_until(lambda: len(endpoint.received) == 6, "the stalled requests to finish on the server")

        assert endpoint.acked("webhook") == Counter({make_alert(i).alert_id: 1 for i in range(3)})
        assert sum(r.stalled for r in endpoint.received) == 3
        assert h.metrics.value("webhook", "retried") == 3

    async def test_permanent_rejection_is_dead_lettered_without_retry(
        self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient
    ) -> None:
        """A 400 is final: one request, a dead letter with reason, status and the endpoint's answer; others deliver."""
        bad = make_alert(2).alert_id
        endpoint.script = lambda hit: (
            Reply(400, body='{"status":"invalid event","errors":["payload.summary missing"]}')
            if hit.path == "pagerduty" and hit.alert_id == bad
            else Reply()
        )
        h = harness(client, receivers(endpoint))

        report = await asyncio.wait_for(h.deliverer.deliver(batch(range(4))), DEADLINE_S)

        assert len(endpoint.requests("pagerduty", bad)) == 1
        [dead] = h.dead
        assert (dead.reason, dead.http_status, dead.endpoint, dead.channel) == (
            "rejected",
            400,
            "pagerduty-ep",
            "pagerduty",
        )
        assert dead.alert_id == bad
        assert "payload.summary missing" in dead.detail
        assert dead.origin.value == encode_alert(make_alert(2))
        assert bad in endpoint.acked("webhook")
        assert bad in endpoint.acked("slack")
        assert report.dead == 1
        assert h.metrics.value("pagerduty", "failed") == 1

    async def test_answer_echoing_the_request_never_reveals_a_secret(
        self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient
    ) -> None:
        """An endpoint whose error answer echoes the request (routing key, token) has the secrets cut from the
        dead letter's detail and from the retry log."""
        endpoint.script = lambda hit: Reply(
            500 if hit.n == 1 else 400, body=f"bad request: routing_key={ROUTING_KEY} auth=Bearer s3cr3t-token"
        )
        targets = receivers(endpoint, ("pagerduty",))
        targets = [replace(t, headers={"Authorization": SecretStr("Bearer s3cr3t-token")}) for t in targets]
        h = harness(client, targets)

        with structlog.testing.capture_logs() as logs:
            await asyncio.wait_for(h.deliverer.deliver(batch([1])), DEADLINE_S)

        [dead] = h.dead
        assert "bad request" in dead.detail
        for secret in (ROUTING_KEY, "s3cr3t-token"):
            assert secret not in dead.detail
            assert secret not in repr(logs)

    async def test_retry_limit_dead_letters_as_exhausted(
        self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient
    ) -> None:
        """With max_attempts=3 and an endpoint that always fails, the alert is dead-lettered after three requests."""
        endpoint.script = lambda hit: Reply(503)
        policy = RetryPolicy(initial_backoff_s=0.01, max_backoff_s=0.05, max_attempts=3)
        h = harness(client, receivers(endpoint, ("slack",)), policy)

        await asyncio.wait_for(h.deliverer.deliver(batch([7])), DEADLINE_S)

        assert len(endpoint.received) == 3
        [dead] = h.dead
        assert (dead.reason, dead.attempts, dead.http_status) == ("retries_exhausted", 3, 503)

    async def test_settled_alerts_are_not_posted_again(
        self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient
    ) -> None:
        """An alert id repeated in a batch, or seen again in a later batch, is posted once per endpoint."""
        h = harness(client, receivers(endpoint))
        first = batch(range(5))
        await asyncio.wait_for(h.deliverer.deliver(first + first[:2]), DEADLINE_S)

        report = await asyncio.wait_for(h.deliverer.deliver(batch(range(3, 8))), DEADLINE_S)

        assert len(endpoint.received) == 8 * 3
        assert all(count == 1 for path in PATHS for count in endpoint.acked(path).values())
        assert report.skipped == 2 * 3

    async def test_endpoint_filters_apply(self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient) -> None:
        """An endpoint with min_severity critical receives only the critical alerts."""
        h = harness(client, receivers(endpoint, ("pagerduty",), min_severity="critical"))
        alerts = [(make_alert(i, "critical" if i % 2 else "high"), origin(i)) for i in range(6)]

        await asyncio.wait_for(h.deliverer.deliver(alerts), DEADLINE_S)

        assert set(endpoint.acked("pagerduty")) == {make_alert(i).alert_id for i in (1, 3, 5)}

    async def test_requests_in_flight_are_bounded(self, endpoint: ScriptedEndpoint, client: httpx.AsyncClient) -> None:
        """No more than `concurrency` requests are in flight at once, and that many are used."""
        endpoint.script = lambda hit: Reply(delay=0.05)
        h = harness(client, receivers(endpoint), concurrency=4)

        await asyncio.wait_for(h.deliverer.deliver(batch(range(20))), DEADLINE_S)

        assert endpoint.max_in_flight == 4
        assert len(endpoint.received) == 60

    async def test_endpoint_that_is_not_listening_is_retried(self, client: httpx.AsyncClient) -> None:
        """Connection refused is retried; once the endpoint starts listening, the alerts are delivered."""
        [port] = free_loopback_ports(1)
        late = ScriptedEndpoint(stall_after=TIMEOUT_S)
        late.port = port
        h = harness(client, receivers(late, ("webhook",)))
        delivery = asyncio.create_task(h.deliverer.deliver(batch(range(3))))
        await wait_until(lambda: h.metrics.value("webhook", "retried") >= 6, "retries against a closed port")
        assert not delivery.done()
        await late.start(port)
        try:
            await asyncio.wait_for(delivery, DEADLINE_S)
            assert late.acked("webhook") == Counter({make_alert(i).alert_id: 1 for i in range(3)})
        finally:
            await late.stop()


# --- the service on a real broker ------------------------------------------------------------------


@dataclass
class Run:
    """One notifier instance running as a task."""

    notifier: Notifier
    task: asyncio.Task[None]
    stop: asyncio.Event

    async def finish(self) -> None:
        """Stop gracefully (the batch in hand may finish and commit)."""
        self.stop.set()
        await asyncio.wait_for(self.task, DEADLINE_S)

    async def crash(self) -> None:
        """Cancel mid-flight: the consumer stops without committing the batch in hand."""
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(self.task, DEADLINE_S)


@dataclass
class Topics:
    broker: KafkaBroker
    alerts: str
    dlq: str
    group: str

    def settings(self) -> Settings:
        return Settings(broker=f"kafka://{self.broker.bootstrap}", alerts_topic=self.alerts)

    def notify_settings(self, **changes: Any) -> NotifierSettings:
        values: dict[str, Any] = {
            "group_id": self.group,
            "dlq_topic": self.dlq,
            "batch_size": 10,
            "batch_wait_s": 0.1,
            "initial_backoff_s": 0.05,
            "max_backoff_s": 0.25,
            "session_timeout_s": 6.0,
            "stop_grace_s": 5.0,
            "dedup_window": 1000,
        }
        return NotifierSettings(**{**values, **changes})

    def start(self, targets: list[Receiver], **changes: Any) -> Run:
        notifier = Notifier(self.settings(), self.notify_settings(**changes), targets, metrics=NotifierMetrics())
        stop = asyncio.Event()
        return Run(notifier, asyncio.create_task(notifier.run(stop)), stop)

    async def produce(self, messages: list[tuple[bytes | None, bytes | None]]) -> list[int]:
        """Send messages (acks=all); return their offsets."""
        producer = AIOKafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all")
        await producer.start()
        try:
            sent = [await producer.send_and_wait(self.alerts, value, key=key) for key, value in messages]
        finally:
            await producer.stop()
        return [meta.offset for meta in sent]

    async def produce_alerts(self, indices: range | list[int]) -> dict[str, int]:
        """Send alerts keyed by alert_id; return alert_id -> offset."""
        alerts = [make_alert(i) for i in indices]
        offsets = await self.produce([(a.alert_id.encode(), encode_alert(a)) for a in alerts])
        return {a.alert_id: offset for a, offset in zip(alerts, offsets, strict=True)}

    async def committed(self) -> int | None:
        """The group's committed offset on partition 0 of the alerts topic (None: nothing committed)."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.broker.bootstrap)
        await admin.start()
        deadline = time.monotonic() + DEADLINE_S
        try:
            while True:
                try:
                    offsets = await admin.list_consumer_group_offsets(self.group)
                    break
                except KafkaError as exc:  # a fresh broker's offsets topic may not have a leader yet
                    if not exc.retriable or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)
        finally:
            await admin.close()
        for tp, meta in offsets.items():
            if tp.topic == self.alerts and meta.offset >= 0:
                return int(meta.offset)
        return None

    async def wait_committed(self, offset: int) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while (await self.committed()) != offset:
            if time.monotonic() > deadline:
                pytest.fail(f"committed offset never reached {offset} (now {await self.committed()})")
            await asyncio.sleep(0.1)

    async def dead_letters(self, count: int) -> list[Any]:
        """Read exactly `count` records from the notify DLQ, then check nothing else arrives for a moment."""
        consumer = AIOKafkaConsumer(
            self.dlq, bootstrap_servers=self.broker.bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        records: list[Any] = []
        try:
            deadline = time.monotonic() + DEADLINE_S
            while len(records) < count and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=200)
                records += [r for rs in batches.values() for r in rs]
            extra = await consumer.getmany(timeout_ms=500)
            records += [r for rs in extra.values() for r in rs]
        finally:
            await consumer.stop()
        return records


@pytest.fixture
async def topics(kafka_broker: KafkaBroker) -> Topics:
    name = f"alerts-{uuid.uuid4().hex[:8]}"
    await kafka_broker.create_topic(name)
    await kafka_broker.create_topic(f"{name}.notify-dlq")
    return Topics(kafka_broker, name, f"{name}.notify-dlq", f"notifier-{name}")


def _headers(record: Any) -> dict[str, str]:
    return {key: value.decode() for key, value in record.headers}


@pytest.mark.kafka
class TestNotifierService:
    async def test_every_alert_acknowledged_once_per_channel_through_faults(
        self, topics: Topics, endpoint: ScriptedEndpoint
    ) -> None:
        """500s, 429s and stalls on all three channels, and alerts republished on the topic: each distinct alert
        is acknowledged exactly once per channel, nothing is dead-lettered, and the commit reaches the end."""
        stalled_ids = {make_alert(i).alert_id for i in (4, 17)}

        def script(hit: Hit) -> Reply:
            if hit.path == "pagerduty" and hit.n == 1:
                return Reply(500)
            if hit.path == "slack" and hit.n <= 2 and int(hit.alert_id, 16) % 3 == 0:
                return Reply(429, headers={"Retry-After": "0"})
            if hit.path == "webhook" and hit.n == 1 and hit.alert_id in stalled_ids:
                return Reply(delay=1.0)
            return Reply(202 if hit.path == "pagerduty" else 200)

        endpoint.script = script
        offsets = await topics.produce_alerts(range(40))
        # The worker's at-least-once republishing: ten alerts appear twice, with the same ids.
        await topics.produce_alerts(range(10, 20))
        run = topics.start(receivers(endpoint))
        try:
            await topics.wait_committed(50)
        finally:
            await run.finish()

        await wait_until(
            lambda: {r.alert_id for r in endpoint.received if r.stalled} == stalled_ids,
            "the stalled requests to finish on the server",
        )
        for path in PATHS:
            assert endpoint.acked(path) == Counter(dict.fromkeys(offsets, 1)), path
        metrics = run.notifier.metrics
        assert metrics is not None
        assert metrics.value("pagerduty", "retried") == 40
        assert metrics.value("slack", "retried") > 0
        assert all(metrics.value(path, "failed") == 0 for path in PATHS)
        assert await topics.dead_letters(0) == []

    async def test_outage_holds_the_commit_until_the_endpoint_recovers(
        self, topics: Topics, endpoint: ScriptedEndpoint
    ) -> None:
        """While the endpoint answers 500, nothing is committed; after recovery every alert is acknowledged once."""
        down = True
        endpoint.script = lambda hit: Reply(500) if down else Reply()
        offsets = await topics.produce_alerts(range(25))
        run = topics.start(receivers(endpoint, ("webhook", "pagerduty")))
        metrics = run.notifier.metrics
        assert metrics is not None
        try:
            await wait_until(lambda: metrics.value("webhook", "retried") >= 30, "retries during the outage")
            assert await topics.committed() is None
            assert not endpoint.acked("webhook")
            down = False
            await topics.wait_committed(25)
        finally:
            await run.finish()

        for path in ("webhook", "pagerduty"):
            assert endpoint.acked(path) == Counter(dict.fromkeys(offsets, 1))
            assert metrics.value(path, "delivered") == 25

    async def test_restart_mid_batch_loses_nothing_and_repeats_only_the_uncommitted_window(
        self, topics: Topics, endpoint: ScriptedEndpoint
    ) -> None:
        """Notifier A is stuck on one alert and crashes; B, with an empty dedup memory, delivers the rest.

        Asserted: every alert is acknowledged; A never committed past the stuck alert; the alerts acknowledged
        twice are exactly those A acknowledged at or after its last committed offset (the at-least-once window,
        smaller than a batch); alerts before that offset are acknowledged once; B acknowledges each alert once.
        """
        first = await topics.produce_alerts(range(30))
        stuck = make_alert(15).alert_id
        endpoint.script = lambda hit: Reply(500) if hit.phase == "A" and hit.alert_id == stuck else Reply()
        run_a = topics.start(receivers(endpoint, ("webhook",)))
        await wait_until(lambda: len(endpoint.requests("webhook", stuck)) >= 4, "A retrying the stuck alert")
        await run_a.crash()
        committed_a = await topics.committed()
        assert committed_a is not None
        assert committed_a <= first[stuck]
        acked_by_a = set(endpoint.acked("webhook", "A"))

        later = await topics.produce_alerts(range(30, 40))
        endpoint.phase = "B"
        run_b = topics.start(receivers(endpoint, ("webhook",)))
        try:
            await topics.wait_committed(40)
        finally:
            await run_b.finish()

        offsets = {**first, **later}
        acked = endpoint.acked("webhook")
        assert set(acked) == set(offsets)
        window = {alert_id for alert_id in acked_by_a if offsets[alert_id] >= committed_a}
        assert {alert_id for alert_id, count in acked.items() if count > 1} == window
        assert 0 < len(window) < 10
        assert all(acked[alert_id] == 1 for alert_id, offset in offsets.items() if offset < committed_a)
        assert max(endpoint.acked("webhook", "B").values()) == 1

    async def test_permanent_rejection_goes_to_the_notify_dlq(self, topics: Topics, endpoint: ScriptedEndpoint) -> None:
        """A 400 from PagerDuty dead-letters that alert with the reason and the original bytes; the rest flows on."""
        bad = make_alert(3)
        endpoint.script = lambda hit: (
            Reply(400, body='{"status":"invalid event","message":"Event object is invalid"}')
            if hit.path == "pagerduty" and hit.alert_id == bad.alert_id
            else Reply(202)
        )
        offsets = await topics.produce_alerts(range(8))
        run = topics.start(receivers(endpoint, ("pagerduty", "webhook")))
        try:
            await topics.wait_committed(8)
        finally:
            await run.finish()

        [record] = await topics.dead_letters(1)
        headers = _headers(record)
        assert record.key == bad.alert_id.encode()
        assert record.value == encode_alert(bad)
        assert headers["alpr-reason"] == "rejected"
        assert headers["alpr-http-status"] == "400"
        assert headers["alpr-endpoint"] == "pagerduty-ep"
        assert headers["alpr-channel"] == "pagerduty"
        assert headers["alpr-alert-id"] == bad.alert_id
        assert "Event object is invalid" in headers["alpr-detail"]
        assert headers["alpr-source-topic"] == topics.alerts
        assert int(headers["alpr-source-offset"]) == offsets[bad.alert_id]
        assert len(endpoint.requests("pagerduty", bad.alert_id)) == 1
        assert set(endpoint.acked("webhook")) == set(offsets)
        assert set(endpoint.acked("pagerduty")) == set(offsets) - {bad.alert_id}

    async def test_unreadable_message_is_dead_lettered(self, topics: Topics, endpoint: ScriptedEndpoint) -> None:
        """A message on the alerts topic that is not a v1 alert goes to the notify DLQ; the alerts around it flow."""
        await topics.produce_alerts([1])
        [garbage_offset] = await topics.produce([(b"k", b'{"alert_id": "x"}')])
        await topics.produce_alerts([2])
        run = topics.start(receivers(endpoint, ("webhook",)))
        try:
            await topics.wait_committed(3)
        finally:
            await run.finish()

        [record] = await topics.dead_letters(1)
        headers = _headers(record)
        assert headers["alpr-reason"] == "invalid_alert"
        assert headers["alpr-source-offset"] == str(garbage_offset)
        assert record.value == b'{"alert_id": "x"}'
        assert set(endpoint.acked("webhook")) == {make_alert(1).alert_id, make_alert(2).alert_id}

    async def test_hostile_message_is_dead_lettered_without_quoting_it(
        self, topics: Topics, endpoint: ScriptedEndpoint
    ) -> None:
        """Deep nesting or a plate in an enum field goes to the notify DLQ with a masked detail; the rest flow."""
        alert = json.loads(encode_alert(make_alert(9)))
        alert["severity"] = "7ABC123"
        deep = b'{"alert_id": "deep", "x": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
        await topics.produce_alerts([1])
        await topics.produce([(b"plate", json.dumps(alert).encode()), (b"deep", deep)])
        await topics.produce_alerts([2])
        run = topics.start(receivers(endpoint, ("webhook",)))
        try:
            await topics.wait_committed(4)
        finally:
            await run.finish()

        records = await topics.dead_letters(2)
        details = {record.key: _headers(record)["alpr-detail"] for record in records}
        assert set(details) == {b"plate", b"deep"}
        assert "7ABC123" not in details[b"plate"]
        assert "of shape" in details[b"plate"]
        assert set(endpoint.acked("webhook")) == {make_alert(1).alert_id, make_alert(2).alert_id}

    async def test_outage_longer_than_max_poll_interval(
        self, topics: Topics, endpoint: ScriptedEndpoint, caplog: pytest.LogCaptureFixture
    ) -> None:
        """An outage outlasting max_poll_interval makes the consumer leave the group mid-batch; the notifier
        rejoins when the batch is settled, and every alert is still acknowledged once and committed."""
        down: set[str] = {make_alert(5).alert_id}
        endpoint.script = lambda hit: Reply(503) if hit.alert_id in down else Reply()
        offsets = await topics.produce_alerts(range(20))
        caplog.set_level(logging.INFO, logger="aiokafka")
        run = topics.start(receivers(endpoint, ("webhook",)), max_poll_interval_s=1.0, session_timeout_s=6.0)
        try:
            await wait_until(lambda: "LeaveGroup" in caplog.text, "the consumer to leave the group", 20.0)
            down.clear()
            await topics.wait_committed(20)
        finally:
            await run.finish()

        assert endpoint.acked("webhook") == Counter(dict.fromkeys(offsets, 1))


REPO = Path(__file__).resolve().parents[1]


def _write_config(path: Path, server_url: str) -> Path:
    path.write_text(
        "endpoints:\n"
        f"  - {{name: audit, kind: webhook, url: '{server_url}'}}\n"
        "  - {name: pager, kind: pagerduty, url: 'http://127.0.0.1:9/x', routing_key_env: TEST_NOTIFY_PD_KEY,"
        " min_severity: critical, kinds: [purpose.immigration]}\n"
    )
    return path


@pytest.fixture
def restore_structlog() -> Iterator[None]:
    """`main` configures structlog for the process; put the previous configuration back afterwards."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.usefixtures("restore_structlog")
class TestNotifyCommand:
    def test_missing_secret_stops_start_up(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An unset routing key variable stops `notify` with status 2, naming the endpoint and the variable."""
        config = _write_config(tmp_path / "endpoints.yaml", "http://127.0.0.1:9/hook")
        status = main(["notify", "--config", str(config), "--broker", "kafka://127.0.0.1:9"])
        assert status == 2
        err = capsys.readouterr().err
        assert "endpoint 'pager' (pagerduty)" in err
        assert "TEST_NOTIFY_PD_KEY (routing_key_env) is not set or empty" in err

    def test_config_is_required(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
        """Without --config (or ALPR_NOTIFY_CONFIG_PATH) `notify` stops with status 2 and says what to give."""
        monkeypatch.delenv("ALPR_NOTIFY_CONFIG_PATH", raising=False)
        assert main(["notify", "--broker", "kafka://127.0.0.1:9"]) == 2
        assert "--config" in capsys.readouterr().err

    def test_unreachable_broker_exits_1(self, tmp_path: Path) -> None:
        """With no broker listening, `notify` stops with status 1 instead of hanging."""
        config = tmp_path / "endpoints.yaml"
        config.write_text("endpoints:\n  - {name: a, kind: webhook, url: 'http://127.0.0.1:9/x'}\n")
        [port] = free_loopback_ports(1)
        argv = ["notify", "--config", str(config), "--broker", f"kafka://127.0.0.1:{port}", "--metrics-port", "0"]
        assert main(argv) == 1

    @pytest.mark.kafka
    async def test_runs_serves_metrics_and_stops_on_sigterm(
        self, topics: Topics, endpoint: ScriptedEndpoint, tmp_path: Path
    ) -> None:
        """`alpr-monitor notify` delivers, counts alpr_notifications_total on /metrics, survives SIGHUP and exits 0
        on SIGTERM."""
        config = _write_config(tmp_path / "endpoints.yaml", endpoint.url("webhook"))
        offsets = await topics.produce_alerts(range(3))
        [metrics_port] = free_loopback_ports(1)
        env = {**os.environ, "TEST_NOTIFY_PD_KEY": "k", "ALPR_NOTIFY_DLQ_TOPIC": topics.dlq, "ALPR_LOG_FORMAT": "json"}
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cli",
            "notify",
            "--config",
            str(config),
            "--broker",
            f"kafka://{topics.broker.bootstrap}",
            "--topic",
            topics.alerts,
            "--group",
            topics.group,
            "--metrics-port",
            str(metrics_port),
            cwd=REPO,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await topics.wait_committed(3)
            proc.send_signal(signal.SIGHUP)  # a closed terminal: logged, the notifier goes on
            offsets |= await topics.produce_alerts(range(3, 5))
            await topics.wait_committed(5)
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), DEADLINE_S)
        assert proc.returncode == 0, stderr.decode()[-2000:]
        assert endpoint.acked("webhook") == Counter(dict.fromkeys(offsets, 1))
        assert 'alpr_notifications_total{channel="webhook",outcome="delivered"} 5.0' in text
        assert 'alpr_notifications_total{channel="pagerduty",outcome="delivered"} 0.0' in text
        assert b'"notifier stopped"' in stderr
