"""What the sandbox tests share: a checkout copy, ``make`` run in it with private settings, the Docker requirement.

Every sandbox under test gets its own ports, its own SANDBOX_DIR and, in Docker mode, its own compose project
(COMPOSE_PROJECT_NAME), so a developer's own ``make up`` in the same checkout is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from dev import services
from dev.hub import HubClient
from dev.ports import free_port

ROOT = services.PROJECT_ROOT
VENV = Path(sys.executable).parent.parent
REQUIRE_DOCKER = "SANDBOX_REQUIRE_DOCKER"
BASE_IMAGES = ("postgres:15", "python:3.11-slim")
# The real Zappa CLI against a sandbox: any dummy credentials, no retries, and the PyPI version check failing at once
# (through a proxy that is not there) instead of waiting for its timeout.
ZAPPA_CLI_ENV = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_MAX_ATTEMPTS": "1",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}
# Local state a copy of the checkout must not carry: the venv, sandboxes, a developer's .env, caches.
NOT_COPIED = (".git", ".venv", ".sandbox", ".runtime", ".env", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache")
NOT_COPIED += (".hypothesis", ".benchmarks", "build", "dist", "zappa_settings.py", "*.zip")


def copy_checkout(dest: Path, emulator_port: int | None = None, owner: int | None = None) -> Path:
    """The checkout's files (as they are now, edits included) in ``dest``; optionally the ``local`` stage's
    ``aws_endpoint_urls.lambda`` moved to ``emulator_port`` (so the real ``zappa invoke local`` reaches a sandbox on
    private ports) and every file given to uid ``owner`` (a developer's checkout is not root's)."""
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    if emulator_port is not None:
        settings_path = dest / services.SETTINGS_FILE
        settings = json.loads(settings_path.read_text())
        for stage in settings.values():
            if "lambda" in stage.get("aws_endpoint_urls", {}):
                stage["aws_endpoint_urls"]["lambda"] = f"http://{services.HOST}:{emulator_port}"
        settings_path.write_text(json.dumps(settings, indent=4) + "\n")
    if owner is not None:
        for path in [dest, *dest.rglob("*")]:
            os.lchown(path, owner, owner)
    return dest


def output(result: subprocess.CompletedProcess) -> str:
    return (result.stdout + result.stderr).strip()


class MakeSandbox:
    """``make`` in ``project_dir`` with this sandbox's private settings, using this test run's venv."""

    def __init__(self, project_dir: Path, mode: str, sandbox_dir: Path | None = None, project: str = "") -> None:
        self.project_dir = project_dir
        self.mode = mode
        self.ports = services.Ports(**{name: free_port() for name in services.Ports.ENV})
        self.project = project
        env = dict(os.environ)
        # No AWS_ENDPOINT_URL_LAMBDA either: make/sandbox.mk must steer `make invoke-*` to EMULATOR_PORT itself.
        for variable in (
            "DATABASE_URL",
            "TEST_DATABASE_URL",
            "SANDBOX_ALLOW_REMOTE_DB",
            "AWS_ENDPOINT_URL_LAMBDA",
            "MAKEFLAGS",
            "MFLAGS",
            "PYTHONPATH",
            "COMPOSE_FILE",
        ):
            env.pop(variable, None)
        env.update(
            SANDBOX=mode,
            SANDBOX_DATABASE_URL="",
            **{variable: str(getattr(self.ports, name)) for name, variable in services.Ports.ENV.items()},
        )
        if sandbox_dir is not None:
            env["SANDBOX_DIR"] = str(sandbox_dir)
        if project_dir.resolve() == ROOT.resolve():
            # The checkout itself: its local stage names port 9000, which this sandbox must not take; these tests
            # reach the emulator through make's AWS_ENDPOINT_URL_LAMBDA, never through the real Zappa CLI. A copy
            # (copy_checkout) moves the stage instead.
            env["SANDBOX_IGNORE_STAGE_ENDPOINT"] = "1"
        if project:
            env["COMPOSE_PROJECT_NAME"] = project
        self.env = env
        self.timings: dict[str, float] = {}

    @property
    def database_url(self) -> str:
        return services.database_url(services.HOST, self.ports.pg)

    def hub(self) -> HubClient:
        return HubClient(f"http://{services.HOST}:{self.ports.hub}", timeout=30)

    def function_environment(self) -> dict[str, str]:
        """What this sandbox hands its functions (the database, the stage's service URLs where this mode runs them)."""
        if self.mode == "docker":
            return services.compose_function_environment(self.project_dir)
        addresses = services.host_addresses(self.ports)
        return services.function_environment(self.database_url, addresses, self.project_dir)

    def make(self, *args: str, check: bool = True, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        stamp = VENV / ".installed"
        began = time.monotonic()
        result = subprocess.run(
            ["make", "--no-print-directory", "-C", str(self.project_dir), f"VENV={VENV}", "-o", str(stamp), *args],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        self.timings.setdefault(" ".join(args), time.monotonic() - began)
        if check:
            assert result.returncode == 0, f"make {' '.join(args)} failed ({result.returncode}):\n{output(result)}"
        return result

    def sql(self, query: str) -> str:
        """One value through `make psql`, the developer's way in."""
        quoted = "'" + query.replace("'", "'\\''") + "'"
        result = self.make("psql", f"PSQL_ARGS=-At -v ON_ERROR_STOP=1 -c {quoted}", check=False)
        return result.stdout.strip() if result.returncode == 0 else f"ERROR: {output(result)}"

    def invoke(self, function: str, payload: dict | None = None) -> dict:
        """A function through the sandbox's Invoke API (what `make invoke-*` does); its JSON result."""
        argv = [
            sys.executable,
            "-m",
            "dev.invoke",
            "--json",
            "--endpoint",
            f"http://{services.HOST}:{self.ports.emulator}",
        ]
        argv.append(function)
        if payload is not None:
            argv += ["--payload", json.dumps(payload)]
        result = subprocess.run(argv, capture_output=True, text=True, cwd=self.project_dir, env=self.env, timeout=300)
        assert result.returncode == 0, f"{function} failed ({result.returncode}):\n{output(result)}"
        return json.loads(result.stdout)

    def zappa_invoke(self, function: str, payload: dict | None = None) -> subprocess.CompletedProcess:
        """The real ``zappa invoke local FUNCTION [--payload JSON]`` in the checkout (its stage points
        ``aws_endpoint_urls.lambda`` at this sandbox: see :func:`copy_checkout`), with dummy credentials."""
        zappa = Path(sys.executable).with_name("zappa")
        env = {k: v for k, v in self.env.items() if not k.startswith(("AWS_", "ZAPPA_"))}
        argv = [str(zappa), "invoke", services.STAGE, function]
        if payload is not None:
            argv += ["--payload", json.dumps(payload)]
        return subprocess.run(
            argv, cwd=self.project_dir, env={**env, **ZAPPA_CLI_ENV}, capture_output=True, text=True, timeout=120
        )

    def wait_for_sql(self, query: str, expected: str, timeout: float = 60.0) -> str:
        """Poll ``query`` (one value, through `make psql`) until it reads ``expected`` or ``timeout`` s pass; the
        last value read, for the assertion."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.sql(query)
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    def sandbox_cli(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        """``python -m dev.sandbox`` directly (clean-up paths that must not depend on make)."""
        result = subprocess.run(
            [sys.executable, "-m", "dev.sandbox", *args],
            cwd=self.project_dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check:
            assert result.returncode == 0, output(result)
        return result


def docker_or_skip() -> None:
    """Skip (or, with SANDBOX_REQUIRE_DOCKER=1 as in CI, fail) unless a Docker engine, Compose v2 and the base
    images are there: the reason is always given."""
    from dev.sandbox import compose_command, engine_answers

    answers, why = engine_answers()
    reason = "" if answers else f"no Docker engine answers ({why})"
    if not reason and compose_command() is None:
        reason = "the Docker engine answers but Docker Compose v2 (`docker compose`) is not installed"
    if not reason:
        from dev.sandbox.engine import client

        engine = client()
        try:
            missing = [image for image in BASE_IMAGES if not engine.images.list(name=image)]
        finally:
            engine.close()
        if missing:
            reason = f"the base images {', '.join(missing)} are not on this engine (and cannot be pulled here)"
    if not reason:
        return
    if os.environ.get(REQUIRE_DOCKER) == "1":
        pytest.fail(f"{REQUIRE_DOCKER}=1 but {reason}", pytrace=False)
    pytest.skip(f"Docker-mode tests need a real engine: {reason} (set {REQUIRE_DOCKER}=1 to make this a failure)")


def session_project_name(prefix: str = "ytsbx") -> str:
    """A compose project name no developer uses and no other test session shares."""
    return f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def rehearse_subscribing(box: MakeSandbox, channel_id: str) -> None:
    """``zappa invoke local 'run.subscribe_channel'`` end to end on a running sandbox whose database is at head: the
    function asks the local hub, the hub verifies through the API front, the subscription becomes active with the
    hub's lease; then ``run.renew_subscriptions`` renews it the same way once its lease ends within the window."""
    where = f"where channel_id = '{channel_id}'"
    subscribed = box.zappa_invoke("run.subscribe_channel", {"channel_id": channel_id})
    assert subscribed.returncode == 0, output(subscribed)
    assert "Result of run.subscribe_channel:" in subscribed.stdout and channel_id in subscribed.stdout
    lease = f"select state || ' ' || lease_seconds from subscriptions {where}"
    assert box.wait_for_sql(lease, "active 432000") == "active 432000", "the hub's verification never arrived"
    callback = f"{box.function_environment()['WEBSUB_CALLBACK_URL']}/{channel_id}"
    held = [s for s in box.hub().subscriptions() if s["callback"] == callback]
    assert len(held) == 1 and held[0]["signed"] and held[0]["lease_seconds"] == 432000, box.hub().subscriptions()

    # The lease now ends within the renewal window: the daily function renews it through the hub.
    assert box.sql(f"update subscriptions set expires_at = now() + interval '1 hour' {where}") == "UPDATE 1"
    renewed = box.zappa_invoke("run.renew_subscriptions")
    assert renewed.returncode == 0, output(renewed)
    assert "Result of run.renew_subscriptions:" in renewed.stdout, renewed.stdout
    renewed_ids = renewed.stdout.split("'renewed': [", 1)[-1].split("]", 1)[0]  # the handler prints the dict
    assert f"'{channel_id}'" in renewed_ids, renewed.stdout
    extended = f"select expires_at > now() + interval '4 days' from subscriptions {where}"
    assert box.wait_for_sql(extended, "t") == "t", "the renewal was not verified by the hub"
    requests = [r for r in box.hub().requests() if r["callback"] == callback]
    assert [r["state"] for r in requests][-2:] == ["verified", "verified"], requests
