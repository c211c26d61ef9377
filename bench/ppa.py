"""PPA valuation figures for issue 14. Prints figures, their targets and ratios; asserts nothing.

The contract: a 20-year virtual pay-as-produced PPA on the German hub (DE, PEAK/OFF_PEAK),
2027-01 to 2046-12 (240 months, 175,320 delivery hours), a solar-like 12×24 profile on 100 MW,
an escalating strike (45, +2 %/year), ``suspend_after`` 3 negative hours, floor 0 and cap 150
priced with a volatility of 40 %, 5 % annual energy uncertainty. Forwards are synthetic
(seasonal, PEAK above OFF_PEAK). Everything is pure numpy (:mod:`aurum.ppa`), so the figures
measure the engine alone:

1. **Deterministic**: ``Book(...)`` + ``valuate(...)`` (cashflows, sensitivities, options,
   energy P-values), cold (the first in the process: the calendar layouts are worked out) and
   warm (best of 5); target <= 0.5 s.
2. **Paths**: 1,000 lognormal paths per (month, block) around the forwards (seeded) through
   ``valuate`` with ``Inputs.paths``: *typical* (20 % volatility: about half the paths stay
   inside the collar and above zero everywhere, and are settled in closed form; the others hour
   by hour) and *forced* hour by hour (100 % volatility: every path leaves the collar somewhere);
   and ``Book.value`` alone on the same wide paths. Wall time (target <= 10 s), numpy's peak
   allocation during the run (``tracemalloc``) and the process's peak resident set so far
   (``resource.getrusage``'s ``ru_maxrss``, which includes the imports; target <= 4 GB).

Run: ``.venv/bin/python bench/ppa.py [--paths N]`` from the repository root.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
from datetime import date

import numpy as np

from api import cpu_busy
from aurum.ppa.engine import Book, term_months
from aurum.ppa.terms import ContractTerms, Discount, validate_terms
from aurum.ppa.valuation import Inputs, valuate

MARKET = "DE"
BLOCKS = ("PEAK", "OFF_PEAK")
VALUATION_DATE = date(2026, 6, 15)
DISCOUNT = Discount(rate=0.06)
VOLATILITY = 0.40
SEED = 20_261_400
TARGET_DETERMINISTIC_S = 0.5
TARGET_PATHS_S = 10.0
TARGET_GB = 4.0
Summary = list[tuple[str, str, str, str]]  # figure, value, target, result


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: kilobytes


def figure(summary: Summary, name: str, value: float, unit: str, target: float) -> None:
    """Print one figure with its target and ratio, and keep it for the summary."""
    ratio = value / target
    row = (name, f"{value:.3f} {unit}", f"<= {target:g} {unit}",
           f"{ratio:.2f}x target, {'OK' if ratio <= 1 else 'MISSED'}")  # fmt: skip
    summary.append(row)
    print(f"   => {row[0]}: {row[1]} (target {row[2]}; {row[3]})")


def solar_profile() -> list[list[float]]:
    """MWh per MW by (month, hour-ending): a sine day, longer and higher in summer."""
    rows = []
    for month in range(1, 13):
        summer = np.cos((month - 6.5) / 12 * 2 * np.pi) * -0.5 + 0.5  # 0 in winter, 1 in summer
        sunrise, sunset = 8 - 3 * summer, 17 + 4 * summer
        he = np.arange(1, 25) - 0.5
        day = np.clip(np.sin((he - sunrise) / (sunset - sunrise) * np.pi), 0, None)
        day[(he < sunrise) | (he > sunset)] = 0
        rows.append([round(float(v), 4) for v in (0.35 + 0.45 * summer) * day])
    return rows


def contract() -> ContractTerms:
    return validate_terms({
        "settlement": "virtual",
        "hub": {"vendor": "EUGP", "location": "German", "blocks": list(BLOCKS)},
        "volume": {"type": "pay_as_produced", "capacity_mw": 100, "month_hour": solar_profile(),
                   "degradation_pct": 0.4, "energy_uncertainty_pct": 5},
        "strike": {"type": "escalating", "price": 45, "escalation_pct": 2},
        "floor": 0, "cap": 150, "volatility": VOLATILITY,
        "negative_prices": {"rule": "suspend_after", "hours": 3},
        "term": {"start": "2027-01", "end": "2046-12"}, "payment_lag_days": 20,
    })  # fmt: skip


def forwards(months: list[date]) -> np.ndarray:
    """Seasonal block forwards (months, 2): PEAK above OFF_PEAK, drifting up 1 %/year."""
    index = np.arange(len(months))
    season = np.array([np.cos((m.month - 1) / 12 * 2 * np.pi) for m in months])
    off = (58 + 10 * season) * 1.01 ** (index / 12)
    return np.column_stack([off * 1.25, off])


def paths(base: np.ndarray, count: int, volatility: float, seed: int) -> np.ndarray:
    """Lognormal paths (count, months, blocks) with mean ``base``: one shock per month shared by
    the blocks and a small one per block."""
    rng = np.random.default_rng(np.random.SeedSequence([SEED, seed]))
    months, blocks = base.shape
    common = rng.standard_normal((count, months, 1)) * volatility
    own = rng.standard_normal((count, months, blocks)) * volatility * 0.2
    spread = volatility**2 * (1 + 0.04) / 2
    return base[None] * np.exp(common + own - spread)


def inputs(book: Book, base: np.ndarray, terms: ContractTerms, **more: object) -> Inputs:
    return Inputs(
        book=book, forwards=base, currency="EUR", valuation_date=VALUATION_DATE,
        discount=DISCOUNT, volatility=terms.volatility, volatility_source="terms", seed=SEED,
        **more,
    )  # fmt: skip


def deterministic(summary: Summary) -> None:
    terms = contract()
    months = term_months(terms)
    base = forwards(months)
    print(f"1. Deterministic: {len(months)} months, Book build + valuate")
    times = []
    for attempt in range(6):
        started = time.perf_counter()
        book = Book(terms, MARKET, months, BLOCKS)
        result = valuate(inputs(book, base, terms))
        times.append(time.perf_counter() - started)
        if attempt == 0:
            s = result.summary
            print(f"   {book.hours:,} hours; NPV {s['npv']:,.0f} EUR, energy"
                  f" {s['energy_mwh'] / 1e6:.3f} TWh, capture rate {s['capture_rate']:.3f},"
                  f" collar {s['options']['collar']:,.0f} EUR, delta"
                  f" {s['sensitivities']['total']:,.0f} EUR per EUR/MWh")  # fmt: skip
    figure(summary, "deterministic, cold", times[0], "s", TARGET_DETERMINISTIC_S)
    figure(summary, "deterministic, warm (best of 5)", min(times[1:]), "s",
           TARGET_DETERMINISTIC_S)  # fmt: skip


def clear_share(book: Book, matrix: np.ndarray, terms: ContractTerms) -> float:
    """Share of paths inside the collar and above zero everywhere (the closed-form ones; the
    shape is flat, so a block's hours are its forward)."""
    low = max(0.0, terms.floor if terms.floor is not None else 0.0)
    high = terms.cap if terms.cap is not None else np.inf
    return float(((matrix >= low) & (matrix <= high)).all(axis=(1, 2)).mean())


def ensemble(summary: Summary, count: int) -> None:
    terms = contract()
    months = term_months(terms)
    base = forwards(months)
    book = Book(terms, MARKET, months, BLOCKS)
    print(f"2. Paths: {count:,} paths x {book.hours:,} hours through valuate")
    for label, volatility in (("typical", 0.20), ("forced hour by hour", 1.00)):
        matrix = paths(base, count, volatility, seed=round(volatility * 100))
        share = clear_share(book, matrix, terms)
        tracemalloc.start()
        started, cpu = time.perf_counter(), time.process_time()
        result = valuate(inputs(book, base, terms, paths=matrix))
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        npv = result.summary["ensemble"]["npv"]
        print(f"   {label} (volatility {volatility:.0%}): {share:.1%} of paths in closed form;"
              f" {seconds:.2f} s wall, {cpu:.2f} s CPU; numpy peak {traced / 1e6:.0f} MB;"
              f" NPV mean {npv['mean']:,.0f}, P5 {npv['p5']:,.0f},"
              f" VaR95 {npv['var_95']:,.0f}")  # fmt: skip
        figure(summary, f"{count:,} paths, {label}", seconds, "s", TARGET_PATHS_S)
        figure(summary, f"peak RSS after {label}", peak_rss_gb(), "GB", TARGET_GB)
    strike, _ = book.strikes()
    tracemalloc.start()
    started = time.perf_counter()
    book.value(matrix, strike=strike, only=("energy", "settlement"))
    seconds = time.perf_counter() - started
    _, traced = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"   Book.value alone on the wide paths (energy, settlement): {seconds:.2f} s,"
          f" numpy peak {traced / 1e6:.0f} MB")  # fmt: skip
    figure(summary, f"{count:,} paths, Book.value alone", seconds, "s", TARGET_PATHS_S)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=1_000)
    args = parser.parse_args()
    started = time.perf_counter()
    busy = cpu_busy()
    print(f"Aurum PPA benchmark ({os.cpu_count()} cores; CPU busy before the run: "
          + ("unknown" if busy is None else f"{busy:.0%}")
          + (" — OTHER WORK IS RUNNING, times are pessimistic" if (busy or 0) > 0.2 else "")
          + f"; peak RSS after the imports {peak_rss_gb() * 1024:.0f} MB)\n")  # fmt: skip
    summary: Summary = []
    deterministic(summary)
    ensemble(summary, args.paths)
    width = max(len(row[0]) for row in summary)
    print(f"\nSummary\n   {'figure':{width}s}  {'value':10s}  {'target':10s}  result")
    for name, value, target, result in summary:
        print(f"   {name:{width}s}  {value:10s}  {target:10s}  {result}")
    print(f"\n(run took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
