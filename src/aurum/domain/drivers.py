"""From fuel and carbon to power: marginal cost, pass-through, and the merit order.

A power forward moves with the cost of the plant that sets its price. With ``s`` the share of
hours the marginal gas plant sets the price (per market and block)::

    MC = HR * G + HR * EF * C + VOM
    P_scenario = P_base + s * (MC_scenario - MC_base)

``G`` is gas per MMBtu and ``C`` carbon per tonne, both in the power curve's currency
(:func:`fuel_per_mmbtu`, :func:`carbon_per_tonne`: pence to pounds is a unit, any other currency
needs a stated FX rate), ``HR`` MMBtu per MWh, ``EF`` tCO2 per MMBtu. Which curves drive which
market, and the defaults for ``HR``, ``EF``, ``VOM`` and ``s``, are data (``drivers.toml``).

Load growth and fleet changes move price along a **merit-order stack** (``stacks.toml``, the
shipped ones illustrative): the plants' available capacity in order of marginal cost, the price
being the cost of the plant that meets the load (:func:`stack_price`); a scenario applies the
*change* of that price to the forward.

>>> round(float(marginal_cost(heat_rate=7.0, gas=3.0, carbon=50.0, emission_factor=0.05306,
...                            vom=2.0)), 3)
41.571
>>> float(pass_through(base_power=60.0, mc_base=41.571, mc_scenario=63.836, share=0.5))
71.1325
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MMBTU_PER_GJ", "MMBTU_PER_MWH", "MMBTU_PER_THERM", "CurveRef", "MarketDrivers", "Stack",
    "Unit", "UnitsMismatch", "carbon_per_tonne", "fuel_per_mmbtu", "load_growth", "load_markets",
    "load_stacks", "main_currency", "marginal_cost", "market_for_curve", "pass_through",
    "stack_price",
]  # fmt: skip

FloatArray = npt.NDArray[np.float64]
MMBTU_PER_MWH = 3.412142
MMBTU_PER_THERM = 0.1
MMBTU_PER_GJ = 0.947817
_ENERGY = {"mmbtu": 1.0, "mwh": MMBTU_PER_MWH, "therm": MMBTU_PER_THERM, "gj": MMBTU_PER_GJ}
_SUBUNITS = {"GBP": 100.0, "USD": 100.0}  # GBp, USc: hundredths of the main unit
_SUBUNIT_CODES = {"GBp": "GBP", "GBX": "GBP", "USc": "USD"}


class UnitsMismatch(ValueError):
    """A price that cannot be converted as asked: an unknown unit, or another currency without
    a stated rate."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# -- units --------------------------------------------------------------------------------------


def fuel_per_mmbtu(
    price: npt.ArrayLike, *, currency: str, per_unit: str, to_currency: str,
    fx: Mapping[str, float],
) -> FloatArray:  # fmt: skip
    """A fuel price (``currency`` per ``per_unit``: MWh, MMBtu, therm, GJ) in ``to_currency``
    per MMBtu.

    >>> float(fuel_per_mmbtu(34.12142, currency="EUR", per_unit="MWh", to_currency="EUR", fx={}))
    10.0
    >>> float(fuel_per_mmbtu(80.0, currency="GBp", per_unit="therm", to_currency="GBP", fx={}))
    8.0
    >>> float(fuel_per_mmbtu(11.0, currency="USD", per_unit="MMBtu", to_currency="EUR",
    ...                      fx={"EURUSD": 1.1}))
    10.0
    """
    energy = _ENERGY.get(per_unit.strip().casefold())
    if energy is None:
        raise UnitsMismatch(
            "unit_unknown",
            f"a fuel price per {per_unit!r} cannot be put per MMBtu (known: MWh, MMBtu, therm, GJ)",
        )
    rate = currency_rate(currency, to_currency, fx)
    return np.asarray(price, dtype=np.float64) * rate / energy


def carbon_per_tonne(
    price: npt.ArrayLike, *, currency: str, per_unit: str, to_currency: str,
    fx: Mapping[str, float],
) -> FloatArray:  # fmt: skip
    """A carbon price (``currency`` per tonne of CO2) in ``to_currency`` per tonne.

    >>> float(carbon_per_tonne(70.0, currency="EUR", per_unit="t", to_currency="EUR", fx={}))
    70.0
    """
    if per_unit.strip().casefold() not in ("t", "tco2", "tonne", "mt"):
        raise UnitsMismatch(
            "unit_unknown", f"a carbon price per {per_unit!r} is not per tonne of CO2"
        )
    return np.asarray(price, dtype=np.float64) * currency_rate(currency, to_currency, fx)


