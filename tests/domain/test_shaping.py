"""Hourly shaping keeps every disjoint block's monthly average, across DST months of several
years, in US and EU markets; what does not cover the hours once is refused."""

from __future__ import annotations

import numpy as np
import pytest

from aurum.domain import calendar
from aurum.domain.shaping import block_residual, shape_month

SOLAR = {(kind, he): max(0.05, np.sin((he - 6) / 14 * np.pi)) for kind in ("weekday", "weekend")
         for he in range(1, 25)}  # fmt: skip
EVENING = {("weekday", he): (15.0 if 17 <= he <= 21 else -8.0) for he in range(1, 25)}
CASES = [
    ("DE", {"PEAK": 110.0, "OFF_PEAK": 75.0}),
    ("GB", {"PEAK": 95.0, "OFF_PEAK": 70.0}),
    ("PJM", {"ON_PEAK": 62.0, "2X16": 48.0, "7X8": 35.0}),
    ("ERCOT", {"ON_PEAK": 70.0, "OFF_PEAK": 40.0}),
    ("CAISO", {"ON_PEAK": 55.0, "OFF_PEAK": 45.0}),
]


@pytest.mark.parametrize(("market", "forwards"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("year", [2026, 2027, 2030])
@pytest.mark.parametrize("month", [3, 10, 11])  # DST: starts in March, ends Oct (EU) / Nov (US)
def test_each_block_keeps_its_monthly_average(market, forwards, year, month):
    for shape, additive in ((None, False), (SOLAR, False), (EVENING, True)):
        shaped = shape_month(market, year, month, forwards, shape=shape, additive=additive)
        assert len(shaped.prices) == calendar.block_hours(market, "BASE", year, month)
        for block, forward in forwards.items():
            assert shaped.average(block) == pytest.approx(forward, rel=1e-12, abs=1e-12)
            assert shaped.blocks.count(block) == calendar.block_hours(market, block, year, month)


def test_additive_shapes_can_go_negative_and_multiplicative_ones_keep_the_sign():
    shaped = shape_month("DE", 2026, 6, {"PEAK": 10.0, "OFF_PEAK": 4.0}, shape=EVENING,
                         additive=True)  # fmt: skip
    assert shaped.prices.min() < 0 < shaped.prices.max()
    solar = shape_month("DE", 2026, 6, {"PEAK": 10.0, "OFF_PEAK": 4.0}, shape=SOLAR)
    assert solar.prices.min() > 0 and solar.prices.std() > 0


def test_a_fall_back_day_delivers_its_repeated_hour_twice():
    shaped = shape_month("PJM", 2026, 11, {"ON_PEAK": 62.0, "OFF_PEAK": 40.0})
    first = [he for day, he in zip(shaped.days, shaped.hour_endings, strict=True)
             if day.day == 1]  # fmt: skip
    assert len(first) == 25 and first.count(2) == 2


def test_blocks_must_cover_every_hour_once():
    with pytest.raises(ValueError, match="in no block"):
        shape_month("DE", 2026, 5, {"PEAK": 100.0})
    with pytest.raises(ValueError, match="in 2 blocks"):
        shape_month("PJM", 2026, 5, {"ON_PEAK": 60.0, "OFF_PEAK": 40.0, "7X8": 30.0})
    with pytest.raises(ValueError, match="positive"):
        shape_month("DE", 2026, 5, {"PEAK": 1.0, "OFF_PEAK": 1.0},
                    shape={("weekday", 12): -1.0})  # fmt: skip


def test_an_overlapping_quote_is_reported_not_forced():
    shaped = shape_month("PJM", 2026, 7, {"ON_PEAK": 80.0, "OFF_PEAK": 40.0})
    on = calendar.block_hours("PJM", "ON_PEAK", 2026, 7)
    total = calendar.block_hours("PJM", "ATC", 2026, 7)
    implied = (on * 80.0 + (total - on) * 40.0) / total
    assert block_residual(shaped, "ATC", 60.0) == pytest.approx(60.0 - implied)
