"""dashboards/: the Grafana JSON and provisioning files, checked statically and against a real Prometheus.

Grafana is not installable here, so the JSON is checked for what Grafana relies on (unique uids
and panel ids, a data source on every panel and query, defined variables, a sane grid), and every
panel query, with its variables substituted as Grafana would, is parsed by a real Prometheus.
tests/test_live_prometheus.py runs the same queries against a Prometheus scraping a real worker.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_server import (
    DASHBOARDS_DIR,
    GRAFANA_BUILTINS,
    RULES_DIR,
    PanelQuery,
    PrometheusAPI,
    QueryError,
    all_panel_queries,
    dashboard_files,
    load_dashboard,
    panel_queries,
    panels,
    regex_value,
    running_prometheus,
    substitute,
    variables_in,
)

from streams.metrics import WorkerMetrics

REPO = Path(__file__).resolve().parents[1]
PROVISIONING = DASHBOARDS_DIR / "provisioning"
DATASOURCE_FILE = PROVISIONING / "datasources" / "prometheus.yaml"
PROVIDER_FILE = PROVISIONING / "dashboards" / "alpr.yaml"
PROMETHEUS_YML = REPO / "deploy" / "prometheus" / "prometheus.yml"
EXPECTED_FILES = {"compliance-overview.json", "pipeline-health.json"}
PROMETHEUS_DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Label names the metrics carry (team contract) plus Prometheus' target labels. Anything else in a
# query would be a typo, or a per-agency/per-user label the metrics must never have.
KNOWN_LABELS = {
    "event_type", "outcome", "rule", "kind", "severity", "owner", "jurisdiction", "reason", "partition",
    "version", "le", "job", "instance",
}  # fmt: skip
# Ways Grafana may render the variables: All, one value, several values, and other interval spellings.
VARIABLE_VALUES: list[dict[str, str]] = [
    {"datasource": "alpr-prometheus", "owner": ".*", "severity": ".*", "instance": ".*"},
    {
        "datasource": "alpr-prometheus",
        "owner": regex_value(["oakland-pd"]),
        "severity": regex_value(["critical"]),
        "instance": regex_value(["127.0.0.1:9464"]),
        "__rate_interval": "1m30s",
        "__range": "86400s",
    },
    {
        "datasource": "alpr-prometheus",
        "owner": regex_value(["oakland-pd", "long-beach-pd"]),
        "severity": regex_value(["critical", "high"]),
        "instance": regex_value(["127.0.0.1:9464", "10.0.0.7:9464"]),
        "__rate_interval": "2m",
        "__range": "7d",
    },
]


def dashboards() -> list[dict[str, Any]]:
    return [load_dashboard(path) for path in dashboard_files()]


def by_uid(uid: str) -> dict[str, Any]:
    return next(board for board in dashboards() if board["uid"] == uid)


def worker_series_names() -> set[str]:
    """Every series name the worker's registry can expose, derived from its metric families' types."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "gauge": ("",),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in WorkerMetrics().registry.collect():
        names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def recorded_series() -> set[str]:
    names: set[str] = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            names.update(rule["record"] for rule in group["rules"] if "record" in rule)
    return names


