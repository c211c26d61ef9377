"""The serving copy of ``curve_observation``: one DuckDB file per snapshot of main.

Iceberg stays the source of truth; this is a cache of it shaped for reads. A one-curve,
one-as-of slice is far cheaper from a DuckDB table sorted by (vendor, as-of, curve key) than
through a pyiceberg scan plan (10 ms or more, DESIGN.md), so the API reads here whenever it
can. Measured with DuckDB 2.0 on a 4.7M-row lake: 3–5 ms in SQL, 6–9 ms through
``Curves.curves`` (bench/api.py); DESIGN.md's 1.4 ms was not reproduced, hence the served
slices below (0.3 ms).

How it stays right:

* A replica file is named by the snapshot id it holds and is never modified once renamed into
  place, so every request (and every page of a cursor) reads exactly one snapshot.
* Building the replica of a new snapshot copies the newest existing file and replaces only the
  (vendor, as-of) partitions whose data files changed, found by comparing each partition's data
  file list with the one recorded in the copy: a publish of one day rewrites one day. Compaction
  changes file lists without changing rows; the rewrite is then redundant, never wrong.
* Builders take a file lock, so processes (API workers, ``aurum serve`` beside ``aurum ingest``)
  build each snapshot once; readers open finished files read-only.
* The newest ``keep`` files stay; an older snapshot (time travel, an old cursor) is read straight
  from Iceberg instead: slower, equally correct.

Served slices (``aurum.query.served``): with ``slice_columns`` each replica also gets the read
model of the API's most frequent question, built with it and renamed into place before it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
from pyiceberg.expressions import And, EqualTo, In
from pyiceberg.table import Table

from aurum.lake.catalog import Lake
from aurum.query.engine import Connection, Session, connect
from aurum.query.served import ServedSlices

__all__ = ["CURVE_SUMMARY", "TABLE", "BuildReport", "Replicas", "partition_files"]

TABLE = "curve_observation"
_EPOCH = date(1970, 1, 1)
_SORT = "asof_date, vendor, curve_key, tenor_start, tenor_label"
# Rebuild from scratch (globally sorted) instead of patching when this share of days changed.
_REBUILD_SHARE = 0.5


# One row per curve: identity, units, first/last as-of and tenor coverage at its last as-of.
CURVE_SUMMARY = f"""
    WITH latest AS (
        SELECT curve_key, max(asof_date) AS last_asof FROM {TABLE} GROUP BY curve_key
    )
    SELECT o.curve_key,
           any_value(o.vendor) AS vendor,
           any_value(o.asset_class) AS asset_class, any_value(o.iso) AS iso,
           any_value(o.region) AS region, any_value(o.location) AS location,
           any_value(o.market) AS market, any_value(o.product) AS product,
           any_value(o.block) AS block, any_value(o.spark_location) AS spark_location,
           any_value(o.price_type) AS price_type, any_value(o.units_raw) AS units_raw,
           any_value(o.currency) AS currency, any_value(o.per_unit) AS per_unit,
           min(o.asof_date) AS first_asof, max(o.asof_date) AS last_asof,
           count(DISTINCT o.asof_date) AS asof_count,
           list_sort(list(DISTINCT o.tenor_type)) AS tenor_types,
           count(DISTINCT o.tenor_label) FILTER (WHERE o.asof_date = l.last_asof)
               AS tenors_at_last_asof,
           min(o.contract_month) FILTER (WHERE o.asof_date = l.last_asof)
               AS first_month_at_last_asof,
           max(o.contract_month) FILTER (WHERE o.asof_date = l.last_asof)
               AS last_month_at_last_asof
    FROM {TABLE} o JOIN latest l USING (curve_key)
    GROUP BY o.curve_key
