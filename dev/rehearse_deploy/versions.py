"""One version of the code (BASE's worktree, or the working tree) served by an emulator of its own: its Invoke API
for migrations and set-up calls, its API front for traffic, warmed before the clock starts.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from dev.emulator import client
from dev.emulator.settings import stage_config
from dev.rehearse.function import Answer

from .run import Options

WARM_PATH = "/"  # any path loads the app; a 404 is an answer


class DeployRehearsalError(RuntimeError):
    """The rehearsal could not be set up (BASE, the database, an emulator); the message says what to fix."""


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


def _get_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None
