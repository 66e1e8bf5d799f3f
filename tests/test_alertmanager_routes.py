"""deploy/alertmanager: rendering, routes, inhibition and receivers, checked with the real amtool and Alertmanager."""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import yaml
from promtool import (
    ALERTMANAGER_DIR,
    PROMETHEUS_DIR,
    CaptureServer,
    Server,
    alertmanager,
    alertmanager_env,
    capture_server,
    render_alertmanager,
    run_tool,
)

pytestmark = pytest.mark.prometheus

TEMPLATE = ALERTMANAGER_DIR / "alertmanager.yml.tmpl"
COMMITTED = ALERTMANAGER_DIR / "alertmanager.yml"
EXAMPLE_ENV = ALERTMANAGER_DIR / "example.env"
RENDER = ALERTMANAGER_DIR / "render.py"


def run_render(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(RENDER), *map(str, args)],
        env=env if env is not None else {},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def render_module() -> ModuleType:
    """deploy/alertmanager/render.py imported by path (it is a script, not part of a package)."""
    spec = importlib.util.spec_from_file_location("alertmanager_render", RENDER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(COMMITTED.read_text(encoding="utf-8"))
    return config


class TestRender:
    def test_committed_config_is_the_template_rendered_with_example_env(self) -> None:
        """alertmanager.yml is exactly render.py's output for example.env, so it cannot drift from the template."""
        proc = run_render("--env-file", EXAMPLE_ENV)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout == COMMITTED.read_text(encoding="utf-8"), (
            "regenerate: python3 deploy/alertmanager/render.py --env-file deploy/alertmanager/example.env "
            "-o deploy/alertmanager/alertmanager.yml"
        )

    def test_missing_variables_stop_the_render_and_are_all_named(self, tmp_path: Path) -> None:
        """With required variables unset, render.py exits 2, names every one of them and writes nothing."""
        env = alertmanager_env("http://127.0.0.1:1")
        del env["ALPR_AM_SLACK_API_URL"]
        env["ALPR_AM_SMTP_PASSWORD"] = ""
        out = tmp_path / "alertmanager.yml"
        proc = run_render("-o", out, env=env)
        assert proc.returncode == 2
        assert "ALPR_AM_SLACK_API_URL" in proc.stderr
        assert "ALPR_AM_SMTP_PASSWORD" in proc.stderr
        assert "ALPR_AM_WEBHOOK_URL" not in proc.stderr
        assert not out.exists()

    def test_every_placeholder_is_documented_in_example_env(self) -> None:
        """Each ${NAME} of the template appears in example.env, set or as a commented optional variable."""
        names = set(render_module().placeholders(TEMPLATE.read_text(encoding="utf-8")))
        documented = EXAMPLE_ENV.read_text(encoding="utf-8")
        assert names
        for name in names:
            assert f"{name}=" in documented, name

    def test_values_cannot_change_the_yaml_structure(self, tmp_path: Path) -> None:
        """A value with quotes, a comment sign, a colon and a newline comes back as the same string."""
        template = tmp_path / "t.yml.tmpl"
        template.write_text("a: ${VALUE}\nb: ${OPTIONAL:-x: y}\nc: $${NOT_A_PLACEHOLDER}\n", encoding="utf-8")
        value = "p\"a'ss #word: yes\n  injected: true"
        proc = run_render("--template", template, env={"VALUE": value})
        assert proc.returncode == 0, proc.stderr
        assert yaml.safe_load(proc.stdout) == {"a": value, "b": "x: y", "c": "${NOT_A_PLACEHOLDER}"}

    def test_a_required_occurrence_is_not_cancelled_by_a_default_elsewhere(self, tmp_path: Path) -> None:
        """${X} anywhere makes X required, whichever order its occurrences with a default come in."""
        placeholders = render_module().placeholders
        assert placeholders("a: ${X}\nb: ${X:-d}\n") == {"X": None}
        assert placeholders("a: ${X:-d}\nb: ${X}\n") == {"X": None}
        assert placeholders("a: ${X:-d}\nb: ${X:-e}\n") == {"X": "d"}
        template = tmp_path / "t.yml.tmpl"
        template.write_text("a: ${SECRET}\nb: ${SECRET:-fallback}\n", encoding="utf-8")
        proc = run_render("--template", template, env={})
        assert proc.returncode == 2
        assert "SECRET" in proc.stderr

    def test_escaped_placeholders_in_comments_are_kept_literally(self, tmp_path: Path) -> None:
        """$${NAME} renders as the text ${NAME} (the template's own comments use it) and requires nothing."""
        template = tmp_path / "t.yml.tmpl"
        template.write_text("# $${NAME} is required, $${NAME:-default} is not\na: 1\n", encoding="utf-8")
        proc = run_render("--template", template, env={})
        assert proc.returncode == 0, proc.stderr
        assert "# ${NAME} is required, ${NAME:-default} is not\n" in proc.stdout
        assert render_module().placeholders(template.read_text(encoding="utf-8")) == {}

    def test_committed_config_keeps_the_template_comments(self) -> None:
        """The comment explaining ${NAME} reads the same in the rendered file, not substituted by a value."""
        rendered = COMMITTED.read_text(encoding="utf-8")
        assert "# ${NAME} is required (render.py stops when it is missing or empty), ${NAME:-default} is" in rendered
        assert '# "" is required' not in rendered

    def test_malformed_placeholder_is_an_error(self, tmp_path: Path) -> None:
        """A placeholder that is not ${UPPER_CASE} is refused rather than left in the output."""
        template = tmp_path / "t.yml.tmpl"
        template.write_text("a: ${lower_case}\n", encoding="utf-8")
        proc = run_render("--template", template, env={})
        assert proc.returncode == 2
        assert "${lower_case}" in proc.stderr

    def test_rendered_file_is_private(self, tmp_path: Path) -> None:
        """The rendered configuration holds secrets, so it is created readable by its owner only."""
        proc = render_alertmanager(tmp_path, alertmanager_env("http://127.0.0.1:1"))
        assert proc.returncode == 0, proc.stderr
        mode = stat.S_IMODE(os.stat(tmp_path / "alertmanager" / "alertmanager.yml").st_mode)
        assert mode == 0o600


class TestCheckConfig:
    def test_committed_config_passes_amtool(self) -> None:
        """`amtool check-config` accepts the committed alertmanager.yml, templates included."""
        proc = run_tool("amtool", "check-config", COMMITTED)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "1 templates" in proc.stdout

    def test_config_rendered_from_the_environment_passes_amtool(self, tmp_path: Path) -> None:
        """A configuration rendered from environment values passes `amtool check-config`."""
        env = alertmanager_env("http://127.0.0.1:1") | {"ALPR_AM_TIMEZONE": "America/New_York"}
        proc = render_alertmanager(tmp_path, env)
        assert proc.returncode == 0, proc.stderr
        check = run_tool("amtool", "check-config", tmp_path / "alertmanager" / "alertmanager.yml")
        assert check.returncode == 0, check.stdout + check.stderr

    def test_working_hours_are_monday_to_friday_nine_to_five(self) -> None:
        """The working-hours interval is Mon-Fri 09:00-17:00 in the configured time zone."""
        (interval,) = (i for i in load_config()["time_intervals"] if i["name"] == "working-hours")
        assert interval["time_intervals"] == [
            {
                "weekdays": ["monday:friday"],
                "times": [{"start_time": "09:00", "end_time": "17:00"}],
                "location": "America/Los_Angeles",
            }
        ]

    def test_critical_routes_wait_at_most_ten_seconds(self) -> None:
        """Routes to a pager group for at most 10s, so a page leaves within a minute of the violation."""
        routes = list(walk_routes(load_config()["route"]))
        pagers = [route for route in routes if route.get("receiver", "").endswith("-pager")]
        assert len(pagers) == 3  # platform, privacy, privacy patterns
        for route in pagers:
            assert parse_duration(route["group_wait"]) <= 10

    def test_violation_routes_group_by_owner_and_kind(self) -> None:
        """Every violation route groups by owner and kind."""
        routes = [r for r in walk_routes(load_config()["route"]) if 'category="violation"' in r.get("matchers", [])]
        assert len(routes) == 4
        for route in routes:
            assert route["group_by"] == ["owner", "kind"]

    def test_secrets_are_not_literal_in_the_template(self) -> None:
        """Routing keys, the Slack URL, the SMTP password and the webhook token all come from variables."""
        config = yaml.safe_load(TEMPLATE.read_text(encoding="utf-8"))
        assert config["global"]["slack_api_url"].startswith("${")
        assert config["global"]["smtp_auth_password"].startswith("${")
        for receiver in config["receivers"]:
            for pagerduty in receiver.get("pagerduty_configs", []):
                assert pagerduty["routing_key"].startswith("${")
            for hook in receiver.get("webhook_configs", []):
                assert hook["http_config"]["authorization"]["credentials"].startswith("${")


def walk_routes(route: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield route
    for child in route.get("routes", []):
        yield from walk_routes(child)


def parse_duration(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    return float(text[:-1]) * units[text[-1]]


def violation(alertname: str, severity: str, kind: str) -> dict[str, str]:
    return {
        "alertname": alertname,
        "category": "violation",
        "severity": severity,
        "kind": kind,
        "rule": "test.rule",
        "owner": "oakland-ca-pd",
        "jurisdiction": "federal",
    }


def pipeline(alertname: str, severity: str) -> dict[str, str]:
    return {"alertname": alertname, "category": "pipeline", "severity": severity, "job": "alpr-monitor"}


# (case id, alert labels, receiver amtool must resolve). Every alert of the rule files and
# every route of the tree appears at least once (checked below).
ROUTE_CASES = [
    ("federal", violation("ALPRFederalAccess", "critical", "recipient.federal"), "privacy-oncall-pager"),
    ("out-of-state", violation("ALPROutOfStateAccess", "critical", "recipient.out_of_state"), "privacy-oncall-pager"),
    ("non-public", violation("ALPRNonPublicRecipient", "critical", "recipient.non_public"), "privacy-oncall-pager"),
    ("immigration", violation("ALPRImmigrationPurpose", "critical", "purpose.immigration"), "privacy-oncall-pager"),
    (
        "other-critical",
        violation("ALPRCriticalViolation", "critical", "purpose.reproductive_health"),
        "privacy-oncall-pager",
    ),
    (
        "standing-access",
        violation("ALPRProhibitedStandingAccess", "critical", "sharing.standing_access"),
        "privacy-patterns-pager",
    ),
    ("repeat-target-high", violation("ALPRRepeatTarget", "high", "misuse.repeat_target"), "privacy-patterns-pager"),
    ("repeat-target-medium", violation("ALPRViolation", "medium", "misuse.repeat_target"), "privacy-working-hours"),
    (
        "standing-unresolved",
        violation("ALPRUnresolvedStandingAccess", "medium", "sharing.standing_access") | {"jurisdiction": "unresolved"},
        "privacy-working-hours",
    ),
    (
        "standing-daily-high",
        violation("ALPRViolation", "high", "sharing.standing_access") | {"jurisdiction": "unresolved"},
        "privacy-working-hours",
    ),
    ("isolated-session", violation("ALPRViolation", "low", "misuse.isolated_session"), "privacy-tickets"),
    ("surge-high", violation("ALPRViolation", "high", "volume.surge"), "privacy-working-hours"),
    ("high", violation("ALPRViolation", "high", "recipient.federal"), "privacy-working-hours"),
    ("medium", violation("ALPRViolation", "medium", "purpose.missing"), "privacy-working-hours"),
    ("low", violation("ALPRViolation", "low", "retention.exceeded"), "privacy-tickets"),
    ("unknown-severity", violation("ALPRViolation", "info", "purpose.uninformative"), "privacy-tickets"),
    ("worker-down", pipeline("ALPRWorkerDown", "critical"), "platform-pager"),
    ("targets-missing", pipeline("ALPRWorkerTargetsMissing", "critical"), "platform-pager"),
    ("no-events", pipeline("ALPRNoEvents", "high"), "platform-chat"),
    ("lag", pipeline("ALPRConsumerLagGrowing", "high"), "platform-chat"),
    ("dlq", pipeline("ALPRDeadLetterRate", "high") | {"reason": "invalid_json"}, "platform-chat"),
    ("detection-lag", pipeline("ALPRDetectionLagHigh", "medium"), "platform-chat"),
    ("notifications", pipeline("ALPRNotificationsFailing", "high") | {"channel": "slack"}, "platform-chat"),
    ("created-missing", pipeline("ALPRAlertsCreatedSeriesMissing", "medium"), "platform-chat"),
    ("policy-mismatch", pipeline("ALPRPolicyMismatch", "critical"), "platform-pager"),
    ("input-topic-missing", pipeline("ALPRInputTopicMissing", "critical"), "platform-pager"),
    ("uncategorised", {"alertname": "SomethingElse", "severity": "critical"}, "alpr-webhook"),
]


class TestRoutes:
    @pytest.mark.parametrize(("labels", "receiver"), [c[1:] for c in ROUTE_CASES], ids=[c[0] for c in ROUTE_CASES])
    def test_amtool_routes_alert_to_receiver(self, labels: dict[str, str], receiver: str) -> None:
        """`amtool config routes test` sends the alert to exactly the expected receiver."""
        args = [f"{name}={value}" for name, value in labels.items()]
        proc = run_tool(
            "amtool", "config", "routes", "test", f"--config.file={COMMITTED}", f"--verify.receivers={receiver}", *args
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == receiver

    def test_a_wrong_expectation_fails(self) -> None:
        """amtool reports a mismatch, so the route cases above can fail."""
        labels = violation("ALPRFederalAccess", "critical", "recipient.federal")
        args = [f"{name}={value}" for name, value in labels.items()]
        proc = run_tool(
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={COMMITTED}",
            "--verify.receivers=platform-chat",
            *args,
        )
        assert proc.returncode != 0

    def test_every_route_and_receiver_has_a_case(self) -> None:
        """Each route's receiver (all distinct) and each defined receiver is the expectation of some case."""
        config = load_config()
        route_receivers = [route["receiver"] for route in walk_routes(config["route"])]
        assert len(route_receivers) == len(set(route_receivers)), "a receiver on two routes hides a route"
        expected = {case[2] for case in ROUTE_CASES}
        assert set(route_receivers) == expected
        assert {receiver["name"] for receiver in config["receivers"]} == expected

    def test_every_alert_rule_has_a_case(self) -> None:
        """Each alert defined under deploy/prometheus/rules is routed by at least one case."""
        alerts = set()
        for path in (PROMETHEUS_DIR / "rules").glob("*.yml"):
            for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
                alerts |= {rule["alert"] for rule in group["rules"] if "alert" in rule}
        assert alerts <= {case[1]["alertname"] for case in ROUTE_CASES}


@pytest.fixture(scope="module")
def running_alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, CaptureServer]]:
    """The real Alertmanager on the rendered template, its receivers posting to a local capture server."""
    workdir = tmp_path_factory.mktemp("alertmanager")
    with capture_server() as capture:
        proc = render_alertmanager(workdir, alertmanager_env(capture.url))
        assert proc.returncode == 0, proc.stderr
        with alertmanager(workdir / "alertmanager" / "alertmanager.yml", workdir) as server:
            yield server, capture


def post_alerts(server: Server, *label_sets: dict[str, str]) -> None:
    now = datetime.now(UTC)
    payload = [
        {
            "labels": labels,
            "annotations": {"summary": f"test {labels['alertname']}", "description": "", "runbook": ""},
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=10)).isoformat(),
        }
        for labels in label_sets
    ]
    httpx.post(f"{server.url}/api/v2/alerts", json=payload, timeout=10.0).raise_for_status()


