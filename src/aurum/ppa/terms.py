"""What a PPA says and what a valuation asks, as frozen pydantic models.

:class:`ContractTerms` is a contract as origination writes it down: physical or virtual, the
volume (pay-as-produced on a 12×24 month-hour or 8760 profile, baseload, or a fixed hourly
schedule), the strike (fixed, escalating ``K_y = K_1·(1+g)^(y−1)``, or indexed to a series),
floor/cap, the negative-price clause, curtailment, node-vs-hub basis, a certificate leg,
balancing cost, the term and the payment lag. :class:`ValuationRequest` says what to value it on
(base curves by as-of and as-at, a scenario run, or its ensemble), how to discount, and what to
do beyond the curve's horizon.

Every model is frozen, forbids unknown fields and refuses NaN/inf, so a typo fails when the
contract is saved: :func:`validate_terms` and :func:`validate_request` raise a 422
``spec_invalid`` naming the field (``spec.volume.pay_as_produced.capacity_mw``), never a
traceback.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aurum.errors import ValuationError
from aurum.scenarios.specs import spec_invalid

__all__ = [
    "Baseload",
    "Basis",
    "Certificates",
    "ContractTerms",
    "Curtailment",
    "CurveRef",
    "CurvesIn",
    "Discount",
    "EscalatingStrike",
    "FixedStrike",
    "IndexedStrike",
    "NegativePrices",
    "PayAsProduced",
    "Schedule",
    "ShapeIn",
    "Term",
    "ValuationRequest",
    "month_of",
    "validate_request",
    "validate_terms",
]  # fmt: skip

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
Month = Annotated[str, Field(pattern=_MONTH.pattern, description="A month, YYYY-MM.")]
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")]
HOURS_PER_YEAR = 8760
MAX_TERM_MONTHS = 40 * 12


def month_of(text: str) -> date:
    """``2027-01`` as the month's first day."""
    return date(int(text[:4]), int(text[5:7]), 1)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class CurveRef(_Frozen):
    """A curve by its identity: every field given must equal the curve's (ignoring case)."""

    vendor: Text
    curve_key: Text | None = None
    iso: Text | None = None
    region: Text | None = None
    location: Text | None = None
    market: Text | None = None
    product: Text | None = None
    block: Text | None = None

    def fields(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude={"curve_key"}).items() if v is not None}


class Hub(CurveRef):
    """The hub's power curves: one per block (PEAK/OFF_PEAK, ON_PEAK/2X16/7X8 …); ``blocks``
    are the disjoint blocks to shape (default: chosen from the blocks quoted for the identity;
    one of them may be missing when BASE/ATC is quoted: it is derived by hours)."""

    product: Text | None = "power"
    blocks: tuple[Text, ...] | None = Field(default=None, min_length=1, max_length=6)
    calendar: Text | None = Field(
        default=None, description="Calendar market (DE, GB, PJM …); default: the curve's."
    )

    def fields(self) -> dict[str, str]:
        return {k: v for k, v in super().fields().items() if k not in ("blocks", "calendar")}


class PayAsProduced(_Frozen):
    """Pay-as-produced: the plant's output, hour by hour."""

    type: Literal["pay_as_produced"]
    capacity_mw: float = Field(gt=0, le=100_000)
    month_hour: tuple[tuple[float, ...], ...] | None = Field(
        default=None, description="12 rows (Jan–Dec) of 24 values (HE01–HE24): MWh per MW."
    )
    hourly: tuple[float, ...] | None = Field(
        default=None, description="8760 values, MWh per MW, hour-ending order from 1 January "
        "(29 February repeats 28 February).",
    )  # fmt: skip
    degradation_pct: float = Field(default=0.0, ge=0, lt=100, description="% per contract year.")
    availability: float = Field(default=1.0, gt=0, le=1)
    energy_uncertainty_pct: float = Field(
        default=0.0, ge=0, lt=100, description="Standard deviation of annual energy, % of P50."
    )

    @model_validator(mode="after")
    def _one_profile(self) -> PayAsProduced:
        if (self.month_hour is None) == (self.hourly is None):
            raise ValueError("give a month_hour profile (12×24) or an hourly one (8760), not both")
        if self.month_hour is not None:
            if len(self.month_hour) != 12 or any(len(row) != 24 for row in self.month_hour):
                raise ValueError(
                    f"month_hour needs 12 rows of 24 values; it has {len(self.month_hour)} rows"
                    f" of {sorted({len(r) for r in self.month_hour})} values"
                )
            values = [v for row in self.month_hour for v in row]
        else:
            assert self.hourly is not None
            if len(self.hourly) != HOURS_PER_YEAR:
                raise ValueError(f"hourly needs {HOURS_PER_YEAR} values; it has {len(self.hourly)}")
            values = list(self.hourly)
        if min(values) < 0 or max(values) > 1.0:
            raise ValueError("profile values are MWh per MW in an hour: between 0 and 1")
        return self


