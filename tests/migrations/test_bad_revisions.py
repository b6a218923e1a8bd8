"""The kit catches the usual mistakes (bad_revisions/README.md), each with a message naming the revision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fixture_history import assemble as assemble_history
from fixture_history import head_of
from history_under_test import alembic_runner_for, migrations_dir
from migration_roundtrip import RoundTripError, roundtrip
from pytest_alembic.plugin.error import AlembicTestFailure
from pytest_alembic.tests import test_model_definitions_match_ddl as model_definitions_match_ddl
from test_pytest_alembic import downgrade_leaves_no_trace

from dev import migration_lint

CASES = Path(__file__).resolve().parent / "bad_revisions"


def assemble(case: str, dest: Path) -> Path:
    """A complete migrations directory: the history under test, the case's revisions stacked on its head (their
    ``down_revision`` rewritten), and the case's env.py if it has one."""
    source = CASES / case
    return assemble_history(
        dest / "migrations",
        Path(migrations_dir()) / "versions",
        on_head=source / "versions" if (source / "versions").is_dir() else None,
        env=source / "env.py" if (source / "env.py").is_file() else None,
    )


@pytest.fixture(scope="module")
def head() -> str:
    """The head of the history under test, which every case sits on."""
    return head_of(migrations_dir())


@pytest.fixture
def bad_app(make_app, tmp_path: Path, request) -> Iterator:
    app = make_app(MIGRATIONS_DIR=str(assemble(request.param, tmp_path)))
    with app.app_context():
        yield app


def _lint(directory: str, revision: str) -> migration_lint.LintResult:
    items = migration_lint.revision_sql(directory, [revision])
    findings = migration_lint.lint(items)
    return migration_lint.check(findings, migration_lint.load_allowlist(), [revision])


@pytest.mark.parametrize("bad_app", ["downgrade_forgets_column"], indirect=True)
def test_downgrade_that_forgets_a_column(bad_app, head) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0001", head)
    message = str(caught.value)
    assert "revision bad0c0de0001" in message
    assert "does not restore the schema" in message and "public.videos.fixture_like_count was added" in message


@pytest.mark.parametrize("bad_app", ["downgrade_forgets_column"], indirect=True)
def test_downgrade_leaves_no_trace_names_the_revision(bad_app) -> None:
    from yt_pubsub_handler.extensions import db

    expected = pytest.raises(pytest.fail.Exception, match=r"revision bad0c0de0001: .*fixture_like_count")
    with db.engine.connect() as conn, alembic_runner_for(bad_app, conn) as runner, expected:
        downgrade_leaves_no_trace(runner, conn)


@pytest.mark.parametrize("bad_app", ["enum_left_behind"], indirect=True)
def test_enum_type_left_behind(bad_app, head) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0002", head)
    message = str(caught.value)
    assert "revision bad0c0de0002" in message and "enums: public.fixture_video_kind was added" in message


@pytest.mark.parametrize("bad_app", ["not_null_without_default"], indirect=True)
def test_not_null_without_default_on_a_populated_table(bad_app, head) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0003", head)
    message = str(caught.value)
    assert "revision bad0c0de0003" in message and "NotNullViolation" in message
    assert "add the column nullable, backfill it" in message  # says how to fix it

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
def test_model_change_without_revision(bad_app, head) -> None:
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    expected = pytest.raises(AlembicTestFailure, match="out of sync")
    with db.engine.connect() as conn, alembic_runner_for(bad_app, conn) as runner, expected:
        model_definitions_match_ddl(runner)
    with pytest.raises(migrator.ModelDriftError, match=rf"head {head}.*fixture_view_count"):
        migrator.check()


@pytest.mark.parametrize("bad_app", ["dropped_values"], indirect=True)
def test_an_autogenerated_rename_is_data_loss_with_the_rename_to_write(bad_app) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0006", "bad0c0de0005")
    message = str(caught.value)
    first = message.splitlines()[0]
    assert first.startswith("data loss: revision bad0c0de0006 (upgrade) dropped videos.fixture_source_url holding ")
    assert "non-null values (data loss)" in first
    assert "op.alter_column('videos', 'fixture_source_url', new_column_name='fixture_watch_url')" in message
    assert "[[data_loss]]" in message and 'drops = "videos.fixture_source_url"' in message


@pytest.mark.parametrize("bad_app", ["dropped_values"], indirect=True)
def test_a_declared_loss_passes(bad_app, tmp_path: Path) -> None:
    policy = Path(bad_app.config["MIGRATIONS_DIR"]) / "policy.toml"
    policy.write_text(
        Path(migrations_dir(), "policy.toml").read_text()
        + '\n[[data_loss]]\nrevision = "bad0c0de0006"\ndirection = "upgrade"\ndrops = "videos.fixture_source_url"\n'
        + 'reason = "a fixture: nothing reads the old column"\n'
    )
    report = roundtrip("bad0c0de0006", "bad0c0de0005")
    assert [(loss["table"], loss["column"]) for loss in report.losses] == [("videos", "fixture_source_url")]


@pytest.mark.parametrize("bad_app", ["dropped_values"], indirect=True)
def test_a_downgrade_that_cannot_restore_what_its_upgrade_moved(bad_app) -> None:
    with pytest.raises(RoundTripError) as caught:
        roundtrip("bad0c0de0007", "bad0c0de0006")
    message = str(caught.value)
    assert message.startswith("revision bad0c0de0007: data loss: the downgrade cannot restore what the upgrade moved")
    assert "videos.fixture_watch_url" in message