def labels_used(expr: str) -> set[str]:
    """Label names in matchers (`{name=...}`) and in by/without clauses of a PromQL expression."""
    names: set[str] = set()
    for selector in re.findall(r"\{([^}]*)\}", expr):
        names.update(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
    for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        names.update(name.strip() for name in grouping.split(",") if name.strip())
    return names


class TestDashboardJson:
    def test_the_two_dashboards_exist(self) -> None:
        """dashboards/ holds exactly the Compliance overview and Pipeline health dashboards."""
        assert {path.name for path in dashboard_files()} == EXPECTED_FILES
        titles = {board["title"] for board in dashboards()}
        assert any("Compliance overview" in title for title in titles), titles
        assert any("Pipeline health" in title for title in titles), titles

    def test_dashboard_uids_are_unique_and_valid(self) -> None:
        """Dashboard uids are unique and within Grafana's limits (40 characters of [A-Za-z0-9_-])."""
        uids = [board["uid"] for board in dashboards()]
        assert len(uids) == len(set(uids)), uids
        for uid in uids:
            assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", uid), uid

    def test_alert_annotations_point_at_existing_dashboards(self) -> None:
        """Every dashboard_uid annotation of the Prometheus alert rules names one of these dashboards."""
        uids = {board["uid"] for board in dashboards()}
        referenced: set[str] = set()
        for path in RULES_DIR.glob("*.yml"):
            for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
                referenced.update(
                    rule["annotations"]["dashboard_uid"]
                    for rule in group["rules"]
                    if "dashboard_uid" in rule.get("annotations", {})
                )
        assert referenced, "no alert rule names a dashboard"
        assert referenced <= uids, referenced - uids

    def test_schema_version_is_current(self) -> None:
        """Each dashboard declares a recent schema version (Grafana 10/11 era) and no fixed numeric id."""
        for board in dashboards():
            assert 36 <= board["schemaVersion"] <= 41, board["uid"]
            assert board.get("id") is None, board["uid"]

    def test_panel_ids_and_titles_are_unique(self) -> None:
        """Within a dashboard no two panels share an id or a title."""
        for board in dashboards():
            ids = [panel["id"] for panel in panels(board)]
            titles = [panel["title"] for panel in panels(board)]
            assert len(ids) == len(set(ids)), board["uid"]
            assert len(titles) == len(set(titles)), board["uid"]

    def test_every_panel_and_query_uses_the_prometheus_datasource_variable(self) -> None:
        """Each panel and each of its queries names the Prometheus data source through ${datasource}."""
        for board in dashboards():
            for panel in panels(board):
                assert panel.get("datasource") == PROMETHEUS_DATASOURCE, (board["uid"], panel["title"])
                for target in panel["targets"]:
                    assert target.get("datasource") == PROMETHEUS_DATASOURCE, (board["uid"], panel["title"])

    def test_every_panel_has_a_description_and_queries(self) -> None:
        """Each panel explains itself and has at least one non-empty query with a unique refId."""
        for board in dashboards():
            for panel in panels(board):
                name = (board["uid"], panel["title"])
                assert len(panel.get("description", "")) >= 40, name
                refs = [target["refId"] for target in panel.get("targets", [])]
                assert refs, name
                assert len(refs) == len(set(refs)), name
                assert all(target.get("expr", "").strip() for target in panel["targets"]), name

    def test_panels_fit_the_grid_without_overlapping(self) -> None:
        """Panels lie inside Grafana's 24-column grid and no two cover the same cell."""
        for board in dashboards():
            taken: dict[tuple[int, int], str] = {}
            for panel in panels(board):
                grid = panel["gridPos"]
                assert grid["x"] >= 0, panel["title"]
                assert min(grid["w"], grid["h"]) > 0, panel["title"]
                assert grid["x"] + grid["w"] <= 24, panel["title"]
                for x in range(grid["x"], grid["x"] + grid["w"]):
                    for y in range(grid["y"], grid["y"] + grid["h"]):
                        assert (x, y) not in taken, f"{panel['title']!r} overlaps {taken[(x, y)]!r}"
                        taken[(x, y)] = panel["title"]

    def test_variables_used_are_defined_and_defined_are_used(self) -> None:
        """Queries refer only to defined template variables or Grafana built-ins, and no variable is dead."""
        for board in dashboards():
            defined = {variable["name"] for variable in board["templating"]["list"]}
            used = {name for query in panel_queries(board) for name in variables_in(query.expr)}
            used |= {
                name for variable in board["templating"]["list"] for name in variables_in(str(variable.get("query")))
            }
            used |= {name for panel in panels(board) for name in variables_in(panel["datasource"]["uid"])}
            assert used - defined <= set(GRAFANA_BUILTINS), used - defined - set(GRAFANA_BUILTINS)
            assert defined <= used, defined - used

    def test_datasource_variable_defaults_to_the_provisioned_datasource(self) -> None:
        """The datasource variable lists Prometheus data sources and defaults to the provisioned one's uid."""
        provisioned = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))["datasources"][0]["uid"]
        for board in dashboards():
            [variable] = [v for v in board["templating"]["list"] if v["name"] == "datasource"]
            assert variable["type"] == "datasource"
            assert variable["query"] == "prometheus"
            assert variable["current"]["value"] == provisioned, board["uid"]

    def test_query_variables_use_the_datasource_variable(self) -> None:
        """Template variables filled by a query ask the selected Prometheus data source."""
        for board in dashboards():
            for variable in board["templating"]["list"]:
                if variable["type"] == "query":
                    assert variable["datasource"] == PROMETHEUS_DATASOURCE, variable["name"]
                    assert re.fullmatch(r"label_values\(.+, *\w+\)", variable["query"]), variable["query"]

    def test_queries_use_only_the_workers_metrics_and_recorded_series(self) -> None:
        """Every alpr_* series exists in the worker's registry, every alpr:* is recorded by the shipped rules."""
        exposed, recorded = worker_series_names(), recorded_series()
        for query in all_panel_queries():
            for name in re.findall(r"\balpr_[a-z0-9_]+", query.expr):
                assert name in exposed, f"{query.name}: {name} is not a worker metric"
            for name in re.findall(r"\balpr:[a-z0-9_:]+", query.expr):
                assert name in recorded, f"{query.name}: {name} is not recorded in {RULES_DIR}"

    def test_queries_use_only_bounded_labels(self) -> None:
        """Queries group and filter only by the metrics' bounded labels: no agency, plate or user label exists."""
        for query in all_panel_queries():
            unknown = labels_used(query.expr) - KNOWN_LABELS
            assert not unknown, f"{query.name}: {unknown}"

    def test_compliance_overview_has_the_panels_of_the_issue(self) -> None:
        """Violations by kind and severity over time, by jurisdiction class, by owner, immigration hits, policy."""
        exprs = [query.expr for query in panel_queries(by_uid("alpr-violations"))]

        def has(*parts: str) -> bool:
            return any(all(part in expr for part in parts) for expr in exprs)

        assert has("sum by (kind)", "alpr_alerts_total", "$__rate_interval")
        assert has("sum by (severity)", "alpr_alerts_total", "$__rate_interval")
        assert has("sum by (jurisdiction)", "alpr_alerts_total")
        assert has("sum by (owner)", "topk(", "alpr_alerts_total")
        assert has('kind="purpose.immigration"', "alpr_alerts_total")
        assert has("alpr_policy_info", "version")
        assert all('owner=~"$owner"' in expr for expr in exprs if "alpr_alerts_total" in expr)

    def test_compliance_overview_shows_patterns(self) -> None:
        """Prohibited active grants (count, by owner and class, age of the oldest); pattern alerts by kind and owner."""
        exprs = [query.expr for query in panel_queries(by_uid("alpr-violations"))]

        def has(*parts: str) -> bool:
            return any(all(part in expr for part in parts) for expr in exprs)

        assert has("sum(alpr_prohibited_active_grants", 'owner=~"$owner"')
        assert has("sum by (owner, jurisdiction)", "alpr_prohibited_active_grants")
        assert has("time() - min by (owner, jurisdiction)", "alpr_prohibited_grant_oldest_since_timestamp_seconds")
        assert has("sum by (kind, owner)", "alpr_alerts_total", 'rule=~"patterns[.].*"', "$__rate_interval")

    def test_jurisdiction_panel_says_there_is_no_agency_label(self) -> None:
        """The requesting-agency panel explains that it counts jurisdiction classes and where agency names are."""
        [panel] = [p for p in panels(by_uid("alpr-violations")) if "jurisdiction class" in p["title"]]
        description = panel["description"]
        assert "jurisdiction class" in description
        assert "no agency name" in description.lower()
        assert "alpr.alerts" in description

    def test_pipeline_health_has_the_panels_of_the_issue(self) -> None:
        """Throughput, detection lag p50/p99, dead letters, consumer lag and workers up."""
        exprs = [query.expr for query in panel_queries(by_uid("alpr-pipeline"))]

        def has(*parts: str) -> bool:
            return any(all(part in expr for part in parts) for expr in exprs)

        assert has("sum by (outcome)", "rate(alpr_events_processed_total")
        assert has("histogram_quantile(0.5", "alpr_detection_lag_seconds_bucket")
        assert has("histogram_quantile(0.99", "alpr_detection_lag_seconds_bucket")
        assert has("sum by (reason)", "alpr_dlq_messages_total")
        assert has("by (partition)", "alpr_consumer_lag_messages")
        assert has('sum(up{job="alpr-monitor"')


