"""How one table's rows are generated: every value a function of the row number ``g``, unique keys kept unique.

Columns are generated in units: a column on its own, the columns of one foreign key together (they take one parent
row's key), or an identity/serial column (explicit values along its sequence, which is moved past them after).

A unit outside every unique key cycles through its representative values on its own. For a unique key, the seeder
numbers the key's units in a mixed radix: the first unit takes digit ``g % r1`` (one of its ``r1`` distinct values),
the next ``(g / r1) % r2``, and so on, a unit with unlimited distinct values taking all that is left. Different
row numbers then have different digits, so different keys: a composite primary key ``(video_id, tag)`` gets every
video, then every video again with the next tag, never the same pair twice, at any row count. Keys that share
units reuse the digits already given; when a key's units cannot tell more than ``R`` rows apart (two enums, two
small parents), the table gets at most ``R`` rows. NULLs still appear where a nullable unit allows them (NULLs never
collide under a unique key, unless it is ``NULLS NOT DISTINCT``).

A self-reference points at rows inserted before: row ``g`` at row ``(g - 1) / 2`` (a tree two children wide),
row 0 at nothing (or at itself, when the column is NOT NULL); when the reference itself is unique, at row ``g - 1``
(or at itself).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .catalog import Column, ForeignKey, Table
from .values import Generator, generator


class TableSeedError(RuntimeError):
    """A table the seeder cannot fill (a NOT NULL column with no generator for its type and no default, ...); the
    message says what to change and where."""


_SEQUENCE_ROOM = {"int2": 32_767, "int4": 2_147_483_647}  # an int2/int4 serial runs out there


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(eq=False)
class Unit:
    """Columns generated together. ``capacity``: how many distinct values it can take (None: unlimited)."""

    columns: tuple[str, ...]
    capacity: int | None
    nullable: bool  # NULLs allowed in every column (a foreign key's columns are NULL together)
    column: Column | None = None  # a plain or sequence column
    values: Generator | None = None  # a plain column's generators
    fk: ForeignKey | None = None  # a foreign key to another table
    parent_alias: str = ""  # its parent's keys in the statement: ``alias.k0``, ``alias.k1`` ...
    self_ref: ForeignKey | None = None  # a foreign key to this same table
    sequence: bool = False  # an identity/serial column: its sequence's values, explicitly
    always_distinct: bool = False  # a new value in every row, whatever the keys (a sequence, a unique self-reference)
    role: tuple[int, int | None] | None = None  # (P, r): keyed digit (g / P) % r; None: free


@dataclass
class TablePlan:
    """One table's INSERT ... SELECT over ``generate_series(:lo, :hi) AS g``, and the most rows it can hold."""

    table: Table
    count: int
    units: list[Unit] = field(default_factory=list)
    never_null: set[str] = field(default_factory=set)  # what a self-reference reads, NULLS NOT DISTINCT keys

    def unit_of(self, column: str) -> Unit | None:
        return next((u for u in self.units if column in u.columns), None)

    # -- SQL ------------------------------------------------------------------------------------------------------
    def _index(self, unit: Unit, g: str) -> str:
        """The unit's value number for row ``g``: its keyed digit, or ``g`` itself when it cycles freely."""
        if unit.role is None:
            return g
        step, radix = unit.role
        index = g if step == 1 else f"(({g}) / {step})"
        return index if radix is None else f"(({index}) % {radix})"

    def value_at(self, unit: Unit, column: str, g: str) -> str:
        """SQL of ``column`` (of ``unit``) in row ``g``, before NULLs are mixed in."""
        if unit.sequence:
            col = unit.column
            assert col is not None and col.sequence_start is not None
            return f"({col.sequence_start} + ({g}) * {col.sequence_increment})::{col.type_sql}"
        if unit.fk is not None:  # the parent row joined on the unit's index (see insert_sql)
            return f"{unit.parent_alias}.k{unit.fk.columns.index(column)}"
        if unit.self_ref is not None:
            return self._self_value(unit, column, g)
        assert unit.values is not None
        return unit.values.keyed(self._index(unit, g)) if unit.role else unit.values.free(g)

    def _self_value(self, unit: Unit, column: str, g: str) -> str:
        fk = unit.self_ref
        assert fk is not None
        ref_column = fk.ref_columns[fk.columns.index(column)]
        ref_unit = self.unit_of(ref_column)
        assert ref_unit is not None
        tree = f"(({g}) - 1) / 2"  # two children per row
        previous = f"({g}) - 1" if unit.nullable else g  # a unique key covers it: one row each (or itself)
        parent = previous if unit.always_distinct else tree
        value = self.value_at(ref_unit, ref_column, f"({parent})")
        if unit.nullable:
            return f"CASE WHEN ({g}) = 0 THEN NULL ELSE {value} END"
        return f"CASE WHEN ({g}) = 0 THEN {self.value_at(ref_unit, ref_column, '0')} ELSE {value} END"

    def gets_nulls(self, unit: Unit) -> bool:
        """Whether the unit is NULL in every fourth row (rows ``g % 4 = 3``)."""
        return unit.nullable and not unit.always_distinct and not set(unit.columns) & self.never_null

    def expression(self, unit: Unit, column: str) -> str:
        value = self.value_at(unit, column, "g")
        return f"CASE WHEN g % 4 = 3 THEN NULL ELSE {value} END" if self.gets_nulls(unit) else value

    def insert_sql(self) -> str:
        exprs = {c: self.expression(u, c) for u in self.units for c in u.columns}
        ordered = [c for c in self.table.columns if c in exprs]
        joins = []
        for unit in self.units:
            if unit.fk is None:
                continue
            # The parent keys numbered 0..n-1, joined on the unit's index: a hash join, where indexing an array of
            # the keys would copy the array for every row.
            refs = ", ".join(f"{_q(c)} AS k{i}" for i, c in enumerate(unit.fk.ref_columns))
            order = ", ".join(_q(c) for c in unit.fk.ref_columns)
            present = " AND ".join(f"{_q(c)} IS NOT NULL" for c in unit.fk.ref_columns)
            numbered = (
                f"SELECT row_number() OVER (ORDER BY {order}) - 1 AS n, {refs} FROM {unit.fk.ref_sql} WHERE {present}"
            )
            index = self._index(unit, "g")
            if unit.role is None and self.gets_nulls(unit):  # the rows not NULL take parents 0, 1, 2, ...: all of them
                index = "(g - g / 4)"
            joins.append(
                f"JOIN ({numbered}) AS {unit.parent_alias} ON {unit.parent_alias}.n = ({index}) % {unit.capacity}"
            )
        sources = " ".join(["generate_series(:lo, :hi) AS g", *joins])
        overriding = " OVERRIDING SYSTEM VALUE" if any(self.table.columns[c].identity for c in ordered) else ""
        return (
            f"INSERT INTO {_q(self.table.name)} ({', '.join(_q(c) for c in ordered)}){overriding} "
            f"SELECT {', '.join(exprs[c] for c in ordered)} FROM {sources} ORDER BY g"
        )

    def sequences(self) -> list[tuple[str, int]]:
        """(sequence, its last value) for every identity/serial column filled: set after the insert so the
        application's next row gets the next number."""
        found = []
        for unit in self.units:
            col = unit.column
            if unit.sequence and col is not None and col.sequence is not None and self.count > 0:
                assert col.sequence_start is not None and col.sequence_increment is not None
                found.append((col.sequence, col.sequence_start + (self.count - 1) * col.sequence_increment))
        return found


