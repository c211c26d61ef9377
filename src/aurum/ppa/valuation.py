"""A contract valued on resolved curves, pure: cashflows per month, NPV, capture figures,
sensitivities, the floor and cap as options, energy P-values, and on an ensemble the
distribution of NPV and annual cashflow with its at-risk figures.

Legs, to the **generator** (the offtaker's are the opposite, except balancing, which the
generator bears):

``settlement``    ``Σ (K − P_ref)·Q`` per hour under the clauses (:mod:`aurum.ppa.engine`);
``certificates``  ``− share·Q·C`` (the certificates go to the offtaker; ``C`` their curve);
``balancing``     ``− cost·Q``.

Conventions (:mod:`aurum.domain.valuation`): payment at month end + lag, ACT/365F, annual
effective discounting. Every month of the book is valued (the service leaves out the months paid
on or before the valuation date before it builds the book). Options are priced with Black-76
on each month's block forward (undiscounted Black, then the month's discount factor), expiry at
the month's start; the generator owns the floor (a put) and has
sold the cap (a call) on its expected volume in the block.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from aurum.domain import ppa, valuation
from aurum.errors import ValuationError
from aurum.ppa.engine import Book, Monthly
from aurum.ppa.terms import Discount, PayAsProduced

__all__ = ["BUCKETS", "CONVENTIONS", "Inputs", "Result", "valuate"]

Array = npt.NDArray[np.float64]
BUCKETS = ((0, 1, "0-1y"), (1, 2, "1-2y"), (2, 5, "2-5y"), (5, 10, "5-10y"), (10, 1000, "10y+"))
CONVENTIONS = {
    "day_count": "ACT/365F",
    "compounding": "annual effective",
    "payment": "month end + payment lag (calendar days)",
    "percentiles": "non-exceedance (P5: 5 % of outcomes below)",
    "energy_percentiles": "exceedance (P90: exceeded nine years in ten)",
    "var_es": "loss below the mean: VaR = mean − Q(1−α); ES = mean − mean of that tail",
    "cfar": "a year's expected cashflow − its Q(1−α)",
    "sign": "to the side valued (perspective): positive is a gain",
}


@dataclass(frozen=True)
class Inputs:
    """What a valuation needs, resolved: the book, forwards per (month, block), and the rest
    per month."""

    book: Book
    forwards: Array  # (months, blocks)
    currency: str
    valuation_date: date
    discount: Discount
    perspective: str = "generator"
    paths: Array | None = None  # (paths, months, blocks)
    basis: Array | None = None  # (months,)
    certificates: Array | None = None  # (months,)
    extrapolated: npt.NDArray[np.bool_] | None = None
    residuals: Mapping[str, Array] = field(default_factory=dict)
    upfront: float | None = None
    volatility: float | None = None
    volatility_source: str | None = None
    seed: int = 0
    warnings: tuple[str, ...] = ()


@dataclass
class Result:
    summary: dict[str, Any]
    monthly: dict[str, list[Any]]


def valuate(inputs: Inputs) -> Result:
    """Value the book on the inputs (see the module docstring)."""
    book = inputs.book
    terms = book.terms
    strike, carried = book.strikes()
    months = list(book.months)
    pay = [valuation.payment_date(m, terms.payment_lag_days) for m in months]
    factors = valuation.discount_factors(
        inputs.valuation_date, pay, rate=inputs.discount.rate,
        curve=list(inputs.discount.curve) if inputs.discount.curve else None,
    )  # fmt: skip
    sign = 1.0 if inputs.perspective == "generator" else -1.0
    base = book.value(inputs.forwards[None], basis=inputs.basis, strike=strike)
    legs = _legs(base, inputs, sign)
    cash = legs["cashflow"][0]
    npv = float((cash * factors).sum())

    energy = base.energy[0]
    produced = float(energy.sum())
    hub_sum = float(base.hub_sum[0].sum())
    hours = int(book.hours)
    capture = float(base.hub_volume[0].sum() / produced) if produced > 0 else None
    baseload = hub_sum / hours if hours else None
    summary: dict[str, Any] = {
        "npv": npv,
        "currency": inputs.currency,
        "perspective": inputs.perspective,
        "valuation_date": inputs.valuation_date.isoformat(),
        "months": len(months),
        "hours": hours,
        "energy_mwh": produced,
        "capture_price": capture,
        "baseload_price": baseload,
        "capture_rate": capture / baseload if capture is not None and baseload else None,
        "profile_cost_per_mwh": baseload - capture if capture is not None and baseload else None,
        "generation_weighted_basis": (
            float(base.basis_volume[0].sum() / produced) if produced > 0 else None
        ),
        "reference_capture_price": (
            float(base.reference_volume[0].sum() / produced) if produced > 0 else None
        ),
        "negative_hours": int(base.negative_hours[0].sum()),
        "legs": {
            name: {"undiscounted": float(legs[name][0].sum()),
                   "pv": float((legs[name][0] * factors).sum())}
            for name in ("settlement", "certificates", "balancing")
        },
        "conventions": CONVENTIONS,
        "warnings": list(inputs.warnings),
    }
    if carried:
        summary["warnings"].append(
            f"the strike index ends before {carried[0]}: its last value is carried for"
            f" {len(carried)} month(s)"
        )
    if inputs.extrapolated is not None and inputs.extrapolated.any():
        summary["extrapolated_months"] = [
            f"{m:%Y-%m}" for m, on in zip(months, inputs.extrapolated, strict=True) if on
        ]
    if inputs.upfront is not None:
        summary["upfront"] = inputs.upfront
        years = valuation.year_fractions(inputs.valuation_date, pay)
        try:
            summary["irr"] = valuation.irr(inputs.upfront, cash, years)
        except ValueError as exc:
            summary["irr"] = None
            summary["warnings"].append(str(exc))
    deltas, block_deltas = _sensitivities(inputs, strike, cash, factors, sign)
    summary["sensitivities"] = _buckets(months, deltas, inputs.valuation_date)
    summary["energy"] = _energy(book, energy, months)
    summary["options"] = _options(inputs, factors, sign)
    if inputs.residuals:
        summary["block_residuals"] = {
            block: {"max_abs": float(np.nanmax(np.abs(values))) if np.isfinite(values).any()
                    else None, "mean": float(np.nanmean(values)) if np.isfinite(values).any()
                    else None}
            for block, values in inputs.residuals.items()
        }  # fmt: skip

    monthly: dict[str, list[Any]] = {
        "month": [f"{m:%Y-%m}" for m in months],
        "payment_date": pay,
        "hours": book.hours_per_month().tolist(),
        "energy_mwh": energy.tolist(),
        "settled_energy_mwh": base.settled_energy[0].tolist(),
        "strike": strike.tolist(),
        "baseload_price": (base.hub_sum[0] / book.hours_per_month()).tolist(),
        "capture_price": _ratio(base.hub_volume[0], energy),
        "basis": _ratio(base.basis_volume[0], energy),
        "settlement": legs["settlement"][0].tolist(),
        "certificates": legs["certificates"][0].tolist(),
        "balancing": legs["balancing"][0].tolist(),
        "cashflow": cash.tolist(),
        "discount_factor": factors.tolist(),
        "pv": (cash * factors).tolist(),
        "delta": deltas.tolist(),
        "delta_by_block": [
            {b: float(block_deltas[i, j]) for j, b in enumerate(book.blocks)}
            for i in range(len(months))
        ],
        "extrapolated": (
            inputs.extrapolated.tolist() if inputs.extrapolated is not None
            else [False] * len(months)
        ),
    }
    for block, values in inputs.residuals.items():
        monthly.setdefault("residual", [{} for _ in months])
        for i, value in enumerate(values):
            if np.isfinite(value):
                monthly["residual"][i][block] = float(value)
    if inputs.paths is not None:
        _ensemble(inputs, strike, factors, sign, summary, monthly)
    return Result(summary, monthly)


def _legs(sums: Monthly, inputs: Inputs, sign: float) -> dict[str, Array]:
    terms = inputs.book.terms
    certificates = np.zeros_like(sums.energy)
    if terms.certificates is not None and inputs.certificates is not None:
        certificates = -sums.energy * terms.certificates.share * inputs.certificates
    balancing = -sums.energy * terms.balancing_cost
    settlement = sums.settlement
    legs = {
        "settlement": sign * settlement,
        "certificates": sign * certificates,
        "balancing": balancing if sign > 0 else np.zeros_like(balancing),
    }
    legs["cashflow"] = legs["settlement"] + legs["certificates"] + legs["balancing"]
    return legs


def _sensitivities(
    inputs: Inputs, strike: Array, cash: Array, factors: Array, sign: float
) -> tuple[Array, Array]:
    """PV change per +1 (currency/MWh) on each month's forward (every block at once), and on
    each (month, block) forward alone. Months settle independently, so one bumped valuation
    of every month gives every month's figure."""
    book = inputs.book

    def bumped(forwards: Array) -> Array:
        sums = book.value(forwards[None], basis=inputs.basis, strike=strike)
        return _legs(sums, inputs, sign)["cashflow"][0]

    month_delta = (bumped(inputs.forwards + 1.0) - cash) * factors
    by_block = np.empty((len(book.months), len(book.blocks)))
    for j in range(len(book.blocks)):
        moved = inputs.forwards.copy()
        moved[:, j] += 1.0
        by_block[:, j] = (bumped(moved) - cash) * factors
    return month_delta, by_block


