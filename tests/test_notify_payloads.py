"""The notifier's pure parts: payload shapes, endpoint config and secrets, retry policy, deduplication memory."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.alerts import Alert, AlertOwner, AlertRequester, Severity, decode_alert, encode_alert
from monitor.engine import Engine
from monitor.events import decode_event
from monitor.hashing import Pseudonymizer
from monitor.notify import (
    PAGERDUTY_EVENTS_URL,
    Endpoint,
    NotifierSettings,
    NotifyConfigError,
    RetryPolicy,
    SettledIds,
    Verdict,
    build_request,
    classify_status,
    load_endpoints,
    pagerduty_payload,
    parse_endpoints,
    parse_retry_after,
    resolve_endpoints,
    slack_payload,
)
from monitor.policy import load_policy

EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "notifier" / "endpoints.example.yaml"
DETECTED = datetime(2025, 4, 22, 17, 3, 11, 412000, tzinfo=UTC)


def make_alert(**changes: Any) -> Alert:
    fields: dict[str, Any] = {
        "alert_id": "4f0c2a9e8b7d6c5b4a3f2e1d0c9b8a7f",
        "event_id": "ev-1",
        "rule_id": "ca.sb34.federal-recipient",
        "kind": "recipient.federal",
        "severity": "critical",
        "summary": "Federal agency FBI searched Oakland CA PD's ALPR data",
        "citations": ["Cal. Civ. Code § 1798.90.55(b)", "Cal. AG Bulletin 2023-DLE-06"],
        "owner": AlertOwner(agency="Oakland CA PD", state="CA", id="oakland-pd"),
        "requester": AlertRequester(agency="Federal Bureau of Investigation", jurisdiction="federal"),
        "evidence": {"resolved_by": "federal-agency-list", "matched": "Federal Bureau of Investigation"},
        "policy_version": "pv-3f2a",
        "occurred_at": DETECTED - timedelta(seconds=1),
        "detected_at": DETECTED,
        "pack": "us-ca",
        "title": "Federal recipient of California ALPR data",
        "plate_hash": "p:9a8b7c",
        "user_hash": "u:1d2e3f",
    }
    fields.update(changes)
    return Alert(**fields)


def endpoint(**fields: Any) -> Endpoint:
    return Endpoint.model_validate({"name": "ep", "kind": "webhook", "url": "http://127.0.0.1:1/hook", **fields})


def receiver(environ: dict[str, str] | None = None, **fields: Any) -> Any:
    [resolved] = resolve_endpoints([endpoint(**fields)], environ or {})
    return resolved


class TestPagerDutyPayload:
    def test_trigger_fields(self) -> None:
        """A PagerDuty Events v2 trigger: routing key, dedup_key = alert_id, source, component, group, class."""
        alert = make_alert()
        body = pagerduty_payload(alert, "rk-123", "alpr-monitor-test")
        assert body["routing_key"] == "rk-123"
        assert body["event_action"] == "trigger"
        assert body["dedup_key"] == alert.alert_id
        payload = body["payload"]
        assert payload["summary"] == alert.summary
        assert payload["source"] == "alpr-monitor-test"
        assert payload["severity"] == "critical"
        assert payload["component"] == "ca.sb34.federal-recipient"
        assert payload["group"] == "oakland-pd"
        assert payload["class"] == "recipient.federal"
        assert datetime.fromisoformat(payload["timestamp"]) == DETECTED

    def test_custom_details_carry_citations_and_evidence(self) -> None:
        """custom_details holds the whole alert, so on-call sees citations, evidence and the policy version."""
        details = pagerduty_payload(make_alert(), "rk", "src")["payload"]["custom_details"]
        assert details["citations"] == ["Cal. Civ. Code § 1798.90.55(b)", "Cal. AG Bulletin 2023-DLE-06"]
        assert details["evidence"] == {
            "resolved_by": "federal-agency-list",
            "matched": "Federal Bureau of Investigation",
        }
        assert details["policy_version"] == "pv-3f2a"
        assert details["requester"]["jurisdiction"] == "federal"
        assert details["alert_id"] == make_alert().alert_id

    @pytest.mark.parametrize(
        ("severity", "expected"), [("critical", "critical"), ("high", "error"), ("medium", "warning"), ("low", "info")]
    )
    def test_severity_mapping(self, severity: Severity, expected: str) -> None:
        """Contract severities map onto PagerDuty's four: critical, error, warning, info."""
        assert pagerduty_payload(make_alert(severity=severity), "rk", "src")["payload"]["severity"] == expected

    def test_long_summary_is_cut_to_1024_characters(self) -> None:
        """payload.summary never exceeds PagerDuty's 1024-character limit; the full text stays in custom_details."""
        summary = "Ω" * 3000
        payload = pagerduty_payload(make_alert(summary=summary), "rk", "src")["payload"]
        assert len(payload["summary"]) == 1024
        assert payload["summary"].endswith("…")
        assert payload["custom_details"]["summary"] == summary

    def test_group_falls_back_to_owner_agency(self) -> None:
        """An owner without a policy id is grouped by its agency name."""
        alert = make_alert(owner=AlertOwner(agency="Somewhere PD", state="CA"))
        assert pagerduty_payload(alert, "rk", "src")["payload"]["group"] == "Somewhere PD"


