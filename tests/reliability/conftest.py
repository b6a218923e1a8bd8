"""Fixtures for the fault and load suite: databases and emulators that are cleaned up whatever happens.

The helpers themselves are in ``reliability_harness.py``; ``pg_admin_url`` comes from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from reliability_harness import Emulator, create_database, drop_database, start_app_emulator


@pytest.fixture
def new_database(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Factory of empty databases on the test server, all dropped at teardown (a test may need several)."""
    created: list[str] = []

    def factory() -> str:
        created.append(create_database(pg_admin_url))
        return created[-1]

    yield factory
    for url in created:
        drop_database(pg_admin_url, url)


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
