"""What the deploy rehearsal found: per phase, the requests, errors, latencies and lock waits; one verdict.

The verdict says "safe in this order", or which window failed, for how long, and the fix:

- new code on the old schema (the ``update`` window of ``update-first``, and the rollback's): the code reads what
  the migration has not made yet. Ship a new column in two releases: first the revision with code that does not
  read it, then the code that does;
- old code on the new schema (``migrate-first``'s window): the migration removed or renamed what the old code
  reads. Expand/contract: add the new column, write both, backfill, switch reads, drop the old one in a later
  release;
- an application query that waited longer than the project's lock-wait ceiling (``migrations/policy.toml``): the
  revision's ``lock_timeout`` is missing or too long, so the migration queued the application behind it;
- a migration that failed, and the same code failing on the same schema (nothing to do with the order);
- an upgrade that destroyed data ``migrations/policy.toml`` does not declare (data loss), as ``make rehearse`` and
  ``make check-migrations`` refuse it.

``report.json`` has the shape the PR workflow and the tests read (see :func:`as_json`).
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from dev.migration_policy import explain_loss, undeclared

from .run import DeployRun
from .traffic import Record


@dataclass(frozen=True)
class PhaseStats:
    name: str
    code: str
    schema: str
    seconds: float
    requests: int
    errors: int
    errors_by_route: dict[str, int]
    first_error: str | None
    error_span_s: float  # from the first failed request to the last one in the phase
    p50_ms: float
    p99_ms: float
    max_ms: float
    max_lock_wait_ms: float
    longest_wait: str | None


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p99 is a latency some request had)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return round(ordered[int(rank) - 1], 1)


def _error_text(record: Record) -> str:
    return record.error or f"HTTP {record.status}"


def phase_stats(run: DeployRun) -> list[PhaseStats]:
    app_waits = run.app_waits()
    stats = []
    for phase_run in run.phases:
        phase = phase_run.phase
        records = [r for r in run.records if r.phase == phase.name]
        failed = [r for r in records if r.failed]
        waits = [w for w in app_waits if phase_run.started <= w.last_seen < (phase_run.ended or float("inf"))]
        longest = max(waits, key=lambda w: w.waited_ms, default=None)
        latencies = [r.ms for r in records]
        stats.append(
            PhaseStats(
                name=phase.name,
                code=phase.code,
                schema=phase.schema,
                seconds=round(phase_run.ended - phase_run.started, 2),
                requests=len(records),
                errors=len(failed),
                errors_by_route=dict(sorted(Counter(r.route for r in failed).items())),
                first_error=_error_text(failed[0]) if failed else None,
                error_span_s=round(max(r.at for r in failed) - min(r.at for r in failed), 2) if failed else 0.0,
                p50_ms=_percentile(latencies, 50),
                p99_ms=_percentile(latencies, 99),
                max_ms=round(max(latencies), 1) if latencies else 0.0,
                max_lock_wait_ms=round(longest.waited_ms, 1) if longest else 0.0,
                longest_wait=longest.describe() if longest else None,
            )
        )
    return stats


# -- the verdict ---------------------------------------------------------------------------------------------------

_MISSING = re.compile(r'(column|relation) "?([\w.]+)"? does not exist')

FIX_NEW_ON_OLD = (
    "split the change across two releases: first the revision with code that does not read what it adds (leave "
    "the attribute out of the model, or map it `deferred()` and never load it), deployed and migrated; then the code "
    "that reads it"
)
FIX_OLD_ON_NEW = (
    "expand/contract: add the new column (or table) next to the old one, write both, backfill, switch the reads, "
    "and drop the old one only in a later release, once no running code reads it"
)
FIX_LOCKS = (
    "the revision must set a short lock_timeout (`SET LOCAL lock_timeout = '1s'`, as the template does): the "
    "migrator then retries the step with backoff instead of queueing every query on the table behind it"
)


def _what_failed(text: str | None) -> str:
    found = _MISSING.search(text or "")
    return f"{found.group(1)} {found.group(2)} does not exist" if found else (text or "errors")[:160]


def _window(stats: PhaseStats) -> str:
    new_schema = "new" in stats.schema
    if stats.code == "new" and stats.schema in ("base", "new -> base", "base -> new"):
        return "new code on the old schema"
    if stats.code == "base" and new_schema:
        return "old code on the new schema"
    if stats.code == "new":
        return "new code on the new schema"
    return "old code on the old schema"


def _fix(window: str) -> str:
    if window == "new code on the old schema":
        return FIX_NEW_ON_OLD
    if window == "old code on the new schema":
        return FIX_OLD_ON_NEW
    if window == "new code on the new schema":
        return "the new code fails whatever the order: fix it (run its tests against the migrated schema)"
    return "the old version fails on its own schema: the rollback did not restore what it needs (check the downgrade)"


@dataclass(frozen=True)
class Verdict:
    safe: bool
    text: str


def verdict(run: DeployRun, stats: list[PhaseStats]) -> Verdict:
    problems: list[str] = []
    for migration in run.migrations:
        if migration.error:
            problems.append(f"the {migration.direction} failed in phase {migration.phase}: {migration.error}")
    windows: dict[str, list[PhaseStats]] = {}
    for phase in (s for s in stats if s.errors):
        windows.setdefault(_window(phase), []).append(phase)
    for window, failing in windows.items():
        each = "; ".join(
            f"phase {p.name} failed {p.errors} of {p.requests} requests over {p.error_span_s:.1f} s ("
            + ", ".join(f"{route} x{count}" for route, count in p.errors_by_route.items())
            + ")"
            for p in failing
        )
        causes = sorted({_what_failed(p.first_error) for p in failing})
        problems.append(f"{window}: {each}: {' / '.join(causes)}. Fix: {_fix(window)}")
    slow = [s for s in stats if s.max_lock_wait_ms > run.ceiling_ms]
    for phase in slow:
        problems.append(
            f"phase {phase.name}: an application query waited {phase.max_lock_wait_ms / 1000:.1f} s for a lock, over "
            f"the project's ceiling of {run.ceiling_ms / 1000:g} s ({phase.longest_wait}). Fix: {FIX_LOCKS}"
        )
    upgrade = run.upgrade
    for loss in undeclared(upgrade.losses, run.policy) if upgrade else []:
        problems.append(f"data loss: {explain_loss(loss)} (declare an intended one in {run.policy.source})")
    if problems:
        return Verdict(False, f"NOT safe in this order ({run.options.order}): " + " | ".join(problems))
    requests = sum(s.requests for s in stats)
    longest = max((s.max_lock_wait_ms for s in stats), default=0.0)
    migrated = (
        f"the upgrade ran {len(upgrade.revisions)} revision(s) in {upgrade.seconds:.1f} s with "
        f"{len(upgrade.retries)} lock-timeout retr{'y' if len(upgrade.retries) == 1 else 'ies'}"
        if upgrade
        else "no upgrade ran"
    )
    return Verdict(
        True,
        f"safe in this order ({run.options.order}): 0 errors in {requests} requests over {len(stats)} phases; "
        f"{migrated}; the longest an application query waited for a lock was {longest:,.0f} ms "
        f"(ceiling {run.ceiling_ms:,.0f} ms)",
    )


# -- outputs -------------------------------------------------------------------------------------------------------


def _migration_json(run: DeployRun) -> dict:
    upgrade = run.upgrade
    if upgrade is None:
        return {"revisions": [], "retries": 0, "seconds": 0.0}
    return {
        "revisions": upgrade.revisions,
        "retries": len(upgrade.retries),
        "seconds": round(upgrade.seconds, 3),
        "ok": upgrade.error is None,
        "error": upgrade.error,
        "retry_details": upgrade.retries,
        "holds": upgrade.holds,
        "waits_ms": [round(w.waited_ms, 1) for w in run.migration_waits(upgrade)],
        "data_loss": upgrade.losses,
    }


def as_json(run: DeployRun, stats: list[PhaseStats], result: Verdict) -> dict:
    """``{"base", "order", "safe", "verdict", "migration": {"revisions", "retries", "seconds", ...}, "phases": [...]}``
    with one entry per phase: name, seconds, requests, errors, errors_by_route, first_error, p50_ms, p99_ms,
    max_ms, max_lock_wait_ms (and a few more keys)."""
    rollback = next((m for m in run.migrations if m.direction == "downgrade"), None)
    return {
        "base": run.base.commit,
        "base_label": run.base.label,
        "order": run.options.order,
        "safe": result.safe,
        "verdict": result.text,
        "rate": run.options.rate,
        "rows": run.options.rows,
        "hold_seconds": run.options.hold,
        "lock_wait_ceiling_ms": run.ceiling_ms,
        "base_head": run.base_head,
        "new_head": run.new_head,
        "long_tx": None if run.long_tx is None else vars(run.long_tx),
        "migration": _migration_json(run),
        "rollback": None
        if rollback is None
        else {"revisions": rollback.revisions, "seconds": round(rollback.seconds, 3), "error": rollback.error},
        "generator_overflow": run.overflow,
        "lock_sampler_errors": run.sampler_errors,
        "phases": [
            {
                "name": s.name,
                "code": s.code,
                "schema": s.schema,
                "seconds": s.seconds,
                "requests": s.requests,
                "errors": s.errors,
                "errors_by_route": s.errors_by_route,
                "first_error": s.first_error,
                "error_span_s": s.error_span_s,
                "p50_ms": s.p50_ms,
                "p99_ms": s.p99_ms,
                "max_ms": s.max_ms,
                "max_lock_wait_ms": s.max_lock_wait_ms,
                "longest_lock_wait": s.longest_wait,
            }
            for s in stats
        ],
    }


def table(stats: list[PhaseStats]) -> str:
    """The per-phase table, in Markdown (also readable as plain text)."""
    rows = [
        "| phase | serving | s | requests | errors | p50 ms | p99 ms | max ms | longest lock wait ms | first error |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in stats:
        first = (s.first_error or "").replace("|", "\\|")[:120]
        rows.append(
            f"| {s.name} | {s.code} code, {s.schema} schema | {s.seconds:.1f} | {s.requests} | {s.errors} | "
            f"{s.p50_ms:,.1f} | {s.p99_ms:,.1f} | {s.max_ms:,.1f} | {s.max_lock_wait_ms:,.0f} | {first} |"
        )
    return "\n".join(rows)


def _migration_lines(run: DeployRun) -> list[str]:
    lines = []
    for migration in run.migrations:
        what = ", ".join(migration.revisions) or "nothing"
        lines.append(
            f"- {migration.direction} (phase {migration.phase}): {what} in {migration.seconds:.2f} s, "
            f"{len(migration.retries)} lock-timeout retr{'y' if len(migration.retries) == 1 else 'ies'}"
            + (f", FAILED: {migration.error}" if migration.error else "")
        )
        for retry in migration.retries:
            lines.append(
                f"  - retry {retry['attempt']} of {retry['revision']}: {retry['error']} after "
                f"{retry['attempt_ms']:,.0f} ms, paused {retry['pause_ms']:,.0f} ms"
            )
        lines += [f"  - WARNING: data loss: {explain_loss(loss)}" for loss in migration.losses]
        longest = max(migration.holds, key=lambda h: h.get("hold_ms", 0), default=None)
        if longest:
            lines.append(
                f"  - longest blocking lock held: {longest['hold_ms']:.1f} ms {longest['mode']} on {longest['table']}"
            )
    return lines


def markdown(run: DeployRun, stats: list[PhaseStats], result: Verdict, chart: str | None) -> str:
    options = run.options
    setup = (
        f"BASE {run.base.describe()} ({run.base_head or 'no revision'}) -> the working tree "
        f"({run.new_head or 'no new revision'}); order {options.order}; {options.rate:g} requests/s; "
        f"{options.rows:,} rows; {options.hold:g} s per phase"
    )
    if run.long_tx is not None:
        setup += f"; a read transaction held {run.long_tx.held} for {run.long_tx.seconds:g} s across the migration"
    parts = [
        "# Deploy rehearsal",
        "",
        setup,
        "",
        table(stats),
        "",
        "Migrations (through the new package's Invoke API, measured inside the Lambda worker):",
        "",
        *_migration_lines(run),
        "",
        f"> {'Safe' if result.safe else 'NOT safe'}: {result.text}",
    ]
    if chart:
        parts += ["", f"![Latency of every request, by phase; errors marked]({chart})"]
    return "\n".join(parts) + "\n"


def requests_csv(run: DeployRun, path: Path) -> None:
    """Every request, one row each: when it was sent and received, its phase, route, status, latency, request id
    and, for a failure, the function's error line."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sent_s", "received_s", "phase", "route", "status", "ms", "request_id", "error"])
        for r in sorted(run.records, key=lambda r: r.at):
            error = _error_text(r) if r.failed else ""
            received = "" if r.received is None else f"{r.received:.3f}"
            writer.writerow(
                [f"{r.sent:.3f}", received, r.phase, r.route, r.status or "", f"{r.ms:.1f}", r.request_id or "", error]
            )


def write(run: DeployRun, out_dir: Path, chart: str | None) -> tuple[list[PhaseStats], Verdict]:
    stats = phase_stats(run)
    result = verdict(run, stats)
    requests_csv(run, out_dir / "requests.csv")
    (out_dir / "report.json").write_text(json.dumps(as_json(run, stats, result), indent=2) + "\n")
    (out_dir / "report.md").write_text(markdown(run, stats, result, chart))
    return stats, result
