"""A timeout is safe and resumable: the rehearsal's Lambda kills a batched backfill half-way, the database is left at
the last committed revision with nothing running or locked, and the next invocation finishes the job.

The history is the rehearsal fixture (``tests/examples/histories/rehearse``) with
``tests/examples/histories/resumable_backfill`` stacked on its head: a backfill whose first run commits two batches of
50 rows, then sleeps far past the short timeout. The kill therefore always lands after exactly 100 rows, whatever the
machine's load; a run that finds rows already backfilled does not pause, so the second invocation has only the rest to
do. The timeout (20 s) is short for Lambda but long against everything else an invocation does here (a cold app load, a
revision on 500 rows), even on a busy machine: only the sleep may reach it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dev import postgres
from dev.rehearse import rehearsal as rehearsal_module
from dev.rehearse import report
from dev.rehearse.function import stage_limits
from tests.support.fixture_history import REPO_ROOT, assemble, chain_of
from tests.support.paths import HISTORIES

pytestmark = pytest.mark.emulator  # the rehearsal's Lambda is an emulator

BATCH_SIZE, PAUSE_AFTER = 50, 2  # as in resumable_backfill's revision
ROWS = 500
TIMEOUT_SECONDS = 20


def _snapshot(url: str) -> dict[str, Any]:
    """The fixture's own view of the database, taken at the moment the rehearsal checks it after the kill."""
    with postgres.connect(url) as conn:
        q = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
        return {
            "version": postgres.alembic_version(conn),
            "backfilled": q("SELECT count(*) FROM parcels WHERE checksum IS NOT NULL"),
            "rows": q("SELECT count(*) FROM parcels"),
            "checksum_not_null": q(
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'parcels'::regclass AND attname = 'checksum'"
            ),
            "other_sessions": q(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            ),
            "locks": q(
                "SELECT count(*) FROM pg_locks WHERE pid <> pg_backend_pid() "
                "AND (locktype = 'advisory' OR locktype = 'relation')"
            ),
        }


def test_a_kill_mid_backfill_leaves_a_consistent_database_and_the_next_invocation_finishes(
    pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = assemble(tmp_path / "migrations", HISTORIES / "rehearse" / "versions")
    assemble(migrations, on_head=HISTORIES / "resumable_backfill" / "versions")
    *earlier, last_committed, resumable = chain_of(migrations)
    seen: list[dict[str, Any]] = []
    check = rehearsal_module.check_after_stop

    def check_and_look(url: str, expected: str | None, killed: bool) -> rehearsal_module.AfterStop:
        state = check(url, expected, killed)  # waits for the killed worker's sessions to end
        seen.append(_snapshot(url))
        return state

    monkeypatch.setattr(rehearsal_module, "check_after_stop", check_and_look)
    settings = REPO_ROOT / "zappa_settings.json"
    limits = stage_limits(settings, "production", timeout_seconds=TIMEOUT_SECONDS)
    result = rehearsal_module.rehearse(
        REPO_ROOT,
        settings,
        limits,
        ROWS,
        points=1,
        database_url=pg_admin_url,
        migrations_dir=migrations,
        work_dir=tmp_path / "out",
    )

    assert [s.revision for s in result.steps] == [*earlier, last_committed, resumable]
    assert all(s.finished_in_one for s in result.steps[:-1]), [s.stopped for s in result.steps]
    step = result.steps[-1]
    # 1. Lambda killed the first invocation at its (deliberately short) timeout.
    assert step.stopped is not None and step.stopped.killed, step.stopped
    assert f"Task timed out after {TIMEOUT_SECONDS:.2f} seconds" in step.stopped.error_message
    # 2. Mid-backfill: the batches committed before the kill stay, and nothing after them.
    (state,) = seen
    assert state["backfilled"] == PAUSE_AFTER * BATCH_SIZE < state["rows"] == ROWS, state
    assert state["checksum_not_null"] is False, "the NOT NULL step after the backfill must not have run"
    # 3. Consistent: at the last committed revision, the killed worker's sessions gone, no lock or advisory lock.
    assert state["version"] == last_committed
    assert state["other_sessions"] == 0 and state["locks"] == 0, state
    after = step.after_stop
    assert after is not None and after.consistent, after
    assert (after.revision, after.sessions, after.advisory_locks, after.table_locks) == (last_committed, (), 0, ())
    assert after.invalid_indexes == ()
    # 4. The second invocation finished the job, picking up where the first stopped.
    assert len(step.resumes) == 1 and step.resumes[0].ok, step.resumes
    assert step.finished
    # ... and the rehearsal says so, for the person reading it.
    (line,) = report.stop_lines(result)
    assert f"{resumable} at {ROWS} rows: killed by Lambda's timeout" in line
    assert f"the database then (consistent): at {last_committed} (the last committed revision)" in line
    assert "invocation 2 resumed it and finished" in line
    verdict = report.verdict(result)
    assert f"{resumable} needs more than one invocation: it resumed where it stopped" in verdict
    assert "resumable batched job" in verdict
