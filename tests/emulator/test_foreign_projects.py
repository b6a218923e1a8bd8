"""The emulator on projects it has never seen, laid out as foreign Zappa projects are
(tests/examples/projects/*_project).

- its own virtualenv (any name, found by ``pyvenv.cfg``): the functions run there, the harness's packages never leak
  in, and a stage ``runtime`` that is not that Python is called out in the banner and every REPORT line;
- ``profile_name`` in the stage: the real ``zappa invoke`` fails with ProfileNotFound until ``init-stage`` writes a
  local stage without one;
- settings in a subfolder, an app factory, the database under another name, SQLite in /tmp, Flask-Migrate revisions
  without a Lambda-ready function (``zappa invoke --raw``);
- ``make emulator-smoke`` rehearses such a project through boto3, ``zappa invoke`` and the API front.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dev.emulator import init_stage
from dev.emulator.client import LambdaClient
from tests.support.emulator_harness import (
    FACTORY_PROJECT,
    REPO_ROOT,
    VENV_NAME,
    cli_env,
    free_port,
    make_virtualenv,
    start_emulator,
    start_refused,
)

pytestmark = pytest.mark.emulator

ZAPPA = str(Path(sys.executable).with_name("zappa"))


def _init_stage(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dev.emulator", "init-stage", "--project-dir", str(project), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _zappa(project: Path, home: Path, *args: str, zappa: str = ZAPPA) -> subprocess.CompletedProcess:
    """The real Zappa CLI as a developer without ~/.aws runs it: dummy credentials exported, an empty HOME."""
    env = cli_env(HOME=str(home))
    return subprocess.run([zappa, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120)


# -- the project's own interpreter -------------------------------------------------------------------------------


def test_functions_run_in_the_projects_virtualenv_and_nothing_of_the_harness_leaks(venv_project: Path) -> None:
    emulator = start_emulator(venv_project, free_port(), "--stage", "dev", env=cli_env())
    try:
        answer = emulator.invoke("hello.probe.where", function_name="hello-venv-dev")
        where = answer["Body"]
        assert "FunctionError" not in answer, answer["Log"]
        assert Path(where["prefix"]).resolve() == (venv_project / VENV_NAME).resolve()
        assert where["leaked"] == [], "the harness's packages reached the function"
        assert Path(where["path_first"]).resolve() == (venv_project / VENV_NAME / "bin").resolve()
        assert f"the project's virtualenv {VENV_NAME}/" in emulator.console()
        assert "Emulator Warning" not in answer["Log"], "runtime python3.11 is the virtualenv's Python"
    finally:
        emulator.stop()


def test_a_runtime_that_is_not_the_workers_python_is_called_out(venv_project: Path) -> None:
    emulator = start_emulator(venv_project, free_port(), "--stage", "dev", env=cli_env())
    try:
        answer = emulator.invoke("hello.probe.where", function_name="hello-venv-legacy")
        version = answer["Body"]["version"]
        report = next(line for line in answer["Log"].splitlines() if line.startswith("REPORT "))
        assert re.search(rf"Emulator Warning: runtime python3\.9 declared, Python {version}\.\d+ used\t$", report)
        assert "Duration: " in report and "Max Memory Used: " in report  # Lambda's own fields are still there
        assert re.search(r"function hello-venv-legacy .*\n\s+WARNING: runtime python3\.9 declared", emulator.console())
    finally:
        emulator.stop()


def test_the_virtualenv_is_not_watched(venv_project: Path) -> None:
    emulator = start_emulator(venv_project, free_port(), "--stage", "dev", api=False, env=cli_env())
    try:
        emulator.invoke("hello.probe.where", function_name="hello-venv-dev")
        generation = emulator.generation()
        site = next((venv_project / VENV_NAME / "lib").glob("python*/site-packages"))
        (site / "edited_in_the_venv.py").write_text("x = 1\n")
        (venv_project / "hello" / "edited.py").write_text("y = 1\n")  # counts: the marker that both were seen
        assert emulator.wait_for_change(generation) == generation + 1, "a file in the virtualenv counted as code"
    finally:
        emulator.stop()
        for leftover in (venv_project / VENV_NAME / "lib").glob("python*/site-packages/edited_in_the_venv.py"):
            leftover.unlink()  # the virtualenv is shared by the session


def test_python_without_zappa_is_refused_with_what_to_do(tmp_path: Path, venv_project: Path) -> None:
    bare = make_virtualenv(tmp_path / "bare")
    refusal = start_refused(
        "--python", str(bare / "bin" / "python"), log=tmp_path / "emulator.log", project_dir=venv_project
    )
    assert refusal.returncode == 2
    assert "cannot import zappa" in refusal.log and "pip install zappa" in refusal.log


# -- init-stage and the real Zappa CLI -----------------------------------------------------------------------------


def test_init_stage_fixes_profile_not_found_for_the_real_zappa_cli(venv_project: Path, tmp_path: Path) -> None:
    """`zappa init` puts profile_name in the stage; a local stage that inherits it makes `zappa invoke` fail before
    anything is sent. init-stage's "profile_name": null fixes that; the real CLI proves it both ways."""
    port = free_port()
    settings_file = venv_project / "zappa_settings.json"
    settings = json.loads(settings_file.read_text())
    settings["local"] = {"extends": "dev", "aws_endpoint_urls": {"lambda": f"http://127.0.0.1:{port}"}}
    settings_file.write_text(json.dumps(settings, indent=4))
    home = tmp_path / "home-without-aws"
    home.mkdir()

    emulator = start_emulator(venv_project, port, api=False, env=cli_env())
    try:
        before = _zappa(venv_project, home, "invoke", "local", "hello.probe.where")
        assert before.returncode != 0 and "ProfileNotFound" in before.stdout + before.stderr, before.stdout

        run = _init_stage(venv_project, "--extends", "dev", "--endpoint", f"http://127.0.0.1:{port}")
        assert run.returncode == 0, run.stderr
        assert "local.profile_name = null" in run.stdout
        assert json.loads(settings_file.read_text())["local"]["profile_name"] is None

        after = _zappa(venv_project, home, "invoke", "local", "hello.probe.where")
        assert after.returncode == 0, after.stdout + after.stderr
        assert "Result of hello.probe.where:" in after.stdout
    finally:
        emulator.stop()


