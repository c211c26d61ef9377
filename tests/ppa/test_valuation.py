"""A contract valued: NPV against an annuity worked out here from the stated conventions,
sensitivities, Black-76 options, the IRR as an annual effective rate, energy P-values, the
ensemble wiring, and bad terms refused with the field named."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from aurum.domain.ppa import black76, energy_exceedance
from aurum.errors import ValuationError
from aurum.ppa.engine import Book, term_months
from aurum.ppa.terms import ContractTerms, Discount, ShapeIn, validate_terms
from aurum.ppa.valuation import Inputs, valuate

HE = np.arange(1, 25)
SUN = [float(max(0.0, np.sin((he - 6) / 14 * np.pi))) for he in HE]
SOLAR = [[round(0.8 * s, 4) for s in SUN]] * 12
EVENING = ShapeIn(
    weekday=tuple(12.0 if 18 <= he <= 21 else -9.0 if he <= 5 else 0.0 for he in HE),
    weekend=tuple(-4.0 if he <= 7 else 2.0 for he in HE),
    mode="additive",
)
VALUED = date(2026, 9, 30)


def contract(**changes: object) -> ContractTerms:
    spec: dict[str, object] = {
        "hub": {"vendor": "EUGP", "location": "German"},
        "volume": {"type": "baseload", "mw": 25},
        "strike": {"type": "fixed", "price": 55},
        "term": {"start": "2027-01", "end": "2029-12"},
        "payment_lag_days": 20,
    }
    spec.update(changes)
    return validate_terms(spec)


def inputs(
    terms: ContractTerms, forwards: np.ndarray | float, *, market: str = "DE",
    blocks: tuple[str, ...] = ("PEAK", "OFF_PEAK"), shape: ShapeIn | None = None,
    rate: float = 0.045, valued: date = VALUED, **more: object,
) -> Inputs:  # fmt: skip
    book = Book(terms, market, term_months(terms), blocks, shape=shape)
    grid = np.broadcast_to(np.asarray(forwards, dtype=np.float64), (len(book.months), len(blocks)))
    return Inputs(book=book, forwards=grid.copy(), currency="EUR", valuation_date=valued,
                  discount=Discount(rate=rate), **more)  # fmt: skip


# -- the reference: flat curve, flat production, fixed strike --------------------------------


def clock_hours(zone: str, first: date) -> int:
    tz = ZoneInfo(zone)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    start = datetime(first.year, first.month, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(after.year, after.month, 1, tzinfo=tz).astimezone(UTC)
    return round((end - start).total_seconds() / 3600)


def annuity(zone: str, *, start: date, months: int, mw: float, strike: float, forward: float,
            rate: float, lag: int, valued: date) -> float:  # fmt: skip
    """Σ (K − F)·MW·hours · (1 + r)^−t, paid at month end + lag, t = days / 365."""
    npv = 0.0
    month = start
    for _ in range(months):
        following = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        paid = following - timedelta(days=1) + timedelta(days=lag)
        cash = (strike - forward) * mw * clock_hours(zone, month)
        npv += cash * (1 + rate) ** -((paid - valued).days / 365)
        month = following
    return npv


@pytest.mark.parametrize(
    ("market", "zone", "blocks"),
    [("DE", "Europe/Berlin", ("PEAK", "OFF_PEAK")),
     ("PJM", "America/New_York", ("ON_PEAK", "2X16", "7X8"))],
)  # fmt: skip
def test_flat_curve_flat_production_fixed_strike_npv_is_the_annuity(market, zone, blocks):
    terms = contract(payment_lag_days=23)
    result = valuate(inputs(terms, 61.5, market=market, blocks=blocks, rate=0.047))
    expected = annuity(zone, start=date(2027, 1, 1), months=36, mw=25, strike=55, forward=61.5,
                       rate=0.047, lag=23, valued=VALUED)  # fmt: skip
    assert result.summary["npv"] == pytest.approx(expected, rel=1e-12)
    assert result.summary["npv"] < 0  # the strike is below the forward: the generator pays
    assert result.monthly["hours"] == [clock_hours(zone, m) for m in term_months(terms)]
    assert result.summary["hours"] == sum(result.monthly["hours"]) == 3 * 8760 + 24  # 2028 leaps
    assert result.summary["energy_mwh"] == pytest.approx(25 * (3 * 8760 + 24), rel=1e-15)
    assert result.summary["capture_price"] == pytest.approx(61.5, rel=1e-12)
    assert result.summary["capture_rate"] == pytest.approx(1.0, rel=1e-12)
    offtaker = valuate(inputs(terms, 61.5, market=market, blocks=blocks, rate=0.047,
                              perspective="offtaker"))  # fmt: skip
    assert offtaker.summary["npv"] == pytest.approx(-expected, rel=1e-12)


# -- sensitivities ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [None, EVENING], ids=["flat", "additive"])
def test_linear_contract_delta_is_minus_expected_energy_discounted(shape):
    terms = contract(
        volume={"type": "pay_as_produced", "capacity_mw": 80, "month_hour": SOLAR,
                "degradation_pct": 0.5},
        strike={"type": "escalating", "price": 48, "escalation_pct": 2.5},
        balancing_cost=2.5, term={"start": "2027-03", "end": "2028-11"},
    )  # fmt: skip
    rng = np.random.default_rng(5)
    forwards = rng.uniform(40, 90, (21, 2))
    given = inputs(terms, forwards, shape=shape)
    result = valuate(given)
    factors = np.array(result.monthly["discount_factor"])
    energy = np.array(result.monthly["energy_mwh"])
    delta = np.array(result.monthly["delta"])
    assert np.allclose(delta, -energy * factors, rtol=1e-9)
    volume = given.book.block_volume()
    by_block = np.array([[row[b] for b in ("PEAK", "OFF_PEAK")]
                         for row in result.monthly["delta_by_block"]])  # fmt: skip
    assert np.allclose(by_block, -volume * factors[:, None], rtol=1e-9)
    assert result.summary["sensitivities"]["total"] == pytest.approx(delta.sum(), rel=1e-12)
    years = result.summary["sensitivities"]["by_calendar_year"]
    assert years["2027"] == pytest.approx(delta[:10].sum(), rel=1e-12)
    assert sum(result.summary["sensitivities"]["by_tenor"].values()) == pytest.approx(delta.sum())
    offtaker = valuate(inputs(terms, forwards, shape=shape, perspective="offtaker"))
    assert np.allclose(offtaker.monthly["delta"], energy * factors, rtol=1e-9)


# -- options ---------------------------------------------------------------------------------


def test_floor_and_cap_are_black76_on_each_block_for_a_one_month_contract():
    terms = contract(floor=35, cap=75, term={"start": "2027-07", "end": "2027-07"})
    forwards = np.array([[80.0, 50.0]])
    given = inputs(terms, forwards, volatility=0.45, volatility_source="contract")
    result = valuate(given)
    options = result.summary["options"]
    expiry = (date(2027, 7, 1) - VALUED).days / 365
    paid = (date(2027, 7, 31) + timedelta(days=20) - VALUED).days / 365
    factor = 1.045**-paid
    hours = {"PEAK": 22 * 12, "OFF_PEAK": 744 - 22 * 12}  # July 2027: 22 weekdays
    assert given.book.block_hours().tolist() == [[hours["PEAK"], hours["OFF_PEAK"]]]
    floor = cap = intrinsic = 0.0
    for forward, block in zip(forwards[0], ("PEAK", "OFF_PEAK"), strict=True):
        mwh = 25 * hours[block]
        floor += black76(forward, 35, rate=0.0, years=expiry, volatility=0.45)[1] * mwh * factor
        cap -= black76(forward, 75, rate=0.0, years=expiry, volatility=0.45)[0] * mwh * factor
        intrinsic += (max(35 - forward, 0) - max(forward - 75, 0)) * mwh * factor
    assert options["floor"] == pytest.approx(floor, rel=1e-12)
    assert options["cap"] == pytest.approx(cap, rel=1e-12)
    assert options["collar"] == pytest.approx(floor + cap, rel=1e-12)
    assert options["intrinsic"] == pytest.approx(intrinsic, rel=1e-12) and intrinsic < 0
    assert options["time_value"] == pytest.approx(floor + cap - intrinsic, rel=1e-12)
    assert (options["volatility"], options["volatility_source"]) == (0.45, "contract")
    assert floor > 0 > cap
    offtaker = valuate(inputs(terms, forwards, volatility=0.45, perspective="offtaker"))
    assert offtaker.summary["options"]["floor"] == pytest.approx(-floor, rel=1e-12)
    assert offtaker.summary["options"]["cap"] == pytest.approx(-cap, rel=1e-12)


def test_a_collar_without_a_volatility_is_refused():
    with pytest.raises(ValuationError) as caught:
        valuate(inputs(contract(cap=90), 60.0))
    assert caught.value.code == "volatility_missing"
    assert caught.value.http_status == 422
    assert valuate(inputs(contract(), 60.0)).summary["options"] is None  # no collar: no options


# -- IRR -------------------------------------------------------------------------------------


def test_irr_is_annual_effective_on_monthly_cashflows():
    terms = contract(strike={"type": "fixed", "price": 70})
    probe = valuate(inputs(terms, 52.0))
    cash = np.array(probe.monthly["cashflow"])
    paid = np.array([(d - VALUED).days / 365 for d in probe.monthly["payment_date"]])
    assert (cash > 0).all()
    upfront = float((cash * 1.08**-paid).sum())  # worth 8 % a year, annual effective
    result = valuate(inputs(terms, 52.0, upfront=upfront))
    found = result.summary["irr"]
    assert found == pytest.approx(0.08, abs=1e-9)
    assert float((cash * (1 + found) ** -paid).sum()) == pytest.approx(upfront, rel=1e-10)
    # the trap: the monthly rate of the same cashflows, times twelve, is a different number
    monthly = (1 + found) ** (1 / 12) - 1
    assert abs(12 * monthly - found) > 2e-3
    assert result.summary["upfront"] == upfront


# -- energy ----------------------------------------------------------------------------------


def test_energy_p90_of_a_200_gwh_plant_with_7_percent_uncertainty():
    flat = [[0.5] * 24] * 12
    terms = contract(
        volume={"type": "pay_as_produced", "capacity_mw": 200_000 / (0.5 * 8760),
                "month_hour": flat, "energy_uncertainty_pct": 7},
        term={"start": "2027-01", "end": "2027-12"},
    )  # fmt: skip
    energy = valuate(inputs(terms, 60.0)).summary["energy"]
    year = energy["by_calendar_year"]["2027"]
    assert year["p50_mwh"] == pytest.approx(200_000, rel=1e-12)
    assert round(year["p90_mwh"] / 1000, 3) == 182.058
    assert year["p99_mwh"] == pytest.approx(energy_exceedance(200_000, 0.07, 0.99), rel=1e-12)
    assert energy["uncertainty_pct"] == pytest.approx(7)


# -- ensembles -------------------------------------------------------------------------------


def test_paths_equal_to_the_forwards_value_as_the_forwards():
    terms = contract(
        volume={"type": "pay_as_produced", "capacity_mw": 60, "month_hour": SOLAR},
        floor=10, cap=80, negative_prices={"rule": "suspend_after", "hours": 2},
        term={"start": "2027-01", "end": "2028-12"},
    )  # fmt: skip
    rng = np.random.default_rng(9)
    forwards = rng.uniform(30, 95, (24, 2))  # some months above the cap
    paths = np.repeat(forwards[None], 5, axis=0)
    result = valuate(inputs(terms, forwards, shape=EVENING, paths=paths, volatility=0.3))
    ensemble = result.summary["ensemble"]
    assert ensemble["paths"] == 5 and ensemble["volume_draws"] is None
    assert np.allclose(ensemble["npv_paths"], result.summary["npv"], rtol=1e-12)
    assert ensemble["npv"]["std"] == pytest.approx(0.0, abs=1e-6)
    assert np.allclose(result.monthly["cashflow_p50"], result.monthly["cashflow"], rtol=1e-12)


def test_energy_draws_are_seeded_and_scale_the_paths():
    terms = contract(
        volume={"type": "pay_as_produced", "capacity_mw": 60, "month_hour": SOLAR,
                "energy_uncertainty_pct": 10},
        term={"start": "2027-01", "end": "2028-12"},
    )  # fmt: skip
    paths = np.full((400, 24, 2), 60.0)
    first = valuate(inputs(terms, 60.0, paths=paths, seed=3)).summary
    again = valuate(inputs(terms, 60.0, paths=paths, seed=3)).summary
    other = valuate(inputs(terms, 60.0, paths=paths, seed=4)).summary
    assert first["ensemble"]["npv_paths"] == again["ensemble"]["npv_paths"]
    assert first["ensemble"]["npv_paths"] != other["ensemble"]["npv_paths"]
    npvs = np.array(first["ensemble"]["npv_paths"])
    # linear in volume: the mean of 400 draws of 1 + 10 % · z is within 4 standard errors of 1
    assert npvs.mean() == pytest.approx(first["npv"], rel=4 * 0.1 / np.sqrt(400))
    assert npvs.std() / abs(first["npv"]) == pytest.approx(0.1 / np.sqrt(2), rel=0.2)


# -- bad input -------------------------------------------------------------------------------

BASE_SPEC = {
    "hub": {"vendor": "EUGP", "location": "German"},
    "volume": {"type": "baseload", "mw": 10},
    "strike": {"type": "fixed", "price": 50},
    "term": {"start": "2027-01", "end": "2027-12"},
}
BAD = [
    ("profile rows", {"volume": {"type": "pay_as_produced", "capacity_mw": 10,
                                 "month_hour": [[0.5] * 24] * 11}},
     "spec.volume.pay_as_produced", "month_hour needs 12 rows of 24 values"),
    ("profile hours", {"volume": {"type": "pay_as_produced", "capacity_mw": 10,
                                  "hourly": [0.5] * 8759}},
     "spec.volume.pay_as_produced", "hourly needs 8760 values; it has 8759"),
    ("schedule hours", {"volume": {"type": "schedule", "hourly": [1.0] * 8784}},
     "spec.volume.schedule", "hourly needs 8760 values; it has 8784"),
    ("negative capacity", {"volume": {"type": "pay_as_produced", "capacity_mw": -5,
                                      "month_hour": [[0.5] * 24] * 12}},
     "spec.volume.pay_as_produced.capacity_mw", "greater than 0"),
    ("floor above cap", {"floor": 100, "cap": 50}, "spec", "the floor 100.0 is above the cap 50.0"),
    ("suspend_after without hours", {"negative_prices": {"rule": "suspend_after"}},
     "spec.negative_prices", "suspend_after needs hours"),
    ("a typo", {"florr": 10}, "spec.florr", "Extra inputs are not permitted"),
    ("NaN strike", {"strike": {"type": "fixed", "price": float("nan")}},
     "spec.strike.fixed.price", "finite number"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field", "message"), [b[1:] for b in BAD],
                         ids=[b[0] for b in BAD])  # fmt: skip
def test_bad_terms_are_refused_naming_the_field(change, field, message):
    with pytest.raises(ValuationError) as caught:
        validate_terms({**BASE_SPEC, **change})
    error = caught.value
    assert (error.code, error.http_status) == ("spec_invalid", 422)
    assert error.diagnostics["field"] == field
    assert str(error) == f"{field}: {error.diagnostics['errors'][0]['message']}"
    assert message in str(error)
    assert error.diagnostics["errors"][0]["field"] == field
