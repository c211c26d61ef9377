"""Lake benchmarks for the versioned-lake issue. Prints figures and targets; asserts nothing.

1. One day end to end (real EUGP + RP of 2025-09-17: parse, archive, gates, stage, publish)
   divided by parse-only time of the same files in the same run (target <= 3).
2. Backfill of all real workbooks into a fresh lake (seconds).
3. Slice read (one curve, one as-of, all tenors) from a lake of >= 120 as-of days of EUGP and
   RP built from the project's own generator (synthetic days; cached in .aurum/bench/lake120,
   built on first use, ~4.7 M rows): p50/p99 in-process, now and at an older version's tag
   (target p50 <= 20 ms).
4. Lake bytes per as-of day against the raw workbook bytes.

Run: `make bench` or `.venv/bin/python bench/lake.py [--days N] [--rebuild]`.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

from aurum.config import Settings
from aurum.ingest.pipeline import parse_workbook
from aurum.ingest.runner import backfill, ingest_file
from aurum.lake import Lake
from aurum.query import Query
from aurum.store import Store
from aurum.synthetic import business_days, workbook_name, write_workbook

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "workbooks"
CACHE = ROOT / ".aurum" / "bench" / "lake120"


def fresh(home: Path) -> tuple[Settings, Lake, Store]:
    settings = Settings(home=home)
    return settings, Lake(settings), Store.connect(settings)


def end_to_end(scratch: Path) -> None:
    day = [SHARED / "EOD_EUGP_20250917_1430.xlsx", SHARED / "EOD_RP_20250917_1430.xlsx"]
    before = [SHARED / "EOD_EUGP_20250912_1430.xlsx", SHARED / "EOD_RP_20250912_1430.xlsx"]
    e2e, parse = [], []
    for round_ in range(5):
        settings, lake, store = fresh(scratch / f"e2e{round_}")
        for path in before:  # so the gates compare with a previous day
            ingest_file(path, lake=lake, store=store, settings=settings)
        started = time.perf_counter()
        for path in day:
            assert (
                ingest_file(path, lake=lake, store=store, settings=settings).status == "published"
            )
        e2e.append(time.perf_counter() - started)
        store.close()
        started = time.perf_counter()
        for path in day:
            parse_workbook(path, settings=settings)
        parse.append(time.perf_counter() - started)
    ratio = statistics.median(e2e) / statistics.median(parse)
    print("1. one day end to end (EUGP + RP 2025-09-17) / parse only, same files, same run")
    print(
        f"   end to end {statistics.median(e2e):.3f} s, parse {statistics.median(parse):.3f} s,"
        f" ratio {ratio:.1f}  {'met' if ratio <= 3 else 'NOT MET'} (target <= 3)"
    )


def backfill_real(scratch: Path) -> None:
    settings, lake, store = fresh(scratch / "backfill")
    files = sorted(SHARED.glob("EOD_*.xlsx"))
    started = time.perf_counter()
    reports = backfill(files, lake=lake, store=store, settings=settings)
    seconds = time.perf_counter() - started
    rows = sum(r.parse.observations.num_rows for r in reports)
    print(f"\n2. backfill of the {len(files)} real workbooks: {seconds:.1f} s ({rows:,} rows)")


def _write(job: tuple[Path, str, date]) -> Path:
    folder, vendor, day = job
    return write_workbook(folder / workbook_name(vendor, day), vendor=vendor, asof=day)


def build_lake(days: int, rebuild: bool) -> tuple[Settings, int]:
    settings = Settings(home=CACHE)
    marker = CACHE / f"built-{days}"
    if marker.exists() and not rebuild:
        return settings, 0
    shutil.rmtree(CACHE, ignore_errors=True)
    inbox = CACHE / "inbox"
    jobs = [(inbox, v, d) for d in business_days(date(2025, 3, 3), days) for v in ("EUGP", "RP")]
    started = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        paths = list(pool.map(_write, jobs, chunksize=4))
    lake, store = Lake(settings), Store.connect(settings)
    backfill(paths, lake=lake, store=store, settings=settings)
    store.close()
    marker.touch()
    return settings, int(time.perf_counter() - started)


def slice_reads(days: int, rebuild: bool) -> None:
    settings, built = build_lake(days, rebuild)
    lake = Lake(settings)
    query = Query(lake)
    table = lake.table("curve_observation")
    files = table.inspect.files()
    total_rows = sum(files.column("record_count").to_pylist())
    partitions = table.inspect.partitions().column("partition").to_pylist()
    days_by_vendor = {v: sorted(p["asof_date"] for p in partitions if p["vendor"] == v)
                      for v in ("EUGP", "RP")}  # fmt: skip
    keys = {
        v: query.sql(
            f"SELECT DISTINCT curve_key FROM curve_observation "
            f"WHERE vendor = '{v}' AND asof_date = DATE '{days_by_vendor[v][-1]}'",
            as_at=f"eod/{v}/{days_by_vendor[v][-1]}/v1",
        )
        .table.column(0)
        .to_pylist()
        for v in ("EUGP", "RP")
    }
    rng = random.Random(7)

    def read(as_tag: bool) -> float:
        vendor = rng.choice(["EUGP", "RP"])
        day = rng.choice(days_by_vendor[vendor])
        as_at = f"eod/{vendor}/{day}/v1" if as_tag else None
        started = time.perf_counter()
        rows = query.observations(vendor=vendor, asof=day, curve_key=rng.choice(keys[vendor]),
                                  as_at=as_at)  # fmt: skip
        elapsed = time.perf_counter() - started
        assert rows.num_rows > 0
        return elapsed

    print(f"\n3. slice reads from a lake of {total_rows:,} rows, {len(partitions)} partitions"
          + (f" (built now in {built} s)" if built else " (cached)"))  # fmt: skip
    for label, as_tag in (("current main", False), ("time travel, at a tag", True)):
        for _ in range(5):
            read(as_tag)
        times = sorted(read(as_tag) for _ in range(100))
        p50, p99 = statistics.median(times) * 1000, times[98] * 1000
        print(f"   {label:22s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
              f"{'met' if p50 <= 20 else 'NOT MET'} (target p50 <= 20 ms)")  # fmt: skip
    data_bytes = sum(files.column("file_size_in_bytes").to_pylist())
    raw = sum(p.stat().st_size for p in (CACHE / "inbox").glob("*.xlsx"))
    print("\n4. lake bytes per as-of day (both vendors) against the raw workbooks")
    print(f"   {data_bytes / days / 1e6:.2f} MB of Parquet per day, raw {raw / days / 1e6:.2f} MB"
          f" per day: {data_bytes / raw:.2f} x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print("Aurum lake benchmark (SQLite catalog, local warehouse, this machine)\n")
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        if SHARED.is_dir():
            end_to_end(scratch)
            backfill_real(scratch)
        else:
            print("(../shared/workbooks not found: sections 1 and 2 skipped)")
    slice_reads(args.days, args.rebuild)


if __name__ == "__main__":
    main()
