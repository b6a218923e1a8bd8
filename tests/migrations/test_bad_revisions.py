"""The kit catches the usual mistakes (bad_revisions/README.md), each with a message naming the revision."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import alembic_runner_for
from migration_roundtrip import RoundTripError, roundtrip
from pytest_alembic.plugin.error import AlembicTestFailure
from pytest_alembic.tests import test_model_definitions_match_ddl as model_definitions_match_ddl
from test_pytest_alembic import downgrade_leaves_no_trace

from dev import migration_lint

CASES = Path(__file__).resolve().parent / "bad_revisions"
HEAD = "5787b560db48"


def assemble(case: str, dest: Path) -> Path:
    """A complete migrations directory: the project's, plus the case's revisions and env.py."""
    from yt_pubsub_handler import MIGRATIONS_DIR

    target = dest / "migrations"
    shutil.copytree(MIGRATIONS_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "*.toml"))
    source = CASES / case
    for revision in (source / "versions").glob("*.py") if (source / "versions").is_dir() else []:
        shutil.copy(revision, target / "versions" / revision.name)
    if (source / "env.py").is_file():
        shutil.copy(source / "env.py", target / "env.py")
    return target


@pytest.fixture
def bad_app(make_app, tmp_path: Path, request) -> Iterator:
    app = make_app(MIGRATIONS_DIR=str(assemble(request.param, tmp_path)))
    with app.app_context():
        yield app


def _lint(directory: str, revision: str) -> migration_lint.LintResult:
    items = migration_lint.revision_sql(directory, [revision])
    findings = migration_lint.lint(items)
    return migration_lint.check(findings, migration_lint.load_allowlist(), [revision], complete=False)


@pytest.mark.parametrize("bad_app", ["downgrade_forgets_column"], indirect=True)
def test_downgrade_that_forgets_a_column(bad_app) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0001", HEAD)
    message = str(caught.value)
    assert "revision bad0c0de0001" in message
    assert "does not restore the schema" in message and "public.videos.like_count was added" in message


@pytest.mark.parametrize("bad_app", ["downgrade_forgets_column"], indirect=True)
def test_downgrade_leaves_no_trace_names_the_revision(bad_app) -> None:
    from yt_pubsub_handler.extensions import db

    expected = pytest.raises(pytest.fail.Exception, match=r"revision bad0c0de0001: .*like_count")
    with db.engine.connect() as conn, alembic_runner_for(bad_app, conn) as runner, expected:
        downgrade_leaves_no_trace(runner, conn)


@pytest.mark.parametrize("bad_app", ["enum_left_behind"], indirect=True)
def test_enum_type_left_behind(bad_app) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0002", HEAD)
    message = str(caught.value)
    assert "revision bad0c0de0002" in message and "enums: public.video_kind was added" in message


@pytest.mark.parametrize("bad_app", ["not_null_without_default"], indirect=True)
def test_not_null_without_default_on_a_populated_table(bad_app) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0003", HEAD)
    message = str(caught.value)
    assert "revision bad0c0de0003" in message and "NotNullViolation" in message

    result = _lint(bad_app.config["MIGRATIONS_DIR"], "bad0c0de0003")
    assert any(f.rule == "adding-required-field" and f.direction == "upgrade" for f in result.new)
    assert all("revision bad0c0de0003" in f.describe() for f in result.new)


@pytest.mark.parametrize("bad_app", ["non_concurrent_index"], indirect=True)
def test_non_concurrent_index(bad_app) -> None:
    result = _lint(bad_app.config["MIGRATIONS_DIR"], "bad0c0de0004")
    assert not result.ok
    rules = {(f.rule, f.direction) for f in result.new}
    assert ("require-concurrent-index-creation", "upgrade") in rules
    described = [f.describe() for f in result.new if f.rule == "require-concurrent-index-creation"]
    assert described[0].startswith("revision bad0c0de0004 (upgrade): squawk require-concurrent-index-creation")
    # The shipped revisions' entries are not stale just because this run linted another revision.
    assert not result.stale


@pytest.mark.parametrize("bad_app", ["model_change_without_revision"], indirect=True)
def test_model_change_without_revision(bad_app) -> None:
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    expected = pytest.raises(AlembicTestFailure, match="out of sync")
    with db.engine.connect() as conn, alembic_runner_for(bad_app, conn) as runner, expected:
        model_definitions_match_ddl(runner)
    with pytest.raises(migrator.ModelDriftError, match=rf"head {HEAD}.*view_count"):
        migrator.check()
