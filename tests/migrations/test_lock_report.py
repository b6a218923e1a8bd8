"""dev/lock_report.py: the generic seeder and the measured locks, at a small N."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from test_bad_revisions import assemble

from dev import lock_report


def test_seeder_fills_every_table_with_representative_rows(migrations_app) -> None:
    from yt_pubsub_handler import migrator
    from yt_pubsub_handler.extensions import db

    migrator.upgrade()
    with db.engine.connect() as conn:
        seeded = lock_report.seed_empty_tables(conn, 200, chunk=64)
        assert seeded == {"channels": 8, "subscriptions": 8, "videos": 200}
        q = lambda sql: conn.execute(sa.text(sql)).scalar()  # noqa: E731
        assert q("SELECT count(DISTINCT state) FROM subscriptions") == 5  # every enum label
        assert q("SELECT count(*) FROM videos WHERE link IS NULL") > 0  # NULLs where allowed
        assert q("SELECT count(*) FROM channels WHERE title = ''") > 0  # empty strings
        assert q("SELECT count(*) FROM videos WHERE title ~ '[^[:ascii:]]'") > 0  # non-ASCII
        assert q("SELECT count(*) FROM videos WHERE length(author) = 255") > 0  # the longest value allowed
        assert lock_report.seed_empty_tables(conn, 200) == {}  # only empty tables are touched


def test_report_measures_every_revision_both_ways(make_app) -> None:
    app = make_app()
    reports = lock_report.measure_revisions(app, rows=300)
    assert [(r.revision, r.direction) for r in reports][:2] == [
        ("ff02c70d5caf", "upgrade"),
        ("5688141dba78", "upgrade"),
    ]
    assert len(reports) == 12
    index = {(r.revision, r.direction): r for r in reports}
    # CONCURRENTLY takes SHARE UPDATE EXCLUSIVE only: never a blocking mode.
    assert index[("2c040c47f57c", "upgrade")].mode is None
    table = lock_report.format_table(reports, budget_ms=100)
    assert "5787b560db48" in table and "max blocking hold ms" in table


def test_non_concurrent_index_is_seen_holding_share(make_app, tmp_path: Path) -> None:
    app = make_app(MIGRATIONS_DIR=str(assemble("non_concurrent_index", tmp_path)))
    reports = lock_report.measure_revisions(app, rows=30_000, downgrades=False, interval_ms=1)
    bad = next(r for r in reports if r.revision == "bad0c0de0004")
    assert (bad.table, bad.mode) == ("videos", "ShareLock"), bad
    assert bad.max_hold_ms > 0
    assert lock_report.over_budget(reports, budget_ms=bad.max_hold_ms / 2)


def test_cli_exits_nonzero_naming_the_revision_over_budget(pg_admin_url: str, capsys) -> None:
    code = lock_report.main(
        ["--rows", "200", "--budget-ms", "0", "--interval-ms", "0.5", "--no-downgrades", "--database-url", pg_admin_url]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "Lock report: 200 rows" in captured.out
    assert "error: revision " in captured.err and "over the 0 ms budget" in captured.err
