"""Ensemble bands for a run's curves: calibrate each curve on its as-of history, simulate around
its scenario values, keep mean and P5/P50/P95 per tenor (and, on request, the paths).

The arithmetic is :mod:`aurum.domain.ensembles`; this module feeds it: it turns curve rows into
each curve's history by relative tenor (:func:`histories`), checks the budgets before anything
is simulated, seeds each curve's stream from the run's seed and the curve's key (so a curve's
paths do not change when other curves join the run) or, with ``streams: market``, its power
market's (so that market's blocks move together), and scores the calibrated model's bands
against the history it was fitted on (the band backtest, per curve family).

In three steps, so that a run's paths can be drawn by several processes: :func:`plan_bands`
calibrates (a :class:`BandPlan`), :meth:`BandPlan.simulate` draws any range of a curve's paths,
:func:`assemble` makes the bands from all of them. :func:`simulate_bands` does the three here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from aurum.config import ScenarioLimits
from aurum.domain import calendar, ensembles
from aurum.errors import ScenarioError
from aurum.scenarios.compute import CurveGrid, History, family_of, horizon_years, seed_for
from aurum.scenarios.specs import Ensemble

__all__ = [
    "MAX_RELATIVE_TENORS", "BandPlan", "Bands", "CurvePlan", "assemble", "check_budgets",
    "curve_name", "histories", "plan_bands", "simulate_bands",
]  # fmt: skip

Array = npt.NDArray[np.float64]
MAX_RELATIVE_TENORS = 240
_IDENTITY = ("asset_class", "iso", "region", "location", "market", "product", "block")


@dataclass
class Bands:
    """Per grid cell: mean and percentiles (NaN where the curve has no band)."""

    model: str
    convention: str
    mean: Array
    p5: Array
    p50: Array
    p95: Array
    report: dict[str, Any] = field(default_factory=dict)
    paths: pa.Table | None = None
    matrices: dict[str, tuple[npt.NDArray[np.bool_], Array]] = field(default_factory=dict)

    def at(self, row: int, month: int) -> dict[str, float] | None:
        if np.isnan(self.mean[row, month]):
            return None
        return {
            "mean": float(self.mean[row, month]), "p5": float(self.p5[row, month]),
            "p50": float(self.p50[row, month]), "p95": float(self.p95[row, month]),
        }  # fmt: skip


def histories(rows: pa.Table, days: int) -> dict[str, History]:
    """Each curve's last ``days`` as-of dates as a matrix by relative tenor (months after the
    as-of month), from MONTHLY rows (``curve_key``, ``asof_date``, ``contract_month``,
    ``value``)."""
    keys = rows.column("curve_key").to_pylist()
    asofs = rows.column("asof_date").to_pylist()
    months = rows.column("contract_month").to_pylist()
    values = rows.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    cells: dict[str, dict[date, dict[int, float]]] = {}
    for key, asof, month, value in zip(keys, asofs, months, values, strict=True):
        if month is None or asof is None or np.isnan(value):
            continue
        ahead = (month.year - asof.year) * 12 + month.month - asof.month
        if 0 <= ahead < MAX_RELATIVE_TENORS:
            cells.setdefault(key, {}).setdefault(asof, {})[ahead] = float(value)
    found: dict[str, History] = {}
    for key, by_day in cells.items():
        dates = sorted(by_day)[-days:]
        width = 1 + max(max(by_day[d]) for d in dates)
        matrix = np.full((len(dates), width), np.nan)
        for i, day in enumerate(dates):
            for ahead, value in by_day[day].items():
                matrix[i, ahead] = value
        found[key] = History(tuple(dates), matrix)
    return found


@dataclass(frozen=True)
class CurvePlan:
    """What simulating one banded curve needs, whichever process draws its paths: its grid
    row, the months it is quoted in (``cells``, a mask over the grid's months), its random
    stream, its scenario forward in those months, each month's time to delivery (the factor
    model) or relative tenor (the historical one), its calibration and its history."""

    row: int
    vendor: str
    key: str
    name: str
    cells: npt.NDArray[np.bool_]
    stream: tuple[int, ...]
    forward: Array
    taus: Array
    ahead: npt.NDArray[np.int64]
    calibration: ensembles.Calibration
    history: History


@dataclass(frozen=True)
class BandPlan:
    """An ensemble calibrated and ready to simulate: the model, its paths and horizon, each
    banded curve's :class:`CurvePlan`, the grid's shape and month labels, and the report
    (calibrations, backtest). Paths ``[start, stop)`` of a curve can be drawn anywhere from
    this (:meth:`simulate`), and bands made from all of them (:func:`assemble`)."""

    model: str
    paths: int
    horizon_days: int
    store_paths: bool
    shape: tuple[int, int]
    labels: tuple[str, ...]
    curves: tuple[CurvePlan, ...]
    report: dict[str, Any]

    def simulate(self, curve: CurvePlan, start: int = 0, stop: int | None = None) -> Array:
        """Paths ``[start, stop)`` (default: all) of ``curve``, one row per path: the rows of
        the whole run's matrix, bit for bit, wherever they are drawn."""
        stop = self.paths if stop is None else stop
        blocks = (
            None if (start, stop) == (0, self.paths)
            else ensembles.stream_blocks(start, stop, paths=self.paths)
        )  # fmt: skip
        seed = list(curve.stream)
        if self.model == "factor":
            return ensembles.simulate(
                curve.forward, curve.taus, horizon_years(self.horizon_days), curve.calibration,
                seed=seed, paths=self.paths, blocks=blocks,
            )  # fmt: skip
        return ensembles.historical(
            _by_tenor(curve.forward, curve.ahead), curve.history.values, curve.history.dates,
            horizon_days=self.horizon_days, seed=seed, paths=self.paths, blocks=blocks,
        )[:, curve.ahead]  # fmt: skip

    def month_labels(self, curve: CurvePlan) -> list[str]:
        return [label for label, on in zip(self.labels, curve.cells, strict=True) if on]


