# Migration proof kit: the checks of the team's history (tests/migrations), squawk lint, measured locks, rehearsals.
# The kit's own tests (tests/migration_kit: fixture histories, bad revisions, the developer workflow) run in make test.
# MIGRATIONS_DIR=/path points the checks and the lint at another migrations directory.

ROWS ?= 1000000
BUDGET_MS ?= 100
MIGRATION_SQL_DIR ?= build/migration-sql
SINCE ?=
MIGRATIONS_DIR ?=

_MIGRATIONS_ENV := $(if $(MIGRATIONS_DIR),MIGRATIONS_DIR=$(abspath $(MIGRATIONS_DIR)))
_MIGRATIONS_ARG := $(if $(MIGRATIONS_DIR),--migrations-dir $(abspath $(MIGRATIONS_DIR)))

# `make rehearse STAGE=production ROWS=1000000`: STAGE names whose limits apply (production unless given here).
REHEARSE_STAGE := $(if $(filter command line environment,$(origin STAGE)),$(STAGE),production)
POINTS ?= 3
TIMEOUT ?=

.PHONY: check-migrations migration-lint migration-sql lock-report migration-history rehearse rehearse-deploy

check-migrations: $(STAMP) ## Check the team's history: data round trip per revision, pytest-alembic, squawk, the Lambda path
	$(_MIGRATIONS_ENV) $(PY) -m pytest -p no:xdist -m "not slow" tests/migrations -q $(PYTEST_ARGS)

migration-lint: $(STAMP) ## squawk (.squawk.toml) on each revision's offline SQL, both directions, against the allowlist
	$(PY) -m dev.migration_lint $(_MIGRATIONS_ARG)

migration-sql: $(STAMP) ## Write each revision's offline SQL to build/migration-sql (SINCE=origin/main: changed ones only)
	rm -rf $(MIGRATION_SQL_DIR)
	$(PY) -m dev.migration_lint --sql-only --out-dir $(MIGRATION_SQL_DIR) $(_MIGRATIONS_ARG) $(if $(SINCE),--changed-since $(SINCE))

lock-report: $(STAMP) ## Measure blocking locks per revision on ROWS rows (default 1000000; fails over BUDGET_MS=100)
	$(PY) -m dev.lock_report --rows $(ROWS) --budget-ms $(BUDGET_MS) $(_MIGRATIONS_ARG)

rehearse: $(STAMP) ## Will each revision fit STAGE's Lambda (default production) at ROWS rows? Table, projection, chart (TIMEOUT=s: a kill)
	$(PY) -m dev.rehearse --stage $(REHEARSE_STAGE) --rows $(ROWS) --points $(POINTS) $(if $(TIMEOUT),--timeout-seconds $(TIMEOUT)) $(_MIGRATIONS_ARG)

migration-history: $(STAMP) ## Regenerate README.md's migration history table from migrations/versions (make new-migration does it)
	$(PY) -m dev.migration_history

# `make rehearse-deploy [BASE=ref] [ORDER=update-first|migrate-first] [RATE=20] [LONG_TX=0] [ROWS=2000] [HOLD=5]`:
# the working tree deployed over BASE (default: the merge base with main, else HEAD~1) under traffic. ROWS defaults
# to 2,000 here (the table sizes that matter are `make rehearse`'s); a ROWS given on the command line applies.
DEPLOY_ROWS := $(if $(filter command line environment,$(origin ROWS)),$(ROWS),2000)
ORDER ?= update-first
RATE ?= 20
LONG_TX ?= 0
HOLD ?= 5

rehearse-deploy: $(STAMP) ## Rehearse the deploy under traffic: update, migrate, rollback (BASE= ORDER= RATE= LONG_TX= ROWS=)
	$(PY) -m dev.rehearse_deploy $(if $(BASE),--base $(BASE)) --order $(ORDER) --rate $(RATE) --long-tx $(LONG_TX) --rows $(DEPLOY_ROWS) --hold $(HOLD)
