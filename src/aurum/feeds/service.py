"""Feed loads: a payload (a file or a fetched answer) → its rows, versioned in the lake.

One load is one run (kind ``feed_load``)::

    payload ─┬─ archived raw:  raw/feeds/{format}/{sha256}{suffix} (immutable, content-addressed)
             └─ parsed (aurum.feeds.readers) ─ payload gates (blocking: nothing is written)
                  └─ per partition (a source's day, a series, a year of rates):
                       write-audit-publish, merged onto the partition as main holds it

A payload brings some of a partition's rows; the load **merges** them (a row replaces the row
with its key, :data:`aurum.datasets.feeds.MERGE_KEYS`), so loading it again publishes nothing
(every partition a ``duplicate``) and a corrected value is the partition's next version, the
earlier one readable by its tag. An LMP load also updates the ISO's node registry
(``iso_node``). A payload the parser recognises but which holds nothing to keep (an empty API
answer, a document listing, station metadata) is recorded with its kind and writes nothing.

Partitions are published one after another, and the run records the *last* one before it
starts: recovery (``aurum.runs.Runs.recover``) finds the run published only if its last
partition is, so a load killed half-way is failed, and loading the payload again completes it
(the partitions already written are duplicates).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aurum.auth.access import Access
from aurum.datasets import Dataset
from aurum.datasets.feeds import FX_RATE, ISO_LMP, ISO_NODE, MERGE_KEYS, SERIES_OBSERVATION
from aurum.domain.quality import CheckOutcome
from aurum.errors import AurumError, ValidationFailed
from aurum.feeds import readers
from aurum.feeds.gates import key_of, partition_checks, payload_checks
from aurum.feeds.lmp import FeedRows
from aurum.lake.archive import archive_raw
from aurum.lake.catalog import Lake
from aurum.lake.publish import Audit, Publication, publish
from aurum.runs import Runs
from aurum.store import Run, Store

__all__ = ["FeedLoad", "Feeds", "feed_archive_path"]

DATASETS: dict[str, Dataset] = {d.name: d for d in (ISO_LMP, SERIES_OBSERVATION, FX_RATE)}


def feed_archive_path(warehouse: str, format: str, sha256: str, suffix: str) -> str:
    """
    >>> feed_archive_path("file:///lake", "pjm.dataminer_csv", "ab", ".csv")
    'file:///lake/raw/feeds/pjm.dataminer_csv/ab.csv'
    """
    return f"{warehouse}/raw/feeds/{format}/{sha256}{suffix}"


@dataclass(frozen=True)
class FeedLoad:
    """What a load did: its run, what the payload was, and each partition's outcome."""

    run: Run
    format: str
    params: dict[str, str]
    kind: str
    rows: int
    partitions: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return self.run.status

    def summary(self) -> dict[str, Any]:
        published = [p for p in self.partitions if p["status"] == "published"]
        return {
            "run_id": self.run.run_id, "status": self.run.status, "file": self.run.subject,
            "format": self.format, "params": self.params, "kind": self.kind, "rows": self.rows,
            "dataset": readers.dataset_of(self.kind), "partitions": len(self.partitions),
            "published": len(published),
            "duplicates": sum(p["status"] == "duplicate" for p in self.partitions),
            "tags": [p["tag"] for p in published], "warnings": self.warnings,
            "checks": self.checks,
        }  # fmt: skip


