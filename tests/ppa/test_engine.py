"""The valuation engine: shaped hours keep every block's monthly average across DST months of
several years in US and EU markets; negative-price clauses settle hour by hour as the domain
arithmetic says; the closed form equals the hour-by-hour valuation; which blocks are shaped."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from aurum.domain import calendar, ppa
from aurum.errors import ValuationError
from aurum.ppa.engine import BlockChoice, Book, choose_blocks, derive_block, term_months
from aurum.ppa.terms import ContractTerms, ShapeIn, validate_terms

HE = np.arange(1, 25)
SUN = [float(max(0.0, np.sin((he - 6) / 14 * np.pi))) for he in HE]
SOLAR = [[round(0.8 * s, 4) for s in SUN]] * 12  # MWh per MW, every month alike
MULTIPLICATIVE = ShapeIn(weekday=tuple(0.6 + 0.9 * s for s in SUN),
                         weekend=tuple(0.5 + 0.4 * s for s in SUN))  # fmt: skip
# Additive (an offset on the block's forward): nights deeply negative (runs of 6 to 8 hours at
# low forwards), one lone negative hour at midday, evenings dear
ADDITIVE = ShapeIn(
    weekday=tuple(-60.0 if he <= 6 else -80.0 if he == 14 else 30.0 if 18 <= he <= 21 else 0.0
                  for he in HE),
    weekend=tuple(-70.0 if he <= 8 else -90.0 if he == 13 else 10.0 if 18 <= he <= 21 else -5.0
                  for he in HE),
    mode="additive",
)  # fmt: skip
SHAPES = {"flat": None, "multiplicative": MULTIPLICATIVE, "additive": ADDITIVE}
ZONES = {"DE": "Europe/Berlin", "GB": "Europe/London", "PJM": "America/New_York",
         "ERCOT": "America/Chicago"}  # fmt: skip
LAYOUTS = [
    ("PJM", ("ON_PEAK", "2X16", "7X8"), (3, 11)),
    ("PJM", ("ON_PEAK", "OFF_PEAK"), (3, 11)),
    ("ERCOT", ("ON_PEAK", "OFF_PEAK"), (3, 11)),
    ("DE", ("PEAK", "OFF_PEAK"), (3, 10)),
    ("GB", ("PEAK", "OFF_PEAK"), (3, 10)),
]


def contract(**changes: object) -> ContractTerms:
    spec: dict[str, object] = {
        "hub": {"vendor": "EUGP", "location": "German"},
        "volume": {"type": "pay_as_produced", "capacity_mw": 40, "month_hour": SOLAR},
        "strike": {"type": "escalating", "price": 52, "escalation_pct": 3},
        "term": {"start": "2027-01", "end": "2027-12"},
    }
    spec.update(changes)
    return validate_terms(spec)


def clock_hours(zone: str, year: int, month: int) -> int:
    """A month's length in hours by the wall clock of ``zone`` (instants, not wall times)."""
    tz = ZoneInfo(zone)
    start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz).astimezone(UTC)
    return round((end - start).total_seconds() / 3600)


def block_means(book: Book, hourly: np.ndarray) -> np.ndarray:
    """Average of one path's hourly prices per (month, block), grouped from the book's labels."""
    months, blocks = len(book.months), len(book.blocks)
    group = book.month_of_hour.astype(np.int64) * blocks + book.block_of_hour
    sums = np.bincount(group, weights=hourly, minlength=months * blocks)
    counts = np.bincount(group, minlength=months * blocks)
    return (sums / counts).reshape(months, blocks)


@pytest.mark.parametrize(("market", "blocks", "dst"), LAYOUTS,
                         ids=[f"{m}-{'+'.join(b)}" for m, b, _ in LAYOUTS])  # fmt: skip
