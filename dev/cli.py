"""What every ``python -m dev.*`` entry point shares: a reader that stops reading is a normal end.

    if __name__ == "__main__":
        run(main)

``make up | head -1`` closes the pipe after one line; Python then raises ``BrokenPipeError`` at the next write
and prints a traceback (or "Exception ignored ... BrokenPipeError" when the flush at exit fails). Here, output
written after the reader has gone is discarded and the command goes on to finish its work: a sandbox left half
started because nobody read its progress would be worse than lost lines. The exit status is the command's own.

Why not ``signal(SIGPIPE, SIG_DFL)``, the C tools' behaviour: it would also kill the process when a socket to
the emulator or PostgreSQL closes while it writes (Python's documentation, "Note on SIGPIPE", warns against it).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TextIO


class _ClosedPipeTolerant:
    """A text stream whose writes end up in /dev/null once its reader has gone (everything else is the stream's)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _discard(self) -> None:
        """Point the stream's file descriptor at /dev/null: what is buffered and what comes next goes nowhere,
        and so does the output of any child process that shares the descriptor from now on."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, self._stream.fileno())
        finally:
            os.close(devnull)
        with contextlib.suppress(OSError):
            self._stream.flush()

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._discard()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._discard()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def tolerate_closed_pipes() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` discard output once their reader has gone (module docstring)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, _ClosedPipeTolerant):
            setattr(sys, name, _ClosedPipeTolerant(stream))


def run(main: Callable[[], int | None]) -> NoReturn:
    """Run a CLI's ``main()`` and exit with its status, a closed pipe being no error (module docstring)."""
    tolerate_closed_pipes()
    status = main()
    sys.stdout.flush()
    sys.exit(status)
