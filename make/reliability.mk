# The fault and load suite (tests/reliability): real emulator processes, real HTTP on 127.0.0.1, real PostgreSQL.
# `make test` runs its fast variants; the heavy ones are marked `slow` and run here.

.PHONY: reliability soak

reliability: $(STAMP) ## Fault and load suite, fast variants (concurrent upgrades, failing revision, outages, bad inputs)
	$(PY) -m pytest tests/reliability -m "not slow" $(PYTEST_ARGS)

soak: $(STAMP) ## Heavy variants: 16 envs x 5 rounds of concurrent upgrades, 100 calls/10 crashes, fuzzing, real zappa package
	$(PY) -m pytest tests/reliability tests/parity -m slow $(PYTEST_ARGS)
