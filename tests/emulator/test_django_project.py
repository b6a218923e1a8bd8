"""Django, first class: a Django Zappa project (tests/examples/projects/django_project, its own virtualenv with Django
pinned)
through the real ``zappa manage``, boto3's ``{"manage": ...}``, the API front and ``make emulator-smoke``, on real
PostgreSQL (split settings: ``DATABASE_HOST`` and friends, as Django projects name them).

Also what Lambda refuses and the emulator therefore refuses too: SQLite beside the code (``/var/task`` is read-only)
and a stage whose ``DATABASE_HOST`` names a remote server (the guard).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dev.emulator import smoke
from dev.emulator.client import LambdaClient
from dev.postgres import scalar
from tests.support.emulator_harness import REPO_ROOT, cli_env, free_port, make_virtualenv, start_emulator, start_refused
from tests.support.paths import PROJECTS

pytestmark = pytest.mark.emulator
DJANGO_PROJECT = PROJECTS / "django_project"
VENV = "venv"
MIGRATION_0002 = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [migrations.AddField("note", "done", models.BooleanField(default=False))]
"""


@pytest.fixture(scope="session")
def django_virtualenv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture project's own requirements (Django pinned, psycopg2, zappa), built once per session with uv."""
    return make_virtualenv(
        tmp_path_factory.mktemp("django-venv") / VENV, "-r", str(DJANGO_PROJECT / "requirements.txt")
    )


