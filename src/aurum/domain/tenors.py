"""Tenor labels: what delivery period a row of a curve covers.

Vendors label monthly rows with first-of-month dates and strips with text. Every tenor carries an
explicit first and last delivery month, so strips can be checked against their months and later
derived again. Season conventions are those of the vendor files (Summer = Apr-Oct, Winter YYYY =
Nov YYYY-1 to Mar YYYY); balance strips depend on the as-of date.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

__all__ = ["Tenor", "TenorType", "add_months", "classify_tenor"]


class TenorType(StrEnum):
    MONTHLY = "MONTHLY"
    CALENDAR = "CALENDAR"
    SEASON = "SEASON"
    QUARTER = "QUARTER"
    BALANCE = "BALANCE"
    CUSTOM = "CUSTOM"


@dataclass(frozen=True, slots=True)
class Tenor:
    """A delivery period: ``start`` and ``end`` are the first days of its first and last month."""

    tenor_type: TenorType
    label: str
    start: date | None
    end: date | None

    @property
    def contract_month(self) -> date | None:
        return self.start


def add_months(month: date, n: int) -> date:
    """First day of the month ``n`` months after ``month``.

    >>> add_months(date(2025, 11, 1), 3)
    datetime.date(2026, 2, 1)
    """
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _year(text: str) -> int:
    value = int(text)
    return value + 2000 if value < 100 else value


def _calendar(m: re.Match[str], asof: date) -> tuple[date, date]:
    year = _year(m.group(1))
    return date(year, 1, 1), date(year, 12, 1)


def _summer(m: re.Match[str], asof: date) -> tuple[date, date]:
    year = _year(m.group(1))
    return date(year, 4, 1), date(year, 10, 1)


def _winter(m: re.Match[str], asof: date) -> tuple[date, date]:
    year = _year(m.group(1))
    return date(year - 1, 11, 1), date(year, 3, 1)


def _winter_span(m: re.Match[str], asof: date) -> tuple[date, date] | None:
    first, second = _year(m.group(1)), _year(m.group(2))
    return (date(first, 11, 1), date(second, 3, 1)) if second == first + 1 else None


def _quarter(m: re.Match[str], asof: date) -> tuple[date, date]:
    quarter, year = int(m.group(1)), _year(m.group(2))
    start = date(year, 3 * quarter - 2, 1)
    return start, add_months(start, 2)


def _balance_of_year(m: re.Match[str], asof: date) -> tuple[date, date] | None:
    # The rest of the year after the as-of (prompt) month.
    year = _year(m.group(1))
    start = max(add_months(date(asof.year, asof.month, 1), 1), date(year, 1, 1))
    return (start, date(year, 12, 1)) if start.year == year else None


def _balance_of_month(m: re.Match[str], asof: date) -> tuple[date, date]:
    month = date(asof.year, asof.month, 1)
    return month, month


_Span = Callable[[re.Match[str], date], "tuple[date, date] | None"]
_PATTERNS: tuple[tuple[re.Pattern[str], TenorType, _Span], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), kind, span)
    for pattern, kind, span in (
        (r"^(?:calendar|cal)[\s\-]*(\d{4}|\d{2})$", TenorType.CALENDAR, _calendar),
        (r"^(?:summer|sum)[\s\-]*(\d{4}|\d{2})$", TenorType.SEASON, _summer),
        (r"^(?:winter|win)[\s\-]*(\d{4}|\d{2})$", TenorType.SEASON, _winter),
        (r"^(?:winter|win)[\s\-]*(\d{4})\s*[-/]\s*(\d{4}|\d{2})$", TenorType.SEASON, _winter_span),
        (r"^q([1-4])[\s\-]*(\d{4}|\d{2})$", TenorType.QUARTER, _quarter),
        (r"^bal(?:ance)?[\s\-]*(\d{4})$", TenorType.BALANCE, _balance_of_year),
        (r"^(?:bom|balmo|bal[\s\-]*month)$", TenorType.BALANCE, _balance_of_month),
        (r"^(\d{4})-(\d{2})$", TenorType.MONTHLY, lambda m, a: _month_span(m)),
    )
)


def _month_span(m: re.Match[str]) -> tuple[date, date] | None:
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return None
    first = date(year, month, 1)
    return first, first


def _custom(label: str) -> Tenor:
    return Tenor(TenorType.CUSTOM, label, None, None)


def classify_tenor(value: object, asof: date) -> Tenor:
    """Classify a tenor cell (a date, or a strip label) into a :class:`Tenor`.

    Anything unrecognised is ``CUSTOM`` with no months: callers warn about it.

    >>> t = classify_tenor(date(2025, 2, 1), date(2025, 2, 12)); (t.tenor_type.value, t.label)
    ('MONTHLY', '2025-02')
    >>> t = classify_tenor("Winter 2026", date(2025, 2, 12)); (t.tenor_type.value, t.start, t.end)
    ('SEASON', datetime.date(2025, 11, 1), datetime.date(2026, 3, 1))
    >>> t = classify_tenor("Bal 2025", date(2025, 2, 12)); (t.tenor_type.value, t.start, t.end)
    ('BALANCE', datetime.date(2025, 3, 1), datetime.date(2025, 12, 1))
    >>> classify_tenor("Spring 2026", date(2025, 2, 12)).tenor_type.value
    'CUSTOM'
    """
    if isinstance(value, datetime):
        value = value.date()
    if isinstance(value, date):
        if value.day != 1:
            return _custom(value.isoformat())
        return Tenor(TenorType.MONTHLY, f"{value:%Y-%m}", value, value)
    label = " ".join(str(value).split())
    for pattern, kind, span in _PATTERNS:
        match = pattern.match(label)
        if match:
            months = span(match, asof)
            if months is None:
                return _custom(label)
            return Tenor(kind, label, *months)
    return _custom(label)