def plan_bands(
    grid: CurveGrid,
    values: Array,
    rows: Sequence[int],
    found: Mapping[str, History],
    ensemble: Ensemble,
    *,
    seed: int,
    asof: date,
    limits: ScenarioLimits,
) -> BandPlan:
    """Calibrate and backtest each of grid rows ``rows`` around ``values`` (the scenario grid):
    everything an ensemble needs before its paths are drawn. The budgets are checked first;
    a curve without history enough fails the run here (``history_too_short``), before any
    path is drawn."""
    quoted = ~np.isnan(values)
    check_budgets(ensemble, [int(quoted[r].sum()) for r in rows], limits)
    years = np.array([max((m - asof).days, 1) / 365.25 for m in grid.months])
    ahead_of = np.array([(m.year - asof.year) * 12 + m.month - asof.month for m in grid.months])
    calibrations: dict[str, Any] = {}
    scores: dict[str, list[int]] = {}
    curves: list[CurvePlan] = []
    for row in rows:
        curve = grid.curves[int(row)]
        key = str(curve["curve_key"])
        history = found.get(key)
        name = curve_name(curve)
        if history is None:
            raise ScenarioError(
                "history_too_short", f"{name} has no as-of history to calibrate on",
                curve=name, days=0,
            )  # fmt: skip
        cells = quoted[row]
        forward = values[row, cells]
        ahead = ahead_of[cells].astype(np.int64)
        try:
            calibration = ensembles.calibrate(history.values, history.dates, forward=forward)
            if ensemble.model == "historical":  # enough windows to resample (no path drawn)
                ensembles.historical(
                    _by_tenor(forward, ahead), history.values, history.dates,
                    horizon_days=ensemble.horizon_days, seed=0, paths=1, blocks=range(0),
                )  # fmt: skip
            score = ensembles.backtest(
                history.values, history.dates, calibration, horizon_days=ensemble.horizon_days
            )
        except ensembles.HistoryTooShort as exc:
            raise ScenarioError(
                "history_too_short", f"{name}: {exc} (narrow ensemble.curves or ingest more days)",
                curve=name,
            ) from None  # fmt: skip
        curves.append(CurvePlan(
            row=int(row), vendor=str(curve["vendor"]), key=key, name=name, cells=cells,
            stream=tuple(seed_for(seed, _stream_key(curve, ensemble.streams))),
            forward=forward, taus=years[cells], ahead=ahead,
            calibration=calibration, history=history,
        ))  # fmt: skip
        calibrations[name] = _calibration_report(calibration)
        tally = scores.setdefault(family_of(curve), [0, 0])
        tally[0] += score.inside
        tally[1] += score.total
    report = {
        "ensemble": {
            "model": ensemble.model, "paths": ensemble.paths,
            "horizon_days": ensemble.horizon_days, "curves": len(rows),
            "convention": ensembles.BAND_CONVENTION,
        },
        "calibration": calibrations,
        "backtest": {
            family: {
                "model": "factor (calibrated, analytic bands)", "inside": inside, "total": total,
                "share": round(inside / total, 4) if total else None, "expected": 0.90,
                "horizon_days": ensemble.horizon_days,
            }
            for family, (inside, total) in sorted(scores.items())
        },
    }  # fmt: skip
    return BandPlan(
        model=ensemble.model, paths=ensemble.paths, horizon_days=ensemble.horizon_days,
        store_paths=ensemble.store_paths, shape=(values.shape[0], values.shape[1]),
        labels=tuple(m.strftime("%Y-%m") for m in grid.months), curves=tuple(curves),
        report=report,
    )  # fmt: skip


