"""The evaluation stack (deploy/compose): validated by docker-compose itself, its Prometheus config by promtool."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.events import decode_event
from monitor.notify.config import load_endpoints, resolve_endpoints
from streams.sample import sample_messages

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
# The fixed "now" sample.jsonl was written for (streams/sample.py builds its times back from it).
SAMPLE_NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
OWN_IMAGE_SERVICES = ("worker", "notifier", "sample-loader")


def _compose_config(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker-compose", "--project-directory", str(COMPOSE_DIR), "-f", str(path), "config", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def resolved() -> dict[str, Any]:
    """The compose file as docker-compose resolves it (anchors merged, paths made absolute)."""
    proc = _compose_config(COMPOSE_FILE)
    assert proc.returncode == 0, proc.stderr
    config: dict[str, Any] = yaml.safe_load(proc.stdout)
    return config


class TestComposeFile:
    def test_docker_compose_validates_it(self) -> None:
        """`docker-compose config -q` accepts the file."""
        proc = _compose_config(COMPOSE_FILE, "-q")
        assert proc.returncode == 0, proc.stderr

    def test_docker_compose_rejects_a_broken_copy(self, tmp_path: Path) -> None:
        """The same validation refuses an unknown service key (so the check above can fail)."""
        broken = tmp_path / "compose.yaml"
        broken.write_text(COMPOSE_FILE.read_text().replace("  worker:\n", "  worker:\n    replicas_typo: 2\n", 1))
        proc = _compose_config(broken, "-q")
        assert proc.returncode != 0
        assert "replicas_typo" in proc.stderr

    def test_has_every_component(self, resolved: dict[str, Any]) -> None:
        """Broker, worker, notifier, Prometheus, Alertmanager, Grafana and the sample loader are all there."""
        assert set(resolved["services"]) >= {
            "kafka", "topics", "worker", "notifier", "prometheus", "alertmanager", "grafana", "sample-loader",
        }  # fmt: skip

    def test_every_mounted_file_exists(self, resolved: dict[str, Any]) -> None:
        """Each bind mount points at a file or directory of the repository (shipped rules, routes, dashboards)."""
        # docker-compose v1 prints short syntax, SOURCE:TARGET[:MODE], with bind sources made absolute.
        binds = [
            volume.split(":", 1)[0]
            for service in resolved["services"].values()
            for volume in service.get("volumes", [])
            if volume.startswith("/")
        ]
        assert binds
        missing = [source for source in binds if not Path(source).exists()]
        assert not missing

    def test_own_image_runs_hardened(self, resolved: dict[str, Any]) -> None:
        """Worker, notifier and loader run read-only, non-root, with every capability dropped."""
        for name in OWN_IMAGE_SERVICES:
            service = resolved["services"][name]
            assert service["read_only"] is True, name
            assert service["user"] == "10001:10001", name
            assert service["cap_drop"] == ["ALL"], name
            assert "no-new-privileges:true" in service["security_opt"], name

    def test_topics_have_partitions_for_scaling(self, resolved: dict[str, Any]) -> None:
        """The topic job creates the input topic with more than one partition, so workers can be scaled out."""
        script = " ".join(resolved["services"]["topics"]["command"])
        assert "alpr.access-events" in script
        assert "--partitions 3" in script


class TestComposePrometheus:
    def test_promtool_checks_config_and_shipped_rules(self, tmp_path: Path) -> None:
        """promtool accepts the compose Prometheus config with the shipped rule files laid out as mounted."""
        shutil.copy(COMPOSE_DIR / "prometheus.yml", tmp_path / "prometheus.yml")
        shutil.copytree(ROOT / "deploy" / "prometheus" / "rules", tmp_path / "rules")
        proc = subprocess.run(
            ["promtool", "check", "config", str(tmp_path / "prometheus.yml")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        shipped = len(list((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")))
        assert f"SUCCESS: {shipped} rule files found" in proc.stdout  # every shipped rule file is loaded

    def test_scrapes_the_job_the_rules_watch(self) -> None:
        """The worker is scraped under job "alpr-monitor", the job the pipeline rules alert on."""
        config = yaml.safe_load((COMPOSE_DIR / "prometheus.yml").read_text())
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert jobs["alpr-monitor"]["static_configs"][0]["targets"] == ["worker:9464"]
        rules = (ROOT / "deploy" / "prometheus" / "rules" / "pipeline.yml").read_text()
        assert 'job="alpr-monitor"' in rules


class TestSampleLoader:
    def test_sample_file_is_the_builtin_sample(self) -> None:
        """sample.jsonl is the demo's sample (less its deliberately broken message), as streams/sample.py makes it."""
        expected = [m.value.decode() for m in sample_messages(SAMPLE_NOW) if m.expect != ("dlq",)]
        assert (COMPOSE_DIR / "sample.jsonl").read_text().splitlines() == expected

    def test_every_sample_line_is_a_valid_event(self) -> None:
        """Each line decodes with the strict v1 model, so `produce` sends all of them."""
        lines = (COMPOSE_DIR / "sample.jsonl").read_bytes().splitlines()
        assert len({decode_event(line).event_id for line in lines}) == len(lines)


class TestComposeNotifier:
    def test_endpoints_file_resolves_with_the_compose_environment(self, resolved: dict[str, Any]) -> None:
        """The notifier's endpoints file loads, and every variable it names is set by the compose file."""
        endpoints = load_endpoints(COMPOSE_DIR / "notifier" / "endpoints.yaml")
        environment = {key: str(value) for key, value in resolved["services"]["notifier"]["environment"].items()}
        receivers = resolve_endpoints(endpoints, environment)
        assert [receiver.endpoint.name for receiver in receivers] == ["evaluation-webhook"]
