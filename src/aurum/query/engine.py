"""The one place DuckDB runs: sessions over relations pinned to snapshots, each with a deadline.

Every DuckDB connection in Aurum is opened here (:func:`connect`) and every statement runs
through a :class:`Session`: API reads (``aurum.query.curves``), the serving replica and its
builds (``aurum.query.replica``), file exports and ``aurum sql`` (:class:`Query`). A session's
relations are pinned: either the tables of a replica file (named by the snapshot it holds) or
Arrow tables read from pyiceberg scans of one snapshot, never a glob over data files (old
snapshots' files are still in the warehouse, DESIGN.md).

A read has a time limit (``AURUM_QUERY__TIMEOUT_S``): the session's deadline is set when it
opens, so it bounds the whole read, every statement of it. A statement still running at the
deadline is interrupted by one watchdog thread per process and the read fails with
``query_timeout`` (HTTP 503); a statement that would start after it fails the same way without
running. Builds (``timeout_s=None``) have no deadline.

Every read is pinned: by default to main's current snapshot, or to what main was ``as_at`` a
time, a snapshot id or a tag such as ``eod/RP/2025-09-17/v1``. "The curve for 2025-07-01 as it
was known on 2025-07-03 at noon" is
``observations(asof=date(2025, 7, 1), as_at=datetime(2025, 7, 3, 12, tzinfo=UTC))``.
"""

from __future__ import annotations

import atexit
import itertools
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.expressions import (
    AlwaysTrue,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
)
from pyiceberg.table import Table
from pyiceberg.table.refs import SnapshotRefType

from aurum.errors import Gone, QueryError, QueryTimeout, Unavailable, Unknown
from aurum.lake.catalog import Lake
from aurum.lake.commits import partition_days
from aurum.lake.expressions import all_of
from aurum.telemetry import span

__all__ = [
    "AsAt", "Connection", "Query", "QueryResult", "Session", "connect", "readable_snapshots",
    "resolve_snapshot",
]  # fmt: skip

AsAt = datetime | int | str | None
# A DuckDB connection, for type hints outside this module (which never import duckdb).
Connection = duckdb.DuckDBPyConnection


def connect(path: Path | None = None, *, read_only: bool = False) -> Connection:
    """A DuckDB database: in memory, or the file at ``path``. SQL never reaches files, the
    network or extensions (``enable_external_access`` off): relations are registered Arrow."""
    return duckdb.connect(
        ":memory:" if path is None else str(path),
        read_only=read_only,
        config={"enable_external_access": False},
    )