class TestSlackPayload:
    def test_message_shows_the_whole_finding(self) -> None:
        """Severity, kind, summary, owner, requester and jurisdiction, evidence, citations, policy and alert id."""
        alert = make_alert()
        message = slack_payload(alert)
        rendered = json.dumps(message, ensure_ascii=False)
        assert message["text"].startswith("[CRITICAL] recipient.federal: Federal agency FBI searched")
        assert message["blocks"][0]["type"] == "header"
        assert "CRITICAL · recipient.federal" in message["blocks"][0]["text"]["text"]
        for expected in (
            "Oakland CA PD",
            "Federal Bureau of Investigation\\nfederal",
            "federal-agency-list",
            "Cal. Civ. Code § 1798.90.55(b)",
            "Cal. AG Bulletin 2023-DLE-06",
            "`pv-3f2a`",
            f"alert_id `{alert.alert_id}`",
            "`ca.sb34.federal-recipient` (us-ca)",
            "plate_hash `p:9a8b7c`",
        ):
            assert expected in rendered

    def test_reserved_characters_are_escaped(self) -> None:
        """&, < and > in agency names are escaped, so Slack cannot read them as links or mentions."""
        alert = make_alert(requester=AlertRequester(agency="Sheriff & Coroner <!channel>", jurisdiction="out_of_state"))
        rendered = json.dumps(slack_payload(alert))
        assert "Sheriff &amp; Coroner &lt;!channel&gt;" in rendered
        assert "<!channel>" not in rendered

    def test_blocks_respect_slack_limits(self) -> None:
        """Header text stays within 150 characters and every section within 3000, whatever the alert holds."""
        alert = make_alert(kind="x" * 400, summary="s" * 10_000, citations=["c" * 50] * 200)
        blocks = slack_payload(alert)["blocks"]
        assert len(blocks[0]["text"]["text"]) <= 150
        for block in blocks[1:]:
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            for item in block.get("fields", []) + block.get("elements", []):
                assert len(item["text"]) <= 3000

    def test_blocks_without_optional_parts(self) -> None:
        """An alert with no evidence, citations, title or hashes still renders, without empty sections."""
        alert = make_alert(evidence={}, citations=[], title=None, plate_hash=None, user_hash=None, pack=None)
        rendered = json.dumps(slack_payload(alert))
        assert "*Evidence*" not in rendered
        assert "*Citations*" not in rendered
        assert "plate_hash" not in rendered


