"""A scenario's arithmetic over whole curves at once: assumptions → scenario curves, attribution,
ensemble bands. No store, no lake: rows in, rows out (the service reads and publishes).

The base curves are a grid, one row per curve and one column per delivery month
(:class:`CurveGrid`). Evaluating a set of assumptions (:meth:`Scenario.evaluate`) gives the whole
grid under those assumptions, so attribution is just evaluations of subsets: exact Shapley
(:func:`aurum.domain.attribution.shapley`, 2^n evaluations) or one-at-a-time.

One evaluation, in order:

1. **shocks**: each curve gets the first of the active shocks whose filter matches it;
2. **drivers**: for each power curve with a market in the driver data
   (:mod:`aurum.domain.drivers`), the marginal cost under the scenario's gas (the shocked gas
   curve, then the ``fuel_curve`` changes), carbon and heat rate against the base's:
   ``P += s · (MC_scen − MC_base)``, in the power curve's currency (units converted; FX only from
   the scenario's stated ``fx_rates``);
3. **merit order**: ``load_growth`` and ``fleet_change`` move the price along the market's stack
   at the scenario's fuel prices: ``P += stack(load', fleet') − stack(load, fleet)``.

Months where a driver curve has no price get no driver effect and are counted
(``driver_gaps``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from aurum.domain import attribution, drivers
from aurum.domain.identity import IDENTITY_FIELDS, curve_family
from aurum.errors import ScenarioError
from aurum.scenarios.specs import (
    CarbonChange,
    CurveFilter,
    FleetChange,
    FuelCurveChange,
    HeatRateChange,
    LoadGrowth,
    ScenarioSettings,
    Shock,
)

__all__ = [
    "SHAPLEY_MAX_PLAYERS", "AssumptionValue", "CurveGrid", "History", "Outcome", "Scenario",
    "family_of", "horizon_years", "seed_for",
]  # fmt: skip

Array = npt.NDArray[np.float64]
AssumptionValue = Shock | FuelCurveChange | CarbonChange | HeatRateChange | LoadGrowth | FleetChange
SHAPLEY_MAX_PLAYERS = 12  # 4,096 evaluations; more: one-at-a-time
_CARRIED = (
    "vendor", "curve_key", *IDENTITY_FIELDS, "currency", "per_unit", "asof_date", "base_tag",
)  # fmt: skip


@dataclass(frozen=True)
class CurveGrid:
    """Monthly curves as a matrix: ``values[c, m]`` is curve ``c`` in month ``months[m]`` (NaN:
    not quoted); ``curves`` holds one dict per curve (identity, units, as-of, tag)."""

    curves: tuple[dict[str, Any], ...]
    months: tuple[date, ...]
    values: Array

    @classmethod
    def from_rows(cls, rows: pa.Table) -> CurveGrid:
        """From MONTHLY curve rows (``curve_key``, ``contract_month``, ``value`` and the carried
        columns); one as-of per curve."""
        keys = rows.column("curve_key").to_pylist()
        months_col = rows.column("contract_month").to_pylist()
        values_col = rows.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
        order: dict[str, int] = {}
        curves: list[dict[str, Any]] = []
        columns = {
            name: rows.column(name).to_pylist() for name in _CARRIED if name in rows.schema.names
        }
        for i, key in enumerate(keys):
            if key not in order:
                order[key] = len(curves)
                curves.append({name: column[i] for name, column in columns.items()})
        months = tuple(sorted({m for m in months_col if m is not None}))
        month_index = {m: j for j, m in enumerate(months)}
        values = np.full((len(curves), len(months)), np.nan)
        for key, month, value in zip(keys, months_col, values_col, strict=True):
            if month is not None:
                values[order[key], month_index[month]] = value
        return cls(tuple(curves), months, values)

    def matching(self, where: CurveFilter | Mapping[str, str]) -> npt.NDArray[np.bool_]:
        """Which curves have every identity field of ``where`` (ignoring case)."""
        wanted = where.identity() if isinstance(where, CurveFilter) else dict(where)
        wanted = {k: v.casefold() for k, v in wanted.items() if k not in ("asof",)}
        return np.array(
            [
                all(str(curve.get(k) or "").casefold() == v for k, v in wanted.items())
                for curve in self.curves
            ],
            dtype=bool,
        )

    def month_mask(self, where: CurveFilter) -> npt.NDArray[np.bool_]:
        labels = np.array([m.strftime("%Y-%m") for m in self.months], dtype=object)
        mask = np.ones(len(self.months), dtype=bool)
        if where.tenor_from:
            mask &= labels >= where.tenor_from
        if where.tenor_to:
            mask &= labels <= where.tenor_to
        return mask


@dataclass(frozen=True)
class History:
    """A curve's as-of history by relative tenor: ``values[d, j]`` is the price on ``dates[d]``
    of the month ``j`` months after that day's month."""

    dates: tuple[date, ...]
    values: Array


