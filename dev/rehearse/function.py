"""The project's Lambda function under another stage's limits: an emulator started for one rehearsed database.

The emulator serves a stage that can run here (``local``) with the ``timeout_seconds`` and ``memory_size`` of the
stage being rehearsed (``--limits-from production``), resolved by Zappa's own code from ``zappa_settings.json``:
nothing of that stage's AWS side (``remote_env``, its database) is read or contacted. A deliberately shorter
timeout (``--timeout-seconds``) is a stage of its own, ``rehearsal``, that extends the rehearsed one, in a copy of
the settings file outside the project: the limits still come from one resolver, in Zappa's own terms.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dev.emulator import client
from dev.emulator.settings import stage_config

OVERRIDE_STAGE = "rehearsal"
PROBE = "dev.rehearse.probe.measured"
WARM_UP_SECONDS = 180.0


@dataclass(frozen=True)
class Limits:
    """What the rehearsed stage's Lambda allows; ``overridden``: the timeout is ``--timeout-seconds``, not its own."""

    stage: str
    timeout_seconds: int
    memory_size: int
    overridden: bool = False

    def describe(self) -> str:
        how = " (a deliberately short timeout)" if self.overridden else ""
        return f"stage {self.stage}: timeout {self.timeout_seconds} s{how}, memory {self.memory_size} MB"


def stage_limits(settings: Path, stage: str, timeout_seconds: int | None = None) -> Limits:
    """The limits of ``stage`` in ``settings`` (Zappa's defaults and ``extends`` applied), the timeout overridden
    when given."""
    config = stage_config(settings, stage)
    if timeout_seconds is None:
        return Limits(stage, config.timeout_seconds, config.memory_size)
    return Limits(stage, timeout_seconds, config.memory_size, overridden=True)


@dataclass(frozen=True)
class Answer:
    """One invocation as the rehearsal reads it: the function's result or Lambda's error, and the REPORT figures."""

    ok: bool
    result: Any
    error_type: str | None
    error_message: str | None
    duration_ms: float | None
    peak_mb: int | None

    @classmethod
    def read(cls, invocation: client.Invocation) -> Answer:
        error = invocation.error()
        peak = invocation.reported("Max Memory Used")
        return cls(
            ok=error is None,
            result=invocation.json() if error is None else None,
            error_type=(error or {}).get("errorType"),
            error_message=(error or {}).get("errorMessage"),
            duration_ms=invocation.reported("Duration"),
            peak_mb=int(peak) if peak is not None else None,
        )

    @property
    def killed(self) -> bool:
        """Lambda ended the invocation at its timeout."""
        return self.error_type == "Sandbox.Timedout"


@dataclass
class Function:
    """The served function of a running emulator."""

    emulator: client.EmulatorProcess
    name: str
    limits: Limits

    def invoke(self, command: str, payload: dict[str, Any] | None = None) -> Answer:
        # The client waits well past the function's timeout: Lambda's own answer to a timeout is what we want.
        caller = self.emulator.client(timeout=self.limits.timeout_seconds + 120)
        return Answer.read(caller.invoke(self.name, client.zappa_command(command, payload)))

    def measured(self, function: str, payload: dict[str, Any]) -> Answer:
        """``function`` run inside the worker by :mod:`.probe`, which adds lock holds and commits to its result."""
        return self.invoke(PROBE, {"function": function, **payload})

    def warm(self) -> None:
        """One call that loads the app, so a cold start is not counted against a revision. On Lambda the first
        invocation after a deploy is cold (its REPORT shows it); a short timeout may cut a cold start, then the call
        is made again, until ``WARM_UP_SECONDS``."""
        started = time.monotonic()
        attempts = 0
        while True:
            answer = self.invoke("run.run_alembic_current")
            attempts += 1
            if answer.ok:
                return
            waited = time.monotonic() - started
            if not answer.killed or waited > WARM_UP_SECONDS:
                raise RuntimeError(
                    f"the function does not answer run.run_alembic_current ({attempts} attempt(s) in {waited:.0f} s, "
                    f"the last one's Duration {answer.duration_ms or 0:.0f} ms): {answer.error_message}"
                )


def _settings_with_override(settings: Path, limits: Limits, work_dir: Path) -> Path:
    """A copy of ``settings`` with one more stage, ``rehearsal``: the rehearsed stage with the shorter timeout."""
    data = json.loads(settings.read_text())
    data[OVERRIDE_STAGE] = {"extends": limits.stage, "timeout_seconds": limits.timeout_seconds}
    path = work_dir / "zappa_settings.json"
    path.write_text(json.dumps(data, indent=4))
    return path


@contextmanager
def started(
    project_dir: Path,
    settings: Path,
    serve_stage: str,
    limits: Limits,
    database_url: str,
    work_dir: Path,
    migrations_dir: Path | None = None,
    label: str = "",
) -> Iterator[Function]:
    """An emulator serving ``serve_stage`` of ``project_dir`` under ``limits``, its functions on ``database_url``
    (and ``migrations_dir`` when given); its console goes to ``work_dir/emulator<label>.log``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    served = settings
    limits_stage = limits.stage
    if limits.overridden:
        served, limits_stage = _settings_with_override(settings, limits, work_dir), OVERRIDE_STAGE
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
    env["DATABASE_URL"] = database_url
    args = ["--settings", str(served), "--stage", serve_stage, "--limits-from", limits_stage]
    args += ["--max-concurrency", "1", "--pass-env", "DATABASE_URL"]
    if migrations_dir is not None:
        env["MIGRATIONS_DIR"] = str(migrations_dir.resolve())
        args += ["--pass-env", "MIGRATIONS_DIR"]
    log = work_dir / f"emulator{label}.log"
    emulator = client.start(*args, log=log, project_dir=project_dir, api=False, env=env)
    try:
        yield Function(emulator, stage_config(settings, serve_stage).function_name, limits)
    finally:
        emulator.stop()
