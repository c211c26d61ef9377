"""A dataset's facts at main's current snapshot, as one caller may know them, from Iceberg
metadata: rows, published versions, the last publish, freshness per vendor.

The catalog describes data every role of a tenant may look at, so its numbers must not tell a
tenant about rows it cannot read. Each count is taken over the caller's rows only, by the one
access policy (``Access.row_scope``, as ``/v1/datasets/{name}/rows`` filters its scan): a
tenant-owned dataset counts the tenant's rows, a dataset with a ``vendor`` column the entitled
vendors'. A published version (a tag, named by the contract's ``TagScheme``) is seen when its
partition is: by the partition's values where the scope's columns are partition columns
(``vendor`` of ``curve_observation``), else when the caller has rows in that partition (a
scenario run's ``run_id``).

Counting reads metadata, not data, wherever it can:

* nothing to scope: the snapshot summary's ``total-records`` (no deletes: it is then exact);
* scoped: the scan is planned with the scope as its filter, and a data file whose scope columns
  hold one value (an identity partition, or equal lower and upper bounds without nulls) counts
  its ``record_count``; only if a file mixes values, or has delete files, are the scope and
  partition columns read (the same filtered scan, narrowed to those columns).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
from pyiceberg.conversions import from_bytes
from pyiceberg.expressions import AlwaysFalse, In
from pyiceberg.schema import Schema
from pyiceberg.table import DataScan, FileScanTask, Table
from pyiceberg.table.refs import SnapshotRefType
from pyiceberg.table.snapshots import Snapshot, ancestors_of
from pyiceberg.transforms import IdentityTransform

from aurum.auth.access import Access
from aurum.catalog.entries import Facts, Freshness
from aurum.datasets import Dataset, TagScheme
from aurum.errors import Unavailable
from aurum.lake.expressions import all_of

__all__ = ["Scope", "read_facts", "scope_of"]

Scope = tuple[tuple[str, tuple[str, ...]], ...]
Key = tuple[str, ...]  # a partition's values as text, in the contract's partition_by order
_DELETES = ("total-position-deletes", "total-equality-deletes")


@dataclass(frozen=True)
class _Tag:
    values: dict[str, str]
    snapshot_id: int


def scope_of(dataset: Dataset, access: Access) -> Scope:
    """The rows of ``dataset`` that ``access`` may read, as the access policy states them."""
    return access.row_scope(
        tenant_owned=dataset.tenant_owned, vendor_column="vendor" in dataset.column_names
    )


def read_facts(table: Table, dataset: Dataset, scope: Scope, *, today: date) -> Facts:
    """``dataset``'s facts in ``table`` at main's current snapshot, over the rows ``scope``
    keeps; freshness ages are counted to ``today``."""
    main = table.metadata.refs.get("main")
    snapshot = table.snapshot_by_id(main.snapshot_id) if main else None
    if snapshot is None:
        return Facts(snapshot_id=None, rows=0, counted_over=scope)
    rows, seen = _rows(table, snapshot, dataset, scope)
    # Main's history is every tenant's and vendor's commits: counted for an unlimited view only.
    history = None if scope else len(list(ancestors_of(snapshot, table.metadata)))
    if dataset.tags is None:  # an appended log: no versions, its last append
        return Facts(
            snapshot.snapshot_id, rows, snapshots=history,
            last_published=_when(snapshot) if rows else None, counted_over=scope,
        )  # fmt: skip
    tags = [t for t in _tags(table, dataset.tags) if _visible(t, dataset, scope, seen)]
    times = [s for t in tags if (s := table.snapshot_by_id(t.snapshot_id)) is not None]
    return Facts(
        snapshot.snapshot_id, rows,
        versions=len(tags),
        partitions=len({_key(t.values, dataset) for t in tags}),
        snapshots=history,
        last_published=max(map(_when, times), default=None),
        freshness=_freshness(tags, dataset, today),
        counted_over=scope,
    )  # fmt: skip


def _rows(
    table: Table, snapshot: Snapshot, dataset: Dataset, scope: Scope
) -> tuple[int, frozenset[Key] | None]:
    """Rows the scope keeps, and the partitions holding them (``None``: not scoped, every one)."""
    summary = snapshot.summary
    total = summary.get("total-records") if summary else None
    if not scope and total is not None and all(summary.get(k) in (None, "0") for k in _DELETES):
        return int(total), None
    counts = _counts(table, snapshot.snapshot_id, dataset, scope)
    return sum(counts.values()), frozenset(key for key, n in counts.items() if n)


def _counts(table: Table, snapshot_id: int, dataset: Dataset, scope: Scope) -> Counter[Key]:
    """Rows per partition that the scope keeps: from the planned files' record counts, or, when
    a file cannot tell, from the scope and partition columns read."""
    columns = dict.fromkeys((*dataset.partition_by, *(column for column, _ in scope)))
    scan = table.scan(
        row_filter=all_of(In(c, values) if values else AlwaysFalse() for c, values in scope),
        snapshot_id=snapshot_id,
        selected_fields=tuple(columns) or (dataset.columns[0].name,),
    )
    schema = table.schema()
    counts: Counter[Key] = Counter()
    try:
        for task in scan.plan_files():
            key = _whole_file(task, table, schema, dataset, scope)
            if key is None:
                return _read_counts(scan, dataset)
            counts[key] += task.file.record_count
    except (OSError, ValueError) as exc:
        raise Unavailable(
            "lake_unreadable",
            f"cannot count {dataset.name} at snapshot {snapshot_id}: {exc}",
            dependency="the lake",
        ) from None
    return counts


def _whole_file(
    task: FileScanTask, table: Table, schema: Schema, dataset: Dataset, scope: Scope
) -> Key | None:
    """The partition of a data file every row of which the scope keeps (``None``: can't tell
    from metadata: deletes, a column with several values or nulls, a bound cut short)."""
    file = task.file
    if task.delete_files:
        return None
    spec = table.specs()[file.spec_id]
    values = {
        schema.find_column_name(f.source_id): f.transform.to_human_string(
            schema.find_type(f.source_id), file.partition[i]
        )
        for i, f in enumerate(spec.fields)
        if isinstance(f.transform, IdentityTransform)
    }
    for column, allowed in scope:
        value = values[column] if column in values else _single_value(file, schema, column)
        if value is None or value not in allowed:
            return None
    if any(column not in values for column in dataset.partition_by):
        return None
    return tuple(values[column] for column in dataset.partition_by)


def _single_value(file: Any, schema: Schema, column: str) -> str | None:
    """The one value ``column`` holds in ``file``, when its bounds say so and it has no null
    (a cut-short string bound never has lower equal to upper)."""
    field = schema.find_field(column)
    lower = (file.lower_bounds or {}).get(field.field_id)
    upper = (file.upper_bounds or {}).get(field.field_id)
    nulls = (file.null_value_counts or {}).get(field.field_id)
    if lower is None or lower != upper or nulls != 0:
        return None
    return str(from_bytes(field.field_type, lower))


def _read_counts(scan: DataScan, dataset: Dataset) -> Counter[Key]:
    """Rows per partition, from the filtered scan's columns (the slow path: data is read)."""
    rows: pa.Table = scan.to_arrow()
    if not dataset.partition_by:
        return Counter({(): rows.num_rows})
    columns = [rows[column].to_pylist() for column in dataset.partition_by]
    return Counter(tuple(map(_text, key)) for key in zip(*columns, strict=True))


