"""PPA valuation end to end through the service (issue 14): what a user's request costs, with
the lake reads, the path regeneration and the publish included. Prints figures; asserts nothing.

A temporary lake holds EUGP German BASE and PEAK, 121 monthly tenors, over 70 as-of days (a
two-factor lognormal walk, published day by day by write-audit-publish as an ingest would). A
scenario (German power +5 %) runs with an ensemble of 1,000 factor-model paths on those two
curves. Then the 20-year pay-as-produced virtual PPA of ``bench/ppa.py`` (175,320 hours, beyond
the curve's 121 months, so ``extrapolate=flat``) is valued:

1. **deterministic on base curves** (``PpaService.valuate``: contract, curve read at a pinned
   snapshot, OFF_PEAK derived, shaping, valuation, publish of 240 rows, run record);
2. **on the scenario run's ensemble, 1,000 paths** (the queued run executed by a worker: the
   paths regenerated from the run's calibration history and seed, extrapolated per path,
   valued, published).

Targets: the issue's (deterministic <= 0.5 s for the valuation; 1,000 paths <= 10 s and
<= 4 GB), reported against the end-to-end times, which include what the engine benchmark leaves
out. Run: ``.venv/bin/python bench/ppa_service.py`` from the repository root.
"""

from __future__ import annotations

import hashlib
import os
import resource
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from api import cpu_busy
from aurum.auth.access import PLATFORM, Access
from aurum.config import Settings
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.lake.catalog import Lake
from aurum.lake.publish import publish
from aurum.ppa import PpaService
from aurum.query.curves import Curves
from aurum.runs import Runs
from aurum.runs.worker import Worker
from aurum.scenarios import ScenarioService
from aurum.store import Store
from ppa import contract

DAYS, TENORS, LAST = 70, 121, date(2025, 9, 17)
CURVES = (("BASE", 80.0), ("PEAK", 95.0))
PATHS = 1000


