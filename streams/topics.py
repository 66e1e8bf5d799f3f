"""The worker's topics as the broker sees them: does the input exist, what do the outputs accept.

Two silent failures are made loud here. A missing input topic (never created, or gone with a broker
that lost its storage) leaves a Kafka consumer idle with no error at all: the check logs an ERROR that
names the topic, sets `alpr_input_topic_missing` and turns readiness false until the topic exists.
An output topic whose `max.message.bytes` is below what the worker writes makes every send of an
oversize record fail, and the worker read the same input again on every restart: the check reads the
limit (DescribeConfigs) so the batch handler can fit dead letters to it and divert alerts that cannot
fit; a limit too small for any record batch is a configuration error naming the topic and the setting.

Only metadata and DescribeConfigs requests (never an auto-creating metadata request), so a check never
creates the topic it looks for. Without DescribeConfigs permission the limits stay at the broker default.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from monitor.settings import Settings
from streams.health import Health
from streams.kafka_clients import aiokafka_options
from streams.metrics import WorkerMetrics
from streams.produce import bootstrap_servers

__all__ = [
    "BROKER_DEFAULT_MAX_MESSAGE_BYTES",
    "MIN_OUTPUT_MAX_MESSAGE_BYTES",
    "RECORD_OVERHEAD_BYTES",
    "OutputLimits",
    "TopicCheck",
    "TopicConfigError",
]

log = structlog.get_logger(__name__)

MAX_MESSAGE_BYTES = "max.message.bytes"
BROKER_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588  # Kafka's message.max.bytes default
# Headroom for the record batch header, record framing, key and headers beyond what is counted.
RECORD_OVERHEAD_BYTES = 512
# The producer groups records into batches of up to 16 KiB (Faust's producer_max_batch_size); a topic
# that accepts less refuses ordinary batches of small records, whatever is done to any one record.
PRODUCER_BATCH_BYTES = 16_384
MIN_OUTPUT_MAX_MESSAGE_BYTES = PRODUCER_BATCH_BYTES + RECORD_OVERHEAD_BYTES
REPEAT_ERROR_SECONDS = 60.0  # a problem that persists is logged again this often, not on every check

CHECK_INPUT, CHECK_OUTPUTS = "input_topic", "output_topics"


class TopicConfigError(RuntimeError):
    """An output topic accepts records too small for the worker: raise the topic's max.message.bytes."""


@dataclass
class OutputLimits:
    """Largest record (key + value + headers) each output topic accepts, as last read from the broker."""

    alerts: int = BROKER_DEFAULT_MAX_MESSAGE_BYTES
    dlq: int = BROKER_DEFAULT_MAX_MESSAGE_BYTES

    @staticmethod
    def record_room(limit: int, key: bytes | None, headers: list[tuple[str, bytes]] | None = None) -> int:
        """Bytes left for a value under `limit` once key, headers and framing are counted."""
        used = len(key or b"") + sum(len(name) + len(value) + 8 for name, value in headers or ())
        return limit - used - RECORD_OVERHEAD_BYTES


@dataclass
class _Problem:
    text: str = ""
    logged_at: float = field(default=-1e18)