@pytest.mark.parametrize("year", [2027, 2031, 2036])
@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_each_block_keeps_its_monthly_average_across_dst(market, blocks, dst, year, shape):
    months = [date(year, dst[0], 1), date(year, 6, 1), date(year, dst[1], 1)]
    book = Book(contract(), market, months, blocks, shape=SHAPES[shape])
    rng = np.random.default_rng([year, len(blocks)])
    forwards = rng.uniform(20, 120, (1, len(months), len(blocks)))
    hourly = book.hub_prices(forwards)
    assert hourly.shape == (1, book.hours)
    means = block_means(book, hourly[0])
    assert np.isclose(means, forwards[0], rtol=1e-12, atol=0).all(), means - forwards[0]
    for i, month in enumerate(months):
        in_month = book.month_of_hour == i
        assert in_month.sum() == clock_hours(ZONES[market], year, month.month)
        for j, block in enumerate(blocks):
            hours = int((in_month & (book.block_of_hour == j)).sum())
            assert hours == calendar.block_hours(market, block, year, month.month)
    if shape != "flat":  # the hours really are shaped, not flat at the forward
        assert hourly.std() > 5


@pytest.mark.parametrize(
    ("market", "blocks", "months", "expected"),
    [
        ("DE", ("PEAK", "OFF_PEAK"), (3, 10), [743, 745]),
        ("GB", ("PEAK", "OFF_PEAK"), (3, 10), [743, 745]),
        ("PJM", ("ON_PEAK", "2X16", "7X8"), (3, 11), [743, 721]),
        ("ERCOT", ("ON_PEAK", "OFF_PEAK"), (3, 11), [743, 721]),
    ],
)
@pytest.mark.parametrize("year", [2027, 2031, 2036])
def test_dst_months_have_743_and_745_or_721_hours(market, blocks, months, expected, year):
    book = Book(contract(), market, [date(year, m, 1) for m in months], blocks)
    assert book.hours_per_month().tolist() == expected
    assert book.hours == sum(expected)
    assert book.block_hours().sum(axis=1).tolist() == expected


def test_term_months_cross_the_year_and_contract_years_count_from_the_start():
    terms = contract(term={"start": "2027-11", "end": "2029-02"})
    months = term_months(terms)
    assert (months[0], months[1], months[2], months[-1]) == (
        date(2027, 11, 1), date(2027, 12, 1), date(2028, 1, 1), date(2029, 2, 1),
    )  # fmt: skip
    assert len(months) == 16
    book = Book(terms, "DE", months, ("PEAK", "OFF_PEAK"))
    assert book.contract_year.tolist() == [1] * 12 + [2] * 4
    strike, notes = book.strikes()
    assert np.isclose(strike, 52 * 1.03 ** (book.contract_year - 1), rtol=1e-15).all()
    assert notes == []


# -- negative prices on an additive shape ---------------------------------------------------


def suspended_by_loop(prices: np.ndarray, hours: int) -> np.ndarray:
    """Which hours a run of at least ``hours`` negative prices suspends, one hour at a time."""
    out = np.zeros(len(prices), dtype=bool)
    start = None
    for i, price in enumerate([*prices.tolist(), 0.0]):
        if price < 0 and start is None:
            start = i
        elif price >= 0 and start is not None:
            if i - start >= hours:
                out[start:i] = True
            start = None
    return out


CLAUSES = [
    {"rule": "none"},
    {"rule": "floor_at_zero"},
    {"rule": "no_settlement"},
    {"rule": "suspend_after", "hours": 3},
    {"rule": "suspend_after", "hours": 7},
]


@pytest.mark.parametrize("clause", CLAUSES, ids=[f"{c['rule']}{c.get('hours', '')}"
                                                 for c in CLAUSES])  # fmt: skip
