"""The worker's Prometheus metrics, in a registry of their own so tests can build several.

Every label value is bounded: event types and outcomes are fixed words, rules and kinds come from the
shipped packs, owners from the policy file (anything else is "other"). A plate, a user or an event id
never becomes a label.
"""

from __future__ import annotations

import threading
import time
from collections import Counter as CountingDict
from collections.abc import Iterable, Mapping
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from monitor.alerts import Alert
from monitor.patterns.detectors.standing_access import GAUGE_CLASSES

__all__ = [
    "DLQ_REASONS",
    "EVENT_TYPES",
    "GRANT_CLASSES",
    "JURISDICTIONS",
    "OUTCOMES",
    "MetricsServer",
    "WorkerMetrics",
]

EVENT_TYPES = ("query", "sharing_change", "unknown")
OUTCOMES = ("clean", "alerted", "invalid")
DLQ_REASONS = (
    "invalid_json",
    "invalid_field",
    "invalid_encoding",
    "oversize",
    "engine_error",
    "alert_too_large",
)
JURISDICTIONS = frozenset({"in_state", "out_of_state", "federal", "tribal", "private", "placeholder", "unresolved"})
OTHER_OWNER = "other"
GRANT_CLASSES = GAUGE_CLASSES
"""Jurisdiction classes of `alpr_prohibited_active_grants` (in_state: one the owner's own policy prohibits)."""

# Seconds. Detection lag spans live traffic (sub-second) to replayed exports (days old).
_LAG_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400, 604800)
_BATCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_EVENT_BUCKETS = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2, 0.1)


