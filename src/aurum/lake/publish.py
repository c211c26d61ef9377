"""Write-audit-publish of one partition of a published dataset (any contract with a tag scheme).

1. **Write**: the run's branch (``TagScheme.branch``, e.g. ``eod_rp_20250917_{run}``) is created
   *at main's head*, and the partition is written there: appended when it is new, overwritten
   for a correction (every other partition is inherited from main).
2. **Audit**: ``audit.check(staged rows, previous rows)`` judges the staged rows against the
   dataset's previous publication (the same partition values but an earlier ``order_by``); a
   blocking outcome stops here and keeps the branch for inspection.
3. **Publish**: one metadata commit moves main to the staged snapshot, tags it
   ``TagScheme.tag(partition, n)`` and drops the branch. pyiceberg asserts main's snapshot id as
   this run saw it and the catalog checks that assertion against the current metadata, so a
   publish never overwrites a main that moved: the run re-stages on the new main instead.

Main therefore only ever changes by whole partitions, in one commit, and a run killed anywhere
leaves it exactly as before or exactly as after. The staged snapshot's summary names the run
(``aurum.run_id``) and the content (``aurum.sha256``): recovery finds a run's version by it, and
content identical to the newest version is a ``duplicate`` (no commit); different content is
version n+1, and version n stays readable through its tag.

A dataset whose payloads each carry *some* of a partition's rows (a feed: one file brings a
day's prices for some nodes, a later one the rest or a correction) publishes with ``merge``:
each attempt reads the partition as main holds it at that attempt's base, and stages
``merge(current, rows)``; the content hash is then the staged rows' own
(:func:`content_digest`), so re-loading a payload already merged is a ``duplicate`` and a
correction is the next version. Reading at the attempt's base keeps a concurrent load's rows:
if main moves, the attempt starts again and merges onto the new main.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from aurum.datasets import Dataset, TagScheme
from aurum.domain.quality import CheckOutcome
from aurum.errors import ConfigError, IngestError
from aurum.lake.catalog import Lake
from aurum.lake.commits import backoff, is_conflict, partitions
from aurum.lake.expressions import partition_filter
from aurum.lake.versions import RUN_ID, SHA256, versions

__all__ = ["Audit", "Merge", "Publication", "Stage", "content_digest", "publish"]

Stage = Literal["branched", "staged", "audited", "published"]
MAX_ATTEMPTS = 25
# (the partition's rows on main, or None when it is new; the rows to add) -> the rows to stage
Merge = Callable[[pa.Table | None, pa.Table], pa.Table]


def content_digest(rows: pa.Table) -> str:
    """SHA-256 of ``rows`` as CSV text (values, not buffers: equal tables hash equal whatever
    their chunking or padding); sort them first for a total order."""
    out = io.BytesIO()
    pacsv.write_csv(rows.combine_chunks(), out)
    return hashlib.sha256(out.getvalue()).hexdigest()


@dataclass(frozen=True)
class Audit:
    """Checks of the staged rows against the previous publication (``None``: there is none).
    ``columns``: what the check reads of the previous publication (empty: every column)."""

    check: Callable[[pa.Table, pa.Table | None], Sequence[CheckOutcome]]
    columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class Publication:
    status: Literal["published", "duplicate", "failed"]
    version: int | None
    snapshot_id: int | None
    tag: str | None
    branch: str | None
    checks: tuple[CheckOutcome, ...] = ()
    attempts: int = 1

    @property
    def gate_failures(self) -> tuple[str, ...]:
        return tuple(check.rule for check in self.checks if check.blocks)


def publish(
    lake: Lake,
    dataset: Dataset,
    partition: Mapping[str, Any],
    rows: pa.Table,
    *,
    run_id: str,
    content_sha256: str | None = None,
    audit: Audit | None = None,
    merge: Merge | None = None,
    pause: Callable[[Stage], None] | None = None,
) -> Publication:
    """Write-audit-publish ``rows`` as ``partition`` of ``dataset`` (see the module docstring).

    ``content_sha256`` names the content (a delivered file's hash); without it, the staged
    rows' :func:`content_digest`. ``merge``: compose with the partition's current rows (see the
    module docstring). ``pause`` is called at each stage boundary: fault-injection tests stop
    a process there; ``published`` comes right after the catalog commit.
    """
    scheme = dataset.tags
    if scheme is None:
        raise ConfigError("dataset_not_published", f"{dataset.name} is a log: append to it")
    if set(partition) != set(dataset.partition_by):
        raise ConfigError(
            "partition_invalid",
            f"a partition of {dataset.name} names {list(dataset.partition_by)}, not"
            f" {sorted(partition)}",
        )
    table = lake.table(dataset.name)
    data = _ordered(rows, dataset)
    properties = {RUN_ID: run_id, SHA256: content_sha256 or ""}
    attempt = _Attempt(table, dataset, scheme, dict(partition), data, properties, audit,
                       pause or (lambda stage: None), merge)  # fmt: skip
    for number in range(1, MAX_ATTEMPTS + 1):
        try:
            with lake.reachable():  # the catalog down mid-way: Unavailable, outcome unknown
                return attempt.run(number)
        except (_MainMoved, CommitFailedException, ValueError) as exc:
            # Main moved, or another run committed to the table (any branch) first: start
            # again from a fresh read of main (see aurum.lake.commits).
            if not (isinstance(exc, _MainMoved) or is_conflict(exc)):
                raise
            backoff(number)
    raise IngestError(
        "publish_contention",
        f"main kept moving: {scheme.tag_prefix(partition)}* not published after"
        f" {MAX_ATTEMPTS} attempts",
        branch=scheme.branch(partition, run_id),
    )


def _ordered(rows: pa.Table, dataset: Dataset) -> pa.Table:
    order = [(name, "ascending") for name in dataset.sort_by]
    return (rows.sort_by(order) if order else rows).cast(dataset.schema)


class _MainMoved(Exception):
    """Main changed between staging and publishing: stage again on the new main."""


@dataclass
class _Attempt:
    table: Table
    dataset: Dataset
    scheme: TagScheme
    partition: dict[str, Any]
    data: pa.Table
    properties: dict[str, str]
    audit: Audit | None
    step: Callable[[Stage], None]
    merge: Merge | None = None
    rows: pa.Table | None = None  # what this attempt stages (data, or data merged onto main)

    def run(self, attempt: int) -> Publication:
        table, partition = self.table, self.partition
        branch = self.scheme.branch(partition, self.properties[RUN_ID])
        table.refresh()
        base = table.metadata.refs["main"].snapshot_id
        published = versions(table, self.scheme, partition)
        self._compose(base if published else None)
        newest = table.snapshot_by_id(published[max(published)]) if published else None
        if newest is not None and newest.summary.get(SHA256) == self.properties[SHA256]:
            _drop_branch(table, branch)
            return Publication("duplicate", max(published), base, None, None, (), attempt)
        _drop_branch(table, branch)  # left by an earlier attempt of this run
        table.manage_snapshots().create_branch(base, branch).commit()
        self.step("branched")
        if not published:  # a new partition: nothing to replace
            table.append(self.rows, self.properties, branch=branch)
        else:  # a correction: replace the partition
            table.overwrite(self.rows, partition_filter(partition), self.properties, branch=branch)
        staged = table.snapshot_by_name(branch)
        if staged is None or not _descends_from(table, staged.snapshot_id, base):
            raise IngestError("staging_broken", f"branch {branch} does not descend from main")
        self.step("staged")
        checks = tuple(self._audit(base)) if self.audit is not None else ()
        if any(check.blocks for check in checks):
            return Publication("failed", None, staged.snapshot_id, None, branch, checks, attempt)
        self.step("audited")
        table.refresh()
        if table.metadata.refs["main"].snapshot_id != base:
            raise _MainMoved
        version = max(versions(table, self.scheme, partition), default=0) + 1
        tag = self.scheme.tag(partition, version)
        (
            table.manage_snapshots()
            .set_current_snapshot(staged.snapshot_id)
            .create_tag(staged.snapshot_id, tag)
            .remove_branch(branch)
            .commit()
        )
        self.step("published")
        return Publication("published", version, staged.snapshot_id, tag, None, checks, attempt)

    def _compose(self, base: int | None) -> None:  # base None: the partition is new
        """The rows this attempt stages, and (for a merge) their digest."""
        if self.merge is None:
            self.rows = self.data
        else:
            current = None
            if base is not None:
                current = self.table.scan(
                    row_filter=partition_filter(self.partition), snapshot_id=base
                ).to_arrow()
            self.rows = _ordered(self.merge(current, self.data), self.dataset)
        if self.merge is not None or not self.properties[SHA256]:
            self.properties[SHA256] = content_digest(self.rows)

    def _audit(self, base: int) -> Sequence[CheckOutcome]:
        assert self.audit is not None
        previous = _previous(self.table, self.dataset, self.partition, base)
        rows = None
        if previous is not None:
            rows = self.table.scan(
                row_filter=partition_filter(previous),
                selected_fields=self.audit.columns or ("*",),
                snapshot_id=base,
            ).to_arrow()
        assert self.rows is not None
        return self.audit.check(self.rows, rows)


def _previous(
    table: Table, dataset: Dataset, partition: Mapping[str, Any], snapshot_id: int
) -> dict[str, Any] | None:
    """The partition published before ``partition`` in the dataset's ``order_by`` (the same
    other partition values), found from partition metadata."""
    order = dataset.order_by
    if order is None:
        return None
    same = {k: v for k, v in partition.items() if k != order}
    earlier = [
        p for p in partitions(table, snapshot_id)
        if all(p.get(k) == v for k, v in same.items()) and _before(p[order], partition[order])
    ]  # fmt: skip
    return max(earlier, key=lambda p: p[order]) if earlier else None


def _before(value: Any, than: Any) -> bool:
    if isinstance(than, date) and isinstance(value, str):
        value = date.fromisoformat(value)
    return bool(value < than)


def _descends_from(table: Table, snapshot_id: int, ancestor_id: int) -> bool:
    """Whether ``ancestor_id`` is on ``snapshot_id``'s parent chain (an overwrite stages a delete
    and an append, so the staged head is main's grandchild, not its child)."""
    current: int | None = snapshot_id
    while current is not None:
        if current == ancestor_id:
            return True
        snapshot = table.snapshot_by_id(current)
        current = snapshot.parent_snapshot_id if snapshot else None
    return False


def _drop_branch(table: Table, branch: str) -> None:
    if branch in table.metadata.refs:
        table.manage_snapshots().remove_branch(branch).commit()
