"""``make rehearse``: per-revision figures through Lambda under a stage's limits, projections, the verdict, the chart.

The full run uses a fixture history of its own (``tests/examples/histories/rehearse``, see its README), never the
shipped one; the projection and the verdict are checked on figures given here, so they are exact, not timing luck.
"""

from __future__ import annotations

import itertools
import re
import warnings
from pathlib import Path

import pytest

from dev.lock_report import LockHold
from dev.rehearse import __main__ as cli
from dev.rehearse import chart, report
from dev.rehearse.function import Answer, Limits
from dev.rehearse.projection import FLOOR_SECONDS, T_95, Projection, fit, round_rows, usable_seconds
from dev.rehearse.rehearsal import AfterStop, Rehearsal, Step, row_counts
from tests.support.fixture_history import REPO_ROOT, assemble, chain_of
from tests.support.paths import HISTORIES

HISTORY = HISTORIES / "rehearse" / "versions"
CREATE, ADD_COLUMN, BACKFILL = chain_of(HISTORY.parent)
PRODUCTION = Limits("production", 300, 1024)

# -- row counts, projections, the verdict: figures given, results exact ---------------------------------------------


def test_row_counts_span_a_decade_up_to_n() -> None:
    assert row_counts(1_000_000) == [100_000, 316_228, 1_000_000]
    assert row_counts(1_000_000, points=2) == [100_000, 1_000_000]
    assert row_counts(500, points=1) == [500]
    assert row_counts(3) == [1, 3]  # collapsed, never below one row
    with pytest.raises(ValueError):
        row_counts(0)


def test_a_growing_revision_is_projected_to_where_it_reaches_the_timeout() -> None:
    projection = Projection(((100_000, 1.0), (1_000_000, 10.0)), 300, 1_000_000)
    assert projection.budget == usable_seconds(300) == 270
    assert projection.crossing == pytest.approx(27_000_000)
    assert projection.describe() == "fits; will exceed the 300 s timeout at about 27,000,000 rows"


def test_a_flat_revision_fits_whatever_the_rows() -> None:
    noisy = Projection(((100_000, 0.050), (316_228, 0.061), (1_000_000, 0.049)), 300, 1_000_000)
    assert noisy.crossing is None
    assert noisy.describe() == "fits; flat: does not grow with rows"


CI_COUNTS = (10_000, 31_623, 100_000)  # make rehearse ROWS=100000


def _at(counts: tuple[int, ...], seconds: tuple[float, ...]) -> tuple[tuple[int, float], ...]:
    return tuple(zip(counts, seconds, strict=True))


def test_noise_that_rises_with_the_rows_is_flat_not_a_projection() -> None:
    """Issue 17: a table creation measured 0.10 / 0.30 / 0.53 s on a busy machine. A line through that reaches the
    timeout at about 60,000,000 rows; its rise (0.40 s) is under the 0.5 s noise floor: flat."""
    points = _at(CI_COUNTS, (0.10, 0.30, 0.53))
    line = fit(points)
    assert line is not None and line.slope > 0
    assert 50_000_000 < (usable_seconds(300) - line.intercept) / line.slope < 70_000_000  # what a bare line says
    assert not line.above_floor
    projection = Projection(points, 300, 100_000)
    assert (projection.grows, projection.crossing) == (False, None)
    assert projection.describe() == "fits; flat: does not grow with rows"


def test_a_rise_above_the_floor_that_the_scatter_explains_is_flat() -> None:
    spike = fit(_at((100_000, 316_228, 1_000_000), (0.10, 3.0, 1.9)))  # one slow invocation in the middle
    assert spike is not None and spike.above_floor and spike.slope > 0
    assert spike.t is not None and spike.t < spike.t_needed == T_95[1]
    assert not spike.grows
    # Repeated points: the same means as a clean two-point line, but the repeats scatter by 2 s.
    repeated = fit(((10_000, 1.0), (10_000, 3.0), (100_000, 2.0), (100_000, 4.0)))
    two = fit(((10_000, 2.0), (100_000, 3.0)))
    assert repeated is not None and two is not None and repeated.slope == pytest.approx(two.slope)
    assert two.grows and not repeated.grows