def _buckets(months: Sequence[date], deltas: Array, day: date) -> dict[str, Any]:
    by_year: dict[str, float] = {}
    by_tenor: dict[str, float] = {name: 0.0 for *_, name in BUCKETS}
    for month, delta in zip(months, deltas, strict=True):
        by_year[str(month.year)] = by_year.get(str(month.year), 0.0) + float(delta)
        ahead = (month - day).days / valuation.DAYS_PER_YEAR
        for low, high, name in BUCKETS:
            if low <= max(ahead, 0.0) < high:
                by_tenor[name] += float(delta)
                break
    return {
        "unit": "PV change per +1 on the forward (currency per MWh), every block at once",
        "total": float(deltas.sum()), "by_calendar_year": by_year, "by_tenor": by_tenor,
    }  # fmt: skip


def _energy(book: Book, energy: Array, months: Sequence[date]) -> dict[str, Any]:
    volume = book.terms.volume
    sigma = volume.energy_uncertainty_pct / 100 if isinstance(volume, PayAsProduced) else 0.0
    years: dict[str, float] = {}
    for month, mwh in zip(months, energy, strict=True):
        years[str(month.year)] = years.get(str(month.year), 0.0) + float(mwh)
    return {
        "uncertainty_pct": sigma * 100,
        "by_calendar_year": {
            year: {
                "p50_mwh": mwh, "p90_mwh": ppa.energy_exceedance(mwh, sigma, 0.90),
                "p99_mwh": ppa.energy_exceedance(mwh, sigma, 0.99),
            }
            for year, mwh in years.items()
        },
        "note": "annual energy normal around P50; P90 is exceeded nine years in ten",
    }  # fmt: skip


