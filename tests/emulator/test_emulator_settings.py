"""Stage settings come from Zappa's own code; the registry resolves names the way Lambda does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from emulator_harness import FIXTURE_PROJECT, REPO_ROOT

from dev.emulator import settings
from dev.emulator.registry import code_fingerprint, split_function_name
from dev.emulator.settings import SettingsError, load_stages, stage_config, stage_configs


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("settings") / "project"
    shutil.copytree(FIXTURE_PROJECT, dest)
    return dest


@pytest.fixture(scope="module")
def stages(project: Path) -> dict:
    return load_stages(project, project / "zappa_settings.json", drop_env=[])


def zappa_cli(project: Path, stage: str, monkeypatch: pytest.MonkeyPatch):
    """Zappa's own CLI object for ``stage``, as `zappa save-python-settings-file` builds it (the reference)."""
    from zappa.cli import ZappaCLI

    monkeypatch.chdir(project)
    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = False
    cli.load_settings(str(project / "zappa_settings.json"))
    return cli


def test_generated_settings_module_is_zappas_own_output(project: Path, stages: dict, monkeypatch) -> None:
    generated = project / ".runtime" / "local" / "zappa_settings.py"
    assert stages["local"].settings_dir == str(generated.parent)
    assert generated.read_text() == zappa_cli(project, "local", monkeypatch).get_zappa_settings_string()
    assert "API_STAGE='local'" in generated.read_text()


def test_stage_configs_follow_extends_and_zappa_defaults(stages: dict) -> None:
    assert set(stages) == {"base", "local", "tight", "secret"}
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


def test_remote_env_is_not_rendered(project: Path, stages: dict) -> None:
    text = (project / ".runtime" / "secret" / "zappa_settings.py").read_text()
    assert "REMOTE_ENV" not in text
    assert stages["secret"].had_remote_env is True


def test_passed_variables_are_removed_from_the_settings_module(project: Path, tmp_path: Path) -> None:
    dest = tmp_path / "project"
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(".runtime"))
    stages = load_stages(dest, dest / "zappa_settings.json", drop_env=["DATABASE_URL"])
    text = (dest / ".runtime" / "local" / "zappa_settings.py").read_text()
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
        load_stages(tmp_path, tmp_path / "zappa_settings.json", drop_env=[])


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
    assert not (project / ".runtime").exists(), "a client must not write settings modules (or a cache unasked)"


def test_client_resolution_is_cached_until_the_file_changes(tmp_path: Path, monkeypatch) -> None:
    settings_file = tmp_path / "zappa_settings.json"
    shutil.copy2(FIXTURE_PROJECT / "zappa_settings.json", settings_file)
    assert stage_config(settings_file, "local").function_name == "emu-fixture-local"
    assert not list((tmp_path / ".runtime").glob("*/zappa_settings.py")), "no settings module for a client"

    def no_zappa(*args, **kwargs):
        raise AssertionError("rendered again although the settings file did not change")

    monkeypatch.setattr(settings, "_render", no_zappa)
    assert stage_config(settings_file, "tight").memory_size == 128  # from the cache

    monkeypatch.undo()
    data = json.loads(settings_file.read_text())
    data["base"]["project_name"] = "renamed"
    settings_file.write_text(json.dumps(data))
    assert stage_config(settings_file, "local").function_name == "renamed-local"


def test_unknown_stage_names_the_stages(tmp_path: Path) -> None:
    shutil.copy2(FIXTURE_PROJECT / "zappa_settings.json", tmp_path / "zappa_settings.json")
    with pytest.raises(SettingsError, match=r"stage 'nope' is not in the settings file .*\(stages: base, local"):
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


def test_fingerprint_sees_code_and_ignores_excluded(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x = 1\n")
    (tmp_path / "notes").mkdir()
    before = code_fingerprint(tmp_path, ["notes", "*.md"])
    (tmp_path / "notes" / "a.py").write_text("y = 1\n")
    (tmp_path / "README.md").write_text("hi\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "lib.py").write_text("z = 1\n")
    assert code_fingerprint(tmp_path, ["notes", "*.md"]) == before
    (tmp_path / "new_module.py").write_text("w = 1\n")
    assert code_fingerprint(tmp_path, ["notes", "*.md"]) != before
