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
