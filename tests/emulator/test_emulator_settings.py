"""Stage settings come from Zappa's own code; the registry resolves names the way Lambda does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dev.emulator import scratch, settings
from dev.emulator.changes import ShippedFiles
from dev.emulator.registry import split_function_name
from dev.emulator.settings import SettingsError, load_stages, stage_config, stage_configs
from tests.support.emulator_harness import FIXTURE_PROJECT, REPO_ROOT


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("settings") / "project"
    shutil.copytree(FIXTURE_PROJECT, dest)
    return dest


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rendered")


@pytest.fixture(scope="module")
def stages(project: Path, runtime_dir: Path) -> dict:
    return load_stages(project, project / "zappa_settings.json", drop_env=[], runtime_dir=runtime_dir)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Clients' stage caches in a directory of this test's (scratch.py), not the developer's ~/.cache."""
    monkeypatch.setenv(scratch.CACHE_VARIABLE, str(tmp_path / "cache"))
    return tmp_path / "cache"


def zappa_cli(project: Path, stage: str, monkeypatch: pytest.MonkeyPatch):
    """Zappa's own CLI object for ``stage``, as `zappa save-python-settings-file` builds it (the reference)."""
    from zappa.cli import ZappaCLI

    monkeypatch.chdir(project)
    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = False
    cli.load_settings(str(project / "zappa_settings.json"))
    return cli


def test_generated_settings_module_is_zappas_own_output(
    project: Path, runtime_dir: Path, stages: dict, monkeypatch
) -> None:
    generated = runtime_dir / "local" / "zappa_settings.py"
    assert stages["local"].settings_dir == str(generated.parent)
    assert generated.read_text() == zappa_cli(project, "local", monkeypatch).get_zappa_settings_string()
    assert "API_STAGE='local'" in generated.read_text()
    assert sorted(p.name for p in project.iterdir()) == sorted(p.name for p in FIXTURE_PROJECT.iterdir()), (
        "nothing may be written into the project: `zappa package` would ship it"
    )


def test_stage_configs_follow_extends_and_zappa_defaults(stages: dict) -> None:
    assert set(stages) == {"base", "local", "tight", "small", "secret", "bigtmp"}
    assert (stages["bigtmp"].ephemeral_storage_mb, stages["local"].ephemeral_storage_mb) == (1024, 512)
    tight = stages["tight"]
    assert tight.function_name == "emu-fixture-tight"
    assert (tight.timeout_seconds, tight.memory_size) == (1, 128)
    assert tight.aws_region == "eu-west-1"
    assert tight.environment_variables["FIXTURE_STAGE_VAR"] == "from-local-stage"  # inherited from local


def test_function_config_keeps_what_the_front_and_the_clients_need(stages: dict) -> None:
    local, base = stages["local"], stages["base"]
    assert (local.runtime, local.python_version) == ("python3.11", "3.11")
    assert local.app_function == "app.app"
    assert (local.apigateway_enabled, local.apigateway_version, local.binary_support) == (True, "v1", True)
    assert local.lambda_endpoint == "http://127.0.0.1:9000" and base.lambda_endpoint == ""
    assert "notes" in local.exclude


def test_remote_env_is_not_rendered(runtime_dir: Path, stages: dict) -> None:
    text = (runtime_dir / "secret" / "zappa_settings.py").read_text()
    assert "REMOTE_ENV" not in text
    assert stages["secret"].had_remote_env is True


def test_passed_variables_are_removed_from_the_settings_module(project: Path, tmp_path: Path) -> None:
    dest = tmp_path / "project"
    shutil.copytree(project, dest)
    stages = load_stages(dest, dest / "zappa_settings.json", drop_env=["DATABASE_URL"], runtime_dir=tmp_path / "r")
    text = (tmp_path / "r" / "local" / "zappa_settings.py").read_text()
    assert "DATABASE_URL" not in text
    assert "FIXTURE_STAGE_VAR" in text
    # The config still says what the stage sets: only the module the handler imports leaves it out.
    assert (
        stages["local"].environment_variables["DATABASE_URL"]
        == "postgresql://stage-value-should-be-overridden@127.0.0.1:1/db"
    )


def test_settings_errors_carry_zappas_message(tmp_path: Path) -> None:
    (tmp_path / "zappa_settings.json").write_text(json.dumps({"a": {"extends": "b"}, "b": {"extends": "a"}}))
    with pytest.raises(SettingsError, match="circular extends"):
        load_stages(tmp_path, tmp_path / "zappa_settings.json", drop_env=[], runtime_dir=tmp_path / "r")