def test_negative_price_clauses_settle_hour_by_hour_on_an_additive_shape(clause):
    terms = contract(
        negative_prices=clause,
        volume={"type": "baseload", "mw": 12},  # every hour produces, negative ones too
        term={"start": "2027-03", "end": "2027-05"},
    )
    book = Book(terms, "DE", term_months(terms), ("PEAK", "OFF_PEAK"), shape=ADDITIVE)
    forwards = np.array([[[70.0, 38.0], [55.0, 30.0], [62.0, 52.0]]])
    strike, _ = book.strikes()
    hub = book.hub_prices(forwards)[0]
    runs = ppa.negative_runs(hub)
    assert (runs >= 7).any() and ((runs > 0) & (runs < 3)).any()  # long and short runs
    rule, hours = clause["rule"], clause.get("hours")
    expected = np.bincount(
        book.month_of_hour,
        weights=ppa.settlement(hub, book.volume, strike[book.month_of_hour], negative=rule,
                               suspend_after=hours),
    )  # fmt: skip
    sums = book.value(forwards, strike=strike)
    assert np.isclose(sums.settlement[0], expected, rtol=1e-12).all()
    # and independently of the domain module, from the stated rules
    reference = np.maximum(hub, 0.0) if rule == "floor_at_zero" else hub
    paid = (strike[book.month_of_hour] - reference) * book.volume
    if rule == "no_settlement":
        paid[hub < 0] = 0.0
    if rule == "suspend_after":
        paid[suspended_by_loop(hub, hours)] = 0.0
    by_loop = np.bincount(book.month_of_hour, weights=paid)
    assert np.isclose(sums.settlement[0], by_loop, rtol=1e-12).all()
    settling = np.bincount(book.month_of_hour, weights=book.volume * (paid != 0))
    assert np.isclose(sums.settled_energy[0], settling, rtol=1e-12).all()
    assert sums.negative_hours[0].tolist() == np.bincount(book.month_of_hour, hub < 0).tolist()
    assert np.isclose(sums.hub_sum[0], np.bincount(book.month_of_hour, weights=hub)).all()


def test_the_clauses_change_the_settlement_on_negative_hours():
    """The test above would pass for a clause the engine ignored if no hour were negative."""
    found = {}
    for clause in CLAUSES:
        terms = contract(negative_prices=clause, volume={"type": "baseload", "mw": 12},
                         term={"start": "2027-04", "end": "2027-04"})  # fmt: skip
        book = Book(terms, "DE", term_months(terms), ("PEAK", "OFF_PEAK"), shape=ADDITIVE)
        strike, _ = book.strikes()
        found[str(clause)] = book.value(np.array([[[55.0, 30.0]]]), strike=strike).settlement[0, 0]
    assert len({round(v, 6) for v in found.values()}) == len(CLAUSES)


# -- closed form against hour by hour ---------------------------------------------------------

PATH_CASES = {
    "collar, multiplicative": ({"floor": 40, "cap": 200}, MULTIPLICATIVE),
    "suspend_after, additive": ({"negative_prices": {"rule": "suspend_after", "hours": 3}},
                                ADDITIVE),
    "no_settlement + collar, additive": (
        {"negative_prices": {"rule": "no_settlement"}, "floor": -20, "cap": 160}, ADDITIVE),
    "floor_at_zero, additive": ({"negative_prices": {"rule": "floor_at_zero"}}, ADDITIVE),
    "economic curtailment, additive": ({"curtailment": {"economic_below": 5.0,
                                                        "exogenous_pct": 3}}, ADDITIVE),
    "physical, basis, collar, flat": (
        {"settlement": "physical", "basis": {"fixed": -6.0}, "floor": 25, "cap": 130}, None),
    "physical, basis, negative, additive": (
        {"settlement": "physical", "basis": {"fixed": -6.0},
         "negative_prices": {"rule": "no_settlement"}}, ADDITIVE),
    "baseload, cap, flat": ({"volume": {"type": "baseload", "mw": 7}, "cap": 130}, None),
}  # fmt: skip


def outside(book: Book, forwards: np.ndarray, basis: np.ndarray | None) -> np.ndarray:
    """Paths with some hour where a clause, the collar or curtailment acts (from hourly prices)."""
    terms = book.terms
    hub = book.hub_prices(forwards)
    node = hub + (0.0 if basis is None else basis[book.month_of_hour])
    reference = hub if terms.settlement == "virtual" else node
    acts = np.zeros(hub.shape, dtype=bool)
    if terms.negative_prices.rule != "none":
        acts |= reference < 0
    if terms.floor is not None:
        acts |= reference < terms.floor
    if terms.cap is not None:
        acts |= reference > terms.cap
    if terms.curtailment.economic_below is not None:
        acts |= node < terms.curtailment.economic_below
    return acts.any(axis=1)


