"""Through Lambda: the invoke path migrates exactly like the direct path, revision by revision.

Production migrates with ``zappa invoke production 'run.run_alembic_upgrade'``: Zappa's handler, a fresh process,
the settings module Zappa generates, Lambda's environment and logging. The rest of the kit calls
``yt_pubsub_handler.migrator`` in-process. This test makes sure the two cannot drift apart: one full cycle
base -> head -> base -> head, one revision per invocation, through a real emulator subprocess (``python -m
dev.emulator``) on one fresh database, and the same sequence in-process on another. After every step both catalog
snapshots must be equal, and the dicts the two paths return must report the same steps.

The emulator serves a temporary copy of the project (``run.py``, the package, the migrations under test,
``zappa_settings.json`` with the ``local`` stage pointed at a free port), so its ``.runtime/`` stays out of the tree
and ``MIGRATIONS_DIR`` is honoured on both paths.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dev.emulator.client import LambdaClient, zappa_command
from dev.project_copy import copy_deployable
from tests.support.emulator_harness import copy_project, free_port, start_emulator
from tests.support.history_under_test import UpgradeFailure, migrations_dir, revisions
from tests.support.snapshot import catalog_snapshot, diff_snapshots

pytestmark = pytest.mark.emulator

STAGE = "local"
FUNCTION_NAME = "yt-pubsub-handler-local"  # slug of project_name-stage, as Zappa names it
# What a step is, independent of how long it took (``ms`` differs from run to run).
STEP_KEYS = ("revision", "down_revision", "message", "direction")
RESULT_KEYS = ("action", "from_revision", "to_revision")


def _revisions() -> list[str]:
    return [revision for revision, _ in revisions()]


def _cycle(revisions: list[str]) -> list[tuple[str, str]]:
    """(function, target) for base -> head -> base -> head, one revision per call."""
    up = [("upgrade", rev) for rev in revisions]
    down = [("downgrade", rev) for rev in reversed(revisions[:-1])] + [("downgrade", "base")]
    return up + down + up


def _comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {
        **{key: result.get(key) for key in RESULT_KEYS},
        "steps": [{key: step.get(key) for key in STEP_KEYS} for step in result.get("steps", [])],
    }


@pytest.fixture
def lambda_project(tmp_path: Path) -> tuple[Path, int]:
    """A deployable copy of the project with the migrations under test; (its directory, the emulator's port)."""
    source = copy_deployable(tmp_path / "source")
    shutil.rmtree(source / "migrations")
    shutil.copytree(migrations_dir(), source / "migrations", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    port = free_port()
    return copy_project(source, tmp_path / "project", port), port


def _invoke(port: int, function: str, revision: str) -> dict[str, Any]:
    answer = LambdaClient(f"http://127.0.0.1:{port}", timeout=120).invoke(
        FUNCTION_NAME, zappa_command(f"run.run_alembic_{function}", {"revision": revision})
    )
    assert answer.ok, f"{function} {revision}: {answer.describe()}"
    return answer.json()


def test_invoke_path_matches_direct_path(
    database_url: str,
    new_database: Callable[[], str],
    lambda_project: tuple[Path, int],
    upgrade_failure: UpgradeFailure | None,
) -> None:
    from yt_pubsub_handler import create_app, migrator
    from yt_pubsub_handler.extensions import db

    if upgrade_failure is not None:
        upgrade_failure.skip_below()
    project, port = lambda_project
    direct_url = new_database()  # the direct path's
    revisions = _revisions()
    assert len(revisions) >= 2, "a cycle over fewer than two revisions proves little"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
    env["DATABASE_URL"] = database_url
    emulator = start_emulator(project, port, "--stage", STAGE, api=False, env=env)
    direct_app = create_app({"DATABASE_URL": direct_url, "MIGRATIONS_DIR": migrations_dir()})
    try:
        for number, (function, target) in enumerate(_cycle(revisions), start=1):
            via_lambda = _invoke(port, function, target)
            with direct_app.app_context():
                direct = getattr(migrator, function)(revision=target)
            label = f"step {number}: {function} to {target}"
            assert _comparable(via_lambda) == _comparable(direct), f"{label}: the two paths report different steps"
            assert len(via_lambda["steps"]) == 1, f"{label}: expected exactly one applied revision, got {via_lambda}"
            differences = diff_snapshots(catalog_snapshot(direct_url), catalog_snapshot(database_url))
            assert not differences, f"{label}: the schema through Lambda differs from the direct one:\n" + "\n".join(
                differences
            )
        assert via_lambda["to_revision"] == revisions[-1]
    finally:
        with direct_app.app_context():
            db.engine.dispose()
        emulator.stop()
    # The invocations really went through Zappa's handler in the emulator (its log names each call).
    console = emulator.console()
    assert console.count("run.run_alembic_upgrade") >= 2 * len(revisions), console[-2000:]
