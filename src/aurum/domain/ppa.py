"""PPA settlement arithmetic, pure: what a power purchase agreement pays hour by hour, and the
figures people judge it by.

A **virtual** (financially settled) PPA pays the generator the difference between the strike and
the reference price for every MWh it produces: ``(K − P_ref) · Q`` (negative when the market pays
more than the strike). The contract decides what the reference price is:

``none``           the hub price as it is;
``floor_at_zero``  a negative price counts as 0;
``no_settlement``  an hour with a negative price settles nothing;
``suspend_after``  a run of at least ``n`` consecutive negative hours settles nothing, the whole
                   run (as Germany's EEG §51 suspends market premiums);

and a floor and cap (a collar) clip it. The figures: **capture price** ``Σ P·Q / Σ Q`` (what the
production earned at the hub), **baseload price** over *all* hours, their ratio the **capture
rate**; a floor/cap priced alone is the option payoff ``Σ [(F − P)⁺ − (P − C)⁺] · Q``, and priced on
a forward with Black-76. Energy uncertainty is normal: P90 (exceeded nine years in ten) is
``P50 · (1 − z₀.₉ · σ)``.

The issue's six-hour reference::

    >>> prices = [50, 30, -10, 20, 80, 60]
    >>> volumes = [0, 10, 20, 15, 5, 0]
    >>> float(settlement(prices, volumes, 40).sum())
    1200.0
    >>> float(settlement(prices, volumes, 40, negative="floor_at_zero").sum())
    1000.0
    >>> float(settlement(prices, volumes, 40, negative="no_settlement").sum())
    200.0
    >>> float(settlement(prices, volumes, 40, floor=30, cap=60).sum())
    350.0
    >>> float(collar_payoff(prices, volumes, floor=30, cap=60).sum())
    850.0
    >>> capture_price(prices, volumes), round(baseload_price(prices), 4)
    (16.0, 38.3333)
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "NegativePriceClause", "baseload_price", "black76", "capture_price", "capture_rate",
    "collar_payoff", "energy_exceedance", "escalated_strike", "negative_runs", "settlement",
    "settles",
]  # fmt: skip

FloatArray = npt.NDArray[np.float64]
NegativePriceClause = Literal["none", "floor_at_zero", "no_settlement", "suspend_after"]


def settlement(
    prices: npt.ArrayLike,
    volumes: npt.ArrayLike,
    strike: npt.ArrayLike,
    *,
    floor: float | None = None,
    cap: float | None = None,
    negative: NegativePriceClause = "none",
    suspend_after: int | None = None,
) -> FloatArray:
    """The generator's settlement per hour, ``(K − P_ref) · Q`` (see the module docstring);
    ``strike`` may vary by hour (an escalating or indexed strike). Hours run along the last
    axis: a 2-D ``prices`` is one row of hours per path."""
    price = np.asarray(prices, dtype=np.float64)
    volume = np.asarray(volumes, dtype=np.float64)
    hours = (price.shape or (1,))[-1], (volume.shape or (1,))[-1]
    if hours[0] != hours[1]:
        raise ValueError(f"{hours[0]} prices but {hours[1]} volumes: one of each per hour")
    if floor is not None and cap is not None and floor > cap:
        raise ValueError(f"the floor {floor} is above the cap {cap}")
    reference = np.maximum(price, 0.0) if negative == "floor_at_zero" else price
    if floor is not None or cap is not None:
        reference = np.clip(reference, floor, cap)
    owed = (np.asarray(strike, dtype=np.float64) - reference) * volume
    if negative in ("no_settlement", "suspend_after"):
        return np.where(settles(price, negative=negative, suspend_after=suspend_after), owed, 0.0)
    return owed


def settles(
    prices: npt.ArrayLike, *, negative: NegativePriceClause = "none",
    suspend_after: int | None = None,
) -> npt.NDArray[np.bool_]:  # fmt: skip
    """Which hours settle under the negative-price clause (every hour unless the clause is
    ``no_settlement`` or ``suspend_after``).

    >>> settles([5, -1, -2, 3, -4], negative="suspend_after", suspend_after=2).tolist()
    [True, False, False, True, True]
    """
    price = np.asarray(prices, dtype=np.float64)
    if negative in ("none", "floor_at_zero"):
        return np.ones(price.shape, dtype=bool)
    if negative == "no_settlement":
        return price >= 0
    if negative == "suspend_after":
        if suspend_after is None or suspend_after < 1:
            raise ValueError("suspend_after needs the number of consecutive negative hours (>= 1)")
        return negative_runs(price) < suspend_after
    raise ValueError(f"unknown negative-price clause {negative!r}")


def negative_runs(prices: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """For each hour, the length of the run of consecutive negative prices it belongs to (0 for
    an hour at or above zero); runs go along the last axis.

    >>> negative_runs([5, -1, -2, 3, -4]).tolist()
    [0, 2, 2, 0, 1]
    >>> negative_runs([[-1, -1], [-1, 2]]).tolist()  # each row on its own
    [[2, 2], [1, 0]]
    """
    price = np.asarray(prices, dtype=np.float64)
    negative = price < 0
    if not negative.any():
        return np.zeros(price.shape, dtype=np.int64)
    rows = negative.reshape(-1, price.shape[-1]) if price.ndim else negative.reshape(1, 1)
    padded = np.concatenate([rows, np.zeros((rows.shape[0], 1), dtype=bool)], axis=1).ravel()
    starts = padded & ~np.concatenate(([False], padded[:-1]))
    run = np.cumsum(starts) * padded
    lengths = np.bincount(run)
    lengths[0] = 0
    found: npt.NDArray[np.int64] = lengths[run].reshape(rows.shape[0], -1)[:, :-1]
    return found.reshape(price.shape).astype(np.int64)


def capture_price(prices: npt.ArrayLike, volumes: npt.ArrayLike) -> float:
    """``Σ P·Q / Σ Q``: the average hub price of the production."""
    volume = np.asarray(volumes, dtype=np.float64)
    total = float(volume.sum())
    if total <= 0:
        raise ValueError("no production: a capture price needs some")
    return float((np.asarray(prices, dtype=np.float64) * volume).sum() / total)


def baseload_price(prices: npt.ArrayLike) -> float:
    """The average price over every hour."""
    return float(np.asarray(prices, dtype=np.float64).mean())


def capture_rate(prices: npt.ArrayLike, volumes: npt.ArrayLike) -> float:
    """Capture price over baseload price.

    >>> round(capture_rate([50, 30, -10, 20, 80, 60], [0, 10, 20, 15, 5, 0]), 6)
    0.417391
    """
    return capture_price(prices, volumes) / baseload_price(prices)


def collar_payoff(
    prices: npt.ArrayLike, volumes: npt.ArrayLike, *, floor: float | None, cap: float | None
) -> FloatArray:
    """The floor and cap alone, per hour: ``[(F − P)⁺ − (P − C)⁺] · Q`` (to the generator)."""
    price = np.asarray(prices, dtype=np.float64)
    payoff = np.zeros(price.shape)
    if floor is not None:
        payoff += np.maximum(floor - price, 0.0)
    if cap is not None:
        payoff -= np.maximum(price - cap, 0.0)
    return payoff * np.asarray(volumes, dtype=np.float64)


def black76(
    forward: float, strike: float, *, rate: float, years: float, volatility: float
) -> tuple[float, float]:
    """Call and put on a forward (Black-76), discounted at ``rate`` (continuous) over ``years``.

    >>> [round(v, 4) for v in black76(20, 20, rate=0.09, years=4 / 12, volatility=0.25)]
    [1.1166, 1.1166]
    """
    if forward <= 0 or strike <= 0:
        raise ValueError("Black-76 needs a positive forward and strike")
    if volatility <= 0 or years <= 0:
        raise ValueError("Black-76 needs a positive volatility and time to expiry")
    discount = math.exp(-rate * years)
    spread = volatility * math.sqrt(years)
    d1 = (math.log(forward / strike) + spread**2 / 2) / spread
    d2 = d1 - spread
    normal = NormalDist()
    call = discount * (forward * normal.cdf(d1) - strike * normal.cdf(d2))
    put = discount * (strike * normal.cdf(-d2) - forward * normal.cdf(-d1))
    return call, put


def energy_exceedance(p50: float, uncertainty: float, exceedance: float = 0.90) -> float:
    """The energy exceeded with probability ``exceedance`` (P90: nine years in ten) when the
    annual energy is normal around ``p50`` with relative standard deviation ``uncertainty``.

    >>> round(energy_exceedance(200.0, 0.07), 3)
    182.058
    """
    if not 0 < exceedance < 1:
        raise ValueError("an exceedance probability is between 0 and 1")
    return p50 * (1 + NormalDist().inv_cdf(1 - exceedance) * uncertainty)


def escalated_strike(first_year_strike: float, growth: float, year: int) -> float:
    """``K_y = K_1 · (1 + g)^(y − 1)``: the strike in contract year ``year`` (from 1).

    >>> round(escalated_strike(40.0, 0.02, 3), 4)
    41.616
    """
    if year < 1:
        raise ValueError("contract years count from 1")
    return first_year_strike * (1 + growth) ** (year - 1)