class _Watchdog:
    """One thread per process that interrupts statements past their deadline.

    Registering costs a dict insert under a lock; the thread is woken only when a deadline
    comes sooner than its next wake-up (at most a second away), so reads do not pay a thread
    switch each.
    """

    _POLL_S = 1.0
    _RETRY_S = 0.05  # how often a statement past its deadline is interrupted again

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running: dict[int, tuple[float, Connection]] = {}
        self._fired: set[int] = set()
        self._tokens = itertools.count()
        self._wake_at = 0.0
        self._thread: threading.Thread | None = None
        self._stopping = False
        atexit.register(self.stop)

    @contextmanager
    def watch(self, connection: Connection, deadline: float) -> Iterator[set[int]]:
        """Interrupt ``connection`` at ``deadline`` (``time.monotonic``) if still inside."""
        token = next(self._tokens)
        with self._cond:
            self._running[token] = (deadline, connection)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="aurum-query-deadline", daemon=True
                )
                self._thread.start()
            elif deadline < self._wake_at:
                self._cond.notify()
        try:
            yield self._fired
        finally:
            with self._cond:
                self._running.pop(token, None)
                self._fired.discard(token)

    def stop(self) -> None:
        """End the thread (at exit: a daemon thread left waiting keeps DuckDB objects alive
        through interpreter teardown, which nanobind reports as leaks)."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                now = time.monotonic()
                due = [token for token, (deadline, _) in self._running.items() if deadline <= now]
                for token in due:
                    # Interrupted again on every turn until its block ends: DuckDB drops an
                    # interrupt that arrives while no statement runs (between statements, or
                    # before the first batch is asked for), so one would not be enough.
                    self._running[token][1].interrupt()
                    self._fired.add(token)
                pending = [d for d, _ in self._running.values() if d > now]
                nearest = min(pending, default=now + self._POLL_S)
                if due:
                    nearest = min(nearest, now + self._RETRY_S)
                self._wake_at = min(nearest, now + self._POLL_S)
                self._cond.wait(self._wake_at - now)


_WATCHDOG = _Watchdog()


class Session:
    """Statements over one connection's pinned relations, under one deadline.

    ``timeout_s`` bounds the whole session from the moment it opens (``None``: no bound, for
    replica builds). Internal reads raise DuckDB's own errors (a bug, answered 500); ``user_sql``
    sessions (``aurum sql``) turn them into ``sql_invalid``.
    """

    def __init__(
        self, connection: Connection, *, timeout_s: float | None, user_sql: bool = False
    ) -> None:
        self.connection = connection
        self.timeout_s = timeout_s
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.user_sql = user_sql

    def register(self, name: str, table: pa.Table) -> None:
        self.connection.register(name, table)

    def unregister(self, name: str) -> None:
        self.connection.unregister(name)

    def arrow(self, statement: str, params: Sequence[Any] = ()) -> pa.Table:
        """The statement's rows as an Arrow table."""
        with self._limited():
            relation = self.connection.sql(statement, params=list(params) or None)
            if relation is None:
                raise QueryError("sql_invalid", "the statement returns no rows; use SELECT")
            return relation.to_arrow_table()

    def rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The statement's rows as tuples (small answers: a max, a list of days)."""
        with self._limited():
            return self.connection.execute(statement, list(params)).fetchall()

    def run(self, statement: str, params: Sequence[Any] = ()) -> None:
        """A statement without an answer (DDL, INSERT, DELETE, CHECKPOINT)."""
        with self._limited():
            self.connection.execute(statement, list(params))

    @contextmanager
    def batches(self, statement: str, *, rows: int = 65_536) -> Iterator[pa.RecordBatchReader]:
        """The statement's answer batch by batch, for answers of any size: the deadline holds
        until the ``with`` block ends. An error met while reading the batches (a value that
        does not convert, the time limit) is raised as the same ``AurumError`` as one met
        before the first batch; the caller must not keep what it wrote of the answer."""
        with self._limited():
            relation = self.connection.sql(statement)
            if relation is None:
                raise QueryError("sql_invalid", "the statement returns no rows; use SELECT")
            reader = relation.to_arrow_reader(rows)

            def checked() -> Iterator[pa.RecordBatch]:
                try:
                    yield from reader
                except (duckdb.Error, OSError) as exc:  # DuckDB's errors, through Arrow
                    raise self._failed(exc) from None

            yield pa.RecordBatchReader.from_batches(reader.schema, checked())

    def check(self) -> None:
        """Raise ``query_timeout`` if the session is past its deadline (after work DuckDB does
        not run, such as an Iceberg scan, so the limit bounds the whole read)."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            raise self._timeout()

    @contextmanager
    def _limited(self) -> Iterator[None]:
        deadline = self.deadline
        try:
            if deadline is None:
                with span("query.execute"):
                    yield
                return
            if time.monotonic() >= deadline:
                raise self._timeout()
            with _WATCHDOG.watch(self.connection, deadline), span("query.execute"):
                yield
        except duckdb.Error as exc:
            raise self._failed(exc) from None

    def _failed(self, exc: Exception) -> Exception:
        """What a DuckDB error means to the caller: past the deadline (or interrupted) a
        ``query_timeout``; in user SQL ``sql_invalid``; else the error itself (a bug)."""
        interrupted = isinstance(exc, duckdb.InterruptException) or "INTERRUPT" in str(exc)
        late = self.deadline is not None and time.monotonic() >= self.deadline
        if interrupted or late:
            return self._timeout()
        if self.user_sql:
            return QueryError("sql_invalid", str(exc).splitlines()[0])
        return exc

    def _timeout(self) -> QueryTimeout:
        limit = "" if self.timeout_s is None else f" of {self.timeout_s:g} s"
        return QueryTimeout(
            "query_timeout",
            f"the read ran longer than its time limit{limit}; narrow it"
            " (fewer days, curves or vendors) or raise AURUM_QUERY__TIMEOUT_S",
            timeout_s=self.timeout_s,
        )


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    truncated: bool
    snapshots: dict[str, int]
    seconds: float


def readable_snapshots(table: Table) -> frozenset[int]:
    """The snapshots a reader may pin: every state main has pointed at (its snapshot log) and
    every tagged (published) version, as long as the table still keeps them.

    Nothing else: not a write-audit-publish branch (a day staged, or held by a failed gate), not
    the intermediate snapshot of an overwrite, not any other id in the metadata. Unpublished
    data is never readable, whoever knows its id.
    """
    metadata = table.metadata
    ids = {entry.snapshot_id for entry in metadata.snapshot_log}
    tags = (ref for ref in metadata.refs.values() if ref.snapshot_ref_type == SnapshotRefType.TAG)
    ids.update(ref.snapshot_id for ref in tags)
    ids.add(metadata.refs["main"].snapshot_id)
    # one pass over the snapshots (snapshot_by_id is a linear search: 240 of them cost 2 ms)
    return frozenset(ids.intersection(s.snapshot_id for s in metadata.snapshots))


def resolve_snapshot(table: Table, as_at: AsAt = None) -> int:
    """The snapshot of ``table`` to read: main now, main at a time, a snapshot id that main
    pointed at, or a tag. Anything else is ``snapshot_unknown``, exactly like an id that never
    existed (see :func:`readable_snapshots`)."""
    if as_at is None:
        return table.metadata.refs["main"].snapshot_id
    if isinstance(as_at, int):
        if as_at not in readable_snapshots(table):
            raise Unknown("snapshot_unknown", f"{table.name()} has no snapshot {as_at}")
        return as_at
    if isinstance(as_at, str):
        ref = table.metadata.refs.get(as_at)
        if ref is not None and (as_at == "main" or ref.snapshot_ref_type == SnapshotRefType.TAG):
            return ref.snapshot_id
        if as_at.isascii() and as_at.isdigit():  # not '²', which isdigit() accepts
            return resolve_snapshot(table, int(as_at))
        if ref is not None:  # a branch: a day being staged, or held by a failed gate
            raise Unknown("snapshot_unknown", f"{table.name()} has no snapshot {as_at!r}")
        try:
            as_at = datetime.fromisoformat(as_at)
        except ValueError:
            raise QueryError(
                "as_at_invalid",
                f"as_at {as_at!r} is not a timestamp, a snapshot id or a tag of {table.name()}",
            ) from None
    moment = as_at if as_at.tzinfo else as_at.replace(tzinfo=UTC)
    try:
        millis = int(moment.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise QueryError("as_at_invalid", f"as_at {as_at!r} is out of range") from None
    known = [e.snapshot_id for e in table.metadata.snapshot_log if e.timestamp_ms <= millis]
    if not known:  # before the table existed, or past the snapshot retention
        raise Unknown(
            "as_at_unavailable",
            f"{table.name()} keeps no snapshot from {moment.isoformat()} or earlier; "
            "published versions stay readable by their tags",
        )
    if table.snapshot_by_id(known[-1]) is None:  # an older snapshot would be a wrong answer
        raise Gone(
            "snapshot_expired",
            f"{table.name()} as at {moment.isoformat()} is past the retention; read a tag instead",
        )
    return known[-1]


class Query:
    """Reads and SQL over the lake, each pinned to one snapshot per table."""

    def __init__(self, lake: Lake, *, max_rows: int = 1_000_000, timeout_s: float = 30.0) -> None:
        self.lake = lake
        self.max_rows = max_rows
        self.timeout_s = timeout_s

    def scan(
        self,
        name: str,
        *,
        row_filter: BooleanExpression | None = None,
        as_at: AsAt = None,
        columns: tuple[str, ...] = ("*",),
    ) -> tuple[pa.Table, int]:
        table = self.lake.table(name)
        row_filter = AlwaysTrue() if row_filter is None else row_filter
        snapshot = resolve_snapshot(table, as_at)
        try:
            with span("lake.scan", table=name, snapshot_id=snapshot):
                rows = table.scan(
                    row_filter=row_filter, selected_fields=columns, snapshot_id=snapshot
                ).to_arrow()
        except (OSError, ValueError) as exc:
            raise Unavailable(
                "lake_unreadable",
                f"cannot read {table.name()} at snapshot {snapshot}: {exc}",
                table=table.name(),
                snapshot_id=snapshot,
                dependency="the lake",
            ) from None
        return rows, snapshot

    def observations(
        self,
        *,
        vendor: str | None = None,
        asof: date | tuple[date, date] | str | None = None,
        curve_key: str | list[str] | None = None,
        as_at: AsAt = None,
        columns: tuple[str, ...] = ("*",),
    ) -> pa.Table:
        """Canonical rows by vendor, as-of (a date, a (first, last) range or ``"latest"``),
        curve key(s), as known at ``as_at``."""
        conditions: list[BooleanExpression] = []
        if vendor is not None:
            conditions.append(EqualTo("vendor", vendor))
        if asof == "latest":
            asof = self._latest_asof(vendor, as_at)
            if asof is None:
                return self.lake.table("curve_observation").schema().as_arrow().empty_table()
        if isinstance(asof, date):
            conditions.append(EqualTo("asof_date", asof.isoformat()))
        elif isinstance(asof, tuple):
            first, last = asof
            conditions += [
                GreaterThanOrEqual("asof_date", first.isoformat()),
                LessThanOrEqual("asof_date", last.isoformat()),
            ]
        elif asof is not None:
            raise QueryError("asof_invalid", f"asof must be a date, a range or 'latest': {asof!r}")
        if isinstance(curve_key, str):
            conditions.append(EqualTo("curve_key", curve_key))
        elif curve_key is not None:
            conditions.append(In("curve_key", set(curve_key)))
        rows, _ = self.scan(
            "curve_observation", row_filter=all_of(conditions), as_at=as_at, columns=columns
        )
        return rows

    def _latest_asof(self, vendor: str | None, as_at: AsAt) -> date | None:
        table = self.lake.table("curve_observation")
        days = partition_days(table, resolve_snapshot(table, as_at), vendor)
        return days[-1] if days else None

    def sql(
        self, statement: str, *, as_at: AsAt = None, max_rows: int | None = None
    ) -> QueryResult:
        """Run one SQL statement; Aurum's tables are views pinned to ``as_at``.

        The answer holds at most ``max_rows`` rows (``truncated`` says when more matched): for
        a screen or a JSON page. A file takes every row: :meth:`stream`.
        """
        started = time.perf_counter()
        cap = self.max_rows if max_rows is None else max_rows
        with self.stream(statement, as_at=as_at) as (reader, snapshots):
            batches, total = [], 0
            for batch in reader:
                batches.append(batch)
                total += batch.num_rows
                if total > cap:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema)
        return QueryResult(
            table=table.slice(0, cap),
            truncated=table.num_rows > cap,
            snapshots=snapshots,
            seconds=time.perf_counter() - started,
        )

    @contextmanager
    def stream(
        self, statement: str, *, as_at: AsAt = None
    ) -> Iterator[tuple[pa.RecordBatchReader, dict[str, int]]]:
        """Every row of one SQL statement, batch by batch, with the snapshot each table was
        read at. Only the tables the statement names are read; the time limit holds until the
        ``with`` block ends."""
        connection = connect()
        try:
            session = Session(connection, timeout_s=self.timeout_s, user_sql=True)
            snapshots: dict[str, int] = {}
            for name in self.lake.datasets:
                if re.search(rf"\b{name}\b", statement, re.IGNORECASE):
                    rows, snapshots[name] = self.scan(name, as_at=as_at)
                    session.register(name, rows)
            with session.batches(statement) as reader:
                yield reader, snapshots
        finally:
            connection.close()
