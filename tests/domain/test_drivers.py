"""Drivers to power: units, marginal cost and pass-through, the market data, the merit order."""

from __future__ import annotations

import csv
from importlib import resources

import numpy as np
import pytest

from aurum.domain import drivers
from aurum.domain.drivers import (
    Stack,
    Unit,
    UnitsMismatch,
    carbon_per_tonne,
    fuel_per_mmbtu,
    load_markets,
    load_stacks,
    market_for_curve,
    stack_price,
)


def test_fuel_prices_are_put_per_mmbtu_in_the_power_currency():
    assert float(fuel_per_mmbtu(34.12142, currency="EUR", per_unit="MWh", to_currency="EUR",
                                fx={})) == pytest.approx(10.0)  # fmt: skip
    assert float(fuel_per_mmbtu(80.0, currency="GBp", per_unit="therm", to_currency="GBP",
                                fx={})) == pytest.approx(8.0)  # fmt: skip
    assert float(fuel_per_mmbtu(9.47817, currency="EUR", per_unit="GJ", to_currency="EUR",
                                fx={})) == pytest.approx(10.0)  # fmt: skip
    assert float(fuel_per_mmbtu(11.0, currency="USD", per_unit="MMBtu", to_currency="EUR",
                                fx={"EURUSD": 1.1})) == pytest.approx(10.0)  # fmt: skip
    assert float(fuel_per_mmbtu(10.0, currency="EUR", per_unit="MMBtu", to_currency="USD",
                                fx={"EURUSD": 1.1})) == pytest.approx(11.0)  # fmt: skip
    assert float(carbon_per_tonne(70.0, currency="EUR", per_unit="t", to_currency="EUR",
                                  fx={})) == 70.0  # fmt: skip


def test_a_missing_rate_or_unit_is_a_clear_error():
    with pytest.raises(UnitsMismatch) as caught:
        fuel_per_mmbtu(11.0, currency="USD", per_unit="MMBtu", to_currency="EUR", fx={})
    assert caught.value.code == "units_mismatched" and "'EURUSD'" in str(caught.value)
    with pytest.raises(UnitsMismatch) as caught:
        fuel_per_mmbtu(11.0, currency="USD", per_unit="bbl", to_currency="USD", fx={})
    assert caught.value.code == "unit_unknown"
    with pytest.raises(UnitsMismatch):
        carbon_per_tonne(5.0, currency="USD", per_unit="RIN", to_currency="USD", fx={})


def test_marginal_cost_and_pass_through():
    mc = drivers.marginal_cost(heat_rate=np.array([7.0, 7.5]), gas=np.array([3.0, 4.0]),
                               carbon=np.array([50.0, 80.0]), emission_factor=0.05306, vom=2.0)
    np.testing.assert_allclose(mc, [41.571, 63.836])
    assert float(drivers.pass_through(base_power=60.0, mc_base=mc[0], mc_scenario=mc[1],
                                      share=0.5)) == pytest.approx(71.1325)  # fmt: skip


def test_markets_match_power_curves_and_name_driver_curves_the_data_has():
    german = market_for_curve({"vendor": "EUGP", "asset_class": "power", "location": "German"})
    assert german is not None and german.name == "DE" and german.share_for("PEAK") == 0.75
    assert german.share_for("BLOCK_X") == german.default_share
    pjm = market_for_curve({"vendor": "PW", "iso": "PJM", "location": "West"})
    assert pjm is not None and pjm.name == "PJM" and pjm.stack == "PJM"
    assert market_for_curve({"vendor": "EUGP", "asset_class": "gas", "location": "German"}) is None
    text = (resources.files("aurum.ingest") / "reference" / "curves.csv").read_text("utf-8")
    known = list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))
    stacks = load_stacks()
    for market in load_markets():
        for ref in (market.gas, market.carbon):
            if ref is None:
                continue
            found = [row for row in known
                     if all(row.get(k, "") == v for k, v in ref.fields.items())]  # fmt: skip
            assert found, f"{market.name}: no curve {dict(ref.fields)} in the reference"
        assert market.stack is None or market.stack in stacks
        assert 0 < market.heat_rate < 15 and all(0 <= s <= 1 for s in market.share.values())


def test_a_stack_prices_the_unit_that_meets_the_load():
    toy = Stack("toy", "EUR", (
        Unit("wind", 100, 0, 1, "none"), Unit("coal", 100, 10, 1, "coal", 2, 0.1),
        Unit("gas", 100, 7, 1, "gas", 3, 0.05),
    ), {"BASE": 150}, {"coal": 2.0}, price_cap=500)  # fmt: skip
    prices = stack_price(toy, load_mw=[50, 150, 250, 350], gas=5.0, carbon=10.0)
    np.testing.assert_allclose(prices, [0.0, 32.0, 41.5, 500.0])
    # retiring the coal: 150 MW now falls on gas
    retired = stack_price(toy, load_mw=[150], gas=5.0, carbon=10.0,
                          capacity_delta={"coal": np.array([-100.0])})  # fmt: skip
    np.testing.assert_allclose(retired, [41.5])
    # dearer gas moves the gas unit above coal's place only where gas is marginal
    np.testing.assert_allclose(stack_price(toy, load_mw=[150, 250], gas=[10, 10], carbon=10),
                               [32.0, 76.5])  # fmt: skip


def test_shipped_stacks_are_labelled_illustrative_with_their_sources():
    stacks = load_stacks()
    assert {"DE", "GB", "PJM", "ERCOT"} <= set(stacks)
    for stack in stacks.values():
        assert stack.illustrative and "illustrative" in stack.source
        assert stack.units and all(u.availability <= 1 for u in stack.units)
        price = stack_price(stack, load_mw=list(stack.load_mw.values()), gas=8.0, carbon=60.0)
        assert (price > 0).all() and (price < stack.price_cap).all()
