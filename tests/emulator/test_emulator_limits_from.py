"""``--limits-from STAGE``: every function runs under another stage's timeout and memory, nothing else of it.

``make rehearse`` serves the ``local`` stage (loopback endpoints, local variables) with production's limits; these
tests use the fixture project's stages: ``local`` (5 s, 256 MB) and ``tight`` (1 s, 128 MB).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dev.emulator.client import zappa_command
from dev.emulator.settings import SettingsError, load_stages, with_limits_from
from tests.support.emulator_harness import (
    FIXTURE_PROJECT,
    copy_project,
    fixture_env,
    free_port,
    start_emulator,
    start_refused,
)

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> dict:
    project = FIXTURE_PROJECT
    return load_stages(project, project / "zappa_settings.json", drop_env=[], runtime_dir=tmp_path_factory.mktemp("r"))


def test_only_the_two_limits_move(stages: dict) -> None:
    limited = with_limits_from(stages, "tight")
    tight, local = stages["tight"], stages["local"]
    assert (tight.timeout_seconds, tight.memory_size) != (local.timeout_seconds, local.memory_size)
    for name, config in limited.items():
        assert (config.timeout_seconds, config.memory_size) == (tight.timeout_seconds, tight.memory_size), name
        # Everything else is the stage's own: name, variables, storage, settings module.
        original = stages[name]
        assert config.function_name == original.function_name
        assert config.environment_variables == original.environment_variables
        assert config.ephemeral_storage_mb == original.ephemeral_storage_mb
        assert config.settings_dir == original.settings_dir
    assert stages["local"].timeout_seconds == local.timeout_seconds, "the input must not be changed"


def test_an_unknown_stage_names_the_stages_there_are(stages: dict) -> None:
    with pytest.raises(SettingsError, match=r"--limits-from prod: no such stage .*local.*tight"):
        with_limits_from(stages, "prod")


def test_the_served_function_is_cut_at_the_other_stages_timeout(tmp_path: Path) -> None:
    port = free_port()
    project = copy_project(FIXTURE_PROJECT, tmp_path / "project", port)
    emulator = start_emulator(project, port, "--limits-from", "tight", api=False, env=fixture_env())
    try:
        # local's own timeout is 5 s: a 600 s sleep ending after 1.00 s can only be tight's limit at work.
        answer = emulator.client(timeout=120).invoke("emu-fixture-local", zappa_command("fns.sleep", {"seconds": 600}))
        assert answer.function_error == "Unhandled", answer.describe()
        error = answer.json()
        assert error["errorType"] == "Sandbox.Timedout", answer.describe()
        assert "Task timed out after 1.00 seconds" in error["errorMessage"]
        assert "Memory Size: 128 MB" in answer.log, answer.log
        assert "limits from stage tight" in emulator.console()
    finally:
        emulator.stop()


def test_a_missing_stage_stops_the_emulator_before_it_listens(tmp_path: Path) -> None:
    port = free_port()
    project = copy_project(FIXTURE_PROJECT, tmp_path / "project", port)
    refused = start_refused("--limits-from", "nowhere", log=tmp_path / "e.log", project_dir=project)
    assert refused.returncode == 2
    assert "--limits-from nowhere: no such stage" in refused.log
