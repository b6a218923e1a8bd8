"""TCP ports on this machine: one free to bind, or whether one is taken.

Every launcher (the emulator client, the sandbox, the tests) asks here, so "is 9000 taken?" has one answer. Only the
standard library: the emulator's own interpreter may have nothing else installed (``make package-check``).
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now (the kernel picks it).

    Also the way to get a *closed* port for a test that needs a connection to be refused: nothing listens there,
    unlike a fixed low port such as 1, which root may bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_in_use(port: int, host: str = LOOPBACK) -> bool:
    """Something listens on ``port`` (connect succeeds) or holds it (bind fails, e.g. a 0.0.0.0 listener)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def reachable(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """A TCP connection to ``host:port`` opens (name resolved, something answers): how a command that failed to
    download tells "you are offline" from any other failure, in one line instead of the tool's traceback."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