class TopicCheck:
    """Checks the input and output topics; reports to health, metrics and the log; holds output limits."""

    def __init__(self, settings: Settings, health: Health | None = None, metrics: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.health = health
        self.metrics = metrics
        self.limits = OutputLimits()
        self._problems: dict[str, _Problem] = {}
        self._limits_unreadable_logged = False
        # Called when the input topic exists again after a check found it missing.
        self.on_input_restored: Callable[[], Awaitable[None]] | None = None
        # Called on every check that finds the input topic missing.
        self.on_input_lost: Callable[[], None] | None = None

    def _admin(self) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(
            bootstrap_servers=bootstrap_servers(self.settings.broker),
            request_timeout_ms=10_000,
            **aiokafka_options(self.settings.kafka),  # TLS, mTLS, SASL (ALPR_KAFKA_*)
        )

    async def check(self) -> None:
        """One check of every topic; raises TopicConfigError for an output topic too small to use."""
        admin = self._admin()
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            await self._check_input(existing)
            outputs = {"alerts": self.settings.alerts_topic, "dlq": self.settings.dlq_topic}
            missing = sorted(name for name in outputs.values() if name not in existing)
            if missing:
                self._report(
                    CHECK_OUTPUTS,
                    f"output topic(s) {', '.join(missing)} do not exist; alerts and dead letters cannot be written",
                )
                return
            await self._read_limits(admin, outputs)
        finally:
            await admin.close()

    async def _check_input(self, existing: set[str]) -> None:
        topic = self.settings.input_topic
        missing = topic not in existing
        if self.metrics is not None:
            self.metrics.input_topic_missing.set(1 if missing else 0)
        if missing:
            if self.on_input_lost is not None:
                self.on_input_lost()
            self._report(
                CHECK_INPUT,
                f"input topic {topic} does not exist on the broker: nothing is being processed until it is "
                "created (was it never created, or did the broker lose its storage?)",
                topic=topic,
            )
        elif (
            self._clear(CHECK_INPUT, "input topic found; processing resumes", topic=topic)
            and self.on_input_restored is not None
        ):
            await self.on_input_restored()

    async def _read_limits(self, admin: AIOKafkaAdminClient, outputs: dict[str, str]) -> None:
        resources = [
            ConfigResource(ConfigResourceType.TOPIC, name, {MAX_MESSAGE_BYTES: None}) for name in outputs.values()
        ]
        found: dict[str, int] = {}
        try:
            for response in await admin.describe_configs(resources):
                for resource in response.to_object()["resources"]:
                    if resource["error_code"] != 0:
                        raise PermissionError(f"error code {resource['error_code']} for {resource['resource_name']}")
                    for entry in resource["config_entries"]:
                        if entry["config_names"] == MAX_MESSAGE_BYTES:
                            found[resource["resource_name"]] = int(entry["config_value"])
        except (PermissionError, ValueError, KeyError) as exc:
            if not self._limits_unreadable_logged:
                self._limits_unreadable_logged = True
                log.warning(
                    "cannot read the output topics' max.message.bytes (DescribeConfigs); assuming the broker default",
                    error=str(exc),
                    assumed=BROKER_DEFAULT_MAX_MESSAGE_BYTES,
                )
            self._clear(CHECK_OUTPUTS, "output topics exist")
            return
        limits = OutputLimits(
            alerts=found.get(outputs["alerts"], BROKER_DEFAULT_MAX_MESSAGE_BYTES),
            dlq=found.get(outputs["dlq"], BROKER_DEFAULT_MAX_MESSAGE_BYTES),
        )
        self.limits = limits
        too_small = [
            (name, limit)
            for name, limit in ((outputs["alerts"], limits.alerts), (outputs["dlq"], limits.dlq))
            if limit < MIN_OUTPUT_MAX_MESSAGE_BYTES
        ]
        if too_small:
            text = "; ".join(
                f"topic {name} has {MAX_MESSAGE_BYTES}={limit}, below the {MIN_OUTPUT_MAX_MESSAGE_BYTES} bytes "
                f"the worker's producer batches need: raise it (kafka-configs --alter --entity-type topics "
                f"--entity-name {name} --add-config {MAX_MESSAGE_BYTES}=1048588)"
                for name, limit in too_small
            )
            self._report(CHECK_OUTPUTS, text)
            raise TopicConfigError(text)
        writable = f"output topics writable (max.message.bytes alerts={limits.alerts} dlq={limits.dlq})"
        self._clear(CHECK_OUTPUTS, writable)

    def _report(self, check: str, text: str, **context: Any) -> None:
        if self.health is not None:
            self.health.set_check(check, False, text)
        problem = self._problems.setdefault(check, _Problem())
        now = time.monotonic()
        if problem.text != text or now - problem.logged_at >= REPEAT_ERROR_SECONDS:
            log.error(text, check=check, **context)
            problem.text, problem.logged_at = text, now

    def _clear(self, check: str, text: str, **context: Any) -> bool:
        """Mark `check` passing; True when it was failing until now."""
        if self.health is not None:
            self.health.set_check(check, True, text)
        if self._problems.pop(check, None) is None:
            return False
        log.info(text, check=check, **context)
        return True

    async def check_or_report(self, timeout_s: float = 15.0) -> None:
        """`check` bounded in time; a broker that does not answer is reported, never raised."""
        try:
            await asyncio.wait_for(self.check(), timeout_s)
        except TopicConfigError:
            raise
        except Exception as exc:  # broker down or slow: the fetch loop reports that itself; try next tick
            log.warning("topics not checked: the broker did not answer", error_type=type(exc).__name__)
