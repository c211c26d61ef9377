"""Committing to a table that other runs commit to as well.

The SQL catalog swaps a table's metadata pointer compare-and-swap, per table: any run's commit,
on any branch, can make another's fail. pyiceberg reports that as ``CommitFailedException``,
or, when a stale snapshot is applied onto newer metadata, as a ``ValueError`` about sequence
numbers. Both mean "read again and retry", and only those.
"""

from __future__ import annotations

import random
import time
from datetime import date
from typing import Any

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from aurum.errors import AurumError

__all__ = ["append_rows", "backoff", "is_conflict", "partition_days", "partitions"]


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` means another run committed first."""
    if isinstance(exc, CommitFailedException):
        return True
    return isinstance(exc, ValueError) and "sequence number" in str(exc)


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0.01, 0.05) * attempt)


def append_rows(table: Table, rows: pa.Table, attempts: int = 25) -> None:
    """Append to a log table, retrying when another run committed first."""
    if not rows.num_rows:
        return
    for attempt in range(1, attempts + 1):
        try:
            table.refresh()
            table.append(rows)
            return
        except (CommitFailedException, ValueError) as exc:
            if not is_conflict(exc):
                raise
            backoff(attempt)
    raise AurumError("lake_contention", f"could not append to {table.name()}")


def partitions(table: Table, snapshot_id: int) -> list[dict[str, Any]]:
    """The partitions present at a snapshot, each as {column: value}, from metadata only."""
    found = table.inspect.partitions(snapshot_id=snapshot_id)
    if not found.num_rows:  # (an empty snapshot's listing has no partition column)
        return []
    return [dict(p) for p in found.column("partition").to_pylist()]


def partition_days(table: Table, snapshot_id: int, vendor: str | None = None) -> list[date]:
    """The as-of dates present at a snapshot (of one vendor), from partition metadata only."""
    return sorted(
        p["asof_date"]
        for p in partitions(table, snapshot_id)
        if vendor is None or p["vendor"] == vendor
    )
