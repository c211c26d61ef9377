"""The operational store's database: one engine factory and the migrations that shape it.

Backends are looked up by URL scheme and their driver is imported lazily, so a missing extra is
one clear :class:`~aurum.errors.NotInstalledError` (STYLE.md §3). SQLite is the embedded default;
PostgreSQL is chosen by URL (``postgresql+psycopg://...``).

Migrations are Alembic scripts shipped in ``aurum/store/migrations``; :func:`migrate` applies
them to head from code, with no ``alembic.ini``. Concurrent migrators queue on a lock (SQLite's
write lock, or a PostgreSQL advisory lock held by the migrating transaction), so two processes
starting at once on an empty database both succeed and the schema is built once.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, Engine

from aurum.errors import ConfigError, NotInstalledError

__all__ = [
    "MIGRATIONS",
    "create_engine",
    "current_revision",
    "head_revision",
    "migrate",
    "migration_transaction",
    "writer",
]

MIGRATIONS = Path(__file__).resolve().with_name("migrations")

# SQLite waits this long for another process's write lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30.0
# Key of the PostgreSQL advisory lock that serialises migrations ("aurum.st" as an integer).
_MIGRATION_LOCK = int.from_bytes(b"aurum.st", "big") >> 1
# Execution option marking a connection that will write: SQLite then takes the lock up front.
_WRITE = "aurum_write"


@dataclass(frozen=True)
class _Backend:
    module: str  # the DBAPI driver, imported lazily
    extra: str | None  # the aurum extra that installs it


_BACKENDS: Mapping[str, _Backend] = MappingProxyType(
    {
        "sqlite+pysqlite": _Backend("sqlite3", None),
        "postgresql+psycopg": _Backend("psycopg", "postgres"),
    }
)
_DEFAULT_DRIVERS: Mapping[str, str] = MappingProxyType(
    {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}
)


def create_engine(url: str) -> Engine:
    """An engine for the store at ``url``: ``sqlite:///path`` or ``postgresql+psycopg://...``.

    For SQLite the parent directory is created, the database runs in WAL mode, and transactions
    really are transactions (DDL included); see :func:`writer`.
    """
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise ConfigError(
            "store_url_invalid",
            "the operational store URL is not a database URL: "
            "use sqlite:///path/to/store.db or postgresql+psycopg://user@host/database",
        ) from None
    drivername = _DEFAULT_DRIVERS.get(parsed.drivername, parsed.drivername)
    backend = _BACKENDS.get(drivername)
    if backend is None:
        raise ConfigError(
            "store_url_unsupported",
            f"unsupported operational store URL {_safe(parsed)}: "
            "use sqlite:///path/to/store.db or postgresql+psycopg://user@host/database",
        )
    try:
        import_module(backend.module)
    except ImportError as exc:
        install = f"pip install 'aurum[{backend.extra}]'" if backend.extra else "a Python with it"
        raise NotInstalledError(
            "not_installed",
            f"the {parsed.get_backend_name()} operational store needs {backend.module}: {install}",
        ) from exc
    parsed = parsed.set(drivername=drivername)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True)


def writer(engine: Engine) -> Engine:
    """The same engine, for transactions that will write.

    On SQLite these begin with ``BEGIN IMMEDIATE``: the write lock is taken (waiting up to the busy
    timeout) before anything is read, so a read-then-write transaction can never fail halfway on a
    lock another process took in between. Elsewhere this changes nothing.
    """
    return engine.execution_options(**{_WRITE: True})


@contextmanager
def migration_transaction(engine: Engine) -> Iterator[Connection]:
    """A write transaction holding the store's migration lock; concurrent migrators queue here."""
    with writer(engine).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        yield connection


def migrate(engine: Engine) -> None:
    """Upgrade the store to the newest migration; a store already there is left untouched."""
    config = alembic_config()
    if current_revision(engine) == head_revision(config):
        return
    with migration_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def head_revision(config: Config | None = None) -> str | None:
    """The newest migration shipped with this version of Aurum."""
    return ScriptDirectory.from_config(config or alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database at ``engine`` is at; ``None`` when it is empty."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    return config


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
    sa.event.listen(engine, "connect", _sqlite_connect)
    sa.event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, decides where transactions begin (see _sqlite_begin);
    # otherwise DDL would autocommit and reads would run outside any transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    _use_wal(cursor)  # readers do not block the writer
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch the file to WAL once (it persists). The switch needs the file to itself and SQLite
    answers "locked" at once instead of waiting, so two processes creating a store together
    retry here, within the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(_WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _safe(url: URL) -> str:
    return url.render_as_string(hide_password=True)