def _column_unit(table: Table, column: Column) -> Unit | None:
    """A plain column's unit; None when the column is left to its default (or generated)."""
    nullable = not column.not_null
    if column.generated:
        return None
    if column.sequence is not None and column.sequence_start is not None:
        return Unit((column.name,), None, False, column=column, sequence=True, always_distinct=True)
    if column.identity or (column.default or "").startswith("nextval("):
        return None  # a sequence not owned by the column: its default keeps the values distinct
    values = generator(column)
    if values is not None:
        return Unit((column.name,), values.capacity, nullable, column=column, values=values)
    if nullable:
        null = Generator(lambda g: "NULL", lambda i: "NULL", None)
        return Unit((column.name,), None, False, column=column, values=null)
    if column.default:
        return None
    raise TableSeedError(
        f"cannot seed {table.name}.{column.name} of type {column.type_sql} (NOT NULL, no default): add a generator "
        "for its type in dev/table_seeder/values.py (generator())"
    )


def _distinct_by_default(column: Column) -> bool:
    """A column left to a sequence's default (one the seeder could not resolve): a new value per row."""
    return bool(column.identity) or (column.default or "").startswith("nextval(")


def plan_table(table: Table, count: int, parent_rows: dict[str, int]) -> TablePlan | None:
    """The plan for ``count`` rows (fewer when its unique keys cannot tell that many apart), given how many
    non-NULL keys each foreign key's parent holds (``parent_rows[fk.name]``). None when a NOT NULL foreign key has
    no parent row to point at (its parent is empty, e.g. excluded, or later in a cycle)."""
    plan = TablePlan(table, count)
    in_fk: dict[str, ForeignKey] = {}
    for fk in table.foreign_keys:
        shared = set(fk.columns) & set(in_fk)
        if shared:
            raise TableSeedError(
                f"cannot seed {table.name}: columns {sorted(shared)} belong to two foreign keys "
                f"({in_fk[min(shared)].name}, {fk.name}); the seeder gives each column one parent"
            )
        in_fk.update(dict.fromkeys(fk.columns, fk))
    for i, fk in enumerate(table.foreign_keys):
        nullable = not any(table.columns[c].not_null for c in fk.columns)
        if fk.ref_table == table.name:
            plan.never_null.update(fk.ref_columns)
            plan.units.append(Unit(fk.columns, None, nullable, self_ref=fk))
            continue
        have = parent_rows[fk.name]
        if have == 0:
            if not nullable:
                return None
            null = Generator(lambda g: "NULL", lambda i: "NULL", None)
            for column in fk.columns:
                plan.units.append(Unit((column,), None, False, column=table.columns[column], values=null))
            continue
        plan.units.append(Unit(fk.columns, have, nullable, fk=fk, parent_alias=f"p{i}"))
    for column in table.columns.values():
        if column.name not in in_fk:
            unit = _column_unit(table, column)
            if unit is not None:
                plan.units.append(unit)
    for unit in plan.units:
        col = unit.column
        if unit.sequence and col is not None and col.typname in _SEQUENCE_ROOM:
            assert col.sequence_start is not None and col.sequence_increment is not None
            room = _SEQUENCE_ROOM[col.typname]
            left = (room - col.sequence_start) if col.sequence_increment > 0 else (col.sequence_start + room)
            plan.count = min(plan.count, left // abs(col.sequence_increment) + 1)
    _check_self_references(plan)
    _assign_keys(plan)
    return plan


def _check_self_references(plan: TablePlan) -> None:
    for unit in plan.units:
        fk = unit.self_ref
        if fk is None:
            continue
        for ref in fk.ref_columns:
            ref_unit = plan.unit_of(ref)
            # Only values computed from the row number can be recomputed for an earlier row: not a default's, not
            # a parent's key (that comes from the row's own join).
            if ref_unit is None or ref_unit.self_ref is not None or ref_unit.fk is not None:
                if unit.nullable:  # nothing known to point at: NULL
                    unit.self_ref = None
                    unit.values = Generator(lambda g: "NULL", lambda i: "NULL", None)
                    unit.nullable = False
                    break
                raise TableSeedError(
                    f"cannot seed {plan.table.name}: {fk.name} points at {plan.table.name}.{ref}, whose values the "
                    "seeder cannot recompute for an earlier row (they come from a default or from another foreign "
                    "key); a generator for its type in dev/table_seeder/values.py (generator()) covers the first"
                )


def _assign_keys(plan: TablePlan) -> None:
    """Give the units of every unique key digits that keep the key unique (see the module docstring); lower
    ``plan.count`` to what the keys can tell apart."""
    keys = sorted(plan.table.unique_keys, key=lambda k: (len(k.columns), sorted(k.columns), k.index))
    # A self-reference covered by a unique key points at distinct rows (one each).
    for unit in plan.units:
        if unit.self_ref is not None and any(set(unit.columns) <= set(k.columns) for k in keys):
            unit.always_distinct = True
    for key in keys:
        covered = set(key.columns)
        # The key's units in the key's column order (a unit by its first column there).
        units = sorted(
            (u for u in plan.units if set(u.columns) <= covered), key=lambda u: min(map(key.columns.index, u.columns))
        )
        if key.nulls_not_distinct:
            plan.never_null.update(key.columns)
        defaulted = {c for c in key.columns if plan.unit_of(c) is None}
        if any(u.always_distinct for u in units) or any(_distinct_by_default(plan.table.columns[c]) for c in defaulted):
            continue
        step: int | None = 1
        while step is not None and step < plan.count:
            taken = next((u for u in units if u.role is not None and u.role[0] == step), None)
            if taken is None:
                break
            step = None if taken.role[1] is None else step * taken.role[1]
        if step is None or step >= plan.count:
            continue
        free = [u for u in units if u.role is None and u.capacity != 1]
        free.sort(key=lambda u: u.capacity is None)  # the unlimited ones last: they take all that is left
        for unit in free:
            unit.role = (step, unit.capacity)
            if unit.capacity is None:
                step = None
                break
            step *= unit.capacity
            if step >= plan.count:
                break
        if step is not None and step < plan.count:
            plan.count = step
