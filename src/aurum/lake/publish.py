"""Write-audit-publish of one vendor's as-of day on ``curve_observation``.

1. **Write**: branch ``eod_{vendor}_{YYYYMMDD}_{run}`` is created *at main's head*, and the
   day's partition is overwritten on it (every other partition is inherited from main).
2. **Audit**: the gates run on the staged rows against the vendor's previous published as-of.
3. **Publish**: one metadata commit moves main to the staged snapshot, tags it
   ``eod/{vendor}/{YYYY-MM-DD}/v{n}`` and drops the branch. pyiceberg asserts main's snapshot id
   as this run saw it and the catalog checks that assertion against the current metadata, so a
   publish never overwrites a main that moved: the run re-stages on the new main instead.

Main therefore only ever changes by whole days, in one commit, and a run killed anywhere leaves it
exactly as before or exactly as after. An identical re-delivery is a ``duplicate`` (no commit);
different content for a published day replaces that partition as version n+1, and version n
stays readable through its tag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import And, BooleanExpression, EqualTo
from pyiceberg.table import Table

from aurum.config import GateSettings
from aurum.errors import IngestError
from aurum.ingest.gates import GateOutcome, run_gates
from aurum.lake.catalog import Lake
from aurum.lake.commits import backoff, is_conflict, partition_days

__all__ = ["Publication", "Stage", "branch_name", "day_tag", "day_versions", "publish_day"]

Stage = Literal["branched", "staged", "audited", "published"]
MAX_ATTEMPTS = 25
_PREVIOUS_COLUMNS = ("curve_key", "tenor_label", "mid", "asset_class")


@dataclass(frozen=True)
class Publication:
    status: Literal["published", "duplicate", "failed"]
    version: int | None
    snapshot_id: int | None
    tag: str | None
    branch: str | None
    gates: tuple[GateOutcome, ...] = ()
    attempts: int = 1

    @property
    def gate_failures(self) -> tuple[str, ...]:
        return tuple(g.rule for g in self.gates if g.severity == "fail" and g.failed)


def branch_name(vendor: str, asof: date, run_id: str) -> str:
    """
    >>> branch_name("RP", date(2025, 9, 17), "ab12")
    'eod_rp_20250917_ab12'
    """
    return f"eod_{vendor.lower()}_{asof:%Y%m%d}_{run_id}"


def day_tag(vendor: str, asof: date, version: int) -> str:
    """The tag of a published version of a vendor's day.

    >>> day_tag("RP", date(2025, 9, 17), 2)
    'eod/RP/2025-09-17/v2'
    """
    return f"{_day_tag_prefix(vendor, asof)}{version}"


def _day_tag_prefix(vendor: str, asof: date) -> str:
    return f"eod/{vendor}/{asof.isoformat()}/v"


def _day(vendor: str, asof: date) -> BooleanExpression:
    return And(EqualTo("vendor", vendor), EqualTo("asof_date", asof.isoformat()))


def day_versions(table: Table, vendor: str, asof: date) -> dict[int, int]:
    """Published versions of a vendor's day: version number -> snapshot id (from the tags)."""
    prefix = _day_tag_prefix(vendor, asof)
    return {
        int(name[len(prefix) :]): ref.snapshot_id
        for name, ref in table.metadata.refs.items()
        if name.startswith(prefix) and name[len(prefix) :].isdigit()
    }


def _published_sha(table: Table, vendor: str, asof: date) -> str | None:
    """The content hash of the day's published version, from metadata alone: every publish tags
    its snapshot in the same commit, and the snapshot records the file's SHA-256."""
    versions = day_versions(table, vendor, asof)
    if not versions:
        return None
    snapshot = table.snapshot_by_id(versions[max(versions)])
    return snapshot.summary.get("aurum.sha256") if snapshot is not None else None


