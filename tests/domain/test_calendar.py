import calendar
import tomllib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aurum.domain import calendar as cal
from aurum.domain.calendar import (
    block_hours,
    hour_endings,
    in_block,
    market_for,
    markets,
    month_days,
    nerc_holidays,
)

US = ("PJM", "NYISO", "ISONE", "MISO", "SPP", "ERCOT")
EU = (
    "DE", "AT", "BE", "FR", "IT", "NL", "NORDIC", "ES", "CH", "GB",
    "HU", "RO", "BG", "PL", "SI", "CZ", "SK", "RS", "GR", "DE_AT",
)  # fmt: skip
MONTHS_2024_2027 = [(y, m) for y in range(2024, 2028) for m in range(1, 13)]


def weekdays(year, month, days=range(5)):
    return sum(
        1 for d in range(1, month_days(year, month) + 1) if date(year, month, d).weekday() in days
    )


def test_markets_table():
    table = {code: (m.timezone, m.holidays) for code, m in markets().items()}
    eastern = ("PJM", "NYISO", "ISONE", "MISO")  # MISO: its contracts' clock (EPT)
    assert {code: table[code] for code in eastern} == dict.fromkeys(
        eastern, ("America/New_York", "nerc")
    )
    for code in ("SPP", "ERCOT"):
        assert table[code] == ("America/Chicago", "nerc")
    assert table["CAISO"] == table["WECC"] == ("America/Los_Angeles", "nerc")
    assert {code: table[code][1] for code in EU} == dict.fromkeys(EU, "none")
    assert (table["GB"][0], table["GR"][0], table["RO"][0], table["BG"][0], table["DE_AT"][0]) == (
        "Europe/London",
        "Europe/Athens",
        "Europe/Bucharest",
        "Europe/Sofia",
        "Europe/Berlin",
    )
    assert len(table) == 28


@pytest.mark.parametrize(("month", "hours"), [(1, 744), (3, 743), (10, 745), (2, 672)])
def test_german_base_follows_dst(month, hours):
    assert block_hours("DE", "BASE", 2026, month) == hours


def test_gb_base_uses_london_dst():
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    assert hour_endings("GB", "BASE", spring) == (1, *range(3, 25))
    assert hour_endings("DE", "BASE", spring) == (1, 2, *range(4, 25))
    assert hour_endings("GB", "BASE", autumn) == (1, 2, 2, *range(3, 25))
    assert [block_hours("GB", "BASE", 2026, m) for m in (3, 4, 10)] == [743, 720, 745]


@pytest.mark.parametrize("market", EU)
def test_every_eu_market_has_dst_months_of_743_and_745_hours(market):
    assert [block_hours(market, "base", 2027, m) for m in (3, 10, 11)] == [743, 745, 720]


def test_us_7x8_in_dst_months():
    assert block_hours("PJM", "7x8", 2026, 3) == 247
    assert block_hours("PJM", "7x8", 2026, 11) == 241
    assert block_hours("PJM", "7x8", 2026, 4) == 240
    assert hour_endings("PJM", "7X8", date(2026, 3, 8)) == (1, 2, 4, 5, 6, 7, 24)


@pytest.mark.parametrize("market", US)
@pytest.mark.parametrize(("year", "month"), MONTHS_2024_2027)
def test_us_blocks_partition_the_month(market, year, month):
    hours = {b: block_hours(market, b, year, month) for b in ("5x16", "2x16", "7x8", "7x24")}
    assert hours["5x16"] + hours["2x16"] + hours["7x8"] == hours["7x24"]
    assert block_hours(market, "OFF_PEAK", year, month) == hours["7x24"] - hours["5x16"]
    assert block_hours(market, "WRAP", year, month) == hours["2x16"] + hours["7x8"]


@pytest.mark.parametrize(("year", "month"), MONTHS_2024_2027)
def test_wecc_blocks_partition_the_month(year, month):
    hours = {b: block_hours("WECC", b, year, month) for b in ("6x16", "1x16", "7x8", "7x24")}
    assert hours["6x16"] + hours["1x16"] + hours["7x8"] == hours["7x24"]
    assert block_hours("CAISO", "LLH", year, month) == hours["7x24"] - hours["6x16"]


def test_weekday_holiday_moves_16_hours_from_5x16_to_2x16():
    # May 2026: 21 weekdays, Memorial Day on Monday 25th.
    assert weekdays(2026, 5) == 21
    assert block_hours("PJM", "5x16", 2026, 5) == 320 == (21 - 1) * 16
    assert block_hours("PJM", "2x16", 2026, 5) == (10 + 1) * 16


