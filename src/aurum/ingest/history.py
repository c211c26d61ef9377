"""The ingest log and the quality history, as the caller may see them.

Both are shared by every tenant: the platform's runs (the CLI, the watcher) and each tenant's own
uploads. What a caller sees of them is the access policy's to say (``Access.sees`` for runs,
``Access.keep_vendors`` for the checks of the vendors it is entitled to); the checks of a run the
caller may not see (another tenant's upload, and so its run id and branch) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from pyiceberg.expressions import BooleanExpression, EqualTo

from aurum.auth.access import Access
from aurum.datasets.curves import QA_CHECKS
from aurum.ingest.runner import IngestRun
from aurum.lake.expressions import all_of
from aurum.query.engine import Query
from aurum.store import Store

__all__ = ["ingest_run", "ingest_runs", "quality_checks"]


def ingest_runs(
    store: Store,
    access: Access,
    *,
    vendor: str | None = None,
    asof: date | None = None,
    status: str | None = None,
    sha256: str | None = None,
    limit: int = 100,
) -> list[IngestRun]:
    """Ingest runs, newest first."""
    with store.transaction(access, write=False) as tx:
        found = tx.runs(kind="ingest", vendor=vendor, asof=asof, status=status, sha256=sha256,
                        limit=limit)  # fmt: skip
    return [IngestRun.of(run) for run in found]


def ingest_run(store: Store, access: Access, run_id: str) -> IngestRun:
    with store.transaction(access, write=False) as tx:
        return IngestRun.of(tx.get_run(run_id))


def quality_checks(
    query: Query,
    store: Store,
    access: Access,
    *,
    run_id: str | None = None,
    vendor: str | None = None,
    asof: date | None = None,
    rule: str | None = None,
    failed_only: bool = False,
    limit: int = 1000,
) -> tuple[list[Mapping[str, Any]], int]:
    """Every rule's and gate's outcome per run, newest first, and the snapshot read."""
    access.require_vendor(vendor)
    conditions: list[BooleanExpression] = []
    for column, value in (("run_id", run_id), ("vendor", vendor), ("rule", rule)):
        if value:
            conditions.append(EqualTo(column, value.upper() if column == "vendor" else value))
    if asof:
        conditions.append(EqualTo("asof_date", asof.isoformat()))
    rows, snapshot = query.scan(QA_CHECKS.name, row_filter=all_of(conditions))
    data = access.keep_vendors(rows.to_pylist())
    with store.transaction(access, write=False) as tx:
        seen = tx.visible_run_ids(row["run_id"] for row in data)
    data = [row for row in data if row["run_id"] in seen and (row["failed"] or not failed_only)]
    data.sort(key=lambda row: (row["checked_at"], row["rule"]), reverse=True)
    return data[:limit], snapshot
