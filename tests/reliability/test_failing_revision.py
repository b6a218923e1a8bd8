"""A revision that fails half-way, run the production way: ``run.run_alembic_upgrade`` through the emulator.

The fixture (``fixtures/failing_revision``) adds two revisions after head: a good one, then one that creates a
table, an enum, an index and a column and writes rows before it divides by zero. From base, the run must commit
every shipped revision and the good one, and nothing of the failing one: the database is at the last good
revision, its catalog equals that of a database migrated cleanly to that revision, and the invoke client shows
the error and exits non-zero. A second attempt fails the same way (the advisory lock was released: no lock
timeout) and changes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dev.postgres import alembic_version
from tests.support.reliability_harness import (
    APP_FUNCTION,
    FAILING_REVISIONS,
    catalog_snapshot,
    copy_app_project,
    db_state,
    diff_snapshots,
    invoke_cli,
    invoke_http,
    revisions,
    scalar,
)

GOOD = "re11ab1e0001"
BAD = "re11ab1e0002"


def _clean_snapshot(database_url: str, migrations_dir: Path) -> dict:
    """The catalog of a database migrated to GOOD with nothing failing on the way (the reference)."""
    from yt_pubsub_handler import create_app, migrator
    from yt_pubsub_handler.extensions import db

    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": str(migrations_dir)})
    with app.app_context():
        try:
            assert migrator.upgrade(GOOD)["to_revision"] == GOOD
        finally:
            db.engine.dispose()
    return catalog_snapshot(database_url)


@pytest.fixture
def failing_project(tmp_path: Path) -> Path:
    return copy_app_project(tmp_path / "project", extra_versions=FAILING_REVISIONS)


def test_half_way_failure_stays_at_the_last_good_revision_with_no_leftovers(
    new_database, app_emulators, failing_project: Path
) -> None:
    head = revisions()[-1]  # the project's head, which the fixture was stacked on
    database_url = new_database()
    emulator = app_emulators(failing_project, database_url, api=False)

    run = invoke_cli(failing_project, emulator.url, "run.run_alembic_upgrade")

    assert run.returncode == 1, run.stdout + run.stderr
    assert f"Error: Unhandled error in run.run_alembic_upgrade: MigrationFailed: upgrade failed in revision {BAD}" in (
        run.stderr
    )
    assert "DivisionByZero" in run.stderr and "division by zero" in run.stderr
    assert f"The database is at {GOOD}" in run.stderr
    # The log tail (stdout, as `zappa invoke` prints it) shows how far the run got and the traceback.
    assert f"Running upgrade {head} -> {GOOD}" in run.stdout
    assert f"Running upgrade {GOOD} -> {BAD}" in run.stdout
    assert "Traceback (most recent call last):" in run.stdout

    assert alembic_version(database_url) == GOOD
    for leftover in ("public.half_done", "public.ix_half_done_state"):
        assert scalar(database_url, "SELECT to_regclass(:name)", name=leftover) is None, leftover
    assert scalar(database_url, "SELECT count(*) FROM pg_type WHERE typname = 'half_done_state'") == 0
    assert (
        scalar(
            database_url,
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'videos' AND column_name = :c",
            c="half_done_flag",
        )
        == 0
    )
    assert scalar(database_url, "SELECT count(*) FROM reliability_probe") == 0, "the failed revision's rows stay"

    reference = _clean_snapshot(new_database(), failing_project / "migrations")
    after_failure = db_state(database_url)
    assert diff_snapshots(reference, after_failure[1]) == []

    # Again, through the Invoke API: the same error at once (no lock left behind), and nothing changes.
    again = invoke_http(emulator.url, APP_FUNCTION, {"command": "run.run_alembic_upgrade"})
    assert again.status == 200 and again.function_error == "Unhandled", again.describe()
    error = again.json()
    assert error["errorType"] == "MigrationFailed"
    assert f"upgrade failed in revision {BAD}" in error["errorMessage"]
    # The lock was released: the second attempt ran the failing revision again (its error, not a lock timeout).
    assert "another migration is running" not in error["errorMessage"]
    assert f"Running upgrade {GOOD} -> {BAD}" in again.log
    assert f"Running upgrade {head} -> {GOOD}" not in again.log, "the good revisions must not run twice"
    assert db_state(database_url) == after_failure

    current = invoke_cli(failing_project, emulator.url, "run.run_alembic_current", "--json")
    assert current.returncode == 0, current.stderr
    state = json.loads(current.stdout)
    assert (state["revision"], state["head"], state["is_head"], state["pending"]) == (GOOD, BAD, False, [BAD])
    assert emulator.health()["status"] == "ok"
