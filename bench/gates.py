"""Jump-gate figures for issue 12 (point 7). Prints figures and targets; asserts nothing.

Run with ``make bench`` (or ``.venv/bin/python bench/gates.py``). Every day is parsed with the
real parser and judged by the real audit (``aurum.ingest.days``), without a lake.

1. The shared real pairs (``../shared/workbooks``; noted and skipped when absent), per vendor:
   tenor pairs checked, flagged by the old statistic (robust z of the raw change per asset
   class, beyond 10) and by the gate (default ``jump_z``), and their shares (target <= 0.5 %).
2. The gate's flagged share on the same pairs at other thresholds, and on the two pairs months
   apart (not targets: how the statistic behaves away from its calibration).
3. Planted moves, one tenor at a time on random tenors: a move of ten typical daily moves (the
   gate's, times the square root of the business days: ten days' worth over the gap), caught
   when it scores beyond ``jump_z``; then the same ten daily moves not scaled by the gap (a
   one-off error of that size on a 3- or 4-day gap). Tenors whose peers and themselves did not
   move have no typical move to scale by and are left out (their count is shown).
4. The generator's multi-day lake: consecutive business days of EUGP, RP and PW, the flagged
   share (old and new, worst day) and the planted-move rate.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa

from aurum.config import GateSettings
from aurum.domain.quality import Pairs, jump_scores
from aurum.ingest.days import curve_audit, day_pairs
from aurum.ingest.pipeline import parse_workbook
from aurum.synthetic import business_days, workbook_name, write_workbook

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "workbooks"
REAL_PAIRS = (("20250212", "20250218"), ("20250912", "20250917"))
FAR_PAIRS = (("20250218", "20250701"), ("20250701", "20250912"))
TARGET = 0.5  # % of tenor pairs
OLD_Z = 10.0
PLANTS = 100
SYNTHETIC_DAYS = 6
JUMP_Z = GateSettings().jump_z


def old_flags(pairs: Pairs, asset_classes: np.ndarray) -> int:
    """The statistic before issue 12: |change - median| / (1.4826 MAD) per asset class > 10."""
    flagged = 0
    for asset in set(asset_classes.tolist()):
        change = pairs.change[asset_classes == asset]
        centre = np.median(change)
        scale = 1.4826 * np.median(np.abs(change - centre))
        if scale > 0:
            flagged += int(np.count_nonzero(np.abs(change - centre) / scale > OLD_Z))
    return flagged


def asset_classes(staged: pa.Table, pairs: Pairs) -> np.ndarray:
    """Each pair's asset class (the old statistic's family)."""
    of = dict(zip(staged["curve_key"].to_pylist(), staged["asset_class"].to_pylist(), strict=True))
    return np.array([of[key] for key in pairs.keys.tolist()], dtype=object)


def new_flags(staged: pa.Table, previous: pa.Table) -> tuple[int, int]:
    """(flagged, checked) of the real audit's jump gate."""
    jump = curve_audit(GateSettings()).check(staged, previous)[-1]
    return jump.failed, jump.checked


def share(flagged: int, checked: int) -> float:
    return 100 * flagged / checked if checked else 0.0


def planted(pairs: Pairs, *, seed: int, scaled: bool) -> tuple[int, int, int]:
    """(caught, planted, left out): ten typical daily moves added to one tenor at a time."""
    scores = jump_scores(pairs)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(pairs.change), size=min(PLANTS, len(pairs.change)), replace=False)
    gap = math.sqrt(pairs.business_days) if scaled else 1.0
    caught = tried = left_out = 0
    for i in picks.tolist():
        typical = float(scores.typical[i])
        if not typical > 0:
            left_out += 1
            continue
        change = pairs.change.copy()
        change[i] += rng.choice((-1.0, 1.0)) * 10 * typical * gap
        tried += 1
        caught += bool(jump_scores(replace(pairs, change=change)).z[i] > JUMP_Z)
    return caught, tried, left_out


def parsed(path: Path) -> pa.Table:
    result = parse_workbook(path)
    assert result.dead_letter is None, result.dead_letter
    return result.observations


