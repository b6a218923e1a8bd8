"""The Docker-mode sandbox on a real engine, once per test session.

A copy of the checkout (owned by uid 1000 as a developer's would be, with the ``local`` stage pointed at the
session's emulator port) runs as its own compose project (``ytsbx-<pid>-<random>``) on free ports, so the tests
never meet a developer's ``make up`` in the same checkout. The first ``make up`` happens here, from no container,
no volume and no image of that project; the project's containers, volume, network and image are removed at the end.
Without an engine the tests that use it skip with the reason (fail with SANDBOX_REQUIRE_DOCKER=1, as in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dev.sandbox import engine
from dev.sandbox.docker import SERVICES
from tests.support.sandbox_harness import MakeSandbox, copy_checkout, docker_or_skip, session_project_name

DEVELOPER_UID = 1000  # the image's user, and the usual owner of a checkout on Linux


@dataclass
class DockerStack:
    box: MakeSandbox
    checkout: Path
    before: dict[str, list]  # what the engine had of this project before the first `make up`
    first_up: subprocess.CompletedProcess
    first_up_seconds: float
    started_at: float = field(default_factory=time.time)

    @property
    def project(self) -> str:
        return self.box.project

    def states(self) -> dict[str, engine.ServiceState]:
        client = engine.client()
        try:
            return engine.service_states(client, self.project)
        finally:
            client.close()

    def container(self, service: str):
        """The SDK's container object for ``service`` (the caller closes nothing: the client lives with it)."""
        client = engine.client()
        containers = [
            c for c in engine.project_containers(client, self.project) if c.labels.get(engine.SERVICE_LABEL) == service
        ]
        assert containers, f"no {service} container in project {self.project}"
        return containers[0]

    def ensure_up(self) -> None:
        """Bring the stack back up when an earlier test left it down (tests may run alone or in any order)."""
        states = self.states()
        if not all(name in states and states[name].up for name in SERVICES):
            self.box.make("up")


def _teardown(project: str, checkout: Path) -> None:
    compose = [*(engine.compose_command() or ["docker", "compose"]), "--project-directory", str(checkout)]
    subprocess.run(
        [*compose, "--project-name", project, "down", "--volumes", "--rmi", "local", "--remove-orphans", "-t", "5"],
        capture_output=True,
        timeout=180,
    )


@pytest.fixture(scope="session")
def docker_stack() -> Iterator[DockerStack]:
    docker_or_skip()
    base = Path(tempfile.mkdtemp(prefix="ytsbx-checkout-"))
    project = session_project_name()
    checkout = base / "app"
    box = MakeSandbox(checkout, "docker", project=project)
    copy_checkout(checkout, emulator_port=box.ports.emulator, owner=DEVELOPER_UID if os.geteuid() == 0 else None)
    client = engine.client()
    try:
        before = {
            "containers": engine.project_containers(client, project),
            "volumes": engine.project_volumes(client, project),
            "images": client.images.list(name=f"{project}-lambda"),
        }
    finally:
        client.close()
    try:
        began = time.monotonic()
        first_up = box.make("up", check=False, timeout=900)
        yield DockerStack(box, checkout, before, first_up, time.monotonic() - began)
    finally:
        _teardown(project, checkout)
        shutil.rmtree(base, ignore_errors=True)