def alert_state(server: Server, labels: dict[str, str]) -> dict[str, Any]:
    (alert,) = [a for a in server.get_json("/api/v2/alerts") if a["labels"] == labels]
    status: dict[str, Any] = alert["status"]
    return status


# (case id, source alerts, targets it must suppress, targets it must leave alone). Each case
# uses its own job or owner, so cases sharing the module's Alertmanager cannot interfere,
# and each has a suppressed target: once that one is suppressed the inhibitor has seen the
# sources, so a target left active is a real "not inhibited", not a race.
INHIBIT_CASES = [
    (
        "worker-down-explains-its-job",
        [pipeline("ALPRWorkerDown", "critical") | {"job": "j1", "instance": "w1"}],
        [
            pipeline("ALPRNoEvents", "high") | {"job": "j1"},
            pipeline("ALPRConsumerLagGrowing", "high") | {"job": "j1"},
            pipeline("ALPRDetectionLagHigh", "medium") | {"job": "j1"},
        ],
        [
            pipeline("ALPRNoEvents", "high") | {"job": "j1-other"},
            pipeline("ALPRDeadLetterRate", "high") | {"job": "j1", "reason": "invalid_json"},
            pipeline("ALPRNotificationsFailing", "high") | {"job": "j1", "channel": "slack"},
        ],
    ),
    (
        "no-events-explains-lag",
        [pipeline("ALPRNoEvents", "high") | {"job": "j2"}],
        [pipeline("ALPRConsumerLagGrowing", "high") | {"job": "j2"}],
        [
            pipeline("ALPRConsumerLagGrowing", "high") | {"job": "j2-other"},
            pipeline("ALPRDetectionLagHigh", "medium") | {"job": "j2"},
        ],
    ),
    (
        "critical-covers-lower-severities-of-its-owner-and-kind",
        [violation("ALPRFederalAccess", "critical", "recipient.federal") | {"owner": "o1"}],
        [
            violation("ALPRViolation", "high", "recipient.federal") | {"owner": "o1", "rule": "other.rule"},
            violation("ALPRViolation", "low", "recipient.federal") | {"owner": "o1", "jurisdiction": "tribal"},
        ],
        [
            violation("ALPRViolation", "high", "recipient.federal") | {"owner": "o1-other"},
            violation("ALPRViolation", "medium", "purpose.missing") | {"owner": "o1"},
            violation("ALPRFederalAccess", "critical", "recipient.federal") | {"owner": "o1", "rule": "other.rule"},
            pipeline("ALPRNoEvents", "high") | {"owner": "o1", "kind": "recipient.federal"},
        ],
    ),
]


