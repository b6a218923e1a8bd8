"""Static lint of every revision's SQL, both directions, with squawk and a reviewed allowlist.

    python -m dev.migration_lint                       # lint all revisions; exit 1 on a finding not allowed
    python -m dev.migration_lint --out-dir build/sql   # also write each revision's SQL (what reviewers read)
    python -m dev.migration_lint --changed-since origin/main --sql-only --out-dir build/sql

Why: a revision is Python, but what production runs is SQL. Alembic's offline mode (``--sql``) renders exactly
that SQL for ``prev:rev`` (upgrade) and ``rev:prev`` (downgrade) without a database, and squawk knows which
statements lock or rewrite a busy table.

The policy, in three files and nowhere else:
- ``.squawk.toml`` (squawk's own configuration, passed with ``--config``): the PostgreSQL version and the rules
  the project has decided against for every revision in both directions, each with its reason;
- ``migrations/policy.toml`` (:mod:`dev.migration_policy`): the lock-wait ceiling. The ``lock-timeout`` rule here
  (:func:`lock_timeout_findings`, not squawk's presence check) follows ``SET``/``SET LOCAL``/``RESET`` through
  transactions and autocommit blocks and fails a DDL statement that runs with no ``lock_timeout``, with 0 (no
  limit), or with more than the ceiling: while DDL waits for its lock, every query on the table waits behind it;
- ``migrations/squawk-allowlist.toml``: accepted findings, one reviewed ``[[allow]]`` entry with its reason per
  (rule, revision, direction); ``revision = "*"`` for what holds for every revision in one direction (a
  downgrade dropping what its upgrade created). A finding with no entry fails, naming the revision, the rule,
  how to fix it and how to accept it; an entry that no longer matches anything is stale and fails too, so the
  file stays honest.

Alembic's own bookkeeping statements (``alembic_version``) are not the team's SQL and are left out of the lint
(they stay in the written SQL files).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dev.migration_policy import Policy, PolicyError, duration_ms
from dev.migration_policy import load as load_policy

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ALLOWLIST_NAME = "squawk-allowlist.toml"
DEFAULT_ALLOWLIST = PROJECT_ROOT / "migrations" / ALLOWLIST_NAME
SQUAWK_CONFIG = PROJECT_ROOT / ".squawk.toml"
RULES_URL = "https://squawkhq.com/docs/"
LOCK_TIMEOUT_RULE = "lock-timeout"
# What to do, for the rules squawk gives no help text for (what a reviewer would say).
OUR_HELP = {
    "ban-drop-column": (
        "code that still reads the column breaks the moment it is gone: stop reading it in one release, drop it in "
        "a later one (expand/contract; `make rehearse-deploy` shows the window). The drop also loses its values: "
        "the data round trip names that as data loss; if it is a rename, write op.alter_column(..., "
        "new_column_name=...) instead."
    ),
    "ban-drop-table": (
        "code that still reads the table breaks: drop it a release after the last reader; its rows are lost (the "
        "data round trip says how many)."
    ),
    "renaming-column": (
        "old code reads the old name until it is replaced: add the new column, write both, backfill, switch reads, "
        "drop the old one later (expand/contract; `make rehearse-deploy` shows the window)."
    ),
}
OFFLINE_URL = "postgresql://offline@127.0.0.1:1/offline"  # never connected to: offline mode only needs a dialect
DIRECTIONS = ("upgrade", "downgrade")
WILDCARD = "*"


class LintError(RuntimeError):
    """The lint could not run (squawk missing, bad allowlist, unknown revision); the message says what to do."""


@dataclass(frozen=True)
class RevisionSQL:
    revision: str
    down_revision: str | None
    direction: str
    message: str
    sql: str

    @property
    def filename(self) -> str:
        return f"{self.revision}_{self.direction}.sql"


@dataclass(frozen=True)
class Finding:
    revision: str
    direction: str
    rule: str
    message: str
    statement: str
    help: str = ""

    def describe(self) -> str:
        source = "lint" if self.rule == LOCK_TIMEOUT_RULE else "squawk"
        where = f"revision {self.revision} ({self.direction})"
        return f"{where}: {source} {self.rule}: {self.message} -- `{self.statement}`"

    def how_to_resolve(self, allowlist: Path | str = DEFAULT_ALLOWLIST) -> str:
        """What the author can do: squawk's fix, the rule's page, or the reviewed entry that would accept it."""
        fix = f"{self.help} " if self.help else ""
        see = f"(see {RULES_URL}{self.rule})" if self.rule != LOCK_TIMEOUT_RULE else "(see migrations/policy.toml)"
        return (
            f"  fix: {fix}{see}\n"
            f"  or, if it is acceptable here, add to {allowlist} with the reason it is safe:\n"
            f'    [[allow]]\n    rule = "{self.rule}"\n    revision = "{self.revision}"\n'
            f'    direction = "{self.direction}"\n    reason = "..."'
        )


@dataclass(frozen=True)
class AllowEntry:
    rule: str
    revision: str
    direction: str
    reason: str

    def matches(self, finding: Finding) -> bool:
        return (
            self.rule == finding.rule
            and self.revision in (WILDCARD, finding.revision)
            and self.direction in (WILDCARD, finding.direction)
        )

    def describe(self) -> str:
        return f"rule={self.rule} revision={self.revision} direction={self.direction}"


@dataclass
class LintResult:
    findings: list[Finding]
    new: list[Finding] = field(default_factory=list)
    allowed: list[tuple[Finding, AllowEntry]] = field(default_factory=list)
    stale: list[AllowEntry] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.new and not self.stale


# -- SQL per revision ----------------------------------------------------------------------------------------------


def _chain(migrations_dir: str) -> list[tuple[str, str | None, str]]:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(migrations_dir)
    return [
        (s.revision, s.down_revision, (s.doc or "").strip().splitlines()[0] if s.doc else "")
        for s in reversed(list(script.walk_revisions()))
    ]


def revision_sql(migrations_dir: str | None = None, revisions: Iterable[str] | None = None) -> list[RevisionSQL]:
    """Offline SQL for each revision (oldest first), upgrade (``prev:rev``) then downgrade (``rev:prev``).

    Goes through ``yt_pubsub_handler.migrator`` (``sql=True``), the same helper ``run.py`` exposes, so the SQL
    is what ``zappa invoke ... '{"sql": true}'`` would show. No database is contacted.
    """
    from yt_pubsub_handler import MIGRATIONS_DIR, create_app, migrator

    directory = str(Path(migrations_dir or MIGRATIONS_DIR).resolve())
    chain = _chain(directory)
    wanted = set(revisions) if revisions is not None else None
    if wanted is not None:
        unknown = wanted - {r for r, _, _ in chain}
        if unknown:
            raise LintError(f"unknown revision(s) {sorted(unknown)} in {directory}: check the ids (`flask db history`)")
    app = create_app({"DATABASE_URL": OFFLINE_URL, "MIGRATIONS_DIR": directory})
    out: list[RevisionSQL] = []
    with app.app_context():
        for revision, down, message in chain:
            if wanted is not None and revision not in wanted:
                continue
            if isinstance(down, tuple):
                raise LintError(f"revision {revision} is a merge revision; lint its parents' ranges separately")
            prev = down or "base"
            up = migrator.upgrade(revision=f"{prev}:{revision}", sql=True)["sql"]
            back = migrator.downgrade(revision=f"{revision}:{prev}", sql=True)["sql"]
            out.append(RevisionSQL(revision, down, "upgrade", message, up))
            out.append(RevisionSQL(revision, down, "downgrade", message, back))
    return out


def team_sql(sql: str) -> str:
    """The SQL without Alembic's ``alembic_version`` bookkeeping (statements are separated by blank lines)."""
    chunks = [c for c in sql.split("\n\n") if "alembic_version" not in c]
    return "\n\n".join(chunks).strip() + "\n"


