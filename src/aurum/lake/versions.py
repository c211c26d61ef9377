"""Published versions, read from a table's tags (named by the dataset's ``TagScheme``).

Every publish tags its snapshot in the same commit that moves main, so the tags are the list of
versions: ``eod/RP/2025-09-17/v1``, ``…/v2`` … Each tagged snapshot's summary records the run
that made it (``aurum.run_id``) and the content it holds (``aurum.sha256``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyiceberg.table import Table
from pyiceberg.table.snapshots import Snapshot

from aurum.datasets import TagScheme

__all__ = ["RUN_ID", "SHA256", "latest_versions", "published_by", "versions"]

# Keys of the snapshot summary a publish writes.
RUN_ID = "aurum.run_id"
SHA256 = "aurum.sha256"


def versions(table: Table, scheme: TagScheme, partition: Mapping[str, Any]) -> dict[int, int]:
    """Published versions of one partition: version number -> snapshot id."""
    prefix = scheme.tag_prefix(partition)
    return {
        int(name[len(prefix) :]): ref.snapshot_id
        for name, ref in table.metadata.refs.items()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    }


def published_by(
    table: Table, scheme: TagScheme, partition: Mapping[str, Any], run_id: str
) -> tuple[int, Snapshot] | None:
    """The version of ``partition`` that run ``run_id`` published, if any (from the summaries)."""
    for version, snapshot_id in versions(table, scheme, partition).items():
        snapshot = table.snapshot_by_id(snapshot_id)
        if snapshot is not None and snapshot.summary.get(RUN_ID) == run_id:
            return version, snapshot
    return None


def latest_versions(
    table: Table, scheme: TagScheme, snapshot_id: int
) -> dict[tuple[str, ...], int]:
    """The newest version of every partition published by the time of ``snapshot_id``, keyed by
    the partition's values as text, in the scheme's key order."""
    pinned = table.snapshot_by_id(snapshot_id)
    cutoff = pinned.timestamp_ms if pinned else 0
    timestamps = {s.snapshot_id: s.timestamp_ms for s in table.metadata.snapshots}
    found: dict[tuple[str, ...], int] = {}
    for name, ref in table.metadata.refs.items():
        parsed = scheme.parse(name)
        if parsed is None or timestamps.get(ref.snapshot_id, cutoff + 1) > cutoff:
            continue
        values, version = parsed
        key = tuple(values[k] for k in scheme.keys)
        found[key] = max(version, found.get(key, 0))
    return found
