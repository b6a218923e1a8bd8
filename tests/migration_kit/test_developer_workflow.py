"""What a developer does, done for real in a temporary copy of the repository, for the revisions teams add.

For each kind of change: edit yt_pubsub_handler/models.py in the copy, run the real new-migration path
(``autogenerate_revision``, what ``make new-migration`` runs: ``flask db migrate`` against a database at head,
the copy's migrations/script.py.mako and the ruff post-write hook of its alembic.ini), make the edit a reviewer
asks for where autogenerate cannot know better (README, "The daily workflow"), then run the generic history
checks on the extended history, called as the functions the suite itself runs:

- pytest-alembic: a single head, upgrade from base, up/down revision by revision;
- the data round trip of the new revision on seeded tables (tests/support/migration_roundtrip.py);
- squawk with the project's .squawk.toml and the copy's allowlist (dev/migration_lint.py), on the new revision;
- the Lambda path: ``run.run_alembic_upgrade``, ``run_alembic_check`` (the copy's models against the schema),
  a downgrade and an upgrade again, through the emulator serving the copy, the catalog compared with the direct
  path's after each step.

Safe changes pass every check. Unsafe ones fail, and the failure names the revision and says how to fix it or
how to accept it with a reason. Everything the test adds to the models is named ``workflow_probe*``, and only the new
revision is linted and round-tripped, so it runs the same on a checkout where the team has added its own columns,
tables, indexes and types, safe or not (those are ``make check-migrations``'s to judge).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_alembic.tests import default as pytest_alembic_default

from dev import migration_history, migration_lint
from dev.emulator.client import LambdaClient, zappa_command
from dev.postgres import create_database, drop_database, free_port
from dev.project_copy import DEVELOPER_FILES, copy_deployable
from dev.sandbox.commands import autogenerate_revision
from tests.support.emulator_harness import copy_project, start_emulator
from tests.support.fixture_history import chain_of, head_of
from tests.support.history_under_test import alembic_runner_for
from tests.support.migration_roundtrip import RoundTripError, roundtrip
from tests.support.snapshot import catalog_snapshot, diff_snapshots

pytestmark = pytest.mark.emulator  # the safe changes go through Lambda too

FUNCTION_NAME = "yt-pubsub-handler-local"  # Zappa's name for the `local` stage
VIDEO_CLASS = re.compile(r'^class Video\(db\.Model\):\n    __tablename__ = "videos"\n', re.MULTILINE)


# -- the changes a developer makes --------------------------------------------------------------------------------


def _video_column(line: str) -> Callable[[str], str]:
    """Add a column to the Video model, as a developer would: a line in the class body."""

    def edit(models: str) -> str:
        assert VIDEO_CLASS.search(models), "yt_pubsub_handler/models.py has no `class Video` with __tablename__ first"
        return VIDEO_CLASS.sub(lambda m: m.group(0) + f"\n    {line}\n", models, count=1)

    return edit


def _append(code: str) -> Callable[[str], str]:
    return lambda models: models.rstrip("\n") + "\n\n\n" + code.strip("\n") + "\n"


REVIEW_HINT = re.compile(r"^    # REVIEW:.*?Then delete this comment\.\n", re.MULTILINE | re.DOTALL)


def _statement(revision: str, call: str, naming: str = "workflow_probe") -> str:
    """The whole ``op.<call>(...)`` statement that names ``naming``, however ruff wrapped it."""
    start = -1
    while (start := revision.find(f"\n    op.{call}(", start + 1)) >= 0:
        depth, end = 0, start + 1
        for end in range(start + 1, len(revision)):
            depth += {"(": 1, ")": -1}.get(revision[end], 0)
            if depth == 0 and revision[end] == ")":
                break
        statement = revision[start + 1 : end + 2]  # through ")\n"
        if naming in statement:
            return statement
    raise AssertionError(f"autogenerate wrote no op.{call} naming {naming}:\n{revision}")


def _index_concurrently(revision: str) -> str:
    """The reviewer's edit for an index on a table that has rows (the pattern the template's hint shows)."""
    assert REVIEW_HINT.search(revision), "the template did not point the reviewer at CONCURRENTLY"
    revision = REVIEW_HINT.sub("", revision)
    create, drop = _statement(revision, "create_index"), _statement(revision, "drop_index")
    name, table = re.search(r'create_index\(\s*"(\w+)",\s*"(\w+)"', create).groups()
    columns = re.search(r"(\[[^]]*\])", create).group(1)
    up = (
        "    with op.get_context().autocommit_block():\n"
        "        op.execute(\"SET lock_timeout = '1s'\")\n"
        f'        op.drop_index("{name}", table_name="{table}", postgresql_concurrently=True, if_exists=True)\n'
        f'        op.create_index("{name}", "{table}", {columns}, postgresql_concurrently=True, if_not_exists=True)\n'
        '        op.execute("RESET lock_timeout")\n'
    )
    down = (
        "    with op.get_context().autocommit_block():\n"
        "        op.execute(\"SET lock_timeout = '1s'\")\n"
        f'        op.drop_index("{name}", table_name="{table}", postgresql_concurrently=True, if_exists=True)\n'
        '        op.execute("RESET lock_timeout")\n'
    )
    return revision.replace(create, up).replace(drop, down)


def _create_and_drop_the_enum_type(revision: str) -> str:
    """The reviewer's edit for a new enum on an existing table: add_column does not create the type."""
    assert REVIEW_HINT.search(revision), "the template did not point the reviewer at the enum type"
    revision = REVIEW_HINT.sub("", revision)
    add, drop = _statement(revision, "add_column"), _statement(revision, "drop_column")
    enum = re.search(r'sa\.Enum\([^)]*name="(\w+)"\)', add)
    assert enum, f"no new enum type in {add}"
    create = f"    {enum.group(0)}.create(op.get_bind(), checkfirst=False)\n"
    drop_type = f'    sa.Enum(name="{enum.group(1)}").drop(op.get_bind(), checkfirst=False)\n'
    return revision.replace(add, create + add).replace(drop, drop + drop_type)