@dataclass
class Outcome:
    """What a run computed: output rows and what the run record reports."""

    rows: pa.Table
    paths: pa.Table | None
    report: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class _Market:
    """One market's drivers for the curves it prices, resolved on the grid."""

    drivers: drivers.MarketDrivers
    power: npt.NDArray[np.intp]  # grid rows of its power curves
    share: Array  # per power row
    gas: int | None  # grid row of its gas curve
    carbon: int | None
    currency: str


class Scenario:
    """Assumptions over one grid; ``evaluate(active)`` is the grid under the active ones."""

    def __init__(
        self,
        grid: CurveGrid,
        settings: ScenarioSettings,
        assumptions: Sequence[tuple[str, AssumptionValue]],
        *,
        asof: date,
        replacements: Mapping[int, tuple[Array, Mapping[str, Any]]] | None = None,
    ) -> None:
        """``replacements``: for each assumption (by index) that replaces a driver curve, that
        curve's prices on the grid's months and its units (the service reads them)."""
        self.grid = grid
        self.settings = settings
        self.names = [name for name, _ in assumptions]
        self.assumptions = [value for _, value in assumptions]
        self.asof = asof
        self.replacements = dict(replacements or {})
        self.years = np.array([max((m - asof).days, 0) / 365.25 for m in grid.months])
        self.markets = self._markets()
        self.stacks = _stacks(settings)
        self.driver_gaps = 0
        self._check_matches()
        self._cache: dict[frozenset[int], Array] = {}

    # -- evaluation -------------------------------------------------------------------------

    def evaluate(self, active: frozenset[int]) -> Array:
        cached = self._cache.get(active)
        if cached is not None:
            return cached
        base = self.grid.values
        values = self._shocked(active)
        gaps = 0
        for market in self.markets:
            delta, missing = self._driver_delta(market, active, values)
            gaps += missing
            values[market.power] += delta
        self._cache[active] = values
        if len(active) == len(self.assumptions):
            self.driver_gaps = gaps
        assert values.shape == base.shape
        return values

    def attribute(self, method: str) -> tuple[Array, dict[str, Array], Array | None]:
        """The scenario grid, each assumption's share of (scenario − base), and the residual
        (one-at-a-time only)."""
        players = len(self.assumptions)
        every = frozenset(range(players))
        scenario = self.evaluate(every)
        if players == 0:
            return scenario, {}, None
        if method == "shapley":
            if players > SHAPLEY_MAX_PLAYERS:
                raise ScenarioError(
                    "attribution_too_large",
                    f"exact Shapley over {players} assumptions needs 2^{players} evaluations:"
                    f" use attribution 'one_at_a_time' (or at most {SHAPLEY_MAX_PLAYERS})",
                    assumptions=players,
                )
            shares = attribution.shapley(self._evaluate_filled, players)
            return scenario, dict(zip(self.names, shares, strict=True)), None
        shares, residual = attribution.one_at_a_time(self._evaluate_filled, players)
        return scenario, dict(zip(self.names, shares, strict=True)), residual

    def _evaluate_filled(self, active: frozenset[int]) -> Array:
        return np.nan_to_num(self.evaluate(active), nan=0.0)

    def _shocked(self, active: frozenset[int]) -> Array:
        values = self.grid.values.copy()
        shocks = [
            (i, a) for i, a in enumerate(self.assumptions) if i in active and isinstance(a, Shock)
        ]
        if not shocks:
            return values
        base = self.grid.values
        taken = np.zeros(base.shape, dtype=bool)
        for _, shock in shocks:  # each price takes the first shock whose filter it matches
            months = self.grid.month_mask(shock.filter)
            cells = np.outer(self.grid.matching(shock.filter), months) & ~taken
            if not cells.any():
                continue
            taken |= cells
            size = np.zeros(len(self.grid.months))
            size[months] = _shock_sizes(shock, self.grid.months, months)
            sizes = np.broadcast_to(size, base.shape)
            if shock.mode == "absolute":
                values[cells] = base[cells] + sizes[cells]
            elif shock.mode == "relative":
                values[cells] = base[cells] * (1 + sizes[cells] / 100)
            else:
                values[cells] = base[cells] * sizes[cells]
        return values

    def _driver_delta(
        self, market: _Market, active: frozenset[int], values: Array
    ) -> tuple[Array, int]:
        """The change of ``market``'s power curves under the active driver assumptions."""
        d = market.drivers
        applies = [
            (i, a) for i, a in enumerate(self.assumptions)
            if i in active and _for_market(a, d.name)
        ]  # fmt: skip
        months = len(self.grid.months)
        zero = np.zeros((len(market.power), months))
        gas_moves = market.gas is not None and (
            any(isinstance(a, FuelCurveChange) and a.fuel == "gas" for _, a in applies)
            or not np.array_equal(values[market.gas], self.grid.values[market.gas], equal_nan=True)
        )
        carbon_moves = market.carbon is not None and (
            any(isinstance(a, CarbonChange) for _, a in applies)
            or not np.array_equal(
                values[market.carbon], self.grid.values[market.carbon], equal_nan=True
            )
        )
        heat = [a for _, a in applies if isinstance(a, HeatRateChange)]
        merit = [a for _, a in applies if isinstance(a, LoadGrowth | FleetChange)]
        coal = [a for _, a in applies if isinstance(a, FuelCurveChange) and a.fuel == "coal"]
        if not (gas_moves or carbon_moves or heat or merit or coal):
            return zero, 0
        gas0 = self._fuel(market, market.gas, self.grid.values, kind="gas")
        carbon0 = self._fuel(market, market.carbon, self.grid.values, kind="carbon")
        gas1 = self._changed(market, gas0, values, applies, kind="gas")
        carbon1 = self._changed(market, carbon0, values, applies, kind="carbon")
        hr0 = np.full(months, d.heat_rate)
        hr1 = hr0.copy()
        for change in heat:  # in order: each applies to the result of the one before
            hr1 = (
                np.full(months, change.value)
                if change.mode == "absolute"
                else hr1 * (1 + change.value / 100)
            )
        mc0 = drivers.marginal_cost(
            heat_rate=hr0, gas=gas0, carbon=carbon0, emission_factor=d.emission_factor, vom=d.vom
        )
        mc1 = drivers.marginal_cost(
            heat_rate=hr1, gas=gas1, carbon=carbon1, emission_factor=d.emission_factor, vom=d.vom
        )
        delta = market.share[:, None] * (mc1 - mc0)[None, :]
        if merit or coal:
            blocks = [str(self.grid.curves[int(r)].get("block") or "") for r in market.power]
            moved = {
                block: self._merit_delta(market, block, gas1, carbon1, merit, coal)
                for block in set(blocks)
            }  # each block along the stack at its own load
            delta = delta + np.stack([moved[block] for block in blocks])
        missing = np.isnan(delta) & ~np.isnan(self.grid.values[market.power])
        return np.where(np.isnan(delta), 0.0, delta), int(missing.sum())

    def _fuel(self, market: _Market, row: int | None, values: Array, *, kind: str) -> Array:
        """The driver curve ``row`` in the power curve's currency per MMBtu (gas) or per tonne
        (carbon); zero when the market has none."""
        if row is None:
            return np.zeros(len(self.grid.months))
        curve = self.grid.curves[row]
        convert = drivers.fuel_per_mmbtu if kind == "gas" else drivers.carbon_per_tonne
        return _units(
            convert, values[row], curve=curve, to_currency=market.currency,
            fx=self.settings.fx_rates, market=market.drivers.name,
        )  # fmt: skip

    def _changed(
        self, market: _Market, converted: Array, values: Array,
        applies: Sequence[tuple[int, AssumptionValue]], *, kind: str,
    ) -> Array:  # fmt: skip
        """The driver under the shocks (already in ``values``) and the active changes."""
        row = market.gas if kind == "gas" else market.carbon
        if row is None:
            return converted
        raw = values[row].copy()
        curve = self.grid.curves[row]
        for index, change in applies:
            if not (
                (kind == "gas" and isinstance(change, FuelCurveChange) and change.fuel == "gas")
                or (kind == "carbon" and isinstance(change, CarbonChange))
            ):
                continue
            if change.mode == "replace":
                replacement, units = self.replacements[index]
                return _units(
                    drivers.fuel_per_mmbtu if kind == "gas" else drivers.carbon_per_tonne,
                    replacement, curve=units,
                    to_currency=market.currency, fx=self.settings.fx_rates,
                    market=market.drivers.name,
                )  # fmt: skip
            assert change.value is not None
            if change.mode == "absolute":
                raw = raw + change.value
            elif change.mode == "relative":
                raw = raw * (1 + change.value / 100)
            else:
                raw = raw * change.value
        convert = drivers.fuel_per_mmbtu if kind == "gas" else drivers.carbon_per_tonne
        return _units(
            convert, raw, curve=curve, to_currency=market.currency, fx=self.settings.fx_rates,
            market=market.drivers.name,
        )  # fmt: skip

    def _merit_delta(
        self, market: _Market, block: str, gas: Array, carbon: Array,
        merit: Sequence[LoadGrowth | FleetChange], coal: Sequence[FuelCurveChange],
    ) -> Array:  # fmt: skip
        """The stack price's change for ``block`` at the scenario's fuel prices: load and
        fleet (and the stacks' coal price) as the scenario has them, against as they are."""
        name = market.drivers.stack
        stack = self.stacks.get(name or "")
        if stack is None:
            return np.zeros(len(self.grid.months))
        load0 = np.full(len(self.grid.months), _block_load(stack, block))
        load1 = load0.copy()
        delta_capacity: dict[str, Array] = {}
        for change in merit:
            if isinstance(change, LoadGrowth):
                load1 = drivers.load_growth(load1, change.pct_per_year, self.years)
            else:
                effective = date(change.effective.year, change.effective.month, 1)
                on = np.array([m >= effective for m in self.grid.months], dtype=np.float64)
                delta_capacity[change.technology] = (
                    delta_capacity.get(change.technology, 0.0) + change.capacity_mw * on
                )
        stack1 = stack
        for change in coal:
            assert change.value is not None
            factor = 1 + change.value / 100 if change.mode == "relative" else change.value
            prices = {
                fuel: price * factor if fuel in ("coal", "lignite") else price
                for fuel, price in stack1.fuel_prices.items()
            }
            stack1 = _with_fuel_prices(stack1, prices)
        after = drivers.stack_price(
            stack1, load_mw=load1, gas=gas, carbon=carbon, capacity_delta=delta_capacity or None
        )
        before = drivers.stack_price(stack, load_mw=load0, gas=gas, carbon=carbon)
        return np.asarray(after - before, dtype=np.float64)

    # -- set-up -------------------------------------------------------------------------------

    def _markets(self) -> list[_Market]:
        grid = self.grid
        groups: dict[str, tuple[drivers.MarketDrivers, list[int]]] = {}
        for row, curve in enumerate(grid.curves):
            if str(curve.get("asset_class") or "").casefold() != "power":
                continue
            if curve.get("spark_location"):
                continue  # a spark spread is already net of gas
            found = drivers.market_for_curve(curve)
            if found is None:
                continue
            found = _overridden(found, self.settings)
            groups.setdefault(found.name, (found, []))[1].append(row)
        markets = []
        for found, rows in groups.values():
            gas = _find(grid, found.gas)
            carbon = _find(grid, found.carbon)
            share = np.array([found.share_for(grid.curves[r].get("block")) for r in rows])
            currency = str(grid.curves[rows[0]].get("currency") or "")
            if not currency:
                raise ScenarioError(
                    "units_mismatched",
                    f"market {found.name}: its power curves state no currency to convert into",
                    market=found.name,
                )  # fmt: skip
            markets.append(
                _Market(found, np.array(rows, dtype=np.intp), share, gas, carbon, currency)
            )
        return markets

    def _check_matches(self) -> None:
        names = {market.drivers.name.casefold() for market in self.markets}
        for name, assumption in zip(self.names, self.assumptions, strict=True):
            if isinstance(assumption, Shock):
                if not self.grid.matching(assumption.filter).any():
                    raise ScenarioError(
                        "filter_matches_nothing",
                        f"assumption {name!r}: no curve of the run matches its filter"
                        f" {assumption.filter.identity()}",
                        assumption=name,
                    )
                if not self.grid.month_mask(assumption.filter).any():
                    raise ScenarioError(
                        "filter_matches_nothing",
                        f"assumption {name!r}: no month of the run's curves is in its tenor range",
                        assumption=name,
                    )
                continue
            wanted = (
                (assumption.market,) if isinstance(assumption, FleetChange) else assumption.markets
            )
            if not self.markets:
                raise ScenarioError(
                    "filter_matches_nothing",
                    f"assumption {name!r} moves power through its drivers, but no curve of the"
                    " run is a power curve of a market in the driver data",
                    assumption=name,
                )
            unknown = [m for m in wanted or () if m.casefold() not in names]
            if unknown:
                raise ScenarioError(
                    "filter_matches_nothing",
                    f"assumption {name!r}: no power curve of market {unknown[0]!r} in the run"
                    f" (markets in the run: {sorted(m.drivers.name for m in self.markets)})",
                    assumption=name,
                )
            needs = (
                ("gas",) if isinstance(assumption, FuelCurveChange) and assumption.fuel == "gas"
                else ("carbon",) if isinstance(assumption, CarbonChange)
                else ("gas", "carbon") if isinstance(assumption, HeatRateChange)
                else ()
            )  # fmt: skip
            for market in self.markets:
                if wanted and market.drivers.name.casefold() not in {w.casefold() for w in wanted}:
                    continue
                for kind in needs:
                    ref = market.drivers.gas if kind == "gas" else market.drivers.carbon
                    row = market.gas if kind == "gas" else market.carbon
                    if ref is not None and row is None:
                        raise ScenarioError(
                            "driver_missing",
                            f"assumption {name!r}: market {market.drivers.name} prices {kind} on"
                            f" {dict(ref.fields)}, which this run cannot read (not published,"
                            " or a vendor your tenant is not entitled to): it would pass"
                            f" through a {kind} price of zero",
                            assumption=name, market=market.drivers.name,
                        )  # fmt: skip
            if isinstance(assumption, FleetChange | LoadGrowth):
                stacked = [
                    m for m in self.markets
                    if (not wanted or m.drivers.name.casefold() in {w.casefold() for w in wanted})
                    and m.drivers.stack in self.stacks
                ]  # fmt: skip
                for market in stacked:
                    stack = self.stacks[market.drivers.stack or ""]
                    if stack.currency != market.currency:
                        raise ScenarioError(
                            "units_mismatched",
                            f"assumption {name!r}: the {stack.name} stack is in {stack.currency},"
                            f" market {market.drivers.name}'s power in {market.currency}",
                            assumption=name,
                        )  # fmt: skip
                if not stacked:
                    raise ScenarioError(
                        "stack_missing",
                        f"assumption {name!r} moves price along a merit-order stack, but its"
                        " markets have none: give one in the scenario's stacks",
                        assumption=name,
                    )
            if isinstance(assumption, FleetChange):
                stack = next(
                    (self.stacks.get(m.drivers.stack or "") for m in self.markets
                     if m.drivers.name.casefold() == assumption.market.casefold()), None,
                )  # fmt: skip
                techs = {u.technology.casefold() for u in stack.units} if stack else set()
                if assumption.technology.casefold() not in techs:
                    raise ScenarioError(
                        "technology_unknown",
                        f"assumption {name!r}: the {assumption.market} stack has no technology"
                        f" {assumption.technology!r} (it has {sorted(techs)})",
                        assumption=name,
                    )

    def stack_sources(self) -> dict[int, str]:
        """Each power row's stack provenance, for rows whose market has a stack used by a load
        or fleet assumption."""
        uses = any(isinstance(a, LoadGrowth | FleetChange) for a in self.assumptions)
        found: dict[int, str] = {}
        if not uses:
            return found
        for market in self.markets:
            stack = self.stacks.get(market.drivers.stack or "")
            if stack is None:
                continue
            label = f"{stack.name}: {'illustrative; ' if stack.illustrative else ''}{stack.source}"
            for row in market.power:
                found[int(row)] = label
        return found


