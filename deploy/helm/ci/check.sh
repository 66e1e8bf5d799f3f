#!/usr/bin/env bash
# Check the chart offline, as CI does: helm lint --strict, then helm template validated by kubeconform
# (Kubernetes schemas from kubernetes-validate) and the CRD objects by the npm KEDA/Prometheus-operator models.
#   deploy/helm/ci/check.sh [KUBERNETES_VERSION] [helm template flags...]     (default version 1.33.0)
# Tools come from scripts/setup.sh --full: .tools/bin/{helm,kubeconform}, .tools/npm, .venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
chart="$root/deploy/helm/alpr-monitor"
tools="$root/.tools"
version="${1:-1.33.0}"
shift || true
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
crd_kinds=ScaledObject,ServiceMonitor,PrometheusRule

# helm reports each symlinked file (files/ links to the shipped rules, policy and endpoints); drop that noise.
quiet() { "$@" 2> >(grep -v 'found symbolic link' >&2); }
quiet "$tools/bin/helm" lint --strict "$chart" "$@"
quiet "$tools/bin/helm" template alpr-monitor "$chart" --namespace alpr-monitor --kube-version "$version" "$@" \
  >"$work/rendered.yaml"
"$root/.venv/bin/python" "$here/k8s_schemas.py" "$version" "$work/schemas" >/dev/null
"$tools/bin/kubeconform" -strict -summary -kubernetes-version "$version" -skip "$crd_kinds" \
  -schema-location "$work/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$work/rendered.yaml"
"$root/.venv/bin/python" -c '
import json, sys, yaml
kinds = set(sys.argv[1].split(","))
docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] in kinds]
print(json.dumps(docs))' "$crd_kinds" "$work/rendered.yaml" | node "$here/validate-crds.mjs" "$tools/npm"
