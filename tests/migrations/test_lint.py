"""Each revision's SQL, both directions, passes squawk (.squawk.toml) and the lock-timeout rule
(migrations/policy.toml), or has a reviewed entry in migrations/squawk-allowlist.toml (dev/migration_lint.py).

One test per revision and direction: a finding fails the test of the revision it is in, with the fix (or the entry
that would accept it) in the first lines. The SQL is rendered and linted once for the whole history.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dev import migration_lint
from tests.support.fixture_history import chain_of
from tests.support.history_under_test import migrations_dir, revisions


@pytest.fixture(scope="module")
def linted() -> tuple[migration_lint.LintResult, Path]:
    """The whole history linted against its allowlist: (result, the allowlist's path)."""
    directory = migrations_dir()
    items = migration_lint.revision_sql(directory)
    assert [i.revision for i in items[::2]] == chain_of(directory)
    allowlist = migration_lint.allowlist_for(directory)
    findings = migration_lint.lint(items)
    return migration_lint.check(findings, migration_lint.load_allowlist(allowlist), chain_of(directory)), allowlist


def _direction_of(entry: migration_lint.AllowEntry) -> str:
    """The test a stale entry fails in: its direction's (an entry for both directions fails in the upgrade's)."""
    return "upgrade" if entry.direction == migration_lint.WILDCARD else entry.direction


@pytest.mark.parametrize("direction", migration_lint.DIRECTIONS)
@pytest.mark.parametrize("revision", [r for r, _ in revisions()])
def test_sql_passes_squawk_and_the_lock_timeout_rule(linted, revision: str, direction: str) -> None:
    result, allowlist = linted
    mine = migration_lint.LintResult(
        [f for f in result.findings if (f.revision, f.direction) == (revision, direction)],
        new=[f for f in result.new if (f.revision, f.direction) == (revision, direction)],
        stale=[e for e in result.stale if e.revision == revision and _direction_of(e) == direction],
    )
    if not mine.ok:
        pytest.fail(migration_lint.explain(mine, allowlist), pytrace=False)
