"""dev/migration_lint.py: offline SQL per revision and direction, squawk with the project's configuration, and a
reviewed allowlist.

The tool is checked on a fixture history with known findings (tests/examples/histories/lint, with its own
allowlist); that the history under test passes with the project's policy is tests/migrations/test_lint.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dev import migration_lint
from dev.migration_lint import AllowEntry, Finding
from tests.support.fixture_history import assemble, chain_of
from tests.support.paths import HISTORIES

LINT = HISTORIES / "lint"
FIXTURE_ALLOWLIST = LINT / "squawk-allowlist.toml"
FIXTURE_FINDINGS = {  # what squawk reports on the fixture history with the project's .squawk.toml
    (0, "downgrade", "ban-drop-table"),
    (1, "upgrade", "prefer-bigint-over-int"),
    (1, "downgrade", "ban-drop-column"),
    (2, "upgrade", "renaming-column"),
    (2, "downgrade", "renaming-column"),
}


@pytest.fixture(scope="module")
def lint_history(tmp_path_factory) -> Path:
    directory = assemble(tmp_path_factory.mktemp("lint") / "migrations", LINT / "versions")
    shutil.copy2(FIXTURE_ALLOWLIST, directory / migration_lint.ALLOWLIST_NAME)
    return directory


@pytest.fixture(scope="module")
def linted(lint_history) -> tuple[list[migration_lint.RevisionSQL], list[Finding]]:
    items = migration_lint.revision_sql(str(lint_history))
    return items, migration_lint.lint(items)


def _keyed(findings: list[Finding]) -> set[tuple[int, str, str]]:
    chain = chain_of(LINT)
    return {(chain.index(f.revision), f.direction, f.rule) for f in findings}


def test_every_revision_has_sql_in_both_directions(linted) -> None:
    items, _ = linted
    chain = chain_of(LINT)
    assert [(i.revision, i.direction) for i in items] == [(r, d) for r in chain for d in ("upgrade", "downgrade")]
    by_key = {(i.revision, i.direction): i.sql for i in items}
    assert "ALTER TABLE things RENAME name TO title" in by_key[(chain[2], "upgrade")]
    assert "ALTER TABLE things RENAME title TO name" in by_key[(chain[2], "downgrade")]
    assert "alembic_version" in by_key[(chain[0], "upgrade")]
    assert "alembic_version" not in migration_lint.team_sql(by_key[(chain[0], "upgrade")])


def test_squawk_runs_with_the_projects_configuration(linted) -> None:
    """Rules excluded in .squawk.toml for every revision are not reported; without it squawk reports them."""
    items, findings = linted
    assert _keyed(findings) == FIXTURE_FINDINGS
    bare = {f.rule for f in migration_lint.lint(items, config=None)}
    assert {"prefer-text-field", "require-statement-timeout"} <= bare


def test_fixture_history_passes_with_its_reviewed_allowlist(linted) -> None:
    items, findings = linted
    result = migration_lint.check(
        findings, migration_lint.load_allowlist(FIXTURE_ALLOWLIST), {i.revision for i in items}
    )
    assert result.ok, migration_lint.explain(result)
    wildcard = {(f.rule, f.direction) for f, entry in result.allowed if entry.revision == migration_lint.WILDCARD}
    assert wildcard == {("ban-drop-table", "downgrade"), ("ban-drop-column", "downgrade")}


def test_a_finding_without_an_entry_names_revision_rule_fix_and_entry(linted) -> None:
    items, findings = linted
    allowlist = [e for e in migration_lint.load_allowlist(FIXTURE_ALLOWLIST) if e.rule != "prefer-bigint-over-int"]
    result = migration_lint.check(findings, allowlist, {i.revision for i in items})
    revision = chain_of(LINT)[1]
    assert not result.ok
    assert [(f.revision, f.direction, f.rule) for f in result.new] == [(revision, "upgrade", "prefer-bigint-over-int")]
    text = migration_lint.explain(result, FIXTURE_ALLOWLIST)
    assert f"error: revision {revision} (upgrade): squawk prefer-bigint-over-int:" in text
    assert (
        "fix: Use 64-bit integer values instead" in text and "https://squawkhq.com/docs/prefer-bigint-over-int" in text
    )
    assert f'rule = "prefer-bigint-over-int"\n    revision = "{revision}"\n    direction = "upgrade"' in text
    assert "with the reason it is safe" in text


def test_stale_entries_are_reported(linted) -> None:
    items, findings = linted
    stale = AllowEntry("ban-truncate-cascade", chain_of(LINT)[1], "upgrade", "nothing truncates here")
    allowlist = [*migration_lint.load_allowlist(FIXTURE_ALLOWLIST), stale]
    result = migration_lint.check(findings, allowlist, {i.revision for i in items})
    assert result.stale == [stale] and not result.ok
    assert "stale allowlist entry (rule=ban-truncate-cascade" in migration_lint.explain(result)


def test_project_wide_entries_are_policy_and_never_stale(linted) -> None:
    _, findings = linted
    rename = chain_of(LINT)[2]
    only = [f for f in findings if f.revision == rename]  # no drop in sight: the wildcard entries match nothing
    result = migration_lint.check(only, migration_lint.load_allowlist(FIXTURE_ALLOWLIST), [rename])
    assert result.ok and not result.stale


def test_entries_need_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text('[[allow]]\nrule = "ban-drop-column"\nrevision = "abc"\ndirection = "downgrade"\n')
    with pytest.raises(migration_lint.LintError, match="lacks reason"):
        migration_lint.load_allowlist(path)


def test_a_missing_squawk_configuration_is_an_error_not_a_silent_default(linted, tmp_path: Path) -> None:
    items, _ = linted
    with pytest.raises(migration_lint.LintError, match="holds the lint policy"):
        migration_lint.lint(items, config=tmp_path / "nothing.toml")


def test_cli_fails_on_a_new_finding_says_what_to_do_and_writes_the_sql(lint_history, tmp_path: Path, capsys) -> None:
    allowlist = tmp_path / "allow.toml"
    allowlist.write_text(FIXTURE_ALLOWLIST.read_text().replace('rule = "renaming-column"', 'rule = "prefer-nothing"'))
    out = tmp_path / "sql"
    argv = ["--migrations-dir", str(lint_history), "--allowlist", str(allowlist), "--out-dir", str(out)]
    code = migration_lint.main(argv)
    err = capsys.readouterr().err
    revision = chain_of(LINT)[2]
    assert code == 1
    assert f"error: revision {revision} (upgrade): squawk renaming-column" in err
    assert f"error: revision {revision} (downgrade): squawk renaming-column" in err
    assert f"or, if it is acceptable here, add to {allowlist}" in err
    assert f"stale allowlist entry (rule=prefer-nothing revision={revision}" in err
    assert (out / f"{revision}_upgrade.sql").read_text().startswith(f"-- {revision} (upgrade)")
    assert len(list(out.glob("*.sql"))) == 2 * len(chain_of(LINT))


def test_cli_uses_the_allowlist_next_to_the_migrations(lint_history, capsys) -> None:
    assert migration_lint.main(["--migrations-dir", str(lint_history)]) == 0
    assert f"allowed by {lint_history / migration_lint.ALLOWLIST_NAME}" in capsys.readouterr().out


# -- the lock-timeout rule: the value as well as its presence, against migrations/policy.toml's ceiling ---------------

CEILING = migration_lint.Policy(Path("policy.toml"), lock_wait_ceiling_ms=2000)


def _item(*statements: str, direction: str = "upgrade") -> migration_lint.RevisionSQL:
    return migration_lint.RevisionSQL("abc123", None, direction, "fixture", "\n\n".join(statements) + "\n")


def _problems(*statements: str) -> list[str]:
    return [f.message for f in migration_lint.lock_timeout_findings([_item(*statements)], CEILING)]


ADD = "ALTER TABLE videos ADD COLUMN views BIGINT;"


@pytest.mark.parametrize(
    "statements",
    [
        ("BEGIN;", "SET LOCAL lock_timeout = '1s';", ADD, "COMMIT;"),
        ("BEGIN;", "SET LOCAL lock_timeout = '2s';", ADD, "COMMIT;"),  # the ceiling itself is allowed
        ("BEGIN;", "SET lock_timeout TO 500;", ADD, "COMMIT;"),  # a bare number is milliseconds
        ("BEGIN;", "COMMIT;", "SET lock_timeout = '1s';", "CREATE INDEX CONCURRENTLY ix ON videos (views);"),
        ("BEGIN;", "INSERT INTO videos (id) VALUES ('x');", "COMMIT;"),  # no DDL, nothing to wait behind
    ],
)
def test_a_short_lock_timeout_in_effect_passes(statements) -> None:
    assert _problems(*statements) == []


@pytest.mark.parametrize(
    ("statements", "words"),
    [
        (("BEGIN;", ADD, "COMMIT;"), "no lock_timeout"),
        (("BEGIN;", "SET LOCAL lock_timeout = 0;", ADD, "COMMIT;"), "= 0, which means no limit"),
        (("BEGIN;", "SET LOCAL lock_timeout = '300s';", ADD, "COMMIT;"), "above the project's ceiling of 2 s"),
        (("BEGIN;", "SET LOCAL lock_timeout = '1min';", ADD, "COMMIT;"), "above the project's ceiling"),
        (("BEGIN;", "SET LOCAL lock_timeout = DEFAULT;", ADD, "COMMIT;"), "DEFAULT (no limit)"),
        # SET LOCAL ends with its transaction: the next one runs without it.
        (("BEGIN;", "SET LOCAL lock_timeout = '1s';", "COMMIT;", "BEGIN;", ADD, "COMMIT;"), "no lock_timeout"),
        # In an autocommit block SET LOCAL does nothing (PostgreSQL only warns).
        (("COMMIT;", "SET LOCAL lock_timeout = '1s';", "DROP INDEX CONCURRENTLY ix;"), "no lock_timeout"),
        (("SET lock_timeout = '1s';", "RESET lock_timeout;", "DROP TABLE videos;"), "no lock_timeout"),
    ],
)
def test_a_missing_zero_or_too_long_lock_timeout_fails_once_saying_why(statements, words) -> None:
    problems = _problems(*statements, ADD)  # a second DDL statement: still one finding per revision and direction
    assert len(problems) == 1 and words in problems[0], problems
    assert "every query on the table" in problems[0] or "application query could wait" in problems[0]


def test_the_lock_timeout_finding_says_how_to_fix_it_and_is_accepted_like_any_other(tmp_path: Path) -> None:
    (finding,) = migration_lint.lock_timeout_findings([_item("BEGIN;", ADD, "COMMIT;")], CEILING)
    result = migration_lint.check([finding], [], ["abc123"])
    text = migration_lint.explain(result)
    assert "error: revision abc123 (upgrade): lint lock-timeout: runs with no lock_timeout" in text
    assert "SET LOCAL lock_timeout = '1s'" in text and "retries" in text and "migrations/policy.toml" in text
    entry = AllowEntry("lock-timeout", "abc123", "upgrade", "reviewed: the table is empty in every environment")
    assert migration_lint.check([finding], [entry], ["abc123"]).ok


def test_the_ceiling_comes_from_the_policy_next_to_the_migrations(lint_history, tmp_path: Path) -> None:
    from dev import migration_policy

    assert migration_policy.load(lint_history).source == migration_policy.DEFAULT_POLICY
    (lint_history / "policy.toml").write_text('[lock_wait]\nceiling = "500ms"\n')
    try:
        tight = migration_policy.load(lint_history)
        assert tight.lock_wait_ceiling_ms == 500
        items = migration_lint.revision_sql(str(lint_history))
        problems = migration_lint.lock_timeout_findings(items, tight)
        assert problems and all("above the project's ceiling of 0.5 s" in f.message for f in problems)
        assert migration_lint.main(["--migrations-dir", str(lint_history)]) == 1
    finally:
        (lint_history / "policy.toml").unlink()
    (tmp_path / "policy.toml").write_text("[lock_wait]\n")
    with pytest.raises(migration_policy.PolicyError, match="ceiling is missing"):
        migration_policy.load(tmp_path)


def test_rules_squawk_gives_no_help_for_say_what_to_do(linted) -> None:
    _, findings = linted
    drop = next(f for f in findings if f.rule == "ban-drop-column")
    rename = next(f for f in findings if f.rule == "renaming-column")
    assert "expand/contract" in drop.how_to_resolve() and "data loss" in drop.how_to_resolve()
    assert "alter_column" in drop.how_to_resolve() and "expand/contract" in rename.how_to_resolve()


def test_declared_losses_match_by_revision_direction_and_what_and_go_stale() -> None:
    from dev.migration_policy import DeclaredLoss, Policy, stale, undeclared

    link = {"revision": "abc", "direction": "upgrade", "table": "videos", "column": "link"}
    table = {"revision": "abc", "direction": "upgrade", "table": "extras", "column": None}
    policy = Policy(Path("policy.toml"), 2000.0, (DeclaredLoss("abc", "upgrade", "videos.link", "archived"),))
    assert undeclared([link, table], policy) == [table]
    assert undeclared([{**link, "direction": "downgrade"}], policy) != []
    assert stale([link], policy, {"abc"}) == [] and stale([], policy, {"abc"}) == list(policy.data_loss)
    assert stale([], policy, {"other"}) == [], "only the revisions whose losses were counted can tell"