# -- helpers --------------------------------------------------------------------------------------


def _for_market(assumption: AssumptionValue, market: str) -> bool:
    if isinstance(assumption, Shock):
        return False
    if isinstance(assumption, FleetChange):
        return assumption.market.casefold() == market.casefold()
    return not assumption.markets or market.casefold() in {m.casefold() for m in assumption.markets}


def _shock_sizes(shock: Shock, months: Sequence[date], mask: npt.NDArray[np.bool_]) -> Array:
    """The shock's value in each masked month (a parallel, twisted or bucketed shape)."""
    chosen = [m for m, on in zip(months, mask, strict=True) if on]
    if shock.shape == "parallel":
        return np.full(len(chosen), shock.value)
    if shock.shape == "twist":
        assert shock.value_end is not None
        if len(chosen) == 1:
            return np.array([shock.value])
        return np.linspace(shock.value, shock.value_end, len(chosen))
    neutral = 0.0 if shock.mode != "scaled" else 1.0
    sizes = np.full(len(chosen), neutral)
    for i, month in enumerate(chosen):
        label = month.strftime("%Y-%m")
        for bucket in shock.buckets:
            if bucket.start <= label <= bucket.end:
                sizes[i] = bucket.value
                break
    return sizes


def _find(grid: CurveGrid, ref: drivers.CurveRef | None) -> int | None:
    if ref is None:
        return None
    rows = np.flatnonzero(grid.matching(dict(ref.fields)))
    return int(rows[0]) if len(rows) else None


