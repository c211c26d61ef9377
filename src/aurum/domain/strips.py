"""Strip definitions: which delivery months make a calendar year, quarter, season or custom strip.

Pure definitions, no prices. Calendar, quarter and vendor-convention season labels are the ones
:func:`aurum.domain.tenors.classify_tenor` reads (``Calendar 2026``, ``Q1 2026``, ``Summer 2026``,
``Winter 2026``), and their months come from it, so a derived strip lines up with the vendor's strip
of the same label. Seasons follow one of two conventions:

* ``"us"``: Summer YYYY = Apr-Oct YYYY, Winter YYYY = Nov YYYY-1 to Mar YYYY. The vendors' files
  (all of them, EUGP gas included) and US markets, Henry Hub gas among them.
* ``"eu_gas"``: Summer YYYY = Apr-Sep YYYY, Winter YYYY = Oct YYYY to Mar YYYY+1, the gas year
  starting on 1 October.

A label alone does not say which months a season covers under ``eu_gas``: a :class:`Strip` carries
its months.

A strip's price is the weighted mean of its months' prices (:func:`price_strip`): power by the
market's block hours, gas by days, anything else a simple mean (:func:`month_weight`). The query
layer computes the same in SQL over many curves at once; a test holds the two equal.

>>> [s.label for s in strips_between(date(2026, 1, 1), date(2026, 6, 1), ["quarter"], "us")]
['Q1 2026', 'Q2 2026']
>>> winter = strips_between(date(2026, 12, 1), date(2026, 12, 1), ["season"], "eu_gas")[0]
>>> winter.label, winter.start, winter.end
('Winter 2026', datetime.date(2026, 10, 1), datetime.date(2027, 3, 1))
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Final, Literal

from aurum.domain.calendar import block_hours, block_hours_between, month_days
from aurum.domain.identity import normalise
from aurum.domain.tenors import add_months, classify_tenor

__all__ = [
    "BALANCE_PREFIX",
    "MAX_STRIP_MONTHS",
    "SeasonConvention",
    "Strip",
    "StripKind",
    "StripPrice",
    "Weighting",
    "balance",
    "custom_strip",
    "month_weight",
    "months_expected",
    "price_strip",
    "season_convention",
    "strips_between",
    "weighted_mean",
    "weighting_for",
]

SeasonConvention = Literal["us", "eu_gas"]
Weighting = Literal["hours", "days", "simple"]

MAX_STRIP_MONTHS: Final = 240
BALANCE_PREFIX: Final = "Bal "
_EU_GAS_REGIONS: Final = frozenset({"eu", "ee", "uk"})

# First month of each season as months after January of the label's year, and its length.
# The vendors' ("us") seasons are read from tenors.classify_tenor instead.
_EU_GAS_SEASONS: Final = (("Summer", 3, 6), ("Winter", 9, 6))


class StripKind(StrEnum):
    CALENDAR = "calendar"
    QUARTER = "quarter"
    SEASON = "season"
    CUSTOM = "custom"


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _first_of_month(day: date) -> date:
    return date(day.year, day.month, 1)


@dataclass(frozen=True, slots=True)
class Strip:
    """A strip of consecutive delivery months: ``start`` and ``end`` are their first days.

    ``first_day``: the first delivery day when the strip starts after the first of its first
    month (a balance strip that keeps the rest of the as-of month, a custom strip from the 15th);
    that month then weighs only its days from ``first_day`` on.

    >>> Strip(StripKind.QUARTER, "Q2 2026", date(2026, 4, 1), date(2026, 6, 1)).months
    (datetime.date(2026, 4, 1), datetime.date(2026, 5, 1), datetime.date(2026, 6, 1))
    """

    kind: StripKind
    label: str
    start: date
    end: date
    first_day: date | None = None

    def __post_init__(self) -> None:
        if self.start.day != 1 or self.end.day != 1:
            raise ValueError(f"strip {self.label!r}: start and end must be first days of months")
        if self.end < self.start:
            raise ValueError(f"strip {self.label!r}: ends {self.end} before it starts {self.start}")
        if self.first_day is not None and _first_of_month(self.first_day) != self.start:
            raise ValueError(f"strip {self.label!r}: first_day must fall in its first month")

    @property
    def months(self) -> tuple[date, ...]:
        return tuple(
            add_months(self.start, n) for n in range(_months_between(self.start, self.end) + 1)
        )


def season_convention(identity: Mapping[str, str | None]) -> SeasonConvention:
    """The season convention of a curve's market: ``"eu_gas"`` for European gas hubs, else ``"us"``.

    European gas hubs are gas curves of region ``EU``, ``EE`` or ``UK``. The vendors' own delivered
    EUGP gas strips follow the vendor (``"us"``) convention, so code that rebuilds or checks a
    delivered strip must ask for ``"us"`` explicitly instead of using this function.

    >>> season_convention({"asset_class": "gas", "region": "EU", "location": "Dutch_TTF"})
    'eu_gas'
    >>> season_convention({"asset_class": "gas", "region": "US", "location": "Henry Hub"})
    'us'
    """
    is_gas = normalise(identity.get("asset_class")) == "gas"
    return "eu_gas" if is_gas and normalise(identity.get("region")) in _EU_GAS_REGIONS else "us"


def weighting_for(identity: Mapping[str, str | None]) -> Weighting:
    """How a derived strip averages its months: by block ``"hours"`` for power (spark spreads
    included), by ``"days"`` for gas, else a ``"simple"`` mean.

    >>> weighting_for({"asset_class": "power", "product": "spark_spread", "block": "BASE"})
    'hours'
    >>> weighting_for({"asset_class": "gas"}), weighting_for({"asset_class": "emissions"})
    ('days', 'simple')
    """
    asset_class = normalise(identity.get("asset_class"))
    if asset_class == "power" or normalise(identity.get("product")) == "spark_spread":
        return "hours"
    return "days" if asset_class == "gas" else "simple"


def _vendor_strip(kind: StripKind, label: str) -> Strip:
    tenor = classify_tenor(label, date.min)
    assert tenor.start is not None and tenor.end is not None, label
    return Strip(kind, label, tenor.start, tenor.end)


def _strips_of_year(kind: StripKind, year: int, eu_gas: bool) -> list[Strip]:
    if kind is StripKind.CALENDAR:
        return [_vendor_strip(kind, f"Calendar {year}")]
    if kind is StripKind.QUARTER:
        return [_vendor_strip(kind, f"Q{q} {year}") for q in range(1, 5)]
    if not eu_gas:
        return [_vendor_strip(kind, f"{season} {year}") for season in ("Winter", "Summer")]
    strips = []
    for season, first, length in _EU_GAS_SEASONS:
        start = add_months(date(year, 1, 1), first)
        strips.append(Strip(kind, f"{season} {year}", start, add_months(start, length - 1)))
    return strips


def strips_between(
    first: date, last: date, kinds: Iterable[StripKind | str], convention: str
) -> list[Strip]:
    """Every strip of ``kinds`` with a month in the months of ``first`` to ``last``.

    Strips are listed kind by kind, in the order of ``kinds``, each kind by start. A strip that
    only partly overlaps the range is included: whether a partial strip can be priced is the
    caller's rule. Custom strips are made with :func:`custom_strip`.

    >>> [s.label for s in strips_between(date(2025, 11, 1), date(2026, 4, 1), ["season"], "us")]
    ['Winter 2026', 'Summer 2026']
    >>> [s.label for s in strips_between(date(2025, 11, 1), date(2026, 4, 1), ["season"], "eu_gas")]
    ['Winter 2025', 'Summer 2026']
    """
    if convention not in ("us", "eu_gas"):
        raise ValueError(f"season convention must be 'us' or 'eu_gas', not {convention!r}")
    lo, hi = _first_of_month(first), _first_of_month(last)
    if hi < lo:
        raise ValueError(f"last month {hi:%Y-%m} is before first month {lo:%Y-%m}")
    strips: list[Strip] = []
    for kind in dict.fromkeys(StripKind(k) for k in kinds):
        if kind is StripKind.CUSTOM:
            raise ValueError("custom strips are not enumerated: use custom_strip(start, end)")
        candidates = (
            strip
            for year in range(lo.year - 1, hi.year + 2)
            for strip in _strips_of_year(kind, year, convention == "eu_gas")
        )
        found = [s for s in candidates if s.start <= hi and s.end >= lo]
        strips.extend(sorted(found, key=lambda s: s.start))
    return strips


def custom_strip(start: date, end: date) -> Strip:
    """A strip from the day ``start`` to the month of ``end``, at most :data:`MAX_STRIP_MONTHS`
    months. A ``start`` after the first of its month starts the strip that day: its first month
    then weighs only the days from ``start`` on (it is not widened to the whole month).

    >>> strip = custom_strip(date(2026, 1, 1), date(2026, 3, 1))
    >>> strip.kind.value, strip.label, len(strip.months), strip.first_day
    ('custom', '2026-01..2026-03', 3, None)
    >>> custom_strip(date(2026, 1, 15), date(2026, 3, 1)).label
    '2026-01-15..2026-03'
    """
    lo, hi = _first_of_month(start), _first_of_month(end)
    if hi < lo:
        raise ValueError(f"custom strip ends {hi:%Y-%m} before it starts {lo:%Y-%m}")
    if (count := _months_between(lo, hi) + 1) > MAX_STRIP_MONTHS:
        raise ValueError(f"custom strip of {count} months: at most {MAX_STRIP_MONTHS} allowed")
    if start.day == 1:
        return Strip(StripKind.CUSTOM, f"{lo:%Y-%m}..{hi:%Y-%m}", lo, hi)
    return Strip(StripKind.CUSTOM, f"{start.isoformat()}..{hi:%Y-%m}", lo, hi, start)


def balance(strip: Strip, asof: date, *, include_current_month: bool = False) -> Strip | None:
    """What is left of ``strip`` to deliver after the as-of day, as the vendors quote it.

    A strip whose delivery has not started by ``asof`` is returned as it is. One that has
    started becomes a balance strip, labelled ``Bal …`` (``Bal Cal 2025``, ``Bal Q3 2025``)
    with its true first month: by default the months after the as-of month (the vendors'
    ``Bal YYYY``; the as-of month itself trades as balance-of-month), or with
    ``include_current_month`` the as-of month from the day after ``asof`` on. ``None`` when
    nothing is left.

    >>> cal = Strip(StripKind.CALENDAR, "Calendar 2025", date(2025, 1, 1), date(2025, 12, 1))
    >>> bal = balance(cal, date(2025, 9, 17)); bal.label, bal.start, bal.first_day
    ('Bal Cal 2025', datetime.date(2025, 10, 1), None)
    >>> bal = balance(cal, date(2025, 9, 17), include_current_month=True); bal.start, bal.first_day
    (datetime.date(2025, 9, 1), datetime.date(2025, 9, 18))
    >>> q3 = Strip(StripKind.QUARTER, "Q3 2025", date(2025, 7, 1), date(2025, 9, 1))
    >>> balance(q3, date(2025, 9, 17)) is None, balance(cal, date(2026, 1, 2)) is None
    (True, True)
    >>> balance(Strip(StripKind.QUARTER, "Q4 2025", date(2025, 10, 1), date(2025, 12, 1)),
    ...         date(2025, 9, 17)).label
    'Q4 2025'
    """
    begins = strip.first_day or strip.start
    if begins > asof:
        return strip
    short = strip.label.replace("Calendar ", "Cal ", 1)  # "Bal Cal 2025", as traders say it
    label = BALANCE_PREFIX + short
    asof_month = _first_of_month(asof)
    next_day = asof + timedelta(days=1)
    if include_current_month and next_day.month == asof.month and strip.end >= asof_month:
        return Strip(strip.kind, label, asof_month, strip.end, next_day)
    start = add_months(asof_month, 1)
    if start > strip.end:
        return None
    return Strip(strip.kind, label, start, strip.end)


def month_weight(
    weighting: Weighting,
    month: date,
    market: str | None = None,
    block: str | None = None,
    *,
    from_day: date | None = None,
) -> int:
    """What one delivery month weighs in a strip: its block hours in ``market`` (``"hours"``),
    its days (``"days"``), or 1 (``"simple"``); with ``from_day``, only the hours or days from
    that day to the month's end (a strip that starts mid-month). A simple mean counts a month
    as one whatever part of it is left.

    >>> [month_weight("hours", date(2026, m, 1), "PJM", "ON_PEAK") for m in (1, 2, 3)]
    [336, 320, 352]
    >>> month_weight("days", date(2028, 2, 1)), month_weight("simple", date(2028, 2, 1))
    (29, 1)
    >>> month_weight("hours", date(2025, 9, 1), "DE", "PEAK", from_day=date(2025, 9, 18))
    108
    >>> month_weight("days", date(2025, 9, 1), from_day=date(2025, 9, 18))
    13
    """
    if from_day is not None and _first_of_month(from_day) != month:
        raise ValueError(f"from_day {from_day} is not in the month of {month:%Y-%m}")
    if weighting == "hours":
        if market is None or block is None:
            raise ValueError("hour weighting needs the curve's market and block")
        if from_day is not None:
            last = date(month.year, month.month, month_days(month.year, month.month))
            return block_hours_between(market, block, from_day, last)
        return block_hours(market, block, month.year, month.month)
    if weighting == "days":
        days = month_days(month.year, month.month)
        return days - (from_day.day - 1 if from_day is not None else 0)
    if weighting == "simple":
        return 1
    raise ValueError(f"weighting must be 'hours', 'days' or 'simple', not {weighting!r}")


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    """``sum(v * w) / sum(w)``; refuses no values, unequal lengths and a total weight <= 0.

    >>> weighted_mean([10.0, 20.0], [1, 3])
    17.5
    """
    if len(values) != len(weights):
        raise ValueError(f"{len(values)} values but {len(weights)} weights")
    total = math.fsum(weights)
    if not values or total <= 0:
        raise ValueError("a weighted mean needs at least one value and a positive total weight")
    return math.fsum(v * w for v, w in zip(values, weights, strict=True)) / total


@dataclass(frozen=True, slots=True)
class StripPrice:
    """A strip priced from monthly values at an as-of date.

    ``months_expected`` counts the strip's months from the as-of month on (months already
    delivered are not on a forward curve, as in the vendors' own strips); ``months_present``
    how many of them had a price; the value is over the present ones.
    """

    strip: Strip
    weighting: Weighting
    value: float
    months_present: int
    months_expected: int

    @property
    def complete(self) -> bool:
        return self.months_present == self.months_expected


def price_strip(
    strip: Strip,
    asof: date,
    prices: Mapping[date, float],
    weighting: Weighting,
    *,
    market: str | None = None,
    block: str | None = None,
) -> StripPrice | None:
    """The weighted mean of the strip's months found in ``prices`` (keyed by the first day of
    each delivery month; months outside the strip are ignored), or ``None`` if none is there.

    PJM on-peak Q1 2026 (336, 320 and 352 block hours), hour-weighted and as a simple mean:

    >>> q1 = Strip(StripKind.QUARTER, "Q1 2026", date(2026, 1, 1), date(2026, 3, 1))
    >>> mids = {date(2026, 1, 1): 80.0, date(2026, 2, 1): 74.89, date(2026, 3, 1): 50.11}
    >>> round(price_strip(q1, date(2025, 9, 12), mids, "hours", market="PJM",
    ...                   block="ON_PEAK").value, 2)
    67.94
    >>> round(price_strip(q1, date(2025, 9, 12), mids, "simple").value, 2)
    68.33
    """
    weights = {
        m: month_weight(weighting, m, market, block, from_day=_from_day(strip, m))
        for m in strip.months
        if m in prices
    }
    months = [m for m, weight in weights.items() if weight > 0]
    if not months:
        return None
    value = weighted_mean([prices[m] for m in months], [weights[m] for m in months])
    expected = months_expected(strip, asof)
    if strip.first_day is not None and not month_weight(
        weighting, strip.start, market, block, from_day=strip.first_day
    ):
        expected -= 1  # nothing of the first month is left in this block (a weekend, say)
    return StripPrice(strip, weighting, value, len(months), expected)


def months_expected(strip: Strip, asof: date) -> int:
    """The strip's months a forward curve at ``asof`` should price: from the as-of month on
    (months already delivered are not on the curve).

    >>> months_expected(Strip(StripKind.QUARTER, "Q4 2025", date(2025, 10, 1),
    ...                       date(2025, 12, 1)), date(2025, 9, 17))
    3
    """
    from_month = max(strip.start, _first_of_month(asof))
    return max(0, _months_between(from_month, strip.end) + 1)


def _from_day(strip: Strip, month: date) -> date | None:
    """The day the strip's delivery starts in ``month``, when that is not the 1st."""
    return strip.first_day if month == strip.start else None
