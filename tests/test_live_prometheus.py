"""The dashboards against the real thing: Kafka broker, `alpr-monitor worker`, Prometheus scraping it.

The worker judges the built-in sample stream (clean in-state searches, the FBI, out-of-state
agencies, an "ICE case", Long Beach's group approval, a broken message). Prometheus scrapes it every
second with the shipped rule files loaded. Then every panel query of both dashboards, with its
Grafana variables substituted, must return data, the violation counts must equal the alerts the
worker wrote to its alerts topic, and the worker's /metrics must pass `promtool check metrics`.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka_broker import KafkaBroker, free_loopback_ports
from prometheus_client.parser import text_string_to_metric_families
from prometheus_server import (
    RULES_DIR,
    WORKER_JOB,
    PanelQuery,
    PrometheusAPI,
    Sample,
    all_panel_queries,
    finite,
    regex_value,
    running_prometheus,
    substitute,
    wait_until,
)
from promtool import check_metrics_text

from monitor.alerts import Alert, decode_alert
from streams.sample import SampleMessage, sample_messages

pytestmark = [pytest.mark.kafka, pytest.mark.prometheus]

ROOT = Path(__file__).resolve().parents[1]
INPUT_PARTITIONS = 2
# Bounds on waiting, so a broken component fails the test instead of hanging it; not timing checks.
WORKER_START_TIMEOUT_S = 90.0
SCRAPE_TIMEOUT_S = 30.0
PROCESS_TIMEOUT_S = 120.0
DATA_TIMEOUT_S = 60.0
ALERTS_READ_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
PSEUDONYM_KEY = "live-prometheus-test-key-0123456789"
SELECTED_OWNER = "oakland-pd"
ALL = ".*"

# The worker's metric families as the team contract fixes them, as the text format (what Prometheus
# scrapes) exposes them: type and label names.
CONTRACT_FAMILIES: dict[str, tuple[str, set[str]]] = {
    "alpr_events_processed": ("counter", {"event_type", "outcome"}),
    "alpr_alerts": ("counter", {"rule", "kind", "severity", "owner", "jurisdiction"}),
    "alpr_dlq_messages": ("counter", {"reason"}),
    "alpr_batch_processing_seconds": ("histogram", set()),
    "alpr_event_processing_seconds": ("histogram", set()),
    "alpr_detection_lag_seconds": ("histogram", set()),
    "alpr_consumer_lag_messages": ("gauge", {"partition"}),
    "alpr_last_event_timestamp_seconds": ("gauge", set()),
    "alpr_policy_info": ("gauge", {"version"}),  # an Info metric, as the text format exposes it
    "alpr_prohibited_active_grants": ("gauge", {"owner", "jurisdiction"}),
    "alpr_prohibited_grant_oldest_since_timestamp_seconds": ("gauge", {"owner", "jurisdiction"}),
    # Health of the worker itself (issue 8 items 8 and 11, issue 10 item 3).
    "alpr_input_topic_missing": ("gauge", set()),
    "alpr_policy_mismatch": ("gauge", set()),
    "alpr_worker_ready": ("gauge", set()),
}


@dataclass
class Live:
    """What the module's one run of the stack produced, captured while the sample was fresh."""

    worker_address: str
    sample: list[SampleMessage]
    alerts: list[Alert]
    metrics_text: str
    owner_values: list[str]
    instance_values: list[str]
    results_all: dict[PanelQuery, list[Sample]]
    results_owner: dict[PanelQuery, list[Sample]]
    timings: dict[str, float] = field(default_factory=dict)


def _values(owner: str, instance: str) -> dict[str, str]:
    # Grafana's "All" for a multi-value variable with allValue ".*"; $__range 1h covers the whole run.
    return {"datasource": "alpr-prometheus", "owner": owner, "severity": ALL, "instance": instance}


def _clean_environment() -> dict[str, str]:
    """This process's environment without ALPR_* settings, so only the test's settings reach the worker."""
    return {name: value for name, value in os.environ.items() if not name.startswith("ALPR_")}


