"""Vendors' business days and cut-offs, on known dates and against an independent TARGET rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aurum.domain import calendar, schedule
from aurum.domain.schedule import (
    UnknownVendor,
    business_days,
    calendar_holidays,
    cutoff,
    expected_asofs,
    is_business_day,
)

# (day, EUGP on TARGET, RP on England and Wales, PW on NERC): does each publish?
KNOWN_2026 = [
    (date(2026, 1, 1), False, False, False),  # New Year's Day: every calendar
    (date(2026, 4, 2), True, True, True),  # Maundy Thursday: an ordinary day
    (date(2026, 4, 3), False, False, True),  # Good Friday: not a NERC holiday
    (date(2026, 4, 6), False, False, True),  # Easter Monday
    (date(2026, 5, 1), False, True, True),  # Labour Day: TARGET only
    (date(2026, 5, 4), True, False, True),  # Early May bank holiday
    (date(2026, 5, 25), True, False, False),  # Spring bank holiday; Memorial Day
    (date(2026, 7, 3), True, True, True),  # 4 July is a Saturday: NERC does not move it
    (date(2026, 8, 31), True, False, True),  # Summer bank holiday
    (date(2026, 9, 7), True, True, False),  # Labor Day
    (date(2026, 11, 26), True, True, False),  # Thanksgiving
    (date(2026, 12, 25), False, False, False),  # Christmas Day
    (date(2026, 12, 28), True, False, True),  # Boxing Day (Saturday) observed on Monday
    (date(2026, 4, 4), False, False, False),  # a Saturday
    (date(2026, 4, 5), False, False, False),  # a Sunday
]


@pytest.mark.parametrize(("day", "eugp", "rp", "pw"), KNOWN_2026)
def test_each_vendor_publishes_on_its_own_business_days(day, eugp, rp, pw):
    assert (
        is_business_day("EUGP", day),
        is_business_day("RP", day),
        is_business_day("PW", day),
    ) == (eugp, rp, pw)


def test_a_year_of_business_days_per_vendor():
    # 2026 has 261 weekdays; weekday holidays: TARGET 5, England and Wales 8, NERC 5
    counts = {
        v: len(business_days(v, date(2026, 1, 1), date(2026, 12, 31))) for v in ["EUGP", "RP", "PW"]
    }
    assert counts == {"EUGP": 256, "RP": 253, "PW": 256}


def _easter(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous algorithm, Meeus), written apart from any library."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 (the algorithm's own name)
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return date(year, month, day + 1)


@pytest.mark.parametrize("year", range(2002, 2041))
def test_target_closing_days_follow_the_ecb_rule(year):
    easter = _easter(year)
    expected = {
        date(year, 1, 1), easter - timedelta(days=2), easter + timedelta(days=1),
        date(year, 5, 1), date(year, 12, 25), date(year, 12, 26),
    }  # fmt: skip
    assert calendar_holidays("target", year) == expected


def test_nerc_is_the_power_calendars_own():
    assert schedule.CALENDARS["nerc"] is calendar.nerc_holidays
    for year in range(2020, 2031):
        assert calendar_holidays("nerc", year) == calendar.nerc_holidays(year)
    assert date(2027, 7, 5) not in business_days("PW", date(2027, 7, 1), date(2027, 7, 9))


def test_england_and_wales_include_substitute_and_one_off_days():
    assert date(2027, 12, 27) in calendar_holidays("england_wales", 2027)  # Christmas observed
    assert date(2022, 9, 19) in calendar_holidays("england_wales", 2022)  # a state funeral
    assert not is_business_day("RP", date(2023, 5, 8))  # the coronation bank holiday


def test_the_cutoff_is_local_time_on_the_as_of_day_in_utc():
    assert cutoff("EUGP", date(2026, 1, 15)) == datetime(2026, 1, 15, 15, 30, tzinfo=UTC)  # GMT
    assert cutoff("EUGP", date(2026, 3, 27)) == datetime(2026, 3, 27, 15, 30, tzinfo=UTC)
    assert cutoff("EUGP", date(2026, 3, 30)) == datetime(2026, 3, 30, 14, 30, tzinfo=UTC)  # BST
    assert cutoff("RP", date(2026, 10, 26)) == datetime(2026, 10, 26, 15, 30, tzinfo=UTC)
    assert cutoff("PW", date(2026, 7, 1)) == datetime(2026, 7, 1, 19, 30, tzinfo=UTC)  # EDT
    assert cutoff("PW", date(2026, 11, 2)) == datetime(2026, 11, 2, 20, 30, tzinfo=UTC)  # EST
    assert cutoff("pw", date(2026, 11, 2)).tzinfo is UTC  # a code in any case


def test_expected_files_skip_holidays_and_know_when_they_are_overdue():
    owed = expected_asofs("EUGP", date(2026, 4, 1), date(2026, 4, 8))
    assert [f.asof for f in owed] == [
        date(2026, 4, 1), date(2026, 4, 2), date(2026, 4, 7), date(2026, 4, 8),
    ]  # fmt: skip
    assert {f.vendor for f in owed} == {"EUGP"}
    last = owed[-1]
    assert last.cutoff == datetime(2026, 4, 8, 14, 30, tzinfo=UTC)
    assert not last.overdue(datetime(2026, 4, 8, 14, 29, 59, tzinfo=UTC))
    assert last.overdue(datetime(2026, 4, 8, 14, 30, tzinfo=UTC))
    assert expected_asofs("EUGP", date(2026, 4, 3), date(2026, 4, 6)) == []  # Easter


def test_a_range_is_inclusive_and_must_not_run_backwards():
    assert business_days("RP", date(2026, 5, 26), date(2026, 5, 26)) == [date(2026, 5, 26)]
    with pytest.raises(ValueError, match="starts"):
        business_days("RP", date(2026, 5, 27), date(2026, 5, 26))


def test_an_unknown_vendor_or_calendar_says_what_is_known():
    with pytest.raises(UnknownVendor) as raised:
        is_business_day("ACME", date(2026, 4, 1))
    assert str(raised.value) == "unknown vendor 'ACME' (known: EUGP, PW, RP)"
    assert isinstance(raised.value, ValueError) and raised.value.known == ("EUGP", "PW", "RP")
    with pytest.raises(ValueError, match="unknown holiday calendar 'nyse'"):
        calendar_holidays("nyse", 2026)


def test_every_vendor_aurum_reads_has_a_schedule():
    from aurum.ingest.layouts import load_layouts

    assert set(schedule.vendors()) == set(load_layouts())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"calendar": "nyse", "timezone": "Europe/London", "cutoff": "15:30"}, "unknown calendar"),
        ({"calendar": "target", "timezone": "Europe/Londres", "cutoff": "15:30"}, "time zone"),
        ({"calendar": "target", "timezone": "Europe/London", "cutoff": "half past"}, "HH:MM"),
        ({"calendar": "target", "timezone": "Europe/London"}, "needs exactly"),
    ],
)
def test_a_typo_in_the_schedule_fails_when_it_is_read(entry, message):
    with pytest.raises(ValueError, match=message):
        schedule._parse({"EUGP": entry})
