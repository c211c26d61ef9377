"""PPA settlement arithmetic: the issue's reference figures, exactly, and the clauses' edges."""

from __future__ import annotations

import numpy as np
import pytest

from aurum.domain.ppa import (
    baseload_price,
    black76,
    capture_price,
    capture_rate,
    collar_payoff,
    energy_exceedance,
    escalated_strike,
    negative_runs,
    settlement,
)

PRICES = [50, 30, -10, 20, 80, 60]
VOLUMES = [0, 10, 20, 15, 5, 0]


def test_the_six_hour_reference():
    assert capture_price(PRICES, VOLUMES) == 16.0
    assert round(baseload_price(PRICES), 4) == 38.3333
    assert round(capture_rate(PRICES, VOLUMES), 6) == 0.417391
    assert settlement(PRICES, VOLUMES, 40).sum() == 1200
    assert settlement(PRICES, VOLUMES, 40, negative="floor_at_zero").sum() == 1000
    assert settlement(PRICES, VOLUMES, 40, negative="no_settlement").sum() == 200
    assert settlement(PRICES, VOLUMES, 40, floor=30, cap=60).sum() == 350
    assert collar_payoff(PRICES, VOLUMES, floor=30, cap=60).sum() == 850


def test_black76_reference_and_put_call_parity():
    call, put = black76(20, 20, rate=0.09, years=4 / 12, volatility=0.25)
    assert (round(call, 4), round(put, 4)) == (1.1166, 1.1166)
    call, put = black76(25, 20, rate=0.05, years=1.5, volatility=0.4)
    assert call - put == pytest.approx(np.exp(-0.05 * 1.5) * (25 - 20))
    with pytest.raises(ValueError):
        black76(20, 20, rate=0.09, years=0.5, volatility=0)


def test_energy_p90_and_escalation():
    assert round(energy_exceedance(200.0, 0.07), 3) == 182.058
    assert energy_exceedance(200.0, 0.07, 0.5) == pytest.approx(200.0)
    assert escalated_strike(40, 0.02, 1) == 40
    assert escalated_strike(40, 0.02, 11) == pytest.approx(40 * 1.02**10)


def test_suspension_after_consecutive_negative_hours_takes_the_whole_run():
    prices = [10, -1, -2, -3, 5, -1, -1, 7]
    volumes = [1] * 8
    assert negative_runs(prices).tolist() == [0, 3, 3, 3, 0, 2, 2, 0]
    paid = settlement(prices, volumes, 20, negative="suspend_after", suspend_after=3)
    assert paid.tolist() == [10, 0, 0, 0, 15, 21, 21, 13]
    with pytest.raises(ValueError, match="consecutive"):
        settlement(prices, volumes, 20, negative="suspend_after")


def test_bad_shapes_and_collars_are_refused():
    with pytest.raises(ValueError, match="one of each per hour"):
        settlement([1, 2], [1], 40)
    with pytest.raises(ValueError, match="above the cap"):
        settlement(PRICES, VOLUMES, 40, floor=70, cap=60)
    with pytest.raises(ValueError, match="no production"):
        capture_price(PRICES, [0] * 6)
