from datetime import date, datetime

import pytest

from aurum.domain.tenors import TenorType, add_months, classify_tenor

ASOF = date(2025, 2, 12)


@pytest.mark.parametrize(
    ("label", "kind", "start", "end"),
    [
        ("Calendar 2026", "CALENDAR", date(2026, 1, 1), date(2026, 12, 1)),
        ("Cal-27", "CALENDAR", date(2027, 1, 1), date(2027, 12, 1)),
        ("Summer 2025", "SEASON", date(2025, 4, 1), date(2025, 10, 1)),
        ("Winter 2026", "SEASON", date(2025, 11, 1), date(2026, 3, 1)),
        ("winter  2025-2026", "SEASON", date(2025, 11, 1), date(2026, 3, 1)),
        ("Q1 2025", "QUARTER", date(2025, 1, 1), date(2025, 3, 1)),
        ("Q4 2026", "QUARTER", date(2026, 10, 1), date(2026, 12, 1)),
        ("Bal 2025", "BALANCE", date(2025, 3, 1), date(2025, 12, 1)),
        ("BOM", "BALANCE", date(2025, 2, 1), date(2025, 2, 1)),
        ("2025-07", "MONTHLY", date(2025, 7, 1), date(2025, 7, 1)),
    ],
)
def test_strip_labels(label, kind, start, end):
    tenor = classify_tenor(label, ASOF)
    assert (tenor.tenor_type.value, tenor.start, tenor.end) == (kind, start, end)


def test_monthly_dates_and_datetimes():
    for value in (date(2035, 2, 1), datetime(2035, 2, 1)):
        tenor = classify_tenor(value, ASOF)
        assert (tenor.tenor_type, tenor.label, tenor.contract_month) == (
            TenorType.MONTHLY,
            "2035-02",
            date(2035, 2, 1),
        )


@pytest.mark.parametrize(
    "label", ["Spring 2026", "Winter 2025-2027", "2025-13", "Bal 2024", "", "Q5 2025"]
)
def test_anything_else_is_custom_without_months(label):
    tenor = classify_tenor(label, ASOF)
    assert (tenor.tenor_type, tenor.start, tenor.end) == (TenorType.CUSTOM, None, None)


def test_a_mid_month_date_is_not_a_month():
    assert classify_tenor(date(2025, 3, 15), ASOF).tenor_type is TenorType.CUSTOM


def test_add_months_crosses_years():
    assert add_months(date(2025, 11, 1), 14) == date(2027, 1, 1)
    assert add_months(date(2025, 1, 1), -1) == date(2024, 12, 1)
