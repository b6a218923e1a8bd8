"""One deploy rehearsal: BASE serving under traffic, then the deploy in the chosen order, then the rollback.

1. BASE (:mod:`.git_base`) is checked out in a git worktree; the working tree is the new code.
2. A scratch database on a local server is migrated to BASE's head by BASE's own ``run_alembic_upgrade`` and
   seeded with ``rows`` rows per large table (the generic seeder).
3. Two emulators serve the stage's function under another stage's limits (``--limits-from production``), one per
   version; a router (:mod:`.router`) is the stable URL in front of the live one, and the stage's hub and callback
   URLs point at the local hub and at the router.
4. The traffic profile subscribes through BASE, then the load generator runs through every phase (:mod:`.plan`)
   while a sampler reads lock waits from ``pg_locks``. Migrations run through the new package's Invoke API,
   measured inside the Lambda worker by :mod:`dev.rehearse.probe` (lock holds, the pids of its connections).

Nothing here talks to AWS, and the database is refused unless it is local (:mod:`dev.guard`).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dev import postgres, services
from dev.emulator import client
from dev.emulator.settings import stage_config
from dev.guard import check_database_url
from dev.hub import server as hub_server
from dev.hub.hub import Http, Hub
from dev.migration_policy import load as load_policy
from dev.rehearse.function import Answer
from dev.rehearse.rehearsal import seed

from .git_base import Base, resolve_base, worktree
from .lock_waits import LockWait, LockWaitSampler
from .long_transaction import LongTransaction, all_tables
from .plan import Phase, phases
from .router import Router
from .traffic import LoadGenerator, Record

PROBE = "dev.rehearse.probe.measured"
WARM_PATH = "/"  # any path loads the app; a 404 is an answer
CALLBACK_TIMEOUT = 120.0

Echo = Callable[[str], None]


class DeployRehearsalError(RuntimeError):
    """The rehearsal could not be set up (BASE, the database, an emulator); the message says what to fix."""


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Options:
    project_dir: Path
    out_dir: Path
    base: str | None = None
    order: str = "update-first"
    rate: float = 20.0
    rows: int = 2000
    hold: float = 5.0
    long_tx: float = 0.0
    long_tx_table: str | None = None
    serve_stage: str = "local"
    limits_from: str = "production"
    settings: str = "zappa_settings.json"
    traffic: str = "dev.app_traffic"
    database_url: str | None = None
    concurrency: int = 4
    upgrade: str = "run.run_alembic_upgrade"
    downgrade: str = "run.run_alembic_downgrade"


@dataclass
class Migration:
    """One migration invocation through the new package, as the probe measured it inside the worker."""

    direction: str
    phase: str
    started: float
    ended: float
    answer: Answer

    @property
    def measured(self) -> dict[str, Any]:
        return self.answer.result if self.answer.ok and isinstance(self.answer.result, dict) else {}

    @property
    def result(self) -> dict[str, Any]:
        return self.measured.get("result") or {}

    @property
    def revisions(self) -> list[str]:
        return [step["revision"] for step in self.result.get("steps", [])]

    @property
    def retries(self) -> list[dict[str, Any]]:
        return list(self.result.get("retries", []))

    @property
    def holds(self) -> list[dict[str, Any]]:
        return list(self.measured.get("holds", []))

    @property
    def pids(self) -> set[int]:
        return set(self.measured.get("pids", []))

    @property
    def seconds(self) -> float:
        """Lambda's Duration of the invocation (the wall time when the REPORT line is missing)."""
        if self.answer.duration_ms is not None:
            return self.answer.duration_ms / 1000
        return self.ended - self.started

    @property
    def error(self) -> str | None:
        if self.answer.ok:
            return None
        message = (self.answer.error_message or "").strip().splitlines()
        return f"{self.answer.error_type}: {message[0] if message else ''}"


@dataclass
class PhaseRun:
    phase: Phase
    started: float
    ended: float = 0.0
    migration: Migration | None = None


@dataclass
class LongTx:
    held: str
    tables: list[str]
    seconds: float
    pid: int | None
    error: str | None


@dataclass
class DeployRun:
    options: Options
    base: Base
    base_head: str | None
    new_head: str | None
    ceiling_ms: float
    phases: list[PhaseRun]
    records: list[Record]
    waits: list[LockWait]
    long_tx: LongTx | None
    consoles: dict[str, Path]
    overflow: int = 0
    sampler_errors: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def migrations(self) -> list[Migration]:
        return [p.migration for p in self.phases if p.migration is not None]

    @property
    def upgrade(self) -> Migration | None:
        return next((m for m in self.migrations if m.direction == "upgrade"), None)

    def migration_waits(self, migration: Migration) -> list[LockWait]:
        """The waits of the migration's own connections while it ran (a warm environment's pooled connection serves
        the application before and after, under the same pid)."""
        return [
            w
            for w in self.waits
            if w.pid in migration.pids and w.first_seen <= migration.ended and w.last_seen >= migration.started
        ]

    def app_waits(self) -> list[LockWait]:
        """Every wait but the migrations' own and the long transaction's."""
        harness = {id(w) for m in self.migrations for w in self.migration_waits(m)}
        long_tx_pid = self.long_tx.pid if self.long_tx is not None else None
        return [w for w in self.waits if id(w) not in harness and w.pid != long_tx_pid]