class TestInhibition:
    @pytest.mark.parametrize(
        ("sources", "suppressed", "active"), [c[1:] for c in INHIBIT_CASES], ids=[c[0] for c in INHIBIT_CASES]
    )
    def test_inhibition_in_real_alertmanager(
        self,
        running_alertmanager: tuple[Server, CaptureServer],
        sources: list[dict[str, str]],
        suppressed: list[dict[str, str]],
        active: list[dict[str, str]],
    ) -> None:
        """Alertmanager suppresses exactly the alerts a firing source alert explains."""
        server, _ = running_alertmanager
        post_alerts(server, *sources, *suppressed, *active)
        deadline = time.monotonic() + 10
        while not all(alert_state(server, target)["inhibitedBy"] for target in suppressed):
            assert time.monotonic() < deadline, [alert_state(server, target) for target in suppressed]
            time.sleep(0.2)
        for target in suppressed:
            assert alert_state(server, target)["state"] == "suppressed"
        for target in [*active, *sources]:
            status = alert_state(server, target)
            assert status["inhibitedBy"] == [], (target, status)
            assert status["state"] == "active"


class TestDelivery:
    def test_pipeline_critical_pages_platform_on_call(self, running_alertmanager: tuple[Server, CaptureServer]) -> None:
        """A worker-down alert reaches PagerDuty with the platform key, the platform Slack channel and the webhook."""
        server, capture = running_alertmanager
        labels = pipeline("ALPRWorkerDown", "critical") | {"job": "delivery-job", "instance": "w9"}
        post_alerts(server, labels)
        env = alertmanager_env(capture.url)

        def about_this(request: Any) -> bool:
            return "delivery-job" in str(request.body)

        page = capture.wait_for(lambda r: r.path == "/pagerduty" and about_this(r), timeout=30)
        assert page is not None, server.log_tail()
        assert page.body["routing_key"] == env["ALPR_AM_PAGERDUTY_PLATFORM_ROUTING_KEY"]
        assert page.body["payload"]["severity"] == "critical"
        assert page.body["payload"]["summary"] == "[FIRING:1] ALPRWorkerDown job=delivery-job"
        slack = capture.wait_for(lambda r: r.path == "/slack" and about_this(r), timeout=10)
        assert slack is not None
        assert slack.body["channel"] == "#alpr-platform"
        hook = capture.wait_for(lambda r: r.path == "/webhook" and about_this(r), timeout=10)
        assert hook is not None
        assert hook.headers["authorization"] == f"Bearer {env['ALPR_AM_WEBHOOK_TOKEN']}"
        assert hook.body["receiver"] == "platform-pager"

    def test_critical_violation_pages_privacy_on_call_once_per_owner_and_kind(
        self, running_alertmanager: tuple[Server, CaptureServer]
    ) -> None:
        """Two critical alerts of one owner and kind (different rules) make one page with the privacy key."""
        server, capture = running_alertmanager
        first = violation("ALPRFederalAccess", "critical", "recipient.federal") | {"owner": "delivery-owner"}
        second = first | {"rule": "second.rule", "jurisdiction": "federal"}
        post_alerts(server, first, second)
        env = alertmanager_env(capture.url)
        page = capture.wait_for(lambda r: r.path == "/pagerduty" and "delivery-owner" in str(r.body), timeout=30)
        assert page is not None, server.log_tail()
        assert page.body["routing_key"] == env["ALPR_AM_PAGERDUTY_PRIVACY_ROUTING_KEY"]
        assert page.body["payload"]["summary"].startswith("[FIRING:2] ALPRFederalAccess owner=delivery-owner")
        pages = [r for r in capture.requests if r.path == "/pagerduty" and "delivery-owner" in str(r.body)]
        assert len(pages) == 1


