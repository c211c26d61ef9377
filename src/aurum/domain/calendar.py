"""Power calendars: how many hours of a delivery block fall in a month, market by market.

Derived power strips are weighted by block hours, and a block's hours depend on its market: the
on-peak window (HE08-HE23 in PJM, HE07-HE22 in ERCOT, Mon-Sat in WECC), the holiday calendar (a
weekday NERC holiday is off-peak) and the time zone (DST months have 743 or 745 hours, and a US 7x8
block has 247 hours in March and 241 in November). Markets, their blocks and the rules that find a
curve's market are configuration data in ``markets.toml``, read once; nothing here branches on a
market's name.

Hours are hour-endings in local time: HE01 is 00:00-01:00. A month is walked in UTC a day at a time:
a day of 24 UTC hours holds every hour-ending once, and a DST day is walked hour by hour, so its
skipped hour-ending is missing and its repeated one counts twice.

>>> block_hours("PJM", "ON_PEAK", 2026, 5), block_hours("PJM", "7x8", 2026, 3)
(320, 247)
>>> block_hours("DE", "BASE", 2026, 10), market_for({"asset_class": "power", "location": "German"})
(745, Market(code='DE', timezone='Europe/Berlin', holidays='none'))
"""

from __future__ import annotations

import calendar as _calendar
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aurum.domain.identity import IDENTITY_FIELDS, normalise

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "Block",
    "BlockRule",
    "Market",
    "block_hours",
    "block_hours_between",
    "hour_endings",
    "in_block",
    "market_for",
    "markets",
    "month_days",
    "nerc_holidays",
]

HolidayTreatment = Literal["exclude", "include", "ignore"]

# The delivery years the calendars answer for (time zones and holiday rules outside them are
# guesses, and datetime arithmetic overflows near year 9999).
FIRST_YEAR: Final = 1900
LAST_YEAR: Final = 2199
_HOUR: Final = timedelta(hours=1)
_DAY: Final = timedelta(days=1)
_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAYS = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun)(?:-(mon|tue|wed|thu|fri|sat|sun))?$")
_HOURS = re.compile(r"^HE(\d{2})(?:-HE(\d{2}))?$")
_SEPARATORS = re.compile(r"[\s_\-]+")


def _block_key(name: str) -> str:
    return _SEPARATORS.sub("", name).casefold()


@dataclass(frozen=True, slots=True)
class BlockRule:
    """Hour-endings on some weekdays (0 = Monday), with a treatment of holidays.

    ``holidays``: ``"exclude"`` drops holidays from the rule (a 5x16 weekday holiday), ``"include"``
    adds every holiday to it (2x16 = weekends and holidays), ``"ignore"`` treats a holiday as the
    weekday it is.
    """

    weekdays: frozenset[int]
    hours: frozenset[int]
    holidays: HolidayTreatment = "ignore"

    def applies(self, weekday: int, holiday: bool) -> bool:
        if holiday and self.holidays != "ignore":
            return self.holidays == "include"
        return weekday in self.weekdays