class TestBuildRequest:
    def test_webhook_posts_the_contract_alert(self) -> None:
        """The generic webhook body is the v1 alert itself, with the alert id as Idempotency-Key."""
        alert = make_alert()
        request = build_request(receiver(), alert, source="src")
        assert request.body == encode_alert(alert)
        assert decode_alert(request.body) == alert
        assert request.headers["Idempotency-Key"] == alert.alert_id
        assert request.headers["Content-Type"] == "application/json"
        assert request.url == "http://127.0.0.1:1/hook"

    def test_pagerduty_default_url_and_routing_key_from_env(self) -> None:
        """A pagerduty endpoint posts to the Events v2 URL with the routing key read from its variable."""
        resolved = receiver({"PD_KEY": "secret-rk"}, kind="pagerduty", url=None, routing_key_env="PD_KEY")
        request = build_request(resolved, make_alert(), source="src")
        assert request.url == PAGERDUTY_EVENTS_URL
        assert json.loads(request.body)["routing_key"] == "secret-rk"

    def test_auth_headers_and_secret_url_from_env(self) -> None:
        """Bearer token, other auth headers and a secret URL come from the environment."""
        resolved = receiver(
            {"HOOK_URL": "https://hooks.example.org/T0/B0/x", "TOKEN": "t0k", "API_KEY": "k3y"},
            kind="slack",
            url=None,
            url_env="HOOK_URL",
            bearer_token_env="TOKEN",
            headers_env={"X-Api-Key": "API_KEY"},
        )
        request = build_request(resolved, make_alert(), source="src")
        assert request.url == "https://hooks.example.org/T0/B0/x"
        assert request.headers["Authorization"] == "Bearer t0k"
        assert request.headers["X-Api-Key"] == "k3y"

    def test_secrets_stay_out_of_repr(self) -> None:
        """Printing a receiver or a request shows no secret value."""
        resolved = receiver({"PD_KEY": "secret-rk-42"}, kind="pagerduty", url=None, routing_key_env="PD_KEY")
        request = build_request(resolved, make_alert(), source="src")
        assert "secret-rk-42" not in repr(resolved)
        assert "secret-rk-42" not in repr(request)

    def test_real_alert_carries_no_plate_or_user_in_clear(self) -> None:
        """For an engine-made alert, no payload shape contains the event's plate or user name, only their hashes."""
        engine = Engine(load_policy(None), Pseudonymizer(b"notify-tests-key-0123456789abcdef"))
        event = decode_event(
            json.dumps(
                {
                    "event_id": "ev-ice-1",
                    "event_type": "query",
                    "occurred_at": "2025-04-22T17:03:11Z",
                    "owner": {"agency": "Oakland CA PD", "state": "CA"},
                    "requester": {
                        "agency": "California Highway Patrol",
                        "user": "officer.jones",
                        "on_behalf_of": "ICE",
                    },
                    "query": {"plate": "7ABC123", "reason": "ICE case", "search_type": "search"},
                }
            )
        )
        alerts = engine.judge(event)
        assert alerts, "the CHP-on-behalf-of-ICE search must raise alerts"
        env = {"PD": "rk", "SLACK": "https://hooks.example.org/x"}
        receivers = resolve_endpoints(
            [
                endpoint(name="w"),
                endpoint(name="s", kind="slack", url=None, url_env="SLACK"),
                endpoint(name="p", kind="pagerduty", url=None, routing_key_env="PD"),
            ],
            env,
        )
        for alert in alerts:
            for resolved in receivers:
                body = build_request(resolved, alert, source="src").body.decode()
                assert "7ABC123" not in body
                assert "officer.jones" not in body
                assert alert.alert_id in body


class TestEndpointFilter:
    @pytest.mark.parametrize(
        ("minimum", "accepted"),
        [
            ("critical", {"critical"}),
            ("high", {"critical", "high"}),
            ("medium", {"critical", "high", "medium"}),
            ("low", {"critical", "high", "medium", "low"}),
        ],
    )
    def test_min_severity(self, minimum: Severity, accepted: set[str]) -> None:
        """An endpoint takes alerts at or above its min_severity."""
        ep = endpoint(min_severity=minimum)
        severities: tuple[Severity, ...] = ("critical", "high", "medium", "low")
        assert {s for s in severities if ep.accepts(make_alert(severity=s))} == accepted

    def test_kinds_and_owners(self) -> None:
        """kinds and owners, when given, restrict the endpoint to those alert kinds and owner ids."""
        ep = endpoint(kinds=["purpose.immigration"], owners=["oakland-pd"])
        assert ep.accepts(make_alert(kind="purpose.immigration"))
        assert not ep.accepts(make_alert(kind="recipient.federal"))
        other_owner = AlertOwner(agency="SF", id="sfpd")
        assert not ep.accepts(make_alert(kind="purpose.immigration", owner=other_owner))