def _tags(table: Table, scheme: TagScheme) -> list[_Tag]:
    """Every published version of the table: its tags the contract's scheme names."""
    found = []
    for name, ref in table.metadata.refs.items():
        parsed = scheme.parse(name)
        if parsed is not None and ref.snapshot_ref_type == SnapshotRefType.TAG:
            found.append(_Tag(parsed[0], ref.snapshot_id))
    return found


def _visible(tag: _Tag, dataset: Dataset, scope: Scope, seen: frozenset[Key] | None) -> bool:
    """Whether the caller sees the partition a version was published to."""
    for column, allowed in scope:
        if column in tag.values:
            if tag.values[column] not in allowed:
                return False
        elif seen is None or _key(tag.values, dataset) not in seen:
            return False
    return True


def _freshness(tags: Iterable[_Tag], dataset: Dataset, today: date) -> tuple[Freshness, ...]:
    """Each vendor's newest published day (``order_by``), for a dataset published per vendor
    and day (``curve_observation``); none for any other."""
    order = dataset.order_by
    if order is None or "vendor" not in dataset.partition_by:
        return ()
    if not pa.types.is_date(dataset.schema.field(order).type):
        return ()
    newest: dict[str, date] = {}
    for tag in tags:
        day = date.fromisoformat(tag.values[order])
        newest[tag.values["vendor"]] = max(day, newest.get(tag.values["vendor"], day))
    return tuple(Freshness(v, d, (today - d).days) for v, d in sorted(newest.items()))


def _key(values: Mapping[str, str], dataset: Dataset) -> Key:
    return tuple(values[column] for column in dataset.partition_by)


def _when(snapshot: Snapshot) -> datetime:
    return datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC)


def _text(value: Any) -> str:
    """A partition value as a tag and Iceberg's partition metadata write it."""
    if value is None:
        return "null"
    return value.isoformat() if isinstance(value, date) else str(value)
