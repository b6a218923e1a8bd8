"""The suite's own tiers (tests/support/tiers.py): the dearest of a test's marks and fixtures wins, and a test of a
cheap tier that starts what a dearer tier pays for fails, naming the mark it needs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from tests.support import tiers


@dataclass
class FakeItem:
    marks: tuple[str, ...] = ()
    fixturenames: tuple[str, ...] = ()
    added: list[str] = field(default_factory=list)
    user_properties: list = field(default_factory=list)

    def iter_markers(self):
        return iter([getattr(pytest.mark, name).mark for name in (*self.marks, *self.added)])

    def get_closest_marker(self, name: str):
        return next((m for m in self.iter_markers() if m.name == name), None)

    def add_marker(self, marker) -> None:
        self.added.append(marker.name)


@pytest.mark.parametrize(
    ("marks", "fixtures", "tier"),
    [
        ((), (), "unit"),
        ((), ("tmp_path", "pg_admin_url"), "db"),
        (("db",), ("emulator_factory",), "emulator"),
        (("emulator",), ("pg_admin_url",), "emulator"),
        (("slow",), ("docker_stack", "pg_admin_url"), "docker"),
    ],
)
def test_the_dearest_mark_or_fixture_is_the_tier(marks, fixtures, tier) -> None:
    item = FakeItem(marks, fixtures)
    tiers.assign([item])
    assert tiers.tier_of(item) == tier
    assert [name for name in item.added if name in tiers.TIERS] in ([], [tier])  # one marker, added once
    assert item.get_closest_marker(tier) is not None and ("tier", tier) in item.user_properties


def test_a_unit_test_that_starts_postgres_or_an_emulator_is_told_its_mark(monkeypatch) -> None:
    from dev.emulator import client
    from dev.postgres import EmbeddedPostgres

    tiers.guard(FakeItem(), monkeypatch)
    with pytest.raises(AssertionError, match=r"unit tier but starts a PostgreSQL cluster: mark it `@pytest.mark.db`"):
        EmbeddedPostgres.start(None)
    with pytest.raises(AssertionError, match=r"unit tier but starts an emulator: mark it `@pytest.mark.emulator`"):
        client.start()


def test_a_db_test_may_start_postgres_but_not_an_emulator(monkeypatch) -> None:
    from dev.emulator import client
    from dev.postgres import EmbeddedPostgres

    real_start = EmbeddedPostgres.start
    tiers.guard(FakeItem(fixturenames=("pg_admin_url",)), monkeypatch)
    assert EmbeddedPostgres.start is real_start
    with pytest.raises(AssertionError, match=r"db tier but starts an emulator"):
        client.start()
