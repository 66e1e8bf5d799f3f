"""A real Prometheus for the dashboard tests, and the dashboards' queries as Grafana would send them.

The server itself is started by `promtool.prometheus` (free loopback port, throw-away TSDB, ready
check on /-/ready, a missing binary fails the test); this module writes its configuration, wraps
the HTTP query API, and turns Grafana panel targets into plain PromQL by substituting template
variables the way Grafana does before it queries the data source.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from promtool import Server, prometheus

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS_DIR = REPO / "dashboards"
RULES_DIR = REPO / "deploy" / "prometheus" / "rules"
WORKER_JOB = "alpr-monitor"
QUERY_TIMEOUT_S = 10.0

# Grafana's built-in interval variables, with values a dashboard could be opened with.
# $__rate_interval is at least four scrape intervals; 1m suits the tests' 1s scrapes and the
# shipped 15s ones alike. $__range is the dashboard's time range.
GRAFANA_BUILTINS: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

# $name, ${name}, ${name:format} and the deprecated [[name]].
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


class QueryError(AssertionError):
    """Prometheus refused a query (e.g. errorType bad_data for a PromQL syntax error)."""

    def __init__(self, expr: str, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}\n  query: {expr}")
        self.expr = expr
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class Sample:
    """One series of an instant-query result: its labels and value (NaN and ±Inf kept as floats)."""

    labels: dict[str, str]
    value: float


@dataclass(frozen=True)
class PrometheusAPI:
    """The HTTP API of a running Prometheus."""

    server: Server

    @property
    def url(self) -> str:
        return self.server.url

    def _get(self, path: str, params: Sequence[tuple[str, str]]) -> Any:
        response = httpx.get(f"{self.url}{path}", params=list(params), timeout=QUERY_TIMEOUT_S)
        body = response.json()
        if body.get("status") != "success":
            expr = dict(params).get("query", "")
            raise QueryError(expr, str(body.get("errorType")), str(body.get("error")))
        return body["data"]

    def query(self, expr: str) -> list[Sample]:
        """Evaluate `expr` as an instant query at the server's current time; raise QueryError if refused."""
        data = self._get("/api/v1/query", [("query", expr)])
        kind, result = data["resultType"], data["result"]
        if kind == "vector":
            return [Sample(item["metric"], float(item["value"][1])) for item in result]
        if kind == "scalar":
            return [Sample({}, float(result[1]))]
        if kind == "matrix":  # a range-vector selector as a whole query: report its last points
            return [Sample(item["metric"], float(item["values"][-1][1])) for item in result if item["values"]]
        return []

    def label_values(self, label: str, match: str) -> list[str]:
        """Values of `label` on series matching `match` (what Grafana's label_values() variable query asks)."""
        return list(self._get(f"/api/v1/label/{label}/values", [("match[]", match)]))

    def active_targets(self) -> list[dict[str, Any]]:
        return list(self._get("/api/v1/targets", [("state", "active")])["activeTargets"])


def write_config(
    workdir: Path,
    scrape_targets: Mapping[str, Sequence[str]],
    *,
    rule_files: Iterable[Path] = (),
    interval: str = "1s",
) -> Path:
    """Write a prometheus.yml scraping `scrape_targets` (job -> host:port list) every `interval`."""
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
            for job, addresses in scrape_targets.items()
        ],
    }
    path = workdir / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def running_prometheus(
    workdir: Path,
    scrape_targets: Mapping[str, Sequence[str]] | None = None,
    *,
    rule_files: Iterable[Path] = (),
    interval: str = "1s",
) -> Iterator[PrometheusAPI]:
    """Run the real Prometheus with a fresh config and TSDB under `workdir`; stopped on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(workdir, scrape_targets or {}, rule_files=rule_files, interval=interval)
    with prometheus(config, workdir) as server:
        yield PrometheusAPI(server)


def wait_until(
    check: Callable[[], str | None], timeout_s: float, *, poll_s: float = 0.5, what: str = "condition"
) -> None:
    """Call `check` until it returns None (done) or `timeout_s` passes; then fail with its last complaint."""
    deadline = time.monotonic() + timeout_s
    while True:
        complaint = check()
        if complaint is None:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what} not reached within {timeout_s:.0f}s: {complaint}")
        time.sleep(poll_s)


def finite(samples: Iterable[Sample]) -> list[Sample]:
    return [sample for sample in samples if math.isfinite(sample.value)]


# ---------------------------------------------------------------------------- dashboards


@dataclass(frozen=True)
class PanelQuery:
    """One target of one dashboard panel, before variable substitution."""

    dashboard: str
    panel_id: int
    panel: str
    ref_id: str
    expr: str

    @property
    def name(self) -> str:
        return f"{self.dashboard} #{self.panel_id} {self.panel!r} {self.ref_id}"


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS_DIR.glob("*.json"))


def load_dashboard(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel, including those nested in collapsed rows."""
    found: list[dict[str, Any]] = []
    for panel in dashboard.get("panels", []):
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    return [
        PanelQuery(str(dashboard["uid"]), int(panel["id"]), str(panel["title"]), str(target["refId"]), target["expr"])
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]


def all_panel_queries() -> list[PanelQuery]:
    return [query for path in dashboard_files() for query in panel_queries(load_dashboard(path))]


def variables_in(text: str) -> set[str]:
    """Names of the Grafana variables `text` refers to."""
    return {next(group for group in match.groups() if group) for match in _VARIABLE.finditer(text)}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace Grafana variables in `text` with `values` (plus the built-ins); an unknown one is an error."""
    known = {**GRAFANA_BUILTINS, **values}

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in known:
            raise KeyError(f"no value for Grafana variable ${name} in {text!r}")
        return known[name]

    return _VARIABLE.sub(replace, text)


def regex_value(values: Sequence[str]) -> str:
    """A multi-value variable as Grafana renders it for Prometheus: `(a|b)`, or the value itself when single."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"
