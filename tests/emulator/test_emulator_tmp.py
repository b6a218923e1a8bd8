"""Lambda's /tmp: every execution environment has its own, empty, sized by ``ephemeral_storage``, gone with it.

A project that keeps SQLite or a cache in /tmp works on one machine with a shared /tmp and fails on Lambda, where a
second environment (a concurrent call, a cold start after an update) starts with an empty /tmp. These tests hold the
emulator to Lambda's behaviour: two environments never see each other's files, and the host does not see them
either. Where the kernel refuses a mount namespace, ``--tmp tmpdir`` is what remains, and the emulator says so.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from dev.emulator import private_tmp
from tests.support.emulator_harness import Emulator


@pytest.fixture(scope="module")
def private_tmp_emulator(emulator: Emulator) -> Emulator:
    if emulator.health()["tmp"] != "private":
        pytest.fail(f"this machine (root, Linux) must give environments a private /tmp:\n{emulator.console()[:3000]}")
    return emulator


def test_two_functions_never_see_each_others_tmp(private_tmp_emulator: Emulator) -> None:
    emulator = private_tmp_emulator
    name = f"lambda-tmp-{uuid.uuid4().hex}"
    written = emulator.invoke("fns.tmp_write", stage="base", name=name)["Body"]
    assert written["exists"] and written["content"] == str(written["pid"])

    other = emulator.invoke("fns.tmp_read", stage="local", name=name)["Body"]
    assert other["pid"] != written["pid"]
    assert not other["exists"], "another environment saw this one's /tmp"
    assert not Path("/tmp", name).exists(), "the host's /tmp saw an environment's file"

    again = emulator.invoke("fns.tmp_read", stage="base", name=name)["Body"]
    assert (again["pid"], again["content"]) == (written["pid"], str(written["pid"])), "a warm environment keeps /tmp"
    assert again["tempdir"] == "/tmp", "with a private /tmp, tempfile uses it, as on Lambda"


def test_two_environments_of_one_function_never_share_tmp(private_tmp_emulator: Emulator) -> None:
    emulator = private_tmp_emulator
    name = f"lambda-tmp-{uuid.uuid4().hex}"
    first = emulator.invoke("fns.tmp_write", stage="local", name=name)["Body"]
    release = emulator.shared_path("release")
    # Keep that environment busy until released, so the next call needs a second one.
    emulator.lambda_client().invoke(
        FunctionName="emu-fixture-local",
        InvocationType="Event",
        Payload=f'{{"command": "fns.wait_for", "path": "{release}"}}',
    )
    emulator.wait_until(lambda h: h["environments"]["emu-fixture-local"]["busy"] >= 1, what="the first stays busy")
    try:
        second = emulator.invoke("fns.tmp_read", stage="local", name=name)["Body"]
    finally:
        release.write_text("go")
    assert second["pid"] != first["pid"]
    assert not second["exists"], "a second environment of the same function saw the first one's /tmp"


def test_tmp_is_sized_by_ephemeral_storage(private_tmp_emulator: Emulator) -> None:
    name = "size-probe"
    assert private_tmp_emulator.invoke("fns.tmp_read", stage="local", name=name)["Body"]["size_mb"] == 512
    assert private_tmp_emulator.invoke("fns.tmp_read", stage="bigtmp", name=name)["Body"]["size_mb"] == 1024


def test_a_new_environment_starts_with_an_empty_tmp(private_tmp_emulator: Emulator) -> None:
    """After a crash (or an update), the next environment's /tmp is empty: the files went with the old one."""
    emulator = private_tmp_emulator
    name = f"lambda-tmp-{uuid.uuid4().hex}"
    before = emulator.invoke("fns.tmp_write", stage="tight", name=name)["Body"]["pid"]
    assert emulator.invoke("fns.crash", stage="tight")["FunctionError"] == "Unhandled"
    after = emulator.invoke("fns.tmp_read", stage="tight", name=name)["Body"]
    assert after["pid"] != before and not after["exists"]


def test_banner_says_tmp_is_private(private_tmp_emulator: Emulator) -> None:
    assert "/tmp: private and empty per environment" in private_tmp_emulator.console()


def test_without_a_namespace_tmpdir_is_private_and_the_banner_says_tmp_is_shared(emulator_factory) -> None:
    emulator: Emulator = emulator_factory("--tmp", "tmpdir")
    assert "absolute /tmp paths are shared" in emulator.console()
    assert emulator.health()["tmp"] == "tmpdir"
    name = f"lambda-tmp-{uuid.uuid4().hex}"
    try:
        first = emulator.invoke("fns.tmp_write", stage="base", name=name)["Body"]
        other = emulator.invoke("fns.tmp_read", stage="local", name=name)["Body"]
        assert other["exists"], "with --tmp tmpdir an absolute /tmp path IS shared: the banner must say so"
        assert first["tempdir"] != other["tempdir"] and first["tempdir"] != "/tmp", "each has its own TMPDIR"
    finally:
        Path("/tmp", name).unlink(missing_ok=True)


def test_paths_the_worker_needs_under_tmp_stay_reachable(tmp_path: Path) -> None:
    """The project of every test here lives under /tmp: it is bound back into the private /tmp, nothing else."""
    keep = private_tmp._outermost([str(tmp_path / "a" / "b"), str(tmp_path / "a"), str(tmp_path / "c")])
    assert keep == [str(tmp_path / "a"), str(tmp_path / "c")]