# -- squawk --------------------------------------------------------------------------------------------------------


def find_squawk() -> str:
    """squawk from the venv next to this interpreter, else PATH."""
    candidates = [Path(sys.executable).parent / "squawk", PROJECT_ROOT / ".venv" / "bin" / "squawk"]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("squawk")
    if found:
        return found
    raise LintError("squawk is not installed: `make setup` (it is pinned in requirements-dev.txt as squawk-cli)")


def lint(
    items: list[RevisionSQL],
    config: Path | str | None = SQUAWK_CONFIG,
    pg_version: str | None = None,
    squawk: str | None = None,
    policy: Policy | None = None,
) -> list[Finding]:
    """Run squawk once over every item's team SQL, then the lock-timeout rule; one Finding per violation.

    ``config`` is squawk's own configuration (the project's .squawk.toml: version, rules excluded for every
    revision); None runs squawk with its defaults. ``pg_version`` overrides the config's. ``policy``: the
    lock-wait ceiling (default: the project's ``migrations/policy.toml``).
    """
    try:
        policy = policy or load_policy()
    except PolicyError as exc:
        raise LintError(str(exc)) from None
    return _squawk(items, config, pg_version, squawk) + lock_timeout_findings(items, policy)


def _squawk(
    items: list[RevisionSQL], config: Path | str | None, pg_version: str | None, squawk: str | None
) -> list[Finding]:
    squawk = squawk or find_squawk()
    options = ["--reporter=json"]
    if config is not None:
        if not Path(config).is_file():
            raise LintError(f"squawk configuration {config} is missing: restore it from git (it holds the lint policy)")
        options.append(f"--config={config}")
    if pg_version:
        options.append(f"--pg-version={pg_version}")
    findings: list[Finding] = []
    with tempfile.TemporaryDirectory(prefix="migration-lint-") as tmp:
        paths: dict[str, tuple[RevisionSQL, list[str]]] = {}
        for item in items:
            text = team_sql(item.sql)
            path = Path(tmp) / item.filename
            path.write_text(text)
            paths[str(path)] = (item, text.splitlines())
        if not paths:
            return []
        proc = subprocess.run(
            [squawk, *options, *paths],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp,  # the configuration is the one passed above, never one squawk happens to find
        )
        try:
            reported = json.loads(proc.stdout or "[]")
        except json.JSONDecodeError as exc:
            raise LintError(
                f"squawk failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout[:500]}"
            ) from exc
        for v in reported:
            item, lines = paths[str(Path(tmp) / Path(v["file"]).name)]
            number = v.get("line", -1)  # squawk's json lines are 0-based
            line = lines[number].strip() if 0 <= number < len(lines) else ""
            finding = Finding(
                item.revision,
                item.direction,
                v["rule_name"],
                v["message"],
                line[:160],
                v.get("help") or OUR_HELP.get(v["rule_name"], ""),
            )
            findings.append(finding)
    return findings