@dataclass(frozen=True, slots=True)
class Block:
    """A named delivery block: the union of its rules' hours, known by its name and aliases."""

    name: str
    rules: tuple[BlockRule, ...]
    aliases: tuple[str, ...] = ()
    keys: frozenset[str] = field(init=False, repr=False, compare=False)
    _by_day: tuple[frozenset[int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", frozenset(map(_block_key, (self.name, *self.aliases))))
        by_day = tuple(
            frozenset().union(*(r.hours for r in self.rules if r.applies(weekday, holiday)))
            for weekday in range(7)
            for holiday in (False, True)
        )
        object.__setattr__(self, "_by_day", by_day)

    def __hash__(self) -> int:
        # Blocks key the hour caches: hash what tells them apart, not every rule.
        return hash((self.name, self.aliases))

    def hours_on(self, weekday: int, holiday: bool) -> frozenset[int]:
        """Hour-endings of the block on a day of this weekday that is, or is not, a holiday."""
        return self._by_day[2 * weekday + holiday]


@dataclass(frozen=True, slots=True)
class Market:
    """A power market: local time zone, named holiday calendar and delivery blocks."""

    code: str
    timezone: str
    holidays: str
    blocks: tuple[Block, ...] = field(default=(), repr=False)

    def __hash__(self) -> int:
        return hash((self.code, self.timezone, self.holidays))

    def block(self, name: str) -> Block:
        """The block called ``name`` or one of its aliases, ignoring case, spaces, ``_`` and ``-``.

        >>> markets()["ERCOT"].block("wrap").name
        'OFF_PEAK'
        """
        key = _block_key(name)
        for block in self.blocks:
            if key in block.keys:
                return block
        known = ", ".join(b.name for b in self.blocks)
        raise ValueError(f"market {self.code} has no block {name!r} (blocks: {known})")

    def is_holiday(self, day: date) -> bool:
        return day in _holiday_calendar(self.holidays)(day.year)


def month_days(year: int, month: int) -> int:
    """Days in a month.

    >>> month_days(2024, 2), month_days(2026, 2)
    (29, 28)
    """
    return _calendar.monthrange(year, month)[1]


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month, month_days(year, month))
    return last - timedelta(days=(last.weekday() - weekday) % 7)


@lru_cache(maxsize=512)
def nerc_holidays(year: int) -> frozenset[date]:
    """NERC off-peak holidays as observed: a Sunday holiday moves to Monday, a Saturday one stays.

    New Year's Day, Memorial Day, Independence Day, Labor Day, Thanksgiving and Christmas.

    >>> sorted(d.isoformat() for d in nerc_holidays(2022))
    ['2022-01-01', '2022-05-30', '2022-07-04', '2022-09-05', '2022-11-24', '2022-12-26']
    """
    fixed = (date(year, 1, 1), date(year, 7, 4), date(year, 12, 25))
    observed = {d + _DAY if d.weekday() == 6 else d for d in fixed}
    observed.add(_last_weekday(year, 5, 0))
    observed.add(_nth_weekday(year, 9, 0, 1))
    observed.add(_nth_weekday(year, 11, 3, 4))
    return frozenset(observed)


def _no_holidays(year: int) -> frozenset[date]:
    return frozenset()


_HOLIDAY_CALENDARS: Final[Mapping[str, Callable[[int], frozenset[date]]]] = MappingProxyType(
    {"nerc": nerc_holidays, "none": _no_holidays}
)


def _holiday_calendar(name: str) -> Callable[[int], frozenset[date]]:
    try:
        return _HOLIDAY_CALENDARS[name]
    except KeyError:
        known = ", ".join(_HOLIDAY_CALENDARS)
        raise ValueError(f"unknown holiday calendar {name!r} (known: {known})") from None


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def _day_hour_endings(zone: ZoneInfo, day: date) -> tuple[int, ...]:
    start = datetime.combine(day, time(), zone).astimezone(UTC)
    end = datetime.combine(day + _DAY, time(), zone).astimezone(UTC)
    endings = []
    while start < end:
        endings.append(start.astimezone(zone).hour + 1)
        start += _HOUR
    return tuple(endings)


_DayClass = tuple[int, bool, tuple[int, ...] | None, int]


@lru_cache(maxsize=1 << 14)
def _month_classes(timezone: str, holidays: str, year: int, month: int) -> tuple[_DayClass, ...]:
    """Local days counted by (weekday, holiday, hour-endings); ``None``: a plain 24-hour day."""
    zone = _zone(timezone)
    days = month_days(year, month)
    utcoffset = zone.utcoffset
    offsets = [utcoffset(datetime(year, month, d)) for d in range(1, days + 1)]
    offsets.append(utcoffset(datetime(year, month, days) + _DAY))
    holiday_days = {h.day for h in _holiday_calendar(holidays)(year) if h.month == month}
    dst_days = {d for d in range(1, days + 1) if offsets[d - 1] != offsets[d]}
    start = date(year, month, 1).weekday()
    plain = [days // 7 + ((weekday - start) % 7 < days % 7) for weekday in range(7)]
    classes: list[_DayClass] = []
    for d in sorted(holiday_days | dst_days):
        day = date(year, month, d)
        endings = _day_hour_endings(zone, day) if d in dst_days else None
        classes.append((day.weekday(), d in holiday_days, endings, 1))
        plain[day.weekday()] -= 1
    classes.extend((weekday, False, None, n) for weekday, n in enumerate(plain) if n)
    return tuple(classes)


@lru_cache(maxsize=1 << 16)
def _block_month_hours(market: Market, block: Block, year: int, month: int) -> int:
    total = 0
    for weekday, holiday, endings, n in _month_classes(
        market.timezone, market.holidays, year, month
    ):
        hours = block.hours_on(weekday, holiday)
        if endings is None:
            total += n * len(hours)
        elif hours:
            total += n * sum(1 for he in endings if he in hours)
    return total


def _resolve(market: Market | str, block: str) -> tuple[Market, Block]:
    if isinstance(market, str):
        found = _config()[0].get(market.strip().casefold())
        if found is None:
            raise ValueError(f"unknown market {market!r} (known: {', '.join(markets())})")
        market = found
    return market, market.block(block)


def block_hours(market: Market | str, block: str, year: int, month: int) -> int:
    """Hours of ``block`` delivered in a month of ``market`` (a :class:`Market` or its code).

    Raises ``ValueError`` for an unknown market, block or month, or a year outside
    ``FIRST_YEAR``..``LAST_YEAR``.

    >>> [block_hours("PJM", b, 2026, 11) for b in ("5x16", "2x16", "7x8", "7x24", "OFF_PEAK")]
    [320, 160, 241, 721, 401]
    >>> block_hours("CAISO", "6X16", 2026, 11), block_hours("GB", "base", 2026, 3)
    (384, 743)
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 1..12, not {month}")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise ValueError(f"year must be {FIRST_YEAR}..{LAST_YEAR}, not {year}")
    resolved, found = _resolve(market, block)
    return _block_month_hours(resolved, found, year, month)


def block_hours_between(market: Market | str, block: str, first: date, last: date) -> int:
    """Hours of ``block`` delivered on the local days ``first`` to ``last`` (both included): the
    remaining hours of a month after an as-of day, or of a strip that starts mid-month.

    A whole month gives :func:`block_hours`; an empty range (``last`` before ``first``) gives 0.

    >>> block_hours_between("PJM", "ON_PEAK", date(2026, 11, 1), date(2026, 11, 30))
    320
    >>> block_hours_between("DE", "PEAK", date(2025, 9, 18), date(2025, 9, 30))  # 9 weekdays
    108
    """
    for day in (first, last):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValueError(f"year must be {FIRST_YEAR}..{LAST_YEAR}, not {day.year}")
    resolved, found = _resolve(market, block)
    total, day = 0, first
    while day <= last:
        if day.day == 1 and _month_end(day) <= last:  # a whole month at once (cached)
            total += _block_month_hours(resolved, found, day.year, day.month)
            day = _month_end(day) + _DAY
            continue
        total += len(hour_endings(resolved, block, day))
        day += _DAY
    return total


def _month_end(day: date) -> date:
    return date(day.year, day.month, month_days(day.year, day.month))


def hour_endings(market: Market | str, block: str, day: date) -> tuple[int, ...]:
    """The hour-endings of ``block`` on a local ``day``, in delivery order; a repeated hour twice.

    >>> hour_endings("PJM", "7x8", date(2026, 11, 1))
    (1, 2, 2, 3, 4, 5, 6, 7, 24)
    >>> hour_endings("PJM", "7x8", date(2026, 3, 8))
    (1, 2, 4, 5, 6, 7, 24)
    """
    resolved, found = _resolve(market, block)
    hours = found.hours_on(day.weekday(), resolved.is_holiday(day))
    return tuple(he for he in _day_hour_endings(_zone(resolved.timezone), day) if he in hours)


def in_block(market: Market | str, block: str, instant: datetime) -> bool:
    """Whether the hour holding an aware ``instant`` is in ``block``, in the market's local time.

    >>> in_block("ERCOT", "ON_PEAK", datetime(2026, 3, 9, 11, 30, tzinfo=UTC))  # 06:30 CDT, HE07
    True
    >>> in_block("ERCOT", "ON_PEAK", datetime(2026, 3, 6, 11, 30, tzinfo=UTC))  # 05:30 CST, HE06
    False
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must be timezone-aware, not {instant!r}")
    resolved, found = _resolve(market, block)
    local = instant.astimezone(_zone(resolved.timezone))
    day = local.date()
    return local.hour + 1 in found.hours_on(day.weekday(), resolved.is_holiday(day))


# Configuration: markets.toml, read and checked once.


@dataclass(frozen=True, slots=True)
class _Match:
    market: Market
    when: tuple[tuple[str, frozenset[str]], ...]

    def matches(self, identity: Mapping[str, str | None]) -> bool:
        return all(normalise(identity.get(name)) in values for name, values in self.when)


def _table(value: object, where: str, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where}: expected a table, got {value!r}")
    if allowed is not None and (extra := set(value) - set(allowed)):
        raise ValueError(f"{where}: unknown keys {sorted(extra)}")
    return value


def _strings(value: object, where: str) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise ValueError(f"{where}: expected a string or a list of strings, got {value!r}")
    return items


def _weekdays(spec: str, where: str) -> set[int]:
    match = _DAYS.match(spec.strip().lower())
    if match is None:
        raise ValueError(f"{where}: bad days {spec!r} (e.g. 'mon-fri', 'sun')")
    first = _WEEKDAYS.index(match.group(1))
    last = _WEEKDAYS.index(match.group(2) or match.group(1))
    return {(first + k) % 7 for k in range((last - first) % 7 + 1)}


def _hour_endings(spec: str, where: str) -> set[int]:
    match = _HOURS.match(spec.strip().upper())
    first = int(match.group(1)) if match else 0
    last = int(match.group(2) or first) if match else 0
    if not 1 <= first <= last <= 24:
        raise ValueError(f"{where}: bad hours {spec!r} (e.g. 'HE08-HE23', 'HE24')")
    return set(range(first, last + 1))


def _rule(raw: object, where: str) -> BlockRule:
    spec = _table(raw, where, ("days", "holidays", "hours"))
    treatment = spec.get("holidays", "ignore")
    if treatment not in ("exclude", "include", "ignore"):
        raise ValueError(f"{where}: holidays must be exclude, include or ignore, not {treatment!r}")
    if "days" not in spec or "hours" not in spec:
        raise ValueError(f"{where}: a rule needs days and hours")
    days = set().union(*(_weekdays(d, where) for d in _strings(spec["days"], where)))
    hours = set().union(*(_hour_endings(h, where) for h in _strings(spec["hours"], where)))
    return BlockRule(frozenset(days), frozenset(hours), treatment)


def _block_set(raw: object, where: str) -> tuple[Block, ...]:
    specs = {
        name: _table(spec, f"{where}.{name}", ("aliases", "rules", "union"))
        for name, spec in _table(raw, where).items()
    }
    rules: dict[str, tuple[BlockRule, ...]] = {}
    for name, spec in specs.items():
        if ("rules" in spec) == ("union" in spec):
            raise ValueError(f"{where}.{name}: give either rules or union")
        if "rules" in spec:
            if not isinstance(spec["rules"], list) or not spec["rules"]:
                raise ValueError(f"{where}.{name}: rules must be a non-empty list")
            rules[name] = tuple(_rule(r, f"{where}.{name}") for r in spec["rules"])
    for name, spec in specs.items():
        if "union" in spec:
            parts = _strings(spec["union"], f"{where}.{name}.union")
            if unknown := [p for p in parts if p not in rules]:
                raise ValueError(f"{where}.{name}: union of unknown or derived blocks {unknown}")
            rules[name] = tuple(r for p in parts for r in rules[p])
    blocks = tuple(
        Block(name, rules[name], tuple(_strings(spec.get("aliases", []), f"{where}.{name}")))
        for name, spec in specs.items()
    )
    seen: dict[str, str] = {}
    for block in blocks:
        for key in block.keys:
            if seen.setdefault(key, block.name) != block.name:
                raise ValueError(f"{where}: {key!r} names both {seen[key]} and {block.name}")
    return blocks


def _parse(data: Mapping[str, object]) -> tuple[dict[str, Market], tuple[_Match, ...]]:
    _table(data, "markets.toml", ("block_sets", "markets", "match"))
    sets = {
        name: _block_set(raw, f"block_sets.{name}")
        for name, raw in _table(data.get("block_sets", {}), "block_sets").items()
    }
    by_key: dict[str, Market] = {}
    for code, raw in _table(data.get("markets", {}), "markets").items():
        spec = _table(raw, f"markets.{code}", ("timezone", "holidays", "blocks"))
        if missing := {"timezone", "holidays", "blocks"} - set(spec):
            raise ValueError(f"markets.{code}: missing {sorted(missing)}")
        _zone(spec["timezone"])
        _holiday_calendar(spec["holidays"])
        if spec["blocks"] not in sets:
            raise ValueError(f"markets.{code}: unknown block set {spec['blocks']!r}")
        market = Market(code, spec["timezone"], spec["holidays"], sets[spec["blocks"]])
        if by_key.setdefault(code.casefold(), market) is not market:
            raise ValueError(f"markets.{code}: defined twice (ignoring case)")
    rules = []
    raw_rules = data.get("match", [])
    if not isinstance(raw_rules, list):
        raise ValueError("match: expected an array of tables")
    for i, raw in enumerate(raw_rules):
        where = f"match[{i}]"
        spec = _table(raw, where, ("market", "when"))
        target = by_key.get(str(spec.get("market", "")).casefold())
        if target is None:
            raise ValueError(f"{where}: unknown market {spec.get('market')!r}")
        when = _table(spec.get("when"), f"{where}.when", IDENTITY_FIELDS)
        if not when:
            raise ValueError(f"{where}.when: needs at least one identity field")
        fields = tuple(
            (name, frozenset(normalise(v) for v in _strings(value, f"{where}.when.{name}")))
            for name, value in when.items()
        )
        rules.append(_Match(target, fields))
    return by_key, tuple(rules)


@cache
def _config() -> tuple[dict[str, Market], tuple[_Match, ...]]:
    text = (resources.files("aurum.domain") / "markets.toml").read_text(encoding="utf-8")
    return _parse(tomllib.loads(text))


@cache
def markets() -> Mapping[str, Market]:
    """Every configured market, by code.

    >>> m = markets()["GB"]; (m.timezone, m.holidays, [b.name for b in m.blocks])
    ('Europe/London', 'none', ['BASE', 'PEAK', 'OFF_PEAK'])
    """
    return MappingProxyType({m.code: m for m in _config()[0].values()})


def market_for(identity: Mapping[str, str | None]) -> Market | None:
    """The market of a curve identity (its canonical fields), or ``None`` when it has none.

    Fields are compared ignoring case and surrounding spaces; absent fields count as empty.

    >>> market_for({"asset_class": "power", "iso": "PJM", "location": "West", "block": "ON_PEAK"})
    Market(code='PJM', timezone='America/New_York', holidays='nerc')
    >>> market_for({"asset_class": "gas", "region": "EU", "location": "German"}) is None
    True
    """
    return next((rule.market for rule in _config()[1] if rule.matches(identity)), None)