class Baseload(_Frozen):
    type: Literal["baseload"]
    mw: float = Field(gt=0, le=100_000)


class Schedule(_Frozen):
    """A fixed schedule: MWh in each hour of a year (8760, as ``hourly`` above), every year."""

    type: Literal["schedule"]
    hourly: tuple[float, ...]

    @model_validator(mode="after")
    def _hours(self) -> Schedule:
        if len(self.hourly) != HOURS_PER_YEAR:
            raise ValueError(f"hourly needs {HOURS_PER_YEAR} values; it has {len(self.hourly)}")
        if min(self.hourly) < 0:
            raise ValueError("a schedule's MWh cannot be negative")
        return self


Volume = Annotated[PayAsProduced | Baseload | Schedule, Field(discriminator="type")]


class FixedStrike(_Frozen):
    type: Literal["fixed"]
    price: float = Field(ge=-10_000, le=10_000)


class EscalatingStrike(_Frozen):
    """``K_y = K_1·(1 + g)^(y − 1)`` in contract year ``y`` (from the term's first month)."""

    type: Literal["escalating"]
    price: float = Field(ge=-10_000, le=10_000)
    escalation_pct: float = Field(ge=-50, le=50)


class IndexedStrike(_Frozen):
    """``K_m = K·index_m / base``: the index's value by month; a month after the last value given
    keeps the last (and is flagged)."""

    type: Literal["indexed"]
    price: float = Field(ge=-10_000, le=10_000)
    base: float = Field(gt=0)
    index: dict[Month, Annotated[float, Field(gt=0)]] = Field(min_length=1, max_length=1200)


Strike = Annotated[FixedStrike | EscalatingStrike | IndexedStrike, Field(discriminator="type")]


class NegativePrices(_Frozen):
    """What a negative reference price does: ``none``; ``no_settlement`` (the hour settles
    nothing); ``floor_at_zero`` (the reference counts as 0); ``suspend_after`` (a run of at least
    ``hours`` consecutive negative hours settles nothing)."""

    rule: Literal["none", "no_settlement", "floor_at_zero", "suspend_after"] = "none"
    hours: int | None = Field(default=None, ge=1, le=744)

    @model_validator(mode="after")
    def _hours(self) -> NegativePrices:
        if (self.rule == "suspend_after") != (self.hours is not None):
            raise ValueError("suspend_after needs hours (and only it takes them)")
        return self


class Curtailment(_Frozen):
    """``economic_below``: the plant stops in hours whose node price is below it; ``contractual``
    and ``exogenous``: % of the energy lost (the buyer's instructions; the grid's)."""

    economic_below: float | None = Field(default=None, ge=-10_000, le=10_000)
    contractual_pct: float = Field(default=0.0, ge=0, lt=100)
    exogenous_pct: float = Field(default=0.0, ge=0, lt=100)


class Basis(_Frozen):
    """Node minus hub, in the hub curve's units: a fixed number or a monthly curve."""

    fixed: float | None = Field(default=None, ge=-10_000, le=10_000)
    curve: CurveRef | None = None

    @model_validator(mode="after")
    def _one(self) -> Basis:
        if (self.fixed is None) == (self.curve is None):
            raise ValueError("give the basis as fixed or as a curve, one of them")
        return self


class Certificates(_Frozen):
    """The certificate leg (REC, GoO): ``share`` of the energy earns certificates, priced on
    ``curve`` (a price per certificate = per MWh), transferred to the offtaker."""

    curve: CurveRef
    share: float = Field(default=1.0, gt=0, le=1)


class Term(_Frozen):
    start: Month
    end: Month

    @model_validator(mode="after")
    def _order(self) -> Term:
        first, last = month_of(self.start), month_of(self.end)
        if last < first:
            raise ValueError(f"the term ends ({self.end}) before it starts ({self.start})")
        months = (last.year - first.year) * 12 + last.month - first.month + 1
        if months > MAX_TERM_MONTHS:
            raise ValueError(f"a term of {months} months: at most {MAX_TERM_MONTHS}")
        return self


