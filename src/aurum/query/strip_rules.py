"""Strips in SQL: what :meth:`aurum.query.curves.Curves.strips` asks for (:class:`StripRequest`),
the tables it registers in its session (each curve's weighting and season convention, each
strip's months at each as-of, each weight group's weight per month; :func:`strip_tables`, from
the domain's :mod:`aurum.domain.strips`), and the statements over them: derived strips (the
weighted mean of each strip's monthly mids) and the vendor's own quoted strips.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import pyarrow as pa

from aurum.domain import calendar, strips
from aurum.errors import QueryError
from aurum.query.engine import Session
from aurum.query.filters import IDENTITY, Where
from aurum.query.replica import TABLE

__all__ = [
    "REGISTERED", "StripRequest", "derived_strips", "strip_tables", "vendor_strip_types",
    "vendor_strips",
]  # fmt: skip


@dataclass(frozen=True)
class StripRequest:
    """Which strips: ``kinds`` of derived strips (none: only ``custom`` ones), custom day/month
    ranges, the season convention and weighting; ``source`` derived, the vendor's own quoted
    strips, or both; ``include_current_month``: balance strips keep the rest of the as-of month
    (weighted by what is left of it) instead of starting the month after."""

    kinds: tuple[strips.StripKind, ...] = (
        strips.StripKind.CALENDAR, strips.StripKind.QUARTER, strips.StripKind.SEASON,
    )  # fmt: skip
    custom: tuple[tuple[date, date], ...] = ()
    convention: Literal["market", "us", "eu_gas"] = "market"
    weighting: Literal["auto", "simple", "hours", "days"] = "auto"
    source: Literal["derived", "vendor", "both"] = "derived"
    include_current_month: bool = False


# The tables strip_tables makes, by the names the statements read them by.
REGISTERED = ("curve_rule", "strip_month", "month_weight")


def strip_tables(
    session: Session, clause: Where, request: StripRequest
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Per curve: weighting and its weight group, season convention; per (convention,
    as-of) the strips' months (balance strips for those that have started); each weight
    group's weight per month (and per first day, for a month a strip enters mid-month),
    from the domain's ``month_weight``."""
    curves = session.rows(
        f"SELECT curve_key, {', '.join(IDENTITY)}, min(contract_month), max(contract_month)"
        f" FROM {TABLE} WHERE {clause.sql()} GROUP BY ALL",
        clause.params,
    )
    if not curves:  # still run the query: an empty answer keeps its columns and types
        return (_CURVE_RULE.empty_table(), _STRIP_MONTH.empty_table(), _WEIGHT.empty_table())
    asofs = [row[0] for row in session.rows(
        f"SELECT DISTINCT asof_date FROM {TABLE} WHERE {clause.sql()}", clause.params
    )]  # fmt: skip
    rules: dict[str, list[Any]] = {name: [] for name in _CURVE_RULE.names}
    groups: dict[str, tuple[strips.Weighting, str | None, str | None]] = {}
    first, last = min(c[-2] for c in curves), max(c[-1] for c in curves)
    for row in curves:
        identity = dict(zip(IDENTITY, row[1:-2], strict=True))
        weighting = (
            strips.weighting_for(identity) if request.weighting == "auto" else request.weighting
        )
        market = calendar.market_for(identity) if weighting == "hours" else None
        if weighting == "hours" and (market is None or not identity["block"]):
            weighting = "simple"  # hours unknown for this curve: say so on every number
        block = identity["block"] if market else None
        key = (weighting, market.code if market else None, block)
        group = "|".join(part or "" for part in key)
        groups[group] = key
        rules["curve_key"].append(row[0])
        rules["weighting"].append(weighting)
        rules["weight_group"].append(group)
        rules["convention"].append(
            strips.season_convention(identity)
            if request.convention == "market"
            else request.convention
        )
    try:
        custom = [strips.custom_strip(a, b) for a, b in request.custom]
    except ValueError as exc:
        raise QueryError("parameter_invalid", str(exc)) from None
    month_rows: dict[str, list[Any]] = {name: [] for name in _STRIP_MONTH.names}
    for convention in sorted(set(rules["convention"])):
        defined = strips.strips_between(first, last, request.kinds, convention) + custom
        for asof in asofs:
            for strip in defined:
                left = strips.balance(
                    strip, asof, include_current_month=request.include_current_month
                )
                if left is None:
                    continue
                expected = strips.months_expected(left, asof)
                for month in left.months:
                    month_rows["convention"].append(convention)
                    month_rows["asof_date"].append(asof)
                    month_rows["kind"].append(str(left.kind))
                    month_rows["label"].append(left.label)
                    month_rows["start_month"].append(left.start)
                    month_rows["end_month"].append(left.end)
                    month_rows["first_day"].append(left.first_day or left.start)
                    month_rows["from_day"].append(
                        left.first_day if month == left.start else None
                    )
                    month_rows["months_expected"].append(expected)
                    month_rows["month"].append(month)
    entered = sorted(
        set(zip(month_rows["month"], month_rows["from_day"], strict=True)),
        key=lambda pair: (pair[0], pair[1] or pair[0]),
    )
    weights: dict[str, list[Any]] = {name: [] for name in _WEIGHT.names}
    for group, (weighting, market_code, block) in groups.items():
        for month, from_day in entered:
            weights["weight_group"].append(group)
            weights["month"].append(month)
            weights["from_day"].append(from_day)
            weights["weight"].append(
                strips.month_weight(weighting, month, market_code, block, from_day=from_day)
            )
    return (
        pa.table(rules, schema=_CURVE_RULE),
        pa.table(month_rows, schema=_STRIP_MONTH),
        pa.table(weights, schema=_WEIGHT),
    )


