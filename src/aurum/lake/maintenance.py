"""Lake maintenance, which pyiceberg leaves to its users: compaction, expiry, orphan files.

* **Compact**: a partition (or an unpartitioned log table) made of many small files — the side
  tables gain one per run — is rewritten as one file, in one commit that asserts main did not
  move (the same compare-and-swap as a publish), so content never changes.
* **Expire** snapshots older than the retention, except those tags and branches point to: every
  published version ``eod/{vendor}/{date}/v{n}`` stays readable for ever.
* **Orphans**: files under a table's location that no remaining snapshot (and no metadata file
  still in the log) refers to are deleted, if older than ``orphan_age`` so that the files of a
  write in progress are never touched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

import pyarrow.fs as pafs
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import BooleanExpression, EqualTo
from pyiceberg.table import Table

from aurum.lake.catalog import Lake
from aurum.lake.commits import backoff, is_conflict
from aurum.lake.tables import TABLES, all_of

__all__ = ["MaintenanceReport", "maintain"]


@dataclass(frozen=True)
class MaintenanceReport:
    table: str
    partitions_compacted: int
    snapshots_expired: int
    orphans_deleted: int
    bytes_freed: int


def maintain(
    lake: Lake,
    *,
    retain: timedelta = timedelta(days=7),
    orphan_age: timedelta = timedelta(days=1),
    compact_min_files: int = 8,
) -> list[MaintenanceReport]:
    reports = []
    for definition in TABLES:
        table = lake.table(definition.name)
        compacted = _compact(table, compact_min_files)
        expired = _expire(table, retain)
        deleted, freed = _delete_orphans(table, orphan_age)
        reports.append(MaintenanceReport(definition.name, compacted, expired, deleted, freed))
    return reports


def _partition_filter(partition: dict[str, object]) -> BooleanExpression:
    return all_of(
        EqualTo(column, value.isoformat() if hasattr(value, "isoformat") else value)
        for column, value in partition.items()
    )


def _compact(table: Table, min_files: int) -> int:
    snapshot = table.current_snapshot()
    if snapshot is None or int(snapshot.summary.get("total-data-files", "0")) < min_files:
        return 0  # (inspect.files() cannot list a snapshot without data files)
    files = table.inspect.files()
    partitions = files.column("partition").to_pylist() if "partition" in files.column_names else []
    counts: dict[tuple[tuple[str, object], ...], int] = defaultdict(int)
    for partition in partitions or [{}] * files.num_rows:
        counts[tuple(sorted((partition or {}).items()))] += 1
    done = 0
    for key, count in counts.items():
        if count < min_files:
            continue
        where = _partition_filter(dict(key))
        for attempt in range(1, 11):
            try:
                table.refresh()
                rows = table.scan(row_filter=where).to_arrow()
                sort = [
                    (name, "ascending")
                    for name in ("curve_key", "tenor_label")
                    if name in rows.column_names
                ]
                table.overwrite(rows.sort_by(sort) if sort else rows, where,
                                {"aurum.maintenance": "compaction"})  # fmt: skip
                done += 1
                break
            except (CommitFailedException, ValueError) as exc:
                if not is_conflict(exc):
                    raise
                backoff(attempt)  # someone committed meanwhile: read again and retry
    return done


def _expire(table: Table, retain: timedelta) -> int:
    before = len(table.metadata.snapshots)
    table.maintenance.expire_snapshots().older_than(datetime.now(UTC) - retain).commit()
    table.refresh()
    return before - len(table.metadata.snapshots)


def _referenced(table: Table) -> set[str]:
    io = table.io
    keep = {table.metadata_location}
    keep |= {entry.metadata_file for entry in table.metadata.metadata_log}
    for snapshot in table.metadata.snapshots:
        keep.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            keep.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(io, discard_deleted=False):
                keep.add(entry.data_file.file_path)
    return {_path(location) for location in keep}


def _path(location: str) -> str:
    parsed = urlparse(location)
    return parsed.path if parsed.scheme in ("", "file") else f"{parsed.netloc}{parsed.path}"


def _delete_orphans(table: Table, orphan_age: timedelta) -> tuple[int, int]:
    table.refresh()
    filesystem, root = pafs.FileSystem.from_uri(table.location())
    keep = _referenced(table)
    cutoff = datetime.now(UTC) - orphan_age
    deleted = freed = 0
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File or info.path in keep:
            continue
        modified = info.mtime
        if modified is not None and modified.replace(tzinfo=modified.tzinfo or UTC) > cutoff:
            continue  # perhaps a write in progress
        filesystem.delete_file(info.path)
        deleted += 1
        freed += info.size or 0
    return deleted, freed