@contextmanager
def _worker(broker: KafkaBroker, topics: Mapping[str, str], workdir: Path) -> Iterator[tuple[str, Path]]:
    """Run `alpr-monitor worker` on the broker; yield its /metrics address and log file; stop it after."""
    port = free_loopback_ports(1)[0]
    env = {
        **_clean_environment(),
        "ALPR_BROKER": f"kafka://{broker.bootstrap}",
        "ALPR_INPUT_TOPIC": topics["input"],
        "ALPR_ALERTS_TOPIC": topics["alerts"],
        "ALPR_DLQ_TOPIC": topics["dlq"],
        "ALPR_APP_ID": topics["app"],
        "ALPR_METRICS_PORT": str(port),
        "ALPR_METRICS_HOST": "127.0.0.1",
        "ALPR_PSEUDONYM_KEY": PSEUDONYM_KEY,
        "ALPR_DATA_DIR": str(workdir / "worker-data"),
        "ALPR_LOG_FORMAT": "json",
        "ALPR_PATTERN_TICK_SECONDS": "1",  # the prohibited-grant gauges are refreshed by the pattern timer
    }
    log = workdir / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"worker exited with {process.returncode}:\n{_tail(log)}", pytrace=False)
            try:
                if httpx.get(f"http://{address}/metrics", timeout=2.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"worker served no /metrics within {WORKER_START_TIMEOUT_S:.0f}s:\n{_tail(log)}", pytrace=False
                )
            time.sleep(0.2)
        yield address, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)


def _tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


