"""The migrator's revision grammar and typed errors, on a small history of its own (real PostgreSQL).

Every spelling goes to Alembic as given, so these tests pin what our functions add around it: results, the
no-op answers, the refusal of the wrong direction, one family of typed errors for every bad revision or range,
and offline SQL for ranges. The history is written here, in ``tmp_path``: three revisions, each creating one
table, so nothing below depends on the shipped revisions or on how many there are.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from dev import postgres
from yt_pubsub_handler import migrator
from yt_pubsub_handler.extensions import db

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class History:
    directory: Path
    revisions: list[str]  # oldest first

    def table(self, revision: str) -> str:
        return f"fixture_t{self.revisions.index(revision) + 1}"


def write_revision(directory: Path, rev: str, down: str | None, table: str, upgrade_sql: str = "") -> None:
    upgrade = f"    op.create_table({table!r}, sa.Column('id', sa.Integer, primary_key=True))\n"
    if upgrade_sql:
        upgrade += f"    op.execute({upgrade_sql!r})\n"
    (directory / "versions" / f"{rev}_{table}.py").write_text(
        f'"""create {table}"""\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{upgrade}\n\n"
        f"def downgrade():\n    op.drop_table({table!r})\n"
    )


@pytest.fixture
def history(tmp_path: Path) -> History:
    """A migrations directory with the project's env.py, alembic.ini and template, and three revisions."""
    directory = tmp_path / "migrations"
    (directory / "versions").mkdir(parents=True)
    for name in ("env.py", "alembic.ini", "script.py.mako"):
        shutil.copy(ROOT / "migrations" / name, directory / name)
    revisions = ["1a1a1a1a0001", "2b2b2b2b0002", "3c3c3c3c0003"]
    for i, rev in enumerate(revisions):
        write_revision(directory, rev, revisions[i - 1] if i else None, f"fixture_t{i + 1}")
    return History(directory, revisions)


@pytest.fixture
def migrations_app(make_app, history):
    """An app on this test's empty database, whose migrations are ``history``."""
    app = make_app(MIGRATIONS_DIR=str(history.directory))
    with app.app_context():
        yield app


def version() -> str | None:
    with db.engine.connect() as conn:
        return postgres.alembic_version(conn)


def tables() -> set[str]:
    with db.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}


def applied(result: dict) -> list[str]:
    return [step["revision"] for step in result["steps"]]


# -- relative steps, symbols and prefixes ---------------------------------------------------------------------


def test_relative_steps_up_and_down(migrations_app, history) -> None:
    r1, r2, r3 = history.revisions
    first = migrator.upgrade(revision="+1")
    assert (first["from_revision"], first["to_revision"], applied(first)) == (None, r1, [r1])
    two = migrator.upgrade(revision="+2")
    assert (two["from_revision"], two["to_revision"], applied(two)) == (r1, r3, [r2, r3])
    assert {s["direction"] for s in two["steps"]} == {"upgrade"}
    assert [s["down_revision"] for s in two["steps"]] == [r1, r2]
    assert [s["message"] for s in two["steps"]] == ["create fixture_t2", "create fixture_t3"]

    back = migrator.downgrade(revision="-2")
    assert (back["from_revision"], back["to_revision"], applied(back)) == (r3, r1, [r3, r2])
    assert {s["direction"] for s in back["steps"]} == {"downgrade"}
    assert version() == r1 and tables() == {history.table(r1)}
    one = migrator.downgrade()  # the default is one step
    assert (one["to_revision"], applied(one)) == (None, [r1])
    assert version() is None and tables() == set()


def test_head_heads_base_and_revision_plus_n(migrations_app, history) -> None:
    r1, r2, r3 = history.revisions
    assert applied(migrator.upgrade(revision=f"{r1}+1")) == [r1, r2]
    assert migrator.upgrade(revision="heads")["to_revision"] == r3
    down = migrator.downgrade(revision="base")
    assert (down["to_revision"], applied(down)) == (None, [r3, r2, r1])
    assert applied(migrator.upgrade()) == [r1, r2, r3]  # the default is head
    assert version() == r3


def test_unique_prefixes_name_revisions(migrations_app, history) -> None:
    r1, r2, r3 = history.revisions
    assert migrator.upgrade(revision=r2[:5])["to_revision"] == r2
    assert migrator.upgrade(revision=r3[:4])["to_revision"] == r3
    assert migrator.downgrade(revision=r1[:6])["to_revision"] == r1
    assert version() == r1


# -- nothing to do -------------------------------------------------------------------------------------------


def test_no_op_results_say_where_the_database_is(migrations_app, history) -> None:
    r3 = history.revisions[-1]
    at_base = migrator.downgrade()
    assert at_base == {
        "action": "downgrade",
        "from_revision": None,
        "to_revision": None,
        "steps": [],
        "retries": [],
        "total_ms": 0.0,
        "data_loss": [],
        "message": "nothing to do: already at base",
    }
    assert migrator.downgrade(revision="base")["steps"] == []
    migrator.upgrade()
    for again in (migrator.upgrade(), migrator.upgrade(revision="heads"), migrator.upgrade(revision=r3[:6])):
        assert (again["from_revision"], again["to_revision"], again["steps"]) == (r3, r3, [])
        assert again["message"] == f"nothing to do: already at {r3}"
    assert migrator.downgrade(revision=r3)["steps"] == []
    assert version() == r3