def _previous_day(table: Table, snapshot_id: int, vendor: str, asof: date) -> pa.Table | None:
    """The vendor's latest published as-of before ``asof``, found from partition metadata."""
    earlier = [day for day in partition_days(table, snapshot_id, vendor) if day < asof]
    if not earlier:
        return None
    return table.scan(
        row_filter=_day(vendor, max(earlier)),
        selected_fields=_PREVIOUS_COLUMNS,
        snapshot_id=snapshot_id,
    ).to_arrow()


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


class _MainMoved(Exception):
    """Main changed between staging and publishing: stage again on the new main."""


def _attempt(
    table: Table,
    data: pa.Table,
    vendor: str,
    asof: date,
    sha256: str,
    branch: str,
    properties: dict[str, str],
    gates: GateSettings,
    step: Callable[[Stage], None],
    attempt: int,
) -> Publication:
    table.refresh()
    base = table.metadata.refs["main"].snapshot_id
    published = _published_sha(table, vendor, asof)
    if published == sha256:
        _drop_branch(table, branch)
        versions = day_versions(table, vendor, asof)
        return Publication("duplicate", max(versions, default=None), base, None, None, (), attempt)
    _drop_branch(table, branch)  # left by an earlier attempt of this run
    table.manage_snapshots().create_branch(base, branch).commit()
    step("branched")
    if published is None:  # a new day: nothing to replace
        table.append(data, properties, branch=branch)
    else:  # a correction: replace the day's partition
        table.overwrite(data, _day(vendor, asof), properties, branch=branch)
    staged = table.snapshot_by_name(branch)
    if staged is None or not _descends_from(table, staged.snapshot_id, base):
        raise IngestError("staging_broken", f"branch {branch} does not descend from main")
    step("staged")
    outcomes = tuple(run_gates(_previous_day(table, base, vendor, asof), data, gates))
    if any(o.severity == "fail" and o.failed for o in outcomes):
        return Publication("failed", None, staged.snapshot_id, None, branch, outcomes, attempt)
    step("audited")
    table.refresh()
    if table.metadata.refs["main"].snapshot_id != base:
        raise _MainMoved
    version = max(day_versions(table, vendor, asof), default=0) + 1
    tag = day_tag(vendor, asof, version)
    (
        table.manage_snapshots()
        .set_current_snapshot(staged.snapshot_id)
        .create_tag(staged.snapshot_id, tag)
        .remove_branch(branch)
        .commit()
    )
    step("published")
    return Publication("published", version, staged.snapshot_id, tag, None, outcomes, attempt)


def publish_day(
    lake: Lake,
    rows: pa.Table,
    *,
    vendor: str,
    asof: date,
    sha256: str,
    run_id: str,
    gates: GateSettings,
    pause: Callable[[Stage], None] | None = None,
) -> Publication:
    """Write-audit-publish ``rows`` (one vendor's as-of day) to ``curve_observation``.

    ``pause`` is called at each stage boundary: fault-injection tests stop a process there.
    """
    step = pause or (lambda stage: None)
    table = lake.table("curve_observation")
    data = rows.sort_by([("curve_key", "ascending"), ("tenor_label", "ascending")])
    branch = branch_name(vendor, asof, run_id)
    properties = {"aurum.run_id": run_id, "aurum.vendor": vendor, "aurum.asof": asof.isoformat(),
                  "aurum.sha256": sha256}  # fmt: skip
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            with lake.reachable():  # the catalog down mid-way: Unavailable, outcome unknown
                return _attempt(table, data, vendor, asof, sha256, branch, properties, gates,
                                step, attempt)  # fmt: skip
        except (_MainMoved, CommitFailedException, ValueError) as exc:
            # Main moved, or another run committed to the table (any branch) first: start
            # again from a fresh read of main (see aurum.lake.commits).
            if not (isinstance(exc, _MainMoved) or is_conflict(exc)):
                raise
            backoff(attempt)
    raise IngestError(
        "publish_contention",
        f"main kept moving: {vendor} {asof} not published after {MAX_ATTEMPTS} attempts",
        branch=branch,
    )