def test_a_linear_backfill_is_projected() -> None:
    """The README's NOT NULL backfill at 1,000,000 rows, and the same revision at CI's 100,000."""
    backfill = Projection(_at((100_000, 316_228, 1_000_000), (1.15, 3.51, 14.58)), 300, 1_000_000)
    assert backfill.grows and backfill.describe() == "fits; will exceed the 300 s timeout at about 18,000,000 rows"
    small = Projection(_at(CI_COUNTS, (0.14, 0.37, 1.46)), 300, 100_000)
    assert small.describe() == "fits; will exceed the 300 s timeout at about 18,000,000 rows"


def test_the_verdict_is_stable_at_the_floor_and_in_any_order() -> None:
    # Powers of two: every figure exact. A rise of exactly the floor is not above it; a hair more is.
    at_floor = fit(((1024, 1.0), (2048, 1.0 + FLOOR_SECONDS)))
    assert at_floor is not None and at_floor.rise == FLOOR_SECONDS and not at_floor.grows
    assert fit(((1024, 1.0), (2048, 1.0 + FLOOR_SECONDS + 2**-20))).grows
    # The floor scales with the shortest duration: the same 0.6 s rise is noise on a 4 s revision.
    assert fit(((1024, 1.0), (2048, 1.6))).grows and not fit(((1024, 4.0), (2048, 4.6))).grows
    # Order and repetition of the evaluation change nothing, down to the last bit.
    points = _at((1_000, 3_162, 10_000, 31_623, 100_000), (0.21, 0.52, 1.48, 4.9, 15.2))
    verdicts = {
        (p.grows, p.crossing, p.describe())
        for order in itertools.permutations(points)
        for p in [Projection(order, 300, 100_000)]
    }
    assert len(verdicts) == 1
    (only,) = verdicts
    assert only[0] and only[2] == "fits; will exceed the 300 s timeout at about 1,800,000 rows"


def test_a_revision_past_the_budget_or_killed_exceeds() -> None:
    assert Projection(((1000, 280.0),), 300, 1000).describe().startswith("exceeds the 300 s timeout: past the 270 s")
    killed = Projection(((1000, 5.0),), 300, 10_000, exceeded_at=10_000)
    assert killed.describe() == "exceeds the 300 s timeout: one invocation did not finish it at 10,000 rows"


def test_projected_rows_are_rounded_to_two_figures() -> None:
    assert [round_rows(r) for r in (14_734_000, 987, 42.4)] == [15_000_000, 990, 42]


def test_an_answer_takes_lambdas_duration_not_the_billed_or_init_one() -> None:
    import base64

    from dev.emulator.client import Invocation

    report_line = "REPORT RequestId: r\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 1024 MB\t"
    report_line += "Max Memory Used: 86 MB\tInit Duration: 700.00 ms\t\n"
    log = base64.b64encode(f"START RequestId: r\nEND RequestId: r\n{report_line}".encode()).decode()
    answer = Answer.read(Invocation(200, {"x-amz-log-result": log}, b'{"ok": 1}'))
    assert (answer.ok, answer.result, answer.duration_ms, answer.peak_mb) == (True, {"ok": 1}, 12.34, 86)


def _step(revision: str, rows: int, seconds: float, commits: int, **extra) -> Step:
    return Step(revision, f"{revision} message", rows, duration_ms=seconds * 1000, peak_mb=90, commits=commits, **extra)


def _killed(seconds: float) -> Answer:
    return Answer(False, None, "Sandbox.Timedout", "Task timed out", seconds * 1000, 90)


def _finished(seconds: float) -> Answer:
    return Answer(True, {}, None, None, seconds * 1000, 90)


