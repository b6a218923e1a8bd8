"""The deploy's phases in each order: which code serves, what happens to the schema, how long traffic is held.

``update-first`` is this team's order (``zappa update``, then ``zappa invoke ... run_alembic_upgrade``): the new
code serves on the old schema until the migration has run. ``migrate-first`` runs the upgrade from the new package
while the old code still serves, then moves traffic: the old code serves on the new schema meanwhile. A rollback is
the same in both: the new package's ``run_alembic_downgrade`` (the old package does not know the new revisions),
then the old code back.
"""

from __future__ import annotations

from dataclasses import dataclass

ORDERS = ("update-first", "migrate-first")


@dataclass(frozen=True)
class Phase:
    name: str
    code: str  # which version serves: "base" or "new"
    schema: str  # "base", "new", or "base -> new" / "new -> base" while a migration runs
    switch_to: str | None = None  # the version that takes over when the phase begins (zappa update)
    migrate: str | None = None  # "upgrade" or "downgrade": run through the new package's Invoke API
    hold: bool = True  # traffic keeps flowing for the hold time once the phase's action is done

    def describe(self) -> str:
        return f"{self.code} code\n{self.schema} schema"


def phases(order: str) -> list[Phase]:
    if order == "update-first":
        return [
            Phase("before", "base", "base"),
            Phase("update", "new", "base", switch_to="new"),
            Phase("migrate", "new", "base -> new", migrate="upgrade", hold=False),
            Phase("after", "new", "new"),
            Phase("rollback", "new", "new -> base", migrate="downgrade"),
            Phase("restored", "base", "base", switch_to="base"),
        ]
    if order == "migrate-first":
        return [
            Phase("before", "base", "base"),
            Phase("migrate", "base", "base -> new", migrate="upgrade"),
            Phase("after", "new", "new", switch_to="new"),
            Phase("rollback", "new", "new -> base", migrate="downgrade"),
            Phase("restored", "base", "base", switch_to="base"),
        ]
    raise ValueError(f"unknown order {order!r}: choose one of {', '.join(ORDERS)}")
