"""Scenario benchmarks for issue 13. Prints figures and targets; asserts nothing.

1. **Ensemble**: bands for 50 curves x 120 monthly tenors x 10,000 paths through
   ``aurum.scenarios.bands.simulate_bands`` (per curve: calibration on a 250-day history,
   simulation, P5/P50/P95, band backtest), the two models: wall time (target <= 10 s) and the
   process's peak RSS (target <= 4 GB).
2. **Attribution**: exact Shapley over 4 drivers (gas +20 %, carbon x2, heat rate +5 %, load
   +2 %/yr) for every monthly curve of one EUGP vendor-day of the bench lake: target <= 5 s.
3. **Reads**: a scenario run's curve with its bands over HTTP against a base curve slice
   (same curve, its as-of), ``aurum serve`` with one worker, sequential uncached requests:
   p50 ratio (target <= 2).

The lake is `bench/lake.py`'s cached 120-as-of-day EUGP + RP lake (built on first use, a few
minutes). Run: `make bench` or `.venv/bin/python bench/scenarios.py`.
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import And, EqualTo

from api import NO_CACHE, Server, get
from aurum.auth.access import PLATFORM, Access
from aurum.config import ScenarioLimits
from aurum.lake import Lake
from aurum.query.engine import Query
from aurum.runs import Runs
from aurum.runs.worker import Worker
from aurum.scenarios import ScenarioService
from aurum.scenarios.bands import simulate_bands
from aurum.scenarios.compute import CurveGrid, History, Scenario
from aurum.scenarios.specs import Ensemble, validate_assumption, validate_settings
from aurum.store import Store
from lake import build_lake

ASOF = date(2025, 9, 17)
DRIVERS = [
    ("gas +20%", {"type": "fuel_curve", "mode": "relative", "value": 20}),
    ("carbon x2", {"type": "carbon", "mode": "scaled", "value": 2}),
    ("heat rate +5%", {"type": "heat_rate", "mode": "relative", "value": 5}),
    ("load +2%/yr", {"type": "load_growth", "pct_per_year": 2}),
]
Summary = list[tuple[str, str, str, str]]


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def month(offset: int) -> date:
    index = ASOF.year * 12 + ASOF.month + offset
    return date(index // 12, index % 12 + 1, 1)


def synthetic_grid(curves: int, tenors: int) -> tuple[CurveGrid, dict[str, History]]:
    """``curves`` curves of ``tenors`` months, each with a 250-day history from a two-factor
    lognormal walk (kappa 1.5, sigma 0.5 / 0.2, rho 0.3)."""
    rng = np.random.default_rng(11)
    every = [ASOF - timedelta(days=d) for d in range(363, -1, -1)]
    days = [day for day in every if day.weekday() < 5][-250:]
    taus = (np.arange(tenors + 1) + 0.5) / 12
    decay = np.exp(-1.5 * taus)
    rows, histories = [], {}
    for c in range(curves):
        key = f"{c:064x}"
        level = 40 + 2 * c
        logs = np.log(level * (1 + 0.1 * np.cos(np.arange(tenors + 1) / 12 * 2 * np.pi)))
        walk = np.empty((len(days), tenors + 1))
        for d in range(len(days)):
            walk[d] = np.exp(logs)
            z1, z2 = rng.standard_normal(2)
            step = 0.5 * decay * z1 + 0.2 * (0.3 * z1 + 0.954 * z2)
            logs = logs + step / np.sqrt(252) - 0.5 * step**2 / 252
        histories[key] = History(tuple(days), walk)
        for j in range(1, tenors + 1):
            rows.append({"curve_key": key, "vendor": "BENCH", "asset_class": "power",
                         "location": f"L{c}", "block": "BASE", "currency": "EUR",
                         "per_unit": "MWh", "asof_date": ASOF, "base_tag": "bench",
                         "contract_month": month(j), "value": float(walk[-1, j])})  # fmt: skip
    return CurveGrid.from_rows(pa.Table.from_pylist(rows)), histories


def ensembles(summary: Summary) -> None:
    grid, histories = synthetic_grid(50, 120)
    rows = list(range(len(grid.curves)))
    for model in ("factor", "historical"):
        ensemble = Ensemble(model=model, paths=10_000, horizon_days=20, calibration_days=250)
        started = time.perf_counter()
        bands = simulate_bands(grid, grid.values, rows, histories, ensemble, seed=7, asof=ASOF,
                               limits=ScenarioLimits(memory_mb=4096))  # fmt: skip
        seconds = time.perf_counter() - started
        shares = [b["share"] for b in bands.report["backtest"].values()]
        print(f"ensemble {model}: 50 curves x 120 tenors x 10,000 paths in {seconds:.2f} s,"
              f" peak RSS {peak_rss_gb():.2f} GB; backtest share {shares[0]:.3f}")  # fmt: skip
        summary.append((f"ensemble ({model}) 50 x 120 x 10k", f"{seconds:.2f} s", "<= 10 s",
                        verdict(seconds <= 10)))  # fmt: skip
    gb = peak_rss_gb()
    summary.append(("ensemble peak RSS", f"{gb:.2f} GB", "<= 4 GB", verdict(gb <= 4)))


def attribution(lake: Lake, summary: Summary) -> None:
    table = lake.table("curve_observation")
    newest = max(p["asof_date"] for p in table.inspect.partitions().column("partition").to_pylist()
                 if p["vendor"] == "EUGP")  # fmt: skip
    rows, _ = Query(lake).scan("curve_observation", row_filter=And(
        EqualTo("vendor", "EUGP"), EqualTo("asof_date", newest.isoformat()),
        EqualTo("tenor_type", "MONTHLY"),
    ))  # fmt: skip
    rows = rows.append_column("base_tag", pa.array(["bench"] * rows.num_rows))
    grid = CurveGrid.from_rows(rows)
    settings = validate_settings({"base": {"vendors": ["EUGP"]}})
    assumptions = [(name, validate_assumption(value)) for name, value in DRIVERS]
    started = time.perf_counter()
    scenario = Scenario(grid, settings, assumptions, asof=newest)
    values, _, _ = scenario.attribute("shapley")
    seconds = time.perf_counter() - started
    cells = int((~np.isnan(grid.values)).sum())
    moved = int((np.abs(np.nan_to_num(values - grid.values)) > 1e-9).sum())
    print(f"shapley: 4 drivers over {len(grid.curves)} EUGP curves x {len(grid.months)} months"
          f" ({cells:,} prices, {moved:,} moved), 16 evaluations, in {seconds:.2f} s")  # fmt: skip
    summary.append(("Shapley, 4 drivers, one vendor-day", f"{seconds:.2f} s", "<= 5 s",
                    verdict(seconds <= 5)))  # fmt: skip


def reads(settings_home: Path, lake: Lake, summary: Summary) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        store_url = f"sqlite:///{scratch}/store.db"
        from aurum.config import Settings

        settings = Settings(home=settings_home, store={"url": store_url})
        store = Store.connect(settings)
        with store.transaction(PLATFORM) as tx:
            tx.create_tenant("default", "Development")
        service = ScenarioService(store, lake, Runs(store))
        access = Access("default", actor="bench")
        spec = {"base": {"vendors": ["EUGP"], "curves": {"location": "German"}},
                "ensemble": {"model": "factor", "paths": 2000, "horizon_days": 20,
                             "calibration_days": 250}}  # fmt: skip
        scenario = service.create(access, name="bench", description="", spec=spec,
                                  assumptions=DRIVERS[:2])  # fmt: skip
        service.request_run(access, scenario.id)
        started = time.perf_counter()
        run = Worker(service.runs, lake, {"scenario_run": service.execute}).run_once()
        assert run is not None and run.status == "published", run
        seconds = time.perf_counter() - started
        print(f"scenario run with bands for the German curves: {seconds:.1f} s")
        outputs = service.outputs(access, run).rows
        german = outputs.filter(pc.equal(outputs["block"], "BASE")).to_pylist()
        key, asof = german[0]["curve_key"], german[0]["asof_date"]
        store.close()
        server = Server(settings_home, 1, Path(scratch) / "serve.log",
                        env={"AURUM_STORE__URL": store_url})  # fmt: skip
        try:
            server.wait_ready()
            paths = {
                "base slice": f"/v1/curves?vendor=EUGP&curve_key={key}&asof={asof}",
                "scenario curve": f"/v1/curves?scenario_run={run.run_id}&curve_key={key}",
            }
            p50 = {}
            for name, path in paths.items():
                status, body = get(server.base + path, NO_CACHE)
                assert status == 200, body[:300]
                times = []
                for _ in range(300):
                    started = time.perf_counter()
                    get(server.base + path, NO_CACHE)
                    times.append(time.perf_counter() - started)
                p50[name] = statistics.median(times[20:]) * 1000
                print(f"{name}: p50 {p50[name]:.2f} ms ({path})")
        finally:
            server.stop()
        ratio = p50["scenario curve"] / p50["base slice"]
        summary.append(("scenario curve / base slice, HTTP p50",
                        f"{p50['scenario curve']:.2f} / {p50['base slice']:.2f} ms = {ratio:.2f}",
                        "<= 2", verdict(ratio <= 2)))  # fmt: skip


def main() -> None:
    summary: Summary = []
    ensembles(summary)
    settings, built = build_lake(120, rebuild=False)
    if built:
        print(f"built the bench lake in {built} s")
    lake = Lake(settings)
    attribution(lake, summary)
    reads(settings.home, lake, summary)
    print()
    width = max(len(row[0]) for row in summary)
    for figure, value, target, result in summary:
        print(f"{figure:<{width}}  {value:<28} {target:<8} {result}")


if __name__ == "__main__":
    main()
