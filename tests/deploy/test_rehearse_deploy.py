"""``make rehearse-deploy`` end to end: a git repository of this app whose last commit is a fixture change, rehearsed
with the real CLI (both versions in emulators, the router, the hub, traffic, the migrations through the new
package), and judged by the numbers in ``report.json``.

The changes are fixtures (``changes/``), stacked on whatever head the shipped history has, and the model edits are
appended to ``models.py``, so nothing here depends on the shipped revisions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dev.emulator.client import CODE_ROOT
from dev.project_copy import copy_deployable
from tests.support.fixture_history import stack_on_head
from tests.support.git_repo import git
from tests.support.paths import DEPLOY_CHANGES

pytestmark = pytest.mark.emulator

CHANGES = DEPLOY_CHANGES
ADD_PROBE_COLUMN = CHANGES / "add_probe_column" / "versions"
RENAME_PROBE_COLUMN = CHANGES / "rename_probe_column" / "versions"
# Every column a fixture adds is named deploy_probe_*: a team's own column (view_count, say) never collides with it.
PROBE_COUNT_IN_MODEL = "\n\nVideo.deploy_probe_count = sa.Column(sa.BigInteger)  # fixture: the model reads it\n"
PROBE_VIEWS_IN_MODEL = '\n\nVideo.deploy_probe_count = sa.Column("deploy_probe_views", sa.BigInteger)\n'
LOCK_TIMEOUT_MS = 1000  # what the fixture revisions set, as the template does


@dataclass
class Repo:
    path: Path

    def change(self, versions: Path | None = None, model: str | None = None, replace_model: str | None = None) -> None:
        if versions is not None:
            stack_on_head(versions, self.path / "migrations" / "versions")
        models = self.path / "yt_pubsub_handler" / "models.py"
        if replace_model is not None:
            models.write_text(models.read_text().replace(replace_model, model or ""))
        elif model is not None:
            models.write_text(models.read_text() + model)

    def commit(self, message: str) -> None:
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    """This app as the first commit of a repository of its own (the harness included: the probe runs from it)."""
    path = copy_deployable(tmp_path / "repo", with_harness=True)
    git(path, "init", "-q", "-b", "main")
    created = Repo(path)
    created.commit("the app as production runs it")
    return created


@dataclass
class Outcome:
    code: int
    output: str
    report: dict

    def phase(self, name: str) -> dict:
        return next(p for p in self.report["phases"] if p["name"] == name)

    def failing(self) -> set[str]:
        return {p["name"] for p in self.report["phases"] if p["errors"]}


def rehearse(repo: Repo, pg_admin_url: str, tmp_path: Path, *args: str) -> Outcome:
    out = tmp_path / "out"
    argv = [sys.executable, "-m", "dev.rehearse_deploy", "--project-dir", str(repo.path), "--base", "HEAD~1"]
    argv += ["--rows", "2000", "--hold", "2", "--concurrency", "2", "--database-url", pg_admin_url]
    argv += ["--out-dir", str(out), *args]
    proc = subprocess.run(argv, cwd=CODE_ROOT, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    assert (out / "report.json").is_file(), output
    assert (out / "timeline.png").stat().st_size > 10_000, output
    assert "# Deploy rehearsal" in (out / "report.md").read_text()
    assert (out / "requests.csv").read_text().startswith("sent_s,received_s,phase,route,status,ms,request_id,error")
    return Outcome(proc.returncode, output, json.loads((out / "report.json").read_text()))


def test_a_model_column_shipped_with_its_revision_fails_in_the_update_window(
    repo: Repo, pg_admin_url: str, tmp_path: Path
) -> None:
    repo.change(ADD_PROBE_COLUMN, PROBE_COUNT_IN_MODEL)
    repo.commit("add videos.deploy_probe_count, and the model reads it")
    result = rehearse(repo, pg_admin_url, tmp_path)
    report = result.report
    assert result.code == 1, result.output
    assert report["safe"] is False and report["order"] == "update-first"
    update = result.phase("update")
    assert update["errors"] > 0 and update["errors"] == sum(update["errors_by_route"].values())
    assert "deploy_probe_count" in update["first_error"] and "does not exist" in update["first_error"], update
    assert "GET /channels/<id>/videos" in update["errors_by_route"], update
    # The old version and the new one on the new schema serve every request.
    for clean in ("before", "after", "restored"):
        assert result.phase(clean)["errors"] == 0, result.phase(clean)
    assert report["migration"]["revisions"] == ["de910e000001"] and report["migration"]["retries"] == 0
    assert "new code on the old schema" in report["verdict"] and "two releases" in report["verdict"]
    assert "videos.deploy_probe_count does not exist" in report["verdict"]


def test_the_same_revision_without_the_model_change_is_safe(repo: Repo, pg_admin_url: str, tmp_path: Path) -> None:
    repo.change(ADD_PROBE_COLUMN)
    repo.commit("add videos.deploy_probe_count; no code reads it yet")
    result = rehearse(repo, pg_admin_url, tmp_path)
    report = result.report
    assert result.code == 0, result.output
    assert report["safe"] is True and report["verdict"].startswith("safe in this order")
    assert [p["name"] for p in report["phases"]] == ["before", "update", "migrate", "after", "rollback", "restored"]
    assert all(p["errors"] == 0 for p in report["phases"]), report["phases"]
    assert all(p["requests"] > 0 for p in report["phases"] if p["name"] != "migrate"), report["phases"]
    assert report["migration"]["revisions"] == ["de910e000001"]
    assert report["rollback"]["revisions"] == ["de910e000001"] and report["rollback"]["error"] is None
    assert max(p["max_lock_wait_ms"] for p in report["phases"]) <= report["lock_wait_ceiling_ms"]


@pytest.mark.parametrize(("order", "window"), [("update-first", "update"), ("migrate-first", "migrate")])
def test_a_rename_fails_in_one_window_whatever_the_order(
    repo: Repo, pg_admin_url: str, tmp_path: Path, order: str, window: str
) -> None:
    repo.change(ADD_PROBE_COLUMN, PROBE_COUNT_IN_MODEL)
    repo.commit("videos.deploy_probe_count, read by the model (what production runs)")
    repo.change(RENAME_PROBE_COLUMN, PROBE_VIEWS_IN_MODEL, replace_model=PROBE_COUNT_IN_MODEL)
    repo.commit("rename videos.deploy_probe_count to deploy_probe_views, and the model with it")
    result = rehearse(repo, pg_admin_url, tmp_path, "--order", order)
    assert result.code == 1, result.output
    failed = result.phase(window)
    assert failed["errors"] > 0, result.report["phases"]
    # The old code reads deploy_probe_count after the rename; the new code reads deploy_probe_views before it.
    missing = "deploy_probe_count" if window == "migrate" else "deploy_probe_views"
    assert f"videos.{missing} does not exist" in failed["first_error"], failed
    assert result.phase("before")["errors"] == 0 and result.phase("after")["errors"] == 0
    expected = "old code on the new schema" if order == "migrate-first" else "new code on the old schema"
    assert expected in result.report["verdict"]


def test_add_column_behind_a_long_transaction_retries_without_stalling_the_app(
    repo: Repo, pg_admin_url: str, tmp_path: Path
) -> None:
    repo.change(ADD_PROBE_COLUMN)
    repo.commit("add videos.deploy_probe_count; no code reads it yet")
    result = rehearse(repo, pg_admin_url, tmp_path, "--long-tx", "20")
    report = result.report
    assert result.code == 0, result.output
    assert "videos" in report["long_tx"]["tables"] and report["long_tx"]["seconds"] == 20
    migration = report["migration"]
    assert migration["ok"] and migration["revisions"] == ["de910e000001"]
    assert migration["retries"] >= 1, migration  # in one invocation: the migrator retried, nobody invoked again
    assert all("lock timeout" in retry["error"] for retry in migration["retry_details"])
    longest = max(p["max_lock_wait_ms"] for p in report["phases"])
    assert longest <= LOCK_TIMEOUT_MS + 1000, [p["longest_lock_wait"] for p in report["phases"]]
    assert all(p["errors"] == 0 for p in report["phases"]), report["phases"]