async def _produce(bootstrap: str, topic: str, messages: list[SampleMessage]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for message in messages:
            await producer.send_and_wait(topic, message.value, key=message.key)
    finally:
        await producer.stop()


async def _read_alerts(bootstrap: str, topic: str, expected: int) -> list[Alert]:
    """Read `expected` alerts from the start of the alerts topic (bounded by ALERTS_READ_TIMEOUT_S)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    alerts: list[Alert] = []
    try:
        deadline = time.monotonic() + ALERTS_READ_TIMEOUT_S
        while len(alerts) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            alerts.extend(decode_alert(record.value) for records in batches.values() for record in records)
    finally:
        await consumer.stop()
    return alerts


def _total(prom: PrometheusAPI, expr: str) -> float:
    samples = prom.query(expr)
    return samples[0].value if samples else math.nan


def _run_queries(
    prom: PrometheusAPI, queries: list[PanelQuery], values: Mapping[str, str]
) -> dict[PanelQuery, list[Sample]]:
    return {query: prom.query(substitute(query.expr, values)) for query in queries}


def _empty(results: Mapping[PanelQuery, list[Sample]]) -> list[str]:
    return [f"{query.name}: {query.expr}" for query, samples in results.items() if not finite(samples)]


@pytest.fixture(scope="module")
def live(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Live:
    """Start worker and Prometheus, feed the sample, and capture every panel query's result."""
    workdir = tmp_path_factory.mktemp("live-prometheus")
    run = uuid.uuid4().hex[:8]
    topics = {
        "input": f"dash-{run}.access-events",
        "alerts": f"dash-{run}.alerts",
        "dlq": f"dash-{run}.access-events.dlq",
        "app": f"dash-{run}",
    }
    asyncio.run(kafka_broker.create_topic(topics["input"], INPUT_PARTITIONS))
    asyncio.run(kafka_broker.create_topic(topics["alerts"]))
    asyncio.run(kafka_broker.create_topic(topics["dlq"]))
    timings: dict[str, float] = {}
    started = time.monotonic()
    queries = all_panel_queries()
    compliance = [query for query in queries if query.dashboard == "alpr-violations"]

    with _worker(kafka_broker, topics, workdir) as (address, log):
        timings["worker /metrics up"] = time.monotonic() - started
        rules = sorted(RULES_DIR.glob("*.yml"))
        with running_prometheus(workdir / "prometheus", {WORKER_JOB: [address]}, rule_files=rules) as prom:
            # Produce only after the first scrape, so counters and histograms have a zero to rate from.
            wait_until(
                lambda: (
                    None
                    if prom.query(f'alpr_events_processed_total{{job="{WORKER_JOB}"}}')
                    else f"no worker series in Prometheus; targets: {prom.active_targets()}"
                ),
                SCRAPE_TIMEOUT_S,
                what="first scrape of the worker",
            )
            timings["first scrape"] = time.monotonic() - started

            sample = sample_messages(datetime.now(UTC))
            asyncio.run(_produce(kafka_broker.bootstrap, topics["input"], sample))
            produced = time.monotonic()

            def all_processed() -> str | None:
                seen = _total(prom, "sum(alpr_events_processed_total)")
                if seen == len(sample):
                    return None
                return f"Prometheus sees {seen} of {len(sample)} events processed; worker log:\n{_tail(log)}"

            wait_until(all_processed, PROCESS_TIMEOUT_S, what="the sample processed and scraped")
            timings["sample processed and scraped"] = time.monotonic() - produced

            expected_alerts = int(_total(prom, "sum(alpr_alerts_total)"))
            alerts = asyncio.run(_read_alerts(kafka_broker.bootstrap, topics["alerts"], expected_alerts))

            results_all: dict[PanelQuery, list[Sample]] = {}
            results_owner: dict[PanelQuery, list[Sample]] = {}

            def every_query_has_data() -> str | None:
                results_all.update(_run_queries(prom, queries, _values(ALL, ALL)))
                results_owner.update(
                    _run_queries(prom, compliance, _values(regex_value([SELECTED_OWNER]), regex_value([address])))
                )
                empty = _empty(results_all) + [f"(owner={SELECTED_OWNER}) {e}" for e in _empty(results_owner)]
                return None if not empty else "queries without a finite value:\n  " + "\n  ".join(empty)

            data_started = time.monotonic()
            wait_until(every_query_has_data, DATA_TIMEOUT_S, poll_s=1.0, what="data in every panel query")
            timings["every panel query has data"] = time.monotonic() - data_started

            # Read once every gauge has been set (the consumer-lag timer runs every few seconds).
            metrics_text = httpx.get(f"http://{address}/metrics", timeout=10.0).text
            owner_values = prom.label_values("owner", "alpr_alerts_total")
            instance_values = prom.label_values("instance", f'up{{job="{WORKER_JOB}"}}')
    timings["total"] = time.monotonic() - started
    print("live dashboard run: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items()))
    return Live(
        worker_address=address,
        sample=sample,
        alerts=alerts,
        metrics_text=metrics_text,
        owner_values=owner_values,
        instance_values=instance_values,
        results_all=results_all,
        results_owner=results_owner,
        timings=timings,
    )


def _result(live: Live, dashboard: str, title: str, ref: str = "A") -> list[Sample]:
    [samples] = [
        samples
        for query, samples in live.results_all.items()
        if query.dashboard == dashboard and query.panel == title and query.ref_id == ref
    ]
    return samples


def _owner_label(alert: Alert) -> str:
    return alert.owner.id or "other"


class TestDashboardQueriesOnLiveData:
    def test_every_panel_query_returns_data(self, live: Live) -> None:
        """Every query of both dashboards, variables at All, returns at least one finite value."""
        assert live.results_all, "no panel queries found"
        assert not _empty(live.results_all)

    def test_queries_for_one_owner_return_only_that_owner(self, live: Live) -> None:
        """With owner set to one id, every compliance query returns data, and only for that owner."""
        assert live.results_owner
        assert not _empty(live.results_owner)
        for query, samples in live.results_owner.items():
            owners = {sample.labels["owner"] for sample in samples if "owner" in sample.labels}
            assert owners <= {SELECTED_OWNER}, f"{query.name}: {owners}"

    def test_violation_counts_equal_the_alerts_on_the_topic(self, live: Live) -> None:
        """The table of violations by kind, severity, owner and jurisdiction equals the alerts the worker wrote."""
        assert live.alerts, "the worker wrote no alerts"
        written = Counter((a.kind, a.severity, _owner_label(a), a.requester.jurisdiction) for a in live.alerts)
        table = _result(live, "alpr-violations", "Violations by kind, owner and requester jurisdiction")
        counted = {
            (s.labels["kind"], s.labels["severity"], s.labels["owner"], s.labels["jurisdiction"]): s.value
            for s in table
        }
        assert counted == {key: float(count) for key, count in written.items()}

    def test_sample_violations_are_visible(self, live: Live) -> None:
        """The sample's federal, out-of-state, immigration and group-approval cases show on the dashboard."""
        by_kind = {s.labels["kind"]: s.value for s in _result(live, "alpr-violations", "Violations by kind")}
        expected = {kind for message in live.sample for kind in message.expect if kind != "dlq"}
        assert {"recipient.federal", "recipient.out_of_state", "purpose.immigration", "sharing.group_approval"} <= (
            expected
        )
        assert expected <= {kind for kind, value in by_kind.items() if value > 0}, by_kind

    def test_stats_count_immigration_and_critical_alerts(self, live: Live) -> None:
        """The immigration and critical stats equal the number of such alerts on the topic (each at least one)."""
        immigration = sum(1 for alert in live.alerts if alert.kind == "purpose.immigration")
        critical = sum(1 for alert in live.alerts if alert.severity == "critical")
        assert immigration >= 1
        assert critical >= 1
        assert [s.value for s in _result(live, "alpr-violations", "Immigration-purpose hits")] == [immigration]
        assert [s.value for s in _result(live, "alpr-violations", "Critical violations")] == [critical]

    def test_jurisdiction_classes_match_the_requesters(self, live: Live) -> None:
        """The jurisdiction-class panel shows the classes of the alerts' requesters, most violations first."""
        samples = _result(live, "alpr-violations", "Top requesting agencies by jurisdiction class")
        assert {s.labels["jurisdiction"] for s in samples} == {a.requester.jurisdiction for a in live.alerts}
        assert {"federal", "out_of_state"} <= {s.labels["jurisdiction"] for s in samples}
        values = [s.value for s in samples]
        assert values == sorted(values, reverse=True)

    def test_policy_version_stat_shows_the_workers_version(self, live: Live) -> None:
        """The policy stat names the version in the alerts, reported by one worker."""
        [stat] = _result(live, "alpr-violations", "Policy version in force")
        assert stat.value == 1
        assert {stat.labels["version"]} == {alert.policy_version for alert in live.alerts}

    def test_pipeline_panels_reflect_the_sample(self, live: Live) -> None:
        """One worker up, events per outcome, one dead letter (invalid_json), lag per input partition."""
        assert [s.value for s in _result(live, "alpr-pipeline", "Workers up", "A")] == [1]
        assert [s.value for s in _result(live, "alpr-pipeline", "Workers up", "B")] == [1]
        outcomes = {s.labels["outcome"]: s.value for s in _result(live, "alpr-pipeline", "Throughput by outcome")}
        assert min(outcomes["clean"], outcomes["alerted"], outcomes["invalid"]) > 0, outcomes
        dlq = {s.labels["reason"]: s.value for s in _result(live, "alpr-pipeline", "Dead-letter messages by reason")}
        assert dlq["invalid_json"] > 0, dlq
        assert all(value == 0 for reason, value in dlq.items() if reason != "invalid_json"), dlq
        partitions = {s.labels["partition"] for s in _result(live, "alpr-pipeline", "Consumer lag by partition")}
        assert partitions == {str(p) for p in range(INPUT_PARTITIONS)}
        p99 = _result(live, "alpr-pipeline", "Detection lag (p50, p99)", "B")
        assert p99, "no detection lag p99"
        assert p99[0].value > 0

    def test_prohibited_grant_panels_show_the_recipients_holding_access(self, live: Live) -> None:
        """The sample's federal and out-of-state searchers of Oakland's data (access proven by searches, never
        revoked) show as prohibited active grants, today old; ICE's access to Long Beach was revoked: 0."""
        by_class = {
            (s.labels["owner"], s.labels["jurisdiction"]): s.value
            for s in _result(live, "alpr-violations", "Prohibited active grants by owner and jurisdiction")
        }
        assert by_class[("oakland-pd", "federal")] == 1
        assert by_class[("oakland-pd", "out_of_state")] == 2
        assert by_class[("long-beach-pd", "federal")] == 0
        [total] = _result(live, "alpr-violations", "Prohibited active grants")
        assert total.value == sum(by_class.values())
        ages = {
            (s.labels["owner"], s.labels["jurisdiction"]): s.value
            for s in _result(live, "alpr-violations", "Age of the oldest prohibited grant (days)")
        }
        assert set(ages) == {key for key, value in by_class.items() if value > 0}
        assert all(0 <= age < 1 for age in ages.values()), ages

    def test_pattern_alert_panel_counts_the_pattern_alerts(self, live: Live) -> None:
        """Pattern alerts by kind and owner cover the detectors' alerts on the topic (repeat target, standing
        access, new requester), and no rule's alert."""
        kinds = {
            (s.labels["kind"], s.labels["owner"])
            for s in _result(live, "alpr-violations", "Pattern alerts by kind and owner")
        }
        written = {(a.kind, _owner_label(a)) for a in live.alerts if a.rule_id.startswith("patterns.")}
        assert written == kinds
        assert {("misuse.repeat_target", "oakland-pd"), ("sharing.standing_access", "long-beach-pd")} <= kinds

    def test_variable_queries_list_the_owners_and_the_worker(self, live: Live) -> None:
        """label_values() for the owner and instance variables return the alerts' owners and the worker."""
        assert set(live.owner_values) == {_owner_label(alert) for alert in live.alerts}
        assert live.instance_values == [live.worker_address]


class TestWorkerMetrics:
    def test_metrics_pass_promtool_check_metrics(self, live: Live) -> None:
        """The worker's /metrics, after judging the sample, has no `promtool check metrics` problem."""
        assert "alpr_alerts_total{" in live.metrics_text
        assert check_metrics_text(live.metrics_text) == []

    def test_metric_families_follow_the_contract(self, live: Live) -> None:
        """The exposed families are exactly the contract's, with its types and label names."""
        parsed = list(text_string_to_metric_families(live.metrics_text))
        # The text format exposes prometheus_client's creation times as separate gauges.
        names = {family.name for family in parsed}
        created = {name for name in names if name.endswith("_created") and name.removesuffix("_created") in names}
        families = {
            family.name: (family.type, {name for sample in family.samples for name in sample.labels} - {"le"})
            for family in parsed
            if family.name not in created
        }
        assert families == CONTRACT_FAMILIES

    def test_metric_names_follow_prometheus_conventions(self, live: Live) -> None:
        """One prefix, snake case, counters end in _total, durations in _seconds, no unit abbreviations."""
        for family in text_string_to_metric_families(live.metrics_text):
            assert family.name.startswith("alpr_"), family.name
            for sample in family.samples:
                assert sample.name == sample.name.lower(), sample.name
                if family.type == "counter":
                    assert sample.name.endswith(("_total", "_created")), sample.name
            if family.type == "histogram":
                assert family.name.endswith("_seconds"), family.name
            for abbreviation in ("_ms", "_secs", "_msgs", "_count_total"):
                assert abbreviation not in family.name, family.name

    def test_no_plate_or_user_in_metrics(self, live: Live) -> None:
        """No plate or user id of the sample appears in the metrics, in clear."""
        secrets = set()
        for message in live.sample:
            try:
                document = msgspec.json.decode(message.value)
            except msgspec.DecodeError:
                continue
            if document.get("query"):
                secrets.add(document["query"]["plate"])
            if document.get("requester", {}).get("user"):
                secrets.add(document["requester"]["user"])
        assert secrets
        assert not [secret for secret in secrets if secret in live.metrics_text]
