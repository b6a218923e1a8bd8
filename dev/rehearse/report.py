"""A rehearsal as a reviewer reads it: one line per revision, a projection each, and a one-line verdict for the PR.

The same rows come out as a fixed-width table (the terminal) and as Markdown (``build/rehearse/rehearse.md``, which
the PR workflow attaches and puts in the job summary beside the chart).
"""

from __future__ import annotations

from dataclasses import dataclass

from dev.lock_report import LockHold
from dev.migration_policy import explain_loss

from .projection import FLOOR_FRACTION, FLOOR_SECONDS, Projection, round_rows, usable_seconds
from .rehearsal import Rehearsal, Step

MESSAGE_CHARS = 44


def projections(rehearsal: Rehearsal) -> dict[str, Projection]:
    """Per revision: the durations of the invocations that finished it in one go, and where one did not."""
    found = {}
    for revision, _message in rehearsal.revisions():
        steps = [s for s in rehearsal.steps if s.revision == revision]
        points = tuple((s.rows, s.duration_ms / 1000) for s in steps if s.finished_in_one and s.duration_ms)
        over = [s.rows for s in steps if s.stopped is not None]
        found[revision] = Projection(
            points, rehearsal.limits.timeout_seconds, max(rehearsal.rows), min(over) if over else None
        )
    return found


def batched(rehearsal: Rehearsal, revision: str) -> bool | None:
    """Whether a revision commits as it goes, more often the more rows it finds (None: one row count, can't say).

    Such a revision loses at most one batch to a timeout and can resume; one that commits the same number of times
    at every size is one transaction (or a fixed few), and a timeout rolls its work back."""
    commits = [(s.rows, s.commits) for s in rehearsal.steps if s.revision == revision and s.commits is not None]
    if len({rows for rows, _ in commits}) < 2:
        return None
    commits.sort()
    return commits[-1][1] > commits[0][1]


def _seconds(step: Step | None) -> str:
    if step is None:
        return "-"
    if step.error:
        return "failed"
    if step.stopped is not None:
        return f">{step.stopped.duration_ms / 1000:.0f}" if step.stopped.duration_ms else "timeout"
    return f"{step.duration_ms / 1000:.2f}" if step.duration_ms is not None else "-"


def _hold(hold: LockHold | None) -> str:
    if hold is None:
        return "-"
    ms = f"{hold.hold_ms:.2f}" if hold.hold_ms < 10 else f"{hold.hold_ms:.0f}"
    return f"{ms} ms {hold.mode_name} ({hold.table})"


@dataclass(frozen=True)
class Row:
    revision: str
    message: str
    seconds: tuple[str, ...]  # one cell per row count
    hold: str
    peak_mb: str
    commits: str
    projection: str


def rows(rehearsal: Rehearsal, message_chars: int = MESSAGE_CHARS) -> list[Row]:
    """The table's rows; ``message_chars`` cuts long messages (a terminal's width; Markdown wraps, so it is larger)."""
    largest = max(rehearsal.rows)
    found = projections(rehearsal)
    table = []
    for revision, message in rehearsal.revisions():
        at_n = rehearsal.step(revision, largest)
        cells = tuple(_seconds(rehearsal.step(revision, count)) for count in rehearsal.rows)
        short = message if len(message) <= message_chars else message[: message_chars - 3] + "..."
        peak = str(at_n.peak_mb) if at_n is not None and at_n.peak_mb is not None else "-"
        commits = str(at_n.commits) if at_n is not None and at_n.commits is not None else "-"
        table.append(
            Row(
                revision, short, cells, _hold(at_n.longest if at_n else None), peak, commits, found[revision].describe()
            )
        )
    return table


def _header(rehearsal: Rehearsal) -> tuple[str, ...]:
    counts = " / ".join(_count(c) for c in rehearsal.rows)
    largest = _count(max(rehearsal.rows))
    return (
        "revision",
        "message",
        f"seconds at {counts} rows",
        f"longest blocking hold at {largest}",
        "peak MB",
        "commits",
        "projection",
    )


def _count(rows: int) -> str:
    """1,000,000 -> 1M, 316,228 -> 316k: short enough for a column header."""
    for size, unit in ((1_000_000, "M"), (1_000, "k")):
        if rows >= size:
            value = rows / size
            return f"{value:.0f}{unit}" if value >= 10 or value == int(value) else f"{value:.1f}{unit}"
    return str(rows)


def _cells(row: Row) -> tuple[str, ...]:
    return (row.revision, row.message, " / ".join(row.seconds), row.hold, row.peak_mb, row.commits, row.projection)


def format_table(rehearsal: Rehearsal) -> str:
    header = _header(rehearsal)
    lines = [_cells(row) for row in rows(rehearsal)]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(len(header))]
    right = {2, 4, 5}

    def fmt(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths)), *(fmt(line) for line in lines)])


def format_markdown(rehearsal: Rehearsal, chart: str | None = None) -> str:
    header = _header(rehearsal)
    lines = [
        f"## Rehearsal: {rehearsal.limits.describe()}",
        "",
        f"| {' | '.join(header)} |",
        f"|{'|'.join('---:' if i in (2, 4, 5) else '---' for i in range(len(header)))}|",
        *(f"| {' | '.join(c.replace('|', '/') for c in _cells(row))} |" for row in rows(rehearsal, 200)),
        "",
        f"**{verdict(rehearsal)}**",
        "",
        footnote(rehearsal),
    ]
    stops = stop_lines(rehearsal)
    if stops:
        lines += ["", "Invocations that did not finish:", "", *(f"- {line}" for line in stops)]
    if chart:
        lines += ["", f"![duration against rows]({chart})"]
    return "\n".join(lines) + "\n"


