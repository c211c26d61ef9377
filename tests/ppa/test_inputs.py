"""Months beyond a curve: refused unless asked; ``flat`` takes the same calendar month of the
curve's last twelve, ``escalate`` grows it by a rate a year; a gap inside the curve is refused."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from aurum.domain import calendar
from aurum.errors import ValuationError
from aurum.ppa.engine import choose_blocks
from aurum.ppa.inputs import _Curve, _fx, _on_months
from aurum.ppa.terms import validate_request

MONTHS = tuple(date(2025 + (9 + i) // 12, (9 + i) % 12 + 1, 1) for i in range(24))  # 2025-10..
CURVE = _Curve(MONTHS, np.arange(24, dtype=np.float64) + 100.0, "EUR", "MWh", ("k",), None, "V")
LAST = MONTHS[-1]  # 2027-09


def request(**changes):
    return validate_request({"terms": None, "contract_id": "c", "discount": {"rate": 0.05},
                             **changes})  # fmt: skip


def months(first: date, count: int) -> list[date]:
    return [date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1)
            for i in range(count)]  # fmt: skip


def test_beyond_the_curve_is_refused_unless_asked():
    with pytest.raises(ValuationError) as refused:
        _on_months(CURVE, months(date(2027, 8, 1), 4), request(), "the hub's curve")
    assert refused.value.code == "term_beyond_curve"
    assert refused.value.diagnostics["curve_end"] == "2027-09"


def test_flat_repeats_the_same_calendar_month_of_the_last_year():
    wanted = months(date(2027, 9, 1), 14)  # 2027-09 .. 2028-10
    values, beyond = _on_months(CURVE, wanted, request(extrapolate="flat"), "c")
    by_month = dict(zip(MONTHS, CURVE.values, strict=True))
    assert values[0] == by_month[LAST] and not beyond[0]
    assert beyond[1:].all()
    assert values[1] == by_month[date(2026, 10, 1)]  # 2027-10 from 2026-10
    assert values[12] == by_month[date(2027, 9, 1)]  # 2028-09 from 2027-09
    assert values[13] == by_month[date(2026, 10, 1)]  # 2028-10 from 2026-10 (the last twelve)


def test_escalate_grows_by_a_rate_per_year_back():
    wanted = [date(2027, 10, 1), date(2028, 10, 1)]
    values, _ = _on_months(CURVE, wanted, request(extrapolate="escalate", escalate_pct=3), "c")
    by_month = dict(zip(MONTHS, CURVE.values, strict=True))
    assert np.isclose(values[0], by_month[date(2026, 10, 1)] * 1.03)
    assert np.isclose(values[1], by_month[date(2026, 10, 1)] * 1.03**2)


def test_a_gap_inside_the_curve_is_refused():
    gappy = _Curve(MONTHS, np.where(np.arange(24) == 5, np.nan, 100.0), "EUR", "MWh", ("k",),
                   None, "V")  # fmt: skip
    with pytest.raises(ValuationError) as refused:
        _on_months(gappy, [MONTHS[5]], request(extrapolate="flat"), "c")
    assert refused.value.code == "curve_gap"


def test_fx_converts_either_way_and_pence_are_hundredths():
    assert _fx("EUR", "USD", {"EURUSD": 1.1}) == 1.1
    assert np.isclose(_fx("USD", "EUR", {"EURUSD": 1.25}), 0.8)
    assert _fx("GBp", "GBP", {}) == 0.01
    with pytest.raises(ValuationError) as refused:
        _fx("GBP", "EUR", {})
    assert refused.value.diagnostics["rate"] == "GBPEUR"


def test_hub_blocks_name_the_blocks_shaped_and_one_may_be_derived():
    de = calendar.markets()["DE"]
    chosen = choose_blocks(de, ["BASE", "PEAK"], ["PEAK", "OFF_PEAK"])
    assert chosen.blocks == ("PEAK", "OFF_PEAK") and chosen.derived == "OFF_PEAK"
    assert choose_blocks(de, ["BASE", "PEAK"], ["BASE"]).blocks == ("BASE",)
    with pytest.raises(ValuationError) as unknown:
        choose_blocks(de, ["BASE", "PEAK"], ["PEAK", "2X16"])
    assert unknown.value.code == "blocks_unknown"
    with pytest.raises(ValuationError) as missing:
        choose_blocks(de, ["PEAK"], ["PEAK", "OFF_PEAK"])  # no BASE to derive OFF_PEAK from
    assert missing.value.code == "blocks_incomplete"