def _options(inputs: Inputs, factors: Array, sign: float) -> dict[str, Any] | None:
    terms = inputs.book.terms
    if terms.floor is None and terms.cap is None:
        return None
    volatility = inputs.volatility
    if volatility is None:
        raise ValuationError(
            "volatility_missing",
            "the floor/cap are priced as options and need a volatility: give `volatility` in"
            " the terms or the request, or value on a scenario run with an ensemble",
        )  # fmt: skip
    book = inputs.book
    volume = book.block_volume()
    forwards = inputs.forwards
    if terms.settlement == "physical" and inputs.basis is not None:
        forwards = forwards + inputs.basis[:, None]
    floor_value = cap_value = 0.0
    intrinsic = 0.0
    for i, month in enumerate(book.months):
        expiry = (month - inputs.valuation_date).days / valuation.DAYS_PER_YEAR
        for j in range(len(book.blocks)):
            forward, mwh = float(forwards[i, j]), float(volume[i, j])
            if mwh <= 0:
                continue
            put = call = 0.0
            if terms.floor is not None:
                put = _black(forward, terms.floor, expiry, volatility, put=True)
                intrinsic += max(terms.floor - forward, 0.0) * mwh * factors[i]
            if terms.cap is not None:
                call = _black(forward, terms.cap, expiry, volatility, put=False)
                intrinsic -= max(forward - terms.cap, 0.0) * mwh * factors[i]
            floor_value += put * mwh * factors[i]
            cap_value -= call * mwh * factors[i]
    return {
        "model": "Black-76 on each month's block forward, expiry at the month's start",
        "volatility": volatility, "volatility_source": inputs.volatility_source,
        "floor": sign * floor_value, "cap": sign * cap_value,
        "collar": sign * (floor_value + cap_value), "intrinsic": sign * intrinsic,
        "time_value": sign * (floor_value + cap_value - intrinsic),
    }  # fmt: skip


