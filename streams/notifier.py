"""`alpr-monitor notify`: post every alert to the configured endpoints, losing none.

Reads `alpr.alerts` in its own consumer group and, per batch, posts each alert to each endpoint that
wants it (concurrently, at most `concurrency` requests in flight). The batch's offsets are committed only
when every (alert, endpoint) pair is settled: delivered (2xx), or refused for good (another 4xx) and
written to the notify dead-letter topic with the reason, acknowledged by the broker. Until then the
notifier retries with bounded exponential backoff, so an endpoint outage holds progress instead of
dropping alerts; a crash or a restart reads the uncommitted batch again. An outage longer than
`max_poll_interval_s` makes the consumer leave its group while it keeps retrying; another notifier
instance, if any, then takes the partitions and posts the uncommitted batch again (repeats, not losses).

Why plain aiokafka and not a Faust agent: the guarantee is "commit after delivery", and with aiokafka
that is one explicit `commit(offsets)` after the batch's deliveries have returned, with auto-commit off.
Faust commits acked offsets from a background timer and acks on generator exit, so the same guarantee
needs manual acks (see streams/app.py) and still commits on Faust's schedule, not ours. There is no
table or join here that Faust would earn its keep with.

Deduplication: alert ids are deterministic, so a redelivered alert (the worker republishing after a
crash, or this notifier reading a batch again after a failed commit) has the same id. Each endpoint
keeps a bounded LRU of settled ids and skips those; PagerDuty also folds repeats by dedup_key. The LRU
lives in memory: after a restart, alerts of the batch that was in hand may be posted once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaConnectionError
from prometheus_client import CollectorRegistry, Counter

from monitor.alerts import Alert, decode_alert
from monitor.failures import failure_of
from monitor.notify import (
    NotifierSettings,
    NotifyConfigError,
    Receiver,
    RetryPolicy,
    SettledIds,
    Verdict,
    build_request,
    classify_status,
    load_endpoints,
    parse_retry_after,
    resolve_endpoints,
)
from monitor.settings import Settings
from streams.health import Health, serve_http
from streams.kafka_clients import aiokafka_options
from streams.kafka_refusals import explain_connection_failure, preflight
from streams.metrics import MetricsServer
from streams.produce import bootstrap_servers

__all__ = [
    "CHANNELS",
    "NOTIFY_DLQ_HEADERS",
    "NOTIFY_OUTCOMES",
    "DeadNotification",
    "Deliverer",
    "Notifier",
    "NotifierMetrics",
    "Origin",
    "run_notifier",
]

log = structlog.get_logger(__name__)

CHANNELS = ("webhook", "slack", "pagerduty")
NOTIFY_OUTCOMES = ("delivered", "retried", "failed")
EXIT_OK, EXIT_FAILED, EXIT_BAD_CONFIG = 0, 1, 2
NOTIFIER_CHECKS = ("partitions_assigned", "endpoints_loaded")

# Dead-letter reasons (bounded): the endpoint refused the request for good, retrying hit the configured
# limit, or the message on the alerts topic is not a v1 alert at all.
REJECTED, RETRIES_EXHAUSTED, INVALID_ALERT = "rejected", "retries_exhausted", "invalid_alert"
NOTIFY_DLQ_HEADERS = (
    "alpr-reason",
    "alpr-detail",
    "alpr-endpoint",
    "alpr-channel",
    "alpr-alert-id",
    "alpr-attempts",
    "alpr-http-status",
    "alpr-source-topic",
    "alpr-source-partition",
    "alpr-source-offset",
)
_DETAIL_MAX = 500  # characters of an endpoint's error body kept in the dead letter


class NotifierMetrics:
    """alpr_notifications_total{channel, outcome}, in a registry of its own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.notifications = Counter(
            "alpr_notifications",
            "Notification attempts by channel and outcome (retried counts each retry scheduled)",
            ["channel", "outcome"],
            registry=self.registry,
        )
        for channel in CHANNELS:  # zero series from the start, so rate() works before the first alert
            for outcome in NOTIFY_OUTCOMES:
                self.notifications.labels(channel, outcome)

    def count(self, channel: str, outcome: str) -> None:
        self.notifications.labels(channel, outcome).inc()

    def value(self, channel: str, outcome: str) -> float:
        return float(
            self.registry.get_sample_value("alpr_notifications_total", {"channel": channel, "outcome": outcome}) or 0
        )

    def serve(self, host: str, port: int) -> MetricsServer:
        """Serve /metrics on host:port (port 0: any free port) in a daemon thread."""
        from prometheus_client import start_http_server

        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(server, thread)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an alert was read: its original bytes go to the dead-letter topic untouched, for replay."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True, slots=True)