class TestEndpointConfig:
    def test_example_file_loads(self) -> None:
        """The shipped example endpoints file is valid, with one endpoint of each kind at least."""
        endpoints = load_endpoints(EXAMPLE)
        assert {e.kind for e in endpoints} == {"webhook", "slack", "pagerduty"}

    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"kind": "pagerduty", "url": None}, "routing_key_env is required"),
            ({"routing_key_env": "PD"}, "routing_key_env is required for kind pagerduty and only allowed there"),
            ({"url_env": "U"}, "either url or url_env"),
            ({"url": None}, "needs url or url_env"),
            ({"url": "ftp://example.org/x"}, "is not an http(s) URL"),
            ({"kind": "email"}, "endpoints.0.kind"),
            ({"kinds": ["recipient.martian"]}, "unknown alert kinds ['recipient.martian']"),
            ({"routing_key_env": "not a name", "kind": "pagerduty"}, "is not an environment variable name"),
            ({"headers_env": {"Bad Header": "X"}}, "is not an HTTP header name"),
            ({"min_severity": "urgent"}, "endpoints.0.min_severity"),
            ({"colour": "red"}, "endpoints.0.colour"),
        ],
    )
    def test_invalid_endpoint_is_refused(self, fields: dict[str, Any], message: str) -> None:
        """An invalid endpoint stops loading with a message naming the source and what is wrong."""
        entry = {"name": "ep", "kind": "webhook", "url": "http://127.0.0.1:1/hook", **fields}
        entry = {key: value for key, value in entry.items() if value is not None}
        with pytest.raises(NotifyConfigError) as info:
            parse_endpoints({"endpoints": [entry]}, "endpoints.yaml")
        assert str(info.value).startswith("endpoints.yaml: ")
        assert message in str(info.value)

    def test_duplicate_names_are_refused(self) -> None:
        """Two endpoints may not share a name (names tell them apart in logs and dead letters)."""
        entry = {"name": "twice", "kind": "webhook", "url": "http://127.0.0.1:1/x"}
        with pytest.raises(NotifyConfigError, match="repeated: twice"):
            parse_endpoints({"endpoints": [entry, entry]})

    def test_empty_list_is_refused(self) -> None:
        """A file with no endpoint is an error, not a notifier that silently sends nothing."""
        with pytest.raises(NotifyConfigError, match="endpoints"):
            parse_endpoints({"endpoints": []})

    def test_unreadable_file_is_named(self, tmp_path: Path) -> None:
        """A missing file or broken YAML is reported with the file's path."""
        missing = tmp_path / "nope.yaml"
        with pytest.raises(NotifyConfigError, match=r"nope\.yaml: the endpoints file cannot be read"):
            load_endpoints(missing)
        broken = tmp_path / "broken.yaml"
        broken.write_text("endpoints: [\n")
        with pytest.raises(NotifyConfigError, match=r"broken\.yaml: not valid YAML"):
            load_endpoints(broken)

    def test_fifo_or_huge_endpoints_file_is_refused_without_blocking(self, tmp_path: Path) -> None:
        """A FIFO in place of the endpoints file is refused at once (start-up never waits on it); a huge one by size."""
        import os
        import threading

        fifo = tmp_path / "endpoints.yaml"
        os.mkfifo(fifo)
        errors: list[str] = []

        def load() -> None:
            try:
                load_endpoints(fifo)
            except NotifyConfigError as exc:
                errors.append(str(exc))

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        loader.join(30)
        if loader.is_alive():  # unblock the reader stuck in open(): a writer that closes at once
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            loader.join(30)
        [error] = errors
        assert "not a regular file" in error
        huge = tmp_path / "huge.yaml"
        with huge.open("wb") as handle:
            handle.truncate(64 * 1024 * 1024)  # sparse
        with pytest.raises(NotifyConfigError, match="larger than"):
            load_endpoints(huge)


