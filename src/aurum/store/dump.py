"""The operational store as files: every table's rows, read in one consistent snapshot, written as
gzipped JSON lines (one file per table), and loaded back into an empty store of any backend.

A dump is logical, so it moves between SQLite and PostgreSQL (``aurum migrate``). Values are
written by their column's type (timestamps as ISO 8601 in UTC, dates ISO, bytes base64, JSON
columns as JSON) and read back through the same :class:`~aurum.store.base.Base` metadata, so
the dump and the load agree on every column by construction.

On PostgreSQL every tenant-owned table has FORCE ROW LEVEL SECURITY (even the owner sees only
the tenant set in ``app.current_tenant``), so the dump reads each such table once as the platform
and once per tenant, inside one REPEATABLE READ transaction (one snapshot for all of them), and
the load writes each tenant's rows with that tenant set. No role needs BYPASSRLS.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from aurum.errors import BackupError
from aurum.store.base import Base
from aurum.store.engine import current_revision, writer
from aurum.store.runs import ACTIVE_STATUSES, RunRecord

__all__ = ["StoreDump", "check_empty", "dump_store", "load_store"]

_BATCH = 1_000
_SUFFIX = ".jsonl.gz"


@dataclass(frozen=True)
class StoreDump:
    """What a dump holds: the schema revision it was taken at and each table's row count."""

    revision: str | None
    rows: Mapping[str, int]


def dump_store(engine: Engine, folder: Path) -> StoreDump:
    """Write every table of the store at ``engine`` to ``folder``, all read in one snapshot."""
    folder.mkdir(parents=True, exist_ok=True)
    revision = current_revision(engine)
    counts: dict[str, int] = {}
    with _snapshot(engine) as connection:
        tenants = _tenants(connection)
        for table in _tables():
            rows = _rows(connection, table, tenants)
            counts[table.name] = _write(folder / f"{table.name}{_SUFFIX}", table, rows)
    return StoreDump(revision, counts)


def load_store(engine: Engine, folder: Path, dump: StoreDump) -> dict[str, int]:
    """Load a dump into the empty store at ``engine`` (migrated to the dump's revision).

    Runs that were in flight when the dump was taken have no worker any more: their leases are
    expired here, so the first recovery settles them from the catalog (published if their
    version is there, otherwise failed or queued again).
    """
    revision = current_revision(engine)
    if revision != dump.revision:
        raise BackupError(
            "store_revision_mismatch",
            f"the dump was taken at store revision {dump.revision}, this store is at {revision}:"
            " restore with the Aurum version that made the backup, then upgrade",
        )
    loaded: dict[str, int] = {}
    with writer(engine).begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        _check_empty(connection, postgres)
        for table in _tables():
            path = folder / f"{table.name}{_SUFFIX}"
            expected = dump.rows.get(table.name, 0)
            count = _load(connection, table, _read(path, table) if expected else (), postgres)
            if count != expected:
                raise BackupError(
                    "backup_damaged",
                    f"{path} holds {count} rows, the backup's manifest says {expected}",
                )
            loaded[table.name] = count
        if postgres:
            _advance_sequences(connection)
        connection.execute(
            sa.update(RunRecord)
            .where(RunRecord.status.in_(ACTIVE_STATUSES))
            .values(lease_expires_at=datetime(1970, 1, 1, tzinfo=UTC))
        )
    return loaded


def check_empty(engine: Engine) -> None:
    """Refuse a store that has rows (a restore goes into an empty one)."""
    with engine.connect() as connection, connection.begin():
        _check_empty(connection, connection.dialect.name == "postgresql")


def _check_empty(connection: Connection, postgres: bool) -> None:
    _platform(connection, postgres)
    tenants = _tenants(connection)
    for table in _tables():
        if tenants or connection.execute(sa.select(sa.func.count()).select_from(table)).scalar():
            raise BackupError(
                "store_not_empty",
                f"the target store's {table.name} table has rows: restore into an empty store"
                " (another AURUM_HOME or database)",
            )