def real_pairs() -> None:
    if not SHARED.is_dir():
        print(f"   ../shared/workbooks not found at {SHARED}: skipped\n")
        return
    dates = sorted({d for pair in (*REAL_PAIRS, *FAR_PAIRS) for d in pair})
    days = {
        (v, d): parsed(SHARED / f"EOD_{v}_{d}_1430.xlsx") for v in ("EUGP", "RP") for d in dates
    }
    print(f"1. shared real pairs: jump gate flagged share (target <= {TARGET} %)")
    print(f"   {'vendor':6} {'pair':19} {'days':>4} {'checked':>8} {'old (z>10 per class)':>22}"
          f" {f'new (z>{JUMP_Z:g})':>16}")  # fmt: skip
    cases = []
    for vendor in ("EUGP", "RP"):
        for first, second in REAL_PAIRS:
            previous, staged = days[(vendor, first)], days[(vendor, second)]
            pairs = day_pairs(staged, previous)
            assert pairs is not None
            old = old_flags(pairs, asset_classes(staged, pairs))
            flagged, checked = new_flags(staged, previous)
            new = share(flagged, checked)
            print(f"   {vendor:6} {first}->{second[4:]} {pairs.business_days:4d} {checked:8,d}"
                  f" {old:8,d} = {share(old, checked):6.2f} % {flagged:5,d} = {new:5.2f} %"
                  f"  {verdict(new)}")  # fmt: skip
            cases.append((vendor, f"{first}->{second[4:]}", pairs))

    print("\n2. the gate's flagged share at other thresholds (%), and on pairs months apart")
    thresholds = (5.0, 6.0, 7.0, 8.0, 10.0)
    print(f"   {'vendor':6} {'pair':19} {'days':>4} " + " ".join(f"z>{t:<4g}" for t in thresholds))
    far = []
    for vendor in ("EUGP", "RP"):
        for first, second in FAR_PAIRS:
            pairs = day_pairs(days[(vendor, second)], days[(vendor, first)])
            assert pairs is not None
            far.append((vendor, f"{first}->{second[4:]}", pairs))
    for vendor, label, pairs in (*cases, *far):
        z = np.nan_to_num(jump_scores(pairs).z, nan=0.0)
        shares = [100 * np.count_nonzero(z > t) / len(z) for t in thresholds]
        print(f"   {vendor:6} {label:19} {pairs.business_days:4d} "
              + " ".join(f"{s:6.2f}" for s in shares))  # fmt: skip

    print(f"\n3. planted moves of ten typical daily moves, {PLANTS} random tenors per pair")
    print(f"   {'vendor':6} {'pair':19} {'x sqrt(days): caught':>22} {'not scaled: caught':>20}"
          f" {'left out':>9}")  # fmt: skip
    for seed, (vendor, label, pairs) in enumerate(cases):
        caught, tried, left_out = planted(pairs, seed=seed, scaled=True)
        raw, raw_tried, _ = planted(pairs, seed=seed, scaled=False)
        print(f"   {vendor:6} {label:19} {caught:5d}/{tried:<3d} = {share(caught, tried):5.1f} %"
              f" {raw:5d}/{raw_tried:<3d} = {share(raw, raw_tried):5.1f} %"
              f" {left_out:9d}")  # fmt: skip


def synthetic_lake() -> None:
    first = date(2025, 9, 1)
    print(f"\n4. the generator's lake: {SYNTHETIC_DAYS} business days from {first}, consecutive"
          f" pairs (target <= {TARGET} %)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for seed, vendor in enumerate(("EUGP", "RP", "PW")):
            days = [
                parsed(write_workbook(Path(tmp) / workbook_name(vendor, day), vendor=vendor,
                                      asof=day))
                for day in business_days(first, SYNTHETIC_DAYS)
            ]  # fmt: skip
            olds, news, checked = [], [], 0
            for previous, staged in itertools.pairwise(days):
                pairs = day_pairs(staged, previous)
                assert pairs is not None
                flagged, count = new_flags(staged, previous)
                olds.append(share(old_flags(pairs, asset_classes(staged, pairs)), count))
                news.append(share(flagged, count))
                checked += count
            caught, tried, left_out = planted(pairs, seed=seed, scaled=True)
            print(f"   {vendor:5} {len(news)} pairs, {checked:7,d} tenor pairs: old worst day"
                  f" {max(olds):5.2f} %, new worst day {max(news):5.2f} %"
                  f" (mean {sum(news) / len(news):4.2f} %)  {verdict(max(news))};"
                  f" planted caught {caught}/{tried} ({left_out} left out)")  # fmt: skip


def verdict(percent: float) -> str:
    return "met" if percent <= TARGET else "NOT MET"


def main() -> None:
    print(f"Aurum jump-gate benchmark — jump_z {JUMP_Z:g}, planted move 10 typical daily moves\n")
    real_pairs()
    synthetic_lake()


if __name__ == "__main__":
    main()
