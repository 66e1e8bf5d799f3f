"""deploy/prometheus: configuration, alert rules and their unit tests, checked with the real promtool and Prometheus."""

from __future__ import annotations

import re
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest
import yaml
from promtool import (
    PROMETHEUS_DIR,
    alertmanager,
    alertmanager_env,
    capture_server,
    check_metrics_text,
    free_port,
    prometheus,
    render_alertmanager,
    run_tool,
    stage_prometheus,
)

from monitor.alerts import Alert, AlertOwner, AlertRequester, alert_id_for
from streams.metrics import WorkerMetrics
from streams.notifier import NotifierMetrics

pytestmark = pytest.mark.prometheus

RULES_DIR = PROMETHEUS_DIR / "rules"
UNIT_TEST_FILES = sorted((PROMETHEUS_DIR / "tests").glob("*.yml"))
README = PROMETHEUS_DIR / "README.md"

# The fixed metric names of the team contract (CONTEXT.md); rules may use nothing else.
CONTRACT_METRICS = {
    "alpr_events_processed_total",
    "alpr_alerts_total",
    "alpr_dlq_messages_total",
    "alpr_batch_processing_seconds",
    "alpr_event_processing_seconds",
    "alpr_detection_lag_seconds",
    "alpr_consumer_lag_messages",
    "alpr_last_event_timestamp_seconds",
    "alpr_policy_info",
    "alpr_input_topic_missing",
    "alpr_policy_mismatch",
    "alpr_notifications_total",
}
# The pattern state gauges (issue 9, contract in TEAM.md), exported by the worker's pattern tables.
PATTERN_METRICS = {"alpr_prohibited_active_grants", "alpr_prohibited_grant_oldest_since_timestamp_seconds"}
# Series prometheus_client derives from those families.
DERIVED_SUFFIXES = ("_bucket", "_count", "_sum")
SEVERITIES = {"critical", "high", "medium", "low"}
PAGING_KINDS = {"recipient.federal", "recipient.out_of_state", "recipient.non_public", "purpose.immigration"}


