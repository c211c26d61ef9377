"""Scenario-ensemble figures for issue 13. Prints figures and targets; asserts nothing.

Run with ``.venv/bin/python bench/ensembles.py [--curves N] [--paths P]``. Everything is pure
numpy (``aurum.domain.ensembles``) on synthetic curves, so the figures measure the maths alone:

1. Simulate ``paths`` x 120 monthly tenors for each of ``curves`` curves (one calibration each,
   seed ``[run_seed, curve index]``, horizon 1 year) and compute each curve's bands, one curve
   at a time as a caller would: wall time and peak resident memory (target <= 10 s and
   <= 4 GB for 10,000 x 120 x 50 on 2 cores); ``memory_bytes`` of one and of all matrices.
2. The same for a 10-year horizon (every tenor stops at its own delivery: 120 distinct stops).
3. Bit-identity of a split run (blocks [0, k) + [k, n) against all at once), and its cost.
4. Calibration time per curve on 500 business days of 24, 60 and 120 relative tenors simulated
   from the model itself, with the recovered parameters against the true ones.
5. Historical simulation and the analytic band backtest, time per curve.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from aurum.domain.ensembles import (
    Calibration,
    backtest,
    bands,
    calibrate,
    historical,
    memory_bytes,
    relative_taus,
    simulate,
)

TENORS = 120
RUN_SEED = 20_261_300
TARGET_SECONDS = 10.0
TARGET_GB = 4.0
TRUE = Calibration("lognormal", 1.5, 0.5, 0.2, 0.3, 0, None, None, 0, {})


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def curves(count: int) -> list[tuple[np.ndarray, Calibration]]:
    """Shaped forwards (50-80) and a spread of calibrations, one per curve."""
    rng = np.random.default_rng(0)
    taus = relative_taus(TENORS)
    out = []
    for _ in range(count):
        level = rng.uniform(50, 70)
        forward = level + 8 * np.cos(2 * np.pi * (taus + rng.uniform())) + taus
        cal = Calibration(
            "lognormal", rng.uniform(0.5, 5), rng.uniform(0.3, 1.0), rng.uniform(0.1, 0.3),
            rng.uniform(-0.5, 0.5), 0, None, None, 0, {},
        )  # fmt: skip
        out.append((forward, cal))
    return out


def ensemble_run(batch: list[tuple[np.ndarray, Calibration]], paths: int, horizon: float) -> None:
    taus = relative_taus(TENORS)
    tracemalloc.start()
    start = time.perf_counter()
    for index, (forward, cal) in enumerate(batch):
        matrix = simulate(forward, taus, horizon, cal, seed=[RUN_SEED, index], paths=paths)
        bands(matrix)
    elapsed = time.perf_counter() - start
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    one = memory_bytes(paths, TENORS, 1) / 1e6
    print(
        f"  {len(batch)} curves x {paths:,} paths x {TENORS} tenors, horizon {horizon:g} y: "
        f"{elapsed:.2f} s ({elapsed / len(batch) * 1000:.0f} ms/curve; target <= "
        f"{TARGET_SECONDS:g} s), numpy peak {traced / 1e6:.0f} MB, process peak RSS "
        f"{peak_rss_mb():.0f} MB (target <= {TARGET_GB * 1000:.0f} MB)"
    )
    print(
        f"  memory_bytes: {one:.1f} MB per curve, "
        f"{memory_bytes(paths, TENORS, len(batch)) / 1e6:.0f} MB if all {len(batch)} were held"
    )


def split_check(paths: int) -> None:
    forward, cal = curves(1)[0]
    taus = relative_taus(TENORS)
    start = time.perf_counter()
    every = simulate(forward, taus, 1.0, cal, seed=[RUN_SEED, 0], paths=paths)
    whole = time.perf_counter() - start
    blocks = -(-paths // 1024)
    half = blocks // 2
    start = time.perf_counter()
    parts = [
        simulate(forward, taus, 1.0, cal, seed=[RUN_SEED, 0], paths=paths, blocks=range(a, b))
        for a, b in ((0, half), (half, blocks))
    ]
    split = time.perf_counter() - start
    same = np.array_equal(np.vstack(parts), every)
    print(
        f"  blocks [0,{half}) + [{half},{blocks}) == all at once: {same} "
        f"({whole * 1000:.0f} ms whole, {split * 1000:.0f} ms split)"
    )


def synthetic_history(tenors: int, days: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """500 business days of ``tenors`` relative tenors from the model (see the tests)."""
    rng = np.random.default_rng(seed)
    when = np.busday_offset("2023-01-02", np.arange(days), roll="forward")
    month = when.astype("datetime64[M]").astype(int)
    contracts = np.arange(month[0], month[-1] + tenors + 1)
    k, s, ell, rho = TRUE.kappa, TRUE.sigma_short, TRUE.sigma_long, TRUE.rho
    z = rng.standard_normal((days, 2)) / np.sqrt(252)
    dw_s, dw_l = z[:, 0], rho * z[:, 0] + np.sqrt(1 - rho * rho) * z[:, 1]
    log_price = np.full(contracts.size, np.log(60.0))
    history = np.empty((days, tenors))
    for d in range(days):
        history[d] = log_price[month[d] - contracts[0] + np.arange(tenors)]
        fade = np.exp(-k * (contracts - month[d] + 0.5) / 12)
        var = s * s * fade * fade + ell * ell + 2 * rho * s * ell * fade
        log_price += s * fade * dw_s[d] + ell * dw_l[d] - 0.5 * var / 252
    return np.exp(history), when


def calibration_times() -> None:
    for tenors in (24, 60, 120):
        history, when = synthetic_history(tenors, 500, seed=tenors)
        start = time.perf_counter()
        cal = calibrate(history, when)
        elapsed = time.perf_counter() - start
        print(
            f"  500 days x {tenors:3d} tenors: {elapsed * 1000:6.0f} ms/curve; kappa "
            f"{cal.kappa:.2f} (true {TRUE.kappa}), sigma_s {cal.sigma_short:.3f} "
            f"({TRUE.sigma_short}), sigma_l {cal.sigma_long:.3f} ({TRUE.sigma_long}), rho "
            f"{cal.rho:.2f} ({TRUE.rho}), r2 {cal.fit['r2']:.3f}"
        )


def historical_and_backtest(paths: int) -> None:
    history, when = synthetic_history(TENORS, 500, seed=1)
    forward = history[-1]
    start = time.perf_counter()
    matrix = historical(forward, history, when, horizon_days=21, seed=[RUN_SEED, 1], paths=paths)
    bands(matrix)
    hist_s = time.perf_counter() - start
    cal = calibrate(history, when)
    start = time.perf_counter()
    result = backtest(history, when, cal, horizon_days=5)
    back_s = time.perf_counter() - start
    print(f"  historical, {paths:,} paths x {TENORS} tenors, 21-day windows + bands: "
          f"{hist_s * 1000:.0f} ms/curve")  # fmt: skip
    print(
        f"  backtest, 5-day moves, calibrated model: {back_s * 1000:.0f} ms/curve, share "
        f"{result.share:.3f} of {result.total:,} (expected {result.expected})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curves", type=int, default=50)
    parser.add_argument("--paths", type=int, default=10_000)
    args = parser.parse_args()
    batch = curves(args.curves)
    print("1. Ensembles and bands, one curve at a time")
    ensemble_run(batch, args.paths, 1.0)
    print("2. Ten-year horizon: 120 distinct stop times")
    ensemble_run(batch, args.paths, 10.0)
    print("3. Reproducibility by blocks")
    split_check(args.paths)
    print("4. Calibration")
    calibration_times()
    print("5. Historical simulation and backtest")
    historical_and_backtest(args.paths)


if __name__ == "__main__":
    main()
