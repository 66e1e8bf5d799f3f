"""What is posted for one alert: generic JSON, a Slack message, or a PagerDuty Events v2 trigger.

Alerts carry only keyed hashes of plates and users, so every payload is safe to send as built; nothing
here adds identifying data. Every receiver can deduplicate on the alert id: it is the PagerDuty
`dedup_key`, the webhook's `Idempotency-Key` header, and it is shown in the Slack message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from monitor.alerts import Alert, Severity, encode_alert
from monitor.notify.config import Receiver

__all__ = [
    "PAGERDUTY_SEVERITY",
    "PAGERDUTY_SUMMARY_MAX",
    "OutboundRequest",
    "build_request",
    "pagerduty_payload",
    "slack_payload",
    "webhook_payload",
]

PAGERDUTY_SUMMARY_MAX = 1024
"""Events API v2 rejects a longer payload.summary."""

PAGERDUTY_SEVERITY: dict[Severity, str] = {"critical": "critical", "high": "error", "medium": "warning", "low": "info"}
"""Contract severity -> the four severities PagerDuty knows."""

USER_AGENT = "alpr-monitor-notifier/1"
CLIENT = "ALPR access monitor"

_SLACK_HEADER_MAX = 150  # Slack's limits for a header block, a section's text and one field
_SLACK_TEXT_MAX = 3000
_SLACK_FIELD_MAX = 2000
_SLACK_ICON: dict[Severity, str] = {
    "critical": ":rotating_light:",
    "high": ":warning:",
    "medium": ":large_orange_diamond:",
    "low": ":information_source:",
}
_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One POST to one endpoint. URL, headers and body may hold secrets, so they stay out of repr."""

    endpoint: str
    alert_id: str
    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)
    body: bytes = field(repr=False)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def webhook_payload(alert: Alert) -> bytes:
    """The generic payload: the alert itself, exactly as contract v1 defines it (and `check` prints it)."""
    return encode_alert(alert)


def pagerduty_payload(alert: Alert, routing_key: str, source: str) -> dict[str, Any]:
    """An Events API v2 `trigger`; dedup_key = alert_id, so PagerDuty folds redeliveries into one incident."""
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.alert_id,
        "client": CLIENT,
        "payload": {
            "summary": _truncate(alert.summary, PAGERDUTY_SUMMARY_MAX),
            "source": source,
            "severity": PAGERDUTY_SEVERITY[alert.severity],
            "timestamp": alert.detected_at.isoformat(),
            "component": alert.rule_id,
            "group": alert.owner.id or alert.owner.agency,
            "class": alert.kind,
            # The whole alert: citations, evidence, requester, policy version, hashes, full summary.
            "custom_details": msgspec.to_builtins(alert),
        },
    }


def _mrkdwn(text: str) -> str:
    """Escape the three characters Slack reserves for links and mentions, so names render as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _truncate(f"*{label}*\n{value}", _SLACK_FIELD_MAX)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text, _SLACK_TEXT_MAX)}}


def slack_payload(alert: Alert) -> dict[str, Any]:
    """A Slack incoming-webhook message: `text` for notifications, blocks with the whole finding."""
    owner, requester = alert.owner, alert.requester
    owner_text = _mrkdwn(owner.agency) + (f" ({owner.state})" if owner.state else "")
    if owner.id:
        owner_text += f"\nid `{_mrkdwn(owner.id)}`"
    requester_text = f"{_mrkdwn(requester.agency)}\n{requester.jurisdiction}"
    if requester.state:
        requester_text += f" ({requester.state})"
    if requester.on_behalf_of:
        requester_text += f"\non behalf of {_mrkdwn(requester.on_behalf_of)}"
    rule_text = f"`{alert.rule_id}`" + (f" ({_mrkdwn(alert.pack)})" if alert.pack else "")
    icon = _SLACK_ICON[alert.severity]
    headline = f"*{_mrkdwn(alert.title)}*\n{_mrkdwn(alert.summary)}" if alert.title else _mrkdwn(alert.summary)
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _truncate(f"{icon} {alert.severity.upper()} · {alert.kind}", _SLACK_HEADER_MAX),
                "emoji": True,
            },
        },
        _section(headline),
        {
            "type": "section",
            "fields": [
                _field("Severity", alert.severity),
                _field("Kind", f"`{alert.kind}`"),
                _field("Owner", owner_text),
                _field("Requester", requester_text),
                _field("Rule", rule_text),
                _field("Policy version", f"`{_mrkdwn(alert.policy_version)}`"),
                _field("Occurred", alert.occurred_at.isoformat()),
                _field("Detected", alert.detected_at.isoformat()),
            ],
        },
    ]
    if alert.evidence:
        lines = "\n".join(f"• {_mrkdwn(key)}: {_mrkdwn(value)}" for key, value in sorted(alert.evidence.items()))
        blocks.append(_section(f"*Evidence*\n{lines}"))
    if alert.citations:
        blocks.append(_section("*Citations*\n" + "\n".join(f"• {_mrkdwn(c)}" for c in alert.citations)))
    ids = [f"alert_id `{alert.alert_id}`", f"event_id `{_mrkdwn(alert.event_id)}`"]
    hashes = (("plate_hash", alert.plate_hash), ("user_hash", alert.user_hash))
    ids += [f"{name} `{value}`" for name, value in hashes if value]
    context = {"type": "mrkdwn", "text": _truncate(" · ".join(ids), _SLACK_TEXT_MAX)}
    blocks.append({"type": "context", "elements": [context]})
    text = f"[{alert.severity.upper()}] {alert.kind}: {_mrkdwn(alert.summary)} (owner {owner_text.splitlines()[0]})"
    return {"text": _truncate(text, _SLACK_TEXT_MAX), "blocks": blocks}


def build_request(receiver: Receiver, alert: Alert, *, source: str) -> OutboundRequest:
    """The POST for `alert` to `receiver`, in the receiver's payload shape, with its auth headers."""
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if receiver.kind == "pagerduty":
        assert receiver.routing_key is not None  # the config model requires it for pagerduty
        body = _encoder.encode(pagerduty_payload(alert, receiver.routing_key.get_secret_value(), source))
    elif receiver.kind == "slack":
        body = _encoder.encode(slack_payload(alert))
    else:
        body = webhook_payload(alert)
        headers["Idempotency-Key"] = alert.alert_id
    headers.update({name: value.get_secret_value() for name, value in receiver.headers.items()})
    return OutboundRequest(receiver.name, alert.alert_id, receiver.url.get_secret_value(), headers, body)