def _units(
    convert: Callable[..., Array], values: Array, *, curve: Mapping[str, Any], to_currency: str,
    fx: Mapping[str, float], market: str,
) -> Array:  # fmt: skip
    try:
        return np.asarray(
            convert(
                values,
                currency=str(curve.get("currency") or ""),
                per_unit=str(curve.get("per_unit") or ""),
                to_currency=to_currency,
                fx=fx,
            ),
            dtype=np.float64,
        )
    except drivers.UnitsMismatch as exc:
        raise ScenarioError(exc.code, f"market {market}: {exc}", market=market) from None


def _overridden(found: drivers.MarketDrivers, settings: ScenarioSettings) -> drivers.MarketDrivers:
    override = next(
        (o for name, o in settings.markets.items() if name.casefold() == found.name.casefold()),
        None,
    )
    if override is None:
        return found
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("heat_rate", override.heat_rate), ("emission_factor", override.emission_factor),
            ("vom", override.vom), ("stack", override.stack),
        )
        if value is not None
    }  # fmt: skip
    if override.share is not None:
        changes["share"] = {**found.share, **{k.upper(): v for k, v in override.share.items()}}
    if override.gas is not None:
        changes["gas"] = drivers.CurveRef(override.gas.identity())
    if override.carbon is not None:
        changes["carbon"] = drivers.CurveRef(override.carbon.identity())
    return found.replace(**changes)