def test_init_stage_writes_only_its_three_keys_and_says_so(tmp_path: Path) -> None:
    settings = {"dev": {"profile_name": "default", "app_function": "a.app"}, "local": {"keep_warm": False}}
    new, changed = init_stage.local_stage(settings, "dev", "local", "http://127.0.0.1:9100")
    assert new["local"] == {
        "keep_warm": False,
        "extends": "dev",
        "profile_name": None,
        "aws_endpoint_urls": {"lambda": "http://127.0.0.1:9100"},
    }
    assert settings["local"] == {"keep_warm": False}, "the input is not modified"
    assert any("local.profile_name = null" in line for line in changed)
    assert init_stage.local_stage(new, "dev", "local", "http://127.0.0.1:9100")[1] == [], "idempotent"
    with pytest.raises(init_stage.InitStageError, match="stages: dev, local"):
        init_stage.local_stage(settings, "staging")


# A settings file as people write them: two-space indent, odd spacing, keys in their own order, non-ASCII text,
# compact lists, no newline at the end. init-stage must leave every byte of it where it was.
HANDWRITTEN = (
    '{\n  "dev" : {"app_function": "app.app",  "profile_name": "default",\n'
    '     "environment_variables": {"GREETING": "grüß dich"}, "exclude": ["*.md","tests"]},\n'
    '  "production": {\n      "extends": "dev",   "memory_size": 1024\n  }\n}'
)


def _common_prefix(a: str, b: str) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def _single_edit(before: str, after: str) -> tuple[str, str]:
    """(what was removed, what was put in its place): the one contiguous change from ``before`` to ``after``."""
    prefix = _common_prefix(before, after)
    suffix = _common_prefix(before[prefix:][::-1], after[prefix:][::-1])
    return before[prefix : len(before) - suffix], after[prefix : len(after) - suffix]


def test_init_stage_adds_the_stage_and_changes_no_other_byte(tmp_path: Path) -> None:
    path = tmp_path / "zappa_settings.json"
    path.write_text(HANDWRITTEN, encoding="utf-8")
    run = _init_stage(tmp_path, "--extends", "dev")
    assert run.returncode == 0, run.stderr
    after = path.read_text(encoding="utf-8")
    removed, inserted = _single_edit(HANDWRITTEN, after)
    assert removed == "", "init-stage changed bytes of the original file"
    assert after == HANDWRITTEN.replace("\n  }\n}", "\n  }" + inserted + "\n}"), "inserted after the last stage"
    assert inserted.startswith(',\n  "local": {\n    "extends": "dev",'), inserted  # the file's own indentation
    assert json.loads(after)["local"] == {
        "extends": "dev",
        "profile_name": None,
        "aws_endpoint_urls": {"lambda": "http://127.0.0.1:9000"},
    }

    # Again with another endpoint: only the local stage's own text changes, in place.
    run = _init_stage(tmp_path, "--extends", "dev", "--endpoint", "http://127.0.0.1:9100")
    assert run.returncode == 0, run.stderr
    again = path.read_text(encoding="utf-8")
    assert again == after.replace('"lambda": "http://127.0.0.1:9000"', '"lambda": "http://127.0.0.1:9100"'), again
    assert again.startswith(HANDWRITTEN[: HANDWRITTEN.rindex("\n}")]), "the other stages moved"


