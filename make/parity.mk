# Production parity: the real Lambda package (zappa package), unpacked read-only and run by the emulator.
# PACKAGE_STAGE picks the zappa_settings.json stage; DATABASE_URL (a server you own) or an embedded PostgreSQL.

PACKAGE_STAGE ?= dev
PACKAGE_CHECK_ARGS ?=

.PHONY: package-check

package-check: $(STAMP) ## Build the Lambda zip (zappa package PACKAGE_STAGE=dev), run it read-only, migrate a scratch DB to head
	$(PY) -m dev.package_check --stage $(PACKAGE_STAGE) $(PACKAGE_CHECK_ARGS)
