"""What a scenario says, as frozen pydantic models: its settings and its typed assumptions.

A scenario is a list of **assumptions** (each one a *player* of the attribution) and the
**settings** that say what it runs on: the base vendor-days, the ensemble, the attribution
method, FX rates, per-market overrides of the driver defaults and the user's own merit-order
stacks. Every model is ``frozen`` and forbids unknown fields, so a typo fails when the spec is
saved, with the path of the field (:func:`validate_assumption`, :func:`validate_settings` raise a
422 ``spec_invalid`` naming it), not when a worker runs it.

The six kinds of assumption, discriminated by ``type``:

``shock``        any curve matching a filter (identity fields, tenor range): an ``absolute``
                 (+x in the curve's units), ``relative`` (+x %) or ``scaled`` (× x) shift, with a
                 tenor shape: ``parallel``, a linear ``twist`` (``value`` at the first month,
                 ``value_end`` at the last) or per tenor ``buckets``. Shocks are tried in the
                 scenario's order; the first whose filter matches a curve is the one it gets.
``fuel_curve``   the gas (or, for the stacks, coal) price behind power: shifted, or replaced by
                 another curve at an as-of.
``carbon``       the carbon price behind power: shifted or replaced.
``heat_rate``    the fleet's efficiency: a new heat rate (MMBtu/MWh), or a relative change.
``load_growth``  % per year: moves price along the market's merit-order stack.
``fleet_change`` capacity added (+) or retired (−) by technology from a date: the same.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from aurum.errors import AurumError, ScenarioError

__all__ = [
    "ASSUMPTION_TYPES",
    "Assumption",
    "BaseCurves",
    "Bucket",
    "CarbonChange",
    "CurveFilter",
    "CurveRef",
    "Ensemble",
    "FleetChange",
    "FuelCurveChange",
    "HeatRateChange",
    "LoadGrowth",
    "MarketOverride",
    "ScenarioSettings",
    "Shock",
    "StackIn",
    "UnitIn",
    "spec_invalid",
    "validate_assumption",
    "validate_settings",
]  # fmt: skip

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
Month = Annotated[str, Field(pattern=_MONTH.pattern, description="A delivery month, YYYY-MM.")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
Markets = Annotated[
    tuple[str, ...] | None,
    Field(description="Markets it applies to (names in the driver data, e.g. DE, GB, PJM); "
          "none: every market."),
]  # fmt: skip
Mode = Literal["absolute", "relative", "scaled"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CurveFilter(_Frozen):
    """Which curves and tenors: every field given must equal the curve's (ignoring case)."""

    vendor: str | None = None
    curve_key: str | None = None
    asset_class: str | None = None
    iso: str | None = None
    region: str | None = None
    location: str | None = None
    market: str | None = None
    product: str | None = None
    block: str | None = None
    spark_location: str | None = None
    tenor_from: Month | None = None
    tenor_to: Month | None = None

    def identity(self) -> dict[str, str]:
        """The identity fields given (not the tenor range)."""
        return {
            name: value
            for name, value in self.model_dump(exclude={"tenor_from", "tenor_to"}).items()
            if value is not None
        }

    @model_validator(mode="after")
    def _range(self) -> CurveFilter:
        if self.tenor_from and self.tenor_to and self.tenor_from > self.tenor_to:
            raise ValueError("tenor_from is after tenor_to")
        return self


class CurveRef(_Frozen):
    """One curve at an as-of: the vendor, enough identity fields to name one curve, and the
    as-of (``latest``: the newest published day of that vendor when the run starts)."""

    vendor: str
    location: str | None = None
    iso: str | None = None
    region: str | None = None
    product: str | None = None
    block: str | None = None
    asset_class: str | None = None
    curve_key: str | None = None
    asof: date | Literal["latest"] = "latest"

    def identity(self) -> dict[str, str]:
        return {
            name: value
            for name, value in self.model_dump(exclude={"asof"}).items()
            if value is not None
        }


class Bucket(_Frozen):
    """A shock's value over delivery months ``start``..``end`` (inclusive)."""

    start: Month
    end: Month
    value: float = Field(ge=-1e6, le=1e6)


