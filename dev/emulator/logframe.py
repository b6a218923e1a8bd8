"""The lines Lambda's runtime writes around a function's own output: START, END, REPORT, and the fault lines.

Clients read these from the ``X-Amz-Log-Result`` tail (``zappa invoke`` prints nothing else), so their wording
follows Lambda's: ``Task timed out after N.NN seconds``, ``Runtime exited with error: ...`` and the REPORT fields.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime


def start_line(request_id: str) -> bytes:
    return f"START RequestId: {request_id} Version: $LATEST\n".encode()


def end_lines(
    request_id: str,
    duration_ms: float,
    memory_size: int,
    max_memory_mb: int,
    init_ms: float | None,
    warning: str | None = None,
) -> bytes:
    """END and REPORT; ``init_ms`` (the cold start's Init Duration) only for the first invocation of an environment.
    ``warning`` (the emulator's, e.g. a stage runtime that is not the workers' Python) ends the REPORT line, after
    Lambda's own fields, so parsers of those still read them."""
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
        f"Billed Duration: {max(1, math.ceil(duration_ms))} ms\tMemory Size: {memory_size} MB\t"
        f"Max Memory Used: {max_memory_mb} MB\t"
    )
    if init_ms is not None:
        report += f"Init Duration: {init_ms:.2f} ms\t"
    if warning:
        report += f"Emulator Warning: {warning}\t"
    return f"END RequestId: {request_id}\n{report}\n".encode()


def timeout_line(request_id: str, seconds: str) -> bytes:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return f"{stamp} {request_id} Task timed out after {seconds} seconds\n".encode()


def init_timeout_line(limit_ms: float) -> bytes:
    """What Lambda logs when an init ran past its 10 s limit and was finished within the first invocation."""
    return f"INIT_REPORT Init Duration: {limit_ms:.2f} ms\tPhase: init\tStatus: timeout\n".encode()


def exit_lines(message: str, error_type: str) -> bytes:
    """What Lambda logs when the runtime process ended: the error message, then the error type on its own line."""
    return f"{message}\n{error_type}\n".encode()


def frame(before: bytes, request_id: str, output: bytes, fault_lines: bytes, end: bytes) -> bytes:
    """One invocation's log: init output (cold starts), START, the function's output, fault lines, END/REPORT."""
    if output and not output.endswith(b"\n"):
        output += b"\n"
    return before + start_line(request_id) + output + fault_lines + end
