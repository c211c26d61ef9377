from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aurum.domain.strips import (
    MAX_STRIP_MONTHS,
    Strip,
    StripKind,
    balance,
    custom_strip,
    month_weight,
    price_strip,
    season_convention,
    strips_between,
    weighted_mean,
    weighting_for,
)
from aurum.domain.tenors import add_months, classify_tenor


def spans(strips):
    return [(s.label, s.start, s.end) for s in strips]


def test_strip_kinds():
    assert [k.value for k in StripKind] == ["calendar", "quarter", "season", "custom"]


def test_a_strip_lists_its_months_and_checks_its_ends():
    winter = Strip(StripKind.SEASON, "Winter 2026", date(2025, 11, 1), date(2026, 3, 1))
    assert winter.months == tuple(date(y, m, 1) for y, m in [(2025, 11), (2025, 12)]) + tuple(
        date(2026, m, 1) for m in (1, 2, 3)
    )
    with pytest.raises(ValueError, match="first days"):
        Strip(StripKind.CUSTOM, "x", date(2026, 1, 2), date(2026, 3, 1))
    with pytest.raises(ValueError, match="before it starts"):
        Strip(StripKind.CUSTOM, "x", date(2026, 3, 1), date(2026, 1, 1))


def test_calendar_strips():
    assert spans(strips_between(date(2025, 11, 20), date(2027, 2, 1), ["calendar"], "us")) == [
        ("Calendar 2025", date(2025, 1, 1), date(2025, 12, 1)),
        ("Calendar 2026", date(2026, 1, 1), date(2026, 12, 1)),
        ("Calendar 2027", date(2027, 1, 1), date(2027, 12, 1)),
    ]


def test_quarter_strips():
    assert spans(strips_between(date(2026, 3, 1), date(2026, 7, 1), [StripKind.QUARTER], "us")) == [
        ("Q1 2026", date(2026, 1, 1), date(2026, 3, 1)),
        ("Q2 2026", date(2026, 4, 1), date(2026, 6, 1)),
        ("Q3 2026", date(2026, 7, 1), date(2026, 9, 1)),
    ]


def test_us_seasons_are_the_vendor_seasons():
    assert spans(strips_between(date(2026, 1, 1), date(2026, 12, 1), ["season"], "us")) == [
        ("Winter 2026", date(2025, 11, 1), date(2026, 3, 1)),
        ("Summer 2026", date(2026, 4, 1), date(2026, 10, 1)),
        ("Winter 2027", date(2026, 11, 1), date(2027, 3, 1)),
    ]


def test_eu_gas_seasons_follow_the_gas_year():
    assert spans(strips_between(date(2026, 1, 1), date(2026, 12, 1), ["season"], "eu_gas")) == [
        ("Winter 2025", date(2025, 10, 1), date(2026, 3, 1)),
        ("Summer 2026", date(2026, 4, 1), date(2026, 9, 1)),
        ("Winter 2026", date(2026, 10, 1), date(2027, 3, 1)),
    ]


def test_kinds_come_in_the_order_asked_and_once():
    strips = strips_between(
        date(2026, 4, 1), date(2026, 5, 1), ["season", "calendar", "quarter", "season"], "us"
    )
    assert [s.label for s in strips] == ["Summer 2026", "Calendar 2026", "Q2 2026"]


@pytest.mark.parametrize(
    ("kinds", "convention", "needle"),
    [
        (["custom"], "us", "custom_strip"),
        (["season"], "eu", "season convention"),
        (["month"], "us", "'month' is not a valid StripKind"),
    ],
)
def test_bad_requests(kinds, convention, needle):
    with pytest.raises(ValueError, match=needle):
        strips_between(date(2026, 1, 1), date(2026, 2, 1), kinds, convention)


def test_an_empty_range_is_an_error():
    with pytest.raises(ValueError, match="before first month"):
        strips_between(date(2026, 2, 1), date(2026, 1, 31), ["calendar"], "us")