class DeadNotification:
    """A notification given up on: the alert's original message and headers saying why."""

    origin: Origin
    reason: str
    detail: str
    endpoint: str = ""
    channel: str = ""
    alert_id: str = ""
    attempts: int = 0
    http_status: int | None = None

    def headers(self) -> list[tuple[str, bytes]]:
        values = (
            self.reason,
            self.detail,
            self.endpoint,
            self.channel,
            self.alert_id,
            str(self.attempts),
            "" if self.http_status is None else str(self.http_status),
            self.origin.topic,
            str(self.origin.partition),
            str(self.origin.offset),
        )
        return [(name, value.encode()) for name, value in zip(NOTIFY_DLQ_HEADERS, values, strict=True)]


DeadLetterSink = Callable[[DeadNotification], Awaitable[None]]


@dataclass(slots=True)
class BatchReport:
    """What one batch came to, per (alert, endpoint) pair."""

    delivered: int = 0
    dead: int = 0
    skipped: int = 0  # settled before (redelivery), or the endpoint does not want the alert
    retries: int = 0


@dataclass(slots=True)
class _Attempt:
    verdict: Verdict
    detail: str
    status: int | None = None
    retry_after: float | None = None


@dataclass(slots=True)
class Deliverer:
    """Posts alerts to receivers with retries, deduplication and dead-lettering; knows nothing of Kafka."""

    receivers: Sequence[Receiver]
    client: httpx.AsyncClient
    policies: Mapping[str, RetryPolicy]  # by receiver name
    dead_letter: DeadLetterSink
    concurrency: int = 16
    dedup_window: int = 10_000
    source: str = "alpr-monitor"
    metrics: NotifierMetrics | None = None
    rand: Callable[[], float] = random.random
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep  # injectable, so tests see the chosen backoff
    _settled: dict[str, SettledIds] = field(init=False)
    _slots: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self._settled = {r.name: SettledIds(self.dedup_window) for r in self.receivers}
        self._slots = asyncio.Semaphore(self.concurrency)

    async def deliver(self, alerts: Iterable[tuple[Alert, Origin]]) -> BatchReport:
        """Settle every (alert, receiver) pair; returns when all are delivered or dead-lettered.

        An alert id seen twice in the batch is handled once. A dead-letter write that fails raises (after
        the other deliveries are cancelled), so the batch is not committed and is read again.
        """
        report = BatchReport()
        seen: set[str] = set()
        async with asyncio.TaskGroup() as group:
            for alert, origin in alerts:
                if alert.alert_id in seen:
                    report.skipped += len(self.receivers)
                    continue
                seen.add(alert.alert_id)
                for receiver in self.receivers:
                    if alert.alert_id in self._settled[receiver.name] or not receiver.endpoint.accepts(alert):
                        report.skipped += 1
                        continue
                    group.create_task(self._deliver_one(receiver, alert, origin, report))
        return report

    async def _deliver_one(self, receiver: Receiver, alert: Alert, origin: Origin, report: BatchReport) -> None:
        request = build_request(receiver, alert, source=self.source)
        policy = self.policies[receiver.name]
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            async with self._slots:  # held for the request only, never while backing off
                attempt = await self._post(
                    request.url, request.headers, request.body, receiver.endpoint.timeout_s, _secrets_of(receiver)
                )
            if attempt.verdict is Verdict.DELIVERED:
                self._settle(receiver, alert, "delivered")
                report.delivered += 1
                log.debug("notification delivered", endpoint=receiver.name, alert_id=alert.alert_id, attempts=attempts)
                return
            elapsed = time.monotonic() - started
            if attempt.verdict is Verdict.PERMANENT or policy.exhausted(attempts, elapsed):
                reason = REJECTED if attempt.verdict is Verdict.PERMANENT else RETRIES_EXHAUSTED
                dead = DeadNotification(
                    origin,
                    reason,
                    attempt.detail,
                    endpoint=receiver.name,
                    channel=receiver.kind,
                    alert_id=alert.alert_id,
                    attempts=attempts,
                    http_status=attempt.status,
                )
                await self.dead_letter(dead)  # acknowledged before the pair counts as settled
                self._settle(receiver, alert, "failed")
                report.dead += 1
                log.error(
                    "notification dead-lettered",
                    endpoint=receiver.name,
                    channel=receiver.kind,
                    alert_id=alert.alert_id,
                    reason=reason,
                    detail=attempt.detail,
                    attempts=attempts,
                )
                return
            delay = policy.delay(attempts, attempt.retry_after, self.rand)
            report.retries += 1
            if self.metrics is not None:
                self.metrics.count(receiver.kind, "retried")
            # Powers of two only: a long outage logs a few lines per alert, not one per retry.
            if attempts & (attempts - 1) == 0:
                log.warning(
                    "notification failed; retrying",
                    endpoint=receiver.name,
                    alert_id=alert.alert_id,
                    detail=attempt.detail,
                    attempts=attempts,
                    retry_in_s=round(delay, 3),
                )
            await self.sleep(delay)

    async def _post(
        self, url: str, headers: dict[str, str], body: bytes, timeout: float, secrets: tuple[str, ...] = ()
    ) -> _Attempt:
        try:
            response = await self.client.post(url, content=body, headers=headers, timeout=timeout)
        except httpx.TimeoutException as exc:
            return _Attempt(Verdict.RETRY, f"timeout after {timeout}s ({type(exc).__name__})")
        except httpx.TransportError as exc:
            # The URL may be a secret (Slack): keep it out of the detail that is logged and dead-lettered.
            detail = _redacted(f"{type(exc).__name__}: {exc}".replace(url, "<url>"), secrets)
            return _Attempt(Verdict.RETRY, detail[:_DETAIL_MAX])
        status = response.status_code
        verdict = classify_status(status)
        # An error answer may echo the request (routing key, token): cut the secrets before cutting the length.
        detail = (
            f"HTTP {status}" if verdict is Verdict.DELIVERED else _redacted(f"HTTP {status}: {response.text}", secrets)
        )
        return _Attempt(verdict, detail[:_DETAIL_MAX], status, parse_retry_after(response.headers.get("retry-after")))

    def _settle(self, receiver: Receiver, alert: Alert, outcome: str) -> None:
        self._settled[receiver.name].add(alert.alert_id)
        if self.metrics is not None:
            self.metrics.count(receiver.kind, outcome)