@pytest.mark.parametrize("case", list(PATH_CASES))
@pytest.mark.parametrize("draws", [False, True], ids=["expected volume", "volume draws"])
def test_closed_form_equals_hour_by_hour(case, draws):
    changes, shape = PATH_CASES[case]
    terms = contract(term={"start": "2027-01", "end": "2028-12"}, **changes)
    months = term_months(terms)[10:14]  # the months left to value: contract years 1 and 2
    book = Book(terms, "DE", months, ("PEAK", "OFF_PEAK"), shape=shape)
    assert book.contract_year.tolist() == [1, 1, 2, 2]
    strike, _ = book.strikes()
    rng = np.random.default_rng(sorted(PATH_CASES).index(case))
    base = np.array([[95.0, 75.0]] * len(months))
    paths = base * np.exp(rng.normal(0, 0.08, (24, len(months), 1))
                          + rng.normal(0, 0.02, (24, len(months), 2)))  # fmt: skip
    paths[-8:] *= np.linspace(0.2, 2.2, 8)[:, None, None]  # some cheap, some dear
    paths[-2] -= 80.0  # negative forwards
    basis = np.full(len(months), -6.0) if terms.basis is not None else None
    factors = np.maximum(1 + 0.3 * rng.standard_normal((24, 2)), 0.0) if draws else None
    hit = outside(book, paths, basis)
    assert 0 < hit.sum() < len(paths), "both the closed form and the hourly branch must run"
    energy, settlement = book.value_paths(paths, basis=basis, strike=strike,
                                          volume_factors=factors, chunk=5)  # fmt: skip
    hourly = book.value(paths, basis=basis, strike=strike, volume_factors=factors, chunk=7)
    scale = np.abs(hourly.settlement).max()
    assert np.allclose(settlement, hourly.settlement, rtol=1e-12, atol=1e-12 * scale)
    assert np.allclose(energy, hourly.energy, rtol=1e-12, atol=1e-9)
    # the clear paths settle linearly, (K − P_ref)·Q; some paths that hit a clause do not
    reference = book.hub_prices(paths)
    if terms.settlement == "physical":
        reference = reference + basis[book.month_of_hour]
    years = book.contract_year[book.month_of_hour] - 1
    volume = book.volume * (1.0 if factors is None else factors[:, years])
    linear = np.add.reduceat((strike[book.month_of_hour] - reference) * volume, book.starts, axis=1)
    assert np.allclose(linear[~hit], settlement[~hit], rtol=1e-12, atol=1e-12 * scale)
    assert not np.allclose(linear[hit], settlement[hit], rtol=1e-6)


def test_volume_draws_scale_each_contract_year():
    terms = contract(term={"start": "2027-11", "end": "2028-02"})
    book = Book(terms, "DE", term_months(terms), ("PEAK", "OFF_PEAK"))
    strike, _ = book.strikes()
    paths = np.array([[[70.0, 50.0]] * 4] * 2)
    draws = np.array([[1.0, 1.0], [0.5, 2.0]])
    energy, settlement = book.value_paths(paths, strike=strike, volume_factors=draws)
    assert np.allclose(energy[1], energy[0] * [0.5, 0.5, 0.5, 0.5], rtol=1e-15)  # one year
    terms = contract(term={"start": "2027-11", "end": "2028-12"})
    book = Book(terms, "DE", term_months(terms), ("PEAK", "OFF_PEAK"))
    strike, _ = book.strikes()
    paths = np.full((2, 14, 2), 60.0)
    energy, settlement = book.value_paths(paths, strike=strike, volume_factors=draws)
    assert np.allclose(energy[1], energy[0] * np.repeat([0.5, 2.0], [12, 2]), rtol=1e-15)
    assert np.allclose(settlement[1], settlement[0] * np.repeat([0.5, 2.0], [12, 2]))


# -- which blocks are shaped ------------------------------------------------------------------