@dataclass(frozen=True)
class Change:
    message: str
    models: Callable[[str], str]
    review: Callable[[str], str] | None = None  # what the reviewer asks to change in the generated revision


SAFE = {
    "nullable_bigint_column": Change(
        "add videos.workflow_probe_seconds",
        _video_column("workflow_probe_seconds: Mapped[int | None] = mapped_column(sa.BigInteger)"),
    ),
    "table_with_a_foreign_key_to_channels": Change(
        "add workflow_probe_playlists",
        _append(
            """
class WorkflowProbePlaylist(db.Model):
    __tablename__ = "workflow_probe_playlists"

    id: Mapped[str] = mapped_column(sa.String(34), primary_key=True)
    channel_id: Mapped[str] = mapped_column(
        sa.String(64), sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False, index=True
    )
    title: Mapped[str] = mapped_column(sa.Text, nullable=False)
    video_id: Mapped[str | None] = mapped_column(sa.String(32), sa.ForeignKey("videos.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )
"""
        ),
    ),
    "index_built_concurrently": Change(
        "index videos by updated_at",
        _append('sa.Index("ix_videos_workflow_probe", Video.updated_at)'),
        review=_index_concurrently,
    ),
    "enum_type_for_a_new_column": Change(
        "add videos.workflow_probe_kind",
        _video_column(
            'workflow_probe_kind: Mapped[str | None] = mapped_column(sa.Enum("a", "b", name="workflow_probe_kind"))'
        ),
        review=_create_and_drop_the_enum_type,
    ),
}

UNSAFE = {
    "not_null_without_default": Change(
        "add videos.workflow_probe_required",
        _video_column("workflow_probe_required: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)"),
    ),
    "plain_integer": Change(
        "add videos.workflow_probe_count",
        _video_column("workflow_probe_count: Mapped[int | None] = mapped_column(sa.Integer)"),
    ),
}


# -- the workspace: a copy of the repository with a database at its head ------------------------------------------