def _tables() -> list[sa.Table]:
    return list(Base.metadata.sorted_tables)  # parents before children: foreign keys hold


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction seeing one snapshot of the whole database."""
    postgres = engine.dialect.name == "postgresql"
    options: dict[str, Any] = {}
    if postgres:
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as connection, connection.begin():
        _platform(connection, postgres)
        if not postgres:  # WAL: the snapshot starts at the first read; take it for every table
            connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").all()
        yield connection


def _platform(connection: Connection, postgres: bool, tenant: str = "") -> None:
    if postgres:
        connection.execute(
            sa.text(
                "SELECT set_config('app.platform', 'on', true),"
                " set_config('app.current_tenant', :tenant, true),"
                " set_config('app.key_prefix', '', true)"
            ),
            {"tenant": tenant},
        )


def _tenants(connection: Connection) -> list[str]:
    tenant = Base.metadata.tables["tenant"]
    column = tenant.c.tenant_id
    return list(connection.execute(sa.select(column).order_by(column)).scalars())


def _rows(connection: Connection, table: sa.Table, tenants: list[str]) -> list[dict[str, Any]]:
    """Every row of ``table``, ordered by its key; on PostgreSQL gathered as the platform and as
    each tenant in turn (row-level security shows each tenant only its own rows)."""
    postgres = connection.dialect.name == "postgresql"
    key = [column.name for column in table.primary_key.columns]
    query = sa.select(table).order_by(*table.primary_key.columns)
    passes = [""] + (tenants if postgres and "tenant_id" in table.c else [])
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for tenant in passes:
        _platform(connection, postgres, tenant)
        for row in connection.execute(query).mappings():
            found.setdefault(tuple(row[k] for k in key), dict(row))
    _platform(connection, postgres)
    return [found[k] for k in sorted(found)]


def _write(path: Path, table: sa.Table, rows: Iterable[dict[str, Any]]) -> int:
    count = 0
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        for row in rows:
            out.write(json.dumps({k: _encode(v) for k, v in row.items()}, allow_nan=True))
            out.write("\n")
            count += 1
    return count


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return str(value)
    return value


def _read(path: Path, table: sa.Table) -> Iterator[dict[str, Any]]:
    decoders = {column.name: _decoder(column) for column in table.columns}
    try:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    raw = json.loads(line)
                    yield {k: decoders[k](v) if v is not None else None for k, v in raw.items()}
                except (ValueError, KeyError, TypeError) as exc:
                    raise BackupError(
                        "backup_damaged", f"{path} line {number}: {type(exc).__name__}: {exc}"
                    ) from None
    except (OSError, EOFError) as exc:
        raise BackupError("backup_damaged", f"cannot read {path}: {exc}") from None


def _decoder(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.TypeDecorator):
        kind = kind.impl_instance
    try:
        python_type = kind.python_type
    except NotImplementedError:
        return _same
    if python_type is datetime:
        return _datetime
    if python_type is date:
        return date.fromisoformat
    if python_type is bytes:
        return base64.b64decode
    if python_type is Decimal:
        return Decimal
    return _same


def _same(value: Any) -> Any:
    return value


def _datetime(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _load(
    connection: Connection, table: sa.Table, rows: Iterable[dict[str, Any]], postgres: bool
) -> int:
    """Insert ``rows`` in batches; on PostgreSQL each batch is one tenant's, with it set."""
    count = 0
    batch: list[dict[str, Any]] = []
    tenant: str | None = None
    for row in rows:
        owner = row.get("tenant_id") or ""
        if batch and (len(batch) >= _BATCH or (postgres and owner != tenant)):
            connection.execute(sa.insert(table), batch)
            batch = []
        if postgres and owner != tenant:
            _platform(connection, postgres, owner)
            tenant = owner
        batch.append(row)
        count += 1
    if batch:
        connection.execute(sa.insert(table), batch)
    _platform(connection, postgres)
    return count


def _advance_sequences(connection: Connection) -> None:
    """Identity columns continue after the largest loaded value (PostgreSQL keeps a sequence)."""
    for table in _tables():
        for column in table.primary_key.columns:
            if column.autoincrement is not True:
                continue
            connection.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence(:table, :column),"
                    f" coalesce((SELECT max({column.name}) FROM {table.name}), 0) + 1, false)"
                ),
                {"table": table.name, "column": column.name},
            )
