"""Monthly block forwards into hourly prices, each block's monthly average kept exactly.

A PPA settles hour by hour against forwards quoted per month and block. :func:`shape_month`
spreads one month's disjoint block forwards (PEAK and OFF_PEAK in Europe; ON_PEAK, 2X16 and 7X8,
or ON_PEAK and OFF_PEAK, in the US) over the month's delivery hours in the market's local time
(:mod:`aurum.domain.calendar`: its blocks, holidays and DST — a spring-forward day has 23 hours,
a fall-back day 25). Within a block the price is flat, or follows hour-of-day × day-type shape
factors, rescaled so that **the block's average over the month is its forward exactly**:
multiplicative factors are divided by their block mean, additive ones have it subtracted
(additive shapes may take hours below zero, which negative-price clauses need).

The blocks given must cover every hour of the month exactly once. A block that overlaps them
(BASE, ATC) is not forced: :func:`block_residual` says how far its quote is from the average the
shaped hours imply.

>>> month = shape_month("DE", 2026, 3, {"PEAK": 100.0, "OFF_PEAK": 70.0})
>>> len(month.prices), month.average("PEAK"), month.average("OFF_PEAK")  # DST: 743 hours
(743, 100.0, 70.0)
>>> round(block_residual(month, "BASE", 82.0), 6)  # base implied: (264·100 + 479·70) / 743
1.340511
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from aurum.domain import calendar

__all__ = [
    "DayType", "MonthHours", "ShapedMonth", "block_residual", "day_type", "month_hours",
    "shape_month",
]  # fmt: skip

FloatArray = npt.NDArray[np.float64]
DayType = Literal["weekday", "weekend"]
Shape = Mapping[tuple[DayType, int], float]  # (day type, hour-ending) -> factor


@dataclass(frozen=True)
class ShapedMonth:
    """One month's delivery hours in order, each with its local day, hour-ending, block and
    price."""

    market: str
    days: tuple[date, ...]
    hour_endings: tuple[int, ...]
    blocks: tuple[str, ...]
    prices: FloatArray

    def average(self, block: str) -> float:
        """The average price of the hours of one of the shaped blocks."""
        chosen = np.array([b == block for b in self.blocks])
        if not chosen.any():
            raise ValueError(f"no hour of this month is in block {block!r}")
        return float(self.prices[chosen].mean())


def day_type(market: str, day: date) -> DayType:
    """``weekend`` for Saturdays, Sundays and the market's holidays, else ``weekday``."""
    found = _market(market)
    return "weekend" if day.weekday() >= 5 or found.is_holiday(day) else "weekday"


def shape_month(
    market: str,
    year: int,
    month: int,
    forwards: Mapping[str, float],
    *,
    shape: Shape | None = None,
    additive: bool = False,
) -> ShapedMonth:
    """The month's hours priced from disjoint block ``forwards`` (see the module docstring)."""
    if not forwards:
        raise ValueError("no block forwards to shape")
    names = tuple(forwards)
    days, endings, owners = _layout(_market(market).code, year, month, names)
    owner = np.array(owners)
    prices = np.empty(len(endings))
    neutral = 0.0 if additive else 1.0
    factors = np.full(len(endings), neutral)
    if shape:
        kinds = {d: day_type(market, d) for d in dict.fromkeys(days)}
        factors = np.array(
            [shape.get((kinds[d], he), neutral) for d, he in zip(days, endings, strict=True)]
        )
    for index, (name, forward) in enumerate(forwards.items()):
        chosen = owner == index
        if not chosen.any():
            raise ValueError(f"block {name!r} has no hour in {market} {year}-{month:02d}")
        own = factors[chosen]
        if additive:
            prices[chosen] = forward + own - own.mean()
        else:
            if (own <= 0).any():
                raise ValueError("multiplicative shape factors must be positive")
            prices[chosen] = forward * own / own.mean()
    return ShapedMonth(market, days, endings, tuple(names[i] for i in owners), prices)


@dataclass(frozen=True)
class MonthHours:
    """A month's delivery hours as arrays (read-only), for valuing many months at once:
    ``hour_endings`` (1–24, local), ``blocks`` (index into the blocks asked for), ``weekend``
    (Saturday, Sunday or a holiday) and ``year_hours`` (the hour's row in an 8760-hour profile:
    ``(day of a 365-day year − 1)·24 + HE − 1``, 29 February reading 28 February's)."""

    hour_endings: npt.NDArray[np.int16]
    blocks: npt.NDArray[np.int16]
    weekend: npt.NDArray[np.bool_]
    year_hours: npt.NDArray[np.int32]


