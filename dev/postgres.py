"""Embedded PostgreSQL: a private cluster from the machine's server binaries, for tests and the sandbox.

The harness starts ``postgres`` itself, so the tests and the embedded sandbox need no Docker engine. PostgreSQL
refuses to run as root (and CI runs as root); as root we run the server binaries as an unprivileged system user
that owns the data directory, and keep the cluster where that user can reach it: ``cluster_dir()`` and
``service_tempdir()`` pick such a place (outside a checkout under ``/root``, whose 0700 mode stops that user).
A library only: the sandbox (``make up``, ``make down``, ``make status``) is how people start and stop a cluster.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dev.ports import free_port, port_in_use

if TYPE_CHECKING:
    import sqlalchemy as sa

SERVICE_USER = os.environ.get("PG_SERVICE_USER", "pgsandbox")
# As root, clusters whose preferred directory the service user cannot reach live here instead (world-traversable,
# outside any checkout). PG_CLUSTER_ROOT moves it.
DEFAULT_CLUSTER_ROOT = Path("/var/tmp/pgsandbox")
SUPERUSER = "postgres"
CONNECT_TIMEOUT = 10  # seconds: the harness talks to local servers only
REQUIRED = ("initdb", "pg_ctl", "postgres", "pg_isready")
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found. Install them with "
    "`apt-get install postgresql-15` (Debian/Ubuntu) or `brew install postgresql@15` (macOS), or point "
    "PG_BINDIR at the directory that holds them."
)


class PostgresError(RuntimeError):
    """The embedded cluster could not be created, started or stopped; the message says what to do."""


def find_bindir() -> Path:
    """Locate the server binaries: $PG_BINDIR, `pg_config --bindir`, PATH, then Debian's versioned dirs."""
    candidates: list[Path] = []
    if os.environ.get("PG_BINDIR"):
        candidates.append(Path(os.environ["PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
        except (subprocess.SubprocessError, OSError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    versioned = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    candidates.extend(Path(p) for p in versioned)
    for directory in candidates:
        if all((directory / name).is_file() for name in REQUIRED):
            return directory
    raise PostgresError(INSTALL_HINT)


def _ensure_service_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(SERVICE_USER)


def _untraversable_parent(path: Path, uid: int) -> Path | None:
    """The first existing directory on ``path`` that user ``uid`` cannot pass through, if any."""
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue  # created later by root with the usual umask: traversable
        st = parent.stat()
        if st.st_uid != uid and not st.st_mode & 0o001:
            return parent
    return None


def _service_uid() -> int | None:
    """The uid the server runs as when we are root (None when we are not: the server runs as us)."""
    return _ensure_service_user().pw_uid if os.geteuid() == 0 else None


def reachable(path: Path) -> bool:
    """The server's user can reach ``path`` (always true when we are not root: the server runs as us)."""
    uid = _service_uid()
    return uid is None or _untraversable_parent(Path(path).resolve(), uid) is None


def _check_traversable(path: Path, uid: int) -> None:
    """The service user must be able to reach the data dir; a 0700 parent (pytest's tmp) silently breaks it."""
    parent = _untraversable_parent(path, uid)
    if parent is not None:
        st = parent.stat()
        raise PostgresError(
            f"{parent} is not traversable by the '{SERVICE_USER}' user that runs PostgreSQL as root "
            f"(mode {oct(st.st_mode & 0o777)}): choose a directory under a world-traversable path, "
            f"or `chmod o+x {parent}`"
        )


def cluster_root() -> Path:
    """Where clusters go when their preferred place is out of the service user's reach (see DEFAULT_CLUSTER_ROOT)."""
    root = Path(os.environ.get("PG_CLUSTER_ROOT") or DEFAULT_CLUSTER_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(root.stat().st_mode | 0o011)  # traversable, not listable by others
    return root


def cluster_dir(preferred: Path, label: str = "cluster") -> Path:
    """Where a cluster that would like to live in ``preferred`` can live: ``preferred`` itself when the server's
    user can reach it, else a directory under ``cluster_root()`` keyed by ``preferred``'s absolute path.

    As root the server runs as an unprivileged user, and a checkout under a 0700 directory (``/root/src/app``) is
    out of its reach. An existing cluster in either place wins, so the data never moves silently.
    """
    preferred = Path(preferred).resolve()
    if os.geteuid() != 0:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    keyed = (Path(os.environ.get("PG_CLUSTER_ROOT") or DEFAULT_CLUSTER_ROOT) / f"{label}-{digest}").resolve()
    for candidate in (preferred, keyed):
        if (candidate / "data" / "PG_VERSION").is_file() and reachable(candidate):
            return candidate
    if reachable(preferred):
        return preferred
    cluster_root()
    return keyed


def service_tempdir(prefix: str) -> Path:
    """A new temporary directory that the server's user can reach, for throwaway clusters (tests, bench).

    Under the usual temporary directory when that is reachable, else under ``cluster_root()``.
    """
    parent = Path(tempfile.gettempdir())
    if not reachable(parent / "probe"):
        parent = cluster_root()
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    path.chmod(0o755)
    return path


@dataclass
class EmbeddedPostgres:
    """One cluster in ``base_dir`` (``data/``, ``run/`` for the socket, ``postgres.log``), on 127.0.0.1:port."""

    base_dir: Path
    port: int | None = None
    host: str = "127.0.0.1"
    fast_unsafe: bool = False  # fsync off: for throwaway test clusters only
    bindir: Path = field(default_factory=find_bindir)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir).resolve()

    # -- paths -------------------------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "run"

    @property
    def log_file(self) -> Path:
        return self.base_dir / "postgres.log"

    @property
    def port_file(self) -> Path:
        return self.base_dir / "port"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    # -- running binaries as the right user ----------------------------------------------------------------
    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", SERVICE_USER, "--", *argv]

    def _run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = self._as_owner([str(self.bindir / argv[0]), *argv[1:]])
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.base_dir)
        return result

    def _prepare_dirs(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            user = _ensure_service_user()
            _check_traversable(self.base_dir, user.pw_uid)
            for path in (self.base_dir, self.socket_dir, *([self.data_dir] if self.data_dir.exists() else [])):
                os.chown(path, user.pw_uid, user.pw_gid)
            if self.log_file.exists():
                os.chown(self.log_file, user.pw_uid, user.pw_gid)

    # -- lifecycle --------------------------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> None:
        self._prepare_dirs()
        if self.initialised():
            return
        result = self._run(
            [
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
        )
        if result.returncode != 0:
            raise PostgresError(f"initdb failed (exit {result.returncode}):\n{result.stderr.strip()}")

    def status(self) -> bool:
        """True when this cluster's postmaster is running."""
        if not self.initialised():
            return False
        result = self._run(["pg_ctl", "-D", str(self.data_dir), "status"], timeout=30)
        return result.returncode == 0

    def start(self, wait_seconds: float = 30) -> EmbeddedPostgres:
        """Start (idempotent): an already running cluster keeps its port."""
        self.init()
        if self.status():
            self.port = self.recorded_port() or self.port
            return self
        if self.port is None:
            self.port = self.recorded_port() or free_port(self.host)
        if port_in_use(self.port, self.host):
            raise PostgresError(
                f"port {self.port} on {self.host} is already in use: stop what listens there "
                f"(`ss -ltnp 'sport = :{self.port}'`) or choose another port (PGPORT=...)"
            )
        options = [f"-p {self.port}", f"-k {self.socket_dir}", f"-c listen_addresses={self.host}"]
        if self.fast_unsafe:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        result = self._run(
            [
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-o",
                " ".join(options),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(int(wait_seconds)),
                "start",
            ],
            timeout=wait_seconds + 10,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
            raise PostgresError(f"PostgreSQL did not start (exit {result.returncode}): {result.stderr.strip()}\n{tail}")
        self.port_file.write_text(str(self.port))
        self.wait_ready(wait_seconds)
        return self

    def wait_ready(self, wait_seconds: float = 30) -> None:
        deadline = time.monotonic() + wait_seconds
        while True:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", SUPERUSER],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL on {self.host}:{self.port} not ready after {wait_seconds:.0f} s")
            time.sleep(0.1)

    def stop(self, mode: str = "fast") -> bool:
        """Stop if running; returns whether it was running. Harmless on a stopped or absent cluster."""
        if not self.status():
            return False
        result = self._run(["pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop"], timeout=60)
        if result.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed: {result.stderr.strip()}")
        return True

    def destroy(self) -> None:
        self.stop(mode="immediate")
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def recorded_port(self) -> int | None:
        """The port the cluster was last started on (None before the first start)."""
        try:
            return int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            return None

    # -- convenience ---------------------------------------------------------------------------------------
    def create_database(self, name: str, template: str = "template0") -> str:
        """Create ``name`` and return its URL (uses psycopg2, which the app already needs)."""
        return create_database(self.url(), name, template)


def engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine without a pool on ``url``, through psycopg2 (the driver the app ships: SQLAlchemy 2.1 would pick
    psycopg 3 for a bare ``postgresql://``), giving up on a connection after ``CONNECT_TIMEOUT`` s as
    :func:`admin_execute` does. ``kwargs`` go to ``create_engine``."""
    import sqlalchemy as sa

    parsed = sa.engine.make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT, **kwargs.get("connect_args", {})}
    return sa.create_engine(parsed, poolclass=sa.pool.NullPool, **kwargs)


@contextmanager
def connect(url: str) -> Iterator[sa.Connection]:
    """One connection to ``url``, closed with its engine afterwards."""
    bound = engine(url)
    try:
        with bound.connect() as conn:
            yield conn
    finally:
        bound.dispose()


def scalar(url: str, sql: str, **params: Any) -> Any:
    """The first value of one query on ``url`` (a short connection of its own)."""
    import sqlalchemy as sa

    with connect(url) as conn:
        return conn.execute(sa.text(sql), params).scalar()


def alembic_version(target: str | sa.Connection) -> str | None:
    """The revision a database is at, from Alembic's ``alembic_version`` table; None at base (no table, or no row).

    ``target``: a URL (a short connection of its own) or an open connection (read inside its transaction). The one
    reader for the harness and its tests. Several rows (several heads applied) raise ``ValueError``: the harness
    rehearses single-head histories.
    """
    import sqlalchemy as sa

    if isinstance(target, str):
        with connect(target) as conn:
            return alembic_version(conn)
    if target.execute(sa.text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return None
    rows = target.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(rows) > 1:
        raise ValueError(f"alembic_version holds {len(rows)} revisions ({', '.join(sorted(rows))}): several heads")
    return rows[0] if rows else None


def admin_execute(url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE cannot run inside one)."""
    import psycopg2

    dsn = url.replace("postgresql+psycopg2://", "postgresql://")
    conn = psycopg2.connect(dsn, connect_timeout=CONNECT_TIMEOUT)
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def database_url(server_url: str, name: str) -> str:
    """``server_url`` pointed at database ``name`` (user, password, host and options kept)."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, name: str | None = None, template: str = "template0", prefix: str = "db") -> str:
    """Create a database (``name``, or ``<prefix>_<random>``) on the server of ``server_url``; return its URL."""
    name = name or f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_execute(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return database_url(server_url, name)


def drop_database(server_url: str, url: str) -> None:
    """Drop the database ``url`` names, even with sessions still connected."""
    from sqlalchemy.engine import make_url

    admin_execute(server_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@contextmanager
def server(server_url: str | None, prefix: str = "scratch", fast_unsafe: bool = False) -> Iterator[str]:
    """``server_url`` as given, or a temporary embedded cluster's (its ``postgres`` database), destroyed afterwards.

    The temporary cluster lives in ``service_tempdir()``: as root the server runs as an unprivileged user.
    """
    if server_url:
        yield server_url
        return
    base = service_tempdir(f"{prefix}-pg-")
    try:
        cluster = EmbeddedPostgres(base / "cluster", fast_unsafe=fast_unsafe).start()
    except PostgresError:
        shutil.rmtree(base, ignore_errors=True)
        raise
    try:
        yield cluster.url("postgres")
    finally:
        cluster.destroy()
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def scratch(server_url: str, prefix: str = "scratch", keep: bool = False) -> Iterator[str]:
    """A new, empty database on the server of ``server_url``; dropped afterwards unless ``keep``."""
    url = create_database(server_url, prefix=prefix)
    try:
        yield url
    finally:
        if not keep:
            drop_database(server_url, url)


@contextmanager
def scratch_database(
    server_url: str | None, prefix: str = "scratch", keep: bool = False, fast_unsafe: bool = False
) -> Iterator[str]:
    """A new, empty database on ``server_url``, or on a temporary embedded cluster (:func:`server`); dropped
    afterwards."""
    with server(server_url, prefix, fast_unsafe) as url, scratch(url, prefix, keep) as database:
        yield database
