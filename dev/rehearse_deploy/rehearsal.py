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
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

from dev import postgres, services
from dev.guard import check_database_url
from dev.hub import server as hub_server
from dev.hub.hub import Http, Hub
from dev.migration_policy import load as load_policy
from dev.rehearse.rehearsal import Echo, seed, to_stderr

from . import function_log
from .git_base import resolve_base, worktree
from .lock_waits import LockWaitSampler
from .long_transaction import LongTransaction, all_tables
from .plan import phases
from .router import Router
from .run import DeployRun, LongTx, Migration, Options, PhaseRun, place_in_phases
from .traffic import LoadGenerator
from .versions import DeployRehearsalError, Version

PROBE = "dev.rehearse.probe.measured"
CALLBACK_TIMEOUT = 120.0


def _long_tx_summary(long_tx: LongTransaction | None) -> LongTx | None:
    if long_tx is None:
        return None
    return LongTx(long_tx.describe(), long_tx.tables, long_tx.seconds, long_tx.pid, long_tx.error)


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


def rehearse_deploy(options: Options, echo: Echo = to_stderr) -> DeployRun:
    begun = time.monotonic()
    say = echo

    def echo(line: str) -> None:  # set-up lines carry the time since the start; phase lines the run's clock
        say(line if line.startswith("[") else f"({time.monotonic() - begun:5.1f} s) {line}")

    project = options.project_dir.resolve()
    out = options.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    base = resolve_base(project, options.base)
    plan = phases(options.order)
    policy = load_policy(project / "migrations")
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
        function_log.attach(records, consoles.values())
        new_head = next((m.result.get("to_revision") for m in (r.migration for r in runs) if m and m.revisions), None)
        run = DeployRun(
            options,
            base,
            base_head,
            new_head,
            policy,
            runs,
            records,
            waits,
            _long_tx_summary(long_tx),
            overflow=generator.overflow,
            sampler_errors=sampler.errors,
        )
    return run
