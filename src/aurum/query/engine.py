"""The one place SQL runs: DuckDB over Arrow read from pyiceberg scans pinned to one snapshot.

Never a glob over data files: old snapshots' files are still in the warehouse, so only a scan
of a snapshot's manifests reads the right rows (DESIGN.md). Every read is pinned: by default to
main's current snapshot, or to what main was ``as_at`` a time, a snapshot id or a tag such as
``eod/RP/2025-09-17/v1``. "The curve for 2025-07-01 as it was known on 2025-07-03 at noon" is
``observations(asof=date(2025, 7, 1), as_at=datetime(2025, 7, 3, 12, tzinfo=UTC))``.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

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

__all__ = ["AsAt", "Query", "QueryResult", "readable_snapshots", "resolve_snapshot"]

AsAt = datetime | int | str | None


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
        if as_at.isdigit():
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

    def __init__(self, lake: Lake, *, max_rows: int = 1_000_000, timeout_s: float = 60.0) -> None:
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

        Only the tables the statement names are read. The result holds at most ``max_rows``
        rows (``truncated`` says when more matched), and a statement running longer than the
        time limit is interrupted.
        """
        started = time.perf_counter()
        cap = self.max_rows if max_rows is None else max_rows
        connection = duckdb.connect(config={"enable_external_access": False})
        snapshots: dict[str, int] = {}
        try:
            for name in self.lake.datasets:
                if re.search(rf"\b{name}\b", statement, re.IGNORECASE):
                    rows, snapshots[name] = self.scan(name, as_at=as_at)
                    connection.register(name, rows)
            timer = threading.Timer(self.timeout_s, connection.interrupt)
            timer.start()
            try:
                relation = connection.sql(statement)
                if relation is None:  # a statement with no result set
                    raise QueryError("sql_invalid", "the statement returns no rows; use SELECT")
                reader = relation.to_arrow_reader(65_536)
                batches, total = [], 0
                for batch in reader:
                    batches.append(batch)
                    total += batch.num_rows
                    if total > cap:
                        break
            except duckdb.InterruptException:
                raise QueryTimeout(
                    "query_timeout", f"the statement ran longer than {self.timeout_s:g} s"
                ) from None
            except duckdb.Error as exc:
                raise QueryError("sql_invalid", str(exc).splitlines()[0]) from None
            finally:
                timer.cancel()
            table = pa.Table.from_batches(batches, schema=reader.schema)
        finally:
            connection.close()
        return QueryResult(
            table=table.slice(0, cap),
            truncated=table.num_rows > cap,
            snapshots=snapshots,
            seconds=time.perf_counter() - started,
        )
