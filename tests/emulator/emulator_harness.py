"""Test harness: the emulator as a real subprocess on free ports, serving a temporary copy of a project.

The fixture project (``tests/fixtures/lambda_project``) is copied so the emulator's ``.runtime/`` and the tests'
edits stay out of the tree, and so its ``aws_endpoint_urls.lambda`` can point at this run's free port (the real
Zappa CLI reads it from there).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dev.postgres import free_port
from dev.services import wait_healthy

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_PROJECT = REPO_ROOT / "tests" / "fixtures" / "lambda_project"
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
class Emulator:
    project_dir: Path
    port: int
    api_port: int | None
    proc: subprocess.Popen
    console_path: Path
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def console(self) -> str:
        return self.console_path.read_text(errors="replace")

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

    def invoke(self, command: str, stage: str = "local", log: bool = True, **payload: Any) -> dict[str, Any]:
        """boto3 invoke of ``{"command": command, **payload}``; returns the response with ``Payload`` decoded and
        ``Log`` (the decoded tail)."""
        import base64

        response = self.lambda_client().invoke(
            FunctionName=f"emu-fixture-{stage}",
            Payload=json.dumps({"command": command, **payload}),
            LogType="Tail" if log else "None",
        )
        response["Body"] = json.loads(response["Payload"].read() or b"null")
        response["Log"] = base64.b64decode(response["LogResult"]).decode() if "LogResult" in response else None
        return response

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.url}/health", timeout=5) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_emulator(
    project_dir: Path,
    port: int,
    *args: str,
    api: bool = True,
    env: dict[str, str] | None = None,
    console_dir: Path | None = None,
) -> Emulator:
    """Start ``python -m dev.emulator`` and wait for /health; its console goes to a file in ``console_dir``."""
    api_port = free_port() if api else None
    console_path = (console_dir or project_dir.parent) / f"emulator-{port}.log"
    cmd = [sys.executable, "-m", "dev.emulator", "--project-dir", str(project_dir), "--port", str(port)]
    cmd += ["--api-port", str(api_port)] if api else ["--no-api"]
    with open(console_path, "wb") as console:
        proc = subprocess.Popen(
            [*cmd, *args], cwd=REPO_ROOT, stdout=console, stderr=subprocess.STDOUT, env=env or os.environ.copy()
        )
    emulator = Emulator(project_dir, port, api_port, proc, console_path)
    outcome = wait_healthy(f"{emulator.url}/health", lambda: proc.poll() is not None, 30, interval=0.05)
    if outcome == "exited":
        raise RuntimeError(f"the emulator exited with {proc.returncode}:\n{emulator.console()}")
    if outcome == "timeout":
        emulator.stop()
        raise RuntimeError(f"the emulator did not answer /health within 30 s:\n{emulator.console()}")
    return emulator


def fixture_env() -> dict[str, str]:
    env = os.environ.copy()
    env["DATABASE_URL"] = PASSED_DATABASE_URL
    env["EMULATOR_TEST_SECRET"] = "passed-secret"
    env["NOT_PASSED"] = "should-not-reach-the-function"
    return env