def footnote(rehearsal: Rehearsal) -> str:
    timeout = rehearsal.limits.timeout_seconds
    return (
        "Seconds: Lambda's Duration of the invocation that ran the revision alone (one revision per warm invocation). "
        f"Blocking hold: measured inside the migrating connection. Peak MB: Lambda's Max Memory Used (the "
        f"environment's peak so far) of {rehearsal.limits.memory_size} MB. Commits: transactions the revision "
        f"committed (more at more rows: it commits per batch and can resume). Projection: a straight line through "
        f"the seconds against rows, against the {usable_seconds(timeout):g} s its statements get before the "
        f"{timeout} s timeout (the migrator keeps the rest to report); flat (no projection) unless the line rises, "
        f"across the rows measured, by more than {FLOOR_SECONDS:g} s and {FLOOR_FRACTION * 100:g} % of the revision's "
        "shortest time, and by more than the scatter of its points explains (95 %)."
    )


def stop_lines(rehearsal: Rehearsal) -> list[str]:
    """What happened to each invocation that did not finish: the state it left, and the invocations after it."""
    found = []
    for step in rehearsal.steps:
        if step.stopped is None:
            continue
        how = "killed by Lambda's timeout" if step.stopped.killed else "stopped by the migrator before the timeout"
        seconds = (step.stopped.duration_ms or 0) / 1000
        line = f"{step.revision} at {step.rows:,} rows: {how} after {seconds:.2f} s"
        if step.after_stop is not None:
            consistent = "consistent" if step.after_stop.consistent else "NOT consistent"
            line += f"; the database then ({consistent}): {step.after_stop.describe()}"
        finished = next((i for i, answer in enumerate(step.resumes) if answer.ok), None)
        if finished is not None:
            seconds = (step.resumes[finished].duration_ms or 0) / 1000
            line += f"; invocation {finished + 2} resumed it and finished in {seconds:.2f} s"
        elif step.resumes:
            line += f"; {len(step.resumes)} more invocation(s) did not finish it"
        found.append(line)
    return found


def _grouped(rehearsal: Rehearsal, revisions: list[str], budget: float) -> list[tuple[list[str], float]]:
    """Consecutive revisions packed into invocations that stay under ``budget`` seconds at the largest row count."""
    largest = max(rehearsal.rows)
    groups: list[tuple[list[str], float]] = []
    for revision in revisions:
        step = rehearsal.step(revision, largest)
        seconds = (step.duration_ms or 0) / 1000 if step is not None else 0.0
        if groups and groups[-1][1] + seconds < budget:
            groups[-1][0].append(revision)
            groups[-1] = (groups[-1][0], groups[-1][1] + seconds)
        else:
            groups.append(([revision], seconds))
    return groups


def verdict(rehearsal: Rehearsal) -> str:
    """One line for the PR: does it fit, and if not, which revisions run as separate invocations or as a resumable
    batched job."""
    limits = rehearsal.limits
    largest = max(rehearsal.rows)
    budget = usable_seconds(limits.timeout_seconds)
    head = f"Verdict for {limits.stage} ({limits.timeout_seconds} s, {limits.memory_size} MB) at {largest:,} rows:"
    failed = [s for s in rehearsal.steps if s.error]
    if failed:
        return f"{head} {failed[0].revision} FAILED at {failed[0].rows:,} rows ({failed[0].error}); fix it first."
    lost = rehearsal.undeclared_losses()
    if lost:
        where = f" (declare an intended one in {rehearsal.policy.source})" if rehearsal.policy else ""
        described = "; ".join(explain_loss(loss) for loss in lost)
        return f"{head} data loss: {described}{where}."
    found = projections(rehearsal)
    revisions = [revision for revision, _ in rehearsal.revisions()]
    over = [r for r in revisions if not found[r].fits]
    fitting = [r for r in revisions if found[r].fits]
    parts = []
    for revision in over:
        step = rehearsal.step(revision, largest)
        resumed = step is not None and step.stopped is not None and step.finished
        if resumed or batched(rehearsal, revision):
            how = "resumed where it stopped" if resumed else "commits per batch"
            parts.append(
                f"{revision} needs more than one invocation: it {how}, so run it as a resumable batched job "
                "(invoke run.run_alembic_upgrade again until it reports the revision done)"
            )
        else:
            parts.append(
                f"{revision} cannot finish in one invocation and is not resumable: split it, or batch it so each "
                "batch commits"
            )
    groups = _grouped(rehearsal, fitting, budget)
    total = sum(seconds for _, seconds in groups)
    peaks = [s.peak_mb for s in rehearsal.at(largest) if s.peak_mb is not None]
    peak = f", peak {max(peaks)} of {limits.memory_size} MB" if peaks else ""
    if len(groups) == 1 and not over:
        parts.append(
            f"all {len(fitting)} revisions fit in one invocation ({total:.1f} s of {limits.timeout_seconds} s{peak})"
        )
    elif len(groups) > 1:
        listed = "; ".join(f"{', '.join(g)} ({seconds:.0f} s)" for g, seconds in groups)
        parts.append(f"run the others as {len(groups)} separate invocations: {listed}")
    elif fitting:
        parts.append(f"the other {len(fitting)} fit in one invocation ({total:.1f} s{peak})")
    first = min(
        ((found[r].crossing, r) for r in fitting if found[r].crossing is not None), default=None, key=lambda x: x[0]
    )
    if first is not None:
        crossing, revision = first
        beyond = (
            "it commits per batch, so beyond that run it as a resumable batched job"
            if batched(rehearsal, revision)
            else "split or batch it before the tables get there"
        )
        parts.append(
            f"the first to reach the timeout as tables grow is {revision}, "
            f"at about {round_rows(crossing):,} rows: {beyond}"
        )
    return f"{head} {'; '.join(parts)}."