def test_init_stage_print_changes_nothing_and_bad_json_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "zappa_settings.json").write_text('{"dev": {"profile_name": "default"}}')
    printed = _init_stage(tmp_path, "--extends", "dev", "--print")
    assert printed.returncode == 0
    assert json.loads(printed.stdout) == {
        "local": {"extends": "dev", "profile_name": None, "aws_endpoint_urls": {"lambda": "http://127.0.0.1:9000"}}
    }
    assert (tmp_path / "zappa_settings.json").read_text() == '{"dev": {"profile_name": "default"}}'
    (tmp_path / "zappa_settings.json").write_text('{"dev": ')
    broken = _init_stage(tmp_path, "--extends", "dev")
    assert broken.returncode == 2 and "nothing was changed" in broken.stderr
    assert (tmp_path / "zappa_settings.json").read_text() == '{"dev": '


# -- a factory app, settings in a subfolder, SQLite in /tmp, Flask-Migrate through --raw ------------------------------


@pytest.fixture
def factory_project(tmp_path: Path) -> tuple[Path, int]:
    """A copy of tests/examples/projects/factory_project with the local stage init-stage writes (settings in
    deploy/)."""
    project = tmp_path / "factory_project"
    shutil.copytree(FACTORY_PROJECT, project)
    port = free_port()
    run = _init_stage(
        project,
        "--settings",
        "deploy/zappa_settings.json",
        "--extends",
        "dev",
        "--endpoint",
        f"http://127.0.0.1:{port}",
    )
    assert run.returncode == 0, run.stderr
    return project, port


RAW_UPGRADE = "from flask_migrate import upgrade; from wsgi import app; app.app_context().push(); upgrade()"
# The README's raw upgrade: the app found through Zappa's own settings module, whatever the WSGI module is called.
RAW_UPGRADE_ANY_WSGI_NAME = (
    "import importlib, zappa_settings as z; app = getattr(importlib.import_module(z.APP_MODULE), z.APP_FUNCTION); "
    "from flask_migrate import upgrade; app.app_context().push(); upgrade()"
)
RAW_PROBE = "import flask; print('app context:', 'LEAKED' if flask.has_app_context() else 'none')"


def test_flask_migrate_through_raw_invoke_and_no_app_context_leaks(factory_project, tmp_path: Path) -> None:
    project, port = factory_project
    emulator = start_emulator(
        project, port, "--settings", "deploy/zappa_settings.json", "--allow-raw-command", "--max-concurrency", "1"
    )
    settings = "deploy/zappa_settings.json"
    home = tmp_path / "home"
    home.mkdir()
    try:
        upgrade = _zappa(project, home, "invoke", "--raw", "local", RAW_UPGRADE, "-s", settings)
        assert upgrade.returncode == 0, upgrade.stdout + upgrade.stderr
        assert "Running upgrade  -> 0001, create notes" in upgrade.stdout

        probe = _zappa(project, home, "invoke", "--raw", "local", RAW_PROBE, "-s", settings)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert "app context: none" in probe.stdout, "the app context pushed by the earlier raw command leaked"

        # The same warm environment (one per function here) has the table in its own /tmp/notes.db.
        front = LambdaClient(emulator.api_url)
        created = front.request("POST", "/notes", {"text": "hi"}, {"Content-Type": "application/json"})
        assert created.status == 201, created.describe()
        assert front.request("GET", "/notes").json() == {"notes": ["hi"]}
    finally:
        emulator.stop()