def main_currency(currency: str) -> tuple[str, float]:
    """The currency a price is quoted in and how many of it one unit is: pence (``GBp``,
    ``GBX``) and cents (``USc``) are hundredths of the pound and the dollar, so a rate between
    main currencies converts them too.

    >>> main_currency("GBp"), main_currency("USc"), main_currency("EUR")
    (('GBP', 0.01), ('USD', 0.01), ('EUR', 1.0))
    """
    main = _SUBUNIT_CODES.get(currency)
    return (main, 1 / _SUBUNITS[main]) if main else (currency, 1.0)


def currency_rate(currency: str, to_currency: str, fx: Mapping[str, float]) -> float:
    """How many ``to_currency`` one ``currency`` is: pence and cents are units, any other pair
    needs a rate in ``fx`` (``"EURUSD": 1.08``: one EUR is 1.08 USD; either direction).

    >>> currency_rate("GBp", "GBP", {}), currency_rate("USD", "EUR", {"EURUSD": 1.25})
    (0.01, 0.8)
    """
    currency, factor = main_currency(currency)
    to_currency, target = main_currency(to_currency)
    target = 1 / target
    if currency == to_currency:
        return factor * target
    direct, inverse = fx.get(f"{currency}{to_currency}"), fx.get(f"{to_currency}{currency}")
    if direct:
        return factor * target * direct
    if inverse:
        return factor * target / inverse
    raise UnitsMismatch(
        "units_mismatched",
        f"a price in {currency} is needed in {to_currency}: give fx_rates"
        f" {{'{to_currency}{currency}': rate}} (one {to_currency} in {currency})",
    )


# -- pass-through -------------------------------------------------------------------------------


def marginal_cost(
    *, heat_rate: npt.ArrayLike, gas: npt.ArrayLike, carbon: npt.ArrayLike,
    emission_factor: npt.ArrayLike, vom: npt.ArrayLike,
) -> FloatArray:  # fmt: skip
    """``HR * G + HR * EF * C + VOM``, elementwise."""
    hr = np.asarray(heat_rate, dtype=np.float64)
    return np.asarray(
        hr * np.asarray(gas) + hr * np.asarray(emission_factor) * np.asarray(carbon)
        + np.asarray(vom),
        dtype=np.float64,
    )  # fmt: skip


def pass_through(
    *, base_power: npt.ArrayLike, mc_base: npt.ArrayLike, mc_scenario: npt.ArrayLike,
    share: npt.ArrayLike,
) -> FloatArray:  # fmt: skip
    """``P_base + s * (MC_scenario - MC_base)``."""
    return np.asarray(
        np.asarray(base_power)
        + np.asarray(share) * (np.asarray(mc_scenario) - np.asarray(mc_base)),
        dtype=np.float64,
    )


# -- market data --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurveRef:
    """A driver curve by identity fields (vendor, location, product ...)."""

    fields: Mapping[str, str]


@dataclass(frozen=True)
class MarketDrivers:
    """One market's drivers and the defaults of its marginal plant (``drivers.toml``)."""

    name: str
    match: Mapping[str, tuple[str, ...]]
    gas: CurveRef | None
    carbon: CurveRef | None
    heat_rate: float
    emission_factor: float
    vom: float
    share: Mapping[str, float]
    default_share: float
    stack: str | None = None

    def share_for(self, block: str | None) -> float:
        """``s`` for a block (its code as the curve has it), else the default."""
        wanted = (block or "").upper().replace(" ", "_")
        return float(self.share.get(wanted, self.default_share))

    def matches(self, identity: Mapping[str, Any]) -> bool:
        return all(
            str(identity.get(name) or "").casefold() in {v.casefold() for v in values}
            for name, values in self.match.items()
        )

    def replace(self, **changes: Any) -> MarketDrivers:
        return replace(self, **changes)


@cache
def load_markets() -> tuple[MarketDrivers, ...]:
    """The markets of ``drivers.toml``, in file order."""
    text = (resources.files("aurum.domain") / "drivers.toml").read_text(encoding="utf-8")
    found = []
    for entry in tomllib.loads(text)["market"]:
        match = {
            name: tuple(value) if isinstance(value, list) else (str(value),)
            for name, value in entry["match"].items()
        }
        found.append(
            MarketDrivers(
                name=entry["name"],
                match=match,
                gas=CurveRef(dict(entry["gas"])) if "gas" in entry else None,
                carbon=CurveRef(dict(entry["carbon"])) if "carbon" in entry else None,
                heat_rate=float(entry["heat_rate"]),
                emission_factor=float(entry["emission_factor"]),
                vom=float(entry["vom"]),
                share={k.upper(): float(v) for k, v in entry["share"].items()},
                default_share=float(entry["default_share"]),
                stack=entry.get("stack"),
            )
        )
    return tuple(found)