# -- the pieces ----------------------------------------------------------------------------------------------------


class Version:
    """One version of the code served by an emulator of its own (its Invoke API and its API front)."""

    def __init__(self, label: str, project: Path, options: Options, functions_env: dict[str, str], log: Path):
        self.label = label
        settings = project / options.settings
        self.function_name = stage_config(settings, options.serve_stage).function_name
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
        env.update(functions_env)
        args = ["--settings", str(settings), "--stage", options.serve_stage, "--limits-from", options.limits_from]
        args += ["--max-concurrency", str(options.concurrency)]
        for name in sorted(functions_env):
            args += ["--pass-env", name]
        self.timeout = stage_config(settings, options.limits_from).timeout_seconds
        try:
            self.emulator = client.start(*args, log=log, project_dir=project, api=True, env=env)
        except client.EmulatorStartError as exc:
            raise DeployRehearsalError(f"the {label} version's emulator did not start: {exc}") from None

    def invoke(self, function: str, payload: dict[str, Any] | None = None) -> Answer:
        caller = self.emulator.client(timeout=self.timeout + 120)
        return Answer.read(caller.invoke(self.function_name, client.zappa_command(function, payload)))

    def call(self, function: str, payload: dict[str, Any]) -> Any:
        """The function's result, or :class:`DeployRehearsalError` with its error (for set-up calls)."""
        answer = self.invoke(function, payload)
        if not answer.ok:
            raise DeployRehearsalError(
                f"{function} failed on the {self.label} version: {answer.error_type}: {answer.error_message}"
            )
        return answer.result

    def warm(self, environments: int, rounds: int = 4) -> int:
        """Up to ``environments`` execution environments with the app loaded, before the clock starts (a cold start
        here takes seconds, Lambda's about one: that would be the emulator's latency in the report, not the
        deploy's). Concurrent requests to the API front make the emulator start environments; a few rounds, since
        a request that finds one idle starts none. Returns how many there are."""
        url = self.emulator.api_url + WARM_PATH
        for _ in range(rounds):
            if self.environments() >= environments:
                break
            with ThreadPoolExecutor(environments) as pool:
                answers = list(pool.map(lambda _: _get_status(url), range(environments)))
            if any(status is None or status >= 500 for status in answers):
                raise DeployRehearsalError(
                    f"the {self.label} version does not answer {WARM_PATH} ({answers}): see {self.emulator.log_path}"
                )
        return self.environments()

    def environments(self) -> int:
        pool = self.emulator.health().get("environments", {}).get(self.function_name, {})
        return sum(pool.get(state, 0) for state in ("busy", "warm", "starting"))

    def stop(self) -> None:
        self.emulator.stop()


def _long_tx_summary(long_tx: LongTransaction | None) -> LongTx | None:
    if long_tx is None:
        return None
    return LongTx(long_tx.describe(), long_tx.tables, long_tx.seconds, long_tx.pid, long_tx.error)


def place_in_phases(records: list[Record], runs: list[PhaseRun]) -> None:
    """Each record's phase: the one in effect when production received it (else when it was sent). Answers that
    came in after the last phase ended belong to it."""
    for record in records:
        at = record.at
        record.phase = next((r.phase.name for r in runs if at < r.ended), runs[-1].phase.name if runs else "")


def _get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def _load_profile(module: str, api_url: str, hub_url: str, invoke: Callable[[str, dict], Any]) -> Any:
    try:
        factory = importlib.import_module(module).profile
    except (ImportError, AttributeError) as exc:
        raise DeployRehearsalError(
            f"the traffic profile {module!r} cannot be loaded ({exc}): it must be a module with "
            "profile(api_url, hub_url, invoke) returning an object with setup() and next_call()"
        ) from None
    return factory(api_url, hub_url, invoke)


# -- the rehearsal -------------------------------------------------------------------------------------------------