def month_add(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def business_days() -> list[date]:
    days, day = [], LAST
    while len(days) < DAYS:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def day_rows(asof: date, levels: np.ndarray) -> pa.Table:
    rows = []
    for (block, _), values in zip(CURVES, levels, strict=True):
        identity = {"location": "German", "block": block, "asset_class": "power",
                    "product": "power", "currency": "EUR", "per_unit": "MWh"}  # fmt: skip
        key = hashlib.sha256(f"EUGP|German|{block}".encode()).hexdigest()
        for j in range(TENORS):
            month = month_add(asof, j)
            value = float(round(values[j], 3))
            rows.append({
                "asof_date": asof, "source_file": f"EUGP_{asof:%Y%m%d}.xlsx",
                "sheet_name": "Fixed Prices - Mid", "region": "EU", "price_type": "MID",
                "tenor_type": "MONTHLY", "contract_month": month, "tenor_label": f"{month:%Y-%m}",
                "tenor_start": month, "tenor_end": month, "value": value, "mid": value,
                "curve_key": key, "version_hash": key[:16], "_ingest_ts": datetime.now(UTC),
                "vendor": "EUGP", "units_source": "reference", "source_sha256": "0" * 64,
                **identity,
            })  # fmt: skip
    return pa.Table.from_pylist(rows, CURVE_OBSERVATION.schema)


def build_lake(settings: Settings) -> None:
    lake = Lake(settings)
    rng = np.random.default_rng(5)
    taus = (np.arange(TENORS) + 0.5) / 12
    logs = np.log(np.array([[level * (1 + 0.1 * np.cos(2 * np.pi * j / 12)) for j in range(TENORS)]
                            for _, level in CURVES]))  # fmt: skip
    for asof in business_days():
        z = rng.standard_normal((len(CURVES), 2))
        logs = logs + np.sqrt(1 / 252) * (0.4 * np.exp(-1.5 * taus) * z[:, :1] + 0.18 * z[:, 1:])
        run_id = hashlib.sha256(str(asof).encode()).hexdigest()[:32]
        publish(lake, CURVE_OBSERVATION, {"vendor": "EUGP", "asof_date": asof},
                day_rows(asof, np.exp(logs)), run_id=run_id, content_sha256=run_id)  # fmt: skip


def main() -> None:
    busy = cpu_busy()
    print(f"Aurum PPA service benchmark ({os.cpu_count()} cores; CPU busy before the run: "
          + ("unknown" if busy is None else f"{busy:.0%}") + ")")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="aurum-bench-ppa-") as folder:
        settings = Settings(home=Path(folder), store={"url": f"sqlite:///{folder}/store.db"})
        started = time.perf_counter()
        build_lake(settings)
        print(f"   lake: {DAYS} as-of days x 2 curves x {TENORS} months published in"
              f" {time.perf_counter() - started:.1f} s")  # fmt: skip
        store = Store.connect(settings)
        with store.transaction(PLATFORM) as tx:
            tx.create_tenant("bench", "Bench")
        access = Access("bench", actor="bench")
        lake = Lake(settings)
        runs = Runs(store, lease=settings.runs.lease)
        scenarios = ScenarioService(store, lake, runs, limits=settings.scenarios)
        ppa = PpaService(store, lake, runs, Curves(lake, None), scenarios)
        worker = Worker(runs, lake, {"scenario_run": scenarios.execute, "valuation": ppa.execute})
        scenario = scenarios.create(access, name="bench", description="", spec={
            "base": {"vendors": ["EUGP"]}, "seed": 3,
            "ensemble": {"paths": PATHS, "horizon_days": 20, "calibration_days": 60},
        }, assumptions=[("up", {"type": "shock", "mode": "relative", "value": 5})])  # fmt: skip
        run = scenarios.request_run(access, scenario.id).run
        started = time.perf_counter()
        worker.run_one(run.run_id)
        took = time.perf_counter() - started
        print(f"   scenario run with {PATHS:,} paths on 2 curves: {took:.1f} s (not a PPA figure)")
        terms = contract().model_dump(mode="json", exclude_none=True)
        body = {"terms": terms, "discount": {"rate": 0.06}, "extrapolate": "flat"}
        times = []
        for _ in range(3):
            started = time.perf_counter()
            found = ppa.valuate(access, body)
            times.append(time.perf_counter() - started)
        summary = found.run.result["summary"]
        print(f"1. deterministic, 240 months, 175,320 hours: NPV {summary['npv']:,.0f} EUR;"
              f" {len(summary['extrapolated_months'])} months extrapolated")  # fmt: skip
        print(f"   => first {times[0]:.2f} s, then {min(times[1:]):.2f} s end to end, with reads,"
              " publish and run record")  # fmt: skip
        print(f"      (target <= 0.5 s: {times[0] / 0.5:.2f}x first, {min(times[1:]) / 0.5:.2f}x"
              " then)")  # fmt: skip
        queued = ppa.valuate(access, {**body, "curves": {"scenario_run": run.run_id,
                                                           "ensemble": True}})  # fmt: skip
        started = time.perf_counter()
        done = worker.run_one(queued.run.run_id)
        seconds = time.perf_counter() - started
        ensemble = done.result["summary"]["ensemble"]
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"2. ensemble, {ensemble['paths']:,} paths ({done.result['inputs']['paths']}):"
              f" NPV P5 {ensemble['npv']['p5']:,.0f} / P50 {ensemble['npv']['p50']:,.0f} /"
              f" P95 {ensemble['npv']['p95']:,.0f}")  # fmt: skip
        print(f"   => {seconds:.2f} s end to end (target <= 10 s: {seconds / 10:.2f}x); peak RSS"
              f" {peak:.2f} GB (target <= 4 GB: {peak / 4:.2f}x)")  # fmt: skip
        store.close()


if __name__ == "__main__":
    main()