class ContractTerms(_Frozen):
    """A PPA's terms (see the module docstring)."""

    settlement: Literal["virtual", "physical"] = "virtual"
    hub: Hub
    volume: Volume
    strike: Strike
    currency: Text | None = Field(
        default=None, description="The strike's currency; default: the hub curve's."
    )
    floor: float | None = Field(default=None, ge=-10_000, le=10_000)
    cap: float | None = Field(default=None, ge=-10_000, le=10_000)
    negative_prices: NegativePrices = NegativePrices()
    curtailment: Curtailment = Curtailment()
    basis: Basis | None = None
    certificates: Certificates | None = None
    balancing_cost: float = Field(
        default=0.0, ge=0, le=1_000, description="Per MWh, borne by the generator."
    )
    term: Term
    payment_lag_days: int = Field(default=20, ge=0, le=366)
    volatility: float | None = Field(
        default=None, gt=0, le=10, description="Annual volatility for pricing the floor and cap."
    )

    @model_validator(mode="after")
    def _collar(self) -> ContractTerms:
        if self.floor is not None and self.cap is not None and self.floor > self.cap:
            raise ValueError(f"the floor {self.floor} is above the cap {self.cap}")
        return self


class Discount(_Frozen):
    """A flat annual effective ``rate``, or a ``curve`` of (years, zero rate) points."""

    rate: float | None = Field(default=None, gt=-1, le=1)
    curve: tuple[tuple[Annotated[float, Field(ge=0, le=100)],
                       Annotated[float, Field(gt=-1, le=1)]], ...] | None = Field(
        default=None, min_length=1, max_length=200,
    )  # fmt: skip

    @model_validator(mode="after")
    def _one(self) -> Discount:
        if (self.rate is None) == (self.curve is None):
            raise ValueError("give a flat rate or a curve of [years, rate] points, one of them")
        return self


class CurvesIn(_Frozen):
    """What to value on: the vendor's curves at ``asof`` (default: its newest day), as known at
    ``as_at`` (a time or a tag; default: now); or a ``scenario_run``'s curves, and with
    ``ensemble`` each of its paths."""

    asof: date | Literal["latest"] = "latest"
    as_at: Text | None = None
    scenario_run: Text | None = None
    ensemble: bool = False

    @model_validator(mode="after")
    def _run(self) -> CurvesIn:
        if self.ensemble and self.scenario_run is None:
            raise ValueError("an ensemble valuation needs the scenario_run whose paths it values")
        if self.scenario_run is not None and (self.as_at is not None or self.asof != "latest"):
            raise ValueError("a scenario run fixes its curves: give asof/as_at or scenario_run")
        return self


class ShapeIn(_Frozen):
    """Hour-of-day × day-type shape factors within each block (24 values per day type)."""

    weekday: tuple[float, ...] = Field(min_length=24, max_length=24)
    weekend: tuple[float, ...] = Field(min_length=24, max_length=24)
    mode: Literal["multiplicative", "additive"] = "multiplicative"


class ValuationRequest(_Frozen):
    """A valuation: a stored contract (``contract_id``, ``contract_version``) or inline
    ``terms``, on ``curves``, discounted by ``discount``."""

    contract_id: Text | None = None
    contract_version: int | None = Field(default=None, ge=1)
    terms: ContractTerms | None = None
    curves: CurvesIn = CurvesIn()
    discount: Discount
    valuation_date: date | None = Field(
        default=None, description="Default: the curves' as-of date."
    )
    extrapolate: Literal["flat", "escalate"] | None = None
    escalate_pct: float = Field(default=0.0, ge=-20, le=20)
    shape: ShapeIn | None = None
    fx_rates: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}[A-Z]{3}$")],
                   Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, max_length=20, description="e.g. {\"EURUSD\": 1.08}"
    )  # fmt: skip
    perspective: Literal["generator", "offtaker"] = "generator"
    upfront: float | None = Field(
        default=None, description="Paid at the valuation date by the side valued: gives an IRR."
    )
    volatility: float | None = Field(default=None, gt=0, le=10)
    seed: int = Field(default=20240601, ge=0, lt=2**63)

    @model_validator(mode="after")
    def _contract(self) -> ValuationRequest:
        if (self.contract_id is None) == (self.terms is None):
            raise ValueError("give a contract_id or inline terms, one of them")
        if self.contract_version is not None and self.contract_id is None:
            raise ValueError("contract_version needs a contract_id")
        return self


def validate_terms(value: Any) -> ContractTerms:
    """``value`` as contract terms, or a 422 ``spec_invalid`` naming the field."""
    try:
        return ContractTerms.model_validate(value)
    except ValidationError as exc:
        raise spec_invalid(exc, "spec", ValuationError) from None


def validate_request(value: Any) -> ValuationRequest:
    """``value`` as a valuation request, or a 422 ``spec_invalid`` naming the field."""
    try:
        return ValuationRequest.model_validate(value)
    except ValidationError as exc:
        raise spec_invalid(exc, "body", ValuationError) from None