# Zones with whole-hour offsets from -11 to +14: at any instant one of them is in any
# chosen local hour, so the tests can always find a zone inside or outside 09:00-17:00.
ZONES = [
    "Pacific/Pago_Pago",
    "Pacific/Honolulu",
    "America/Anchorage",
    "America/Los_Angeles",
    "America/Denver",
    "America/Chicago",
    "America/New_York",
    "America/Halifax",
    "America/Sao_Paulo",
    "Atlantic/South_Georgia",
    "Atlantic/Cape_Verde",
    "UTC",
    "Europe/Berlin",
    "Europe/Athens",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Karachi",
    "Asia/Dhaka",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Brisbane",
    "Pacific/Noumea",
    "Pacific/Auckland",
    "Pacific/Tongatapu",
    "Pacific/Kiritimati",
]


def zone_with_local_hour(hours: range) -> tuple[str, datetime]:
    for zone in ZONES:
        local = datetime.now(ZoneInfo(zone))
        if local.hour in hours:
            return zone, local
    raise AssertionError(f"no zone of {ZONES} has a local hour in {hours}")


def working_hours_alertmanager(workdir: Path, capture: CaptureServer, zone: str, weekday: str) -> Path:
    """Render the shipped template with group_wait 1s on the working-hours route and only `weekday` in the window.

    Only these two values differ from the shipped configuration, so the test can observe
    the time interval now rather than at the next weekday morning.
    """
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count("group_wait: 1m") == 1
    assert text.count('weekdays: ["monday:friday"]') == 1
    text = text.replace("group_wait: 1m", "group_wait: 1s").replace(
        'weekdays: ["monday:friday"]', f'weekdays: ["{weekday}"]'
    )
    template = workdir / "alertmanager.yml.tmpl"
    template.write_text(text, encoding="utf-8")
    proc = render_alertmanager(workdir, alertmanager_env(capture.url) | {"ALPR_AM_TIMEZONE": zone}, template)
    assert proc.returncode == 0, proc.stderr
    return workdir / "alertmanager" / "alertmanager.yml"


