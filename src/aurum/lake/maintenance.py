"""Lake maintenance, which pyiceberg leaves to its users: compaction, expiry, orphan files.

* **Compact**: a partition (or an unpartitioned log table) made of many small files — the side
  tables gain one per run — is rewritten as one file, in one commit that asserts main did not
  move (the same compare-and-swap as a publish), so content never changes.
* **Expire** snapshots older than the dataset's ``retain_snapshots_days`` (or a retention given),
  except those tags and branches point to: every published version stays readable for ever.
* **Retention** (the contract's ``retain_rows``): rows older than it are deleted; the snapshots
  that held them still answer time travel until they expire in turn.
* **Orphans**: files under a table's location that no remaining snapshot (and no metadata file
  still in the log) refers to are deleted, if older than ``orphan_age`` so that the files of a
  write in progress are never touched. On S3 they go through DeleteObjects, 1,000 keys a
  request (botocore, ``aurum[s3]``): Arrow's ``delete_file`` costs a HEAD, a DELETE and a PUT
  of an empty ``folder/`` marker per file, and rclone's server refuses that marker and then
  lists the folder as empty, files still in it included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import LessThan
from pyiceberg.table import Table
from pyiceberg.types import DateType

from aurum.datasets import Retention
from aurum.errors import NotInstalledError, Unavailable
from aurum.lake.catalog import Lake
from aurum.lake.commits import backoff, is_conflict
from aurum.lake.expressions import partition_filter

__all__ = ["MaintenanceReport", "delete_files", "maintain"]


@dataclass(frozen=True)
class MaintenanceReport:
    table: str
    partitions_compacted: int
    snapshots_expired: int
    orphans_deleted: int
    bytes_freed: int
    rows_expired: int = 0


def maintain(
    lake: Lake,
    *,
    retain: timedelta | None = None,
    orphan_age: timedelta = timedelta(days=1),
    compact_min_files: int = 8,
) -> list[MaintenanceReport]:
    """Every dataset's table: rows past the contract's ``retain_rows`` deleted, partitions of
    many files compacted, untagged snapshots older than ``retain`` (default: the contract's
    ``retain_snapshots_days``) expired, and files nothing refers to deleted."""
    reports = []
    for dataset in lake.datasets.values():
        table = lake.table(dataset.name)
        rows = _expire_rows(table, dataset.retain_rows) if dataset.retain_rows else 0
        compacted = _compact(table, compact_min_files)
        keep = retain if retain is not None else timedelta(days=dataset.retain_snapshots_days)
        expired = _expire(table, keep)
        deleted, freed = _delete_orphans(lake, table, orphan_age)
        reports.append(MaintenanceReport(dataset.name, compacted, expired, deleted, freed, rows))
    return reports


def _expire_rows(table: Table, retention: Retention) -> int:
    """Delete the rows whose ``retention.column`` is older than ``retention.days``."""
    field = table.schema().find_field(retention.column)
    cutoff = datetime.now(UTC) - timedelta(days=retention.days)
    limit = (
        cutoff.date().isoformat() if isinstance(field.field_type, DateType) else cutoff.isoformat()
    )
    old = LessThan(retention.column, limit)
    for attempt in range(1, 11):
        try:
            table.refresh()
            doomed = table.scan(row_filter=old, selected_fields=(retention.column,)).to_arrow()
            if not doomed.num_rows:
                return 0
            table.delete(old, {"aurum.maintenance": "retention"})
            return doomed.num_rows
        except (CommitFailedException, ValueError) as exc:
            if not is_conflict(exc):
                raise
            backoff(attempt)  # someone committed meanwhile: read again and retry
    return 0


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
        where = partition_filter(dict(key))
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


def _delete_orphans(lake: Lake, table: Table, orphan_age: timedelta) -> tuple[int, int]:
    table.refresh()
    filesystem, root = lake.filesystem(table.location())
    keep = _referenced(table)
    cutoff = datetime.now(UTC) - orphan_age
    orphans: dict[str, int] = {}
    for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True)):
        if info.type != pafs.FileType.File or info.path in keep:
            continue
        modified = info.mtime
        if modified is not None and modified.replace(tzinfo=modified.tzinfo or UTC) > cutoff:
            continue  # perhaps a write in progress
        orphans[info.path] = info.size or 0
    if not orphans:
        return 0, 0
    if isinstance(filesystem, pafs.S3FileSystem):
        _delete_objects(_s3_client(lake.io_properties), list(orphans))
    else:
        for path in orphans:
            filesystem.delete_file(path)
    return len(orphans), sum(orphans.values())


def delete_files(locations: Sequence[str], properties: dict[str, str]) -> None:
    """Delete files of a warehouse by location: on S3 with DeleteObjects (no folder marker is
    written, see :func:`_delete_objects`), elsewhere one by one."""
    remote = [loc for loc in locations if urlparse(loc).scheme in ("s3", "s3a")]
    if remote:
        _delete_objects(_s3_client(properties), [_path(loc) for loc in remote])
    for location in locations:
        if location not in remote:
            Path(_path(location)).unlink(missing_ok=True)


# DeleteObjects takes at most this many keys per request.
_BATCH = 1000


def _delete_objects(client: Any, paths: Sequence[str]) -> None:
    """Delete ``bucket/key`` paths with S3's DeleteObjects, a batch of keys per request; no
    folder marker is written. Every batch is sent; the keys S3 refused are then one error."""
    from botocore.exceptions import BotoCoreError, ClientError

    by_bucket: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        bucket, _, key = path.partition("/")
        by_bucket[bucket].append(key)
    refused: list[dict[str, str]] = []
    for bucket, keys in by_bucket.items():
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            try:
                answer = client.delete_objects(
                    Bucket=bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except (BotoCoreError, ClientError) as exc:
                raise Unavailable(
                    "orphan_delete_failed",
                    f"deleting {len(batch)} orphan files from s3://{bucket}/ (first"
                    f" {batch[0]!r}) failed: {exc}",
                    bucket=bucket,
                    keys=batch[:10],
                    dependency="the lake's warehouse",
                ) from exc
            refused += [{"bucket": bucket, **error} for error in answer.get("Errors", [])]
    if refused:
        shown = "; ".join(
            f"s3://{e['bucket']}/{e.get('Key', '?')}: {e.get('Code', 'error')}"
            + (f" ({e['Message']})" if e.get("Message") else "")
            for e in refused[:5]
        )
        more = f" and {len(refused) - 5} more" if len(refused) > 5 else ""
        raise Unavailable(
            "orphan_delete_failed",
            f"S3 refused to delete {len(refused)} of {len(paths)} orphan files: {shown}{more}",
            refused=refused[:50],
            dependency="the lake's warehouse",
        )


def _s3_client(properties: dict[str, str]) -> Any:
    """A botocore S3 client from pyiceberg's IO ``properties`` (:func:`aurum.lake.io_properties`):
    the same endpoint, keys (else the AWS default chain, as Arrow's) and addressing as
    :func:`aurum.lake.catalog.filesystem`."""
    try:
        import botocore.session
        from botocore.config import Config
    except ImportError as exc:
        raise NotInstalledError(
            "not_installed",
            "deleting orphan files from an S3 warehouse needs botocore: pip install 'aurum[s3]'",
            extra="s3",
        ) from exc
    endpoint = properties.get("s3.endpoint") or None
    if properties.get("s3.force-virtual-addressing") == "true":
        addressing = "virtual"
    else:  # Arrow's rule: path style on an endpoint of one's own, AWS's default elsewhere
        addressing = "path" if endpoint else "auto"
    return botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=properties.get("s3.region"),
        aws_access_key_id=properties.get("s3.access-key-id"),
        aws_secret_access_key=properties.get("s3.secret-access-key"),
        config=Config(s3={"addressing_style": addressing}),
    )
