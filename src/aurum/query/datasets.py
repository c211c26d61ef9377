"""Any dataset, read the same way: its contract, and its published rows at a snapshot.

Every table Aurum keeps has a contract (``aurum.datasets``); this service serves both for any of
them, so a dataset added later (``scenario_output``, ``ppa_valuation``, a feed) is readable
through ``/v1/datasets/{name}/rows`` the day its contract exists. What a caller sees is the
access policy's (``aurum.auth.access``): a tenant-owned dataset's rows are its tenant's, a
dataset with a ``vendor`` column shows the entitled vendors' rows only.

Rows are read from the pinned Iceberg snapshot (published states only, as every read), with
what the caller may not see filtered in the scan, and paged in a total order, so pages of one
snapshot never overlap. A dataset that has a route of its own (``curve_observation``:
``/v1/curves``) or whose rows follow other visibility rules (the operational logs) says so in
its contract and is refused here.
"""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
from pyiceberg.expressions import AlwaysFalse, In
from pyiceberg.table import Table

from aurum.auth.access import Access
from aurum.datasets import Dataset
from aurum.errors import Forbidden, Gone, QueryError, Unavailable
from aurum.lake.catalog import Lake
from aurum.lake.expressions import all_of
from aurum.query.engine import AsAt, Session, connect, readable_snapshots, resolve_snapshot
from aurum.query.page import Page, page_of

__all__ = ["NO_SNAPSHOT", "Datasets"]

NO_SNAPSHOT = 0  # a dataset nothing has been written to yet: its answer is empty


class Datasets:
    """Contracts and rows of every dataset of one lake, each answer pinned to one snapshot."""

    def __init__(self, lake: Lake, *, timeout_s: float = 30.0) -> None:
        self.lake = lake
        self.timeout_s = timeout_s

    def contracts(self) -> list[dict[str, Any]]:
        """Every dataset's contract as data, by name."""
        return [self.lake.datasets[name].describe() for name in sorted(self.lake.datasets)]

    def contract(self, name: str) -> Dataset:
        """``name``'s contract (404 ``dataset_unknown`` for any other name)."""
        return self.lake.dataset(name)

    def pin(self, name: str, as_at: AsAt = None, snapshot_id: int | None = None) -> int:
        """The snapshot of ``name`` an answer reads: a cursor's, ``as_at``'s, or main's."""
        table = self.lake.current(self.contract(name).name)
        if snapshot_id is not None:
            if snapshot_id != NO_SNAPSHOT and snapshot_id not in readable_snapshots(table):
                raise Gone(
                    "cursor_expired",
                    f"snapshot {snapshot_id} of {name} is no longer kept; start again",
                )
            return snapshot_id
        if as_at is None and "main" not in table.metadata.refs:
            return NO_SNAPSHOT
        return resolve_snapshot(table, as_at)

    def rows(
        self,
        name: str,
        access: Access,
        *,
        snapshot_id: int,
        columns: tuple[str, ...] = (),
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """A page of ``name``'s rows at ``snapshot_id`` that ``access`` may read, in the
        contract's partition and sort order then every other column's (a total order: pages
        of one snapshot never overlap); ``columns``: these only, default every one.

        What the caller may not see is filtered in the Iceberg scan itself (a tenant's files,
        the entitled vendors'), and the scan counts against the read's time limit."""
        started = time.perf_counter()
        dataset = self.contract(name)
        if not dataset.serve_rows:
            where = dataset.served_by or "its own route"
            raise Forbidden(
                "dataset_not_served", f"{name} is not served here: read it through {where}"
            )
        unknown = [c for c in columns if c not in dataset.column_names]
        if unknown:
            raise QueryError(
                "fields_unknown",
                f"{name} has no column {unknown[0]!r}",
                known=list(dataset.column_names),
            )
        selected = columns or dataset.column_names
        scope = access.row_scope(
            tenant_owned=dataset.tenant_owned, vendor_column="vendor" in dataset.column_names
        )
        connection = connect()
        try:
            session = Session(connection, timeout_s=self.timeout_s)  # the deadline starts now
            rows = self._scan(self.lake.current(name), dataset, snapshot_id, scope)
            session.check()
            session.register("dataset_rows", rows)
            where = " AND ".join(
                f"{_quoted(column)} IN ({', '.join('?' * len(values))})" if values else "FALSE"
                for column, values in scope
            )
            answer = session.arrow(
                f"SELECT {', '.join(map(_quoted, selected))} FROM dataset_rows"
                f" WHERE {where or 'TRUE'} ORDER BY {_order(dataset)} LIMIT ? OFFSET ?",
                [*(v for _, values in scope for v in values), limit + 1, offset],
            )
        finally:
            connection.close()
        return page_of(answer, snapshot_id, limit, started, dataset=name)

    @staticmethod
    def _scan(
        table: Table,
        dataset: Dataset,
        snapshot_id: int,
        scope: tuple[tuple[str, tuple[str, ...]], ...],
    ) -> pa.Table:
        if snapshot_id == NO_SNAPSHOT:
            return dataset.schema.empty_table()
        row_filter = all_of(
            (In(column, values) if values else AlwaysFalse()) for column, values in scope
        )
        try:
            return table.scan(row_filter=row_filter, snapshot_id=snapshot_id).to_arrow()
        except (OSError, ValueError) as exc:
            raise Unavailable(
                "lake_unreadable",
                f"cannot read {dataset.name} at snapshot {snapshot_id}: {exc}",
                dependency="the lake",
            ) from None


def _order(dataset: Dataset) -> str:
    """Partition columns, sort columns, then every other column that sorts (a total order but
    for rows equal in every column, which no reader can tell apart)."""
    sortable = [c.name for c in dataset.columns if not pa.types.is_nested(c.type)]
    ordered = dict.fromkeys((*dataset.partition_by, *dataset.sort_by, *sortable))
    return ", ".join(map(_quoted, ordered)) or "1"


def _quoted(column: str) -> str:
    """A contract's column name as a DuckDB identifier (names are lowercase identifiers)."""
    return f'"{column}"'
