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

# Debian packages the pond and the suite run for real: `command -v` name -> package.
SYSTEM_TOOLS := prometheus:prometheus chromium:chromium

.PHONY: env system-deps demo up test test-fast lint format bench clean help
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

system-deps: ## install the Debian packages the pond needs (prometheus, chromium) when missing; needs root
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

demo: env system-deps ## run the main job on a fresh local pond, then exit
	$(BIN)/koipond demo

up: env system-deps ## start a local pond and keep it running (Ctrl-C stops it)
	$(BIN)/koipond up

test: env system-deps ## the whole suite: unit, integration, e2e (a real local pond, real Prometheus)
	$(BIN)/pytest tests

test-fast: env ## unit tests only
	$(BIN)/pytest tests/unit -q

lint: env ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

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
	@status=0; for b in bench/bench_throughput.py bench/bench_idle_koi.py bench/bench_scale.py; do \
	  echo "== $$b"; $(BIN)/python $$b || status=1; done; exit $$status

clean: ## remove the environment and local pond state
	rm -rf $(VENV) $(TOOLS) .pond .pytest_cache .mypy_cache .ruff_cache
