"""Vendors' business days and cut-offs: which as-of days a vendor's workbook is expected for,
and by when.

The file-arrival view (``/v1/operations/files``) and the ``file_missing`` alert must agree on
what "expected" means, and neither may guess it from weekdays alone: a vendor publishes nothing
on its holidays (EUGP on TARGET closing days, RP on the bank holidays of England and Wales, PW on
NERC holidays), and a file not there yet only matters once its cut-off has passed. Each vendor's
calendar, time zone and cut-off are data (``vendors.toml``, read once); holidays come from the
``holidays`` library (TARGET, England and Wales) and from
:func:`aurum.domain.calendar.nerc_holidays` (NERC), never from a list kept here.

>>> is_business_day("EUGP", date(2026, 4, 3)), is_business_day("PW", date(2026, 4, 3))
(False, True)
>>> business_days("RP", date(2026, 5, 22), date(2026, 5, 26))  # Spring bank holiday on the 25th
[datetime.date(2026, 5, 22), datetime.date(2026, 5, 26)]
>>> cutoff("EUGP", date(2026, 4, 1))  # 15:30 in London, on summer time
datetime.datetime(2026, 4, 1, 14, 30, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holiday_library

from aurum.domain.calendar import nerc_holidays

__all__ = [
    "CALENDARS",
    "ExpectedFile",
    "UnknownVendor",
    "VendorSchedule",
    "business_days",
    "calendar_holidays",
    "cutoff",
    "expected_asofs",
    "is_business_day",
    "schedule",
    "vendors",
]


class UnknownVendor(ValueError):
    """A vendor no schedule is kept for (``vendors.toml``)."""

    def __init__(self, vendor: str, known: tuple[str, ...]) -> None:
        self.vendor = vendor
        self.known = known
        super().__init__(f"unknown vendor {vendor!r} (known: {', '.join(known)})")


def _target(year: int) -> frozenset[date]:
    return frozenset(holiday_library.financial_holidays("XECB", years=year))


def _england_wales(year: int) -> frozenset[date]:
    return frozenset(holiday_library.country_holidays("GB", subdiv="ENG", years=year))


CALENDARS: Final[Mapping[str, Callable[[int], frozenset[date]]]] = MappingProxyType(
    {"target": _target, "england_wales": _england_wales, "nerc": nerc_holidays}
)
"""The holiday calendars a vendor may follow, by the name ``vendors.toml`` gives them."""


@lru_cache(maxsize=1024)
def calendar_holidays(calendar: str, year: int) -> frozenset[date]:
    """The holidays of a named calendar in one year.

    >>> sorted(d.isoformat() for d in calendar_holidays("target", 2026))
    ['2026-01-01', '2026-04-03', '2026-04-06', '2026-05-01', '2026-12-25', '2026-12-26']
    >>> date(2026, 5, 25) in calendar_holidays("england_wales", 2026)
    True
    """
    try:
        holidays_of = CALENDARS[calendar]
    except KeyError:
        known = ", ".join(CALENDARS)
        raise ValueError(f"unknown holiday calendar {calendar!r} (known: {known})") from None
    return holidays_of(year)


@dataclass(frozen=True, slots=True)
class VendorSchedule:
    """When one vendor publishes: Monday to Friday less its calendar's holidays, each as-of
    day's workbook due on that day by ``cutoff`` local time in ``timezone``."""

    vendor: str
    calendar: str
    timezone: str
    cutoff: time

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in calendar_holidays(self.calendar, day.year)

    def cutoff_at(self, asof: date) -> datetime:
        """The cut-off of ``asof``'s workbook, in UTC (the zone's offset on that day)."""
        return datetime.combine(asof, self.cutoff, ZoneInfo(self.timezone)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ExpectedFile:
    """A workbook a vendor owes: its as-of day, and when it is overdue (UTC)."""

    vendor: str
    asof: date
    cutoff: datetime

    def overdue(self, now: datetime) -> bool:
        """Whether the cut-off has passed at ``now`` (a timezone-aware time)."""
        return now >= self.cutoff


def vendors() -> tuple[str, ...]:
    """The vendors a schedule is kept for.

    >>> vendors()
    ('EUGP', 'PW', 'RP')
    """
    return tuple(sorted(_schedules()))


def schedule(vendor: str) -> VendorSchedule:
    """``vendor``'s schedule (its code in any case); :class:`UnknownVendor` for another name.

    >>> found = schedule("pw"); (found.vendor, found.calendar, found.timezone, str(found.cutoff))
    ('PW', 'nerc', 'America/New_York', '15:30:00')
    """
    found = _schedules().get(vendor.strip().upper())
    if found is None:
        raise UnknownVendor(vendor, vendors())
    return found


def is_business_day(vendor: str, day: date) -> bool:
    """Whether ``vendor`` publishes a workbook for as-of ``day``.

    >>> is_business_day("RP", date(2026, 5, 25)), is_business_day("PW", date(2026, 11, 26))
    (False, False)
    """
    return schedule(vendor).is_business_day(day)


def business_days(vendor: str, start: date, end: date) -> list[date]:
    """``vendor``'s business days from ``start`` to ``end``, both included.

    >>> business_days("EUGP", date(2026, 4, 2), date(2026, 4, 7))  # Easter, TARGET closed
    [datetime.date(2026, 4, 2), datetime.date(2026, 4, 7)]
    """
    if start > end:
        raise ValueError(f"the range starts ({start}) after it ends ({end})")
    found = schedule(vendor)
    days = (start + timedelta(days=n) for n in range((end - start).days + 1))
    return [day for day in days if found.is_business_day(day)]


def cutoff(vendor: str, asof: date) -> datetime:
    """When ``vendor``'s workbook for ``asof`` is due, in UTC.

    >>> cutoff("PW", date(2026, 11, 27))  # 15:30 in New York, on standard time
    datetime.datetime(2026, 11, 27, 20, 30, tzinfo=datetime.timezone.utc)
    """
    return schedule(vendor).cutoff_at(asof)


def expected_asofs(vendor: str, start: date, end: date) -> list[ExpectedFile]:
    """The workbooks ``vendor`` owes for the as-of days ``start`` to ``end`` (its business
    days), each with its cut-off: what a missing-file check compares the arrivals with.

    >>> [(f.asof.isoformat(), f.cutoff.hour) for f in
    ...  expected_asofs("PW", date(2026, 11, 25), date(2026, 11, 27))]  # Thanksgiving
    [('2026-11-25', 20), ('2026-11-27', 20)]
    """
    found = schedule(vendor)
    return [
        ExpectedFile(found.vendor, day, found.cutoff_at(day))
        for day in business_days(found.vendor, start, end)
    ]


# Configuration: vendors.toml, read and checked once.

_KEYS: Final = frozenset({"calendar", "timezone", "cutoff"})


def _parse(data: Mapping[str, object]) -> dict[str, VendorSchedule]:
    found: dict[str, VendorSchedule] = {}
    for vendor, raw in data.items():
        where = f"vendors.toml [{vendor}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected a table, got {raw!r}")
        if set(raw) != _KEYS:
            raise ValueError(f"{where}: needs exactly {sorted(_KEYS)}, has {sorted(raw)}")
        calendar, timezone, due = raw["calendar"], raw["timezone"], raw["cutoff"]
        if calendar not in CALENDARS:
            raise ValueError(f"{where}: unknown calendar {calendar!r} (known: {list(CALENDARS)})")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"{where}: unknown time zone {timezone!r}") from None
        try:
            at = time.fromisoformat(due)
        except (ValueError, TypeError):
            raise ValueError(f"{where}: cutoff must be a local time HH:MM, not {due!r}") from None
        if vendor != vendor.strip().upper() or not vendor:
            raise ValueError(f"{where}: a vendor code is upper case, without spaces")
        found[vendor] = VendorSchedule(vendor, calendar, timezone, at)
    return found


@cache
def _schedules() -> Mapping[str, VendorSchedule]:
    text = (resources.files("aurum.domain") / "vendors.toml").read_text(encoding="utf-8")
    return MappingProxyType(_parse(tomllib.loads(text)))
