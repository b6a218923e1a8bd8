"""SQL for a column's values, per type: representative ones, and distinct ones for columns in a unique key.

Each type has two generators over a row number (any SQL integer expression):

- ``free(g)``: the awkward values production has, cycling with ``g``: empty and non-ASCII strings, the longest
  string a ``varchar(n)`` takes, extreme integers, every enum label;
- ``keyed(i)``: a different value for every ``i`` below ``capacity`` (None: more than any table will hold), still
  awkward where the type allows (the same strings, each made distinct by a number).

A type missing here can still be seeded NULL (nullable) or left to its default; a NOT NULL column without either
stops the seeder with a ``TableSeedError`` naming this module. To support a type, add a branch to
:func:`generator`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from .catalog import Column

# Representative text: ordinary, empty, non-ASCII (multi-byte, emoji), SQL-ish punctuation, long. Each ends in a
# non-digit and none is a prefix of another (but the empty one), so appending a number keeps them distinct.
_TEXT_PREFIXES = ("Title ", "", "Ünïcødé ✓ 日本語 🎬 ", "quote ' \" \\ % _ ")
_LONG_TEXT = "repeat('long ', 100)"
_DIGITS = 19  # the longest decimal an int8 row number needs
_INT_RANGE = {"int2": 32_767, "int4": 2_147_483_647, "int8": 9_223_372_036_854_775_807}
_FLOAT_EXACT = {"float4": 2**24, "float8": 2**53}  # integers they hold exactly
_FLOAT_EXTREMES = {"float4": "3.4e38", "float8": "1.7e308"}


def literal(text: str) -> str:
    """``text`` as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _pick(values: list[str] | tuple[str, ...], g: str) -> str:
    return f"(ARRAY[{', '.join(values)}])[1 + ({g}) % {len(values)}]"


@dataclass(frozen=True)
class Generator:
    free: Callable[[str], str]
    keyed: Callable[[str], str]
    capacity: int | None


def _text(column: Column) -> Generator:
    limit = column.max_length
    prefixes = [literal(p) for p in _TEXT_PREFIXES if limit is None or len(p) + _DIGITS <= limit] or ["''"]
    capacity = None if limit is None or limit >= _DIGITS else 10**limit

    def free(g: str) -> str:
        values = [f"{literal(p)} || ({g})" if p else "''" for p in _TEXT_PREFIXES] + [f"{_LONG_TEXT} || ({g})"]
        return f"left({_pick(values, g)}, {limit})" if limit else _pick(values, g)

    def keyed(i: str) -> str:
        return f"({_pick(prefixes, i)} || ({i}))"

    return Generator(free, keyed, capacity)


def _number(column: Column) -> Generator:
    name = column.typname
    if name in _INT_RANGE:
        top = _INT_RANGE[name]
        extremes = ["0", "1", "-1", str(top), "432000"] if name != "int2" else ["0", "1", "-1", str(top), "-32768"]
        return Generator(lambda g: _pick(extremes, g), lambda i: f"(({i}) + 1)", top)
    if name in _FLOAT_EXACT:
        extremes = ["0", "1.5", "-1.5", _FLOAT_EXTREMES[name], "1e-30"]
        return Generator(lambda g: _pick(extremes, g), lambda i: f"(({i}) + 1)", _FLOAT_EXACT[name])
    if name == "numeric":
        bounds = column.numeric_precision
        if bounds is None:
            return Generator(lambda g: f"(({g}) * 1.25)", lambda i: f"(({i}) + 1)", None)
        precision, scale = bounds
        step = Decimal(1).scaleb(-scale)  # the smallest step numeric(p, s) holds
        largest = Decimal(10).scaleb(precision - scale - 1) - step
        extremes = ["0", str(step), f"-{step}", str(largest), f"-{largest}"]
        return Generator(lambda g: _pick(extremes, g), lambda i: f"((({i}) + 1) * {step})", 10**precision - 1)
    return Generator(lambda g: f"(({g}) % 1000)", lambda i: f"(({i}) + 1)", 2**31 - 1)  # oid, money


def _datetime(column: Column) -> Generator:
    start = "timestamptz '2026-01-01 00:00:00+00'"
    free = lambda g: f"({start} + ({g}) * interval '37 minutes 13.123456 seconds')"  # noqa: E731
    if column.typname == "date":
        return Generator(free, lambda i: f"(date '2000-01-01' + ({i}))", 2_000_000_000)
    if column.typname in ("time", "timetz"):
        return Generator(free, lambda i: f"(time '00:00' + ({i}) * interval '1 millisecond')", 86_400_000)
    return Generator(free, lambda i: f"({start} + ({i}) * interval '1 second')", None)


def _user(column: Column) -> Generator | None:
    name = column.typname
    if name == "uuid":
        return Generator(lambda g: f"md5(({g})::text)::uuid", lambda i: f"md5(({i})::text)::uuid", None)
    if name in ("json", "jsonb"):
        return Generator(
            lambda g: f"json_build_object('n', {g}, 'text', 'ü ✓')", lambda i: f"json_build_object('n', {i})", None
        )
    if name == "bytea":
        return Generator(
            lambda g: _pick(["'\\x'::bytea", "'\\x00ff'::bytea", f"int8send(({g})::int8)"], g),
            lambda i: f"int8send(({i})::int8)",
            None,
        )
    return None


def generator(column: Column) -> Generator | None:
    """How to fill ``column`` (its type's generators, cast to the column's type); None: no generator for it."""
    found: Generator | None
    if column.typtype == "e":
        if not column.enum_labels:
            return None
        labels = f"enum_range(NULL::{column.type_sql})"
        found = Generator(
            lambda g: f"({labels})[1 + ({g}) % {column.enum_labels}]",
            lambda i: f"({labels})[1 + ({i})]",
            column.enum_labels,
        )
    elif column.category == "S":
        found = _text(column)
    elif column.category == "N":
        found = _number(column)
    elif column.category == "D":
        found = _datetime(column)
    elif column.category == "T":  # interval
        found = Generator(
            lambda g: f"(({g}) % 1000) * interval '1 minute 1.5 seconds'",
            lambda i: f"({i}) * interval '1 second'",
            None,
        )
    elif column.category == "B":
        found = Generator(lambda g: f"(({g}) % 2 = 0)", lambda i: f"(({i}) = 1)", 2)
    elif column.category == "I":  # inet, cidr
        found = Generator(
            lambda g: f"('192.168.0.0'::inet + ({g}) % 65536)", lambda i: f"('0.0.0.0'::inet + ({i}))", 2**32
        )
    else:
        found = _user(column)
    if found is None:
        return None
    free, keyed, cast = found.free, found.keyed, column.type_sql
    return Generator(lambda g: f"({free(g)})::{cast}", lambda i: f"({keyed(i)})::{cast}", found.capacity)