class MetricsServer:
    """A running /metrics HTTP server; `port` is the bound port (useful with port 0)."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class WorkerMetrics:
    """The metrics named in the team contract (alpr_*), registered in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        reg = self.registry
        self.events_processed = Counter(
            "alpr_events_processed",
            "Events read from the input topic, by event type and outcome",
            ["event_type", "outcome"],
            registry=reg,
        )
        self.alerts = Counter(
            "alpr_alerts",
            "Alerts written to the alerts topic",
            ["rule", "kind", "severity", "owner", "jurisdiction"],
            registry=reg,
        )
        self.dlq_messages = Counter(
            "alpr_dlq_messages", "Messages written to the dead-letter topic, by reason", ["reason"], registry=reg
        )
        self.batch_seconds = Histogram(
            "alpr_batch_processing_seconds",
            "Time to judge one batch and have its outputs acknowledged by the broker",
            buckets=_BATCH_BUCKETS,
            registry=reg,
        )
        self.event_seconds = Histogram(
            "alpr_event_processing_seconds",
            "Processing time per event (batch time / batch size, observed once per batch)",
            buckets=_EVENT_BUCKETS,
            registry=reg,
        )
        self.detection_lag = Histogram(
            "alpr_detection_lag_seconds",
            "From an event's occurred_at to its alert's detected_at",
            buckets=_LAG_BUCKETS,
            registry=reg,
        )
        self.consumer_lag = Gauge(
            "alpr_consumer_lag_messages",
            "Messages on the input topic not yet processed, per assigned partition",
            ["partition"],
            registry=reg,
        )
        # Set to the start time by `mark_started`, so a freshly started idle worker reads "idle since
        # start" (ALPRNoEvents waits its threshold) rather than 0, i.e. "idle since 1970".
        self.last_event = Gauge(
            "alpr_last_event_timestamp_seconds",
            "Unix time the worker last processed an event, or its start time if none yet",
            registry=reg,
        )
        self.policy = Info("alpr_policy", "The policy in force", registry=reg)
        # Pattern state (streams.patterns): prohibited recipients holding access on this worker's partitions.
        self.prohibited_grants = Gauge(
            "alpr_prohibited_active_grants",
            "Prohibited recipients holding access to an owner's data now, by owner and jurisdiction class",
            ["owner", "jurisdiction"],
            registry=reg,
        )
        self.prohibited_grant_since = Gauge(
            "alpr_prohibited_grant_oldest_since_timestamp_seconds",
            "Unix time the longest-standing prohibited access began, by owner and jurisdiction class",
            ["owner", "jurisdiction"],
            registry=reg,
        )
        self.policy_mismatch = Gauge(
            "alpr_policy_mismatch",
            "1 while workers of this consumer group committed offsets under different policy versions, else 0",
            registry=reg,
        )
        self.input_topic_missing = Gauge(
            "alpr_input_topic_missing",
            "1 while the input topic does not exist on the broker (nothing can be processed), else 0",
            registry=reg,
        )
        # Zero series from the start, so rate() and absent() work before the first event.
        for event_type in EVENT_TYPES:
            for outcome in OUTCOMES:
                self.events_processed.labels(event_type, outcome)
        for reason in DLQ_REASONS:
            self.dlq_messages.labels(reason)
        self._owners: frozenset[str] = frozenset({OTHER_OWNER})
        self.set_prohibited_grants({})

    def mark_started(self, now: float | None = None) -> None:
        """Record the worker's start (unix time, default now) as its last event time until the first event."""
        self.last_event.set(time.time() if now is None else now)

    def set_policy(self, version: str, owner_ids: Iterable[str]) -> None:
        """Record the policy in force; its owner ids are the only owner label values allowed."""
        self.policy.info({"version": version})
        self._owners = frozenset(owner_ids) | {OTHER_OWNER}

    def record_batch(
        self,
        processed: Mapping[tuple[str, str], int],
        alerts: Iterable[Alert],
        dead_reasons: Iterable[str],
        seconds: float,
    ) -> None:
        """Count one batch whose outputs the broker has acknowledged."""
        total = 0
        for (event_type, outcome), count in processed.items():
            self.events_processed.labels(event_type, outcome).inc(count)
            total += count
        owners = self._owners
        now = time.time()
        observe_lag = self.detection_lag.observe
        # One labels() lookup per distinct series, not per alert.
        series: CountingDict[tuple[str, str, str, str, str]] = CountingDict()
        for alert in alerts:
            owner = alert.owner.id if alert.owner.id in owners else OTHER_OWNER
            jurisdiction = alert.requester.jurisdiction
            if jurisdiction not in JURISDICTIONS:
                jurisdiction = "unresolved"
            series[alert.rule_id, alert.kind, alert.severity, owner, jurisdiction] += 1
            observe_lag((alert.detected_at - alert.occurred_at).total_seconds())
        for labels, count in series.items():
            self.alerts.labels(*labels).inc(count)
        for reason in dead_reasons:
            self.dlq_messages.labels(reason if reason in DLQ_REASONS else "invalid_json").inc()
        if total:
            self.batch_seconds.observe(seconds)
            self.event_seconds.observe(seconds / total)
            self.last_event.set(now)

    def set_prohibited_grants(self, grants: Mapping[tuple[str, str], tuple[int, float]]) -> None:
        """Replace the prohibited-grant gauges: (owner, jurisdiction) -> (count, earliest start, unix time).

        Every policy owner and jurisdiction class has a series (0 when none), so a revoke sets it to 0
        and the alert rule resolves, rather than the series vanishing.
        """
        owners = self._owners
        counts: CountingDict[tuple[str, str]] = CountingDict()
        since: dict[tuple[str, str], float] = {}
        for (owner, jurisdiction), (count, started) in grants.items():
            label = (
                owner if owner in owners else OTHER_OWNER,
                jurisdiction if jurisdiction in GRANT_CLASSES else "unresolved",
            )
            counts[label] += count
            since[label] = min(since.get(label, started), started)
        self.prohibited_grants.clear()
        self.prohibited_grant_since.clear()
        for owner in owners:
            for jurisdiction in GRANT_CLASSES:
                self.prohibited_grants.labels(owner, jurisdiction).set(counts.get((owner, jurisdiction), 0))
        for label, started in since.items():
            self.prohibited_grant_since.labels(*label).set(started)

    def set_consumer_lag(self, lag: Mapping[int, int]) -> None:
        """Replace the per-partition lag; partitions no longer assigned disappear."""
        self.consumer_lag.clear()
        for partition, messages in lag.items():
            self.consumer_lag.labels(str(partition)).set(max(messages, 0))

    def serve(self, host: str, port: int) -> MetricsServer:
        """Serve /metrics on host:port (port 0: any free port) in a daemon thread."""
        server, thread = start_http_server(port, addr=host, registry=self.registry)
        return MetricsServer(server, thread)
