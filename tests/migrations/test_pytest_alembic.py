"""pytest-alembic's checks that answer questions the round trip does not, run against PostgreSQL inside an
application context (see conftest.py): one head, and models that match the schema at head.

Its ``test_upgrade`` and ``test_up_down_consistency`` are not run: the round trip (test_roundtrip.py) upgrades from
base to every revision and runs every downgrade, on a seeded database, and names the revision that fails; running
them too would fail twice for one cause.
"""

from __future__ import annotations

from pytest_alembic.tests import test_model_definitions_match_ddl as model_definitions_match_ddl
from pytest_alembic.tests import test_single_head_revision as single_head_revision
from sqlalchemy.engine import Connection

from tests.support.history_under_test import UpgradeFailure


def test_engine_is_postgresql(alembic_engine: Connection) -> None:
    """The built-ins silently pass on SQLite; make sure they ran where production runs."""
    assert alembic_engine.dialect.name == "postgresql"


def test_history_has_a_single_head(alembic_runner) -> None:
    single_head_revision(alembic_runner)


def test_models_match_the_schema_at_head(alembic_runner, upgrade_failure: UpgradeFailure | None) -> None:
    """A model changed without its revision (`make new-migration` writes it)."""
    if upgrade_failure is not None:
        upgrade_failure.skip_below()
    model_definitions_match_ddl(alembic_runner)
