"""Exact Shapley and one-at-a-time attribution, on the issue's pass-through toy."""

from __future__ import annotations

import numpy as np
import pytest

from aurum.domain.attribution import one_at_a_time, shapley
from aurum.domain.drivers import marginal_cost

# heat rate 7 -> 7.5 MMBtu/MWh, gas 3 -> 4 $/MMBtu, carbon 50 -> 80 $/t; EF 0.05306, VOM 2, s = 1
BASE, SCENARIO = (7.0, 3.0, 50.0), (7.5, 4.0, 80.0)


def toy(active: frozenset[int]) -> np.ndarray:
    hr, gas, carbon = (SCENARIO[i] if i in active else BASE[i] for i in range(3))
    return np.asarray(
        marginal_cost(heat_rate=hr, gas=gas, carbon=carbon, emission_factor=0.05306, vom=2.0)
    )


def test_the_pass_through_toy_matches_the_reference_figures():
    base, scenario = float(toy(frozenset())), float(toy(frozenset({0, 1, 2})))
    assert (round(base, 3), round(scenario, 3), round(scenario - base, 3)) == (
        41.571, 63.836, 22.265,
    )  # fmt: skip
    heat, gas, carbon = (float(v) for v in shapley(toy, 3))
    assert (round(heat, 5), round(gas, 5), round(carbon, 5)) == (3.47445, 7.25, 11.54055)
    assert heat + gas + carbon == pytest.approx(scenario - base, abs=1e-12)
    alone, residual = one_at_a_time(toy, 3)
    assert [round(float(v), 4) for v in alone] == [2.8265, 7.0, 11.1426]
    assert round(float(residual), 4) == 1.2959


def test_for_a_linear_model_shapley_equals_one_at_a_time():
    rng = np.random.default_rng(3)
    effects = rng.normal(size=(5, 4, 6))  # five players over a 4 x 6 grid
    base = rng.normal(size=(4, 6))

    def linear(active: frozenset[int]) -> np.ndarray:
        return base + sum((effects[i] for i in active), np.zeros((4, 6)))

    exact = shapley(linear, 5)
    alone, residual = one_at_a_time(linear, 5)
    for a, b in zip(exact, alone, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)
    np.testing.assert_allclose(residual, 0.0, atol=1e-12)


def test_each_subset_is_evaluated_once_and_too_many_players_are_refused():
    seen: list[frozenset[int]] = []

    def counted(active: frozenset[int]) -> np.ndarray:
        seen.append(active)
        return np.array(float(len(active)))

    shapley(counted, 4)
    assert len(seen) == len(set(seen)) == 16
    with pytest.raises(ValueError, match="at most 16"):
        shapley(counted, 17)
    assert [float(v) for v in shapley(counted, 0)] == []