def test_a_revision_added_later_is_seen_by_the_same_process(migrations_app, history) -> None:
    """The revision map is reused between calls; a new file must still count (no stale history in a warm Lambda)."""
    r3 = history.revisions[-1]
    migrator.upgrade()
    assert migrator.upgrade()["steps"] == []
    write_revision(history.directory, "4d4d4d4d0004", r3, "fixture_t4")
    result = migrator.upgrade()
    assert (applied(result), result["to_revision"]) == (["4d4d4d4d0004"], "4d4d4d4d0004")
    assert "fixture_t4" in tables()


# -- the wrong direction -------------------------------------------------------------------------------------


def test_upgrade_refuses_to_go_down_and_downgrade_to_go_up(migrations_app, history) -> None:
    r1, r2, r3 = history.revisions
    migrator.upgrade(revision=r2)
    for below in (r1, r1[:6], "base", "-1"):
        with pytest.raises(migrator.WrongDirectionError, match="run_alembic_downgrade") as err:
            migrator.upgrade(revision=below)
        assert f"current revision {r2}" in str(err.value)
    for above in (r3, "head", "heads", "+1"):
        with pytest.raises(migrator.WrongDirectionError, match="run_alembic_upgrade") as err:
            migrator.downgrade(revision=above)
        assert f"current revision {r2}" in str(err.value)
    assert version() == r2 and tables() == {history.table(r1), history.table(r2)}


# -- every bad revision or range: one family of typed errors -------------------------------------------------


@pytest.mark.parametrize(
    "call, revision, error, says",
    [
        ("upgrade", "deadbeef0000", migrator.UnknownRevisionError, "run_alembic_history"),
        ("downgrade", "deadbeef0000", migrator.UnknownRevisionError, "run_alembic_history"),
        ("downgrade", "-x", migrator.UnknownRevisionError, "'-x'"),
        ("upgrade", "+x", migrator.UnknownRevisionError, "'\\+x'"),
        ("downgrade", "--1", migrator.UnknownRevisionError, "'--1'"),
        ("downgrade", "-99", migrator.UnknownRevisionError, "stop at base and head"),
        ("upgrade", "+99", migrator.UnknownRevisionError, "stop at base and head"),
        ("upgrade", "", migrator.UnknownRevisionError, "no revision given"),
        ("downgrade", "   ", migrator.UnknownRevisionError, "no revision given"),
        ("upgrade", "base:head", migrator.BadRevisionError, "only meaningful with sql=True"),
        ("downgrade", "head:base", migrator.BadRevisionError, "only meaningful with sql=True"),
    ],
)
def test_bad_revisions_raise_typed_errors_and_change_nothing(migrations_app, history, call, revision, error, says):
    r2 = history.revisions[1]
    migrator.upgrade(revision=r2)
    with pytest.raises(error, match=says) as err:
        getattr(migrator, call)(revision=revision)
    assert isinstance(err.value, migrator.BadRevisionError)
    assert version() == r2


@pytest.mark.parametrize(
    "call, revision, error, says",
    [
        ("upgrade", "a:b:c", migrator.BadRevisionError, "malformed range"),
        ("upgrade", ":head", migrator.BadRevisionError, "malformed range"),
        ("downgrade", "head:", migrator.BadRevisionError, "malformed range"),
        ("downgrade", ":", migrator.BadRevisionError, "malformed range"),
        ("upgrade", "deadbeef0000:head", migrator.UnknownRevisionError, "deadbeef0000"),
        ("upgrade", "base:deadbeef0000", migrator.UnknownRevisionError, "deadbeef0000"),
        ("downgrade", "head:-x", migrator.UnknownRevisionError, "'-x'"),
        ("downgrade", "head:-99", migrator.UnknownRevisionError, "stop at base and head"),
        ("upgrade", "head:base", migrator.WrongDirectionError, "run_alembic_downgrade"),
        ("downgrade", "base:head", migrator.WrongDirectionError, "run_alembic_upgrade"),
    ],
)
def test_bad_ranges_in_sql_mode_raise_typed_errors(migrations_app, call, revision, error, says) -> None:
    with pytest.raises(error, match=says) as err:
        getattr(migrator, call)(revision=revision, sql=True)
    assert isinstance(err.value, migrator.BadRevisionError)
    assert version() is None and tables() == set()


def test_ranges_in_sql_mode_name_their_ends_by_any_spelling(migrations_app, history) -> None:
    r1, r2, r3 = history.revisions
    bad = (migrator.upgrade, f"{r3}:{r1}"), (migrator.downgrade, f"{r1}:{r3[:6]}")
    for call, revision in bad:
        with pytest.raises(migrator.WrongDirectionError):
            call(revision=revision, sql=True)
    relative = migrator.downgrade(revision=f"{r3}:-2", sql=True)
    assert (relative["from_revision"], relative["to_revision"], applied(relative)) == (r3, r1, [r3, r2])
    symbolic = migrator.upgrade(revision="base:head", sql=True)
    assert (symbolic["from_revision"], symbolic["to_revision"]) == (None, r3)


