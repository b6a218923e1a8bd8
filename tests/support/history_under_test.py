"""The history under test and pytest-alembic's runner for it: what the migration tests import (conftest.py only
defines the fixtures, so no test imports a conftest module, whose name pytest may have given to another directory's).

``MIGRATIONS_DIR`` in the environment points the whole kit at another migrations directory (a bad-revision
fixture, a branch under review), e.g. ``MIGRATIONS_DIR=/tmp/x make check-migrations``.

Our revisions use ``autocommit_block()`` (CREATE INDEX CONCURRENTLY), which Alembic only allows when it owns the
connection's transactions. pytest-alembic reuses one connection across runs and its read-only runs (``current``)
leave an autobegun transaction open, which Alembic then takes for a caller's transaction. The runner here settles
(commits) the connection around every run; each test has its own throwaway database.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic.config import Config as AlembicConfig
from flask import Flask
from pytest_alembic import runner as alembic_runner_context
from pytest_alembic.config import Config as PytestAlembicConfig
from pytest_alembic.executor import CommandExecutor
from pytest_alembic.runner import MigrationContext
from sqlalchemy.engine import Connection


def migrations_dir() -> str:
    """The migrations directory under test: $MIGRATIONS_DIR, else the project's."""
    from yt_pubsub_handler import MIGRATIONS_DIR

    return str(Path(os.environ.get("MIGRATIONS_DIR") or MIGRATIONS_DIR).resolve())


def _settle(conn: Any) -> None:
    if isinstance(conn, Connection) and conn.in_transaction() and not conn.in_nested_transaction():
        conn.commit()


class _SettlingExecutor(CommandExecutor):
    """Commits the shared connection before and after each env.py run, so Alembic owns every transaction."""

    def _run_env(self, fn: Any, revision: str | None = None) -> None:
        conn = self.alembic_config.attributes.get("connection")
        _settle(conn)
        try:
            super()._run_env(fn, revision)
        finally:
            _settle(conn)

    def execute_fn(self, fn: Any) -> None:
        conn = self.alembic_config.attributes.get("connection")
        _settle(conn)
        try:
            super().execute_fn(fn)
        finally:
            _settle(conn)


def alembic_config_for(app: Flask) -> AlembicConfig:
    """Flask-Migrate's own Alembic config (alembic.ini, script location) for ``app``'s migrations directory."""
    config = app.extensions["migrate"].migrate.get_config(app.config["MIGRATIONS_DIR"])
    config.attributes["configure_logger"] = False  # keep pytest's log capture working
    return config


@contextmanager
def alembic_runner_for(app: Flask, conn: Connection, config: AlembicConfig | None = None) -> Iterator[MigrationContext]:
    """A pytest-alembic runner over ``conn`` for ``app``'s migrations, with the settling executor."""
    raw = PytestAlembicConfig.from_raw_config(config or alembic_config_for(app))
    with alembic_runner_context(config=raw, engine=conn) as context:
        fields = {f.name: getattr(context.command_executor, f.name) for f in dataclasses.fields(CommandExecutor)}
        yield dataclasses.replace(context, command_executor=_SettlingExecutor(**fields))


def revisions() -> list[tuple[str, str | None]]:
    """(revision, down_revision) of the history under test, oldest first: what the checks are parametrized by."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(migrations_dir())
    return [(s.revision, s.down_revision) for s in reversed(list(script.walk_revisions()))]


@dataclasses.dataclass(frozen=True)
class UpgradeFailure:
    """The first revision whose upgrade fails on an empty database, and Alembic's error."""

    revision: str
    error: str

    def skip_below(self, revision: str | None = None) -> None:
        """Skip a check that needs the history to upgrade (to ``revision``, or to head): its cause is reported once,
        by the failing revision's own round trip."""
        import pytest

        chain = [r for r, _ in revisions()]
        if revision is None or chain.index(self.revision) < chain.index(revision):
            pytest.skip(
                f"revision {self.revision} fails to upgrade an empty database, so this check cannot run: its own "
                f"round trip (tests/migrations/test_roundtrip.py[{self.revision}]) reports why"
            )


def first_upgrade_failure(database_url: str) -> UpgradeFailure | None:
    """Upgrade an empty database one revision at a time; the first revision that fails, else None."""
    from yt_pubsub_handler import create_app, migrator
    from yt_pubsub_handler.extensions import db

    app = create_app({"DATABASE_URL": database_url, "MIGRATIONS_DIR": migrations_dir()})
    with app.app_context():
        try:
            for revision, _ in revisions():
                try:
                    migrator.upgrade(revision=revision)
                except migrator.MigrationError as exc:
                    return UpgradeFailure(revision, str(exc).splitlines()[0])
            return None
        finally:
            db.engine.dispose()