def rehearse_deploy(options: Options, echo: Echo = _stderr) -> DeployRun:
    begun = time.monotonic()
    say = echo

    def echo(line: str) -> None:  # set-up lines carry the time since the start; phase lines the run's clock
        say(line if line.startswith("[") else f"({time.monotonic() - begun:5.1f} s) {line}")

    project = options.project_dir.resolve()
    out = options.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_base(project, options.base)
    plan = phases(options.order)
    ceiling_ms = load_policy(project / "migrations").lock_wait_ceiling_ms
    echo(f"deploy rehearsal: BASE {base.describe()} -> the working tree of {project}, {options.order}")

    with ExitStack() as stack:
        base_dir = stack.enter_context(worktree(project, base, out / "base-worktree"))
        server_url = stack.enter_context(postgres.server(options.database_url, prefix="deploy"))
        database = stack.enter_context(postgres.scratch(server_url, prefix="deploy"))
        check_database_url(database)
        # The hub waits for a callback as long as a request may take here: a slow answer on a loaded machine is
        # the latency the report shows, not a delivery YouTube's hub would have given up on.
        hub = stack.enter_context(hub_server.serve(Hub(http=Http(timeout=CALLBACK_TIMEOUT))))
        router = stack.enter_context(Router())
        defaults = services.Ports()
        addresses = {defaults.hub: f"{hub.server.server_address[0]}:{hub.server.server_address[1]}"}
        addresses[defaults.api] = router.address
        functions_env = services.function_environment(database, addresses, project)
        consoles = {label: out / f"emulator-{label}.log" for label in ("base", "new")}
        echo(f"starting both versions (BASE in {base_dir}, new in {project}) ...")
        with ThreadPoolExecutor(2) as pool:  # each start renders the settings and waits for health: overlap them
            starting = {
                label: pool.submit(Version, label, directory, options, functions_env, consoles[label])
                for label, directory in (("base", base_dir), ("new", project))
            }
            versions: dict[str, Version] = {}
            for label, future in starting.items():
                try:
                    versions[label] = future.result()
                except DeployRehearsalError:
                    for started in versions.values():
                        started.stop()
                    raise
                stack.callback(versions[label].stop)

        echo(f"migrating the scratch database to BASE's head with BASE's {options.upgrade} ...")
        versions["base"].call(options.upgrade, {})
        base_head = postgres.alembic_version(database)
        echo(f"seeding {options.rows:,} rows per large table at {base_head or 'base'} ...")
        seed(database, options.rows, None)
        echo(f"warming {options.concurrency} environments of each version ...")
        with ThreadPoolExecutor(2) as pool:
            warm = dict(zip(versions, pool.map(lambda v: v.warm(options.concurrency), versions.values()), strict=True))
        echo(f"warm environments: {', '.join(f'{label} {count}' for label, count in warm.items())}")
        router.switch(versions["base"].emulator.api_url, "base")
        echo(f"setting up the traffic profile {options.traffic} through BASE ...")
        profile = _load_profile(options.traffic, router.url, hub.base_url, versions["base"].call)
        profile.setup()
        echo(f"traffic at {options.rate:g} requests/s; {options.hold:g} s per phase")

        t0 = time.monotonic()

        def clock() -> float:
            return time.monotonic() - t0

        router.clock = clock
        runs: list[PhaseRun] = []
        sampler = LockWaitSampler(database, clock).start()
        generator = LoadGenerator(profile, options.rate, clock)
        long_tx: LongTransaction | None = None
        try:
            generator.start()
            for phase in plan:
                run = PhaseRun(phase, clock())
                if phase.switch_to:  # the phase begins at the switch itself (requests are placed by the router's clock)
                    run.started = router.switch(versions[phase.switch_to].emulator.api_url, phase.switch_to)
                    if runs:
                        runs[-1].ended = run.started
                    echo(f"[{run.started:6.1f} s] {phase.name}: the {phase.switch_to} code takes over")
                runs.append(run)
                if phase.migrate == "upgrade" and options.long_tx > 0:
                    tables = [options.long_tx_table] if options.long_tx_table else all_tables(database)
                    long_tx = LongTransaction(database, tables, options.long_tx).start()
                    if long_tx.error:
                        raise DeployRehearsalError(f"the long transaction could not start: {long_tx.error}")
                    echo(f"[{clock():6.1f} s] a read transaction holds {long_tx.describe()} for {options.long_tx:g} s")
                if phase.migrate:
                    function = options.upgrade if phase.migrate == "upgrade" else options.downgrade
                    payload: dict[str, Any] = {"function": function}
                    if phase.migrate == "downgrade":
                        payload["revision"] = base_head or "base"
                    echo(f"[{clock():6.1f} s] {phase.name}: {function} through the new package ...")
                    started = clock()
                    answer = versions["new"].invoke(PROBE, payload)
                    run.migration = Migration(phase.migrate, phase.name, started, clock(), answer)
                    outcome = "ok" if answer.ok else f"FAILED: {run.migration.error}"
                    echo(f"[{clock():6.1f} s] {phase.name}: {function} {outcome}")
                if phase.hold:
                    time.sleep(options.hold)
                run.ended = clock()
        finally:
            records = generator.stop()
            if runs and not runs[-1].ended:
                runs[-1].ended = clock()
            if long_tx is not None:
                long_tx.end_now()
            waits = sampler.stop()
        place_in_phases(records, runs)
        new_head = next((m.result.get("to_revision") for m in (r.migration for r in runs) if m and m.revisions), None)
        run = DeployRun(
            options,
            base,
            base_head,
            new_head,
            ceiling_ms,
            runs,
            records,
            waits,
            _long_tx_summary(long_tx),
            consoles,
            overflow=generator.overflow,
            sampler_errors=sampler.errors,
        )
    return run
