"""Stage settings come from Zappa's own code; the registry resolves names the way Lambda does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from emulator_harness import FIXTURE_PROJECT

from dev.emulator.registry import code_fingerprint, split_function_name
from dev.emulator.settings import SettingsError, load_stages


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("settings") / "project"
    shutil.copytree(FIXTURE_PROJECT, dest)
    return dest


@pytest.fixture(scope="module")
def stages(project: Path) -> dict:
    return load_stages(project, project / "zappa_settings.json", drop_env=[])


def zappa_settings_string(project: Path, stage: str, monkeypatch: pytest.MonkeyPatch) -> str:
    from zappa.cli import ZappaCLI

    monkeypatch.chdir(project)
    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = False
    cli.load_settings(str(project / "zappa_settings.json"))
    return cli.get_zappa_settings_string()


def test_generated_settings_module_is_zappas_own_output(project: Path, stages: dict, monkeypatch) -> None:
    generated = project / ".runtime" / "local" / "zappa_settings.py"
    assert stages["local"]["settings_dir"] == str(generated.parent)
    assert generated.read_text() == zappa_settings_string(project, "local", monkeypatch)
    assert "API_STAGE='local'" in generated.read_text()


def test_stage_configs_follow_extends_and_zappa_defaults(stages: dict) -> None:
    assert set(stages) == {"base", "local", "tight", "small", "secret"}
    tight = stages["tight"]
    assert tight["function_name"] == "emu-fixture-tight"
    assert (tight["timeout_seconds"], tight["memory_size"]) == (1, 128)
    assert tight["aws_region"] == "eu-west-1"
    assert tight["environment_variables"]["FIXTURE_STAGE_VAR"] == "from-local-stage"  # inherited from local


def test_remote_env_is_not_rendered(project: Path, stages: dict) -> None:
    text = (project / ".runtime" / "secret" / "zappa_settings.py").read_text()
    assert "REMOTE_ENV" not in text
    assert stages["secret"]["had_remote_env"] is True


def test_passed_variables_are_removed_from_the_settings_module(project: Path, tmp_path: Path) -> None:
    dest = tmp_path / "project"
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(".runtime"))
    stages = load_stages(dest, dest / "zappa_settings.json", drop_env=["DATABASE_URL"])
    text = (dest / ".runtime" / "local" / "zappa_settings.py").read_text()
    assert "DATABASE_URL" not in text
    assert "FIXTURE_STAGE_VAR" in text
    assert "DATABASE_URL" not in stages["local"]["environment_variables"]


def test_settings_errors_carry_zappas_message(tmp_path: Path) -> None:
    (tmp_path / "zappa_settings.json").write_text(json.dumps({"a": {"extends": "b"}, "b": {"extends": "a"}}))
    with pytest.raises(SettingsError, match="circular extends"):
        load_stages(tmp_path, tmp_path / "zappa_settings.json", drop_env=[])


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