class TestProvisioning:
    def test_datasource_file_provisions_one_prometheus(self) -> None:
        """The data source file defines one Prometheus with a fixed uid and a URL."""
        document = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))
        assert document["apiVersion"] == 1
        [source] = document["datasources"]
        assert source["type"] == "prometheus"
        assert source["access"] == "proxy"
        assert re.fullmatch(r"https?://\S+", source["url"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", source["uid"])

    def test_datasource_time_interval_matches_the_scrape_interval(self) -> None:
        """Grafana's timeInterval equals the shipped scrape interval, so $__rate_interval spans four scrapes."""
        document = yaml.safe_load(DATASOURCE_FILE.read_text(encoding="utf-8"))
        scrape = yaml.safe_load(PROMETHEUS_YML.read_text(encoding="utf-8"))["global"]["scrape_interval"]
        assert document["datasources"][0]["jsonData"]["timeInterval"] == scrape

    def test_dashboard_provider_reads_files_into_a_folder(self) -> None:
        """The provider is a file provider with a path, a folder, and UI edits refused (the JSON is the source)."""
        document = yaml.safe_load(PROVIDER_FILE.read_text(encoding="utf-8"))
        assert document["apiVersion"] == 1
        [provider] = document["providers"]
        assert provider["type"] == "file"
        assert provider["options"]["path"].startswith("/")
        assert provider["folder"]
        assert provider["allowUiUpdates"] is False

    def test_readme_lists_every_panel(self) -> None:
        """dashboards/README.md names every panel of both dashboards."""
        readme = (DASHBOARDS_DIR / "README.md").read_text(encoding="utf-8")
        for board in dashboards():
            for panel in panels(board):
                assert panel["title"] in readme, panel["title"]


class TestVariableSubstitution:
    def test_substitutes_every_grafana_form(self) -> None:
        """$name, ${name}, ${name:format} and [[name]] are all replaced; built-ins have defaults."""
        text = 'x{a=~"$owner", b="${owner}", c="${owner:regex}", d="[[owner]]"}[$__rate_interval]'
        assert substitute(text, {"owner": "o"}) == 'x{a=~"o", b="o", c="o", d="o"}[1m]'

    def test_unknown_variable_is_an_error(self) -> None:
        """A variable with no value is reported, not left in the query."""
        with pytest.raises(KeyError, match=r"\$nosuch"):
            substitute('up{job=~"$nosuch"}', {})

    def test_multi_values_render_as_an_escaped_alternation(self) -> None:
        """Several values become (a|b) with regex metacharacters escaped for a PromQL string."""
        assert regex_value(["a.b", "c"]) == r"(a\\.b|c)"
        assert regex_value(["only"]) == "only"


@pytest.fixture(scope="module")
def parser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusAPI]:
    """A real Prometheus with no targets: enough to parse and evaluate PromQL."""
    with running_prometheus(tmp_path_factory.mktemp("prometheus-parse")) as api:
        yield api


@pytest.mark.prometheus
class TestQueriesParse:
    @pytest.mark.parametrize("query", all_panel_queries(), ids=lambda query: query.name)
    def test_panel_query_is_valid_promql(self, parser: PrometheusAPI, query: PanelQuery) -> None:
        """With the variables substituted in every way Grafana may render them, Prometheus accepts the query."""
        for values in VARIABLE_VALUES:
            parser.query(substitute(query.expr, values))

    def test_variable_queries_are_valid(self, parser: PrometheusAPI) -> None:
        """The selectors of label_values() variable queries are accepted by Prometheus' label API."""
        for board in dashboards():
            for variable in board["templating"]["list"]:
                if variable["type"] == "query":
                    match = re.fullmatch(r"label_values\((.+), *(\w+)\)", variable["query"])
                    assert match is not None
                    parser.label_values(match.group(2), match.group(1))

    def test_invalid_promql_is_refused(self, parser: PrometheusAPI) -> None:
        """The parse check can fail: a query with an unbalanced parenthesis is refused with bad_data."""
        with pytest.raises(QueryError) as refused:
            parser.query("sum by (kind) (rate(alpr_alerts_total[1m])")
        assert refused.value.error_type == "bad_data"