class TestResolveSecrets:
    def test_missing_variable_names_endpoint_and_variable(self) -> None:
        """A routing key variable that is not set stops start-up, naming the endpoint and the variable."""
        ep = endpoint(name="privacy-pager", kind="pagerduty", url=None, routing_key_env="ALPR_NOTIFY_PD_KEY")
        with pytest.raises(NotifyConfigError) as info:
            resolve_endpoints([ep], {})
        message = str(info.value)
        assert "endpoint 'privacy-pager' (pagerduty)" in message
        assert "ALPR_NOTIFY_PD_KEY (routing_key_env) is not set or empty" in message

    def test_empty_variable_counts_as_missing(self) -> None:
        """A variable set to blanks is as good as unset: a blank secret would only fail later, at 3 a.m."""
        ep = endpoint(bearer_token_env="TOKEN")
        with pytest.raises(NotifyConfigError, match=r"TOKEN \(bearer_token_env\) is not set or empty"):
            resolve_endpoints([ep], {"TOKEN": "  "})

    def test_every_problem_is_reported_at_once(self) -> None:
        """All missing variables of all endpoints are listed in one error."""
        endpoints = [
            endpoint(name="a", kind="slack", url=None, url_env="SLACK_URL"),
            endpoint(name="b", headers_env={"X-Key": "B_KEY"}),
        ]
        with pytest.raises(NotifyConfigError) as info:
            resolve_endpoints(endpoints, {})
        assert "'a'" in str(info.value)
        assert "SLACK_URL" in str(info.value)
        assert "'b'" in str(info.value)
        assert "B_KEY (headers_env[X-Key])" in str(info.value)

    def test_secret_url_must_be_http(self) -> None:
        """A url_env variable holding something other than an http(s) URL is refused at start-up."""
        ep = endpoint(kind="slack", url=None, url_env="SLACK_URL")
        with pytest.raises(NotifyConfigError, match="SLACK_URL \\(url_env\\) does not hold an http"):
            resolve_endpoints([ep], {"SLACK_URL": "hooks.example.org/no-scheme"})


