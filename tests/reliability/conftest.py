"""Fixtures for the fault and load suite: databases and emulators that are cleaned up whatever happens.

The helpers themselves are in ``tests/support/reliability_harness.py``; ``pg_admin_url`` and ``new_database`` come
from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.reliability_harness import Emulator, start_app_emulator


@pytest.fixture
def app_emulators() -> Iterator[Callable[..., Emulator]]:
    """Factory: ``start(project, database_url, *emulator_args, api=True)``; every emulator is stopped at teardown."""
    started: list[Emulator] = []

    def start(project: Path, database_url: str | None, *args: str, api: bool = True) -> Emulator:
        started.append(start_app_emulator(project, database_url, *args, api=api))
        return started[-1]

    yield start
    for emulator in started:
        emulator.stop()
