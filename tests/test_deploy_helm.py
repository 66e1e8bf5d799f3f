"""The Helm chart (deploy/helm/alpr-monitor): helm lint, helm template into kubeconform and the CRD models, offline."""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.kafka_security import load_kafka_security
from monitor.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "alpr-monitor"
CI = ROOT / "deploy" / "helm" / "ci"
TOOLS = ROOT / ".tools"
HELM = TOOLS / "bin" / "helm"
KUBECONFORM = TOOLS / "bin" / "kubeconform"
PYTHON = ROOT / ".venv" / "bin" / "python"
CRD_KINDS = ("ScaledObject", "ServiceMonitor", "PrometheusRule")
# The chart's kubeVersion floor and the newest schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ("1.27.0", "1.37.0")
NAMESPACE = "alpr-test"
# Secret settings of the shared contract (kafka-secure) that the chart may pass by file.
CONTRACT_FILE_VARS = {
    "ALPR_KAFKA_SASL_PASSWORD_FILE",
    "ALPR_KAFKA_SSL_CA_FILE",
    "ALPR_KAFKA_SSL_CERT_FILE",
    "ALPR_KAFKA_SSL_KEY_FILE",
    "ALPR_KAFKA_SSL_KEY_PASSWORD_FILE",
    "ALPR_PSEUDONYM_KEY_FILE",
}


def _helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, check=False)


def _template_text(*flags: str) -> str:
    proc = _helm("template", "alpr", str(CHART), "--namespace", NAMESPACE, *flags)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@cache
def _render(*flags: str) -> tuple[dict[str, Any], ...]:
    return tuple(doc for doc in yaml.safe_load_all(_template_text(*flags)) if doc)


