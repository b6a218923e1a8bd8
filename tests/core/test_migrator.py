"""The migration helpers against real PostgreSQL: results, errors, locking, logging."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from yt_pubsub_handler import migrator
from yt_pubsub_handler.extensions import db

ROOT = Path(__file__).resolve().parents[2]
REVISIONS = ["ff02c70d5caf", "5688141dba78", "8920ac17239f", "102c44494659", "2c040c47f57c", "5787b560db48"]
HEAD = REVISIONS[-1]


def _version(url: str) -> str | None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    try:
        with engine.connect() as conn:
            return set(sa.inspect(conn).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture
def fresh_app(make_app):
    return make_app()


def test_upgrade_from_base_applies_every_revision_in_order(fresh_app, database_url):
    with fresh_app.app_context():
        result = migrator.upgrade()
    assert result["action"] == "upgrade"
    assert result["from_revision"] is None
    assert result["to_revision"] == HEAD
    assert [s["revision"] for s in result["steps"]] == REVISIONS
    assert {s["direction"] for s in result["steps"]} == {"upgrade"}
    assert all(s["ms"] >= 0 for s in result["steps"])
    assert result["steps"][0]["message"] == "create channels and videos"
    assert result["total_ms"] >= sum(s["ms"] for s in result["steps"]) * 0.5
    assert _version(database_url) == HEAD


def test_upgrade_at_head_is_a_no_op(fresh_app):
    with fresh_app.app_context():
        migrator.upgrade()
        again = migrator.upgrade()
    assert again["steps"] == []
    assert again["from_revision"] == again["to_revision"] == HEAD
    assert "already at" in again["message"]


def test_upgrade_to_a_given_revision_and_by_prefix(fresh_app, database_url):
    with fresh_app.app_context():
        first = migrator.upgrade(revision=REVISIONS[1])
        second = migrator.upgrade(revision=REVISIONS[3][:6])
    assert [s["revision"] for s in first["steps"]] == REVISIONS[:2]
    assert [s["revision"] for s in second["steps"]] == REVISIONS[2:4]
    assert _version(database_url) == REVISIONS[3]


def test_downgrade_defaults_to_one_step_then_to_base(fresh_app, database_url):
    with fresh_app.app_context():
        migrator.upgrade()
        one = migrator.downgrade()
        assert [s["revision"] for s in one["steps"]] == [HEAD]
        assert one["steps"][0]["direction"] == "downgrade"
        assert one["to_revision"] == REVISIONS[-2]
        rest = migrator.downgrade(revision="base")
        assert [s["revision"] for s in rest["steps"]] == list(reversed(REVISIONS[:-1]))
        at_base = migrator.downgrade()
    assert at_base["steps"] == [] and "base" in at_base["message"]
    assert _version(database_url) is None
    assert _tables(database_url) == {"alembic_version"}


def test_downgrade_relative_and_to_revision(fresh_app, database_url):
    with fresh_app.app_context():
        migrator.upgrade()
        two = migrator.downgrade(revision="-2")
        assert [s["revision"] for s in two["steps"]] == [REVISIONS[5], REVISIONS[4]]
        to = migrator.downgrade(revision=REVISIONS[1])
    assert [s["revision"] for s in to["steps"]] == [REVISIONS[3], REVISIONS[2]]
    assert _version(database_url) == REVISIONS[1]


def test_wrong_direction_is_refused(fresh_app):
    with fresh_app.app_context():
        migrator.upgrade()
        with pytest.raises(migrator.MigrationError, match="run_alembic_downgrade"):
            migrator.upgrade(revision=REVISIONS[0])
        migrator.downgrade(revision=REVISIONS[0])
        with pytest.raises(migrator.MigrationError, match="run_alembic_upgrade"):
            migrator.downgrade(revision=HEAD)


@pytest.mark.parametrize("call", [migrator.upgrade, migrator.downgrade])
def test_unknown_revision_says_how_to_list_them(fresh_app, database_url, call):
    with fresh_app.app_context(), pytest.raises(migrator.UnknownRevisionError, match="run_alembic_history"):
        call(revision="deadbeef0000")
    assert _version(database_url) is None


def test_current_and_history(fresh_app):
    with fresh_app.app_context():
        before = migrator.current()
        migrator.upgrade(revision=REVISIONS[2])
        middle = migrator.current()
        history = migrator.history()
    assert before["revision"] is None and before["pending"] == REVISIONS and not before["is_head"]
    assert middle["revision"] == REVISIONS[2] and middle["pending"] == REVISIONS[3:]
    assert [r["revision"] for r in history["revisions"]] == REVISIONS
    assert [r["applied"] for r in history["revisions"]] == [True] * 3 + [False] * 3
    assert history["revisions"][-1]["is_head"]


def test_check_passes_at_head_and_reports_drift(fresh_app):
    with fresh_app.app_context():
        with pytest.raises(migrator.MigrationError, match="upgrade first"):
            migrator.check()
        migrator.upgrade()
        assert migrator.check() == {"action": "check", "ok": True, "revision": HEAD, "diffs": []}
        with db.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE channels ADD COLUMN stray integer"))
        with pytest.raises(migrator.ModelDriftError, match="stray") as err:
            migrator.check()
    assert "make new-migration" in str(err.value)


def test_sql_mode_returns_sql_and_touches_nothing(fresh_app, database_url):
    with fresh_app.app_context():
        up = migrator.upgrade(sql=True)
        assert _version(database_url) is None
        assert _tables(database_url) == set()
        assert up["mode"] == "sql" and up["from_revision"] is None and up["to_revision"] == HEAD
        assert "CREATE TABLE channels" in up["sql"]
        assert "CREATE TYPE subscription_state AS ENUM" in up["sql"]
        assert "CREATE INDEX CONCURRENTLY ix_videos_channel_id_published_at" in up["sql"]
        assert "ALTER TABLE videos RENAME url TO link" in up["sql"]
        assert [s["revision"] for s in up["steps"]] == REVISIONS

        migrator.upgrade()
        down = migrator.downgrade(sql=True)
        assert down["from_revision"] == HEAD and down["to_revision"] == REVISIONS[-2]
        assert "ALTER TABLE videos RENAME link TO url" in down["sql"]
        ranged = migrator.downgrade(revision=f"{REVISIONS[1]}:base", sql=True)
        assert "DROP TYPE subscription_state" in ranged["sql"]
        assert "DROP TABLE channels" in ranged["sql"]
    assert _version(database_url) == HEAD


def test_range_outside_sql_mode_is_refused(fresh_app):
    with fresh_app.app_context(), pytest.raises(migrator.MigrationError, match="sql=True"):
        migrator.upgrade(revision=f"{REVISIONS[0]}:{HEAD}")


def test_concurrent_upgrades_apply_each_revision_once(make_app, database_url):
    apps = [make_app(), make_app()]
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
        t.join(60)
    assert errors == []
    applied = [s["revision"] for r in results for s in r["steps"]]
    assert sorted(applied) == sorted(REVISIONS)
    assert sum(1 for r in results if not r["steps"]) == 1
    assert _version(database_url) == HEAD


def test_a_held_lock_times_out_with_a_clear_message(make_app, database_url):
    app = make_app(MIGRATION_LOCK_TIMEOUT=0.5)
    holder = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg2://"))
    with holder.connect() as conn:
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": migrator.ADVISORY_LOCK_KEY})
        started = time.monotonic()
        with app.app_context(), pytest.raises(migrator.MigrationLockTimeout, match="another migration is running"):
            migrator.upgrade()
        assert time.monotonic() - started < 5
    holder.dispose()
    assert _version(database_url) is None


def _migrations_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(ROOT / "migrations", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _write_revision(directory: Path, rev: str, down: str, body: str) -> None:
    (directory / "versions" / f"{rev}_fixture.py").write_text(
        f'"""fixture revision {rev}"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n"
        f"{body}\n"
    )