class Shock(_Frozen):
    type: Literal["shock"] = "shock"
    filter: CurveFilter = CurveFilter()
    mode: Mode
    value: float = Field(
        ge=-1e6, le=1e6,
        description="absolute: + value (the curve's units); relative: + value %; scaled: × value.",
    )  # fmt: skip
    shape: Literal["parallel", "twist", "buckets"] = "parallel"
    value_end: float | None = Field(
        None, ge=-1e6, le=1e6, description="twist: the value at the last month."
    )
    buckets: tuple[Bucket, ...] = ()

    @model_validator(mode="after")
    def _shape(self) -> Shock:
        if self.shape == "twist" and self.value_end is None:
            raise ValueError("a twist needs value_end (the value at the last month)")
        if self.shape == "buckets" and not self.buckets:
            raise ValueError("a buckets shape needs buckets")
        if self.shape != "buckets" and self.buckets:
            raise ValueError("buckets are only for shape 'buckets'")
        return self


class _DriverChange(_Frozen):
    mode: Literal["absolute", "relative", "scaled", "replace"]
    value: float | None = Field(
        None, ge=-1e6, le=1e6,
        description="absolute: + value in the driver curve's own units; relative: + %; "
        "scaled: × value.",
    )  # fmt: skip
    replace_with: CurveRef | None = None
    markets: Markets = None

    @model_validator(mode="after")
    def _mode(self) -> _DriverChange:
        if self.mode == "replace":
            if self.replace_with is None or self.value is not None:
                raise ValueError("mode 'replace' takes replace_with (a curve), not value")
        elif self.value is None or self.replace_with is not None:
            raise ValueError(f"mode {self.mode!r} takes value, not replace_with")
        return self


class FuelCurveChange(_DriverChange):
    type: Literal["fuel_curve"] = "fuel_curve"
    fuel: Literal["gas", "coal"] = "gas"

    @model_validator(mode="after")
    def _coal(self) -> FuelCurveChange:
        if self.fuel == "coal" and self.mode == "replace":
            raise ValueError("there is no coal curve to replace with: shift the stacks' coal price")
        if self.fuel == "coal" and self.mode == "absolute":
            raise ValueError("coal is shifted relative or scaled (the stacks state it per MMBtu)")
        return self


class CarbonChange(_DriverChange):
    type: Literal["carbon"] = "carbon"


class HeatRateChange(_Frozen):
    type: Literal["heat_rate"] = "heat_rate"
    mode: Literal["absolute", "relative"] = "absolute"
    value: float = Field(description="absolute: the heat rate in MMBtu/MWh; relative: + %.")
    markets: Markets = None

    @model_validator(mode="after")
    def _positive(self) -> HeatRateChange:
        if self.mode == "absolute" and not 0 < self.value <= 30:
            raise ValueError("a heat rate is between 0 and 30 MMBtu/MWh")
        if self.mode == "relative" and self.value <= -100:
            raise ValueError("a relative change of the heat rate is above -100 %")
        return self


class LoadGrowth(_Frozen):
    type: Literal["load_growth"] = "load_growth"
    pct_per_year: float = Field(ge=-50, le=50)
    markets: Markets = None


class FleetChange(_Frozen):
    type: Literal["fleet_change"] = "fleet_change"
    market: str
    technology: str
    capacity_mw: float = Field(description="+ added, − retired, in MW.")
    effective: date = Field(description="From this day's month on.")


Assumption = Annotated[
    Shock | FuelCurveChange | CarbonChange | HeatRateChange | LoadGrowth | FleetChange,
    Field(discriminator="type"),
]
ASSUMPTION_TYPES = ("shock", "fuel_curve", "carbon", "heat_rate", "load_growth", "fleet_change")


class BaseCurves(_Frozen):
    """The vendor-days a run starts from: the vendors' newest published days (``latest``) or a
    given day; the run records the exact tags (``eod/{vendor}/{day}/v{n}``) it read."""

    vendors: tuple[str, ...] = Field(min_length=1, max_length=3)
    asof: date | Literal["latest"] = "latest"
    curves: CurveFilter | None = Field(
        None, description="Only these curves (default: every monthly curve of the vendors)."
    )