def _one(docs: tuple[dict[str, Any], ...], kind: str, name: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _deployment(component: str, *flags: str) -> dict[str, Any]:
    return _one(_render(*flags), "Deployment", f"alpr-alpr-monitor-{component}")


def _container(component: str, *flags: str) -> dict[str, Any]:
    containers = _deployment(component, *flags)["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in container["env"]}


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Offline Kubernetes schemas per version, rewritten for kubeconform by deploy/helm/ci/k8s_schemas.py."""
    made = {}
    for version in KUBERNETES_VERSIONS:
        out = tmp_path_factory.mktemp(f"schemas-{version}")
        proc = subprocess.run(
            [str(PYTHON), str(CI / "k8s_schemas.py"), version, str(out)], capture_output=True, text=True, check=False
        )
        assert proc.returncode == 0, proc.stderr
        made[version] = out
    return made


def _kubeconform(text: str, schema_dir: Path, version: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    manifest = tmp_path / "rendered.yaml"
    manifest.write_text(text)
    return subprocess.run(
        [
            *(str(KUBECONFORM), "-strict", "-summary", "-output", "json", "-kubernetes-version", version),
            *("-skip", ",".join(CRD_KINDS)),
            *("-schema-location", f"{schema_dir}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"),
            str(manifest),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _validate_crds(docs: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(CI / "validate-crds.mjs"), str(TOOLS / "npm")],
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestChartLint:
    def test_helm_lint_strict_passes(self) -> None:
        """`helm lint --strict` finds no error or warning in the chart with its default values."""
        proc = _helm("lint", "--strict", str(CHART))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "[WARNING]" not in proc.stdout
        assert "[ERROR]" not in proc.stdout

    def test_values_schema_refuses_a_wrong_type(self) -> None:
        """values.schema.json makes helm refuse a partition count that is not a number."""
        proc = _helm("template", "alpr", str(CHART), "--set", "kafka.inputPartitions=many")
        assert proc.returncode != 0
        assert "inputPartitions" in proc.stderr

    def test_values_schema_refuses_a_misspelt_value(self) -> None:
        """A misspelt value (keda.maxReplicas for maxReplicaCount) is refused instead of silently ignored."""
        proc = _helm("template", "alpr", str(CHART), "--set", "keda.maxReplicas=3")
        assert proc.returncode != 0
        assert "'maxReplicas' not allowed" in proc.stderr

    def test_every_expected_object_is_rendered(self) -> None:
        """Deployments, Services, PDBs, NetworkPolicies, ConfigMaps, ServiceAccount and the CRD objects are there."""
        kinds = sorted(doc["kind"] for doc in _render())
        assert kinds == sorted(
            ["Deployment"] * 2 + ["Service"] * 2 + ["PodDisruptionBudget"] * 2 + ["NetworkPolicy"] * 2
            + ["ConfigMap"] * 2 + ["ServiceAccount", "ScaledObject", "ServiceMonitor", "PrometheusRule"]
        )  # fmt: skip


class TestChartSchemas:
    @pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
    def test_kubeconform_accepts_every_builtin_object(
        self, version: str, schemas: dict[str, Path], tmp_path: Path
    ) -> None:
        """kubeconform -strict validates every built-in object against that Kubernetes version's schemas, offline."""
        proc = _kubeconform(_template_text("--kube-version", version), schemas[version], version, tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        summary = json.loads(proc.stdout)["summary"]
        assert summary == {"valid": 11, "invalid": 0, "errors": 0, "skipped": 3}

    def test_kubeconform_accepts_a_minimal_install(self, schemas: dict[str, Path], tmp_path: Path) -> None:
        """Without KEDA, notifier, NetworkPolicy and Prometheus-operator objects the rest still validates."""
        flags = [
            f"--set={name}=false"
            for name in (
                "keda.enabled", "notifier.enabled", "networkPolicy.enabled",
                "serviceMonitor.enabled", "prometheusRule.enabled", "serviceAccount.create",
            )
        ]  # fmt: skip
        text = _template_text(*flags)
        kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(text) if doc)
        assert kinds == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
        proc = _kubeconform(text, schemas["1.37.0"], "1.37.0", tmp_path)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_check_script_runs_every_check(self) -> None:
        """deploy/helm/ci/check.sh (what an operator runs) lints, validates 11 objects and the 3 CRD objects."""
        proc = subprocess.run(
            [str(CI / "check.sh"), "1.33.0"], capture_output=True, text=True, timeout=300, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "1 chart(s) linted, 0 chart(s) failed" in proc.stdout
        assert "Valid: 11, Invalid: 0, Errors: 0, Skipped: 3" in proc.stdout
        assert proc.stdout.count(": valid") == 3

    def test_kubeconform_rejects_a_wrong_field(self, schemas: dict[str, Path], tmp_path: Path) -> None:
        """The same check fails on a security context whose read-only flag is a string (so it can fail)."""
        text = _template_text().replace("readOnlyRootFilesystem: true", 'readOnlyRootFilesystem: "yes"')
        proc = _kubeconform(text, schemas["1.37.0"], "1.37.0", tmp_path)
        assert proc.returncode != 0
        assert "readOnlyRootFilesystem" in proc.stdout

    def test_crd_objects_match_the_keda_and_prometheus_operator_schemas(self) -> None:
        """ScaledObject, ServiceMonitor and PrometheusRule validate against the npm CRD models."""
        docs = [doc for doc in _render() if doc["kind"] in CRD_KINDS]
        proc = _validate_crds(docs)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert sorted(proc.stdout.splitlines()) == sorted(
            f"{doc['kind']}/{doc['metadata']['name']}: valid" for doc in docs
        )

    def test_crd_models_reject_a_wrong_replica_count(self) -> None:
        """The CRD check fails on a ScaledObject whose maxReplicaCount is not an integer (so it can fail)."""
        scaled = json.loads(json.dumps(_one(_render(), "ScaledObject", "alpr-alpr-monitor-worker")))
        scaled["spec"]["maxReplicaCount"] = "six"
        proc = _validate_crds([scaled])
        assert proc.returncode != 0
        assert "maxReplicaCount must be integer" in proc.stdout


class TestChartSecurity:
    @pytest.mark.parametrize("component", ["worker", "notifier"])
    def test_pods_are_hardened(self, component: str) -> None:
        """Non-root, read-only root, every capability dropped, no privilege escalation, seccomp RuntimeDefault."""
        pod = _deployment(component)["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        context = _container(component)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}

    @pytest.mark.parametrize("component", ["worker", "notifier"])
    def test_probes_use_the_health_contract(self, component: str) -> None:
        """Liveness asks /healthz and readiness /readyz, on the port the process serves its metrics on."""
        container = _container(component)
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        port = {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"]
        env = _env(container)
        variable = "ALPR_METRICS_PORT" if component == "worker" else "ALPR_NOTIFY_METRICS_PORT"
        assert env[variable]["value"] == str(port)

    def test_secrets_are_passed_by_file_from_secret_volumes(self) -> None:
        """With mTLS and a CA set, every secret setting is a *_FILE path inside a mounted Secret volume."""
        flags = (
            "--set", "kafka.securityProtocol=SSL", "--set", "kafka.saslMechanism=",
            "--set", "kafka.credentials.saslUsernameKey=", "--set", "kafka.credentials.saslPasswordKey=",
            "--set", "kafka.credentials.clientCertKey=user.crt", "--set", "kafka.credentials.clientKeyKey=user.key",
            "--set", "kafka.ca.secretName=cluster-ca-cert",
        )  # fmt: skip
        pod = _deployment("worker", *flags)["spec"]["template"]["spec"]
        container = pod["containers"][0]
        env = _env(container)
        secret_volumes = {v["name"] for v in pod["volumes"] if "secret" in v}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        file_vars = {name for name in env if name.endswith("_FILE")}
        assert file_vars == {
            "ALPR_KAFKA_SSL_CERT_FILE", "ALPR_KAFKA_SSL_KEY_FILE", "ALPR_KAFKA_SSL_CA_FILE", "ALPR_PSEUDONYM_KEY_FILE",
        }  # fmt: skip
        assert file_vars <= CONTRACT_FILE_VARS
        for name in file_vars:
            directory = str(Path(env[name]["value"]).parent)
            assert mounts.get(directory) in secret_volumes, name
        assert env["ALPR_KAFKA_SECURITY_PROTOCOL"]["value"] == "SSL"

    def test_no_secret_value_is_written_into_the_manifests(self) -> None:
        """Passwords and the pseudonym key never appear as literal env values: only files or secret references."""
        for component in ("worker", "notifier"):
            env = _env(_container(component))
            for name in ("ALPR_KAFKA_SASL_PASSWORD", "ALPR_KAFKA_SSL_KEY_PASSWORD", "ALPR_PSEUDONYM_KEY"):
                assert name not in env, name
            assert "valueFrom" in env["ALPR_KAFKA_SASL_USERNAME"]
            assert env["ALPR_KAFKA_SASL_PASSWORD_FILE"]["value"].startswith("/var/run/secrets/alpr-monitor/")

    def test_sasl_user_name_can_be_a_plain_value(self) -> None:
        """kafka.saslUsername (Strimzi: the KafkaUser's name) replaces the Secret key; the password stays a file."""
        env = _env(_container("worker", "--set", "kafka.saslUsername=alpr-worker"))
        assert env["ALPR_KAFKA_SASL_USERNAME"] == {"name": "ALPR_KAFKA_SASL_USERNAME", "value": "alpr-worker"}
        assert "ALPR_KAFKA_SASL_PASSWORD_FILE" in env

    def test_network_policy_limits_the_worker(self) -> None:
        """The worker accepts only scrapes of its metrics port and talks only to DNS and the Kafka ports."""
        policy = _one(_render(), "NetworkPolicy", "alpr-alpr-monitor-worker")["spec"]
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        assert [rule["ports"] for rule in policy["ingress"]] == [[{"port": "metrics", "protocol": "TCP"}]]
        ports = sorted(port["port"] for rule in policy["egress"] for port in rule["ports"])
        assert ports == [53, 53, 9092, 9093]


class TestChartScaling:
    def test_keda_scales_the_worker_on_consumer_lag(self) -> None:
        """The ScaledObject targets the worker Deployment with a Prometheus trigger on alpr_consumer_lag_messages."""
        scaled = _one(_render(), "ScaledObject", "alpr-alpr-monitor-worker")["spec"]
        assert scaled["scaleTargetRef"]["name"] == "alpr-alpr-monitor-worker"
        (trigger,) = scaled["triggers"]
        assert trigger["type"] == "prometheus"
        assert "alpr_consumer_lag_messages" in trigger["metadata"]["query"]
        assert f'namespace="{NAMESPACE}"' in trigger["metadata"]["query"]
        assert scaled["maxReplicaCount"] <= 6  # the default kafka.inputPartitions

    def test_keda_owns_the_replica_count(self) -> None:
        """With KEDA on the Deployment sets no replicas (KEDA does); with KEDA off it sets worker.replicas."""
        assert "replicas" not in _deployment("worker")["spec"]
        assert _deployment("worker", "--set", "keda.enabled=false")["spec"]["replicas"] == 2

    @pytest.mark.parametrize(
        ("flags", "message"),
        [
            (("--set", "keda.maxReplicaCount=7"), "keda.maxReplicaCount (7) is above kafka.inputPartitions (6)"),
            (
                ("--set", "kafka.inputPartitions=3", "--set", "keda.maxReplicaCount=4"),
                "keda.maxReplicaCount (4) is above kafka.inputPartitions (3)",
            ),
            (
                ("--set", "keda.enabled=false", "--set", "worker.replicas=9"),
                "worker.replicas (9) is above kafka.inputPartitions (6)",
            ),
        ],
    )
    def test_refuses_more_workers_than_partitions(self, flags: tuple[str, ...], message: str) -> None:
        """helm template fails, naming both numbers, when more workers than input partitions are asked for."""
        proc = _helm("template", "alpr", str(CHART), *flags)
        assert proc.returncode != 0
        assert message in proc.stderr

    def test_as_many_workers_as_partitions_is_allowed(self) -> None:
        """maxReplicaCount equal to the partition count renders."""
        scaled = _one(
            _render("--set", "kafka.inputPartitions=12", "--set", "keda.maxReplicaCount=12"),
            "ScaledObject",
            "alpr-alpr-monitor-worker",
        )
        assert scaled["spec"]["maxReplicaCount"] == 12

    def test_pdbs_allow_one_pod_at_a_time(self) -> None:
        """Each component's PodDisruptionBudget lets one pod go at a time, selecting that component's pods."""
        for component in ("worker", "notifier"):
            pdb = _one(_render(), "PodDisruptionBudget", f"alpr-alpr-monitor-{component}")["spec"]
            assert pdb["maxUnavailable"] == 1
            assert pdb["selector"]["matchLabels"]["app.kubernetes.io/component"] == component


class TestChartMonitoring:
    def test_prometheus_rule_is_the_shipped_rules(self) -> None:
        """The PrometheusRule's groups are exactly the groups of deploy/prometheus/rules/*.yml, unchanged."""
        shipped = []
        for path in sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml")):
            shipped.extend(yaml.safe_load(path.read_text())["groups"])
        rule = _one(_render(), "PrometheusRule", "alpr-alpr-monitor")
        assert rule["spec"]["groups"] == shipped

    def test_service_monitor_gives_the_job_name_the_rules_use(self) -> None:
        """ServiceMonitor's jobLabel reads a Service label whose value is the job the rules watch (alpr-monitor)."""
        monitor = _one(_render(), "ServiceMonitor", "alpr-alpr-monitor")["spec"]
        service = _one(_render(), "Service", "alpr-alpr-monitor-worker")
        assert service["metadata"]["labels"][monitor["jobLabel"]] == "alpr-monitor"
        assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
        assert all(item in service["metadata"]["labels"].items() for item in monitor["selector"]["matchLabels"].items())

    def test_policy_config_map_defaults_to_the_shipped_policy(self, tmp_path: Path) -> None:
        """The policy ConfigMap holds monitor/default-policy.yaml unless a policy file is given with --set-file."""
        default = _one(_render(), "ConfigMap", "alpr-alpr-monitor-policy")["data"]["policy.yaml"]
        assert yaml.safe_load(default) == yaml.safe_load((ROOT / "monitor" / "default-policy.yaml").read_text())
        own = tmp_path / "policy.yaml"
        own.write_text("version: test-policy\nowners: []\n")
        custom = _one(_render("--set-file", f"policy={own}"), "ConfigMap", "alpr-alpr-monitor-policy")
        assert yaml.safe_load(custom["data"]["policy.yaml"]) == {"version": "test-policy", "owners": []}
        worker_env = _env(_container("worker"))
        assert worker_env["ALPR_POLICY_PATH"]["value"] == "/etc/alpr-monitor/policy/policy.yaml"


# Chart values for the connections operators use, and the protocol the worker must end up with.
KAFKA_VARIANTS = {
    "sasl-scram": ((), "SASL_SSL"),
    "strimzi-scram": (
        ("--set", "kafka.saslUsername=alpr-worker", "--set", "kafka.ca.secretName=my-cluster-cluster-ca-cert"),
        "SASL_SSL",
    ),
    "mtls": (
        (
            "--set",
            "kafka.securityProtocol=SSL",
            "--set",
            "kafka.credentials.clientCertKey=user.crt",
            "--set",
            "kafka.credentials.clientKeyKey=user.key",
            "--set",
            "kafka.ca.secretName=cluster-ca",
        ),
        "SSL",
    ),
    "plaintext": (("--set", "kafka.securityProtocol=PLAINTEXT"), "PLAINTEXT"),
}


class TestChartKafkaSettings:
    @pytest.mark.parametrize("variant", KAFKA_VARIANTS)
    def test_worker_settings_load_from_the_rendered_pod(
        self, variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The env the chart renders loads with the project's own settings, secrets read from the mounted files."""
        flags, protocol = KAFKA_VARIANTS[variant]
        pod = _deployment("worker", *flags)["spec"]["template"]["spec"]
        mounted = {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]}
        for name in [name for name in os.environ if name.startswith("ALPR_")]:
            monkeypatch.delenv(name)
        for item in pod["containers"][0]["env"]:
            value = item.get("value") or f"from-secret-{item['valueFrom']['secretKeyRef']['key']}"
            if value.startswith("/var/run/secrets/"):
                assert str(Path(value).parent) in mounted, item["name"]
                # The Secret's file, as the kubelet would write it, under a test directory.
                value = str(tmp_path / value.removeprefix("/"))
                Path(value).parent.mkdir(parents=True, exist_ok=True)
                Path(value).write_text("secret-file-content-0123456789\n")
            monkeypatch.setenv(item["name"], value)
        security = load_kafka_security()
        assert security.security_protocol == protocol
        assert Settings().pseudonym_key is not None

    def test_plaintext_mounts_no_kafka_secret(self) -> None:
        """With PLAINTEXT the pod neither names nor mounts a Kafka credentials Secret that may not exist."""
        pod = _deployment("worker", "--set", "kafka.securityProtocol=PLAINTEXT")["spec"]["template"]["spec"]
        assert {v["name"] for v in pod["volumes"]} == {"pseudonym-key", "tmp", "policy", "data"}
        assert [e["name"] for e in pod["containers"][0]["env"] if e["name"].startswith("ALPR_KAFKA_")] == [
            "ALPR_KAFKA_SECURITY_PROTOCOL"
        ]