# -- the lock-timeout rule ---------------------------------------------------------------------------------------

_COMMENT = re.compile(r"^\s*--.*$", re.MULTILINE)
_SET_LOCK_TIMEOUT = re.compile(r"^SET\s+(LOCAL\s+|SESSION\s+)?lock_timeout\s*(?:=|TO)\s*(.+?)\s*;?\s*$", re.I | re.S)
_RESET_LOCK_TIMEOUT = re.compile(r"^RESET\s+(lock_timeout|ALL)\b", re.I)
_BEGIN = re.compile(r"^(BEGIN|START\s+TRANSACTION)\b", re.I)
_END = re.compile(r"^(COMMIT|ROLLBACK|END|ABORT)\b", re.I)
# Statements that take a lock the application's queries can queue behind while they wait for it.
_DDL = re.compile(r"^(ALTER|CREATE|DROP|TRUNCATE|LOCK|COMMENT\s+ON|REINDEX|CLUSTER|VACUUM\s+FULL|GRANT|REVOKE)\b", re.I)
_HOW = (
    "write `SET LOCAL lock_timeout = '1s'` first (the revision template does; in an autocommit block, where SET "
    "LOCAL has no effect, `SET lock_timeout = '1s'` ... `RESET lock_timeout`). The migrator retries a step that "
    "times out, with backoff, so a short value costs nothing but a retry"
)


def _statements(sql: str) -> list[str]:
    """Alembic's offline SQL, one statement per blank-line-separated chunk, comments removed."""
    chunks = (" ".join(_COMMENT.sub("", chunk).split()) for chunk in sql.split("\n\n"))
    return [chunk for chunk in chunks if chunk]