# -- SQL mode ------------------------------------------------------------------------------------------------


def test_sql_ranges_both_directions_touch_nothing(migrations_app, history) -> None:
    r1, r2, r3 = history.revisions
    t1, t2, t3 = (history.table(r) for r in history.revisions)
    up = migrator.upgrade(revision=f"base:{r2}", sql=True)
    assert (up["mode"], up["from_revision"], up["to_revision"], applied(up)) == ("sql", None, r2, [r1, r2])
    assert f"CREATE TABLE {t1}" in up["sql"] and f"CREATE TABLE {t2}" in up["sql"] and t3 not in up["sql"]
    later = migrator.upgrade(revision=f"{r1[:6]}:head", sql=True)
    assert (later["from_revision"], applied(later)) == (r1, [r2, r3])
    assert t1 not in later["sql"] and f"CREATE TABLE {t3}" in later["sql"]

    down = migrator.downgrade(revision=f"{r3}:{r1}", sql=True)
    assert (down["from_revision"], down["to_revision"], applied(down)) == (r3, r1, [r3, r2])
    assert f"DROP TABLE {t3}" in down["sql"] and f"DROP TABLE {t2}" in down["sql"] and t1 not in down["sql"]
    to_base = migrator.downgrade(revision=f"{r2}:base", sql=True)
    assert (to_base["to_revision"], applied(to_base)) == (None, [r2, r1])
    assert version() is None and tables() == set()


def test_sql_without_a_range_starts_at_the_database_revision(migrations_app, history) -> None:
    r1, r2, r3 = history.revisions
    migrator.upgrade(revision=r1)
    up = migrator.upgrade(sql=True)
    assert (up["from_revision"], up["to_revision"], applied(up)) == (r1, r3, [r2, r3])
    assert history.table(r1) not in up["sql"]
    migrator.upgrade()
    down = migrator.downgrade(sql=True)
    assert (down["from_revision"], down["to_revision"], applied(down)) == (r3, r2, [r3])
    nothing = migrator.upgrade(sql=True)
    assert (nothing["mode"], nothing["sql"], nothing["steps"]) == ("sql", "", [])
    assert "already at" in nothing["message"]
    assert version() == r3


# -- what the history itself can get wrong -------------------------------------------------------------------


def test_a_failing_revision_is_named_with_where_the_database_is(make_app, history, database_url) -> None:
    r3 = history.revisions[-1]
    write_revision(history.directory, "4d4d4d4d0004", r3, "fixture_t4", upgrade_sql="SELECT no_such_column")
    app = make_app(MIGRATIONS_DIR=str(history.directory))
    with app.app_context():
        with pytest.raises(migrator.MigrationFailed) as err:
            migrator.upgrade()
        assert version() == r3 and "fixture_t4" not in tables()
    message = str(err.value)
    assert "4d4d4d4d0004" in message and f"database is at {r3}" in message
    assert "no_such_column" in message


def test_two_heads_are_refused_online_but_explicit_sql_ranges_still_work(make_app, history) -> None:
    r3 = history.revisions[-1]
    for rev, table in (("5e5e5e5e0005", "fixture_a"), ("6f6f6f6f0006", "fixture_b")):
        write_revision(history.directory, rev, r3, table)
    app = make_app(MIGRATIONS_DIR=str(history.directory))
    with app.app_context():
        for call in (migrator.upgrade, lambda: migrator.upgrade(revision="heads"), migrator.downgrade):
            with pytest.raises(migrator.MultipleHeadsError, match="flask db merge heads"):
                call()
        with pytest.raises(migrator.MultipleHeadsError, match="flask db merge heads"):
            migrator.upgrade(revision=f"{r3}:head", sql=True)
        branch = migrator.upgrade(revision=f"{r3}:5e5e5e5e0005", sql=True)
        assert applied(branch) == ["5e5e5e5e0005"] and "fixture_b" not in branch["sql"]
        assert version() is None


def test_a_database_ahead_of_the_code_is_explained(make_app, history, tmp_path) -> None:
    older = tmp_path / "older"
    shutil.copytree(history.directory, older)
    r2, r3 = history.revisions[1:]
    next((older / "versions").glob(f"{r3}_*.py")).unlink()
    with make_app(MIGRATIONS_DIR=str(history.directory)).app_context():
        migrator.upgrade()
    with make_app(MIGRATIONS_DIR=str(older)).app_context():
        for call in (migrator.upgrade, migrator.downgrade, migrator.current):
            with pytest.raises(migrator.UnknownRevisionError, match=f"database is at revision {r3}, which"):
                call()
        listed = migrator.history()  # what the error says to look at still answers
        assert (listed["current"], [r["applied"] for r in listed["revisions"]]) == (r3, [False, False])
        assert "does not have" in listed["message"]
        assert migrator.upgrade(revision=f"base:{r2}", sql=True)["to_revision"] == r2  # offline needs no database
