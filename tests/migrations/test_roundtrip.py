"""Data round trip and exact schema restore, for every revision of the history under test (the first check).

Per revision: seed every table at its parent, upgrade, downgrade, upgrade again (tests/support/migration_roundtrip.py).
The first line of a failure names the problem and the revision: "data loss: ..." for a loss the revision does not
declare in migrations/policy.toml, "revision X: upgrade failed on a database seeded with rows ..." with the fix
for a revision that only works on empty tables, then a downgrade that does not restore the schema or the data.

This is the one check of downgrade fidelity: the catalog snapshot sees what Alembic's autogenerate diff misses (enum
types, sequences, index details) and every downgrade runs here on a seeded database, so neither pytest-alembic's
``test_up_down_consistency`` nor a downgrade-leaves-no-trace check is run as well.
"""

from __future__ import annotations

import pytest

from dev import migration_policy
from tests.support.fixture_history import PROJECT_MIGRATIONS, chain_of
from tests.support.history_under_test import UpgradeFailure, migrations_dir, revisions
from tests.support.migration_roundtrip import RoundTripError, roundtrip
from tests.support.shipped_history import AFTER_UPGRADE


@pytest.mark.parametrize(("revision", "down_revision"), revisions(), ids=[r for r, _ in revisions()])
def test_round_trip_keeps_schema_and_data(
    migrations_app, upgrade_failure: UpgradeFailure | None, revision: str, down_revision: str | None
) -> None:
    if upgrade_failure is not None:
        upgrade_failure.skip_below(revision)
    failure = None
    try:
        report = roundtrip(revision, down_revision, after_upgrade=AFTER_UPGRADE.get(revision))
    except RoundTripError as exc:  # the message names the problem, the revision and the fix: no traceback to read
        failure = str(exc)
    if failure is not None:
        pytest.fail(failure, pytrace=False)
    if down_revision is not None:
        assert report.seeded, "nothing was seeded at the parent revision: the round-trip proved nothing"
    policy = migration_policy.load(migrations_dir())
    stale = migration_policy.stale(report.losses, policy, {revision})
    assert not stale, (
        f"{policy.source} declares data loss for revision {revision} that its upgrade no longer causes: remove "
        f"the stale entries {[f'{e.direction} drops {e.drops}' for e in stale]}"
    )


def test_declared_data_losses_name_revisions_of_the_history() -> None:
    """A [[data_loss]] entry for a revision the history does not have is stale."""
    policy = migration_policy.load(migrations_dir())
    known = {revision for revision, _ in revisions()}
    unknown = sorted({e.revision for e in policy.data_loss} - known)
    assert not unknown, f"{policy.source} declares data loss for revisions that are not in the history: {unknown}"


def test_data_checks_name_revisions_of_the_history() -> None:
    """A per-revision data check (tests/support/shipped_history.py) for a revision the project lacks is stale."""
    stale = set(AFTER_UPGRADE) - set(chain_of(PROJECT_MIGRATIONS))
    assert not stale, f"tests/support/shipped_history.py checks revisions that are not in migrations/versions: {stale}"
