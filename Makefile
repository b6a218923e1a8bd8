# One target per thing a person does. `make help` lists them.
# Area-specific targets live in make/*.mk and are included below.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_SYSTEM ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup test lint bench

BENCH_ROWS ?= 1000000

help: ## List the make targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

setup: $(STAMP) ## Create .venv and install pinned dependencies (idempotent)

test: $(STAMP) ## Run the whole test suite on real PostgreSQL (the README's test command)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP) ## Every figure in one table from one run (invoke paths, round trips, make up, locks at BENCH_ROWS)
	$(PY) -m dev.bench --rows $(BENCH_ROWS)

lint: $(STAMP) ## ruff on the code
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# In the order `make help` lists them: daily sandbox work first.
include $(addprefix make/,sandbox.mk emulator.mk migrations.mk websub.mk reliability.mk parity.mk)
