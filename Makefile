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
# ... even where the shell says PYTHONDONTWRITEBYTECODE: that setting keeps bytecode out of checkouts, and this prefix
# already does. Without a cache every pytest process (each xdist worker, each emulator worker) compiles every module
# it imports again: about 5 s a process for the suite's collection alone.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup test test-fast test-docker test-all lint bench

BENCH_ROWS ?= 1000000
BENCH_PARTS ?=  # e.g. checks,suite: check-migrations, then test-fast and make test timed whole

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

# Tiers by cost (tests/support/tiers.py): unit (no server), db (one PostgreSQL), emulator (emulator processes),
# docker (a Docker engine). pytest-xdist runs WORKERS processes, each with its own PostgreSQL cluster, stealing work
# from each other: one more than the cores by default, as the emulator tier waits on processes, sockets and sleeps as
# much as it computes (measured in README.md, "What the tests prove"); WORKERS=0 runs in this process (pdb, -x).
# The docker tier shares one compose stack per process, so it runs in one process. PYTEST_ARGS go to every run
# (e.g. PYTEST_ARGS="-k seed --durations=15").
WORKERS ?= $(shell $(PYTHON_SYSTEM) -c 'import os; print((os.cpu_count() or 1) + 1)')
_XDIST = $(if $(filter 0,$(WORKERS)),-p no:xdist,-n $(WORKERS) --dist worksteal)

test: $(STAMP) ## The README's test command: the unit, db and emulator tiers, in parallel (the docker tier: make test-docker)
	$(PY) -m pytest $(_XDIST) -m "not slow and not docker" $(PYTEST_ARGS)

test-fast: $(STAMP) ## The fast loop: the unit and db tiers only (no emulator, no Docker)
	$(PY) -m pytest $(_XDIST) -m "(unit or db) and not slow" $(PYTEST_ARGS)

test-docker: $(STAMP) ## The docker tier: the Docker-mode sandbox on a real engine (skips with the reason without one)
	$(PY) -m pytest -p no:xdist -m "docker and not slow" $(PYTEST_ARGS)

test-all: test test-docker ## Every tier but the slow variants (what CI runs, with make check-migrations)

bench: $(STAMP) ## Every figure in one table from one run (invoke paths, round trips, make up, locks, check-migrations)
	$(PY) -m dev.bench --rows $(BENCH_ROWS) $(if $(BENCH_PARTS),--parts $(BENCH_PARTS))

lint: $(STAMP) ## ruff on the code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# In the order `make help` lists them: daily sandbox work first.
include $(addprefix make/,sandbox.mk emulator.mk migrations.mk websub.mk reliability.mk parity.mk)
