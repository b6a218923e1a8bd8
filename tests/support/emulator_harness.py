"""Test harness: the emulator as a real subprocess on free ports, serving a temporary copy of a project.

Starting, waiting and stopping are :mod:`dev.emulator.client`'s (the same code every tool uses); this file adds what
only tests need: project copies whose ``aws_endpoint_urls.lambda`` points at this run's free port (the real Zappa CLI
reads it from there), a boto3 client (the AWS SDK talking to the emulator is itself under test), and environments.
The fixture project (``tests/examples/projects/lambda_project``) is copied so the emulator's ``.runtime/`` and the
tests' edits stay out of the tree.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dev.emulator import client
from dev.ports import free_port
from tests.support.paths import PROJECTS, REPO_ROOT

__all__ = ["Emulator", "cli_env", "copy_project", "fixture_env", "free_port", "start_emulator", "start_refused"]

FIXTURE_PROJECT = PROJECTS / "lambda_project"
FACTORY_PROJECT = PROJECTS / "factory_project"
VENV_PROJECT = PROJECTS / "venv_project"
VENV_NAME = "pyenv311"  # neither .venv, venv nor env: found by its pyvenv.cfg
SHARED_ROOT = "/var/tmp"  # outside the private /tmp and the read-only task root: both sides see it
PASSED_DATABASE_URL = "postgresql://passed-by-the-emulator@127.0.0.1:1/db"


def copy_project(source: Path, dest: Path, lambda_port: int) -> Path:
    """Copy a Zappa project and point every stage's ``aws_endpoint_urls.lambda`` that is set at ``lambda_port``."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(".runtime", "__pycache__", "*.pyc"))
    settings_path = dest / "zappa_settings.json"
    settings = json.loads(settings_path.read_text())
    for stage in settings.values():
        if "aws_endpoint_urls" in stage:
            stage["aws_endpoint_urls"]["lambda"] = f"http://127.0.0.1:{lambda_port}"
    settings_path.write_text(json.dumps(settings, indent=4))
    return dest


def pinned(*names: str) -> list[str]:
    """``name==version`` for each name, as requirements.txt pins it (the versions the project deploys)."""
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if "==" in requirement:
            pins[requirement.split("==", 1)[0].lower()] = requirement
    return [pins[name.lower()] for name in names]


