"""Lambda's read-only task root: the project is read-only to the functions, as ``/var/task`` is on Lambda.

A function that writes beside its code (SQLite in the project, a cache, an upload) works on a laptop and fails after
deploy with ``[Errno 30] Read-only file system``. In the same mount namespace that gives each environment its private
``/tmp``, the emulator binds the project onto itself read-only, so the write fails here first. The change watcher runs
outside that namespace: an edit on the host still reaches the next (eagerly warmed) environment.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.support.emulator_harness import Emulator

pytestmark = pytest.mark.emulator
IDLE_ONE = {"busy": 0, "warm": 1, "starting": 0}


def _edit_version(emulator: Emulator, version: int) -> None:
    module = emulator.project_dir / "fns.py"
    module.write_text(re.sub(r"VERSION = \d+", f"VERSION = {version}", module.read_text()))


def test_a_write_into_the_task_root_fails_as_on_lambda_and_edits_still_arrive(emulator_factory) -> None:
    emulator: Emulator = emulator_factory()
    assert emulator.health()["task_root"] == "read-only"
    assert "task root: read-only to the functions, as /var/task on Lambda" in emulator.console()
    target = emulator.project_dir / "written-by-the-function.txt"

    refused = emulator.invoke("fns.touch", stage="base", path=str(target))
    assert refused.get("FunctionError") == "Unhandled", refused["Body"]
    assert refused["Body"]["errorType"] == "OSError", refused["Body"]
    assert "[Errno 30] Read-only file system" in refused["Body"]["errorMessage"], refused["Body"]
    assert not target.exists()

    # What Lambda does allow still works: /tmp, and a directory outside the task root.
    assert emulator.invoke("fns.tmp_write", stage="base", name="ok")["Body"]["exists"]
    outside = emulator.shared_path("outside")
    assert emulator.invoke("fns.touch", stage="base", path=str(outside))["Body"] == "touched"
    assert outside.is_file()

    # The host still edits the project; the watcher sees it and the eager warm-up loads the new code.
    generation = emulator.generation()
    _edit_version(emulator, 7)
    emulator.wait_until(
        lambda h: h["generation"] > generation and h["environments"]["emu-fixture-base"] == IDLE_ONE,
        what="no fresh warm environment after the edit",
    )
    after = emulator.invoke("fns.echo", stage="base")
    assert after["Body"]["version"] == 7 and after["Body"]["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == (
        "provisioned-concurrency"
    )
    again = emulator.invoke("fns.touch", stage="base", path=str(target))
    assert "[Errno 30] Read-only file system" in again["Body"]["errorMessage"], "the fresh environment is read-only too"


def test_writable_task_root_is_a_deliberate_choice_the_banner_warns_about(emulator_factory) -> None:
    emulator: Emulator = emulator_factory("--writable-task-root")
    assert emulator.health()["task_root"] == "writable"
    assert "WARNING: the task root is WRITABLE to the functions here (--writable-task-root)" in emulator.console()
    target = emulator.project_dir / f"written-{time.monotonic_ns()}.txt"
    assert emulator.invoke("fns.touch", stage="base", path=str(target))["Body"] == "touched"
    assert target.is_file()


def test_without_a_namespace_the_banner_says_the_task_root_is_writable(emulator_factory) -> None:
    emulator: Emulator = emulator_factory("--tmp", "tmpdir")
    assert emulator.health()["task_root"] == "writable"
    assert "WARNING: the task root is WRITABLE to the functions here (no mount namespace" in emulator.console()