class Feeds:
    """Loads of feed payloads into one lake, each a run of one store."""

    def __init__(self, lake: Lake, store: Store, runs: Runs) -> None:
        self.lake = lake
        self.store = store
        self.runs = runs

    def load(
        self, access: Access, payload: bytes, *, name: str, format: str | None = None,
        params: Mapping[str, str] | None = None, request_id: str | None = None,
    ) -> FeedLoad:  # fmt: skip
        """Parse, gate and publish ``payload`` (see the module docstring)."""
        params = dict(params or {})
        if format is None:
            format, found = readers.detect(name)
            params = {**found, **params}
        elif format not in readers.READERS:
            readers.read(format, b"")  # feed_format_unknown, listing the formats
        sha = hashlib.sha256(payload).hexdigest()
        run = self.runs.start(
            access, "feed_load", subject=PurePosixPath(name).name, sha256=sha,
            params={"format": format, "params": params, "bytes": len(payload)},
            request_id=request_id,
        )  # fmt: skip
        try:
            with self.runs.held(run):
                return self._load(run, payload, format, params, sha, name)
        except Exception as exc:
            code = exc.code if isinstance(exc, AurumError) else "internal_error"
            failures = exc.diagnostics.get("gate_failures", []) if isinstance(
                exc, AurumError) else []  # fmt: skip
            self.runs.finish(
                run, "failed", action="feed.load", details={"error": code},
                error_code=code, error_message=str(exc)[:2000], gate_failures=failures,
                result={**run.result, "format": format, "params": params},
            )  # fmt: skip
            raise

    def runs_of(self, access: Access, *, limit: int = 100, offset: int = 0) -> list[Run]:
        with self.store.transaction(access, write=False) as tx:
            return tx.runs(kind="feed_load", limit=limit, offset=offset)

    # -- the work -------------------------------------------------------------------------------

    def _load(
        self, run: Run, payload: bytes, format: str, params: dict[str, str], sha: str,
        name: str,
    ) -> FeedLoad:  # fmt: skip
        suffix = PurePosixPath(name).suffix or ".bin"
        archived = archive_raw(
            self.lake.io, feed_archive_path(self.lake.warehouse, format, sha, suffix), payload
        )
        parsed = readers.read(format, payload, params)
        dataset_name = readers.dataset_of(parsed.kind)
        base = {"format": format, "params": params, "kind": parsed.kind, "archive": archived,
                "warnings": parsed.warnings[:50]}  # fmt: skip
        if dataset_name is None:  # recognised, nothing to keep
            finished = self.runs.finish(
                run, "published", action="feed.load",
                details={"format": format, "kind": parsed.kind, "rows": 0},
                result={**base, "rows": 0, "partitions": []},
            )  # fmt: skip
            return FeedLoad(finished, format, params, parsed.kind, 0, [], parsed.warnings)
        dataset = DATASETS[dataset_name]
        rows = _canonical(dataset, parsed, format)
        checks = payload_checks(dataset.name, rows)
        blocking = [c.rule for c in checks if c.blocks]
        if blocking:
            raise ValidationFailed(
                "gate_failed",
                f"{name}: {', '.join(blocking)} — nothing was written ("
                + "; ".join(f"{c.rule}: {c.failed} of {c.checked}, e.g. {', '.join(c.sample_keys)}"
                            for c in checks if c.blocks) + ")",
                gate_failures=blocking, checks=[_check(c) for c in checks],
            )  # fmt: skip
        parts = _partitions(dataset, rows)
        if parts:
            with self.store.transaction(Access.platform()) as tx:
                tx.update_run(run.run_id, dataset=dataset.name, partition=_plain(parts[-1][0]))
        self.runs.stage(run, branch=None)
        outcomes = []
        for partition, part in parts:
            publication = self._publish(dataset, partition, part, run.run_id)
            outcomes.append(_outcome(dataset, partition, publication, part.num_rows))
        if dataset is ISO_LMP and rows.num_rows:
            self._register_nodes(rows, run.run_id)
        last = outcomes[-1] if outcomes else None
        failed = [o for o in outcomes if o["status"] == "failed"]
        # duplicate: every partition was already published as is; a payload of no rows is
        # recorded as loaded, with nothing written
        changed = any(o["status"] == "published" for o in outcomes)
        status = "published" if changed or not outcomes else "duplicate"
        if failed:  # a partition's audit blocked (none does today: partition gates warn)
            raise ValidationFailed(
                "gate_failed", f"{name}: {len(failed)} partitions failed their audit",
                gate_failures=sorted({g for o in failed for g in o["gate_failures"]}),
            )  # fmt: skip
        all_checks = [_check(c) for c in checks] + [c for o in outcomes for c in o["checks"]]
        finished = self.runs.finish(
            run, status, action="feed.load",
            details={"format": format, "kind": parsed.kind, "rows": rows.num_rows,
                     "partitions": len(outcomes)},
            result={**base, "rows": rows.num_rows, "partitions": outcomes,
                    "checks": all_checks},
            snapshot_id=last["snapshot_id"] if last else None,
            tag=last["tag"] if last else None, version=last["version"] if last else None,
        )  # fmt: skip
        return FeedLoad(finished, format, params, parsed.kind, rows.num_rows, outcomes,
                        parsed.warnings, all_checks)  # fmt: skip

    def _publish(
        self, dataset: Dataset, partition: dict[str, Any], rows: pa.Table, run_id: str
    ) -> Publication:
        audit = Audit(lambda staged, previous: partition_checks(dataset.name, staged, previous))
        return publish(self.lake, dataset, partition, rows, run_id=run_id,
                       merge=replace_by_key(MERGE_KEYS[dataset.name]), audit=audit)  # fmt: skip

    def _register_nodes(self, rows: pa.Table, run_id: str) -> None:
        """Add the nodes first seen in ``rows`` to their ISO's registry (a new version only when
        a node is new, or seen on an earlier day than before)."""
        for iso in pc.unique(rows["iso"]).to_pylist():
            mine = rows.filter(pc.equal(rows["iso"], iso))
            seen = mine.group_by(["node", "node_type", "market_tz"]).aggregate(
                [("operating_day", "min")]
            )
            nodes = pa.table({
                "iso": [iso] * seen.num_rows, "node": seen["node"], "name": seen["node"],
                "node_type": seen["node_type"], "zone": pa.nulls(seen.num_rows, pa.string()),
                "hub": pa.nulls(seen.num_rows, pa.string()), "market_tz": seen["market_tz"],
                "first_day": seen["operating_day_min"],
            })  # fmt: skip
            nodes = _first_per_key(
                nodes.sort_by([("node", "ascending"), ("first_day", "ascending")]), ("node",)
            )
            publish(self.lake, ISO_NODE, {"iso": iso}, nodes, run_id=run_id,
                    merge=_merge_nodes)  # fmt: skip


