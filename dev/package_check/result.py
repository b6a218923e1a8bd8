"""What a check reports, and the error for a check that could not run."""

from __future__ import annotations

from dataclasses import dataclass


class PackageCheckError(RuntimeError):
    """The check could not run (environment, build, database); the message says what to do next."""


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def progress(message: str) -> None:
    print(f"package-check: {message}", flush=True)
