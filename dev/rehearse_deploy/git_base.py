"""What production runs (BASE) and a checkout of it beside the working tree, with git.

BASE defaults to the merge base of HEAD with the main branch: what the PR goes onto, so what production runs once
the last merge was deployed. When HEAD *is* that commit and nothing is changed in the working tree (rehearsing on
main itself), there is nothing new to deploy over it, so the commit before HEAD is the base. The code to deploy
is always the working tree, uncommitted changes included, as ``zappa update`` would package it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

MAIN_BRANCHES = ("origin/main", "main", "origin/master", "master")


class GitError(RuntimeError):
    """A git question could not be answered; the message says what to fix."""


@dataclass(frozen=True)
class Base:
    label: str  # how BASE was chosen, for the report ("HEAD~1", "merge base with origin/main", a ref given)
    commit: str

    def describe(self) -> str:
        return f"{self.label} ({self.commit[:12]})"


def _git(repo: Path, *args: str, check: bool = True) -> str:
    if shutil.which("git") is None:
        raise GitError("git is not installed: the deploy rehearsal checks BASE out with `git worktree`")
    if not repo.is_dir():
        raise GitError(f"{repo} is not a directory: pass the project's checkout (--project-dir)")
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise GitError(f"`git {' '.join(args)}` failed in {repo}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip() if proc.returncode == 0 else ""


def _commit(repo: Path, ref: str) -> str:
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if not found:
        raise GitError(f"{ref!r} is not a commit in {repo}: pass BASE=<branch, tag or commit> (e.g. BASE=HEAD~1)")
    return found


def resolve_base(repo: Path, ref: str | None = None) -> Base:
    """``ref`` when given, else the merge base with the main branch, else ``HEAD~1`` (see the module docstring)."""
    if not _git(repo, "rev-parse", "--is-inside-work-tree", check=False):
        raise GitError(f"{repo} is not a git checkout: the deploy rehearsal compares the working tree with a commit")
    if ref:
        return Base(ref, _commit(repo, ref))
    head = _commit(repo, "HEAD")
    changed = bool(_git(repo, "status", "--porcelain", check=False))
    for branch in MAIN_BRANCHES:
        if _git(repo, "rev-parse", "--verify", "--quiet", branch, check=False):
            merge_base = _git(repo, "merge-base", "HEAD", branch, check=False)
            if merge_base and (merge_base != head or changed):
                return Base(f"merge base with {branch}", merge_base)
            break
    return Base("HEAD~1", _commit(repo, "HEAD~1"))


@contextmanager
def worktree(repo: Path, base: Base, dest: Path) -> Iterator[Path]:
    """BASE checked out at ``dest`` (a detached git worktree of ``repo``), removed afterwards."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    _git(repo, "worktree", "add", "--detach", "--force", str(dest), base.commit)
    try:
        yield dest
    finally:
        _git(repo, "worktree", "remove", "--force", str(dest), check=False)
        shutil.rmtree(dest, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)
