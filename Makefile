# One target per thing a person does. `make help` lists them.
# Area-specific targets live in make/*.mk and are included below.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYSTEM ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Bytecode is cached under .venv/pycache, never written into the checkout (nor shipped by `zappa package`), and
# compiled lazily: only what runs is compiled, once. The emulator hands the same prefix to its workers.
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

.PHONY: help setup test lint bench

BENCH_ROWS ?= 1000000

help: ## List the make targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

# uv installs the pinned files in seconds (pip takes ~40 s on a cold cache). The venv is created without pip (saves
# ~5 s). uv at UV_VERSION (also pinned in requirements-dev.txt and as the Dockerfile's UV_VERSION) is taken from
# .venv or PATH, else bootstrapped into .venv with the system's pip; if uv cannot be had or fails, pip (ensurepip)
# installs the same pins. Bytecode is not compiled at install (13 s for every file of every package): Python caches
# what it imports under PYTHONPYCACHEPREFIX (above) the first time.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
PIP_QUIET := --quiet --disable-pip-version-check

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON_SYSTEM) -m venv --without-pip $(VENV)
	@uv=; for candidate in $(UV) "$$(command -v uv)"; do \
		if test -x "$$candidate" && "$$candidate" --version 2>/dev/null | grep -qE '^uv $(UV_VERSION)( |$$)'; then \
			uv=$$candidate; break; fi; done; \
	if test -z "$$uv"; then \
		{ $(PYTHON_SYSTEM) -m pip --python $(PY) install $(PIP_QUIET) 'uv==$(UV_VERSION)' 2>/dev/null || \
		  { $(PY) -m ensurepip --default-pip >/dev/null && $(PY) -m pip install $(PIP_QUIET) 'uv==$(UV_VERSION)'; }; \
		} && uv=$(UV); fi; \
	if test -n "$$uv" && "$$uv" pip install --quiet --python $(PY) -r requirements-dev.txt; then :; \
	else \
		echo 'setup: uv $(UV_VERSION) was unavailable or failed; installing the same pins with pip (slower)' >&2; \
		{ $(PY) -m pip --version >/dev/null 2>&1 || $(PY) -m ensurepip --default-pip >/dev/null; } && \
		$(PY) -m pip install $(PIP_QUIET) -r requirements-dev.txt || \
		{ echo 'setup: installing needs the network the first time (PyPI, or your PIP_INDEX_URL): run `make setup` once online' >&2; exit 1; }; \
	fi
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install pinned dependencies with uv (pip as the fallback; idempotent)

test: $(STAMP) ## Run the whole test suite on real PostgreSQL (the README's test command)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP) ## Every figure in one table from one run (invoke paths, round trips, make up, locks at BENCH_ROWS)
	$(PY) -m dev.bench --rows $(BENCH_ROWS)

lint: $(STAMP) ## ruff on the code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# In the order `make help` lists them: daily sandbox work first.
include $(addprefix make/,sandbox.mk emulator.mk migrations.mk websub.mk reliability.mk parity.mk)