@pytest.mark.parametrize("source", [REPO_ROOT, FIXTURE_PROJECT], ids=["this-project", "fixture"])
def test_clients_resolve_every_stage_as_zappa_does_without_writing(source: Path, tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / source.name  # same directory name: Zappa's default project name comes from it
    project.mkdir()
    shutil.copy2(source / "zappa_settings.json", project / "zappa_settings.json")
    configs = stage_configs(project / "zappa_settings.json", cache=False)
    for stage, config in configs.items():
        cli = zappa_cli(project, stage, monkeypatch)
        assert (config.function_name, config.runtime, config.memory_size) == (
            cli.lambda_name,
            cli.runtime,
            cli.memory_size,
        )
    assert [p.name for p in project.iterdir()] == ["zappa_settings.json"], "a client writes nothing in the project"


def test_client_resolution_is_cached_until_the_file_changes(tmp_path: Path, private_cache: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    settings_file = project / "zappa_settings.json"
    shutil.copy2(FIXTURE_PROJECT / "zappa_settings.json", settings_file)
    assert stage_config(settings_file, "local").function_name == "emu-fixture-local"
    assert [p.name for p in project.iterdir()] == ["zappa_settings.json"], "the cache lives outside the project"
    assert list((private_cache / "stages").glob("zappa_settings.json-*.json")), "the cache is in the cache dir"

    def no_zappa(*args, **kwargs):
        raise AssertionError("rendered again although the settings file did not change")

    monkeypatch.setattr(settings, "_render", no_zappa)
    assert stage_config(settings_file, "tight").memory_size == 128  # from the cache

    monkeypatch.undo()
    data = json.loads(settings_file.read_text())
    data["base"]["project_name"] = "renamed"
    settings_file.write_text(json.dumps(data))
    assert stage_config(settings_file, "local").function_name == "renamed-local"


def test_settings_in_a_subfolder_take_the_project_name_from_the_project(tmp_path: Path) -> None:
    """Zappa's default project_name is the directory it runs in, not the settings file's (``zappa -s sub/...``)."""
    project = tmp_path / "my_project"
    (project / "deploy").mkdir(parents=True)
    (project / "deploy" / "zappa_settings.json").write_text(
        json.dumps({"dev": {"app_function": "app.app", "s3_bucket": "b", "aws_region": "eu-west-1"}})
    )
    config = stage_config(project / "deploy" / "zappa_settings.json", "dev", project_dir=project)
    assert config.function_name == "my-project-dev"


def test_yaml_settings_are_read_as_zappa_reads_them(tmp_path: Path) -> None:
    (tmp_path / "zappa_settings.yml").write_text(
        "dev:\n  project_name: yamlproj\n  app_function: app.app\n  s3_bucket: b\n  ephemeral_storage:\n"
        "    Size: 1024\n"
    )
    config = stage_config(tmp_path / "zappa_settings.yml", "dev", cache=False)
    assert (config.function_name, config.ephemeral_storage_mb) == ("yamlproj-dev", 1024)


def test_unknown_stage_names_the_stages(tmp_path: Path) -> None:
    shutil.copy2(FIXTURE_PROJECT / "zappa_settings.json", tmp_path / "zappa_settings.json")
    with pytest.raises(SettingsError, match=r"stage .nope. is not in the settings file .*\(stages: base, bigtmp, "):
        stage_config(tmp_path / "zappa_settings.json", "nope")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("fn", ("fn", None)),
        ("fn:$LATEST", ("fn", "$LATEST")),
        ("fn:3", ("fn", "3")),
        ("arn:aws:lambda:eu-west-1:123456789012:function:fn", ("fn", None)),
        ("arn:aws:lambda:eu-west-1:123456789012:function:fn:live", ("fn", "live")),
        ("123456789012:function:fn", ("fn", None)),
    ],
)
def test_function_name_forms(raw: str, expected: tuple) -> None:
    assert split_function_name(raw) == expected


def test_shipped_files_follow_exclude_gitignore_and_skip_any_virtualenv(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / ".gitignore").write_text("generated/\n*.local.py\n")
    for directory in ("notes", "generated", "py311", "pkg"):
        (tmp_path / directory).mkdir()
    (tmp_path / "py311" / "pyvenv.cfg").write_text("home = /usr/bin\n")  # a virtualenv under any name
    rules = ShippedFiles.for_project(tmp_path, ["notes", "*.md"], [], [])

    assert rules.counts(tmp_path / "app.py")
    assert rules.counts(tmp_path / "pkg" / "new_module.py")
    assert rules.counts(tmp_path / "pkg" / "alembic.ini")
    assert not rules.counts(tmp_path / "notes" / "a.py")  # the stage's exclude
    assert not rules.counts(tmp_path / "README.md")
    assert not rules.counts(tmp_path / "generated" / "b.py")  # .gitignore
    assert not rules.counts(tmp_path / "settings.local.py")
    assert not rules.counts(tmp_path / "py311" / "lib" / "site.py")  # pyvenv.cfg
    assert not rules.counts(tmp_path / "pkg" / "data.bin")  # not code
    assert {p.name for p in rules.directories()} == {tmp_path.name, "pkg"}


def test_scan_fingerprint_sees_code_and_ignores_the_rest(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "notes").mkdir()
    rules = ShippedFiles.for_project(tmp_path, ["notes", "*.md"], [], [])
    before = rules.fingerprint()
    (tmp_path / "notes" / "a.py").write_text("y = 1\n")
    (tmp_path / "README.md").write_text("hi\n")
    (tmp_path / "env-any-name").mkdir()
    (tmp_path / "env-any-name" / "pyvenv.cfg").write_text("")
    (tmp_path / "env-any-name" / "lib.py").write_text("z = 1\n")
    assert rules.fingerprint() == before
    (tmp_path / "new_module.py").write_text("w = 1\n")
    assert rules.fingerprint() != before
