#!/usr/bin/env bash
# Sets up everything the project needs on a fresh machine; fast no-op when already done.
#   scripts/setup.sh          Python environment (.venv) with the project and its dev tools
#   scripts/setup.sh --full   also the real components the tests use: Kafka jars, Prometheus, Alertmanager,
#                             LibreOffice (prints test audits to PDF)
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
if [ ! -x .venv/bin/python ] && ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  # Debian ships venv/ensurepip separately.
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv >/dev/null
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  rm -f .venv/.installed-* && touch "$stamp"
fi

if [ "${1:-}" = "--full" ]; then
  missing=()
  command -v promtool >/dev/null || missing+=(prometheus)
  command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
  command -v openssl >/dev/null || missing+=(openssl)  # certificates of the secured test broker
  # LibreOffice prints the test audits to PDF as records offices do (tests/test_ingest_pdf.py).
  command -v soffice >/dev/null || missing+=(libreoffice-calc-nogui fonts-liberation2)
  if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    # The Debian packages start system services; the tests run their own instances.
    $sudo systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true
  fi
  deploy/kafka/fetch.sh
fi

# Deploy checks (tests/test_deploy_*.py): podman, buildah and mmdebstrap build and run the image; docker-compose
# (v1) validates the compose file; systemd-analyze scores the units; helm and kubeconform (Go module proxy)
# and the KEDA / Prometheus-operator CRD models (npm) check the chart, all under the gitignored .tools/.
if [ "${1:-}" = "--full" ]; then
  deploy_missing=()
  for tool in podman:podman runc:runc buildah:buildah mmdebstrap:mmdebstrap docker-compose:docker-compose \
              systemd-analyze:systemd node:nodejs npm:npm; do
    command -v "${tool%%:*}" >/dev/null || deploy_missing+=("${tool#*:}")
  done
  go=$(command -v go || echo /usr/local/go/bin/go)
  [ -x "$go" ] || { deploy_missing+=(golang-go); go=/usr/bin/go; }
  if [ ${#deploy_missing[@]} -gt 0 ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${deploy_missing[@]}" >/dev/null
  fi
  tools="$PWD/.tools"
  mkdir -p "$tools/bin" "$tools/npm"
  # Each tool is rebuilt only when its pinned version changes (a stamp next to the binary).
  go_tool() {  # name module version
    [ "$(cat "$tools/bin/.$1-version" 2>/dev/null)" = "$3" ] && [ -x "$tools/bin/$1" ] && return 0
    echo "setup: building $1 $3 (helm takes a few minutes once)" >&2
    GOBIN="$tools/bin" GOTOOLCHAIN=auto "$go" install "$2@$3" \
      || { echo "setup: 'go install $2@$3' failed; helm 4 needs Go 1.24 or newer ($("$go" version))" >&2; exit 1; }
    echo "$3" >"$tools/bin/.$1-version"
  }
  go_tool helm helm.sh/helm/v4/cmd/helm v4.3.2
  go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform v0.8.0
  crd_models="@kubernetes-models/keda@2.0.0 @kubernetes-models/prometheus-operator@6.0.0"
  if [ "$(cat "$tools/npm/.installed" 2>/dev/null)" != "$crd_models" ]; then
    # shellcheck disable=SC2086  # the list is meant to split into packages
    npm install --silent --no-audit --no-fund --prefix "$tools/npm" $crd_models >/dev/null
    echo "$crd_models" >"$tools/npm/.installed"
  fi
fi