@lru_cache(maxsize=4096)
def month_hours(market: str, year: int, month: int, blocks: tuple[str, ...]) -> MonthHours:
    """:class:`MonthHours` of a month for disjoint ``blocks`` covering it (worked out once).

    >>> hours = month_hours("PJM", 2026, 11, ("ON_PEAK", "OFF_PEAK"))  # fall back: 721 hours
    >>> len(hours.hour_endings), int((hours.blocks == 0).sum()), int(hours.year_hours[0])
    (721, 320, 7296)
    """
    found = _market(market)
    days, endings, owners = _layout(found.code, year, month, blocks)
    kinds = {d: day_type(market, d) == "weekend" for d in dict.fromkeys(days)}
    first = date(year, month, 1)
    day_of_year = np.array([(d - date(d.year, 1, 1)).days for d in days], dtype=np.int32)
    if first.year % 4 == 0 and (first.year % 100 != 0 or first.year % 400 == 0) and month >= 2:
        leap_day = (date(year, 2, 29) - date(year, 1, 1)).days
        day_of_year = np.where(day_of_year >= leap_day, day_of_year - 1, day_of_year)
    found_endings = np.array(endings, dtype=np.int16)
    arrays = MonthHours(
        found_endings, np.array(owners, dtype=np.int16),
        np.array([kinds[d] for d in days], dtype=bool), day_of_year * 24 + found_endings - 1,
    )  # fmt: skip
    for array in (arrays.hour_endings, arrays.blocks, arrays.weekend, arrays.year_hours):
        array.setflags(write=False)
    return arrays


@lru_cache(maxsize=256)
def _market(code: str) -> calendar.Market:
    known = {name.casefold(): found for name, found in calendar.markets().items()}
    found = known.get(code.strip().casefold())
    if found is None:
        raise ValueError(f"unknown market {code!r} (known: {', '.join(calendar.markets())})")
    return found


_FULL_DAY = tuple(range(1, 25))


@lru_cache(maxsize=4096)
def _layout(
    code: str, year: int, month: int, names: tuple[str, ...]
) -> tuple[tuple[date, ...], tuple[int, ...], tuple[int, ...]]:
    """A month's delivery hours in order (local day, hour-ending) and which of the ``names``
    blocks each belongs to: worked out once per market, month and set of blocks. A day whose
    UTC offset does not change has hour-endings 1–24; only DST days ask the calendar."""
    market = _market(code)
    blocks = [market.block(name) for name in names]
    zone = ZoneInfo(market.timezone)
    owners_by_day: dict[tuple[int, bool], tuple[int, ...]] = {}
    days: list[date] = []
    endings: list[int] = []
    owners: list[int] = []
    day = date(year, month, 1)
    while day.month == month:
        holiday = market.is_holiday(day)
        kind = (day.weekday(), holiday)
        if kind not in owners_by_day:
            sets = [block.hours_on(*kind) for block in blocks]
            owners_by_day[kind] = tuple(
                next(iter(held)) if len(held := [i for i, h in enumerate(sets) if he in h]) == 1
                else -1
                for he in _FULL_DAY
            )  # fmt: skip
        row = owners_by_day[kind]
        following = day + timedelta(days=1)
        every = (
            _FULL_DAY
            if zone.utcoffset(datetime(day.year, day.month, day.day))
            == zone.utcoffset(datetime(following.year, following.month, following.day))
            else calendar.hour_endings(market, "BASE", day)
        )  # fmt: skip
        for he in every:  # a repeated hour (DST) comes twice, in delivery order
            if row[he - 1] < 0:
                sets = [block.hours_on(*kind) for block in blocks]
                holders = [names[i] for i, h in enumerate(sets) if he in h]
                what = "in no block" if not holders else f"in {len(holders)} blocks ({holders})"
                raise ValueError(
                    f"{code} {day} HE{he:02d} is {what}: give blocks that cover every hour once"
                )
            days.append(day)
            endings.append(he)
            owners.append(row[he - 1])
        day = following
    return tuple(days), tuple(endings), tuple(owners)


def block_residual(shaped: ShapedMonth, block: str, quoted: float) -> float:
    """How far a quoted overlapping block (BASE, ATC) is from the average the shaped hours
    imply for it: ``quoted − implied``."""
    chosen = np.zeros(len(shaped.prices), dtype=bool)
    for i, (day, he) in enumerate(zip(shaped.days, shaped.hour_endings, strict=True)):
        chosen[i] = he in calendar.hour_endings(shaped.market, block, day)
    if not chosen.any():
        raise ValueError(f"no hour of the month is in block {block!r}")
    return float(quoted - shaped.prices[chosen].mean())
