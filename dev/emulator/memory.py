"""Peak resident memory of an execution environment: the figure Lambda compares with ``memory_size``.

Two sources, so the limit holds on every platform the README names:

- **while the function runs** (Linux): ``/proc/PID/status`` ``VmHWM``, the kernel's peak RSS, polled by the runtime
  every few milliseconds. A runaway allocation is killed mid-call, as Lambda kills it.
- **when the function returns** (everywhere): the worker reports its own ``getrusage`` peak (``ru_maxrss``) with every
  reply, so memory allocated and freed between two polls, or on a system without ``/proc`` (macOS), still ends in
  ``Runtime.OutOfMemory``. Without ``/proc`` that is the only check: the emulator says so at start-up.

Standard library only: the emulator may run under an interpreter with nothing installed (``make package-check``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")

#: A probe gives the peak RSS in MB of a live process, or None when this platform cannot tell from outside.
MemoryProbe = Callable[[int], "float | None"]


def proc_peak_mb(pid: int, proc: Path = PROC) -> float | None:
    """VmHWM of ``pid`` in MB; 0 when the process is gone; None when there is no ``/proc`` to read."""
    if not (proc / "self" / "status").is_file():
        return None
    try:
        with open(proc / str(pid) / "status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return 0.0


def live_probe_available(probe: MemoryProbe = proc_peak_mb) -> bool:
    """Whether ``probe`` can watch a running process on this machine (asked about our own process)."""
    return probe(os.getpid()) is not None


def describe(live: bool, why: str = "") -> str:
    """One line for the emulator's start-up banner; ``why`` says why the live check is off."""
    if live:
        return "memory_size: peak RSS watched while functions run (/proc VmHWM) and checked when they return"
    return (
        f"note: memory_size is checked when a function returns (its own getrusage peak), not while it runs{why}: "
        "a runaway allocation is not stopped mid-call"
    )
