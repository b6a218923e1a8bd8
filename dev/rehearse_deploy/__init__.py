"""``make rehearse-deploy``: the deploy itself, under traffic: what production serves between ``zappa update``
and ``zappa invoke ... run_alembic_upgrade`` (and in the other order, and on the way back).

| module | job |
|---|---|
| ``git_base.py`` | BASE (what production runs) and its git worktree |
| ``plan.py`` | the phases of each order: which code serves, which migration runs |
| ``router.py`` | the stable production URL, forwarding to the live version (``zappa update`` = a switch) |
| ``traffic.py`` | the open-loop load generator; the requests come from a profile (``dev/app_traffic.py``) |
| ``lock_waits.py`` | how long queries waited for locks, sampled from ``pg_locks.waitstart`` |
| ``long_transaction.py`` | a report query's long read transaction across the migration (``LONG_TX``) |
| ``function_log.py`` | the function's error line for a failed request, from the emulator's log by request id |
| ``versions.py`` | one version of the code served by an emulator of its own, warmed before the clock starts |
| ``rehearsal.py`` | the run: database, both versions, hub, phases, migrations through the probe |
| ``run.py`` | the record of a run (options, phases, migrations, requests, lock waits): what the report reads |
| ``report.py`` | per-phase figures, the verdict, ``report.json`` and ``report.md`` |
| ``chart.py`` | the timeline PNG |
"""