def test_a_failing_revision_leaves_the_last_good_revision(make_app, database_url, tmp_path):
    directory = _migrations_copy(tmp_path)
    _write_revision(
        directory,
        "0badc0ffee01",
        HEAD,
        "def upgrade():\n"
        "    op.create_table('half_done', sa.Column('id', sa.Integer, primary_key=True))\n"
        "    op.execute('SELECT no_such_column FROM videos')\n\n"
        "def downgrade():\n    op.drop_table('half_done')\n",
    )
    app = make_app(MIGRATIONS_DIR=str(directory))
    with app.app_context(), pytest.raises(migrator.MigrationFailed) as err:
        migrator.upgrade()
    message = str(err.value)
    assert "0badc0ffee01" in message and f"database is at {HEAD}" in message
    assert _version(database_url) == HEAD
    assert "half_done" not in _tables(database_url)


def test_multiple_heads_are_explained(make_app, tmp_path):
    directory = _migrations_copy(tmp_path)
    for rev in ("aaaaaaaaaaaa", "bbbbbbbbbbbb"):
        _write_revision(directory, rev, HEAD, "def upgrade():\n    pass\n\ndef downgrade():\n    pass\n")
    app = make_app(MIGRATIONS_DIR=str(directory))
    with app.app_context(), pytest.raises(migrator.MultipleHeadsError, match="flask db merge heads"):
        migrator.upgrade()


def test_unreachable_database_is_a_clear_error_within_bounds(make_app):
    from dev.postgres import free_port

    app = make_app(DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port()}/nope", DB_CONNECT_TIMEOUT=2)
    started = time.monotonic()
    with app.app_context(), pytest.raises(migrator.DatabaseUnreachableError, match="make up"):
        migrator.upgrade()
    assert time.monotonic() - started < 10


def test_log_lines_still_reach_the_caller_after_alembic_runs(fresh_app, caplog, monkeypatch):
    # As in a fresh process: CLIs run in-process by other tests (dev.migration_lint) may have quietened Alembic.
    monkeypatch.setattr(logging.getLogger("alembic"), "level", logging.NOTSET)
    zappa_logger = logging.getLogger("zappa.handler")
    caplog.set_level(logging.INFO)
    with fresh_app.app_context():
        migrator.upgrade(revision=REVISIONS[0])
        caplog.clear()
        migrator.upgrade()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"Running upgrade {REVISIONS[0]} -> {REVISIONS[1]}") for m in messages)
    assert not zappa_logger.disabled
    assert caplog.handler in logging.getLogger().handlers