@dataclass
class Workspace:
    root: Path
    admin_url: str
    databases: list[str]

    @property
    def migrations(self) -> Path:
        return self.root / "migrations"

    def database(self) -> str:
        self.databases.append(create_database(self.admin_url, prefix="workflow"))
        return self.databases[-1]

    def app(self, make_app, url: str):
        return make_app(DATABASE_URL=url, MIGRATIONS_DIR=str(self.migrations))

    def new_migration(self, change: Change, make_app) -> str:
        """Edit the models, bring a database to head, autogenerate; returns the new revision's id."""
        models = self.root / "yt_pubsub_handler" / "models.py"
        models.write_text(change.models(models.read_text()))
        url = self.database()
        from yt_pubsub_handler import migrator

        with self.app(make_app, url).app_context():
            migrator.upgrade()
        path, output = autogenerate_revision(self.root, url, change.message)
        assert path is not None, f"autogenerate found no change:\n{output}"
        if change.review:  # the reviewer's edit, then their editor's formatter
            path.write_text(change.review(path.read_text()))
            subprocess.run(
                [sys.executable, "-m", "ruff", "format", str(path)], cwd=self.root, check=True, capture_output=True
            )
        revision = re.search(r'^revision = "(\w+)"$', path.read_text(), re.MULTILINE).group(1)
        assert chain_of(self.migrations)[-1] == revision
        return revision


@pytest.fixture
def workspace(tmp_path: Path, pg_admin_url: str) -> Iterator[Workspace]:
    """A copy of the checkout's app as it is (not yet committed revisions included) and what the new-migration path
    reads besides: the README's migration table, ruff's and squawk's settings."""
    root = copy_deployable(tmp_path / "repo", also=DEVELOPER_FILES)
    space = Workspace(root, pg_admin_url, [])
    yield space
    for url in space.databases:
        drop_database(pg_admin_url, url)


# -- the generic checks, as the suite runs them --------------------------------------------------------------------


def pytest_alembic_checks(space: Workspace, make_app) -> None:
    """pytest-alembic's single head, upgrade and up/down consistency, from base."""
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    app = space.app(make_app, space.database())
    checks = (
        pytest_alembic_default.test_single_head_revision,
        pytest_alembic_default.test_upgrade,
        pytest_alembic_default.test_up_down_consistency,
    )
    with app.app_context(), db.engine.connect() as conn:
        for check in checks:
            with alembic_runner_for(app, conn) as runner:
                check(runner)
            conn.commit()
            migrator.downgrade(revision="base")  # the next check starts from an empty schema


def round_trip(space: Workspace, make_app, revision: str) -> None:
    from yt_pubsub_handler.extensions import db

    app = space.app(make_app, space.database())
    with app.app_context():
        report = roundtrip(revision, chain_of(space.migrations)[-2])
        db.engine.dispose()
    assert report.seeded, "nothing was seeded below the new revision: the round trip proved nothing"


def squawk(space: Workspace, revision: str) -> migration_lint.LintResult:
    """The new revision's SQL, both directions, against the copy's allowlist (the team's own revisions are
    `make check-migrations`'s to judge)."""
    items = migration_lint.revision_sql(str(space.migrations), [revision])
    findings = migration_lint.lint(items, config=space.root / ".squawk.toml")
    allowlist = migration_lint.load_allowlist(migration_lint.allowlist_for(space.migrations))
    return migration_lint.check(findings, allowlist, [revision])


def _invoke(port: int, function: str, **payload) -> dict:
    answer = LambdaClient(f"http://127.0.0.1:{port}", timeout=120).invoke(
        FUNCTION_NAME, zappa_command(f"run.{function}", payload)
    )
    assert answer.ok, f"{function}: {answer.describe()}"
    return answer.json()


def through_lambda(space: Workspace, make_app, tmp_path: Path, revision: str) -> None:
    """The production path on the copy: upgrade, check the models, down one, up again; same schema as direct."""
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    lambda_url, direct_url = space.database(), space.database()
    port = free_port()
    project = copy_project(space.root, tmp_path / "lambda", port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
    env["DATABASE_URL"] = lambda_url
    emulator = start_emulator(project, port, "--stage", "local", api=False, env=env)
    direct = space.app(make_app, direct_url)
    try:
        up = _invoke(port, "run_alembic_upgrade")
        assert up["to_revision"] == revision and up["steps"][-1]["revision"] == revision, up
        assert _invoke(port, "run_alembic_check")["ok"] is True
        down = _invoke(port, "run_alembic_downgrade")
        assert [s["revision"] for s in down["steps"]] == [revision], down
        again = _invoke(port, "run_alembic_upgrade")
        assert [s["revision"] for s in again["steps"]] == [revision], again
        with direct.app_context():
            migrator.upgrade()
            db.engine.dispose()
        differences = diff_snapshots(catalog_snapshot(direct_url), catalog_snapshot(lambda_url))
        assert not differences, "the schema through Lambda differs from the direct one:\n" + "\n".join(differences)
    finally:
        emulator.stop()


# -- the tests ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(SAFE))
def test_a_safe_revision_on_top_of_head_passes_every_check(kind, workspace, make_app, tmp_path) -> None:
    head = head_of(workspace.migrations)
    revision = workspace.new_migration(SAFE[kind], make_app)
    path = next((workspace.migrations / "versions").glob(f"*{revision}*.py"))
    text = path.read_text()
    assert f'down_revision = "{head}"' in text and "SET LOCAL lock_timeout" in text  # the template
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", str(path)], cwd=workspace.root, capture_output=True, text=True
    )
    assert lint.returncode == 0, f"the generated revision does not pass `make lint`:\n{lint.stdout}{lint.stderr}"
    assert migration_history.main(["--project-dir", str(workspace.root), "--check"]) == 0

    pytest_alembic_checks(workspace, make_app)
    round_trip(workspace, make_app, revision)
    result = squawk(workspace, revision)
    assert result.ok, migration_lint.explain(result)
    through_lambda(workspace, make_app, tmp_path, revision)


