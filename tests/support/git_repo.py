"""git in a repository a test made for itself: one way to run it, with an identity of its own (a CI machine may
have none configured)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    """``git ARGS`` in ``repo``; its output, stripped. Fails the test on a non-zero exit."""
    command = ["git", "-c", "user.email=rehearsal@example.test", "-c", "user.name=Rehearsal", *args]
    return subprocess.run(command, cwd=repo, check=True, capture_output=True, text=True).stdout.strip()
