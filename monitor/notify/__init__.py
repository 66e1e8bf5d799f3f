"""Per-violation notifications: endpoint config, payload shapes, retry policy, deduplication (no Kafka here)."""

from monitor.notify.config import (
    PAGERDUTY_EVENTS_URL,
    Endpoint,
    EndpointKind,
    NotifyConfigError,
    Receiver,
    load_endpoints,
    parse_endpoints,
    resolve_endpoints,
)
from monitor.notify.dedup import SettledIds
from monitor.notify.payloads import (
    PAGERDUTY_SEVERITY,
    OutboundRequest,
    build_request,
    pagerduty_payload,
    slack_payload,
    webhook_payload,
)
from monitor.notify.retry import RetryPolicy, Verdict, classify_status, parse_retry_after
from monitor.notify.settings import NotifierSettings

__all__ = [
    "PAGERDUTY_EVENTS_URL",
    "PAGERDUTY_SEVERITY",
    "Endpoint",
    "EndpointKind",
    "NotifierSettings",
    "NotifyConfigError",
    "OutboundRequest",
    "Receiver",
    "RetryPolicy",
    "SettledIds",
    "Verdict",
    "build_request",
    "classify_status",
    "load_endpoints",
    "pagerduty_payload",
    "parse_endpoints",
    "parse_retry_after",
    "resolve_endpoints",
    "slack_payload",
    "webhook_payload",
]