class TestWorkingHours:
    def test_high_violation_is_delivered_inside_working_hours(self, tmp_path: Path) -> None:
        """Inside 09:00-17:00 local time a high violation reaches the privacy Slack channel."""
        zone, local = zone_with_local_hour(range(10, 16))
        with capture_server() as capture:
            config = working_hours_alertmanager(tmp_path, capture, zone, local.strftime("%A").lower())
            with alertmanager(config, tmp_path) as server:
                post_alerts(server, violation("ALPRViolation", "high", "purpose.missing"))
                slack = capture.wait_for(lambda r: r.path == "/slack", timeout=15)
                assert slack is not None, server.log_tail()
                assert slack.body["channel"] == "#alpr-privacy"

    def test_high_violation_waits_outside_working_hours(self, tmp_path: Path) -> None:
        """Outside 09:00-17:00 local time a high violation is held while a critical one still pages."""
        zone, _ = zone_with_local_hour(range(18, 24))
        with capture_server() as capture:
            config = working_hours_alertmanager(tmp_path, capture, zone, "sunday:saturday")
            with alertmanager(config, tmp_path) as server:
                post_alerts(
                    server,
                    violation("ALPRViolation", "high", "purpose.missing"),
                    violation("ALPRFederalAccess", "critical", "recipient.federal"),
                )
                page = capture.wait_for(lambda r: r.path == "/pagerduty", timeout=20)
                assert page is not None, server.log_tail()
                # The working-hours group (group_wait 1s) would have flushed long before the page.
                held = capture.wait_for(
                    lambda r: (
                        isinstance(r.body, dict)
                        and (
                            r.body.get("channel") == "#alpr-privacy"
                            or r.body.get("receiver") == "privacy-working-hours"
                        )
                    ),
                    timeout=5,
                )
                assert held is None, held