def load_rules() -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for path in sorted(RULES_DIR.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.extend(group["rules"])
    return rules


def alert_rules() -> list[dict[str, Any]]:
    return [rule for rule in load_rules() if "alert" in rule]


def markdown_anchors(text: str) -> set[str]:
    """GitHub-style heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in text.splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if match:
            slug = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
    return anchors


def base_metric(name: str) -> str:
    if name.endswith("_created"):
        # prometheus_client's creation-time series of a counter: alpr_x_created for alpr_x_total.
        return name.removesuffix("_created") + "_total"
    for suffix in DERIVED_SUFFIXES:
        if name.endswith(suffix) and name.removesuffix(suffix) in CONTRACT_METRICS:
            return name.removesuffix(suffix)
    return name


class TestPrometheusConfig:
    def test_promtool_check_config_passes_without_warnings(self) -> None:
        """`promtool check config` accepts prometheus.yml and every rule file it names, with no warning."""
        proc = run_tool("promtool", "check", "config", PROMETHEUS_DIR / "prometheus.yml")
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output
        assert "WARNING" not in output, output

    def test_every_rule_file_is_loaded(self) -> None:
        """Each file under rules/ is listed in rule_files, so no alert is silently left out."""
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
        listed = {PROMETHEUS_DIR / name for name in config["rule_files"]}
        assert listed == set(RULES_DIR.glob("*.yml"))

    def test_worker_job_is_named_for_the_alerts(self) -> None:
        """The scrape job is named alpr-monitor, the job the worker-down alert selects."""
        config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text(encoding="utf-8"))
        jobs = {job["job_name"] for job in config["scrape_configs"]}
        assert "alpr-monitor" in jobs
        assert 'up{job="alpr-monitor"}' in (RULES_DIR / "pipeline.yml").read_text(encoding="utf-8")


class TestRuleFiles:
    def test_promtool_check_rules_passes(self) -> None:
        """`promtool check rules` accepts every rule file."""
        proc = run_tool("promtool", "check", "rules", *sorted(RULES_DIR.glob("*.yml")))
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_alert_names_are_unique(self) -> None:
        """No two alert rules share a name, so routes, inhibitions and runbooks are unambiguous."""
        names = [rule["alert"] for rule in alert_rules()]
        assert len(names) == len(set(names))

    def test_every_critical_kind_of_the_contract_has_a_named_alert(self) -> None:
        """Each kind the issue lists as critical has an alert selecting it by kind and severity critical."""
        exprs = [rule["expr"] for rule in alert_rules()]
        for kind in PAGING_KINDS:
            assert any(f'kind="{kind}"' in expr and 'severity="critical"' in expr for expr in exprs), kind

    def test_alerts_carry_category_and_severity(self) -> None:
        """Pipeline alerts set a known severity; violation alerts take severity (and kind, rule...) from the metric."""
        for rule in alert_rules():
            labels = rule.get("labels", {})
            assert labels.get("category") in {"violation", "pipeline"}, rule["alert"]
            if labels["category"] == "pipeline":
                assert labels.get("severity") in SEVERITIES, rule["alert"]
            elif any(name in rule["expr"] for name in PATTERN_METRICS):
                # A state (a prohibited grant held now), not a count of alerts: its severity is the rule's.
                assert labels.get("severity") in SEVERITIES, rule["alert"]
                assert labels.get("kind"), rule["alert"]
            else:
                # A static severity would overwrite the rule pack's severity from the metric.
                assert "severity" not in labels, rule["alert"]
                assert "alpr:alerts:increase" in rule["expr"] or "alpr_alerts_created" in rule["expr"], rule["alert"]

    def test_annotations_and_runbook_anchors_exist(self) -> None:
        """Every alert has summary, description, dashboard_uid and a runbook anchor that exists in the README."""
        anchors = markdown_anchors(README.read_text(encoding="utf-8"))
        for rule in alert_rules():
            annotations = rule["annotations"]
            assert set(annotations) == {"summary", "description", "runbook", "dashboard_uid"}, rule["alert"]
            path, _, anchor = annotations["runbook"].partition("#")
            assert path == "deploy/prometheus/README.md", rule["alert"]
            assert anchor in anchors, f"{rule['alert']}: no heading for #{anchor} in {README}"

    def test_thresholds_used_are_defined(self) -> None:
        """Every alpr:threshold:* series an alert compares with is recorded in thresholds.yml."""
        defined = {rule["record"] for rule in load_rules() if rule.get("record", "").startswith("alpr:threshold:")}
        used = {name for rule in alert_rules() for name in re.findall(r"alpr:threshold:[a-z0-9_]+", rule["expr"])}
        assert used, "no alert uses a threshold"
        assert used <= defined, used - defined

    def test_rules_use_only_contract_metric_names(self) -> None:
        """Every alpr_* series in an expression is a fixed contract metric (or a series derived from one)."""
        for rule in load_rules():
            for name in re.findall(r"\balpr_[a-z0-9_]+", rule["expr"]):
                known = CONTRACT_METRICS | PATTERN_METRICS
                assert base_metric(name) in known, f"{rule.get('alert') or rule['record']}: {name}"


def unit_test_cases() -> list[tuple[str, bool]]:
    """(alertname, fires) for every alert_rule_test case of every unit-test file."""
    cases = []
    for path in UNIT_TEST_FILES:
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.append((case["alertname"], bool(case.get("exp_alerts"))))
    return cases


class TestRuleUnitTests:
    @pytest.mark.parametrize("test_file", UNIT_TEST_FILES, ids=lambda path: path.name)
    def test_promtool_test_rules_passes(self, test_file: Path) -> None:
        """`promtool test rules` passes for the unit-test file."""
        proc = run_tool("promtool", "test", "rules", test_file)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_every_alert_has_firing_and_quiet_cases(self) -> None:
        """Every alert rule is tested both firing and not firing."""
        cases = unit_test_cases()
        for rule in alert_rules():
            name = rule["alert"]
            assert (name, True) in cases, f"{name} has no firing test"
            assert (name, False) in cases, f"{name} has no not-firing test"

    def test_unit_tests_catch_the_new_series_pitfall(self, tmp_path: Path) -> None:
        """With plain increase() (blind to a series' first increment) the unit tests fail."""
        staged = tmp_path / "prometheus"
        shutil.copytree(PROMETHEUS_DIR, staged)
        rules = staged / "rules" / "violations.yml"
        text = rules.read_text(encoding="utf-8")
        plain = re.sub(r"\(alpr_alerts_total and \(alpr_alerts_created > time\(\) - \d+\)\)\s+or", "", text)
        assert plain != text
        rules.write_text(plain, encoding="utf-8")
        proc = run_tool("promtool", "test", "rules", staged / "tests" / "violations_test.yml")
        assert proc.returncode != 0
        assert "first federal violation pages within one evaluation" in proc.stdout + proc.stderr


def contract_registries() -> list[prometheus_client.CollectorRegistry]:
    """The worker's and the notifier's real metric registries, every labelled family given a sample."""
    worker = WorkerMetrics(prometheus_client.CollectorRegistry())
    worker.mark_started()
    worker.set_policy("abc123", ["oakland-pd"])
    occurred = datetime(2025, 4, 22, 17, 0, tzinfo=UTC)
    alert = Alert(
        alert_id=alert_id_for("lint:ev-1", "ca.sb34.federal-recipient"),
        event_id="ev-1",
        rule_id="ca.sb34.federal-recipient",
        kind="recipient.federal",
        severity="critical",
        summary="Federal agency searched Oakland CA PD's ALPR data",
        citations=["Cal. Civ. Code § 1798.90.55(b)"],
        owner=AlertOwner(agency="Oakland CA PD", state="CA", id="oakland-pd"),
        requester=AlertRequester(agency="Federal Bureau of Investigation", jurisdiction="federal"),
        evidence={},
        policy_version="abc123",
        occurred_at=occurred,
        detected_at=occurred + timedelta(seconds=2),
    )
    worker.record_batch({("query", "alerted"): 1, ("unknown", "invalid"): 1}, [alert], ["invalid_json"], 0.01)
    worker.set_consumer_lag({0: 3})
    notifier = NotifierMetrics(prometheus_client.CollectorRegistry())
    notifier.count("slack", "delivered")
    return [worker.registry, notifier.registry]


def family_names(registry: prometheus_client.CollectorRegistry) -> set[str]:
    """Metric names as the contract writes them: counters with _total, info with _info, histograms bare."""
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "histogram":
            names.add(family.name)
        else:
            names.update(sample.name for sample in family.samples if not sample.name.endswith("_created"))
    return names


class TestMetricsLint:
    def test_contract_metric_names_pass_promtool(self) -> None:
        """The worker's and notifier's real /metrics expositions pass `promtool check metrics`."""
        registries = contract_registries()
        for registry in registries:
            text = prometheus_client.generate_latest(registry).decode()
            assert check_metrics_text(text) == [], text

    def test_real_registries_expose_exactly_the_contract_metrics(self) -> None:
        """The metric families the worker and notifier define are the contract's, no more and no fewer."""
        exposed = set().union(*(family_names(registry) for registry in contract_registries()))
        assert CONTRACT_METRICS <= exposed <= CONTRACT_METRICS | PATTERN_METRICS

    def test_badly_named_metrics_are_reported(self) -> None:
        """A counter without _total and a unit abbreviation are reported as problems."""
        text = "# HELP alpr_lag_ms Lag.\n# TYPE alpr_lag_ms counter\nalpr_lag_ms 1\n"
        problems = check_metrics_text(text)
        assert any("_total" in problem for problem in problems), problems
        assert any("abbreviated units" in problem for problem in problems), problems

    def test_unparsable_exposition_is_reported(self) -> None:
        """Text that is not an exposition at all is a problem, not a pass."""
        assert check_metrics_text("not a metric line {\n") != []


def query(server_url: str, promql: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{server_url}/api/v1/query", params={"query": promql}, timeout=10.0)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(0.5)


class TestPagingEndToEnd:
    def test_first_federal_violation_pages_within_a_minute(self, tmp_path: Path) -> None:
        """A worker's first federal-access alert reaches PagerDuty, Slack and the webhook within a minute.

        Real Prometheus with the shipped configuration (15s scrape and evaluation) scrapes a
        prometheus_client endpoint, evaluates the shipped rules and sends to a real
        Alertmanager rendered from the template, whose receivers post to a local stand-in.
        """
        registry = prometheus_client.CollectorRegistry()
        alerts = prometheus_client.Counter(
            "alpr_alerts_total",
            "Alerts raised.",
            ["rule", "kind", "severity", "owner", "jurisdiction"],
            registry=registry,
        )
        prometheus_client.Gauge(
            "alpr_last_event_timestamp_seconds", "Unix time of the last processed event.", registry=registry
        ).set_to_current_time()
        worker_port = free_port()
        worker, worker_thread = prometheus_client.start_http_server(worker_port, "127.0.0.1", registry=registry)
        try:
            with capture_server() as capture:
                env = alertmanager_env(capture.url)
                rendered = render_alertmanager(tmp_path, env)
                assert rendered.returncode == 0, rendered.stderr
                with alertmanager(tmp_path / "alertmanager" / "alertmanager.yml", tmp_path) as am:
                    config = stage_prometheus(tmp_path, [f"127.0.0.1:{worker_port}"], [am.url.removeprefix("http://")])
                    with prometheus(config, tmp_path) as prom:
                        wait_until(
                            lambda: query(prom.url, 'up{job="alpr-monitor"} == 1'), 60, "the first scrape of the worker"
                        )
                        rules = prom.get_json("/api/v1/rules")["data"]["groups"]
                        assert {group["name"] for group in rules} >= {"alpr-violations", "alpr-pipeline"}
                        assert all(rule["health"] != "err" for group in rules for rule in group["rules"])

                        # The series does not exist before this increment: it appears at 1.
                        started = time.monotonic()
                        alerts.labels(
                            "ca.sb34.federal-recipient", "recipient.federal", "critical", "oakland-ca-pd", "federal"
                        ).inc()
                        page = capture.wait_for(
                            lambda r: (
                                r.path == "/pagerduty"
                                and r.body.get("routing_key") == env["ALPR_AM_PAGERDUTY_PRIVACY_ROUTING_KEY"]
                            ),
                            timeout=75,
                        )
                        latency = time.monotonic() - started
                        assert page is not None, f"no page within 75s; alertmanager log:\n{am.log_tail()}"
                        print(f"first violation -> PagerDuty request: {latency:.1f}s")
                        assert latency < 60
                        assert page.body["event_action"] == "trigger"
                        assert "ALPRFederalAccess" in page.body["payload"]["summary"]
                        assert "owner=oakland-ca-pd" in page.body["payload"]["summary"]
                        assert query(prom.url, "alpr_alerts_created"), "Prometheus did not ingest the _created series"

                        slack = capture.wait_for(lambda r: r.path == "/slack", timeout=10)
                        assert slack is not None
                        assert slack.body["channel"] == "#alpr-privacy-critical"
                        hook = capture.wait_for(lambda r: r.path == "/webhook", timeout=10)
                        assert hook is not None
                        assert hook.headers["authorization"] == f"Bearer {env['ALPR_AM_WEBHOOK_TOKEN']}"
                        assert hook.body["commonLabels"]["alertname"] == "ALPRFederalAccess"
        finally:
            worker.shutdown()
            worker_thread.join(timeout=5)