def test_sunday_holidays_are_observed_on_monday():
    assert date(2022, 12, 26) in nerc_holidays(2022)
    assert date(2022, 12, 25) not in nerc_holidays(2022)
    assert block_hours("PJM", "ON_PEAK", 2022, 12) == (22 - 1) * 16 == 336
    assert date(2021, 7, 5) in nerc_holidays(2021)
    assert block_hours("PJM", "ON_PEAK", 2021, 7) == (22 - 1) * 16


def test_saturday_holidays_stay_on_saturday():
    assert date(2022, 1, 1) in nerc_holidays(2022)
    assert date(2021, 12, 31) not in nerc_holidays(2021)
    # 4 July 2026 is a Saturday: no weekday loses its peak in PJM, WECC loses a Saturday.
    assert block_hours("PJM", "ON_PEAK", 2026, 7) == 23 * 16
    assert block_hours("WECC", "ON_PEAK", 2026, 7) == (27 - 1) * 16


def test_nerc_holidays_of_2026():
    assert sorted(nerc_holidays(2026)) == [
        date(2026, 1, 1),
        date(2026, 5, 25),
        date(2026, 7, 4),
        date(2026, 9, 7),
        date(2026, 11, 26),
        date(2026, 12, 25),
    ]


def test_ercot_has_the_pjm_count_in_another_window():
    assert [block_hours("ERCOT", "ON_PEAK", 2026, m) for m in range(1, 13)] == [
        block_hours("PJM", "ON_PEAK", 2026, m) for m in range(1, 13)
    ]
    monday = date(2026, 3, 9)
    assert hour_endings("ERCOT", "ON_PEAK", monday) == tuple(range(7, 23))
    assert hour_endings("PJM", "ON_PEAK", monday) == tuple(range(8, 24))


def test_block_window_follows_the_local_clock_across_dst():
    # 11:30 UTC is 05:30 CST before the switch (HE06) and 06:30 CDT after it (HE07).
    before, after = (
        datetime(2026, 3, 6, 11, 30, tzinfo=UTC),
        datetime(2026, 3, 9, 11, 30, tzinfo=UTC),
    )
    assert (in_block("ERCOT", "ON_PEAK", before), in_block("ERCOT", "ON_PEAK", after)) == (
        False,
        True,
    )
    # 22:30 local: HE23 is PJM peak and ERCOT off-peak, whatever the offset.
    late = datetime(2026, 3, 9, 22, 30, tzinfo=ZoneInfo("America/Chicago"))
    assert (in_block("ERCOT", "peak", late), in_block("ERCOT", "off_peak", late)) == (False, True)
    late_ny = datetime(2026, 3, 9, 22, 30, tzinfo=ZoneInfo("America/New_York"))
    assert in_block("PJM", "peak", late_ny)
    assert not in_block("PJM", "peak", datetime(2026, 5, 25, 12, tzinfo=UTC))  # Memorial Day


@pytest.mark.parametrize("market", EU)
@pytest.mark.parametrize("year", [2024, 2026])
def test_eu_peak_is_12_hours_every_weekday_holidays_included(market, year):
    assert [block_hours(market, "PEAK", year, m) for m in range(1, 13)] == [
        12 * weekdays(year, m) for m in range(1, 13)
    ]
    december = block_hours(market, "base", year, 12)
    assert block_hours(market, "offpeak", year, 12) == december - 12 * weekdays(year, 12)


def test_gb_peak_is_07_to_19_uk_time():
    assert hour_endings("GB", "PEAK", date(2026, 3, 30)) == tuple(range(8, 20))
    assert hour_endings("DE", "PEAK", date(2026, 3, 30)) == tuple(range(9, 21))
    assert hour_endings("DE", "PEAK", date(2026, 3, 29)) == ()


def test_wecc_6x16_counts_saturdays():
    # November 2026: 30 days, 5 Sundays, Thanksgiving on the 26th.
    assert block_hours("WECC", "6X16", 2026, 11) == (30 - 5 - 1) * 16 == 384
    assert block_hours("CAISO", "on_peak", 2026, 11) == 384
    assert block_hours("PJM", "on_peak", 2026, 11) == (21 - 1) * 16