def test_the_verdict_groups_what_fits_and_names_the_resumable_job() -> None:
    rehearsal = Rehearsal(PRODUCTION, [1000, 10_000])
    rehearsal.steps = [
        _step("a1", 1000, 20, 1),
        _step("b2", 1000, 30, 1),
        _step("c3", 1000, 1, 5),
        _step("a1", 10_000, 200, 1),
        _step("b2", 10_000, 150, 1),
        Step("c3", "c3 message", 10_000, commits=50, stopped=_killed(300), resumes=[_finished(9)]),
    ]
    text = report.verdict(rehearsal)
    assert text.startswith("Verdict for production (300 s, 1024 MB) at 10,000 rows:")
    assert "c3 needs more than one invocation: it resumed where it stopped, so run it as a resumable batched job" in (
        text
    )
    assert "run the others as 2 separate invocations: a1 (200 s); b2 (150 s)" in text
    assert report.projections(rehearsal)["c3"].exceeded_at == 10_000


def test_the_verdict_says_when_everything_fits_and_what_reaches_the_timeout_first() -> None:
    rehearsal = Rehearsal(PRODUCTION, [1000, 10_000])
    rehearsal.steps = [
        _step("a1", 1000, 0.05, 1),
        _step("b2", 1000, 1.0, 12),
        _step("a1", 10_000, 0.05, 1),
        _step("b2", 10_000, 10.0, 102),
    ]
    text = report.verdict(rehearsal)
    assert "all 2 revisions fit in one invocation (10.1 s of 300 s, peak 90 of 1024 MB)" in text
    assert "the first to reach the timeout as tables grow is b2, at about 270,000 rows" in text
    assert "it commits per batch, so beyond that run it as a resumable batched job" in text


def test_a_revision_that_cannot_resume_must_be_split() -> None:
    rehearsal = Rehearsal(PRODUCTION, [1000, 10_000])
    rehearsal.steps = [
        _step("a1", 1000, 100, 1),
        Step("a1", "a1 message", 10_000, commits=1, stopped=_killed(300), resumes=[_killed(300)] * 3),
    ]
    assert "a1 cannot finish in one invocation and is not resumable: split it" in report.verdict(rehearsal)


def test_undeclared_data_loss_fails_the_rehearsal_and_a_declared_one_does_not() -> None:
    from dev.migration_policy import DeclaredLoss, Policy

    loss = {
        "revision": "r9",
        "direction": "upgrade",
        "kind": "column",
        "table": "videos",
        "column": "link",
        "values": 1000,
        "message": "revision r9 (upgrade) dropped videos.link holding 1,000 non-null values (data loss)",
        "fix": "it looks like a rename of link to watch_url: write op.alter_column(...)",
    }
    rehearsal = Rehearsal(PRODUCTION, [1000, 10_000], policy=Policy(Path("policy.toml"), 2000.0))
    rehearsal.steps = [
        _step("r9", 1000, 0.1, 5, losses=[{**loss, "values": 100}]),
        _step("r9", 10_000, 0.1, 5, losses=[loss]),
    ]
    text = report.verdict(rehearsal)
    assert "data loss: revision r9 (upgrade) dropped videos.link holding 1,000 non-null values" in text
    assert "op.alter_column" in text and "policy.toml" in text
    assert rehearsal.undeclared_losses() == [loss], "the largest row count's count is the one reported"
    declared = DeclaredLoss("r9", "upgrade", "videos.link", "archived elsewhere")
    rehearsal.policy = Policy(Path("policy.toml"), 2000.0, (declared,))
    assert rehearsal.undeclared_losses() == [] and "data loss" not in report.verdict(rehearsal)


def test_a_stopped_invocation_is_reported_with_the_state_it_left() -> None:
    rehearsal = Rehearsal(Limits("production", 2, 1024, overridden=True), [500])
    after = AfterStop(True, "r1", "r1", (), 0, (), (), ())
    rehearsal.steps = [Step("r2", "r2 message", 500, stopped=_killed(2), after_stop=after, resumes=[_finished(0.08)])]
    (line,) = report.stop_lines(rehearsal)
    assert line.startswith("r2 at 500 rows: killed by Lambda's timeout after 2.00 s; the database then (consistent)")
    assert "at r1 (the last committed revision), 0 other session(s), 0 advisory lock(s)" in line
    assert line.endswith("invocation 2 resumed it and finished in 0.08 s")
    assert not AfterStop(True, "r1", "r1", ((7, "idle", "SELECT 1"),), 0, (), (), ()).consistent, (
        "a killed worker's session still there is not a clean state"
    )
    assert AfterStop(False, "r1", "r1", ((7, "idle", "SELECT 1"),), 0, (), (), ()).consistent
    assert not AfterStop(True, "r1", "r1", (), 1, (), (), ()).consistent
    assert not AfterStop(True, "r2", "r1", (), 0, (), (), ()).consistent


