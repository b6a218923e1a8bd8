# The local Lambda emulator (dev/emulator) and its fast invoke client (dev/invoke.py).
# STAGE picks the zappa_settings.json stage; the client finds the emulator through the stage's
# aws_endpoint_urls.lambda, or AWS_ENDPOINT_URL_LAMBDA when set.

STAGE ?= local
EMULATOR_ARGS ?=

.PHONY: emulator invoke invoke-upgrade invoke-downgrade invoke-current bench-invoke

emulator: $(STAMP) ## Run the Lambda emulator in the foreground (Invoke API :9000, API front :8000; EMULATOR_ARGS=...)
	$(PY) -m dev.emulator --stage $(STAGE) $(EMULATOR_ARGS)

invoke: $(STAMP) ## Invoke a function like `zappa invoke`: make invoke FN=run.run_alembic_current [PAYLOAD='{"k": 1}']
	@test -n "$(FN)" || { echo "usage: make invoke FN=module.function [PAYLOAD='{...}'] [STAGE=local]" >&2; exit 2; }
	@$(PY) -m dev.invoke --stage $(STAGE) $(FN) $(if $(PAYLOAD),--payload '$(PAYLOAD)')

invoke-upgrade: $(STAMP) ## Upgrade the schema through the emulator (REV=head by default)
	@$(PY) -m dev.invoke --stage $(STAGE) run.run_alembic_upgrade $(if $(REV),--payload '{"revision": "$(REV)"}')

invoke-downgrade: $(STAMP) ## Downgrade the schema through the emulator (REV=-1 by default, or base / a revision id)
	@$(PY) -m dev.invoke --stage $(STAGE) run.run_alembic_downgrade $(if $(REV),--payload '{"revision": "$(REV)"}')

invoke-current: $(STAMP) ## Show the database's current revision through the emulator
	@$(PY) -m dev.invoke --stage $(STAGE) run.run_alembic_current

bench-invoke: $(STAMP) ## Benchmark: warm/cold invoke vs make invoke-upgrade, flask db upgrade, zappa invoke (needs DATABASE_URL)
	$(PY) -m dev.bench_invoke $(BENCH_ARGS)

.PHONY: emulator-smoke
# MANAGE and RAW reach the command through the environment ("$$RAW"), so quotes and semicolons in them survive.
emulator-smoke: $(STAMP) ## Rehearse any Zappa project: make emulator-smoke PROJECT=path [FN=module.function MANAGE=migrate RAW='code' API_PATH=/ SETTINGS=sub/zappa_settings.json]
	@test -n "$(PROJECT)" || { echo "usage: make emulator-smoke PROJECT=path [STAGE=local] [SETTINGS=file] [FN=module.function [PAYLOAD='{...}']] [API_PATH=/] [MANAGE='migrate'] [RAW='python code']" >&2; echo "first, once: $(PY) -m dev.emulator init-stage --project-dir PATH --extends dev" >&2; exit 2; }
	$(PY) -m dev.emulator.smoke --project "$(PROJECT)" --stage $(STAGE) $(if $(FN),--function "$(FN)") $(if $(SETTINGS),--settings "$(SETTINGS)") $(if $(API_PATH),--api-path "$(API_PATH)") $(if $(PAYLOAD),--payload '$(PAYLOAD)') $(if $(MANAGE),--manage "$$MANAGE") $(if $(RAW),--raw "$$RAW")
