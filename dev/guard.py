"""Refuse to point the local harness at a shared database.

The sandbox, the emulator and the ``make invoke-*`` targets run functions and migrations: pointed at staging or
production by a stray URL in a shell or in a stage's settings, they would change a shared schema from a laptop.
Schema changes reach shared databases only through a reviewed PR and ``zappa invoke <stage> ...`` after deploy. So
the harness accepts only databases that are obviously local: a loopback address, a Unix socket, or the compose ``db``
service. ``SANDBOX_ALLOW_REMOTE_DB=1`` is the deliberate, visible way around it (e.g. a Postgres VM of your own).

Two checks:

- :func:`check_database_url`: the harness's own ``DATABASE_URL``, which must be PostgreSQL;
- :func:`check_variables`: every variable a function will get, judged by its *value*, not its name (a project may
  call it ``SQLALCHEMY_DATABASE_URI``, ``POSTGRES_URL`` or ``DB``): any database URL in it (PostgreSQL, MySQL,
  MariaDB, SQL Server, Oracle, MongoDB, Redis, ...) must point at this machine. SQLite and DuckDB files are local.
  Split settings too (Django's ``DATABASES`` from ``DATABASE_HOST``, libpq's ``PGHOST``, ``DB_HOST``,
  ``POSTGRES_HOST``): a variable whose *name* says host (``*HOST``, ``*_HOSTNAME``, ``*HOSTADDR``) must hold a
  loopback address or name, a Unix-socket directory, or a sandbox service's name (``db``, ``lambda``, ``hub``).

    python -m dev.guard                  # checks $DATABASE_URL (nothing set: nothing to check)
    python -m dev.guard postgresql://...
"""

from __future__ import annotations

import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from urllib.parse import parse_qs, unquote, urlsplit

ALLOW_VARIABLE = "SANDBOX_ALLOW_REMOTE_DB"
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
COMPOSE_SERVICES = frozenset({"db"})
#: Every sandbox service a function may be pointed at by name (docker-compose.yml's services).
SANDBOX_SERVICES = frozenset({"db", "lambda", "hub"})
#: A variable whose name says it holds a host: DATABASE_HOST, PGHOST, DB_HOSTNAME, PGHOSTADDR (not ALLOWED_HOSTS).
_HOST_NAME = re.compile(r"HOST(?:NAME|ADDR)?$", re.IGNORECASE)
# URL schemes of network databases (SQLAlchemy's ``dialect+driver://`` included: the part before "+" counts).
DATABASE_SCHEMES = frozenset(
    {
        "postgres", "postgresql", "pgsql", "psql", "cockroachdb", "redshift", "timescaledb",
        "mysql", "mariadb", "mssql", "sqlserver", "oracle", "db2", "ibm_db_sa", "hana", "teradata", "vertica",
        "firebird", "sybase", "snowflake", "clickhouse", "trino", "presto", "crate",
        "mongodb", "redis", "rediss", "valkey", "memcached", "couchdb", "cassandra", "neo4j", "elasticsearch",
    }
)  # fmt: skip
_URL = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*)://[^\s'\"<>]*")
_LIBPQ_FAMILY = ("postgres", "postgresql", "pgsql", "psql", "cockroachdb", "redshift", "timescaledb")


class RemoteDatabaseError(RuntimeError):
    """A DATABASE_URL points at a host that is not this machine; the message says why that is refused."""


def _base_scheme(scheme: str) -> str:
    return scheme.lower().split("+", 1)[0]


def url_hosts(url: str) -> list[str]:
    """Every host a database URL can connect to: comma-separated host lists (libpq, MongoDB), libpq's ``?host=`` and
    ``?hostaddr=``; "" for the default local socket; a MySQL ``?unix_socket=`` path."""
    parts = urlsplit(url.strip())
    netloc = parts.netloc.rpartition("@")[2]
    hosts: list[str] = []
    for item in netloc.split(","):
        if item.startswith("["):  # [::1]:5432
            hosts.append(item[1 : item.index("]")] if "]" in item else item[1:])
        else:
            hosts.append(item.rsplit(":", 1)[0] if item.count(":") == 1 else item)
    query = parse_qs(parts.query)
    names = ("host", "hostaddr") if _base_scheme(parts.scheme) in _LIBPQ_FAMILY else ("unix_socket",)
    for name in names:
        for value in query.get(name, []):
            hosts.extend(value.split(","))
    hosts = [unquote(host).strip() for host in hosts]
    # A query host replaces an empty netloc host; an empty list means the default: the local Unix socket.
    return [host for host in hosts if host] or [""]


