"""Reproducible stochastic ensembles around a forward curve: calibrate, simulate, band, backtest.

The model is the two-factor mean-reverting model of Schwartz and Smith (2000) written on the
forward curve, the way a desk risk system uses it: every delivery month ``T`` moves with a short
factor whose effect fades with time to delivery and a long factor that moves the whole curve,

    d ln F(t,T) = -1/2 sigma(t,T)^2 dt + sigma_s e^(-kappa (T-t)) dW_s + sigma_l dW_l,
    corr(dW_s, dW_l) = rho,
    sigma(t,T)^2 = sigma_s^2 e^(-2 kappa (T-t)) + sigma_l^2
                   + 2 rho sigma_s sigma_l e^(-kappa (T-t)).

Why this model: the front of an energy curve moves much more than its back (the short factor's
``e^(-kappa tau)``), the back still moves (the long factor), and a forward is the price of a
contract that costs nothing to enter, so it is a martingale: the ``-1/2 sigma^2`` drift makes
``E[F(h,T)] = F(0,T)`` exactly. A curve that goes to zero or below (power at negative prices,
spreads) cannot be lognormal; it uses the **arithmetic** model, the same factors on absolute
changes, ``dF = sigma_s e^(-kappa tau) dW_s + sigma_l dW_l`` (also a martingale).

Input is plain numpy: a curve's as-of history ``history[d, j]``, the price on as-of date ``d``
(ascending business days) of the contract ``j`` months after that date's as-of month (a
*relative* tenor; NaN where missing), with its ``dates``.

* :func:`calibrate` fits ``kappa, sigma_s, sigma_l, rho`` to the covariance of daily changes;
* :func:`simulate` draws the forward of each tenor at a horizon, in seeded blocks of paths;
* :func:`historical` resamples the history's own h-day moves instead (no model at all);
* :func:`bands` summarises paths as mean, P5, P50, P95 per tenor (:data:`BAND_CONVENTION`);
* :func:`backtest` counts how often realised h-day moves fell inside the model's P5-P95;
* :func:`memory_bytes` sizes the paths matrices for a caller's memory budget;
* :func:`path_blocks`, :func:`stream_blocks` and :func:`stack_paths` split a run's paths over
  processes and put them back together; :func:`numerics_fingerprint` names the floating-point
  behaviour a process computes with.

**Reproducibility.** Paths are computed in blocks of ``block_size`` (:data:`STREAM_BLOCK`);
block ``b`` draws from the ``b``-th child of ``np.random.SeedSequence(seed)`` with a PCG64
generator. A block's numbers depend only on the seed and its index, so blocks ``[0, k)``
computed in one process and ``[k, n)`` in another concatenate to exactly the matrix computed at
once. ``seed`` may be a sequence of non-negative ints, e.g. ``[run_seed, curve_hash]``: one run
seed, a distinct stream per curve. A stream per block of 1,024 paths, not one per path: a
generator per path would cost more to make than its draws (and lose numpy's vector draws), and
any split on multiples of the block draws the same numbers anyway.

>>> cal = Calibration(model="lognormal", kappa=1.5, sigma_short=0.5, sigma_long=0.2, rho=0.3,
...                   days=0, first=None, last=None, tenors=0, fit={})
>>> forward = np.array([60.0, 55.0, 52.0])
>>> paths = simulate(forward, relative_taus(3), 1.0, cal, seed=[7, 42], paths=4000)
>>> paths.shape
(4000, 3)
>>> b = bands(paths)
>>> bool(np.all(b["p5"] < b["p50"])), bool(np.all(b["p50"] < b["p95"]))
(True, True)
>>> np.round(b["mean"] / forward, 2).tolist()
[1.0, 1.0, 1.0]
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from statistics import NormalDist
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "BAND_CONVENTION", "BAND_COVERAGE", "DAYS_PER_YEAR", "STREAM_BLOCK", "Backtest",
    "Calibration", "HistoryTooShort", "Model", "backtest", "bands", "calibrate", "historical",
    "memory_bytes", "numerics_fingerprint", "path_blocks", "relative_taus", "simulate",
    "stack_paths", "stream_blocks",
]  # fmt: skip

Model = Literal["lognormal", "arithmetic"]
FloatArray = npt.NDArray[np.float64]
Dates = Sequence[date] | npt.NDArray[np.datetime64]

BAND_CONVENTION = "non-exceedance, P5/P50/P95 of simulated horizon values, linear interpolation"
"""What the bands mean: P5 is the value the horizon price stays above with 95 % probability."""
BAND_COVERAGE = 0.90
"""The share of outcomes the P5-P95 band should hold."""
DAYS_PER_YEAR = 252
"""Business days per year: daily changes are annualised with it, horizons in days divided by it."""
STREAM_BLOCK = 1024
"""Paths per random stream (the default ``block_size``): a split of a run's paths on multiples
of it draws exactly the numbers of the run in one piece."""

_MAX_GAP = 5  # business days: a longer gap between two as-of dates is a hole, not a move
_KAPPAS = np.geomspace(0.05, 20.0, 97)  # per year: half-lives from 14 years to 9 days
_ANGLES = 181  # grid over the |rho| = 1 boundary before a golden-section refinement
_Z95 = NormalDist().inv_cdf(0.95)


class HistoryTooShort(ValueError):
    """Too little history for a calibration, a historical simulation or a backtest.

    ``code`` is stable (``history_too_short``); ``has`` and ``needs`` count what was found and
    what is needed (daily changes, tenors or windows, as the message says).
    """

    code = "history_too_short"

    def __init__(self, message: str, *, has: int, needs: int) -> None:
        super().__init__(message)
        self.has = has
        self.needs = needs


@dataclass(frozen=True)
class Calibration:
    """A calibrated two-factor forward model.

    ``sigma_short``/``sigma_long`` are annualised (per sqrt(year)): log-return volatilities for
    ``lognormal``, price units for ``arithmetic``. ``kappa`` is per year. ``days``: the daily
    changes (consecutive as-of pairs) used; ``first``/``last``: the history's as-of range;
    ``tenors``: the relative tenors fitted. ``fit``: ``r2`` and ``rmse`` of the covariance fit
    (annualised covariance units), ``n_changes`` (tenor changes used), ``n_pairs`` (covariance
    entries fitted), ``half_life_days`` (calendar days, ``ln 2 / kappa * 365``).
    """

    model: Model
    kappa: float
    sigma_short: float
    sigma_long: float
    rho: float
    days: int
    first: date | None
    last: date | None
    tenors: int
    fit: Mapping[str, float]

    def variance(self, taus: npt.ArrayLike, horizon_years: float) -> FloatArray:
        """Total variance of each tenor's ln F (arithmetic: of F) from now to the horizon.

        ``V = integral_0^h sigma(t,T)^2 dt`` with ``h = min(horizon, tau)`` (a contract stops
        moving when its delivery starts) and ``tau`` the time to delivery in years:

            V = sigma_s^2 e^(-2 kappa (tau-h)) (1 - e^(-2 kappa h)) / (2 kappa)
              + sigma_l^2 h + 2 rho sigma_s sigma_l e^(-kappa (tau-h)) (1 - e^(-kappa h)) / kappa

        >>> cal = Calibration("lognormal", 1.0, 0.4, 0.2, 0.0, 0, None, None, 0, {})
        >>> v = cal.variance([10.0], 1.0)  # far from delivery: almost only the long factor
        >>> round(float(v[0]), 6), 0.2**2
        (0.04, 0.04...)
        >>> float(cal.variance([0.0], 1.0)[0])  # delivering now: nothing moves
        0.0
        """
        tau = np.asarray(taus, dtype=np.float64)
        h = np.clip(np.minimum(horizon_years, tau), 0.0, None)
        return _variance(self, tau, h)


@dataclass(frozen=True)
class Backtest:
    """How many realised h-day moves fell inside the model's P5-P95 band, out of how many;
    ``expected`` is :data:`BAND_COVERAGE`."""

    inside: int
    total: int
    share: float
    expected: float
    horizon_days: int


def relative_taus(count: int) -> FloatArray:
    """Time to delivery in years of relative tenors ``0..count-1``: the middle of the month
    ``j`` months after the as-of month, ``(j + 0.5) / 12`` (the as-of day within its month is
    ignored: half a month on average).

    >>> relative_taus(3).round(4).tolist()
    [0.0417, 0.125, 0.2083]
    """
    return (np.arange(count, dtype=np.float64) + 0.5) / 12.0


def memory_bytes(paths: int, tenors: int, curves: int) -> int:
    """Bytes held by ``curves`` paths matrices of ``paths x tenors`` float64 values.

    >>> memory_bytes(10_000, 120, 50)
    480000000
    """
    return 8 * paths * tenors * curves


# --- calibration ------------------------------------------------------------------------------


def calibrate(
    history: npt.ArrayLike,
    dates: Dates,
    *,
    min_days: int = 40,
    forward: npt.ArrayLike | None = None,
) -> Calibration:
    """Fit the two-factor model to the covariance of the history's daily changes.

    Steps, and why:

    * **Model**: ``arithmetic`` when any price in the history (or in ``forward``, the curve to
      simulate) is zero or below, else ``lognormal`` (log-returns).
    * **Daily changes follow the contract**: tenor ``j`` months ahead on one as-of date is
      tenor ``j - m`` on the next when the as-of month moved by ``m``; a change is the same
      delivery month's move, indexed by its tenor at the start (a contract entering delivery
      leaves the curve). Two as-of dates ``g`` business days apart give a change divided by
      ``sqrt(g)`` (a random walk's spread); a gap over 5 business days is a hole in the history
      and gives no change.
    * **Covariance**: the empirical covariance of the changes, pairwise complete (each pair of
      tenors on the dates both moved), times 252.
    * **Fit**: for a fixed ``kappa`` the model covariance of tenors i, j (``tau = (j + 0.5)/12``)
      is linear in ``(sigma_s^2, sigma_l^2, rho sigma_s sigma_l)``:
      ``cov_ij * 252 = sigma_s^2 e^(-kappa (tau_i + tau_j)) + sigma_l^2
      + rho sigma_s sigma_l (e^(-kappa tau_i) + e^(-kappa tau_j))``. Least squares over the
      upper triangle for each ``kappa`` of a log-spaced grid (0.05-20 per year); a solution
      outside ``sigma^2 >= 0, |rho| <= 1`` is refitted on that boundary (the 2x2 factor
      covariance of rank one: ``|rho| = 1``, or one factor off); the best ``kappa`` is refined
      by a golden-section search between its grid neighbours.

    Raises :class:`HistoryTooShort` with fewer than ``min_days`` usable daily changes or fewer
    than 3 tenors with ``min_days`` changes each.

    >>> rng = np.random.default_rng(1)
    >>> days = np.busday_offset("2024-01-02", np.arange(300), roll="forward")
    >>> level = 50 * np.exp(np.cumsum(0.2 / np.sqrt(252) * rng.standard_normal(300)))
    >>> history = level[:, None] * np.ones(12)   # twelve tenors moving together
    >>> cal = calibrate(history, days)
    >>> cal.model, round(cal.sigma_long, 1), round(cal.sigma_short, 1), cal.days, cal.tenors
    ('lognormal', 0.2, 0.0, 299, 12)
    >>> calibrate(history[:5], days[:5])
    Traceback (most recent call last):
    ...
    aurum.domain.ensembles.HistoryTooShort: history too short to calibrate: 4 usable daily \
changes (from 5 as-of dates), needs at least 40
    """
    prices, when = _history(history, dates)
    model = _model(prices, forward)
    changes = _changes(prices, when, model, steps=1, max_gap=_MAX_GAP)
    days = int(np.count_nonzero(np.isfinite(changes).any(axis=1)))
    if days < min_days:
        raise HistoryTooShort(
            f"history too short to calibrate: {days} usable daily changes "
            f"(from {len(when)} as-of dates), needs at least {min_days}",
            has=days,
            needs=min_days,
        )
    finite = np.isfinite(changes)
    counts = finite.sum(axis=0)
    used = np.flatnonzero(counts >= min_days)
    if used.size < 3:
        raise HistoryTooShort(
            f"history too short to calibrate: {used.size} tenors have {min_days} daily "
            "changes, needs at least 3",
            has=int(used.size),
            needs=3,
        )
    cov, pairs = _pairwise_cov(changes[:, used], min_pairs=max(2, min_days // 2))
    taus = relative_taus(prices.shape[1])[used]
    i, j = np.triu_indices(used.size)
    keep = pairs[i, j]
    i, j = i[keep], j[keep]
    target = cov[i, j] * DAYS_PER_YEAR
    kappa, (a, b, c), sse = _fit(taus[i], taus[j], target)
    s_short, s_long = math.sqrt(a), math.sqrt(b)
    rho = float(np.clip(c / (s_short * s_long), -1.0, 1.0)) if s_short * s_long > 0 else 0.0
    sst = float(np.sum((target - target.mean()) ** 2))
    fit = {
        "r2": 1.0 - sse / sst if sst > 0 else 1.0,
        "rmse": math.sqrt(sse / target.size),
        "n_changes": float(finite[:, used].sum()),
        "n_pairs": float(target.size),
        "half_life_days": math.log(2) / kappa * 365.0,
    }
    return Calibration(
        model=model,
        kappa=kappa,
        sigma_short=s_short,
        sigma_long=s_long,
        rho=rho,
        days=days,
        first=_as_date(when[0]),
        last=_as_date(when[-1]),
        tenors=int(used.size),
        fit=fit,
    )


def _history(history: npt.ArrayLike, dates: Dates) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """The history as a float matrix and its as-of dates as day numbers, checked."""
    prices = np.asarray(history, dtype=np.float64)
    if prices.ndim != 2:
        raise ValueError(f"history must be a (dates, tenors) matrix, got shape {prices.shape}")
    when = np.asarray(dates, dtype="datetime64[D]")
    if when.shape != (prices.shape[0],):
        raise ValueError(f"{when.size} dates for a history of {prices.shape[0]} rows")
    if when.size > 1 and not np.all(np.diff(when) > np.timedelta64(0, "D")):
        raise ValueError("dates must be strictly ascending")
    return prices, when.astype(np.int64)


def _as_date(day: np.int64) -> date:
    return date.fromisoformat(str(np.datetime64(int(day), "D")))


def _model(prices: FloatArray, forward: npt.ArrayLike | None) -> Model:
    """``arithmetic`` when a price is zero or below: a log-return would not exist."""
    values = [prices] if forward is None else [prices, np.asarray(forward, dtype=np.float64)]
    with np.errstate(invalid="ignore"):
        negative = any(bool(np.any(v <= 0)) for v in values)
    return "arithmetic" if negative else "lognormal"


def _business_ordinal(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Business days up to and including each day, from a fixed origin: differences count the
    weekdays in ``(first, second]`` (:func:`aurum.domain.quality.business_days_between`)."""
    as_dates = days.astype("datetime64[D]")
    return np.busday_count(np.datetime64("1970-01-01"), as_dates + 1).astype(np.int64)


def _months(days: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def _windows(
    days: npt.NDArray[np.int64], *, steps: int, max_gap: int | None
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.int64]]:
    """Start rows, end rows and business-day gaps of the changes.

    ``max_gap`` set: consecutive rows at most that many business days apart (daily changes).
    Else: rows exactly ``steps`` business days apart (h-day windows).
    """
    ordinal = _business_ordinal(days)
    if max_gap is not None:
        start = np.arange(len(days) - 1)
        end = start + 1
    else:
        start = np.arange(len(days))
        end = np.searchsorted(ordinal, ordinal + steps)
        found = end < len(days)
        start, end = start[found], end[found]
        exact = ordinal[end] == ordinal[start] + steps
        start, end = start[exact], end[exact]
    gap = ordinal[end] - ordinal[start]
    if max_gap is not None:
        ok = (gap >= 1) & (gap <= max_gap)
        start, end, gap = start[ok], end[ok], gap[ok]
    return start, end, gap


def _changes(
    prices: FloatArray,
    days: npt.NDArray[np.int64],
    model: Model,
    *,
    steps: int,
    max_gap: int | None,
) -> FloatArray:
    """Changes of each contract between window rows, by its relative tenor at the start.

    Log-returns (lognormal) or differences (arithmetic); daily changes (``max_gap`` set) are
    scaled to one business day by ``1/sqrt(gap)``. Shape ``(windows, tenors)``, NaN where the
    contract has no price at either end or has left the curve.
    """
    start, end, gap = _windows(days, steps=steps, max_gap=max_gap)
    tenors = prices.shape[1]
    rolled = (_months(days)[end] - _months(days)[start])[:, None]
    later = np.arange(tenors)[None, :] - rolled  # the same contract's tenor at the end
    valid = (later >= 0) & (later < tenors)
    after = np.take_along_axis(prices[end], np.clip(later, 0, tenors - 1), axis=1)
    after = np.where(valid, after, np.nan)
    before = prices[start]
    if model == "lognormal":
        with np.errstate(invalid="ignore", divide="ignore"):
            change = np.log(after / before)
    else:
        change = after - before
    if max_gap is not None:
        change = change / np.sqrt(gap)[:, None]
    return np.where(np.isfinite(change), change, np.nan)


def _pairwise_cov(
    changes: FloatArray, *, min_pairs: int
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Pairwise-complete sample covariance (each pair on the rows where both exist), and which
    pairs have at least ``min_pairs`` such rows."""
    present = np.isfinite(changes)
    x = np.where(present, changes, 0.0)
    p = present.astype(np.float64)
    n = p.T @ p
    sums = x.T @ p  # [i, j]: sum of tenor i's changes on rows where j exists too
    cross = x.T @ x
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = (cross - sums * sums.T / n) / (n - 1)
    ok = n >= min_pairs
    return np.where(ok, cov, 0.0), ok


def _fit(
    tau_i: FloatArray, tau_j: FloatArray, target: FloatArray
) -> tuple[float, tuple[float, float, float], float]:
    """The best ``kappa`` and ``(sigma_s^2, sigma_l^2, rho sigma_s sigma_l)`` with their SSE."""
    scores = [_fit_kappa(float(k), tau_i, tau_j, target) for k in _KAPPAS]
    best = int(np.argmin([s[1] for s in scores]))
    lo = math.log(_KAPPAS[max(best - 1, 0)])
    hi = math.log(_KAPPAS[min(best + 1, len(_KAPPAS) - 1)])
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(30):  # golden-section in log kappa between the grid neighbours
        m1, m2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        f1 = _fit_kappa(math.exp(m1), tau_i, tau_j, target)[1]
        f2 = _fit_kappa(math.exp(m2), tau_i, tau_j, target)[1]
        if f1 <= f2:
            hi = m2
        else:
            lo = m1
    kappa = math.exp((lo + hi) / 2)
    params, sse = _fit_kappa(kappa, tau_i, tau_j, target)
    if sse > scores[best][1]:
        kappa, (params, sse) = float(_KAPPAS[best]), scores[best]
    return kappa, params, sse


def _fit_kappa(
    kappa: float, tau_i: FloatArray, tau_j: FloatArray, target: FloatArray
) -> tuple[tuple[float, float, float], float]:
    """Least squares for one ``kappa`` inside ``a, b >= 0, c^2 <= a b`` and its SSE."""
    ui, uj = np.exp(-kappa * tau_i), np.exp(-kappa * tau_j)
    design = np.column_stack([ui * uj, np.ones_like(ui), ui + uj])
    coef = np.linalg.lstsq(design, target, rcond=None)[0]
    a, b, c = (float(v) for v in coef)
    if a >= 0 and b >= 0 and c * c <= a * b:
        resid = target - design @ coef
        return (a, b, c), float(resid @ resid)

    # The constraint set is the cone of 2x2 covariance matrices, the problem convex: an
    # unconstrained optimum outside it means the best fit lies on its boundary, the rank-one
    # matrices (s u_i + l)(s u_j + l) with (s, l) = R (cos t, sin t), R^2 by least squares.
    def boundary(angle: float) -> tuple[float, float]:
        g = (math.cos(angle) * ui + math.sin(angle)) * (math.cos(angle) * uj + math.sin(angle))
        gg = float(g @ g)
        r2 = max(float(g @ target) / gg, 0.0) if gg > 0 else 0.0
        resid = target - r2 * g
        return r2, float(resid @ resid)

    angles = np.linspace(-math.pi / 2, math.pi / 2, _ANGLES)
    sses = [boundary(float(t))[1] for t in angles]
    k = int(np.argmin(sses))
    step = angles[1] - angles[0]
    lo, hi = float(angles[k]) - step, float(angles[k]) + step
    golden = (math.sqrt(5) - 1) / 2
    for _ in range(40):
        m1, m2 = hi - golden * (hi - lo), lo + golden * (hi - lo)
        if boundary(m1)[1] <= boundary(m2)[1]:
            hi = m2
        else:
            lo = m1
    angle = (lo + hi) / 2
    r2, sse = boundary(angle)
    if sse > sses[k]:
        angle = float(angles[k])
        r2, sse = boundary(angle)
    s, ell = math.cos(angle), math.sin(angle)
    return (r2 * s * s, r2 * ell * ell, r2 * s * ell), sse


# --- simulation -------------------------------------------------------------------------------


def _decay(rate: float, span: FloatArray) -> FloatArray:
    """``integral_0^span e^(-rate t) dt = (1 - e^(-rate span)) / rate``, exact at ``rate = 0``."""
    if rate == 0:
        return np.asarray(span, dtype=np.float64)
    return np.asarray(-np.expm1(-rate * span) / rate, dtype=np.float64)


def _variance(cal: Calibration, tau: FloatArray, h: FloatArray) -> FloatArray:
    """Total variance to ``h`` (``h <= tau``) of contracts ``tau`` from delivery (see
    :meth:`Calibration.variance`)."""
    k, s, ell = cal.kappa, cal.sigma_short, cal.sigma_long
    fade = np.exp(-k * (tau - h))
    return np.asarray(
        s * s * fade * fade * _decay(2 * k, h)
        + ell * ell * h
        + 2 * cal.rho * s * ell * fade * _decay(k, h),
        dtype=np.float64,
    )


def _block_plan(
    paths: int, block_size: int, blocks: range | None
) -> tuple[int, list[tuple[int, int]]]:
    """The number of blocks and, for each block to compute, its index and path count."""
    if paths < 1 or block_size < 1:
        raise ValueError(f"paths ({paths}) and block_size ({block_size}) must be positive")
    total = -(-paths // block_size)
    chosen = range(total) if blocks is None else blocks
    if len(chosen) and (min(chosen) < 0 or max(chosen) >= total):
        raise ValueError(f"blocks {chosen} outside the {total} blocks of {paths} paths")
    return total, [(b, min(block_size, paths - b * block_size)) for b in chosen]


def _generators(
    seed: int | Sequence[int], total: int, plan: list[tuple[int, int]]
) -> list[tuple[np.random.Generator, int]]:
    """Block ``b``'s generator: PCG64 on the ``b``-th child of ``SeedSequence(seed)``."""
    entropy = int(seed) if isinstance(seed, int | np.integer) else [int(v) for v in seed]
    children = np.random.SeedSequence(entropy).spawn(total)
    return [(np.random.Generator(np.random.PCG64(children[b])), n) for b, n in plan]


def simulate(
    forward: npt.ArrayLike,
    taus: npt.ArrayLike,
    horizon_years: float,
    cal: Calibration,
    *,
    seed: int | Sequence[int],
    paths: int,
    block_size: int = STREAM_BLOCK,
    blocks: range | None = None,
) -> FloatArray:
    """Each tenor's forward at the horizon, one row per path: shape ``(paths in the chosen
    blocks, tenors)``.

    ``forward[j]`` is today's price of the contract ``taus[j]`` years from delivery. A contract
    stops moving when its delivery starts, so tenor ``j`` moves for ``h_j = min(H, tau_j)``.

    Two factors need two normal draws per path and stop time, not one per tenor:
    ``X_s(h) = integral_0^h e^(-kappa (h-t)) dW_s`` (an Ornstein-Uhlenbeck integral) and
    ``X_l(h) = W_l(h)`` are drawn exactly on the sorted distinct stop times, each step's
    increments Gaussian with covariance

        var X_s = (1 - e^(-2 kappa d)) / (2 kappa),  var X_l = d,
        cov = rho (1 - e^(-kappa d)) / kappa          (d: the step),

    with ``X_s`` decaying by ``e^(-kappa d)`` between stops. Then

        ln F(h,T) = ln F0 - V/2 + sigma_s e^(-kappa (tau-h)) X_s(h) + sigma_l X_l(h)

    with ``V`` the exact variance of the last two terms (:meth:`Calibration.variance`), so
    ``E[F] = F0`` exactly, with no moment matching; arithmetic: ``F = F0 + the same terms``.

    Paths come in blocks of ``block_size`` (the last one shorter): block ``b`` uses the ``b``-th
    child of ``np.random.SeedSequence(seed)``, so any split of ``blocks`` concatenates to the
    same matrix bit for bit. ``blocks`` (default: all) picks the blocks to compute.

    >>> cal = Calibration("arithmetic", 1.0, 5.0, 2.0, -0.2, 0, None, None, 0, {})
    >>> fwd, taus = np.array([40.0, -3.0, 20.0]), np.array([0.0, 0.5, 3.0])
    >>> every = simulate(fwd, taus, 1.0, cal, seed=[1, 2], paths=10, block_size=4)
    >>> parts = [simulate(fwd, taus, 1.0, cal, seed=[1, 2], paths=10, block_size=4,
    ...                   blocks=range(a, b)) for a, b in ((0, 1), (1, 3))]
    >>> every.shape, bool(np.array_equal(every, np.vstack(parts)))
    ((10, 3), True)
    >>> bool(np.all(every[:, 0] == 40.0))  # in delivery: no move
    True
    """
    f0 = np.asarray(forward, dtype=np.float64)
    tau = np.asarray(taus, dtype=np.float64)
    if f0.ndim != 1 or f0.shape != tau.shape:
        raise ValueError(f"forward {f0.shape} and taus {tau.shape} must be equal 1-d shapes")
    if cal.model == "lognormal" and np.any(f0 <= 0):
        raise ValueError("a lognormal model needs positive forwards; calibrate with them")
    total, plan = _block_plan(paths, block_size, blocks)
    h = np.clip(np.minimum(horizon_years, tau), 0.0, None)
    stops, where = np.unique(h, return_inverse=True)
    moving = stops > 0
    k, s, ell = cal.kappa, cal.sigma_short, cal.sigma_long
    # Per step between stops: the decay of X_s and the Cholesky factor of the increments.
    steps = np.diff(np.concatenate([[0.0], stops]))
    decay = np.exp(-k * steps)
    var_s, cov = _decay(2 * k, steps), cal.rho * _decay(k, steps)
    root_s = np.sqrt(var_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        mix = np.where(root_s > 0, cov / root_s, 0.0)
    root_l = np.sqrt(np.clip(steps - mix * mix, 0.0, None))
    load_s = s * np.exp(-k * (tau - h))
    load_l = np.full_like(tau, ell)
    shift = -0.5 * _variance(cal, tau, h) if cal.model == "lognormal" else np.zeros_like(tau)
    # Each block draws its own normals; the arithmetic after that is per path, so it runs on
    # all the chosen blocks at once (one row per stop: contiguous per stop and per tenor).
    moves = int(np.count_nonzero(moving))
    draws = [rng.standard_normal((moves, 2, n)) for rng, n in _generators(seed, total, plan)]
    z = np.concatenate(draws, axis=2) if draws else np.empty((moves, 2, 0))
    width = z.shape[2]
    x_s = np.zeros((stops.size, width))
    x_l = np.zeros((stops.size, width))
    prev_s, prev_l = np.zeros(width), np.zeros(width)
    for row, q in enumerate(np.flatnonzero(moving)):
        e_s, e_l = z[row]
        prev_s = decay[q] * prev_s + root_s[q] * e_s
        prev_l = prev_l + mix[q] * e_s + root_l[q] * e_l
        x_s[q], x_l[q] = prev_s, prev_l
    del z, draws
    move = x_s[where] * load_s[:, None]
    move += x_l[where] * load_l[:, None]
    if cal.model == "lognormal":
        move += shift[:, None]
        np.exp(move, out=move)
        move *= f0[:, None]
    else:
        move += f0[:, None]
    return np.ascontiguousarray(move.T)


def bands(paths_matrix: npt.ArrayLike) -> dict[str, FloatArray]:
    """Per tenor (column): ``mean``, ``p5``, ``p50``, ``p95`` of the paths
    (:data:`BAND_CONVENTION`: non-exceedance, numpy's default linear interpolation).

    The same paths give the same bands bit for bit whatever their memory layout: numpy sums a
    column path after path when rows are contiguous, pairwise when columns are, so the mean is
    taken on a row-contiguous matrix (a column-ordered one, e.g. a selection of some tenors'
    columns, is copied first). That is what lets paths drawn in blocks and stacked
    (:func:`stack_paths`) band exactly as the run drawn in one piece.

    >>> b = bands(np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0], [5.0, 50.0]]))
    >>> {k: v.tolist() for k, v in b.items()}
    {'mean': [3.0, 30.0], 'p5': [1.2, 12.0], 'p50': [3.0, 30.0], 'p95': [4.8, 48.0]}
    >>> m = np.random.default_rng(0).standard_normal((3000, 4))
    >>> bool(np.array_equal(bands(np.asfortranarray(m))["mean"], bands(m)["mean"]))
    True
    """
    values = np.ascontiguousarray(paths_matrix, dtype=np.float64)
    p5, p50, p95 = np.percentile(values, [5.0, 50.0, 95.0], axis=0)
    return {"mean": values.mean(axis=0), "p5": p5, "p50": p50, "p95": p95}


# --- runs split over processes --------------------------------------------------------------


def path_blocks(paths: int, per_block: int) -> list[tuple[int, int]]:
    """A run's paths ``[0, paths)`` as blocks ``[start, stop)`` of ``per_block`` paths (the last
    one shorter), for processes to compute apart: ``per_block`` is a multiple of
    :data:`STREAM_BLOCK`, so every block starts on a random stream of its own and the blocks
    together draw exactly the numbers of the run in one piece. A run of at most ``per_block``
    paths is one block.

    >>> path_blocks(5000, 2048)
    [(0, 2048), (2048, 4096), (4096, 5000)]
    >>> path_blocks(1000, 2048)
    [(0, 1000)]
    >>> path_blocks(5000, 1500)
    Traceback (most recent call last):
    ...
    ValueError: paths per block must be a positive multiple of 1024 (the paths of one random \
stream), not 1500
    """
    if paths < 1:
        raise ValueError(f"a run has at least one path, not {paths}")
    if per_block < STREAM_BLOCK or per_block % STREAM_BLOCK:
        raise ValueError(
            f"paths per block must be a positive multiple of {STREAM_BLOCK} (the paths of one"
            f" random stream), not {per_block}"
        )
    return [(start, min(start + per_block, paths)) for start in range(0, paths, per_block)]


def stream_blocks(start: int, stop: int, *, paths: int, block_size: int = STREAM_BLOCK) -> range:
    """The stream blocks (``blocks=`` of :func:`simulate` and :func:`historical`) that compute
    paths ``[start, stop)`` of a run of ``paths``: the range must start on a stream block and
    end on one or at the run's end (elsewhere, a block's stream would be cut in two).

    >>> stream_blocks(2048, 4096, paths=5000), stream_blocks(4096, 5000, paths=5000)
    (range(2, 4), range(4, 5))
    >>> stream_blocks(1000, 2048, paths=5000)
    Traceback (most recent call last):
    ...
    ValueError: paths [1000, 2048) of 5000 do not start and end on stream blocks of 1024 paths
    """
    if not 0 <= start < stop <= paths:
        raise ValueError(f"paths [{start}, {stop}) are not a range inside a run of {paths}")
    if start % block_size or (stop % block_size and stop != paths):
        raise ValueError(
            f"paths [{start}, {stop}) of {paths} do not start and end on stream blocks of"
            f" {block_size} paths"
        )
    return range(start // block_size, -(-stop // block_size))


def stack_paths(parts: Sequence[npt.ArrayLike]) -> FloatArray:
    """The run's ``(paths, tenors)`` matrix from its blocks' matrices, in path order: what
    :func:`bands` of a run computed in blocks is made from.

    The blocks' paths are stacked and banded, rather than per-block summaries merged: P5, P50
    and P95 are order statistics of all the paths, which no per-block summary holds, and a mean
    is a floating-point sum whose last bits depend on the order it adds in, so block means
    averaged are the run's mean only to a rounding. Stacked, the bands are the one-piece run's
    bit for bit, for the cost of moving every path once. One part is returned as it is.

    >>> cal = Calibration("arithmetic", 1.0, 5.0, 2.0, -0.2, 0, None, None, 0, {})
    >>> fwd, taus = np.array([40.0, 30.0]), np.array([0.5, 2.0])
    >>> def part(a, b):
    ...     return simulate(fwd, taus, 1.0, cal, seed=3, paths=3000,
    ...                     blocks=stream_blocks(a, b, paths=3000))
    >>> whole = bands(part(0, 3000))
    >>> split = bands(stack_paths([part(0, 1024), part(1024, 3000)]))
    >>> all(np.array_equal(whole[k], split[k]) for k in whole)
    True
    >>> stack_paths([np.zeros((2, 3)), np.zeros((2, 4))])
    Traceback (most recent call last):
    ...
    ValueError: blocks must be (paths, tenors) matrices of one width, got [(2, 3), (2, 4)]
    """
    matrices = [np.asarray(part, dtype=np.float64) for part in parts]
    shapes = [m.shape for m in matrices]
    if not matrices or any(len(s) != 2 for s in shapes) or len({s[1] for s in shapes}) != 1:
        raise ValueError(f"blocks must be (paths, tenors) matrices of one width, got {shapes}")
    return matrices[0] if len(matrices) == 1 else np.concatenate(matrices)


_PROBE = np.linspace(-40.0, 40.0, 4099) + 1.0 / 3.0


def numerics_fingerprint() -> str:
    """What this process computes for the operations paths go through, as numpy's version and a
    short hash: two processes with the same fingerprint make the same paths bit for bit.

    Why it is needed: numpy chooses its SIMD kernels by CPU when it is imported, and its ``exp``
    on an AVX-512 machine differs in the last bit, for some inputs, from its ``exp`` without
    AVX-512; so two machines of one fleet can compute the same seeded path two ways. The probe
    runs the transcendental functions the models use (``exp``, ``expm1``, ``log``) and the
    normal draws (whose tails use the C library's) on fixed inputs.

    >>> numerics_fingerprint() == numerics_fingerprint()
    True
    >>> numerics_fingerprint().startswith(f"numpy {np.__version__} ")
    True
    """
    digest = hashlib.sha256()
    with np.errstate(all="ignore"):
        for function in (np.exp, np.expm1, np.log):
            digest.update(function(_PROBE).tobytes())
    draws = np.random.Generator(np.random.PCG64(np.random.SeedSequence(0))).standard_normal(4099)
    digest.update(draws.tobytes())
    return f"numpy {np.__version__} {digest.hexdigest()[:16]}"


# --- historical simulation and backtest --------------------------------------------------------


def historical(
    forward: npt.ArrayLike,
    history: npt.ArrayLike,
    dates: Dates,
    *,
    horizon_days: int,
    seed: int | Sequence[int],
    paths: int,
    block_size: int = STREAM_BLOCK,
    blocks: range | None = None,
    min_windows: int = 20,
) -> FloatArray:
    """Historical simulation: each path is today's curve moved by one past ``horizon_days``
    move, drawn with replacement: shape ``(paths in the chosen blocks, tenors)``.

    A window is two as-of dates exactly ``horizon_days`` business days apart; its move for
    relative tenor ``j`` is the same contract's change (tenor ``j`` then ``j - m`` after ``m``
    as-of months), relative (``F0 exp(d ln F)``) for a lognormal curve, absolute (``F0 + dF``)
    for one that goes to zero or below. One window moves every tenor of a path, so the curve
    keeps the shapes its history had. ``forward[j]`` is relative tenor ``j``; a tenor beyond the
    history's, or missing from a window, reuses the nearest shorter tenor's move in that window
    (the first available one before any), so only observed moves are applied. Seeds and blocks
    as :func:`simulate`. :class:`HistoryTooShort` under ``min_windows`` windows.

    >>> days = np.busday_offset("2025-01-02", np.arange(30), roll="forward")
    >>> history = np.column_stack([np.linspace(50, 59, 30), np.linspace(40, 43, 30)])
    >>> out = historical([60.0, 45.0, 44.0], history, days, horizon_days=5, seed=3, paths=6)
    >>> out.shape, bool(np.all(out > [60.0, 45.0, 44.0]))
    ((6, 3), True)
    """
    f0 = np.asarray(forward, dtype=np.float64)
    prices, when = _history(history, dates)
    model = _model(prices, f0)
    moves = _changes(prices, when, model, steps=horizon_days, max_gap=None)
    moves = moves[np.isfinite(moves).any(axis=1)]
    if len(moves) < min_windows:
        raise HistoryTooShort(
            f"history too short for a historical simulation: {len(moves)} windows of "
            f"{horizon_days} business days, needs at least {min_windows}",
            has=len(moves),
            needs=min_windows,
        )
    moves = _fill_tenors(moves)
    index = np.minimum(np.arange(f0.size), moves.shape[1] - 1)
    moves = moves[:, index]
    total, plan = _block_plan(paths, block_size, blocks)
    out = []
    for rng, n in _generators(seed, total, plan):
        picked = moves[rng.integers(0, len(moves), size=n)]
        out.append(f0 * np.exp(picked) if model == "lognormal" else f0 + picked)
    return np.concatenate(out) if out else np.empty((0, f0.size))


def _fill_tenors(moves: FloatArray) -> FloatArray:
    """Each missing move takes the nearest shorter tenor's in its row, leading gaps the first."""
    present = np.isfinite(moves)
    cols = np.where(present, np.arange(moves.shape[1]), -1)
    last = np.maximum.accumulate(cols, axis=1)
    first = np.argmax(present, axis=1)[:, None]
    source = np.where(last >= 0, last, first)
    return np.take_along_axis(moves, source, axis=1)


def backtest(
    history: npt.ArrayLike,
    dates: Dates,
    cal: Calibration,
    *,
    horizon_days: int,
) -> Backtest:
    """How often the realised ``horizon_days`` moves fell inside the model's analytic P5-P95.

    Every window of two as-of dates exactly ``horizon_days`` business days apart and every
    contract priced at both ends (tenor ``j`` at the start, ``j - m`` after ``m`` as-of months)
    is one pair. Its band: with ``v`` the model variance over ``h = horizon_days / 252`` years
    for ``tau = (j + 0.5) / 12`` (:meth:`Calibration.variance`), a lognormal log-return is
    ``N(-v/2, v)``, an arithmetic change ``N(0, v)``; the band is the mean +- 1.645 sqrt(v).
    Windows overlap when ``horizon_days > 1``: the pairs are not independent, so the share
    varies more than a binomial count would. A well-calibrated model gives about 0.90.

    >>> days = np.busday_offset("2025-01-02", np.arange(60), roll="forward")
    >>> history = np.full((60, 3), 50.0)
    >>> cal = Calibration("lognormal", 1.0, 0.3, 0.2, 0.0, 0, None, None, 0, {})
    >>> backtest(history, days, cal, horizon_days=5)  # flat: inside; 10 contracts delivered
    Backtest(inside=155, total=155, share=1.0, expected=0.9, horizon_days=5)
    """
    prices, when = _history(history, dates)
    moves = _changes(prices, when, cal.model, steps=horizon_days, max_gap=None)
    tau = relative_taus(prices.shape[1])
    v = cal.variance(tau, horizon_days / DAYS_PER_YEAR)
    centre = -0.5 * v if cal.model == "lognormal" else np.zeros_like(v)
    half = _Z95 * np.sqrt(v)
    seen = np.isfinite(moves)
    with np.errstate(invalid="ignore"):
        inside = seen & (moves >= centre - half) & (moves <= centre + half)
    total = int(seen.sum())
    if total == 0:
        raise HistoryTooShort(
            f"no {horizon_days}-business-day moves in the history to backtest",
            has=0,
            needs=1,
        )
    count = int(inside.sum())
    return Backtest(count, total, count / total, BAND_COVERAGE, horizon_days)
