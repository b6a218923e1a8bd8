"""The migration helpers against real PostgreSQL: results, errors, locking, logging.

Every test runs on the widgets fixture history (tests/examples/histories/widgets) (see conftest.py): ``revisions`` are
its ids, oldest first; nothing here depends on the shipped history.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from dev import postgres
from yt_pubsub_handler import migrator
from yt_pubsub_handler.extensions import db


def _tables(url: str) -> set[str]:
    engine = postgres.engine(url)
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_base_applies_every_revision_in_order(fresh_app, database_url, revisions):
    with fresh_app.app_context():
        result = migrator.upgrade()
    assert result["action"] == "upgrade"
    assert result["from_revision"] is None
    assert result["to_revision"] == revisions[-1]
    assert [s["revision"] for s in result["steps"]] == revisions
    assert [s["down_revision"] for s in result["steps"]] == [None, *revisions[:-1]]
    assert {s["direction"] for s in result["steps"]} == {"upgrade"}
    assert all(s["ms"] >= 0 for s in result["steps"])
    assert result["steps"][0]["message"] == "create widgets"
    assert result["total_ms"] >= sum(s["ms"] for s in result["steps"]) * 0.5
    assert postgres.alembic_version(database_url) == revisions[-1]
    assert _tables(database_url) == {"alembic_version", "widgets", "gadgets"}


def test_upgrade_at_head_is_a_no_op(fresh_app, revisions):
    with fresh_app.app_context():
        migrator.upgrade()
        again = migrator.upgrade()
    assert again["steps"] == []
    assert again["from_revision"] == again["to_revision"] == revisions[-1]
    assert "already at" in again["message"]


def test_upgrade_to_a_given_revision_and_by_prefix(fresh_app, database_url, revisions):
    with fresh_app.app_context():
        first = migrator.upgrade(revision=revisions[1])
        second = migrator.upgrade(revision=revisions[3][:6])  # a unique prefix
    assert [s["revision"] for s in first["steps"]] == revisions[:2]
    assert (first["from_revision"], first["to_revision"]) == (None, revisions[1])
    assert [s["revision"] for s in second["steps"]] == revisions[2:4]
    assert (second["from_revision"], second["to_revision"]) == (revisions[1], revisions[3])
    assert postgres.alembic_version(database_url) == revisions[3]


def test_downgrade_defaults_to_one_step_then_to_base(fresh_app, database_url, revisions):
    with fresh_app.app_context():
        migrator.upgrade()
        one = migrator.downgrade()
        assert [s["revision"] for s in one["steps"]] == [revisions[-1]]
        assert one["steps"][0]["direction"] == "downgrade"
        assert (one["from_revision"], one["to_revision"]) == (revisions[-1], revisions[-2])
        rest = migrator.downgrade(revision="base")
        assert [s["revision"] for s in rest["steps"]] == list(reversed(revisions[:-1]))
        assert rest["to_revision"] is None
        at_base = migrator.downgrade()
    assert at_base["steps"] == [] and "base" in at_base["message"]
    assert postgres.alembic_version(database_url) is None
    assert _tables(database_url) == {"alembic_version"}


def test_downgrade_relative_and_to_revision(fresh_app, database_url, revisions):
    with fresh_app.app_context():
        migrator.upgrade()
        two = migrator.downgrade(revision="-2")
        assert [s["revision"] for s in two["steps"]] == [revisions[4], revisions[3]]
        to = migrator.downgrade(revision=revisions[1])
    assert [s["revision"] for s in to["steps"]] == [revisions[2]]
    assert postgres.alembic_version(database_url) == revisions[1]


def test_wrong_direction_is_refused(fresh_app, database_url, revisions):
    with fresh_app.app_context():
        migrator.upgrade()
        with pytest.raises(migrator.MigrationError, match="run_alembic_downgrade"):
            migrator.upgrade(revision=revisions[0])
        migrator.downgrade(revision=revisions[0])
        with pytest.raises(migrator.MigrationError, match="run_alembic_upgrade"):
            migrator.downgrade(revision=revisions[-1])
    assert postgres.alembic_version(database_url) == revisions[0]


@pytest.mark.parametrize("call", [migrator.upgrade, migrator.downgrade])
def test_unknown_revision_says_how_to_list_them(fresh_app, database_url, call):
    with fresh_app.app_context(), pytest.raises(migrator.UnknownRevisionError, match="run_alembic_history"):
        call(revision="deadbeef0000")
    assert postgres.alembic_version(database_url) is None


def test_current_and_history(fresh_app, revisions):
    with fresh_app.app_context():
        before = migrator.current()
        migrator.upgrade(revision=revisions[2])
        middle = migrator.current()
        history = migrator.history()
    assert before["revision"] is None and before["pending"] == revisions and not before["is_head"]
    assert before["head"] == revisions[-1]
    assert middle["revision"] == revisions[2] and middle["pending"] == revisions[3:]
    assert middle["message"].startswith(f"{revisions[2]}: add widgets.note")
    assert history["current"] == revisions[2]
    assert [r["revision"] for r in history["revisions"]] == revisions
    assert [r["down_revision"] for r in history["revisions"]] == [None, *revisions[:-1]]
    assert [r["applied"] for r in history["revisions"]] == [True] * 3 + [False] * 2
    assert [r["is_head"] for r in history["revisions"]] == [False] * 4 + [True]


def test_check_passes_at_head_and_reports_drift(fresh_app, revisions):
    with fresh_app.app_context():
        with pytest.raises(migrator.MigrationError, match="upgrade first"):
            migrator.check()
        migrator.upgrade()
        assert migrator.check() == {"action": "check", "ok": True, "revision": revisions[-1], "diffs": []}
        with db.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE widgets ADD COLUMN stray integer"))
        with pytest.raises(migrator.ModelDriftError, match="stray") as err:
            migrator.check()
    assert "make new-migration" in str(err.value)


def test_sql_mode_returns_sql_and_touches_nothing(fresh_app, database_url, revisions):
    with fresh_app.app_context():
        up = migrator.upgrade(sql=True)
        assert postgres.alembic_version(database_url) is None
        assert _tables(database_url) == set()
        assert up["mode"] == "sql" and up["from_revision"] is None and up["to_revision"] == revisions[-1]
        assert "CREATE TABLE widgets" in up["sql"]
        assert "CREATE TYPE gadget_kind AS ENUM ('small', 'large')" in up["sql"]
        assert "CREATE INDEX CONCURRENTLY ix_widgets_name ON widgets (name)" in up["sql"]
        assert "ALTER TABLE widgets RENAME url TO link" in up["sql"]
        assert [s["revision"] for s in up["steps"]] == revisions

        migrator.upgrade()
        down = migrator.downgrade(sql=True)
        assert down["from_revision"] == revisions[-1] and down["to_revision"] == revisions[-2]
        assert "ALTER TABLE widgets RENAME link TO url" in down["sql"]
        ranged = migrator.downgrade(revision=f"{revisions[1]}:base", sql=True)
        assert "DROP TYPE gadget_kind" in ranged["sql"]
        assert "DROP TABLE widgets" in ranged["sql"]
    assert postgres.alembic_version(database_url) == revisions[-1]


def test_range_outside_sql_mode_is_refused(fresh_app, database_url, revisions):
    with fresh_app.app_context(), pytest.raises(migrator.MigrationError, match="sql=True"):
        migrator.upgrade(revision=f"{revisions[0]}:{revisions[-1]}")
    assert postgres.alembic_version(database_url) is None


def test_concurrent_upgrades_apply_each_revision_once(make_app, database_url, history_dir, revisions):
    apps = [make_app(MIGRATIONS_DIR=str(history_dir)), make_app(MIGRATIONS_DIR=str(history_dir))]
    results, errors = [], []
    barrier = threading.Barrier(len(apps))

    def worker(app):
        with app.app_context():
            barrier.wait()
            try:
                results.append(migrator.upgrade())
            except Exception as exc:  # pragma: no cover - the assertion below shows it
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(a,)) for a in apps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "an upgrade never returned"
    assert errors == []
    applied = [s["revision"] for r in results for s in r["steps"]]
    assert sorted(applied) == sorted(revisions)
    assert sum(1 for r in results if not r["steps"]) == 1
    assert postgres.alembic_version(database_url) == revisions[-1]


def test_a_held_lock_times_out_with_a_clear_message(make_app, database_url, history_dir):
    timeout = 0.5
    app = make_app(MIGRATION_LOCK_TIMEOUT=timeout, MIGRATIONS_DIR=str(history_dir))
    holder = postgres.engine(database_url)
    with holder.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": migrator.ADVISORY_LOCK_KEY})
        started = time.monotonic()
        with app.app_context(), pytest.raises(migrator.MigrationLockTimeout, match="another migration is running"):
            migrator.upgrade()
        # It waited for the lock before giving up (no upper bound: a busy machine may be slow to give up).
        assert time.monotonic() - started >= timeout
    holder.dispose()
    assert postgres.alembic_version(database_url) is None


def _write_revision(directory: Path, rev: str, down: str, body: str) -> None:
    (directory / "versions" / f"{rev}_fixture.py").write_text(
        f'"""fixture revision {rev}"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n"
        f"{body}\n"
    )