def assemble(
    plan: BandPlan,
    matrices: Iterable[tuple[CurvePlan, Sequence[Array]]],
    *,
    progress: Callable[[int, int], None] = lambda done, total: None,
    keep_matrices: bool = False,
) -> Bands:
    """Bands from each curve's paths, given as its blocks' matrices in path order (one block:
    the whole matrix), stacked (:func:`ensembles.stack_paths`) and banded, curve by curve as
    ``matrices`` yields them, so one curve's paths are held at a time; with ``store_paths``,
    the path rows too; ``keep_matrices``: each curve's paths by key."""
    nan = np.full(plan.shape, np.nan)
    result = Bands(
        model=plan.model, convention=ensembles.BAND_CONVENTION, mean=nan.copy(),
        p5=nan.copy(), p50=nan.copy(), p95=nan.copy(), report=plan.report,
    )  # fmt: skip
    kept: list[pa.Table] = []
    for done, (curve, parts) in enumerate(matrices):
        paths = ensembles.stack_paths(parts)
        if paths.shape != (plan.paths, int(curve.cells.sum())):
            raise ValueError(f"{curve.name}: {paths.shape} paths, the plan has"
                             f" {(plan.paths, int(curve.cells.sum()))}")  # fmt: skip
        summary = ensembles.bands(paths)
        for target, source in (
            (result.mean, "mean"),
            (result.p5, "p5"),
            (result.p50, "p50"),
            (result.p95, "p95"),
        ):
            target[curve.row, curve.cells] = summary[source]
        if plan.store_paths:
            kept.append(_path_rows(curve.vendor, curve.key, plan.month_labels(curve), paths))
        if keep_matrices:
            result.matrices[curve.key] = (curve.cells, paths)
        progress(done + 1, len(plan.curves))
    if kept:
        result.paths = pa.concat_tables(kept)
    return result


def simulate_bands(
    grid: CurveGrid,
    values: Array,
    rows: Sequence[int],
    found: Mapping[str, History],
    ensemble: Ensemble,
    *,
    seed: int,
    asof: date,
    limits: ScenarioLimits,
    progress: Callable[[int, int], None] = lambda done, total: None,
    keep_matrices: bool = False,
) -> Bands:
    """Bands for grid rows ``rows`` around ``values`` (the scenario grid), every path drawn
    here; ``keep_matrices``: also each curve's paths, by curve key, with the grid months they
    cover."""
    plan = plan_bands(grid, values, rows, found, ensemble, seed=seed, asof=asof, limits=limits)
    drawn = ((curve, [plan.simulate(curve)]) for curve in plan.curves)
    return assemble(plan, drawn, progress=progress, keep_matrices=keep_matrices)


