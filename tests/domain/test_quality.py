"""The day-over-day gates' pure parts: tenor buckets, business days, the jump statistic, names."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import numpy as np
import pytest

from aurum.domain.quality import (
    GateSeverity,
    Pairs,
    business_days_between,
    curve_name,
    curve_names,
    day_over_day,
    jump_scores,
    tenor_bucket,
)

ASOF = date(2025, 9, 17)


def text(values: Sequence[str]) -> np.ndarray:
    return np.array(list(values), dtype=object)


def make(
    change: Sequence[float],
    *,
    families: Sequence[str] | None = None,
    buckets: Sequence[str] | None = None,
    pools: Sequence[str] | None = None,
    previous: Sequence[float] | None = None,
    keys: Sequence[str] | None = None,
    days: int = 1,
) -> Pairs:
    n = len(change)
    return Pairs(
        keys=text(keys or [f"k{i}" for i in range(n)]),
        labels=text([f"2026-{i + 1:02d}" for i in range(n)]),
        change=np.array(change, dtype=float),
        previous=np.array(previous or [50.0] * n, dtype=float),
        families=text(families or ["power"] * n),
        buckets=text(buckets or ["later"] * n),
        pools=text(pools or ["power"] * n),
        business_days=days,
    )


# -- tenor buckets and business days -------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "monthly", "bucket"),
    [
        (date(2025, 9, 1), True, "front"),  # the as-of month
        (date(2025, 8, 1), True, "front"),  # already delivering
        (date(2025, 10, 1), True, "months 2-12"),
        (date(2026, 8, 1), True, "months 2-12"),  # the twelfth month
        (date(2026, 9, 1), True, "later"),
        (date(2025, 9, 1), False, "months 2-12"),  # a strip is never the front contract
        (date(2025, 1, 1), False, "months 2-12"),  # Calendar 2025, started
        (date(2026, 11, 1), False, "later"),  # Winter 2027
        (None, True, "later"),  # a custom tenor
    ],
)
def test_tenor_buckets_by_first_delivery_month(start, monthly, bucket):
    assert tenor_bucket(ASOF, start, monthly=monthly) == bucket


def test_business_days_count_weekdays_and_are_at_least_one():
    assert business_days_between(date(2025, 9, 12), date(2025, 9, 15)) == 1  # Fri -> Mon
    assert business_days_between(date(2025, 2, 12), date(2025, 2, 18)) == 4
    assert business_days_between(date(2025, 9, 13), date(2025, 9, 14)) == 1  # Sat -> Sun
    assert business_days_between(ASOF, ASOF) == 1


# -- the jump statistic ---------------------------------------------------------------------------

SHIFT = [1.0, 1.1, 0.9, 1.2, 0.8, 1.05, 0.95, 1.0]  # a parallel shift of about 1


def test_a_parallel_shift_is_not_a_jump_but_ten_typical_moves_on_one_tenor_are():
    scores = jump_scores(make(SHIFT))
    assert np.nanmax(scores.z) < 1  # the classic robust z puts 0.8 and 1.2 at 1.8
    typical = float(scores.typical[0])
    assert typical == pytest.approx(1.4826 * 1.0)  # the median size of the moves
    planted = [*SHIFT[:-1], SHIFT[-1] + 10 * typical]
    z = jump_scores(make(planted)).z
    assert z[-1] == pytest.approx(9.74, abs=0.005)  # the plant nudges median and scale a little
    assert np.count_nonzero(z > 7) == 1


def test_changes_are_judged_per_business_day():
    one, four = jump_scores(make(SHIFT)), jump_scores(make([2 * c for c in SHIFT], days=4))
    np.testing.assert_allclose(four.z, one.z)  # a gap of 4 days: twice the move, the same z
    np.testing.assert_allclose(four.typical, one.typical)  # and the same typical daily move


def test_a_move_within_a_basis_point_is_no_move():
    residue = [1e-14, -1e-14, 0.0, 1e-14, 0.004, 0.0]  # 0.004 on a price of 50: < 1 bp
    scores = jump_scores(make(residue))
    assert scores.z.tolist() == [0.0] * 6 and scores.typical.tolist() == [0.0] * 6


def test_a_stale_back_end_re_marked_in_blocks_is_not_a_thousand_sigma_event():
    # 24 unchanged tenors, then a block of six re-marked by -0.75: MAD 0, yet nothing wrong.
    block = [0.0] * 24 + [-0.75] * 6
    z = jump_scores(make(block)).z
    assert np.nanmax(z) == pytest.approx(0.75 / (1.4826 * 0.75))


def test_peers_are_the_family_and_bucket():
    # Gas moves by ~10, power by ~1: each judged with its own family.
    change = [10.0, 11.0, 9.0, 10.5, 9.5, 1.0, 1.1, 0.9, 1.05, 0.95]
    families = ["gas"] * 5 + ["power"] * 5
    scores = jump_scores(make(change, families=families, pools=families))
    assert np.nanmax(scores.z) < 1
    assert scores.typical.round(3).tolist() == [14.826] * 5 + [1.483] * 5
    # Front months move more than the back: judged with the front months only.
    buckets = ["front"] * 5 + ["later"] * 5
    scores = jump_scores(make([c * 5 for c in SHIFT[:5]] + SHIFT[:5], buckets=buckets))
    assert np.nanmax(scores.z) < 1


def test_a_small_bucket_is_judged_with_its_family_then_with_its_pool():
    # One curve: its front month alone, judged with the whole curve.
    change = [3.0, *SHIFT]
    buckets = ["front", *["later"] * len(SHIFT)]
    scores = jump_scores(make(change, buckets=buckets))
    assert scores.typical[0] == scores.typical[1] == pytest.approx(1.4826)
    assert scores.z[0] == pytest.approx(2.0 / 1.4826)
    # A curve of three tenors (family too small): judged with its pool, the same units.
    families = ["a"] * 3 + ["b"] * len(SHIFT)
    scores = jump_scores(make([1.0, 30.0, 1.1, *SHIFT], families=families))
    assert scores.typical[:3].tolist() == [scores.typical[3]] * 3
    assert [bool(z > 7) for z in scores.z[:3]] == [False, True, False]


def test_degenerate_peers_score_zero_or_are_not_judged():
    # Too few moves anywhere: an unmoved tenor scores 0, a moved one is not judged (NaN).
    scores = jump_scores(make([0.0, 0.0, 5.0, 0.0]))
    assert scores.z[[0, 1, 3]].tolist() == [0.0, 0.0, 0.0]
    assert math.isnan(scores.z[2]) and math.isnan(scores.typical[2])
    empty = jump_scores(make([]))
    assert (empty.z.shape, empty.typical.shape) == ((0,), (0,))
    # A price missing on one day (NaN) or a zero price does not break the others.
    scores = jump_scores(make([*SHIFT, math.nan], previous=[0.0] + [50.0] * len(SHIFT)))
    assert np.count_nonzero(scores.z > 7) == 0 and np.isfinite(scores.z[:-1]).all()


# -- names and the gates' samples --------------------------------------------------------------


def test_curve_names_read_like_the_curve_and_stay_unique():
    eugp = {"asset_class": "power", "region": "EU", "location": "German", "product": "power",
            "block": "BASE", "currency": "EUR", "per_unit": "MWh"}  # fmt: skip
    assert curve_name(eugp) == "German power BASE"
    pw = {"iso": "PJM", "market": "DA", "location": "West", "product": "power",
          "block": "ON_PEAK", "per_unit": "MWh"}  # fmt: skip
    assert curve_name(pw) == "PJM DA West power ON_PEAK"
    assert curve_name({"asset_class": "gas"}) == "gas"
    names = curve_names({
        "a" * 64: eugp,
        "b" * 64: {**eugp, "region": "EE"},
        "c" * 64: {**pw, "currency": "USD"},
        "d" * 64: {**pw, "currency": "CAD"},
        "e" * 64: {**pw, "currency": "CAD", "units_raw": "other"},  # identical but its key
    })  # fmt: skip
    assert names == {
        "a" * 64: "EU German power BASE",
        "b" * 64: "EE German power BASE",
        "c" * 64: "PJM DA West power ON_PEAK [USD/MWh]",
        "d" * 64: "PJM DA West power ON_PEAK [CAD/MWh] #dddddddd",
        "e" * 64: "PJM DA West power ON_PEAK [CAD/MWh] #eeeeeeee",
    }


def test_gate_samples_name_curves_and_put_the_worst_jump_first():
    change = [*SHIFT, 9.0, 13.0]  # two planted moves, the second the larger
    keys = [f"k{i}" for i in range(len(SHIFT))] + ["small", "large"]
    names = {"small": "German power BASE", "large": "French power PEAK"}
    outcomes = day_over_day({"gone", *keys}, {"new", *keys}, make(change, keys=keys),
                            GateSeverity(jump="fail"), jump_z=5, names=names)  # fmt: skip
    by_rule = {o.rule: o for o in outcomes}
    jump = by_rule["jump"]
    assert (jump.failed, jump.checked, jump.blocks) == (2, 10, True)
    assert jump.sample_keys == ("French power PEAK @ 2026-10", "German power BASE @ 2026-09")
    assert by_rule["curve_disappeared"].sample_keys == ("gone",)  # unnamed: the key itself
    assert by_rule["new_curve"].sample_keys == ("new",)