def test_a_failing_revision_leaves_the_last_good_revision(make_app, database_url, history_dir, revisions):
    _write_revision(
        history_dir,
        "0badc0ffee01",
        revisions[-1],
        "def upgrade():\n"
        "    op.create_table('half_done', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    op.execute('SELECT no_such_column FROM widgets')\n\n"
        "def downgrade():\n    op.drop_table('half_done')\n",
    )
    app = make_app(MIGRATIONS_DIR=str(history_dir))
    with app.app_context(), pytest.raises(migrator.MigrationFailed) as err:
        migrator.upgrade()
    message = str(err.value)
    assert "0badc0ffee01" in message and f"database is at {revisions[-1]}" in message
    assert postgres.alembic_version(database_url) == revisions[-1]
    assert "half_done" not in _tables(database_url)


def test_multiple_heads_are_explained(make_app, database_url, history_dir, revisions):
    for rev in ("aaaaaaaaaaaa", "bbbbbbbbbbbb"):
        _write_revision(history_dir, rev, revisions[-1], "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n")
    app = make_app(MIGRATIONS_DIR=str(history_dir))
    with app.app_context(), pytest.raises(migrator.MultipleHeadsError, match="flask db merge heads") as err:
        migrator.upgrade()
    assert "aaaaaaaaaaaa" in str(err.value) and "bbbbbbbbbbbb" in str(err.value)
    assert postgres.alembic_version(database_url) is None


def test_unreachable_database_is_a_clear_error(make_app, history_dir):
    from dev.postgres import free_port

    app = make_app(
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nope",
        DB_CONNECT_TIMEOUT=2,
        MIGRATIONS_DIR=str(history_dir),
    )
    with app.app_context(), pytest.raises(migrator.DatabaseUnreachableError, match="make up"):
        migrator.upgrade()


def test_log_lines_still_reach_the_caller_after_alembic_runs(fresh_app, caplog, monkeypatch, revisions):
    # As in a fresh process: CLIs run in-process by other tests (dev.migration_lint) may have quietened Alembic.
    monkeypatch.setattr(logging.getLogger("alembic"), "level", logging.NOTSET)
    zappa_logger = logging.getLogger("zappa.handler")
    caplog.set_level(logging.INFO)
    with fresh_app.app_context():
        migrator.upgrade(revision=revisions[0])
        caplog.clear()
        migrator.upgrade()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"Running upgrade {revisions[0]} -> {revisions[1]}") for m in messages)
    assert not zappa_logger.disabled
    assert caplog.handler in logging.getLogger().handlers
