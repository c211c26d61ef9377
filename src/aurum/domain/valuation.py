"""Valuation conventions, pure: payment dates, discount factors, IRR and the risk figures of a
distribution of values.

The conventions, stated once:

- a month's cashflow is paid on the month's **last day plus the payment lag** (calendar days);
- time is **ACT/365F**: ``t = (payment date − valuation date) / 365`` years;
- rates are **annual effective**: ``DF(t) = (1 + r)^(−t)``; a curve of such zero rates is
  interpolated linearly in ``t`` and held flat beyond its ends;
- an **IRR** is the annual effective rate that makes ``−upfront + Σ CF·(1 + irr)^(−t)`` zero,
  never a monthly rate shown as annual;
- percentiles are **non-exceedance** (P5: 5 % of outcomes are below it); **VaR** at level α is
  how far the α-tail quantile falls below the mean (``mean − Q(1 − α)``), **ES** how far the mean
  of that tail does, both positive numbers for a loss.

A flat 5 % over two years::

    >>> float(discount_factors(date(2026, 1, 1), [date(2028, 1, 1)], rate=0.05)[0].round(6))
    0.907029
    >>> round(irr(100.0, [60.0, 60.0], [1.0, 2.0]), 6)
    0.130662
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

__all__ = [
    "RISK_LEVELS", "discount_factors", "irr", "month_end", "payment_date", "risk_figures",
    "year_fractions",
]  # fmt: skip

FloatArray = npt.NDArray[np.float64]
RISK_LEVELS = (0.95, 0.99)
DAYS_PER_YEAR = 365.0  # ACT/365F


def month_end(month: date) -> date:
    """The last day of ``month``'s month."""
    return month.replace(day=_calendar.monthrange(month.year, month.month)[1])


def payment_date(month: date, lag_days: int) -> date:
    """When a month's settlement is paid: its last day plus ``lag_days``.

    >>> payment_date(date(2027, 2, 1), 20)
    datetime.date(2027, 3, 20)
    """
    return month_end(month) + timedelta(days=lag_days)


def year_fractions(valuation_date: date, days: Sequence[date]) -> FloatArray:
    """ACT/365F years from ``valuation_date`` to each day (negative before it)."""
    return np.array([(d - valuation_date).days / DAYS_PER_YEAR for d in days], dtype=np.float64)


def discount_factors(
    valuation_date: date,
    days: Sequence[date],
    *,
    rate: float | None = None,
    curve: Sequence[tuple[float, float]] | None = None,
) -> FloatArray:
    """``(1 + r(t))^(−t)`` for each day: ``rate`` flat, or ``curve`` as (years, zero rate) points
    interpolated linearly and flat beyond its ends. A day on or before the valuation date is
    not discounted (factor 1)."""
    if (rate is None) == (curve is None):
        raise ValueError("give a flat rate or a curve of zero rates, not both or neither")
    years = year_fractions(valuation_date, days)
    if curve is not None:
        points = sorted(curve)
        if not points:
            raise ValueError("a discount curve needs at least one point")
        knots = np.array([p[0] for p in points], dtype=np.float64)
        rates = np.interp(years, knots, np.array([p[1] for p in points], dtype=np.float64))
    else:
        assert rate is not None
        rates = np.full(years.shape, rate)
    if (rates <= -1).any():
        raise ValueError("a discount rate must be above -100 %")
    return np.where(years > 0, (1.0 + rates) ** -np.maximum(years, 0.0), 1.0)


def irr(upfront: float, cashflows: npt.ArrayLike, years: npt.ArrayLike) -> float:
    """The annual effective rate ``r`` with ``upfront = Σ CF·(1 + r)^(−t)`` (bisection on the
    bracket where the present value changes sign); ``ValueError`` when none exists."""
    flows = np.asarray(cashflows, dtype=np.float64)
    times = np.maximum(np.asarray(years, dtype=np.float64), 0.0)

    def excess(rate: float) -> float:
        return float((flows * (1.0 + rate) ** -times).sum() - upfront)

    low, high = -0.99, 1.0
    while excess(high) > 0 and high < 1e6:
        high *= 2
    if excess(low) * excess(high) > 0:
        raise ValueError(
            "no internal rate of return: the cashflows never repay the upfront amount"
            if excess(low) < 0 else "no internal rate of return within -99 % and 1,000,000 %"
        )  # fmt: skip
    for _ in range(200):
        middle = (low + high) / 2
        if excess(low) * excess(middle) <= 0:
            high = middle
        else:
            low = middle
        if high - low < 1e-12:
            break
    return (low + high) / 2


def risk_figures(values: npt.ArrayLike) -> dict[str, float]:
    """Mean, P5/P50/P95 (non-exceedance), and VaR and ES at 95 % and 99 % of a distribution of
    values (a gain is positive; VaR and ES are losses below the mean, see the module docstring).

    >>> figures = risk_figures(np.arange(1.0, 101.0))
    >>> figures["mean"], figures["p5"], figures["var_95"], figures["es_95"]
    (50.5, 5.95, 44.55, 47.5)
    """
    sample = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if not sample.size or not np.isfinite(sample).all():
        raise ValueError("risk figures need finite values")
    mean = float(sample.mean())
    found = {
        "mean": mean,
        "p5": float(np.quantile(sample, 0.05)),
        "p50": float(np.quantile(sample, 0.50)),
        "p95": float(np.quantile(sample, 0.95)),
        "std": float(sample.std(ddof=1)) if sample.size > 1 else 0.0,
    }
    for level in RISK_LEVELS:
        cut = float(np.quantile(sample, 1 - level))
        tail = sample[: max(int(np.ceil(round(sample.size * (1 - level), 9))), 1)]
        name = round(level * 100)
        found[f"var_{name}"] = mean - cut
        found[f"es_{name}"] = mean - float(tail.mean())
    return found