def replace_by_key(keys: tuple[str, ...]):  # type: ignore[no-untyped-def]
    """A merge: the partition's rows whose key the new rows do not have, then the new rows."""

    def merge(current: pa.Table | None, new: pa.Table) -> pa.Table:
        if current is None or current.num_rows == 0:
            return new
        current = current.select(new.schema.names).cast(new.schema)
        kept = current.filter(pc.invert(pc.is_in(key_of(current, keys),
                                                 value_set=key_of(new, keys))))  # fmt: skip
        return pa.concat_tables([kept, new])

    return merge


def _merge_nodes(current: pa.Table | None, new: pa.Table) -> pa.Table:
    """The registry's nodes and the new ones; a node keeps its earliest first day and the
    attributes it had (a later load does not erase a name or zone someone set)."""
    if current is None or current.num_rows == 0:
        return new
    current = current.select(new.schema.names).cast(new.schema)
    both = pa.concat_tables([current, new]).sort_by([("node", "ascending"),
                                                     ("first_day", "ascending")])  # fmt: skip
    earliest = both.group_by("node").aggregate([("first_day", "min")])
    kept = pa.concat_tables([current, new.filter(pc.invert(pc.is_in(
        new["node"], value_set=current["node"])))])  # fmt: skip
    first = dict(zip(earliest["node"].to_pylist(), earliest["first_day_min"].to_pylist(),
                     strict=True))  # fmt: skip
    days = pa.array([first[n] for n in kept["node"].to_pylist()], pa.date32())
    return kept.set_column(kept.schema.get_field_index("first_day"), "first_day", days)