def test_a_quoted_partition_is_shaped_and_the_whole_day_block_is_a_residual():
    pjm = calendar.markets()["PJM"]
    assert choose_blocks(pjm, ["ON_PEAK", "OFF_PEAK", "ATC"]) == BlockChoice(
        ("ON_PEAK", "OFF_PEAK"), None, ("7X24",)
    )
    assert choose_blocks(pjm, ["Peak", "2x16", "7X8", "OFF_PEAK"]) == BlockChoice(
        ("ON_PEAK", "2X16", "7X8"), None, ("OFF_PEAK",)
    )  # finest first; aliases resolve
    de = calendar.markets()["DE"]
    assert choose_blocks(de, ["BASE", "PEAK", "OFF_PEAK"]) == BlockChoice(
        ("PEAK", "OFF_PEAK"), None, ("BASE",)
    )


def test_a_block_set_that_misses_hours_is_refused():
    with pytest.raises(ValuationError) as caught:
        choose_blocks(calendar.markets()["PJM"], ["ON_PEAK"])
    assert caught.value.code == "blocks_incomplete"
    assert caught.value.diagnostics == {"quoted": ["ON_PEAK"]}
    assert caught.value.http_status == 422
    with pytest.raises(ValuationError, match="no block") as caught:
        choose_blocks(calendar.markets()["DE"], ["NOT_A_BLOCK"])
    assert caught.value.code == "blocks_incomplete"


@pytest.mark.parametrize(
    ("market", "quoted", "expected"),
    [
        ("DE", ["BASE", "PEAK"], BlockChoice(("PEAK", "OFF_PEAK"), "OFF_PEAK", ())),
        ("GB", ["baseload", "Peakload"], BlockChoice(("PEAK", "OFF_PEAK"), "OFF_PEAK", ())),
        ("PJM", ["ON_PEAK", "ATC"], BlockChoice(("ON_PEAK", "OFF_PEAK"), "OFF_PEAK", ())),
        ("PJM", ["ON_PEAK", "2X16", "ATC"],
         BlockChoice(("ON_PEAK", "2X16", "7X8"), "7X8", ())),
    ],
)  # fmt: skip
def test_base_and_peak_shape_peak_and_a_derived_off_peak(market, quoted, expected):
    assert choose_blocks(calendar.markets()[market], quoted) == expected


@pytest.mark.parametrize(
    ("market", "whole", "known", "derived"),
    [("DE", "BASE", "PEAK", "OFF_PEAK"), ("GB", "BASE", "PEAK", "OFF_PEAK"),
     ("PJM", "7X24", "ON_PEAK", "OFF_PEAK")],
)  # fmt: skip
def test_a_derived_block_reproduces_the_whole_day_quote(market, whole, known, derived):
    months = [date(y, m, 1) for y in (2027, 2031, 2036) for m in (3, 10, 11)]
    rng = np.random.default_rng(len(market))
    quoted = {whole: rng.uniform(40, 80, len(months))}
    quoted[known] = quoted[whole] * rng.uniform(1.05, 1.4, len(months))
    choice = BlockChoice((known, derived), derived, ())
    off = derive_block(market, months, choice, quoted)
    for i, month in enumerate(months):
        hours = {b: calendar.block_hours(market, b, month.year, month.month)
                 for b in (whole, known, derived)}  # fmt: skip
        assert hours[known] + hours[derived] == hours[whole]
        weighted = (quoted[known][i] * hours[known] + off[i] * hours[derived]) / hours[whole]
        assert np.isclose(weighted, quoted[whole][i], rtol=1e-12, atol=0)
    # and the shaped hours of the month average to the whole-day quote
    forwards = np.stack([quoted[known], off], axis=1)[None]
    for shape in (None, MULTIPLICATIVE, ADDITIVE):
        book = Book(contract(), market, months, (known, derived), shape=shape)
        hourly = book.hub_prices(forwards)[0]
        base = np.bincount(book.month_of_hour, weights=hourly) / book.hours_per_month()
        assert np.isclose(base, quoted[whole], rtol=1e-12, atol=0).all()