def test_not_null_without_default_fails_naming_the_revision_and_the_fix(workspace, make_app) -> None:
    revision = workspace.new_migration(UNSAFE["not_null_without_default"], make_app)
    with pytest.raises(RoundTripError) as caught:
        round_trip(workspace, make_app, revision)
    message = str(caught.value)
    assert message.startswith(f"revision {revision}: upgrade failed on a database seeded with rows")
    assert "NotNullViolation" in message and "add the column nullable, backfill it in batches" in message

    result = squawk(workspace, revision)
    assert [(f.revision, f.direction, f.rule) for f in result.new] == [(revision, "upgrade", "adding-required-field")]
    explained = migration_lint.explain(result)
    assert f"error: revision {revision} (upgrade): squawk adding-required-field" in explained
    assert "fix: " in explained and f'revision = "{revision}"' in explained


def test_a_plain_integer_fails_squawk_naming_the_revision_and_how_to_allow_it(workspace, make_app) -> None:
    revision = workspace.new_migration(UNSAFE["plain_integer"], make_app)
    round_trip(workspace, make_app, revision)  # the data survive: only the lint objects
    result = squawk(workspace, revision)
    assert [(f.revision, f.direction, f.rule) for f in result.new] == [(revision, "upgrade", "prefer-bigint-over-int")]
    explained = migration_lint.explain(result, workspace.migrations / migration_lint.ALLOWLIST_NAME)
    assert f"error: revision {revision} (upgrade): squawk prefer-bigint-over-int" in explained
    assert "fix: Use 64-bit integer values instead" in explained
    assert f'[[allow]]\n    rule = "prefer-bigint-over-int"\n    revision = "{revision}"' in explained
    assert 'reason = "..."' in explained


def test_an_autogenerated_rename_is_flagged_for_review_and_fails_as_data_loss(workspace, make_app) -> None:
    """Renaming a model attribute: autogenerate writes an add and a drop; the template says so, and the round trip
    fails first with "data loss", the count and the alter_column to write instead."""
    workspace.new_migration(
        Change(
            "add videos.workflow_probe_url",
            _video_column("workflow_probe_url: Mapped[str | None] = mapped_column(sa.Text)"),
        ),
        make_app,
    )
    renamed = Change(
        "rename videos.workflow_probe_url", lambda models: models.replace("workflow_probe_url:", "workflow_probe_link:")
    )
    revision = workspace.new_migration(renamed, make_app)
    text = next((workspace.migrations / "versions").glob(f"*{revision}*.py")).read_text()
    assert "# REVIEW: this drops videos.workflow_probe_url and adds a column to videos" in text, text
    assert 'op.alter_column("videos", "workflow_probe_url", new_column_name=NEW_NAME)' in text
    with pytest.raises(RoundTripError) as caught:
        round_trip(workspace, make_app, revision)
    message = str(caught.value)
    first = message.splitlines()[0]
    assert first.startswith(f"data loss: revision {revision} (upgrade) dropped videos.workflow_probe_url holding ")
    assert re.search(r"holding \d+ non-null values \(data loss\)", first), first
    assert "op.alter_column('videos', 'workflow_probe_url', new_column_name='workflow_probe_link')" in message