class TestRetryPolicy:
    @pytest.mark.parametrize(
        ("status", "verdict"),
        [
            (200, Verdict.DELIVERED),
            (202, Verdict.DELIVERED),
            (204, Verdict.DELIVERED),
            (301, Verdict.PERMANENT),
            (400, Verdict.PERMANENT),
            (401, Verdict.PERMANENT),
            (403, Verdict.PERMANENT),
            (404, Verdict.PERMANENT),
            (408, Verdict.RETRY),
            (413, Verdict.PERMANENT),
            (429, Verdict.RETRY),
            (500, Verdict.RETRY),
            (502, Verdict.RETRY),
            (503, Verdict.RETRY),
            (599, Verdict.RETRY),
        ],
    )
    def test_status_classification(self, status: int, verdict: Verdict) -> None:
        """2xx delivered; 408, 429 and 5xx retried; other statuses are permanent."""
        assert classify_status(status) is verdict

    def test_delay_doubles_up_to_the_cap(self) -> None:
        """Without jitter the waits are initial * 2^(n-1), capped at max_backoff_s."""
        policy = RetryPolicy(initial_backoff_s=0.5, max_backoff_s=5.0, jitter=0.0)
        assert [policy.delay(n, rand=lambda: 0.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]

    def test_jitter_takes_off_at_most_its_fraction(self) -> None:
        """Jitter shortens a wait by up to `jitter` of it, never lengthens it."""
        policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=60.0, jitter=0.25)
        assert policy.delay(3, rand=lambda: 0.0) == 4.0
        assert policy.delay(3, rand=lambda: 1.0) == 3.0

    def test_retry_after_is_a_floor_within_the_cap(self) -> None:
        """Retry-After raises the wait to the server's ask, but never past max_backoff_s."""
        policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=30.0, jitter=0.0)
        assert policy.delay(1, retry_after=7.0) == 7.0
        assert policy.delay(1, retry_after=0.0) == 0.1
        assert policy.delay(1, retry_after=3600.0) == 30.0

    def test_days_long_outage_does_not_overflow(self) -> None:
        """Attempt numbers far beyond any doubling still give the capped wait."""
        policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=60.0, jitter=0.0)
        assert policy.delay(100_000) == 60.0

    def test_limits(self) -> None:
        """No limits: never exhausted; max_attempts and max_elapsed_s each end the retries."""
        assert not RetryPolicy().exhausted(10**6, 10**9)
        assert RetryPolicy(max_attempts=3).exhausted(3, 0.0)
        assert not RetryPolicy(max_attempts=3).exhausted(2, 0.0)
        assert RetryPolicy(max_elapsed_s=10.0).exhausted(1, 10.0)
        assert not RetryPolicy(max_elapsed_s=10.0).exhausted(99, 9.9)

    def test_invalid_policy_is_refused(self) -> None:
        """A policy whose first wait exceeds its cap is a configuration error."""
        with pytest.raises(ValueError, match="initial_backoff_s <= max_backoff_s"):
            RetryPolicy(initial_backoff_s=10.0, max_backoff_s=1.0)

    def test_parse_retry_after(self) -> None:
        """Retry-After in seconds or as an HTTP date; absent or unreadable gives None; the past gives 0."""
        now = datetime(2025, 4, 22, 17, 0, 0, tzinfo=UTC)
        assert parse_retry_after("120") == 120.0
        assert parse_retry_after(" 1.5 ") == 1.5
        assert parse_retry_after("Tue, 22 Apr 2025 17:00:30 GMT", now) == 30.0
        assert parse_retry_after("Tue, 22 Apr 2025 16:00:00 GMT", now) == 0.0
        assert parse_retry_after("-5") == 0.0
        assert parse_retry_after("soon") is None
        assert parse_retry_after("nan") is None
        assert parse_retry_after(None) is None


class TestSettledIds:
    def test_remembers_up_to_capacity(self) -> None:
        """The oldest id is forgotten once more than `capacity` ids were settled."""
        ids = SettledIds(3)
        for alert_id in "abcd":
            ids.add(alert_id)
        assert "a" not in ids
        assert all(alert_id in ids for alert_id in "bcd")
        assert len(ids) == 3

    def test_a_lookup_keeps_an_id_fresh(self) -> None:
        """An id seen again (a redelivery) moves to the back of the eviction queue."""
        ids = SettledIds(2)
        ids.add("a")
        ids.add("b")
        assert "a" in ids
        ids.add("c")
        assert "a" in ids
        assert "b" not in ids


class TestNotifierSettings:
    def test_read_from_prefixed_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Settings come from ALPR_NOTIFY_* variables."""
        monkeypatch.setenv("ALPR_NOTIFY_DLQ_TOPIC", "custom.dlq")
        monkeypatch.setenv("ALPR_NOTIFY_MAX_ATTEMPTS", "5")
        settings = NotifierSettings()
        assert settings.dlq_topic == "custom.dlq"
        assert settings.retry_policy().max_attempts == 5

    def test_zero_means_no_limit_and_endpoint_overrides(self) -> None:
        """max_attempts 0 and give_up_after_s 0 mean retry until delivered; an endpoint's own limit wins."""
        settings = NotifierSettings(give_up_after_s=0.0, max_attempts=0)
        assert settings.retry_policy().max_attempts is None
        assert settings.retry_policy().max_elapsed_s is None
        assert settings.retry_policy(give_up_after_s=60.0).max_elapsed_s == 60.0

    def test_dedup_window_covers_a_batch(self) -> None:
        """A dedup window smaller than a batch is refused: a re-read batch would be posted again."""
        with pytest.raises(ValueError, match="dedup_window"):
            NotifierSettings(batch_size=500, dedup_window=100)