def test_block_names_ignore_case_and_separators():
    expected = block_hours("PJM", "ON_PEAK", 2026, 1)
    for name in ("on_peak", "On Peak", "ONPEAK", "peak", "5X16", "5x16"):
        assert block_hours("pjm", name, 2026, 1) == expected
    for name in ("ATC", "flat", "base", "7x24"):
        assert block_hours("PJM", name, 2026, 1) == 744
    assert block_hours(markets()["NYISO"], "wrap", 2026, 1) == 744 - expected


@pytest.mark.parametrize(
    ("market", "block", "month", "needle"),
    [
        ("NOWHERE", "BASE", 1, "unknown market 'NOWHERE'"),
        ("PJM", "6X16", 1, "market PJM has no block '6X16'"),
        ("DE", "2X16", 1, "market DE has no block '2X16'"),
        ("PJM", "ON_PEAK", 13, "month must be 1..12"),
    ],
)
def test_unknown_market_block_or_month_is_a_value_error(market, block, month, needle):
    with pytest.raises(ValueError, match=needle) as caught:
        block_hours(market, block, 2026, month)
    assert not isinstance(caught.value, KeyError)


def test_in_block_needs_an_aware_instant():
    with pytest.raises(ValueError, match="timezone-aware"):
        in_block("PJM", "ON_PEAK", datetime(2026, 1, 5, 12))


def test_month_days():
    assert [month_days(2024, 2), month_days(2025, 2), month_days(2026, 12)] == [29, 28, 31]


POWER = {"asset_class": "power", "iso": None, "market": None, "product": "power"}


@pytest.mark.parametrize(
    ("identity", "code"),
    [
        ({**POWER, "region": "EU", "location": "German", "block": "BASE"}, "DE"),
        ({**POWER, "region": "UK", "location": "Great_Britian", "block": "Peak"}, "GB"),
        ({**POWER, "region": "EU", "location": "German/Austrian", "block": "PEAK"}, "DE_AT"),
        ({**POWER, "region": "EE", "location": "Serbian", "block": "PEAK"}, "RS"),
        ({**POWER, "region": "EU", "location": "greek", "block": "BASE"}, "GR"),
        (
            {**POWER, "region": "EE", "location": "Czech", "product": "spark_spread",
             "block": "BASE", "spark_location": "Czech"},
            "CZ",
        ),
        (
            {"asset_class": "power", "iso": "PJM", "region": None, "location": "West",
             "market": "DA", "product": "power", "block": "ON_PEAK", "spark_location": None},
            "PJM",
        ),
        ({**POWER, "iso": "ercot", "location": "North", "market": "DA"}, "ERCOT"),
        ({**POWER, "iso": "ISONE", "location": "Mass Hub", "market": "DA"}, "ISONE"),
        ({**POWER, "iso": "CAISO", "location": "SP15", "market": "DA"}, "CAISO"),
        ({"asset_class": "gas", "region": "EU", "location": "German", "product": "gas"}, None),
        ({"asset_class": "gas", "region": "EE", "location": "Czech", "product": "gas"}, None),
        ({"asset_class": "emissions", "region": "EU", "location": "EUA"}, None),
        ({**POWER, "iso": "IESO", "location": "Ontario"}, None),
    ],
)  # fmt: skip
def test_market_for(identity, code):
    market = market_for(identity)
    assert (market.code if market else None) == code


def test_market_for_gives_gb_its_london_clock():
    market = market_for({"asset_class": "power", "region": "UK", "location": "Great_Britian"})
    assert market is not None
    assert (market.code, market.timezone) == ("GB", "Europe/London")


def reference_hours(market, block, year, month):
    """The definition, slowly: every UTC hour between the local month's ends, in local time."""
    zone = ZoneInfo(market.timezone)
    start = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    after = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone).astimezone(UTC)
    spec = market.block(block)
    total = 0
    while start < after:
        local = start.astimezone(zone)
        if local.hour + 1 in spec.hours_on(local.weekday(), market.is_holiday(local.date())):
            total += 1
        start += timedelta(hours=1)
    return total


@settings(max_examples=60, deadline=None)
@given(
    code=st.sampled_from(sorted(markets())),
    year=st.integers(1980, 2080),
    month=st.integers(1, 12),
)
def test_block_hours_match_an_hour_by_hour_walk(code, year, month):
    market = markets()[code]
    for block in market.blocks:
        assert block_hours(code, block.name, year, month) == reference_hours(
            market, block.name, year, month
        )