@given(
    start=st.dates(date(2000, 1, 1), date(2060, 12, 31)),
    length=st.integers(0, 60),
    convention=st.sampled_from(["us", "eu_gas"]),
)
def test_each_month_is_in_exactly_one_strip_of_each_kind(start, length, convention):
    first = date(start.year, start.month, 1)
    last = add_months(first, length)
    for kind in ("calendar", "quarter", "season"):
        strips = strips_between(first, last, [kind], convention)
        covered = [m for s in strips for m in s.months]
        assert len(covered) == len(set(covered))
        assert {add_months(first, n) for n in range(length + 1)} <= set(covered)
        assert all(s.start <= last and s.end >= first for s in strips)
        if convention == "us" or kind != "season":
            for s in strips:
                tenor = classify_tenor(s.label, first)
                assert (tenor.start, tenor.end) == (s.start, s.end)


def test_custom_strip():
    strip = custom_strip(date(2026, 1, 1), date(2026, 3, 31))
    assert (strip.kind, strip.label, strip.start, strip.end) == (
        StripKind.CUSTOM,
        "2026-01..2026-03",
        date(2026, 1, 1),
        date(2026, 3, 1),
    )
    assert len(custom_strip(date(2026, 1, 1), date(2045, 12, 1)).months) == MAX_STRIP_MONTHS == 240
    with pytest.raises(ValueError, match="241 months"):
        custom_strip(date(2026, 1, 1), date(2046, 1, 1))
    with pytest.raises(ValueError, match="ends 2025-12 before it starts 2026-01"):
        custom_strip(date(2026, 1, 1), date(2025, 12, 1))


@pytest.mark.parametrize(
    ("identity", "convention"),
    [
        ({"asset_class": "gas", "region": "EU", "location": "Dutch_TTF", "block": None}, "eu_gas"),
        ({"asset_class": "gas", "region": "UK", "location": "NBP"}, "eu_gas"),
        ({"asset_class": "Gas", "region": "ee", "location": "Czech"}, "eu_gas"),
        ({"asset_class": "gas", "region": "US", "location": "Henry Hub"}, "us"),
        ({"asset_class": "power", "region": "EU", "location": "German", "block": "BASE"}, "us"),
        ({"asset_class": "power", "iso": "PJM", "location": "West"}, "us"),
        ({"asset_class": "emissions", "region": "EU", "location": "EUA"}, "us"),
    ],
)
def test_season_convention(identity, convention):
    assert season_convention(identity) == convention


@pytest.mark.parametrize(
    ("identity", "weighting"),
    [
        ({"asset_class": "power", "location": "German", "block": "PEAK"}, "hours"),
        ({"asset_class": "POWER", "iso": "PJM", "block": "ON_PEAK"}, "hours"),
        ({"asset_class": "power", "product": "spark_spread", "spark_location": "NBP"}, "hours"),
        ({"asset_class": "gas", "region": "EU", "location": "Dutch_TTF"}, "days"),
        ({"asset_class": "emissions", "location": "EUA"}, "simple"),
        ({"asset_class": "refined_products", "location": "Gulf Coast"}, "simple"),
        ({}, "simple"),
    ],
)
def test_weighting_for(identity, weighting):
    assert weighting_for(identity) == weighting


# --- prices: the weighted mean of a strip's months ------------------------------------------

Q1_2026 = Strip(StripKind.QUARTER, "Q1 2026", date(2026, 1, 1), date(2026, 3, 1))
# Monthly PJM on-peak mids chosen to reproduce DESIGN.md's example (67.94 vs 68.33).
PJM_PEAK_Q1 = {date(2026, 1, 1): 80.0, date(2026, 2, 1): 74.89, date(2026, 3, 1): 50.11}


