"""Seeding progress for people: a million rows take a while, and silence looks like a hang."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

ProgressFn = Callable[[str, int, int], None]
"""``progress(table, rows_done, rows_total)``, called after every committed chunk."""


class ProgressLine:
    """A ``progress`` callback: one self-overwriting line on a terminal, a line per 10% otherwise (CI)."""

    def __init__(self, stream: Any = sys.stderr):
        self.stream, self.tty, self._last = stream, stream.isatty(), {}

    def __call__(self, table: str, done: int, total: int) -> None:
        pct = 100 * done // max(total, 1)
        line = f"seeding {table}: {done:,}/{total:,} rows ({pct}%)"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
        elif done >= total or pct // 10 > self._last.get(table, -1):
            self.stream.write(line + "\n")
        self._last[table] = pct // 10
        self.stream.flush()