def _stacks(settings: ScenarioSettings) -> dict[str, drivers.Stack]:
    stacks = dict(drivers.load_stacks())
    for name, given in settings.stacks.items():
        stacks[name] = drivers.Stack(
            name=name, currency=given.currency,
            units=tuple(drivers.Unit(**unit.model_dump()) for unit in given.units),
            load_mw={k.upper(): v for k, v in given.load_mw.items()},
            fuel_prices=dict(given.fuel_prices), price_cap=given.price_cap,
            source=given.source, illustrative=False,
        )  # fmt: skip
    return stacks


def _with_fuel_prices(stack: drivers.Stack, prices: Mapping[str, float]) -> drivers.Stack:
    return replace(stack, fuel_prices=dict(prices))


def _block_load(stack: drivers.Stack, block: str) -> float:
    loads = {k.upper(): v for k, v in stack.load_mw.items()}
    for name in (block.upper(), "BASE", "ATC", "7X24"):
        if name in loads:
            return float(loads[name])
    return float(next(iter(loads.values())))


def family_of(curve: Mapping[str, Any]) -> str:
    return curve_family(
        curve.get("asset_class"), curve.get("product"), curve.get("currency"),
        curve.get("per_unit"),
    )  # fmt: skip


def horizon_years(days: int) -> float:
    return days / 252.0


def seed_for(seed: int, curve_key: str) -> list[int]:
    """A curve's random stream: the run's seed and the curve's key, so a curve's paths do not
    change when other curves join the run."""
    digest = hashlib.sha256(curve_key.encode()).hexdigest()
    return [seed, int(digest[:15], 16)]
