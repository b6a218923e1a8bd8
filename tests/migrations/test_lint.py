"""dev/migration_lint.py: offline SQL per revision and direction, squawk, and the reviewed allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest

from dev import migration_lint
from dev.migration_lint import AllowEntry, Finding


@pytest.fixture(scope="module")
def shipped() -> tuple[list[migration_lint.RevisionSQL], list[Finding]]:
    items = migration_lint.revision_sql()
    return items, migration_lint.lint(items)


def test_every_revision_has_sql_in_both_directions(shipped) -> None:
    items, _ = shipped
    assert len(items) == 12  # six revisions, upgrade and downgrade
    by_key = {(i.revision, i.direction): i.sql for i in items}
    assert "CREATE INDEX CONCURRENTLY ix_videos_channel_id_published_at" in by_key[("2c040c47f57c", "upgrade")]
    assert "RENAME link TO url" in by_key[("5787b560db48", "downgrade")]
    assert "alembic_version" not in migration_lint.team_sql(by_key[("ff02c70d5caf", "upgrade")])


def test_shipped_history_passes_with_the_reviewed_allowlist(shipped) -> None:
    items, findings = shipped
    assert findings, "squawk reported nothing at all: it probably did not run"
    result = migration_lint.check(findings, migration_lint.load_allowlist(), {i.revision for i in items})
    assert result.ok, [f.describe() for f in result.new] + [e.describe() for e in result.stale]


def test_a_finding_without_an_entry_fails_naming_revision_and_rule(shipped) -> None:
    items, findings = shipped
    allowlist = [e for e in migration_lint.load_allowlist() if e.rule != "renaming-column"]
    result = migration_lint.check(findings, allowlist, {i.revision for i in items})
    assert not result.ok
    assert {(f.revision, f.rule) for f in result.new} == {("5787b560db48", "renaming-column")}
    assert result.new[0].describe().startswith("revision 5787b560db48 (")


def test_stale_entries_are_reported(shipped) -> None:
    items, findings = shipped
    stale = AllowEntry("ban-truncate-cascade", "8920ac17239f", "upgrade", "nothing truncates here")
    result = migration_lint.check(findings, [*migration_lint.load_allowlist(), stale], {i.revision for i in items})
    assert result.stale == [stale] and not result.ok


def test_entries_need_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "allow.toml"
    path.write_text('[[allow]]\nrule = "ban-drop-column"\nrevision = "8920ac17239f"\ndirection = "downgrade"\n')
    with pytest.raises(migration_lint.LintError, match="lacks reason"):
        migration_lint.load_allowlist(path)


def test_cli_fails_on_a_new_finding_and_writes_the_sql(tmp_path: Path, capsys) -> None:
    allowlist = tmp_path / "allow.toml"
    allowlist.write_text(
        migration_lint.DEFAULT_ALLOWLIST.read_text().replace('rule = "prefer-identity"', 'rule = "prefer-nothing"')
    )
    out = tmp_path / "sql"
    code = migration_lint.main(["--allowlist", str(allowlist), "--out-dir", str(out)])
    err = capsys.readouterr().err
    assert code == 1
    assert "error: revision 5688141dba78 (upgrade): squawk prefer-identity" in err
    assert "stale allowlist entry (rule=prefer-nothing revision=5688141dba78" in err
    assert (out / "5688141dba78_upgrade.sql").read_text().startswith("-- 5688141dba78 (upgrade)")
    assert len(list(out.glob("*.sql"))) == 12
