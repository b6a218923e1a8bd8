"""The developer's AWS keys never reach a function: SAM CLI's placeholders do, and HOME is not the developer's.

The emulator is started the way a developer's shell would start it: a HOME holding ``~/.aws/credentials`` and
``~/.aws/config`` with a real-looking key, ``AWS_ACCESS_KEY_ID``/``AWS_PROFILE``/``AWS_SHARED_CREDENTIALS_FILE``
exported. The fixture function asks boto3 for its credentials, as any SDK call inside it would.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dev.emulator.environment import PLACEHOLDER_CREDENTIALS
from tests.support.emulator_harness import (
    FIXTURE_PROJECT,
    Emulator,
    copy_project,
    fixture_env,
    free_port,
    start_emulator,
)

DEVELOPER_KEY = "AKIADEVELOPERSOWNKEY"
SHELL_KEY = "AKIAEXPORTEDINSHELL0"


@pytest.fixture(scope="module")
def developer_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("developer-home")
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {DEVELOPER_KEY}\naws_secret_access_key = developer-secret\n"
        f"[developer]\naws_access_key_id = {DEVELOPER_KEY}\naws_secret_access_key = developer-secret\n"
    )
    (home / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n[profile developer]\nregion = eu-west-1\n")
    return home


@pytest.fixture(scope="module")
def emulator_in_developer_shell(developer_home: Path, tmp_path_factory: pytest.TempPathFactory):
    port = free_port()
    project = copy_project(FIXTURE_PROJECT, tmp_path_factory.mktemp("credentials") / "project", port)
    env = fixture_env()
    env.update(
        HOME=str(developer_home),
        AWS_ACCESS_KEY_ID=SHELL_KEY,
        AWS_SECRET_ACCESS_KEY="shell-secret",
        AWS_PROFILE="developer",
        AWS_SHARED_CREDENTIALS_FILE=str(developer_home / ".aws" / "credentials"),
        AWS_CONFIG_FILE=str(developer_home / ".aws" / "config"),
    )
    emulator = start_emulator(project, port, api=False, env=env)
    yield emulator
    emulator.stop()


def test_boto3_in_a_function_gets_the_placeholders(emulator_in_developer_shell: Emulator) -> None:
    response = emulator_in_developer_shell.invoke("fns.aws_credentials")
    assert "FunctionError" not in response, response["Log"]
    seen = response["Body"]

    assert seen["access_key"] == PLACEHOLDER_CREDENTIALS["AWS_ACCESS_KEY_ID"] == "defaultkey"
    assert seen["secret_key"] == PLACEHOLDER_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    assert seen["token"] == PLACEHOLDER_CREDENTIALS["AWS_SESSION_TOKEN"]
    assert seen["method"] == "env"


def test_the_developers_files_and_profiles_are_out_of_reach(
    emulator_in_developer_shell: Emulator, developer_home: Path
) -> None:
    seen = emulator_in_developer_shell.invoke("fns.aws_credentials")["Body"]

    assert seen["named_profile"] == "not found"  # boto3.Session(profile_name="developer")
    assert "developer" not in seen["profiles"]
    assert seen["home"] != str(developer_home)
    assert seen["home_has_aws"] is False
    assert DEVELOPER_KEY not in str(seen) and SHELL_KEY not in str(seen)