def _secrets_of(receiver: Receiver) -> tuple[str, ...]:
    """Every secret a request to `receiver` carries (URL, header values and their bearer tokens, routing key)."""
    values = [receiver.url.get_secret_value(), *(value.get_secret_value() for value in receiver.headers.values())]
    values += [value.removeprefix("Bearer ") for value in values if value.startswith("Bearer ")]
    if receiver.routing_key is not None:
        values.append(receiver.routing_key.get_secret_value())
    return tuple(sorted((value for value in values if value), key=len, reverse=True))  # longest first


def _redacted(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


class Notifier:
    """The service: consume alerts, deliver each batch, commit its offsets only after delivery."""

    def __init__(
        self,
        settings: Settings,
        notify: NotifierSettings,
        receivers: Sequence[Receiver],
        *,
        metrics: NotifierMetrics | None = None,
        health: Health | None = None,
    ) -> None:
        self.settings = settings
        self.notify = notify
        self.receivers = list(receivers)
        self.metrics = metrics
        self.health = health
        self.commits = 0  # batches committed; for logs and tests
        self.commit_failures = 0  # commits refused after a rebalance (the batch is read again)
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until `stop` is set (the batch in hand gets `stop_grace_s` to finish) or the task is cancelled.

        Cancelled, it stops without committing the batch in hand: that batch is read again next time.
        """
        stop = stop if stop is not None else asyncio.Event()
        notify = self.notify
        servers = bootstrap_servers(self.settings.broker)
        security = aiokafka_options(self.settings.kafka)  # TLS, mTLS, SASL (ALPR_KAFKA_*)
        producer = self._producer = AIOKafkaProducer(
            bootstrap_servers=servers, acks="all", enable_idempotence=True, **security
        )
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(producer.stop)  # also closes a producer whose start failed
            await producer.start()
            consumer = self._consumer = AIOKafkaConsumer(
                self.settings.alerts_topic,
                bootstrap_servers=servers,
                group_id=notify.group_id,
                enable_auto_commit=False,  # offsets move only through _commit, after delivery
                auto_offset_reset=notify.offset_reset,
                max_poll_interval_ms=int(notify.max_poll_interval_s * 1000),
                session_timeout_ms=int(notify.session_timeout_s * 1000),
                heartbeat_interval_ms=max(100, int(notify.session_timeout_s * 1000 / 4)),
                **security,
            )
            stack.push_async_callback(consumer.stop)  # auto-commit is off: stopping commits nothing
            await consumer.start()
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    follow_redirects=False,  # a redirect is a misconfigured URL: permanent, not followed
                    limits=httpx.Limits(
                        max_connections=notify.concurrency, max_keepalive_connections=notify.concurrency
                    ),
                )
            )
            deliverer = Deliverer(
                self.receivers,
                client,
                {r.name: notify.retry_policy(r.endpoint.give_up_after_s) for r in self.receivers},
                self._dead_letter,
                concurrency=notify.concurrency,
                dedup_window=notify.dedup_window,
                source=notify.source,
                metrics=self.metrics,
            )
            log.info(
                "notifier started",
                alerts_topic=self.settings.alerts_topic,
                group_id=notify.group_id,
                dlq_topic=notify.dlq_topic,
                endpoints=[f"{r.name}:{r.kind}" for r in self.receivers],
            )
            if self.health is not None:
                self.health.set_check("endpoints_loaded", True, f"{len(self.receivers)} endpoint(s)")
            while not stop.is_set():
                batch = await consumer.getmany(
                    timeout_ms=int(notify.batch_wait_s * 1000), max_records=notify.batch_size
                )
                self._report_round(consumer)
                if not batch:
                    continue
                if not await self._deliver_or_stop(deliverer, batch, stop):
                    log.warning("stopped with a batch in hand; it is read again on the next start")
                    return
                await self._commit(batch)

    def _report_round(self, consumer: AIOKafkaConsumer) -> None:
        """Liveness: the loop went round; readiness: this member holds partitions of the alerts topic."""
        if self.health is None:
            return
        self.health.loop_round()
        assigned = sorted(tp.partition for tp in consumer.assignment())
        if assigned:
            self.health.set_check("partitions_assigned", True, f"alerts partitions {assigned}")
        else:
            self.health.set_check("partitions_assigned", False, "no partition of the alerts topic assigned")

    async def _deliver_or_stop(
        self, deliverer: Deliverer, batch: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]], stop: asyncio.Event
    ) -> bool:
        """Deliver the batch; True when it was settled, False when a stop cut it short."""
        work = asyncio.create_task(self._deliver_batch(deliverer, batch))
        stopping = asyncio.create_task(stop.wait())
        try:
            # While an outage holds a batch, the loop is waiting, not wedged: liveness keeps beating.
            while not (work.done() or stopping.done()):
                await asyncio.wait({work, stopping}, timeout=1.0, return_when=asyncio.FIRST_COMPLETED)
                if self.health is not None:
                    self.health.loop_round()
            if not work.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(work), self.notify.stop_grace_s)
            if work.done():
                work.result()  # a failed dead-letter write propagates: no commit
                return True
            return False
        finally:
            stopping.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work

    async def _deliver_batch(
        self, deliverer: Deliverer, batch: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]]
    ) -> None:
        alerts: list[tuple[Alert, Origin]] = []
        invalid: list[DeadNotification] = []
        for records in batch.values():
            for record in records:
                origin = Origin(record.topic, record.partition, record.offset, record.key, record.value)
                try:
                    if record.value is None:
                        raise ValueError("empty message (null value)")
                    alerts.append((decode_alert(record.value), origin))
                except Exception as exc:  # any bytes: deep nesting, a plate in an enum field, ...
                    # One masking path with the worker: the detail never quotes a value from the message.
                    detail = failure_of(exc, "decode").detail[:_DETAIL_MAX]
                    invalid.append(DeadNotification(origin, INVALID_ALERT, detail))
        for dead in invalid:
            log.error(
                "unreadable alert dead-lettered",
                topic=dead.origin.topic,
                partition=dead.origin.partition,
                offset=dead.origin.offset,
                detail=dead.detail,
            )
            await self._dead_letter(dead)
        started = time.monotonic()
        report = await deliverer.deliver(alerts)
        log.debug(
            "batch delivered",
            alerts=len(alerts),
            delivered=report.delivered,
            dead=report.dead,
            skipped=report.skipped,
            retries=report.retries,
            seconds=round(time.monotonic() - started, 3),
        )

    async def _dead_letter(self, dead: DeadNotification) -> None:
        assert self._producer is not None
        await self._producer.send_and_wait(
            self.notify.dlq_topic, dead.origin.value, key=dead.origin.key, headers=dead.headers()
        )

    async def _commit(self, batch: Mapping[TopicPartition, list[ConsumerRecord[Any, Any]]]) -> None:
        assert self._consumer is not None
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as exc:
            # Another member took the partitions while this batch was delivered (e.g. an outage
            # outlasted max_poll_interval and this consumer left the group). That member reads the
            # batch again from the last commit: repeats, not losses; PagerDuty folds them by
            # dedup_key. (Alone in the group, a consumer that left still gets its commit accepted.)
            self.commit_failures += 1
            log.warning("offsets not committed after a rebalance; the batch will be read again", error=repr(exc))
            return
        self.commits += 1


def run_notifier(settings: Settings, notify: NotifierSettings) -> int:
    """Run the notifier until SIGTERM or SIGINT; return the process exit status."""
    if notify.config_path is None:
        print("alpr-monitor notify: give the endpoints file (--config or ALPR_NOTIFY_CONFIG_PATH)", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        receivers = resolve_endpoints(load_endpoints(notify.config_path), os.environ)
    except NotifyConfigError as exc:
        print(f"alpr-monitor notify: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    metrics = NotifierMetrics()
    health = Health(NOTIFIER_CHECKS, registry=metrics.registry, ready_metric="alpr_notifier_ready")
    try:
        server = serve_http(notify.metrics_host, notify.metrics_port, metrics.registry, health)
    except OSError as exc:
        print(
            f"alpr-monitor notify: cannot serve /metrics on {notify.metrics_host}:{notify.metrics_port}: "
            f"{exc.strerror}; set ALPR_NOTIFY_METRICS_PORT or --metrics-port",
            file=sys.stderr,
        )
        return EXIT_BAD_CONFIG
    log.info("notifier metrics", metrics=f"http://{notify.metrics_host}:{server.port}/metrics")
    try:
        return asyncio.run(_serve(Notifier(settings, notify, receivers, metrics=metrics, health=health)))
    finally:
        server.close()


async def _serve(notifier: Notifier) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # SIGHUP (a closed terminal, `systemctl reload`) would otherwise kill the notifier mid-delivery.
    loop.add_signal_handler(signal.SIGHUP, lambda: log.info("signal ignored", signal="SIGHUP"))
    settings, notify = notifier.settings, notifier.notify
    servers = bootstrap_servers(settings.broker)
    # A TLS, SASL or ACL refusal is configuration (exit 2, do not restart), not an outage.
    refused = await preflight(servers, settings.kafka, [settings.alerts_topic, notify.dlq_topic], notify.group_id)
    if refused is not None:
        log.error("the Kafka broker refused the notifier", broker=settings.broker, error=refused)
        return EXIT_BAD_CONFIG
    try:
        await notifier.run(stop)
    except KafkaConnectionError as exc:
        reason = await explain_connection_failure(servers, settings.kafka, exc)
        log.error("cannot reach the Kafka broker", broker=settings.broker, error=reason)
        return EXIT_FAILED
    except Exception:  # Kafka unreachable, a dead letter not written: stop, and read the batch again on restart
        log.exception("notifier failed; alerts not yet committed are read again on restart")
        return EXIT_FAILED
    log.info("notifier stopped", batches_committed=notifier.commits)
    return EXIT_OK
