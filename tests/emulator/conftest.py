"""Fixtures for the emulator tests; the harness itself is in ``tests/support/emulator_harness.py``."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.emulator_harness import (
    FIXTURE_PROJECT,
    VENV_NAME,
    VENV_PROJECT,
    Emulator,
    copy_project,
    fixture_env,
    free_port,
    make_virtualenv,
    pinned,
    start_emulator,
)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator for most tests: the fixture project, default limits, DATABASE_URL and one more passed."""
    port = free_port()
    project = copy_project(FIXTURE_PROJECT, tmp_path_factory.mktemp("emulator") / "project", port)
    emu = start_emulator(
        project, port, "--pass-env", "DATABASE_URL", "--pass-env", "EMULATOR_TEST_SECRET", env=fixture_env()
    )
    yield emu
    emu.stop()


@pytest.fixture
def emulator_factory(tmp_path: Path) -> Iterator[Callable[..., Emulator]]:
    """Emulators with special options on a private project copy; all stopped at teardown."""
    started: list[Emulator] = []

    def factory(*args: str, api: bool = False) -> Emulator:
        port = free_port()
        project = copy_project(FIXTURE_PROJECT, tmp_path / f"project-{port}", port)
        emu = start_emulator(project, port, *args, api=api, env=fixture_env())
        started.append(emu)
        return emu

    yield factory
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def project_virtualenv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with only what a Zappa + Flask function needs (zappa, Flask), built once per session."""
    return make_virtualenv(tmp_path_factory.mktemp("venv") / VENV_NAME, *pinned("zappa", "Flask"))


@pytest.fixture
def venv_project(tmp_path: Path, project_virtualenv: Path) -> Path:
    """A copy of tests/examples/projects/venv_project with its own virtualenv inside it (a symlink to the session's: the
    emulator finds it by pyvenv.cfg and runs its python through the link, as a venv's bin/python is one)."""
    project = tmp_path / "venv_project"
    shutil.copytree(VENV_PROJECT, project)
    (project / VENV_NAME).symlink_to(project_virtualenv, target_is_directory=True)
    return project