class Ensemble(_Frozen):
    """Stochastic bands around the scenario curves."""

    model: Literal["factor", "historical"] = "factor"
    paths: int = Field(1000, ge=100, le=200_000)
    horizon_days: int = Field(20, ge=1, le=1000, description="Business days ahead.")
    calibration_days: int = Field(
        250, ge=41, le=5000,
        description="As-of days of history (41 at least: 40 daily changes to calibrate on).",
    )
    curves: CurveFilter | None = Field(
        None, description="Which curves get bands (default: every curve of the run)."
    )
    store_paths: bool = Field(False, description="Keep every path (within the size budget).")
    streams: Literal["curve", "market"] = Field(
        "curve",
        description="curve: each curve its own random stream (independent curves); market: the"
        " power curves of one market share theirs (their blocks move together, as a PPA on"
        " several blocks needs).",
    )


class MarketOverride(_Frozen):
    heat_rate: float | None = Field(None, gt=0, le=30)
    emission_factor: float | None = Field(None, ge=0, le=1)
    vom: float | None = None
    share: dict[str, Annotated[float, Field(ge=0, le=1)]] | None = Field(
        None, description="Share of hours the marginal plant sets the price, per block."
    )
    gas: CurveRef | None = None
    carbon: CurveRef | None = None
    stack: str | None = None


class UnitIn(_Frozen):
    technology: str
    capacity_mw: float = Field(ge=0)
    heat_rate: float = Field(ge=0, le=30)
    availability: float = Field(ge=0, le=1)
    fuel: Literal["gas", "coal", "lignite", "oil", "uranium", "none"]
    vom: float = 0.0
    emission_factor: float = Field(0.0, ge=0, le=1)


class StackIn(_Frozen):
    """A merit-order stack of the user's own (the shipped ones are illustrative)."""

    currency: str = Field(pattern=r"^[A-Z]{3}$")
    units: tuple[UnitIn, ...] = Field(min_length=1, max_length=500)
    load_mw: dict[str, Annotated[float, Field(gt=0)]] = Field(min_length=1)
    fuel_prices: dict[str, float] = Field(default_factory=dict)
    price_cap: float = Field(gt=0)
    source: str = Field(min_length=1, max_length=2000)


class ScenarioSettings(_Frozen):
    """Everything a scenario says besides its assumptions."""

    base: BaseCurves
    ensemble: Ensemble | None = None
    attribution: Literal["shapley", "one_at_a_time"] = "shapley"
    seed: int = Field(20_261_204, ge=0, lt=2**63)
    fx_rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}[A-Z]{3}$")], Annotated[
        float, Field(gt=0)]] = Field(
        default_factory=dict, description="e.g. {'EURUSD': 1.08}: one EUR is 1.08 USD."
    )  # fmt: skip
    markets: dict[str, MarketOverride] = Field(default_factory=dict)
    stacks: dict[str, StackIn] = Field(default_factory=dict)


_ASSUMPTION: TypeAdapter[Any] = TypeAdapter(Assumption)


def validate_assumption(
    value: Any,
) -> Shock | FuelCurveChange | CarbonChange | HeatRateChange | LoadGrowth | FleetChange:
    """``value`` as a typed assumption, or a 422 ``spec_invalid`` naming the field."""
    try:
        return _ASSUMPTION.validate_python(value)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise spec_invalid(exc, "value") from None


def validate_settings(value: Any) -> ScenarioSettings:
    """``value`` as scenario settings, or a 422 ``spec_invalid`` naming the field."""
    try:
        return ScenarioSettings.model_validate(value)
    except ValidationError as exc:
        raise spec_invalid(exc, "spec") from None


def spec_invalid(
    exc: ValidationError, root: str, error: type[AurumError] = ScenarioError
) -> AurumError:
    """A pydantic validation error as a 422 ``spec_invalid`` (of class ``error``) whose message
    and ``field`` name the first field at fault (``root.path.to.field``), with every error in
    ``errors`` (at most 20)."""
    errors = [
        {
            "field": ".".join([root, *(str(p) for p in error_["loc"])]),
            "message": error_["msg"].removeprefix("Value error, "),
        }
        for error_ in exc.errors(include_url=False)
    ]
    first = errors[0]
    return error(
        "spec_invalid", f"{first['field']}: {first['message']}", field=first["field"],
        errors=errors[:20],
    )  # fmt: skip