@pytest.fixture
def django_project(tmp_path: Path, django_virtualenv: Path) -> Iterator[tuple[Path, int]]:
    """A copy of the fixture with its virtualenv inside it and the local stage ``init-stage`` writes; (dir, port)."""
    project = tmp_path / "django_project"
    shutil.copytree(DJANGO_PROJECT, project)
    (project / VENV).symlink_to(django_virtualenv, target_is_directory=True)
    port = free_port()
    argv = ["init-stage", "--project-dir", str(project), "--extends", "dev", "--endpoint", f"http://127.0.0.1:{port}"]
    init = subprocess.run(
        [sys.executable, "-m", "dev.emulator", *argv],
        cwd=REPO_ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert init.returncode == 0, init.stderr
    yield project, port


def use_postgres(project: Path, database_url: str) -> None:
    """Point the local stage at this test's PostgreSQL database, the way a developer would: its variables."""
    url = make_url(database_url)
    path = project / "zappa_settings.json"
    settings = json.loads(path.read_text())
    settings["local"]["environment_variables"] = {
        "DATABASE_ENGINE": "postgresql",
        "DATABASE_HOST": url.host or "127.0.0.1",
        "DATABASE_PORT": str(url.port or 5432),
        "DATABASE_NAME": url.database,
        "DATABASE_USER": url.username or "",
        "DATABASE_PASSWORD": url.password or "",
    }
    path.write_text(json.dumps(settings, indent=4))


def zappa(project: Path, *args: str) -> subprocess.CompletedProcess:
    """The project's own Zappa CLI, as a developer without ~/.aws runs it (dummy credentials)."""
    return subprocess.run(
        [str(project / VENV / "bin" / "zappa"), *args],
        cwd=project,
        env=cli_env(HOME=str(project.parent)),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_zappa_manage_migrate_showmigrations_and_boto3_manage_on_postgresql(django_project, database_url) -> None:
    project, port = django_project
    use_postgres(project, database_url)
    emulator = start_emulator(project, port, env=cli_env())
    try:
        migrate = zappa(project, "manage", "local", "migrate")
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        assert "Applying notes.0001_initial... OK" in migrate.stdout, migrate.stdout
        assert scalar(database_url, "select to_regclass('public.notes_note') is not null") is True
        assert scalar(database_url, "select count(*) from django_migrations where app = 'auth'") > 0

        shown = zappa(project, "manage", "local", "showmigrations notes")
        assert shown.returncode == 0 and "[X] 0001_initial" in shown.stdout, shown.stdout + shown.stderr

        # The app behind the API front reads and writes the same PostgreSQL database.
        front = LambdaClient(emulator.api_url)
        created = front.request("POST", "/notes/", {"text": "hi"}, {"Content-Type": "application/json"})
        assert created.status == 201, created.describe()
        assert front.request("GET", "/notes/").json() == {"notes": ["hi"], "database": "postgresql"}
        assert front.request("GET", "/admin/login/").status == 200

        # A migration added while the emulator is warm is picked up, and boto3 runs it the way Zappa's CLI would.
        (project / "notes" / "migrations" / "0002_note_done.py").write_text(MIGRATION_0002)
        import boto3

        lam = boto3.client(
            "lambda",
            endpoint_url=emulator.url,
            region_name="eu-west-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        answer = lam.invoke(
            FunctionName="notes-django-local", Payload=json.dumps({"manage": "migrate"}), LogType="Tail"
        )
        log = base64.b64decode(answer["LogResult"]).decode()
        assert "FunctionError" not in answer and json.loads(answer["Payload"].read()) == {}, log
        assert "Applying notes.0002_note_done... OK" in log, log
        done = (
            "select count(*) from information_schema.columns where table_name = 'notes_note' and column_name = 'done'"
        )
        assert scalar(database_url, done) == 1
    finally:
        emulator.stop()


def test_sqlite_beside_the_code_fails_as_it_would_on_lambda(django_project) -> None:
    """The dev stage keeps db.sqlite3 in the project: on Lambda /var/task is read-only, so migrate fails there."""
    project, port = django_project
    emulator = start_emulator(project, port, api=False, env=cli_env())
    try:
        migrate = zappa(project, "manage", "local", "migrate")
        output = migrate.stdout + migrate.stderr
        assert migrate.returncode != 0, output
        assert "sqlite3/base.py" in output and "Error: Unhandled error occurred" in output, output  # the log tail
        console = emulator.console()
        assert "[ERROR] OperationalError: unable to open database file" in console, console[-3000:]
        assert not (project / "db.sqlite3").exists(), "the function wrote into the task root"
    finally:
        emulator.stop()


def test_a_remote_database_host_in_split_settings_is_refused(django_project, tmp_path: Path) -> None:
    """staging names its database with DATABASE_HOST=<name>.rds.amazonaws.com, no URL anywhere: still refused."""
    project, port = django_project
    emulator = start_emulator(project, port, api=False, env=cli_env())
    try:
        console = emulator.console()
        assert (
            "function notes-django-staging" in console
            and "REFUSED (invocations answer 403): refusing DATABASE_HOST" in console
        )
        answer = emulator.client().invoke("notes-django-staging", {"manage": "migrate"})
        assert answer.status == 403 and answer.error_code == "AccessDeniedException", answer.describe()
        message = answer.error()["errorMessage"]
        assert (
            "notes-staging.c9akciq32.eu-west-1.rds.amazonaws.com" in message
            and "Set DATABASE_HOST to 127.0.0.1" in message
        )
    finally:
        emulator.stop()
    refusal = start_refused("--stage", "staging", log=tmp_path / "staging.log", project_dir=project, env=cli_env())
    assert refusal.returncode == 2 and "refusing DATABASE_HOST with host notes-staging" in refusal.log


def test_make_emulator_smoke_on_django_needs_no_function(django_project, database_url) -> None:
    """Keep-warm event, the real zappa invoke, zappa manage migrate and the API front; raw is said not to run."""
    project, _ = django_project
    use_postgres(project, database_url)
    env = {k: v for k, v in cli_env().items() if k not in ("MAKEFLAGS", "MAKELEVEL")}
    run = subprocess.run(
        ["make", "-s", "emulator-smoke", f"PROJECT={project}", "MANAGE=migrate", "API_PATH=/notes/"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    out = run.stdout
    assert "== ok   boto3 lambda.invoke with Zappa's keep-warm event (the app loads)" in out, out[-3000:]
    assert "== ok   zappa invoke zappa.handler.keep_warm_callback" in out
    assert "== ok   zappa manage migrate" in out and "Applying notes.0001_initial... OK" in out
    assert '== ok   API Gateway front GET /notes/\nHTTP 200: {"notes": [], "database": "postgresql"}' in out
    assert "== not run zappa invoke --raw, because RAW= was not given" in out
    assert "all 4 checks that ran passed (not run: zappa invoke --raw)" in out


def test_emulator_smoke_fails_on_a_500_and_says_which_check(django_project, database_url) -> None:
    """The database is not there (a closed port): the app answers 500, and a 500 is a failure, not an ok."""
    project, _ = django_project
    use_postgres(project, database_url)
    settings = json.loads((project / "zappa_settings.json").read_text())
    settings["local"]["environment_variables"]["DATABASE_PORT"] = str(free_port())
    (project / "zappa_settings.json").write_text(json.dumps(settings, indent=4))
    steps = smoke.rehearse(project, api_path="/notes/")
    front = next(step for step in steps if step.what.startswith("API Gateway front"))
    assert front.outcome == smoke.FAIL and front.detail.startswith("HTTP 500"), front.detail
    assert smoke.summary(steps).startswith("FAILED: API Gateway front GET /notes/")
    manage = next(step for step in steps if step.what.startswith("zappa manage"))
    assert manage.outcome == smoke.NOT_RUN and "MANAGE= was not given" in manage.detail
