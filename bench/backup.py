"""Backup and restore (issue 18): how long a backup takes (full, after one more day, with nothing
new) and how long a restore takes (to a fresh home, metadata rewritten; and in place, when only
the catalog and store were lost), median of three — the recovery point and recovery time an
operator can plan with. Prints; asserts nothing.

An embedded home with D business days of the three vendors' synthetic workbooks (default 20,
so 60 deliveries) is built once. Recovery point: with a backup every T minutes, at most T plus
the duration of one incremental backup is lost (a backup is consistent as of the moment it read
the catalog). Recovery time: the restore's duration (plus starting the services).

Run: `make bench` or `.venv/bin/python bench/backup.py [--days 20] [--trials 3]`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from aurum.backup import backup, restore
from aurum.config import LakeSettings, Settings
from aurum.ingest.runner import backfill
from aurum.lake import Lake
from aurum.store import Store
from aurum.synthetic import business_days, workbook_name, write_workbook

VENDORS = ("PW", "EUGP", "RP")


def deliveries(folder: Path, first: date, days: int) -> list[Path]:
    return [
        write_workbook(folder / workbook_name(vendor, day), vendor=vendor, asof=day)
        for day in business_days(first, days)
        for vendor in VENDORS
    ]


def ingest(settings: Settings, paths: list[Path]) -> None:
    with Store.connect(settings) as store:
        backfill(paths, lake=Lake(settings), store=store, settings=settings)


def median_of(trials: int, once: Callable[[int], float]) -> tuple[float, list[float]]:
    times = [once(i) for i in range(trials)]
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="aurum-bench-backup-"))
    try:
        source = Settings(home=work / "source")
        started = time.perf_counter()
        paths = deliveries(work / "inbox", date(2025, 6, 2), args.days + 1)
        ingest(source, paths[:-3])
        print(
            f"built: {len(paths) - 3} deliveries ingested in {time.perf_counter() - started:.0f} s"
        )

        def full(i: int) -> float:
            report = backup(source, work / f"full-{i}")
            if i == 0:
                m = report.manifest
                rows = sum(m.store_rows.values())
                print(f"  backup holds {len(m.tables)} tables, {len(m.files):,} files,"
                      f" {m.bytes / 1e6:.1f} MB, {rows:,} store rows,"
                      f" {m.lineage_events:,} lineage events")  # fmt: skip
            return report.seconds

        full_s, full_all = median_of(args.trials, full)
        repository = work / "full-0"
        unchanged = [backup(source, repository) for _ in range(args.trials)]
        nothing_s = statistics.median(report.seconds for report in unchanged)
        ingest(source, paths[-3:])  # one more day of the three vendors
        incremental = backup(source, repository)
        manifest = incremental.manifest

        def fresh(i: int) -> float:
            report = restore(Settings(home=work / f"restored-{i}"), repository, manifest.backup_id)
            return report.seconds["total"]

        def in_place(i: int) -> float:
            # the catalog and the store are lost, the warehouse survived: a new catalog and
            # store over the same warehouse (no file is copied, nothing is rewritten)
            target = Settings(
                home=work / f"in-place-{i}", lake=LakeSettings(warehouse=source.warehouse)
            )
            return restore(target, repository, manifest.backup_id).seconds["total"]

        fresh_s, fresh_all = median_of(args.trials, fresh)
        place_s, _ = median_of(args.trials, in_place)
        size = manifest.bytes / 1e6
        print(f"backup, full:                 {full_s:6.2f} s  ({size / full_s:.0f} MB/s;"
              f" trials {', '.join(f'{t:.2f}' for t in full_all)})")  # fmt: skip
        print(f"backup, nothing new:          {nothing_s:6.2f} s  ({unchanged[-1].tree_read}"
              " manifests and lists read: the repository's index knows them)")  # fmt: skip
        print(f"backup, one more day:         {incremental.seconds:6.2f} s  ({incremental.copied}"
              f" files, {incremental.copied_bytes / 1e6:.1f} MB copied;"
              f" {incremental.reused:,} reused; {incremental.tree_read} manifests and lists"
              " read)")  # fmt: skip
        print(f"restore to a fresh home:      {fresh_s:6.2f} s  (trials"
              f" {', '.join(f'{t:.2f}' for t in fresh_all)}; metadata rewritten)")  # fmt: skip
        print(f"restore in place (DBs lost):  {place_s:6.2f} s")
        print(f"ratio full backup / incremental: {full_s / incremental.seconds:.1f}x")
        print(
            f"RPO with a backup every 15 min: <= 15 min + {incremental.seconds:.1f} s;"
            f" RTO: {fresh_s:.1f} s (fresh home) / {place_s:.1f} s (in place) + service start"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