"""


@dataclass(frozen=True, slots=True)
class BuildReport:
    snapshot_id: int
    path: Path
    partitions_changed: int
    partitions_total: int
    rows: int
    seconds: float


def partition_files(table: Table, snapshot_id: int) -> dict[tuple[str, date], str]:
    """A fingerprint of the data and delete files behind each (vendor, as-of) partition."""
    snapshot = table.snapshot_by_id(snapshot_id)
    if snapshot is None:
        return {}
    files: dict[tuple[str, date], list[str]] = {}
    specs = table.specs()
    for manifest in snapshot.manifests(table.io):
        names = [field.name for field in specs[manifest.partition_spec_id].fields]
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            values = dict(zip(names, entry.data_file.partition, strict=True))
            day = values["asof_date"]
            key = (values["vendor"], _EPOCH + timedelta(days=day) if isinstance(day, int) else day)
            files.setdefault(key, []).append(entry.data_file.file_path)
    return {
        key: hashlib.sha256("\n".join(sorted(paths)).encode()).hexdigest()
        for key, paths in files.items()
    }


class Replicas:
    """The replica files of one lake, opened read-only and shared by this process's threads."""

    def __init__(
        self, lake: Lake, directory: Path, *, keep: int = 3, slice_columns: Sequence[str] = ()
    ) -> None:
        """``slice_columns``: also build the served slices of these columns
        (``aurum.query.served``); empty: no slices."""
        self.lake = lake
        self.directory = directory
        self.keep = keep
        self.served = (
            ServedSlices(directory, TABLE, slice_columns, keep=keep) if slice_columns else None
        )
        self._connections: dict[int, Connection] = {}
        self._local = threading.local()
        self._lock = threading.Lock()

    def path(self, snapshot_id: int) -> Path:
        return self.directory / f"{TABLE}-{snapshot_id}.duckdb"

    def slices(self, snapshot_id: int, asof: date, curve_key: str) -> list[tuple[str, int, bytes]]:
        """Every vendor's served slice of one curve at one as-of: (vendor, rows, JSON)."""
        return [] if self.served is None else self.served.lookup(snapshot_id, asof, curve_key)

    def has(self, snapshot_id: int) -> bool:
        return snapshot_id in self._connections or self.path(snapshot_id).exists()

    def session(self, snapshot_id: int, *, timeout_s: float | None) -> Session | None:
        """A read-only session on the replica of ``snapshot_id`` (this thread's cursor of the
        shared connection), if the replica exists."""
        cursors: dict[int, Connection] = self._local.__dict__.setdefault("cursors", {})
        cursor = cursors.get(snapshot_id)
        if cursor is None:
            for stale in [s for s in cursors if s not in self._connections]:
                del cursors[stale]
            connection = self._connections.get(snapshot_id)
            if connection is None:
                with self._lock:
                    connection = self._connections.get(snapshot_id)
                    if connection is None:
                        if not self.path(snapshot_id).exists():
                            return None
                        connection = connect(self.path(snapshot_id), read_only=True)
                        self._connections[snapshot_id] = connection
                        self._forget_old()
            cursor = cursors[snapshot_id] = connection.cursor()
        return Session(cursor, timeout_s=timeout_s)

    def ensure(self, table: Table) -> BuildReport | None:
        """Build the replica of ``table``'s main snapshot unless it exists already."""
        snapshot_id = table.metadata.refs["main"].snapshot_id
        if self.has(snapshot_id):
            if self.served and not self.served.path(snapshot_id).exists():
                self._add_slices(snapshot_id)  # a replica built before this slice layout
            return None
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._build_lock():
            if self.path(snapshot_id).exists():  # another process built it while we waited
                return None
            report = self._build(table, snapshot_id)
            self._collect_garbage()
        return report

    def _add_slices(self, snapshot_id: int) -> None:
        assert self.served is not None
        with self._build_lock():
            if self.served.path(snapshot_id).exists() or not self.path(snapshot_id).exists():
                return
            connection = connect(self.path(snapshot_id), read_only=True)
            try:
                self.served.build(Session(connection, timeout_s=None), snapshot_id, None, [], [])
            finally:
                connection.close()

    def sweep(self) -> list[Path]:
        """Delete the scratch files of builds that died (a process killed mid-build leaves one
        of several MB). Builds only write scratch while holding the build lock, so with the lock
        held every scratch file is an orphan, whatever process made it."""
        if not self.directory.is_dir():
            return []
        with self._build_lock():
            return self._sweep()

    def _sweep(self) -> list[Path]:
        orphans = sorted(self.directory.glob(".*.tmp*"))
        for path in orphans:
            path.unlink(missing_ok=True)
        return orphans

    @contextmanager
    def _build_lock(self) -> Iterator[None]:
        with open(self.directory / ".build.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _build(self, table: Table, snapshot_id: int) -> BuildReport:
        started = time.perf_counter()
        wanted = partition_files(table, snapshot_id)
        self._sweep()  # under the build lock: what a killed build left
        scratch = self.directory / f".{TABLE}-{snapshot_id}.{os.getpid()}.tmp"
        base = self._newest()
        have: dict[tuple[str, date], str] = {}
        if base is not None:
            shutil.copyfile(base, scratch)
        full = base is None
        connection = connect(scratch)
        build = Session(connection, timeout_s=None)  # a build is not a read: no time limit
        try:
            if base is not None:
                have = {
                    (vendor, day): fingerprint
                    for vendor, day, fingerprint in build.rows(
                        "SELECT vendor, asof_date, fingerprint FROM replica_partition"
                    )
                }
            changed = [key for key, value in wanted.items() if have.get(key) != value]
            gone = [key for key in have if key not in wanted]
            if base is None or len(changed) + len(gone) > _REBUILD_SHARE * max(len(wanted), 1):
                self._create(build, table)
                changed, gone, full = list(wanted), [], True
            elif changed or gone:
                doomed = pa.table(
                    {
                        "vendor": [vendor for vendor, _ in changed + gone],
                        "asof_date": pa.array([day for _, day in changed + gone], pa.date32()),
                    }
                )
                build.register("doomed", doomed)
                for target in (TABLE, "replica_partition"):
                    build.run(
                        f"DELETE FROM {target} t USING doomed d"
                        " WHERE t.vendor = d.vendor AND t.asof_date = d.asof_date"
                    )
                build.unregister("doomed")
            rows = self._load(build, table, snapshot_id, changed)
            fingerprints = pa.table(
                {
                    "vendor": [vendor for vendor, _ in changed],
                    "asof_date": pa.array([day for _, day in changed], pa.date32()),
                    "fingerprint": [wanted[key] for key in changed],
                }
            )
            build.register("fingerprints", fingerprints)
            build.run(
                "INSERT INTO replica_partition SELECT f.vendor, f.asof_date, f.fingerprint,"
                f" (SELECT count(*) FROM {TABLE} t"
                "   WHERE t.vendor = f.vendor AND t.asof_date = f.asof_date) FROM fingerprints f"
            )
            build.unregister("fingerprints")
            build.run(f"CREATE OR REPLACE TABLE curve AS {CURVE_SUMMARY}")
            build.run(
                "CREATE OR REPLACE TABLE replica_meta AS SELECT ?::BIGINT AS snapshot_id",
                [snapshot_id],
            )
            build.run("CHECKPOINT")
            if self.served:
                base_id = None if full or base is None else _snapshot_of(base)
                self.served.build(build, snapshot_id, base_id, changed, gone)
        except BaseException:
            connection.close()
            scratch.unlink(missing_ok=True)
            raise
        connection.close()
        os.replace(scratch, self.path(snapshot_id))
        return BuildReport(
            snapshot_id=snapshot_id,
            path=self.path(snapshot_id),
            partitions_changed=len(changed) + len(gone),
            partitions_total=len(wanted),
            rows=rows,
            seconds=time.perf_counter() - started,
        )

    @staticmethod
    def _create(build: Session, table: Table) -> None:
        build.run(f"DROP TABLE IF EXISTS {TABLE}")
        build.register("empty", table.schema().as_arrow().empty_table())
        build.run(f"CREATE TABLE {TABLE} AS SELECT * FROM empty")
        build.unregister("empty")
        build.run(
            "CREATE OR REPLACE TABLE replica_partition ("
            " vendor VARCHAR, asof_date DATE, fingerprint VARCHAR, rows BIGINT)"
        )

    @staticmethod
    def _load(
        build: Session, table: Table, snapshot_id: int, partitions: list[tuple[str, date]]
    ) -> int:
        """Copy the rows of ``partitions`` at the snapshot in, sorted for zone-map pruning."""
        days_by_vendor: dict[str, list[date]] = {}
        for vendor, day in partitions:
            days_by_vendor.setdefault(vendor, []).append(day)
        total = 0
        for vendor, days in sorted(days_by_vendor.items()):
            rows = table.scan(
                row_filter=And(
                    EqualTo("vendor", vendor), In("asof_date", {d.isoformat() for d in days})
                ),
                snapshot_id=snapshot_id,
            ).to_arrow()
            build.register("incoming", rows)
            build.run(f"INSERT INTO {TABLE} SELECT * FROM incoming ORDER BY {_SORT}")
            build.unregister("incoming")
            total += rows.num_rows
        return total

    def _newest(self) -> Path | None:
        files = sorted(self.directory.glob(f"{TABLE}-*.duckdb"), key=lambda p: p.stat().st_mtime)
        return files[-1] if files else None

    def _collect_garbage(self) -> None:
        files = sorted(self.directory.glob(f"{TABLE}-*.duckdb"), key=lambda p: p.stat().st_mtime)
        for path in files[: -self.keep]:
            path.unlink(missing_ok=True)  # readers holding it open keep reading (POSIX)
            if self.served:
                self.served.remove(_snapshot_of(path))
        for legacy in self.directory.glob(f"{TABLE}-*.slices.sqlite"):  # the earlier layout
            legacy.unlink(missing_ok=True)

    def _forget_old(self) -> None:
        """Drop connections to all but the newest ``keep`` replicas; a thread still reading one
        holds its cursor, and the database closes when the last reference goes."""
        for snapshot_id in sorted(self._connections, key=self._age)[: -self.keep]:
            del self._connections[snapshot_id]

    def _age(self, snapshot_id: int) -> float:
        try:
            return self.path(snapshot_id).stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()


def _snapshot_of(path: Path) -> int:
    return int(path.name.removesuffix(".duckdb").removeprefix(f"{TABLE}-"))