def _lock_timeout_problem(value: str | None, policy: Policy) -> str | None:
    if value is None:
        return "runs with no lock_timeout: while it waits for its lock, every query on the table waits behind it"
    if value.strip("'\" ").upper() == "DEFAULT":
        return "runs with lock_timeout set back to DEFAULT (no limit): every query on the table may wait behind it"
    try:
        ms = duration_ms(value)
    except ValueError:
        return f"sets lock_timeout to {value}, which is not a duration this lint can read"
    if ms <= 0:
        return "runs with lock_timeout = 0, which means no limit: every query on the table may wait behind it"
    if ms > policy.lock_wait_ceiling_ms:
        return (
            f"runs with lock_timeout {value}, above the project's ceiling of {policy.describe_ceiling()}: "
            "an application query could wait that long behind it"
        )
    return None


def lock_timeout_findings(items: Iterable[RevisionSQL], policy: Policy) -> list[Finding]:
    """The first DDL statement of each revision and direction whose effective ``lock_timeout`` is missing, 0 or
    above the ceiling (one finding per revision and direction: one cause, one failure).

    The effective value follows PostgreSQL: ``SET LOCAL`` lasts until the end of its transaction (and does nothing
    outside one, as in an autocommit block), ``SET`` until ``RESET``; a transaction's ``SET`` rolled back is ignored
    here (Alembic's offline SQL commits every transaction it opens).
    """
    findings = []
    for item in items:
        session: str | None = None
        local: str | None = None
        in_transaction = False
        for statement in _statements(team_sql(item.sql)):
            if _BEGIN.match(statement):
                in_transaction = True
            elif _END.match(statement):
                in_transaction, local = False, None
            elif match := _SET_LOCK_TIMEOUT.match(statement):
                if (match.group(1) or "").strip().upper() == "LOCAL":
                    local = match.group(2) if in_transaction else local
                else:
                    session, local = match.group(2), None
            elif _RESET_LOCK_TIMEOUT.match(statement):
                session, local = None, None
            elif _DDL.match(statement):
                problem = _lock_timeout_problem(local if local is not None else session, policy)
                if problem is not None:
                    findings.append(
                        Finding(item.revision, item.direction, LOCK_TIMEOUT_RULE, problem, statement[:160], _HOW)
                    )
                    break
    return findings


# -- allowlist -----------------------------------------------------------------------------------------------------


def allowlist_for(migrations_dir: str | Path | None) -> Path:
    """The allowlist that goes with a migrations directory: its own squawk-allowlist.toml, else the project's."""
    own = Path(migrations_dir) / ALLOWLIST_NAME if migrations_dir else DEFAULT_ALLOWLIST
    return own if own.is_file() else DEFAULT_ALLOWLIST


def load_allowlist(path: Path | str = DEFAULT_ALLOWLIST) -> list[AllowEntry]:
    """Entries from a TOML file of ``[[allow]]`` tables with rule, revision, direction and reason (all required)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise LintError(f"{path} is not valid TOML: {exc}") from exc
    entries = []
    for i, raw in enumerate(data.get("allow", []), start=1):
        missing = [k for k in ("rule", "revision", "direction", "reason") if not str(raw.get(k, "")).strip()]
        if missing:
            raise LintError(f"{path}: entry {i} lacks {', '.join(missing)}; every accepted finding needs a reason")
        if raw["direction"] not in (*DIRECTIONS, WILDCARD):
            raise LintError(f"{path}: entry {i}: direction must be upgrade, downgrade or '*', got {raw['direction']!r}")
        entries.append(AllowEntry(raw["rule"], raw["revision"], raw["direction"], " ".join(raw["reason"].split())))
    return entries


def check(findings: list[Finding], allowlist: list[AllowEntry], linted: Iterable[str]) -> LintResult:
    """Split findings into allowed and new; per-revision entries for linted revisions that matched nothing are stale.

    Project-wide entries (``revision = "*"``) are policy: they hold for revisions not written yet, so they are
    never stale.
    """
    result = LintResult(findings)
    used: set[AllowEntry] = set()
    for finding in findings:
        entry = next((e for e in allowlist if e.matches(finding)), None)
        if entry is None:
            result.new.append(finding)
        else:
            used.add(entry)
            result.allowed.append((finding, entry))
    linted = set(linted)
    result.stale = [e for e in allowlist if e not in used and e.revision in linted]
    return result


def explain(result: LintResult, allowlist: Path | str = DEFAULT_ALLOWLIST) -> str:
    """Every new finding and stale entry, each with what to do about it (what the CLI prints, what tests show)."""
    lines = []
    for finding in result.new:
        lines += [f"error: {finding.describe()}", finding.how_to_resolve(allowlist)]
    for entry in result.stale:
        lines.append(f"error: stale allowlist entry ({entry.describe()}) in {allowlist} matches no finding: remove it")
    return "\n".join(lines)


def write_sql(items: list[RevisionSQL], out_dir: Path) -> list[Path]:
    """Each item's full SQL (bookkeeping included) as ``<rev>_<direction>.sql``, plus an index for reviewers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for item in items:
        path = out_dir / item.filename
        path.write_text(f"-- {item.revision} ({item.direction}): {item.message}\n{item.sql}")
        written.append(path)
    index = [f"{i.revision}  {i.direction:<9}  {i.filename}  {i.message}" for i in items]
    (out_dir / "INDEX.txt").write_text("\n".join(index) + "\n")
    return written