def test_a_stage_whose_variables_point_at_a_remote_database_is_refused(factory_project) -> None:
    """The guard reads values, not names: production's NOTES_DB_URI is MySQL on a remote host."""
    project, port = factory_project
    emulator = start_emulator(project, port, "--settings", "deploy/zappa_settings.json", api=False)
    try:
        console = emulator.console()
        assert re.search(r"function notes-factory-production .*\n\s+REFUSED .*NOTES_DB_URI", console), console
        answer = emulator.client().invoke("notes-factory-production", {"command": "tasks.where"})
        assert answer.status == 403 and answer.error_code == "AccessDeniedException"
        message = answer.error()["errorMessage"]
        assert "notes-db.cluster-abc.eu-central-1.rds.amazonaws.com" in message and "hunter2" not in message
        assert "run_alembic" not in message and "make " not in message, "the message must not name this repository"
        assert emulator.client().invoke("notes-factory-local", {"command": "tasks.where"}).ok
    finally:
        emulator.stop()


def test_serving_a_stage_with_a_remote_database_does_not_start(factory_project, tmp_path: Path) -> None:
    project, _ = factory_project
    refusal = start_refused(
        "--settings", "deploy/zappa_settings.json", "--stage", "production", log=tmp_path / "e.log", project_dir=project
    )
    assert refusal.returncode == 2 and "refusing NOTES_DB_URI" in refusal.log and "hunter2" not in refusal.log


# -- make emulator-smoke -------------------------------------------------------------------------------------------


def test_make_emulator_smoke_rehearses_a_new_project_through_every_path(venv_project: Path) -> None:
    """Exactly what a newcomer runs: init-stage, then make emulator-smoke (boto3, zappa invoke, API front)."""
    port = free_port()
    assert _init_stage(venv_project, "--extends", "dev", "--endpoint", f"http://127.0.0.1:{port}").returncode == 0
    env = {k: v for k, v in cli_env().items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    run = subprocess.run(
        ["make", "-s", "emulator-smoke", f"PROJECT={venv_project}", "FN=hello.probe.where"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "== ok   boto3 lambda.invoke" in run.stdout
    assert f"== ok   zappa invoke ({venv_project / VENV_NAME / 'bin' / 'zappa'})" in run.stdout
    assert '== ok   API Gateway front GET /\nHTTP 200: {"hello":"venv"}' in run.stdout
    assert "== not run zappa manage, because the stage is not a Django one (no django_settings)" in run.stdout
    assert "all 3 checks that ran passed (not run: zappa manage, zappa invoke --raw)" in run.stdout


def test_emulator_smoke_finds_settings_in_a_subfolder_and_reports_a_failing_function(factory_project) -> None:
    from dev.emulator import smoke

    project, _ = factory_project
    steps = smoke.rehearse(project, "tasks.no_such_function", api_path="/")
    by_name = {step.what.split(" (")[0]: step for step in steps}
    boto3_step = by_name["boto3 lambda.invoke tasks.no_such_function"]
    assert boto3_step.outcome == smoke.FAIL and "no_such_function" in boto3_step.detail
    assert by_name["zappa invoke"].outcome == smoke.FAIL
    front = by_name["API Gateway front GET /"]
    assert front.outcome == smoke.OK and front.detail.startswith('HTTP 200: {"greeting":"hello from dev"}'), (
        front.detail
    )
    assert (
        smoke.summary(steps)
        == "FAILED: boto3 lambda.invoke tasks.no_such_function, zappa invoke ("
        + (by_name["zappa invoke"].what.split(" (", 1)[1])
        + ", emulator console (end)"
    )


@pytest.mark.emulator
def test_emulator_smoke_without_a_function_loads_the_app_and_runs_a_raw_flask_migrate(factory_project) -> None:
    """No FN: Zappa's keep-warm event through boto3 and its callback through the real CLI; RAW= the README's generic
    Flask-Migrate line (the WSGI module found through zappa_settings, whatever it is called); the API front after."""
    from dev.emulator import smoke

    project, _ = factory_project
    steps = smoke.rehearse(project, raw=RAW_UPGRADE_ANY_WSGI_NAME, api_path="/notes")
    outcomes = {step.what.split(" (")[0]: step.outcome for step in steps}
    assert outcomes == {
        "boto3 lambda.invoke with Zappa's keep-warm event": smoke.OK,
        "zappa invoke zappa.handler.keep_warm_callback": smoke.OK,
        "zappa manage": smoke.NOT_RUN,
        "zappa invoke --raw": smoke.OK,
        "API Gateway front GET /notes": smoke.OK,
    }, [step.render() for step in steps]
    raw = next(step for step in steps if step.what.startswith("zappa invoke --raw"))
    assert "Running upgrade  -> 0001, create notes" in raw.detail, raw.detail
