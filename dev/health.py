"""Waiting for a local service to answer: the one wait loop every launcher uses.

The emulator client, the embedded sandbox and the Docker sandbox all start something, then poll its health URL until
it answers 200, its process exits, or a deadline passes. The error for the last two cases is the useful part: it says
which URL did not answer and shows the end of the service's log, where the reason is. Only the standard library (it
also runs as the container's health probe, through ``python -m dev.services health``).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

LOG_TAIL_LINES = 40


class NotHealthy(RuntimeError):
    """The service did not answer in time, or exited first; the message ends with its log tail when there is one.

    ``reason`` is ``"exited"`` or ``"timeout"``, for callers that clean up differently in each case.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def http_healthy(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 200; every failure (refused, timeout, 5xx) is just "not yet"."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file, or a note saying there is none."""
    if path is None:
        return ""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


def wait_healthy(
    url: str,
    *,
    timeout: float,
    exited: Callable[[], bool] | None = None,
    log: Path | None = None,
    what: str = "the service",
    hint: str = "",
    interval: float = 0.05,
) -> None:
    """Return once ``url`` answers 200; raise :class:`NotHealthy` when ``exited()`` turns true or ``timeout`` s pass.

    ``log`` is the service's log file (its tail goes into the error), ``what`` names the service in the message and
    ``hint`` says what to do next.
    """
    deadline = time.monotonic() + timeout
    while not http_healthy(url, timeout=1.0):
        if exited is not None and exited():
            raise NotHealthy(_message(f"{what} exited before answering {url}", log, hint), "exited")
        if time.monotonic() > deadline:
            raise NotHealthy(_message(f"{what} did not answer {url} within {timeout:.0f} s", log, hint), "timeout")
        time.sleep(interval)


def _message(headline: str, log: Path | None, hint: str) -> str:
    parts = [headline]
    if log is not None:
        parts.append(f"the end of {log}:\n{log_tail(log)}")
    if hint:
        parts.append(hint)
    return "\n".join(parts)
