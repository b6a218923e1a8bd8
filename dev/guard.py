"""Refuse to point the local harness at a shared database.

The sandbox, the emulator and the ``make invoke-*`` targets run migrations: pointed at staging or production by a
stray ``DATABASE_URL`` in a shell, they would change a shared schema from a laptop. Schema changes reach shared
databases only through a reviewed PR and ``zappa invoke <stage> 'run.run_alembic_upgrade'`` after deploy. So the
harness accepts only databases that are obviously local: a loopback address, a Unix socket, or the compose ``db``
service. ``SANDBOX_ALLOW_REMOTE_DB=1`` is the deliberate, visible way around it (e.g. a Postgres VM of your own).

    python -m dev.guard                  # checks $DATABASE_URL (nothing set: nothing to check)
    python -m dev.guard postgresql://...
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

ALLOW_VARIABLE = "SANDBOX_ALLOW_REMOTE_DB"
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
COMPOSE_SERVICES = frozenset({"db"})


class RemoteDatabaseError(RuntimeError):
    """A DATABASE_URL points at a host that is not this machine; the message says why that is refused."""


def _hosts(url: str) -> list[str]:
    """Every host the URL can connect to: libpq allows ``h1,h2`` lists and a ``?host=`` query parameter."""
    parts = urlsplit(url.strip())
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL (scheme {parts.scheme!r}): expected postgresql://user@host:port/db")
    netloc = parts.netloc.rpartition("@")[2]
    hosts: list[str] = []
    for item in netloc.split(","):
        if item.startswith("["):  # [::1]:5432
            hosts.append(item[1 : item.index("]")] if "]" in item else item[1:])
        else:
            hosts.append(item.rsplit(":", 1)[0] if item.count(":") == 1 else item)
    query = parse_qs(parts.query)
    for value in query.get("host", []) + query.get("hostaddr", []):
        hosts.extend(value.split(","))
    hosts = [unquote(host).strip() for host in hosts]
    # A query host replaces an empty netloc host; an empty list means libpq's default: the local Unix socket.
    return [host for host in hosts if host] or [""]


def is_local_host(host: str) -> bool:
    """Loopback address or name, a Unix-socket directory (or the libpq default socket), or the compose db."""
    if host == "" or host.startswith("/") or host.startswith("@"):  # "@" is an abstract-namespace socket
        return True
    name = host.lower().rstrip(".")
    if name in LOCAL_NAMES or name in COMPOSE_SERVICES:
        return True
    try:
        return ipaddress.ip_address(name.split("%", 1)[0]).is_loopback
    except ValueError:
        return False  # a DNS name: never resolved, since a name can point anywhere tomorrow


def check_database_url(url: str, environ: Mapping[str, str] | None = None) -> None:
    """Raise ``RemoteDatabaseError`` unless ``url`` is a local database or the override is set."""
    environ = os.environ if environ is None else environ
    if environ.get(ALLOW_VARIABLE) == "1":
        return
    remote = [host for host in _hosts(url) if not is_local_host(host)]
    if remote:
        raise RemoteDatabaseError(
            f"refusing DATABASE_URL with host {', '.join(remote)}: the sandbox, the emulator and `make invoke-*` "
            "run migrations, and only local databases (127.0.0.1/localhost/::1, a Unix socket, or the compose "
            "`db` service) are allowed. Schema changes reach shared databases only through a reviewed PR and, "
            "after deploy, `zappa invoke <stage> 'run.run_alembic_upgrade'`. To use the sandbox database, unset "
            f"DATABASE_URL (`make status` prints the sandbox's). If this really is your own throwaway server, "
            f"set {ALLOW_VARIABLE}=1."
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    url = argv[0] if argv else os.environ.get("DATABASE_URL", "")
    if not url:
        return 0
    try:
        check_database_url(url)
    except (RemoteDatabaseError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