def _hosts(url: str) -> list[str]:
    """The hosts of a PostgreSQL URL; ValueError for any other scheme (the harness's own database is PostgreSQL)."""
    scheme = urlsplit(url.strip()).scheme
    if not scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL (scheme {scheme!r}): expected postgresql://user@host:port/db")
    return url_hosts(url)


def database_urls(value: str) -> list[str]:
    """The network-database URLs in a variable's value (anywhere in it: a JSON blob or a DSN list counts too)."""
    return [m.group(0) for m in _URL.finditer(value) if _base_scheme(m.group(1)) in DATABASE_SCHEMES]


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


def _refusal(name: str, remote: list[str], what_to_do: str, source: str = "") -> RemoteDatabaseError:
    """The one message: neutral about the project (any Zappa project may be behind the emulator); never the URL,
    which may hold a password."""
    where = f" (from {source})" if source else ""
    return RemoteDatabaseError(
        f"refusing {name} with host {', '.join(remote)}{where}: the local harness runs functions and migrations "
        "against it, and only databases on this machine (127.0.0.1/localhost/::1, a Unix socket, or the compose `db` "
        "service) are allowed. Schema changes reach shared databases only through a reviewed PR and, after deploy, "
        f"`zappa invoke <stage> ...`. {what_to_do} If this really is your own throwaway server, set "
        f"{ALLOW_VARIABLE}=1."
    )


def remote_hosts(url: str) -> list[str]:
    """The hosts of ``url`` that are not this machine."""
    return [host for host in url_hosts(url) if not is_local_host(host)]


def check_database_url(url: str, environ: Mapping[str, str] | None = None) -> None:
    """Raise ``RemoteDatabaseError`` unless the PostgreSQL ``url`` is a local database or the override is set."""
    environ = os.environ if environ is None else environ
    remote = [host for host in _hosts(url) if not is_local_host(host)]
    if remote and environ.get(ALLOW_VARIABLE) != "1":
        raise _refusal("DATABASE_URL", remote, "Point DATABASE_URL at a local database, or unset it.")


def is_host_variable(name: str) -> bool:
    """The variable's name says it holds a host name (``DATABASE_HOST``, ``PGHOST``, ``DB_HOSTNAME``)."""
    return bool(_HOST_NAME.search(name))


def named_hosts(value: str) -> list[str]:
    """The hosts in a host variable's value: ``name``, ``name:port``, ``[::1]:5432``, libpq's comma-separated list,
    a URL's host, or a Unix-socket directory."""
    hosts = []
    for item in str(value).split(","):
        item = item.strip()
        if "://" in item:
            item = urlsplit(item).hostname or ""
        elif item.startswith("["):
            item = item[1 : item.index("]")] if "]" in item else item[1:]
        elif item.count(":") == 1:
            item = item.split(":", 1)[0]
        hosts.append(item)
    return [host for host in hosts if host]


def remote_named_hosts(name: str, value: str) -> list[str]:
    """The hosts a host variable names that are neither this machine nor a sandbox service ([] for other names)."""
    if not is_host_variable(name):
        return []
    return [host for host in named_hosts(value) if not is_local_host(host) and host.lower() not in SANDBOX_SERVICES]


def check_variables(variables: Mapping[str, str], source: str, environ: Mapping[str, str] | None = None) -> None:
    """Raise ``RemoteDatabaseError`` if any value holds a database URL whose host is not this machine, or a variable
    whose name says host (``DATABASE_HOST``, ``PGHOST``) names a host that is neither this machine nor a sandbox
    service.

    ``source`` says where the variables come from ("--pass-env", "stage 'local' of zappa_settings.json"), so the
    message says where to fix it. Every variable is checked by value, whatever its name; host variables by name too.
    """
    environ = os.environ if environ is None else environ
    if environ.get(ALLOW_VARIABLE) == "1":
        return
    for name, value in sorted(variables.items()):
        hosts = remote_named_hosts(name, str(value))
        if hosts:
            services = ", ".join(sorted(SANDBOX_SERVICES))
            raise _refusal(
                name,
                sorted(set(hosts)),
                f"Set {name} to 127.0.0.1 (or a sandbox service's name in Docker mode: {services}) in the stage you "
                f"serve (its environment_variables), or pass a local value with --pass-env {name}.",
                source,
            )
        remote = [host for url in database_urls(str(value)) for host in remote_hosts(url)]
        if remote:
            raise _refusal(
                name,
                sorted(set(remote)),
                f"Point {name} at a local database: override it in the stage you serve (its environment_variables) "
                f"or pass a local value with --pass-env {name}.",
                source,
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