def test_pjm_q1_26_peak_is_hour_weighted_not_a_simple_mean():
    hours = [month_weight("hours", m, "PJM", "ON_PEAK") for m in Q1_2026.months]
    assert hours == [336, 320, 352]  # 21, 20 and 22 on-peak weekdays x 16 (1 Jan is a holiday)
    weighted = price_strip(Q1_2026, date(2025, 9, 12), PJM_PEAK_Q1, "hours",
                           market="PJM", block="ON_PEAK")  # fmt: skip
    simple = price_strip(Q1_2026, date(2025, 9, 12), PJM_PEAK_Q1, "simple")
    assert weighted is not None and simple is not None
    assert round(weighted.value, 2) == 67.94
    assert round(simple.value, 2) == 68.33
    expected = (80.0 * 336 + 74.89 * 320 + 50.11 * 352) / 1008
    assert weighted.value == pytest.approx(expected, rel=1e-15)
    assert weighted.complete and weighted.months_present == weighted.months_expected == 3


def test_gas_is_day_weighted():
    mids = {date(2028, 1, 1): 10.0, date(2028, 2, 1): 20.0}  # 31 and 29 days (leap year)
    strip = custom_strip(date(2028, 1, 1), date(2028, 2, 1))
    got = price_strip(strip, date(2027, 12, 1), mids, "days")
    assert got is not None and got.value == pytest.approx((310 + 580) / 60)


def test_a_strip_counts_the_months_it_lacks_from_the_asof_month_on():
    mids = {date(2026, 2, 1): 70.0, date(2026, 3, 1): 60.0}
    started = price_strip(Q1_2026, date(2026, 2, 10), mids, "simple")  # January delivered
    assert started is not None and started.complete and started.months_expected == 2
    gap = price_strip(Q1_2026, date(2025, 9, 12), mids, "simple")
    assert (
        gap is not None
        and not gap.complete
        and (gap.months_present, gap.months_expected)
        == (
            2,
            3,
        )
    )
    assert price_strip(Q1_2026, date(2025, 9, 12), {date(2026, 4, 1): 1.0}, "simple") is None


def test_weights_refuse_what_they_cannot_weigh():
    with pytest.raises(ValueError, match="market and block"):
        month_weight("hours", date(2026, 1, 1))
    with pytest.raises(ValueError, match="weighting must be"):
        month_weight("volume", date(2026, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="2 values but 1 weights"):
        weighted_mean([1.0, 2.0], [1])
    with pytest.raises(ValueError, match="positive total weight"):
        weighted_mean([], [])


@given(
    st.lists(
        st.tuples(st.floats(-500, 500, allow_nan=False), st.integers(1, 745)),
        min_size=1,
        max_size=24,
    )
)
def test_a_weighted_mean_lies_between_its_values(pairs):
    values, weights = zip(*pairs, strict=True)
    mean = weighted_mean(values, weights)
    assert min(values) - 1e-9 <= mean <= max(values) + 1e-9


def test_a_first_month_with_nothing_left_in_its_block_is_not_expected():
    """As-of Friday 2025-05-30 with the rest of May: only Saturday the 31st is left, which
    has no peak hours (the strip is complete without May) but 24 base hours."""
    cal = Strip(StripKind.CALENDAR, "Calendar 2025", date(2025, 1, 1), date(2025, 12, 1))
    asof = date(2025, 5, 30)
    rest = balance(cal, asof, include_current_month=True)
    assert rest is not None and rest.first_day == date(2025, 5, 31)
    mids = {date(2025, m, 1): 50.0 + m for m in range(5, 13)}
    peak = price_strip(rest, asof, mids, "hours", market="DE", block="PEAK")
    base = price_strip(rest, asof, mids, "hours", market="DE", block="BASE")
    assert peak is not None and base is not None
    assert (peak.months_present, peak.months_expected, peak.complete) == (7, 7, True)
    assert (base.months_present, base.months_expected, base.complete) == (8, 8, True)
