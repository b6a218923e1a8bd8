"""dev/lock_report.py: blocking locks measured from inside the migrating connection.

The measurements are checked on a fixture history with known holds (tests/examples/histories/locks): revisions that keep
a lock for a known time with ``pg_sleep``. A hold must be at least the time slept and name the statement that took the
lock; there is never an upper bound, so a busy machine cannot fail these tests. The fixture history is measured once for
the module (the tests only read the reports). Which locks a revision takes does not depend on the table size: checked on
the widgets history (a table, an enum, a column, an index built concurrently, a rename).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dev import lock_report
from tests.support.apps import app_on_new_database
from tests.support.fixture_history import assemble, chain_of
from tests.support.paths import HISTORIES

LOCKS = HISTORIES / "locks"
WIDGETS = HISTORIES / "widgets"
SLEPT_MS = 300  # SLEEP_SECONDS in the fixture revisions that sleep


@pytest.fixture(scope="module")
def lock_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return assemble(tmp_path_factory.mktemp("locks") / "migrations", LOCKS / "versions")


@pytest.fixture(scope="module")
def measured(pg_admin_url: str, lock_history: Path) -> Iterator[dict[tuple[str, str], lock_report.StepReport]]:
    """The fixture history measured once at a small size: {(revision, direction): report}."""
    with app_on_new_database(pg_admin_url, MIGRATIONS_DIR=str(lock_history)) as app:
        reports = lock_report.measure_revisions(app, rows=50)
    yield {(r.revision, r.direction): r for r in reports}


def _revision(number: int) -> str:
    """The fixture history's revisions are numbered 1.. in their file names."""
    return chain_of(LOCKS)[number - 1]


def test_every_revision_is_measured_up_then_down(measured) -> None:
    chain = chain_of(LOCKS)
    assert list(measured) == [(r, "upgrade") for r in chain] + [(r, "downgrade") for r in reversed(chain)]


def test_a_hold_inside_a_transaction_lasts_until_the_commit(measured) -> None:
    report = measured[(_revision(2), "upgrade")]
    assert report.blocking_locks == {("probe", "AccessExclusiveLock")}
    (hold,) = report.holds
    assert hold.statement.startswith("ALTER TABLE probe ADD COLUMN flag")
    assert hold.hold_ms >= SLEPT_MS, "the lock is held until COMMIT, after the sleep"
    assert hold.hold_ms - hold.statement_ms >= SLEPT_MS, "the sleep came after the statement that took the lock"
    assert report.max_hold_ms == hold.hold_ms and report.longest.mode_name == "ACCESS EXCLUSIVE"


def test_a_statement_in_an_autocommit_block_is_measured_on_its_own(measured) -> None:
    report = measured[(_revision(3), "upgrade")]
    # CREATE INDEX CONCURRENTLY takes SHARE UPDATE EXCLUSIVE only: not a blocking mode.
    assert report.blocking_locks == {("probe", "ShareLock")}
    (hold,) = report.holds
    assert hold.statement.startswith("DO $$ BEGIN LOCK TABLE probe IN SHARE MODE")
    assert hold.statement_ms >= SLEPT_MS  # the statement itself slept, holding the lock
    assert hold.hold_ms >= hold.statement_ms


def test_a_plain_create_index_is_seen_holding_share(measured) -> None:
    report = measured[(_revision(4), "upgrade")]
    assert report.blocking_locks == {("probe", "ShareLock")}
    assert report.holds[0].statement.startswith("CREATE INDEX ix_probe_flag ON probe")
    assert report.max_hold_ms > 0


def test_a_table_the_revision_creates_blocks_nobody_and_vacuum_full_does(measured) -> None:
    up = measured[(_revision(5), "upgrade")]
    assert up.blocking_locks == {("probe", "AccessExclusiveLock")}, "LOCK TABLE fresh must not count: it is new"
    assert up.holds[0].statement == "VACUUM FULL probe"
    down = measured[(_revision(5), "downgrade")]
    assert down.blocking_locks == {("fresh", "AccessExclusiveLock")}  # dropping it blocks whoever uses it now
    assert down.holds[0].statement.startswith("DROP TABLE fresh")


def test_report_names_each_lock_and_statement(measured) -> None:
    table = lock_report.format_table(list(measured.values()), budget_ms=SLEPT_MS - 50)
    assert f"{_revision(2)} upgrade   ACCESS EXCLUSIVE on probe for " in table
    assert "(statement " in table
    assert "taken by: ALTER TABLE probe ADD COLUMN flag BOOLEAN" in table
    assert "OVER BUDGET" in table


def test_cli_exits_nonzero_naming_the_revision_and_statement_over_budget(pg_admin_url, lock_history, capsys) -> None:
    budget = SLEPT_MS - 50  # the sleeping revisions hold longer than this whatever the machine's load
    argv = ["--rows", "20", "--budget-ms", str(budget), "--no-downgrades", "--database-url", pg_admin_url]
    code = lock_report.main([*argv, "--migrations-dir", str(lock_history)])
    captured = capsys.readouterr()
    assert code == 1
    assert "Lock report: 20 rows" in captured.out
    assert f"error: revision {_revision(2)} (upgrade: add probe.flag" in captured.err
    assert (
        f"over the {budget} ms budget; the lock was taken by `ALTER TABLE probe ADD COLUMN flag BOOLEAN`"
        in captured.err
    )
    assert "CREATE INDEX CONCURRENTLY" in captured.err  # says how to fix it


def test_the_same_blocking_locks_are_seen_at_any_size(make_app, tmp_path: Path) -> None:
    """Which locks a revision takes is a property of its SQL, not of luck or table size: same set at 30 and 3,000
    rows, for every revision of the widgets history, both ways."""
    widgets = assemble(tmp_path / "migrations", WIDGETS / "versions", env=WIDGETS / "env.py")
    sets = []
    for rows in (30, 3_000):
        reports = lock_report.measure_revisions(make_app(MIGRATIONS_DIR=str(widgets)), rows=rows)
        sets.append({(r.revision, r.direction): r.blocking_locks for r in reports})
    expected = chain_of(WIDGETS)
    assert list(sets[0]) == [(r, "upgrade") for r in expected] + [(r, "downgrade") for r in reversed(expected)]
    assert sets[0] == sets[1]
