"""The PR workflow is valid GitHub Actions syntax and runs what the Makefile promises (checked offline)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "migrations.yml"


def test_workflow_matches_the_github_schema() -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    if not tool.exists():
        pytest.fail("check-jsonschema is missing from the venv: run `make setup` (pinned in requirements-dev.txt)")
    proc = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_workflow_runs_the_kit_and_uploads_the_sql() -> None:
    import yaml

    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["check-migrations"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    runs = [step.get("run", "") for step in job["steps"]]
    assert "make check-migrations" in runs
    assert any(r.startswith("make migration-sql SINCE=") for r in runs)
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].startswith("build/migration-sql")
    targets = (ROOT / "make" / "migrations.mk").read_text()
    for target in ("check-migrations:", "migration-sql:", "lock-report:"):
        assert target in targets


def test_workflow_attaches_the_rehearsal_table_and_chart() -> None:
    import yaml

    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["rehearse"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    runs = [step.get("run", "") for step in job["steps"]]
    assert any(r.startswith("make rehearse STAGE=production ROWS=") for r in runs), runs
    assert any("build/rehearse/rehearse.md" in r and "GITHUB_STEP_SUMMARY" in r for r in runs), runs
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["with"]["path"].startswith("build/rehearse")
    assert upload["if"] == "always()"
    assert "rehearse:" in (ROOT / "make" / "migrations.mk").read_text()


def test_pull_requests_rehearse_the_deploy_against_their_base_and_attach_the_report() -> None:
    import yaml

    job = yaml.safe_load(WORKFLOW.read_text())["jobs"]["rehearse-deploy"]
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["fetch-depth"] == 0, "BASE must be in the clone"
    runs = [step.get("run", "") for step in job["steps"]]
    assert any(r.startswith("make rehearse-deploy BASE=$(git merge-base HEAD origin/") for r in runs), runs
    assert any("build/rehearse-deploy/report.md" in r and "GITHUB_STEP_SUMMARY" in r for r in runs), runs
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "build/rehearse-deploy/timeline.png" in upload["with"]["path"] and upload["if"] == "always()"
    assert "rehearse-deploy:" in (ROOT / "make" / "migrations.mk").read_text()
