"""Fixtures for the emulator tests; the harness itself is in ``emulator_harness.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from emulator_harness import FIXTURE_PROJECT, Emulator, copy_project, fixture_env, free_port, start_emulator


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
