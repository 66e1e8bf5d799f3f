# The two commands the README starts with: `make demo` and `make test`.
.PHONY: setup setup-full demo test lint typecheck policy schemas bench

setup:
	@scripts/setup.sh

setup-full:
	@scripts/setup.sh --full

demo: setup
	.venv/bin/alpr-monitor demo --once

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

typecheck: setup
	.venv/bin/mypy

policy: setup
	.venv/bin/alpr-monitor policy lint --policy monitor/default-policy.yaml
	.venv/bin/alpr-monitor policy test

schemas: setup
	.venv/bin/alpr-monitor schema --out schemas

test: setup-full lint typecheck policy
	.venv/bin/pytest

bench: setup-full
	.venv/bin/python bench/run_benchmarks.py
