"""Large ensembles over workers (issue 18): one scenario run of 50 curves x 120 monthly tenors x
20,480 paths (factor model, one-year horizon) drained by `aurum worker` processes, as one piece
on 1 worker, in 2 path blocks on 1 worker, and in 2 path blocks on 2 workers; median of three
trials each, and the ratios. Prints; asserts nothing (but says whether the three published
outputs of each trial are bit-identical, as they must be).

A synthetic EUGP lake of 270 as-of days (lognormal walks, 1.6 M rows: a year of history for the
one-year band backtest) is published into a temporary home. For each trial and set-up, K workers
are started with ``AURUM_SCENARIOS__PATHS_PER_BLOCK`` set (one piece: ten times the paths; two
blocks: half of them) and given time to start up, then the run is queued (a scenario of its own
per set-up, one seed per trial) and timed until it has ended. A split run's time is its plan
(read, calibrate, write the plan), its blocks (drawn in parallel when two workers take them) and
its combine (read every path back, band, publish): the figures show each part. On this 2-core
machine, 2 workers can at best halve the blocks' part.

Run: `.venv/bin/python bench/split_runs.py [--trials 3] [--paths 20480] [--curves 50]`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from aurum import tenancy
from aurum.auth.access import Access
from aurum.config import Settings
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.lake import Lake
from aurum.lake.publish import publish
from aurum.runs import Runs
from aurum.scenarios import ScenarioService
from aurum.store import Run, Store

ROOT = Path(__file__).resolve().parents[1]
AURUM = Path(sys.executable).parent / "aurum"
PLATFORM = Access.platform("bench")
BENCH = Access("bench", actor="user:bench")
STARTUP_S = 6.0
DAYS, TENORS, LAST = 270, 120, date(2025, 9, 17)
SETUPS = (  # label, workers, paths per block (None: the run's paths, one piece)
    ("one piece, 1 worker", 1, None),
    ("2 blocks, 1 worker", 1, 2),
    ("2 blocks, 2 workers", 2, 2),
)


def business_days(last: date, count: int) -> list[date]:
    days: list[date] = []
    day = last
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def month_add(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def build_lake(settings: Settings, curves: int) -> None:
    """``curves`` gas curves of 120 monthly tenors over 65 as-of days, each day published."""
    lake = Lake(settings)
    rng = np.random.default_rng(7)
    taus = (np.arange(TENORS) + 1.5) / 12
    levels = rng.uniform(20, 80, curves)[:, None] * (1 + 0.1 * np.cos(2 * np.pi * taus / 1.0))
    logs = np.log(levels)
    sigma_short = 0.5 * np.exp(-1.5 * taus)
    identities = [{"location": f"Bench_{c:02d}", "block": "NA", "asset_class": "gas",
                   "product": "gas", "currency": "EUR", "per_unit": "MWh"}
                  for c in range(curves)]  # fmt: skip
    keys = [hashlib.sha256(f"EUGP|{i}".encode()).hexdigest() for i in identities]
    for asof in business_days(LAST, DAYS):
        rows = []
        for identity, key, values in zip(identities, keys, np.exp(logs), strict=True):
            for j in range(TENORS):
                month = month_add(asof, j + 1)
                value = float(round(values[j], 3))
                rows.append({
                    "asof_date": asof, "source_file": f"EUGP_{asof:%Y%m%d}.xlsx",
                    "sheet_name": "Fixed Prices - Mid", "region": "EU", "price_type": "MID",
                    "tenor_type": "MONTHLY", "contract_month": month,
                    "tenor_label": f"{month:%Y-%m}", "tenor_start": month, "tenor_end": month,
                    "value": value, "mid": value, "curve_key": key, "version_hash": key[:16],
                    "_ingest_ts": datetime.now(UTC), "vendor": "EUGP",
                    "units_source": "reference", "source_sha256": "0" * 64, **identity,
                })  # fmt: skip
        run_id = hashlib.sha256(str(asof).encode()).hexdigest()[:32]
        done = publish(lake, CURVE_OBSERVATION, {"vendor": "EUGP", "asof_date": asof},
                       pa.Table.from_pylist(rows, CURVE_OBSERVATION.schema), run_id=run_id,
                       content_sha256=run_id)  # fmt: skip
        assert done.status == "published", done
        z = rng.standard_normal((curves, 2))
        step = sigma_short[None, :] * z[:, :1] + 0.2 * z[:, 1:]
        logs = logs + step / np.sqrt(252) - 0.5 * (sigma_short**2 + 0.04)[None, :] / 252


def trial(home: Path, service: ScenarioService, scenario_id: str, *, seed: int, workers: int,
          per_block: int) -> tuple[float, Run]:  # fmt: skip
    """Start ``workers`` processes (and let them start up), queue the run, time until it ends."""
    env = {**os.environ, "AURUM_HOME": str(home), "AURUM_RUNS__WORKER_POLL_S": "0.1",
           "AURUM_SCENARIOS__PATHS_PER_BLOCK": str(per_block)}  # fmt: skip
    procs = [subprocess.Popen([str(AURUM), "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
             for _ in range(workers)]  # fmt: skip
    time.sleep(STARTUP_S)  # imports and the store's connection: not the run
    try:
        started = time.perf_counter()
        run_id = service.request_run(BENCH, scenario_id, seed=seed).run.run_id
        while True:
            with service.store.transaction(PLATFORM, write=False) as tx:
                run = tx.get_run(run_id)
            if run.status in ("published", "failed", "cancelled"):
                break
            time.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    if run.status != "published":
        raise SystemExit(f"run {run.run_id} {run.status}: {run.error_code} {run.error_message}")
    return seconds, run


def parts(service: ScenarioService, run: Run) -> str:
    """Where a split run's time went: plan, blocks (first start to last end), combine."""
    children = service.runs.children(run)
    if not children:
        return ""
    first = min(c.started_at for c in children if c.started_at)
    last = max(c.finished_at for c in children if c.finished_at)
    assert run.finished_at is not None and run.started_at is not None
    plan = (first - run.queued_at).total_seconds()
    drawn = (last - first).total_seconds()
    combine = (run.finished_at - last).total_seconds()
    mb = sum(int(c.result["bytes"]) for c in children) / 2**20
    workers = len({c.result["worker"] for c in children})
    return (
        f" [plan {plan:.1f} s, blocks {drawn:.1f} s on {workers} worker(s), combine"
        f" {combine:.1f} s; {mb:,.0f} MiB of paths through scratch]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--paths", type=int, default=20_480)
    parser.add_argument("--curves", type=int, default=50)
    args = parser.parse_args()
    if args.paths % 2048:
        raise SystemExit("--paths: a multiple of 2,048 (two blocks of whole random streams)")
    with tempfile.TemporaryDirectory(prefix="aurum-bench-split-") as tmp:
        home = Path(tmp) / "home"
        settings = Settings(home=home)
        started = time.perf_counter()
        build_lake(settings, args.curves)
        print(f"lake: {args.curves} curves x {TENORS} tenors x {DAYS} as-of days in"
              f" {time.perf_counter() - started:.0f} s")  # fmt: skip
        ensemble = {"model": "factor", "paths": args.paths, "horizon_days": 252,
                    "calibration_days": 260}  # fmt: skip
        with Store.connect(settings) as store:
            service = ScenarioService(store, Lake(settings), Runs(store),
                                      limits=settings.scenarios)  # fmt: skip
            tenancy.create_tenant(store, PLATFORM, "bench", "Bench", ["EUGP"])
            spec = {"base": {"vendors": ["EUGP"]}, "ensemble": ensemble}
            scenarios = {
                label: service.create(BENCH, name=label, description="", spec=spec).id
                for label, _, _ in SETUPS
            }
            times: dict[str, list[float]] = {label: [] for label, _, _ in SETUPS}
            identical = 0
            for number in range(args.trials):
                published = {}
                for label, workers, blocks in SETUPS:
                    per_block = 10 * args.paths if blocks is None else args.paths // blocks
                    seconds, run = trial(home, service, scenarios[label], seed=1000 + number,
                                         workers=workers, per_block=per_block)  # fmt: skip
                    times[label].append(seconds)
                    published[label] = service.outputs(BENCH, run).rows.drop_columns(
                        ["run_id", "scenario_id"]
                    )
                    print(f"   trial {number + 1}: {label}: {seconds:5.1f} s"
                          + parts(service, run))  # fmt: skip
                tables = list(published.values())
                same = all(t.equals(tables[0]) for t in tables[1:])
                identical += same
                print(f"   trial {number + 1}: outputs bit-identical: {'yes' if same else 'NO'}")
    one = statistics.median(times[SETUPS[0][0]])
    print(f"\nSummary (median of {args.trials}; {args.curves} curves x {TENORS} tenors x"
          f" {args.paths:,} paths, 1-year horizon)")  # fmt: skip
    for label, _, _ in SETUPS:
        median = statistics.median(times[label])
        print(f"   {label:22s} {median:5.1f} s  ({1 / median * 60:.1f} runs/min,"
              f" {one / median:.2f}x one piece)")  # fmt: skip
    print(f"   trials whose three outputs were bit-identical: {identical} of {args.trials}")


if __name__ == "__main__":
    main()