def changed_revisions(since: str, migrations_dir: str | None = None) -> list[str]:
    """Revisions whose files differ from git ref ``since`` (new or edited in this branch)."""
    from yt_pubsub_handler import MIGRATIONS_DIR

    versions = Path(migrations_dir or MIGRATIONS_DIR).resolve() / "versions"
    proc = subprocess.run(
        ["git", "diff", "--name-only", "--diff-filter=AMR", since, "--", str(versions)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
    )
    if proc.returncode != 0:
        raise LintError(f"git diff against {since!r} failed: {proc.stderr.strip()} (fetch the base branch first)")
    chain = _chain(str(versions.parent))
    files = [Path(p).name for p in proc.stdout.split()]
    return [rev for rev, _, _ in chain if any(rev in name for name in files)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dev.migration_lint", description=__doc__.split("\n\n")[0])
    parser.add_argument("--migrations-dir", default=None, help="migrations directory (default: the project's)")
    parser.add_argument(
        "--allowlist", default=None, help=f"reviewed allowlist (default: the migrations directory's {ALLOWLIST_NAME})"
    )
    parser.add_argument("--config", default=str(SQUAWK_CONFIG), help="squawk's configuration (default: %(default)s)")
    parser.add_argument("--pg-version", default=None, help="PostgreSQL version squawk assumes (default: the config's)")
    parser.add_argument("--revision", action="append", dest="revisions", help="only this revision (repeatable)")
    parser.add_argument("--changed-since", default=None, help="only revisions whose files changed since this git ref")
    parser.add_argument("--out-dir", default=None, help="write each revision's SQL (both directions) here")
    parser.add_argument("--sql-only", action="store_true", help="write the SQL, do not lint")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s [%(name)s] %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    allowlist = Path(args.allowlist) if args.allowlist else allowlist_for(args.migrations_dir)
    try:
        revisions = args.revisions
        if args.changed_since:
            revisions = sorted(set(revisions or []) | set(changed_revisions(args.changed_since, args.migrations_dir)))
            if not revisions:
                print(f"no revision changed since {args.changed_since}")
                if args.out_dir:
                    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
                    (Path(args.out_dir) / "INDEX.txt").write_text(f"no revision changed since {args.changed_since}\n")
                return 0
        items = revision_sql(args.migrations_dir, revisions)
        if args.out_dir:
            written = write_sql(items, Path(args.out_dir))
            print(f"wrote {len(written)} SQL files to {args.out_dir}")
        if args.sql_only:
            return 0
        findings = lint(items, args.config, args.pg_version, policy=load_policy(args.migrations_dir))
        result = check(findings, load_allowlist(allowlist), {i.revision for i in items})
    except (LintError, PolicyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    linted = len({i.revision for i in items})
    print(
        f"squawk and the lock-timeout rule: {linted} revision(s), both directions: {len(findings)} finding(s), "
        f"{len(result.allowed)} allowed "
        f"by {allowlist}, {len(result.new)} new, {len(result.stale)} stale allowlist entr(y/ies)"
    )
    if not result.ok:
        print(explain(result, allowlist), file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