@settings(max_examples=100, deadline=None)
@given(year=st.integers(1950, 2100))
def test_nerc_holidays_are_six_and_never_on_sunday(year):
    holidays = nerc_holidays(year)
    assert len(holidays) == 6
    assert all(d.year == year and d.weekday() != 6 for d in holidays)
    assert {d.strftime("%m") for d in holidays} == {"01", "05", "07", "09", "11", "12"}
    thanksgiving = next(d for d in holidays if d.month == 11)
    assert thanksgiving.weekday() == 3 and 22 <= thanksgiving.day <= 28
    assert calendar.monthrange(year, 5)[1] - next(d for d in holidays if d.month == 5).day < 7


def parse(text):
    return cal._parse(tomllib.loads(text))


GOOD_SET = """
[block_sets.s]
A = { aliases = ["X"], rules = [{ days = "mon-fri", hours = ["HE01-HE24"] }] }
"""


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (GOOD_SET + '[markets]\nM = { timezone = "Mars/Olympus", holidays = "none", blocks = "s" }',
         "unknown time zone 'Mars/Olympus'"),
        (GOOD_SET + '[markets]\nM = { timezone = "UTC", holidays = "lunar", blocks = "s" }',
         "unknown holiday calendar 'lunar'"),
        (GOOD_SET + '[markets]\nM = { timezone = "UTC", holidays = "none", blocks = "t" }',
         "unknown block set 't'"),
        (GOOD_SET + 'B = { aliases = ["x"], rules = [{ days = "sun", hours = ["HE01"] }] }',
         "'x' names both A and B"),
        (GOOD_SET + 'C = { rules = [{ days = "mon-fri", hours = ["HE00-HE24"] }] }',
         "bad hours 'HE00-HE24'"),
        (GOOD_SET + 'C = { rules = [{ days = "weekdays", hours = ["HE01"] }] }',
         "bad days 'weekdays'"),
        (GOOD_SET + 'C = { rules = [{ days = "sun", hours = ["HE01"], holiday = "exclude" }] }',
         "unknown keys \\['holiday'\\]"),
        (GOOD_SET + 'C = { union = ["A", "Z"] }', "union of unknown or derived blocks \\['Z'\\]"),
        (GOOD_SET + '[[match]]\nmarket = "M"\nwhen = { iso = "PJM" }', "unknown market 'M'"),
        (GOOD_SET + '[markets]\nM = { timezone = "UTC", holidays = "none", blocks = "s" }\n'
         '[[match]]\nmarket = "M"\nwhen = { hub = "PJM" }', "unknown keys \\['hub'\\]"),
    ],
)  # fmt: skip
def test_configuration_mistakes_fail_at_load(text, needle):
    with pytest.raises(ValueError, match=needle):
        parse(text)


def test_a_rule_can_wrap_the_week_and_union_other_blocks():
    by_key, _ = parse(
        GOOD_SET
        + 'W = { rules = [{ days = "sat-mon", hours = ["HE24"] }] }\n'
        + 'U = { union = ["A", "W"] }\n'
        + '[markets]\nM = { timezone = "UTC", holidays = "none", blocks = "s" }'
    )
    market = by_key["m"]
    assert market.block("W").rules[0].weekdays == frozenset({5, 6, 0})
    # June 2026 in UTC: 22 weekdays, 4 Saturdays and 4 Sundays.
    assert block_hours(market, "U", 2026, 6) == 22 * 24 + 8


def test_miso_peak_is_he08_he23_eastern_as_its_contracts_settle():
    """Calendar review: ICE/NYMEX MISO hub contracts settle on HE08-23 EPT (= HE07-22 CPT)."""
    utc = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    assert in_block("MISO", "ON_PEAK", utc(2026, 5, 4, 11, 30))  # 07:30 EDT: HE08 EPT
    assert not in_block("MISO", "ON_PEAK", utc(2026, 5, 5, 3, 30))  # 23:30 EDT: HE24 EPT
    assert in_block("MISO", "ON_PEAK", utc(2026, 1, 5, 12, 30))  # 07:30 EST
    assert not in_block("MISO", "ON_PEAK", utc(2026, 1, 6, 4, 30))  # 23:30 EST
    assert in_block("MISO", "7X8", utc(2026, 5, 5, 3, 30))
    # the counts are PJM's, month by month (same clock, same holidays, same window)
    for year in range(2025, 2031):
        for month in range(1, 13):
            for block in ("ON_PEAK", "2X16", "7X8", "OFF_PEAK", "7X24"):
                assert block_hours("MISO", block, year, month) == block_hours(
                    "PJM", block, year, month
                ), (block, year, month)
