"""Every test's tier, by what it costs: one marker each, from the cheapest to the dearest.

- ``unit``: no server at all;
- ``db``: one PostgreSQL (the session's cluster, or one a test starts itself);
- ``emulator``: starts emulator processes (``python -m dev.emulator``, a sandbox, a rehearsal);
- ``docker``: needs a Docker engine (starts containers).

``slow`` is not a tier: it marks heavy variants that ``make test`` leaves to ``make soak``/``make bench``.

A test's tier is the dearest of the marks it carries (on the test, its class or its module) and of the fixtures it
uses (below); ``assign`` adds that one marker at collection, so ``-m unit``, ``-m "unit or db"`` ... select by
cost. ``guard`` makes a mistake visible: a test of a cheap tier that starts a PostgreSQL cluster or an emulator in
this process fails, naming the mark it needs.
"""

from __future__ import annotations

import pytest

TIERS = ("unit", "db", "emulator", "docker")

# Fixtures whose use puts a test in a tier (the fixture's whole closure counts: ``app`` needs ``pg_admin_url``).
FIXTURE_TIERS = {
    "pg_admin_url": "db",
    "emulator": "emulator",
    "emulator_factory": "emulator",
    "app_emulators": "emulator",
    "docker_stack": "docker",
}


def tier_of(item: pytest.Item) -> str:
    """The dearest tier among the item's own marks and the fixtures it uses."""
    found = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
    fixtures = getattr(item, "fixturenames", ())
    found |= {tier for name, tier in FIXTURE_TIERS.items() if name in fixtures}
    return max(found, key=TIERS.index, default="unit")


def assign(items: list[pytest.Item]) -> None:
    """Give each collected test its tier's marker (once)."""
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(getattr(pytest.mark, tier))
        item.user_properties.append(("tier", tier))


def _refuse(what: str, mark: str, tier: str):
    def refused(*args, **kwargs):
        raise AssertionError(
            f"this test is in the {tier} tier but {what}: mark it `@pytest.mark.{mark}` (or its module "
            f"`pytestmark = pytest.mark.{mark}`): its tier is what `make test-fast` and the other targets select by"
        )

    return refused


def guard(item: pytest.Item, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refuse, in this process, what the item's tier does not pay for."""
    tier = tier_of(item)
    if tier in ("unit", "db"):
        from dev.emulator import client

        monkeypatch.setattr(client, "start", _refuse("starts an emulator", "emulator", tier))
    if tier == "unit":
        from dev.postgres import EmbeddedPostgres

        monkeypatch.setattr(EmbeddedPostgres, "start", _refuse("starts a PostgreSQL cluster", "db", tier))
