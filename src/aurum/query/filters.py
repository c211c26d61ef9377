"""Which curve rows a read wants, and what the caller may see of them, as SQL and as an
Iceberg push-down. Filter values are always parameters, never SQL text."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import pyarrow as pa
from pyiceberg.expressions import (
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
)

from aurum.auth.access import PLATFORM, Access
from aurum.errors import QueryError
from aurum.lake.expressions import all_of

__all__ = ["FILTER_FIELDS", "IDENTITY", "Asof", "CurveFilter", "Where", "iceberg_filter"]

IDENTITY = (
    "asset_class", "iso", "region", "location", "market", "product", "block", "spark_location",
)  # fmt: skip
FILTER_FIELDS = ("vendor", *IDENTITY, "price_type", "currency", "per_unit")
Asof = date | tuple[date, date] | Literal["latest"] | None


@dataclass(frozen=True)
class CurveFilter:
    """Which rows: identity fields (case-insensitive equality), keys, tenor types, months, as-of."""

    fields: Mapping[str, str] = field(default_factory=dict)
    curve_keys: tuple[str, ...] = ()
    tenor_types: tuple[str, ...] = ()
    month_from: date | None = None
    month_to: date | None = None
    asof: Asof = None
    # Who reads: rows the access policy does not let it see never match.
    access: Access = PLATFORM

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fields) - set(FILTER_FIELDS))
        if unknown:
            raise QueryError("parameter_unknown", f"cannot filter on {', '.join(unknown)}")
        if self.month_from and self.month_to and self.month_from > self.month_to:
            raise QueryError(
                "filters_contradictory",
                f"month_from {self.month_from:%Y-%m} is after month_to {self.month_to:%Y-%m}",
            )
        if isinstance(self.asof, tuple) and self.asof[0] > self.asof[1]:
            raise QueryError(
                "filters_contradictory",
                f"the as-of range starts ({self.asof[0]}) after it ends ({self.asof[1]})",
            )

    @property
    def vendor(self) -> str | None:
        return self.fields.get("vendor")


@dataclass
class Where:
    """A WHERE clause assembled from parameter placeholders and their values."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *values: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(values)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def identity_clauses(clause: Where, where: CurveFilter) -> None:
    scope(clause, where.access)
    for name, value in sorted(where.fields.items()):
        if name == "vendor":
            clause.add("vendor = ?", value.upper())
        else:
            clause.add(f"lower({name}) = ?", value.strip().casefold())
    if where.curve_keys:
        clause.add(f"curve_key IN ({', '.join('?' * len(where.curve_keys))})", *where.curve_keys)


def scope(clause: Where, access: Access) -> None:
    """What the access policy lets the caller see (``Access.vendor_sql``)."""
    condition = access.vendor_sql()
    if condition is not None:
        clause.add(condition[0], *condition[1])


def escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def iceberg_filter(where: CurveFilter, index: pa.Table) -> BooleanExpression:
    """The part of ``where`` a pyiceberg scan can prune files and row groups with."""
    conditions: list[BooleanExpression] = []
    if where.vendor:
        conditions.append(EqualTo("vendor", where.vendor.upper()))
    asof = where.asof
    if asof == "latest":  # each vendor's newest day; SQL then keeps each vendor's own
        newest: dict[str, date] = {}
        for vendor, day in zip(
            index["vendor"].to_pylist(), index["asof_date"].to_pylist(), strict=True
        ):
            newest[vendor] = max(day, newest.get(vendor, day))
        if newest:
            conditions.append(In("asof_date", {d.isoformat() for d in newest.values()}))
    elif isinstance(asof, tuple):
        conditions += [
            GreaterThanOrEqual("asof_date", asof[0].isoformat()),
            LessThanOrEqual("asof_date", asof[1].isoformat()),
        ]
    elif isinstance(asof, date):
        conditions.append(EqualTo("asof_date", asof.isoformat()))
    if where.curve_keys:
        conditions.append(In("curve_key", set(where.curve_keys)))
    return all_of(conditions)
