"""The function's own words for a failed request, from the emulator's console (Lambda's CloudWatch log).

Every invocation's log is framed ``START RequestId: ID`` ... ``END RequestId: ID`` and printed whole, one
invocation at a time; the API front answers each request with the same id (``x-amzn-RequestId``). The error line
is the last line of the invocation's traceback: ``sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn)
column videos.view_count does not exist``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from .traffic import Record

_FRAME = re.compile(r"^START RequestId: (\S+).*?$(.*?)^END RequestId: \1$", re.MULTILINE | re.DOTALL)
# "package.module.Error: text" or "SomeError: text" (a traceback's last line), not "Traceback (most recent ...":
_ERROR_LINE = re.compile(r"^(?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*: \S.*$|^[A-Z]\w*(?:Error|Exception|Exit): .*$")


def error_lines(console: str) -> dict[str, str]:
    """request id -> the last error line of that invocation's log, for every invocation that logged one."""
    found = {}
    for match in _FRAME.finditer(console):
        lines = [line.strip() for line in match.group(2).splitlines()]
        errors = [line for line in lines if _ERROR_LINE.match(line)]
        if errors:
            found[match.group(1)] = errors[-1][:300]
    return found


def attach(records: Iterable[Record], consoles: Iterable[Path]) -> None:
    """Each failed request's error becomes the function's own error line, when its invocation logged one: read
    once, after the run, from every version's console."""
    found: dict[str, str] = {}
    for path in consoles:
        try:
            found.update(error_lines(path.read_text(errors="replace")))
        except OSError:
            continue
    for record in records:
        if record.failed and record.request_id in found:
            record.error = found[record.request_id]