_CURVE_RULE = pa.schema(
    [(name, pa.string()) for name in ("curve_key", "weighting", "weight_group", "convention")]
)
_STRIP_MONTH = pa.schema(
    [
        ("convention", pa.string()),
        ("asof_date", pa.date32()),
        ("kind", pa.string()),
        ("label", pa.string()),
        ("start_month", pa.date32()),
        ("end_month", pa.date32()),
        ("first_day", pa.date32()),
        ("from_day", pa.date32()),  # the day the strip enters this month, when not the 1st
        ("months_expected", pa.int64()),
        ("month", pa.date32()),
    ]
)
_WEIGHT = pa.schema(
    [
        ("weight_group", pa.string()),
        ("month", pa.date32()),
        ("from_day", pa.date32()),
        ("weight", pa.int64()),
    ]
)
_STRIP_COLUMNS = "o.asof_date, o.vendor, o.curve_key, " + ", ".join(
    f"any_value(o.{c}) AS {c}" for c in (*IDENTITY, "currency", "per_unit")
)
# Derived strips: the weighted mean of each strip's monthly mids (the domain's price_strip).
_DERIVED = (
    f"SELECT {_STRIP_COLUMNS}, 'derived' AS source, s.kind, s.label, s.start_month,"
    " s.end_month, s.first_day, r.weighting, sum(o.mid * w.weight) / sum(w.weight) AS value,"
    " count(*) AS months_present, {expected} AS months_expected,"
    " count(*) = {expected} AS complete"
    " FROM (SELECT * FROM {table} WHERE {where}) o"
    " JOIN curve_rule r ON r.curve_key = o.curve_key"
    " JOIN strip_month s ON s.convention = r.convention AND s.asof_date = o.asof_date"
    "  AND s.month = o.contract_month"
    " JOIN month_weight w ON w.weight_group = r.weight_group AND w.month = o.contract_month"
    "  AND w.from_day IS NOT DISTINCT FROM s.from_day"
    # the weight of a first month the strip enters mid-month: none left, not expected
    " LEFT JOIN month_weight f ON f.weight_group = r.weight_group AND f.month = s.start_month"
    "  AND f.from_day = s.first_day"
    " WHERE w.weight > 0"
    " GROUP BY o.asof_date, o.vendor, o.curve_key, s.kind, s.label, s.start_month,"
    " s.end_month, s.first_day, r.weighting"
)
_EXPECTED = "(any_value(s.months_expected) - CAST(coalesce(any_value(f.weight), 1) = 0 AS INTEGER))"
# The vendor's own strips, as it quotes them (simple means of the months it prices).
_VENDOR = (
    f"SELECT {_STRIP_COLUMNS}, 'vendor' AS source, lower(any_value(o.tenor_type)) AS kind,"
    " o.tenor_label AS label, any_value(o.tenor_start) AS start_month,"
    " any_value(o.tenor_end) AS end_month, any_value(o.tenor_start) AS first_day,"
    " 'simple' AS weighting, any_value(o.mid) AS value, NULL::BIGINT AS months_present,"
    " NULL::BIGINT AS months_expected, NULL::BOOLEAN AS complete"
    " FROM (SELECT * FROM {table} WHERE {where}) o"
    " GROUP BY o.asof_date, o.vendor, o.curve_key, o.tenor_label"
)


def vendor_strip_types(kinds: Sequence[strips.StripKind]) -> tuple[str, ...]:
    """The vendor tenor types of the strip kinds asked for (its ``Bal YYYY`` is a calendar)."""
    types = {
        strips.StripKind.CALENDAR: ("CALENDAR", "BALANCE"),
        strips.StripKind.QUARTER: ("QUARTER",),
        strips.StripKind.SEASON: ("SEASON",),
    }
    return tuple(t for kind in kinds for t in types.get(kind, ()))


def derived_strips(where: str) -> str:
    """The derived strips of the monthly rows ``where`` selects, over the tables of
    :func:`strip_tables` registered by the names in :data:`REGISTERED`."""
    return _DERIVED.format(table=TABLE, where=where, expected=_EXPECTED)


def vendor_strips(where: str) -> str:
    """The vendor's own strips among the rows ``where`` selects."""
    return _VENDOR.format(table=TABLE, where=where)