def _first_per_key(rows: pa.Table, keys: tuple[str, ...]) -> pa.Table:
    key = key_of(rows, keys)
    seen: set[str] = set()
    mask = []
    for value in key.to_pylist():
        mask.append(value not in seen)
        seen.add(value)
    return rows.filter(pa.array(mask))


def _canonical(dataset: Dataset, parsed: FeedRows, format: str) -> pa.Table:
    """The parse's rows in the dataset's schema (the partition columns filled in)."""
    rows = parsed.rows
    n = rows.num_rows
    if dataset is ISO_LMP:
        rows = rows.append_column("source_format", pa.array([format] * n, pa.string()))
        if rows["operating_day"].null_count:
            rows = rows.set_column(
                rows.schema.get_field_index("operating_day"), "operating_day",
                _operating_days(rows),
            )  # fmt: skip
    elif dataset is FX_RATE:
        rows = rows.append_column("year", pc.cast(pc.year(rows["rate_date"]), pa.int32()))
    elif dataset is SERIES_OBSERVATION:
        rows = rows.append_column("series_group", _series_groups(rows))
    return rows.select(dataset.column_names).cast(dataset.schema)


def _series_groups(rows: pa.Table) -> pa.Array:
    """A NOAA or EIA series id without its last ``:`` part (the datatype, the fuel or the
    type: what is published together), a FRED id as it is."""
    groups = []
    for source, series_id in zip(rows["source"].to_pylist(), rows["series_id"].to_pylist(),
                                 strict=True):  # fmt: skip
        groups.append(series_id.rsplit(":", 1)[0] if source in ("NOAA", "EIA") else series_id)
    return pa.array(groups, pa.string())


def _operating_days(rows: pa.Table) -> pa.Array:
    """The operating day of each row: the source's, else the interval start's local date."""
    from zoneinfo import ZoneInfo

    days = []
    for day, start, zone in zip(rows["operating_day"].to_pylist(),
                                rows["interval_start_utc"].to_pylist(),
                                rows["market_tz"].to_pylist(), strict=True):  # fmt: skip
        days.append(day if day is not None else start.astimezone(ZoneInfo(zone)).date())
    return pa.array(days, pa.date32())


def _partitions(dataset: Dataset, rows: pa.Table) -> list[tuple[dict[str, Any], pa.Table]]:
    """The rows of each partition, in partition order."""
    columns = list(dataset.partition_by)
    values = rows.select(columns).group_by(columns).aggregate([]).sort_by(
        [(c, "ascending") for c in columns])  # fmt: skip
    out = []
    for value in values.to_pylist():
        mask = None
        for column in columns:
            equal = pc.equal(rows[column], pa.scalar(value[column], rows.schema.field(column).type))
            mask = equal if mask is None else pc.and_(mask, equal)
        out.append((value, rows.filter(mask)))
    return out


def _plain(partition: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in partition.items()}


def _check(check: CheckOutcome) -> dict[str, Any]:
    return {"rule": check.rule, "severity": check.severity, "failed": check.failed,
            "checked": check.checked, "sample_keys": list(check.sample_keys)}  # fmt: skip


def _outcome(
    dataset: Dataset, partition: dict[str, Any], publication: Publication, rows: int
) -> dict[str, Any]:
    tag = publication.tag
    if tag is None and publication.version is not None:
        assert dataset.tags is not None
        tag = dataset.tags.tag(partition, publication.version)
    return {
        "partition": _plain(partition), "status": publication.status, "rows": rows,
        "version": publication.version, "tag": tag, "snapshot_id": publication.snapshot_id,
        "gate_failures": list(publication.gate_failures),
        "checks": [_check(c) for c in publication.checks if c.failed],
    }  # fmt: skip