def test_the_chart_is_a_png_with_every_revision(tmp_path: Path) -> None:
    rehearsal = Rehearsal(PRODUCTION, [1000, 10_000])
    rehearsal.steps = [_step(r, n, s, 1) for r, n, s in (("a1", 1000, 0.05), ("b2", 1000, 1), ("b2", 10_000, 10))]
    rehearsal.steps.append(_step("a1", 10_000, 0.06, 1))
    path = chart.draw(rehearsal, tmp_path / "chart.png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000


def test_the_chart_of_one_row_count_draws_without_a_warning(tmp_path: Path) -> None:
    """``POINTS=1`` (a quick kill rehearsal): one x value must still give a proper log axis, not a zero-width one."""
    rehearsal = Rehearsal(PRODUCTION, [1_000_000])
    rehearsal.steps = [_step("a1", 1_000_000, 0.05, 1), _step("b2", 1_000_000, 12, 50)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = chart.draw(rehearsal, tmp_path / "chart.png")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


# -- the whole thing, through the emulator, on the fixture history ----------------------------------------------------


@pytest.mark.emulator
def test_make_rehearse_prints_a_line_per_revision_with_figures_and_a_verdict(
    pg_admin_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations = assemble(tmp_path / "migrations", HISTORY)
    results: list[Rehearsal] = []
    real = cli.rehearse
    monkeypatch.setattr(cli, "rehearse", lambda *a, **k: results.append(real(*a, **k)) or results[-1])
    out = tmp_path / "out"
    argv = ["--stage", "production", "--rows", "2000", "--points", "2", "--migrations-dir", str(migrations)]
    code = cli.main([*argv, "--database-url", pg_admin_url, "--out-dir", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.out + printed.err

    (rehearsal,) = results
    assert rehearsal.limits == PRODUCTION, "the production stage's own limits, from zappa_settings.json"
    assert [r for r, _ in rehearsal.revisions()] == [CREATE, ADD_COLUMN, BACKFILL]
    assert all(s.finished_in_one and s.duration_ms > 0 and s.peak_mb > 0 for s in rehearsal.steps)
    # Measured inside the Lambda worker: the catalog-only column holds ACCESS EXCLUSIVE on the seeded table...
    hold = rehearsal.step(ADD_COLUMN, 2000).longest
    assert (hold.table, hold.mode) == ("parcels", "AccessExclusiveLock")
    assert isinstance(hold, LockHold) and hold.hold_ms > 0
    # ...and the batched backfill commits once per batch: ten times as many batches at ten times the rows.
    assert rehearsal.step(BACKFILL, 2000).commits > rehearsal.step(BACKFILL, 200).commits
    assert report.batched(rehearsal, BACKFILL) is True
    assert report.batched(rehearsal, CREATE) is False

    lines = printed.out.splitlines()
    assert any(re.match(rf"{CREATE}\s+create parcels\s+[\d.]+ / [\d.]+\s+-\s+\d+\s+\d+\s+fits", line) for line in lines)
    assert any(line.startswith(BACKFILL) and "fits" in line for line in lines)
    assert "Verdict for production (300 s, 1024 MB) at 2,000 rows: all 3 revisions fit in one invocation" in printed.out
    assert "seeding parcels" in printed.err and f"upgrade {BACKFILL} at 2,000 rows" in printed.err
    markdown = (out / "rehearse.md").read_text()
    assert f"| {ADD_COLUMN} |" in markdown and "![duration against rows](rehearse.png)" in markdown
    assert (out / "rehearse.png").read_bytes().startswith(b"\x89PNG")
    assert (out / "emulator-2000.log").is_file()
    assert str(REPO_ROOT) in (out / "emulator-2000.log").read_text(), "the project itself was served"