def check_budgets(
    ensemble: Ensemble, tenors: Sequence[int], limits: ScenarioLimits, *, paths_too: bool = True
) -> None:
    """``memory_budget_exceeded`` when one curve's paths would not fit the memory budget;
    ``paths_too_large`` when the paths to keep (``store_paths``) exceed their limit."""
    widest = max(tenors, default=0)
    held = ensemble.paths * widest * 8 * 3  # the paths, their sort for the percentiles, slack
    budget = limits.memory_mb * 2**20
    if held > budget:
        raise ScenarioError(
            "memory_budget_exceeded",
            f"{ensemble.paths:,} paths x {widest} tenors need about {held / 2**20:,.0f} MiB; the"
            f" budget is {limits.memory_mb:,.0f} MiB (AURUM_SCENARIOS__MEMORY_MB): use fewer"
            " paths",
            paths=ensemble.paths, tenors=widest, budget_mb=limits.memory_mb,
        )  # fmt: skip
    if ensemble.store_paths and paths_too:
        total = ensemble.paths * sum(tenors)
        if total > limits.max_stored_paths:
            raise ScenarioError(
                "paths_too_large",
                f"keeping {ensemble.paths:,} paths x {sum(tenors):,} curve tenors is"
                f" {total:,} values; at most {limits.max_stored_paths:,} are kept"
                " (AURUM_SCENARIOS__MAX_STORED_PATHS): fewer paths or curves, or no store_paths",
                values=total, limit=limits.max_stored_paths,
            )  # fmt: skip


def _by_tenor(forward: Array, ahead: npt.NDArray[np.int64]) -> Array:
    """A curve's forward by relative tenor (months after the as-of month), NaN where unquoted."""
    by_tenor = np.full(int(ahead.max()) + 1, np.nan)
    by_tenor[ahead] = forward
    return by_tenor


def _stream_key(curve: Mapping[str, Any], streams: str) -> str:
    """Whose random stream a curve draws from: its own, or (``market``) its power market's, so
    the blocks of one market share their draws; a curve of no market keeps its own."""
    if streams == "market":
        market = calendar.market_for({k: curve.get(k) for k in _IDENTITY})
        if market is not None:
            return f"market:{market.code}"
    return str(curve["curve_key"])


def _path_rows(vendor: str, key: str, labels: Sequence[str], paths: Array) -> pa.Table:
    count, width = paths.shape
    return pa.table(
        {
            "vendor": pa.array([vendor] * (count * width), pa.string()),
            "curve_key": pa.array([key] * (count * width), pa.string()),
            "tenor_label": pa.array(np.tile(np.array(labels, dtype=object), count), pa.string()),
            "path": pa.array(np.repeat(np.arange(count, dtype=np.int32), width), pa.int32()),
            "value": pa.array(paths.reshape(-1), pa.float64()),
        }
    )


def _calibration_report(calibration: Any) -> dict[str, Any]:
    return {
        "model": calibration.model, "kappa": _r(calibration.kappa),
        "sigma_short": _r(calibration.sigma_short), "sigma_long": _r(calibration.sigma_long),
        "rho": _r(calibration.rho), "days": calibration.days,
        "first": str(calibration.first), "last": str(calibration.last),
        "fit": {k: _r(v) for k, v in dict(calibration.fit).items()},
    }  # fmt: skip


def _r(value: Any) -> Any:
    return round(float(value), 6) if isinstance(value, int | float | np.floating) else value


def curve_name(curve: Mapping[str, Any]) -> str:
    """``EUGP German power BASE``: a curve as a person names it in a message."""
    parts = [curve.get(k) for k in ("vendor", "iso", "location", "product", "block")]
    return " ".join(str(p) for p in parts if p)