def market_for_curve(identity: Mapping[str, Any]) -> MarketDrivers | None:
    """The first market whose ``match`` fields the curve has (ignoring case), if any.

    >>> market_for_curve({"vendor": "EUGP", "asset_class": "power", "location": "German"}).name
    'DE'
    >>> market_for_curve({"vendor": "EUGP", "asset_class": "gas", "location": "German"}) is None
    True
    """
    return next((market for market in load_markets() if market.matches(identity)), None)


# -- the merit order ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A group of plants of one technology."""

    technology: str
    capacity_mw: float
    heat_rate: float  # MMBtu/MWh (0: no fuel)
    availability: float  # share of capacity available on average
    fuel: str  # gas, coal, lignite, oil, uranium, none
    vom: float = 0.0
    emission_factor: float = 0.0  # tCO2/MMBtu


@dataclass(frozen=True)
class Stack:
    """A market's plants, what load they serve per block, and where the numbers come from."""

    name: str
    currency: str
    units: tuple[Unit, ...]
    load_mw: Mapping[str, float]
    fuel_prices: Mapping[str, float] = field(default_factory=dict)
    price_cap: float = 1000.0
    source: str = ""
    illustrative: bool = True


@cache
def load_stacks() -> Mapping[str, Stack]:
    """The shipped (illustrative) stacks of ``stacks.toml``, by name."""
    text = (resources.files("aurum.domain") / "stacks.toml").read_text(encoding="utf-8")
    return {
        name: Stack(
            name=name,
            currency=entry["currency"],
            units=tuple(Unit(**unit) for unit in entry["units"]),
            load_mw={k.upper(): float(v) for k, v in entry["load_mw"].items()},
            fuel_prices={k: float(v) for k, v in entry.get("fuel_prices", {}).items()},
            price_cap=float(entry["price_cap"]),
            source=entry["source"],
            illustrative=True,
        )
        for name, entry in tomllib.loads(text)["stacks"].items()
    }


def stack_price(
    stack: Stack, *, load_mw: npt.ArrayLike, gas: npt.ArrayLike, carbon: npt.ArrayLike,
    capacity_delta: Mapping[str, npt.ArrayLike] | None = None,
) -> FloatArray:  # fmt: skip
    """The price per tenor: the marginal cost of the plant that meets ``load_mw``, with gas
    units at that tenor's ``gas`` price and every unit paying ``carbon``; load beyond all
    available capacity is priced at the cap. ``capacity_delta``: MW added (+) or retired (-) by
    technology, per tenor.

    >>> toy = Stack("toy", "EUR", (Unit("wind", 100, 0, 1, "none"),
    ...     Unit("coal", 100, 10, 1, "coal", 2, 0.1), Unit("gas", 100, 7, 1, "gas", 3, 0.05)),
    ...     {"BASE": 150}, {"coal": 2.0}, price_cap=500)
    >>> stack_price(toy, load_mw=[50, 150, 250, 350], gas=[5, 5, 5, 5], carbon=[10, 10, 10, 10])
    array([  0. ,  32. ,  41.5, 500. ])
    """
    load = np.atleast_1d(np.asarray(load_mw, dtype=np.float64))
    tenors = load.shape[0]
    gas_price = np.broadcast_to(np.asarray(gas, dtype=np.float64), (tenors,))
    carbon_price = np.broadcast_to(np.asarray(carbon, dtype=np.float64), (tenors,))
    costs = np.empty((len(stack.units), tenors))
    capacity = np.empty((len(stack.units), tenors))
    deltas = capacity_delta or {}
    for i, unit in enumerate(stack.units):
        fuel = gas_price if unit.fuel == "gas" else stack.fuel_prices.get(unit.fuel, 0.0)
        costs[i] = unit.heat_rate * (fuel + unit.emission_factor * carbon_price) + unit.vom
        change = np.broadcast_to(np.asarray(deltas.get(unit.technology, 0.0)), (tenors,))
        capacity[i] = np.maximum(unit.capacity_mw + change, 0.0) * unit.availability
    order = np.argsort(costs, axis=0, kind="stable")
    sorted_costs = np.take_along_axis(costs, order, axis=0)
    cumulative = np.cumsum(np.take_along_axis(capacity, order, axis=0), axis=0)
    marginal = (cumulative < load[None, :] - 1e-9).sum(axis=0)  # units fully used below it
    short = marginal >= len(stack.units)
    picked = sorted_costs[np.minimum(marginal, len(stack.units) - 1), np.arange(tenors)]
    return np.where(short, stack.price_cap, picked)


def load_growth(load_mw: npt.ArrayLike, pct_per_year: float, years: npt.ArrayLike) -> FloatArray:
    """``load * (1 + g/100) ** years``.

    >>> round(float(load_growth(100.0, 2.0, 2.0)), 6)
    104.04
    """
    return np.asarray(
        np.asarray(load_mw, dtype=np.float64) * (1 + pct_per_year / 100) ** np.asarray(years),
        dtype=np.float64,
    )