def make_virtualenv(path: Path, *requirements: str) -> Path:
    """A virtualenv at ``path`` with only ``requirements`` (uv: from its cache when it can, else from PyPI)."""
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv, "uv is pinned in requirements-dev.txt: `make setup`"
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(path)], check=True, timeout=120)
    if requirements:
        python = str(path / "bin" / "python")
        install = [uv, "pip", "install", "-q", "--python", python, *requirements]
        if subprocess.run([*install, "--offline"], capture_output=True, timeout=300).returncode != 0:
            subprocess.run(install, check=True, timeout=600)
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """Environment for AWS clients in tests: dummy credentials, no retries, no way out to the internet.

    The proxy makes the Zappa CLI's PyPI version check fail at once instead of waiting up to 1.5 s.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ZAPPA_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="eu-west-1",
        AWS_MAX_ATTEMPTS="1",
        HTTPS_PROXY="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(REPO_ROOT),
    )
    env.update(extra)
    return env


@dataclass
class Emulator(client.EmulatorProcess):
    """A started emulator (see :class:`dev.emulator.client.EmulatorProcess`) plus boto3, for the SDK's view of it."""

    clients: dict[str, Any] = field(default_factory=dict)
    shared_dir: Path | None = None

    def console(self) -> str:
        return self.log()

    def shared_path(self, name: str) -> Path:
        """A path a function can write and the test can read: under /var/tmp, which an environment shares with the
        host (the test's own tmp_path is under the host's /tmp, which the function does not see, and the task root is
        read-only to it, as on Lambda)."""
        if self.shared_dir is None:
            self.shared_dir = Path(tempfile.mkdtemp(prefix="emulator-shared-", dir=SHARED_ROOT))
        return self.shared_dir / f"{name}-{uuid.uuid4().hex[:8]}"

    def stop(self, timeout: float = client.STOP_TIMEOUT) -> int | None:
        code = super().stop(timeout)
        if self.shared_dir is not None:
            shutil.rmtree(self.shared_dir, ignore_errors=True)
        return code

    def generation(self) -> int:
        """The emulator's code generation (/health): it grows by one for every change it noticed."""
        return int(self.health()["generation"])

    def wait_for_change(self, before: int, timeout: float = 60.0) -> int:
        """Until the emulator has noticed an edit made after ``before`` was read (the watcher reports it ~20-40 ms
        after the write; a scan notices at the next request, which /health is); the new generation."""
        return self.wait_until(lambda health: health["generation"] > before, timeout, "the edit was not noticed")[
            "generation"
        ]

    def wait_until(self, condition: Any, timeout: float = 60.0, what: str = "condition") -> dict[str, Any]:
        """Poll /health until ``condition(health)`` holds; AssertionError with the console after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if condition(health):
                return health
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} within {timeout:.0f} s: {health}\n{self.console()[-3000:]}")
            time.sleep(0.02)

    def lambda_client(self, read_timeout: int = 30) -> Any:
        import boto3
        from botocore.config import Config

        key = f"lambda-{read_timeout}"
        if key not in self.clients:
            self.clients[key] = boto3.client(
                "lambda",
                endpoint_url=self.url,
                region_name="eu-west-1",
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=read_timeout),
            )
        return self.clients[key]

    def invoke(
        self, command: str, stage: str = "local", log: bool = True, function_name: str = "", **payload: Any
    ) -> dict[str, Any]:
        """boto3 invoke of ``{"command": command, **payload}`` on the fixture's ``stage`` (or ``function_name``);
        returns boto3's response with ``Body`` (the decoded payload) and ``Log`` (the decoded tail)."""
        response = self.lambda_client(read_timeout=120).invoke(
            FunctionName=function_name or f"emu-fixture-{stage}",
            Payload=json.dumps(client.zappa_command(command, payload)),
            LogType="Tail" if log else "None",
        )
        response["Body"] = json.loads(response["Payload"].read() or b"null")
        response["Log"] = base64.b64decode(response["LogResult"]).decode() if "LogResult" in response else None
        return response


def start_emulator(
    project_dir: Path,
    port: int,
    *args: str,
    api: bool = True,
    env: dict[str, str] | None = None,
    console_dir: Path | None = None,
) -> Emulator:
    """Start ``python -m dev.emulator`` for ``project_dir`` on ``port`` and wait for /health; its console goes to a
    file in ``console_dir`` (default: beside the project)."""
    log = (console_dir or project_dir.parent) / f"emulator-{port}.log"
    emulator = client.start(*args, log=log, project_dir=project_dir, port=port, api=api, env=env, process_type=Emulator)
    assert isinstance(emulator, Emulator)
    wait_for_banner(emulator)
    return emulator


BANNER = "Lambda Invoke API on "  # the banner's first line


def wait_for_banner(emulator: Emulator, timeout: float = 60.0) -> None:
    """The emulator answers /health as soon as it listens and prints its banner just after: a test that reads the
    banner waits for it (however busy the machine) instead of racing it."""
    deadline = time.monotonic() + timeout
    while BANNER not in emulator.console():
        if emulator.proc.poll() is not None or time.monotonic() > deadline:
            console = emulator.console()[-3000:]
            raise AssertionError(f"the emulator printed no banner within {timeout:.0f} s:\n{console}")
        time.sleep(0.02)


def start_refused(*args: str, log: Path, project_dir: Path | None = None, env: dict[str, str] | None = None) -> Any:
    """Start an emulator that must refuse to start; returns the :class:`~dev.emulator.client.EmulatorStartError`
    (``returncode``, ``log``). A refusal that does not happen fails at once: it shows as /health answering, so the
    test never waits for a timeout (nor hangs, as root, on a port it was not meant to get)."""
    try:
        emulator = client.start(*args, log=log, project_dir=project_dir, env=env)
    except client.EmulatorStartError as exc:
        if exc.reason != "exited":
            raise
        return exc
    emulator.stop()
    raise AssertionError(f"the emulator started instead of refusing:\n{emulator.log()}")


def fixture_env() -> dict[str, str]:
    env = os.environ.copy()
    env["DATABASE_URL"] = PASSED_DATABASE_URL
    env["EMULATOR_TEST_SECRET"] = "passed-secret"
    env["NOT_PASSED"] = "should-not-reach-the-function"
    return env