def _black(forward: float, strike: float, expiry: float, volatility: float, *, put: bool) -> float:
    """Undiscounted Black-76; intrinsic once the month has started or when the forward or
    strike is not positive (Black-76 needs both above zero)."""
    if expiry <= 0 or forward <= 0 or strike <= 0:
        return max(strike - forward, 0.0) if put else max(forward - strike, 0.0)
    call, put_value = ppa.black76(forward, strike, rate=0.0, years=expiry, volatility=volatility)
    return put_value if put else call


def _ensemble(
    inputs: Inputs, strike: Array, factors: Array, sign: float, summary: dict[str, Any],
    monthly: dict[str, list[Any]],
) -> None:  # fmt: skip
    """Each path valued: the NPV distribution, annual cashflows with CFaR, monthly bands."""
    assert inputs.paths is not None
    book = inputs.book
    count = inputs.paths.shape[0]
    volume = book.terms.volume
    factors_by_year = None
    sigma = volume.energy_uncertainty_pct / 100 if isinstance(volume, PayAsProduced) else 0.0
    if sigma > 0:
        years = int(book.contract_year.max())
        draws = np.random.default_rng(np.random.SeedSequence([inputs.seed, 14])).standard_normal(
            (count, years)
        )
        factors_by_year = np.maximum(1.0 + sigma * draws, 0.0)
    energy, settlement = book.value_paths(
        inputs.paths, basis=inputs.basis, strike=strike, volume_factors=factors_by_year
    )
    zeros = np.zeros_like(energy)
    sums = Monthly(energy, zeros, settlement, zeros, zeros, zeros, zeros, zeros)
    cash = _legs(sums, inputs, sign)["cashflow"]
    npvs = cash @ factors
    summary["ensemble"] = {
        "paths": count,
        "npv": valuation.risk_figures(npvs),
        "volume_draws": "annual energy drawn per path and contract year" if sigma > 0 else None,
        "annual_cashflow": _annual(book.months, cash),
    }
    monthly["cashflow_p5"] = np.quantile(cash, 0.05, axis=0).tolist()
    monthly["cashflow_p50"] = np.quantile(cash, 0.50, axis=0).tolist()
    monthly["cashflow_p95"] = np.quantile(cash, 0.95, axis=0).tolist()
    summary["ensemble"]["npv_paths"] = npvs.tolist()


def _annual(months: Sequence[date], cash: Array) -> dict[str, Any]:
    years = sorted({m.year for m in months})
    found: dict[str, Any] = {}
    for year in years:
        columns = [i for i, m in enumerate(months) if m.year == year]
        total = cash[:, columns].sum(axis=1)
        figures = valuation.risk_figures(total)
        found[str(year)] = {
            "mean": figures["mean"], "p5": figures["p5"], "p50": figures["p50"],
            "p95": figures["p95"], "cfar_95": figures["var_95"], "cfar_99": figures["var_99"],
        }  # fmt: skip
    return found


def _ratio(numerator: Array, denominator: Array) -> list[float | None]:
    return [
        float(n / d) if d > 0 else None for n, d in zip(numerator, denominator, strict=True)
    ]
