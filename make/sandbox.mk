# The sandbox: PostgreSQL + the Lambda emulator + a local WebSub hub, with Docker (docker-compose.yml) or without
# (embedded mode).
# Same commands either way; dev/sandbox/ picks the mode (SANDBOX=embedded|docker forces it).
# Ports and the sandbox dir come from the environment or .env (see .env.example).

.PHONY: up down status logs psql reset seed new-migration onboard

up: $(STAMP) ## Start the sandbox (PostgreSQL + emulator + WebSub hub); harmless when already up
	@$(PY) -m dev.sandbox up

down: $(STAMP) ## Stop the sandbox, keeping its data; harmless when stopped
	@$(PY) -m dev.sandbox down

status: $(STAMP) ## What runs where (database URL, Invoke API, API front, hub)
	@$(PY) -m dev.sandbox status

logs: $(STAMP) ## The emulator's, the hub's and PostgreSQL's logs (FOLLOW=1 to follow)
	@$(PY) -m dev.sandbox logs $(if $(filter 1,$(FOLLOW)),--follow)

psql: $(STAMP) ## psql on the sandbox database (PSQL_ARGS='-c "select 1"' for one command)
	@$(PY) -m dev.sandbox psql $(PSQL_ARGS)

reset: $(STAMP) ## Wipe the sandbox data after a confirmation (FORCE=1: no question)
	@$(PY) -m dev.sandbox reset $(if $(filter 1,$(FORCE)),--force)

seed: $(STAMP) ## Sample channels subscribed through the Lambda and videos notified through the hub (SEED_ARGS=--videos 9)
	@$(PY) -m dev.sandbox seed $(SEED_ARGS)

new-migration: $(STAMP) ## Autogenerate a revision from the models: make new-migration MSG="add videos.duration"
	@test -n "$(MSG)" || { echo 'usage: make new-migration MSG="what the revision changes"' >&2; exit 2; }
	@$(PY) -m dev.sandbox new-migration -m "$(MSG)"

onboard: $(STAMP) ## First day: check prerequisites, start the sandbox, migrate, seed, rehearse a rollback
	@$(PY) -m dev.onboard

# A sandbox moved off port 9000 (EMULATOR_PORT in the environment or .env) must still be what the invoke targets
# (make/emulator.mk) reach: they find the emulator through AWS_ENDPOINT_URL_LAMBDA when it is set. Scoped to those
# targets, so `make test` never sees it.
# .env is read by dev/env_file.py (python-dotenv, compose's rules), only when there is one.
SANDBOX_EMULATOR_PORT := $(or $(EMULATOR_PORT),$(if $(wildcard .env),$(shell $(PY) -m dev.env_file get EMULATOR_PORT 2>/dev/null)))
ifneq ($(SANDBOX_EMULATOR_PORT),)
invoke invoke-upgrade invoke-downgrade invoke-current subscribe renew: export AWS_ENDPOINT_URL_LAMBDA ?= http://127.0.0.1:$(SANDBOX_EMULATOR_PORT)
endif
