"""Query parameters shared by the read routes, parsed once into service filters.

Every route refuses parameters it does not declare (``parameter_unknown``): a misspelt filter
silently ignored would return the wrong curve.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant

from aurum.auth.access import PLATFORM, Access
from aurum.domain.calendar import FIRST_YEAR, LAST_YEAR
from aurum.domain.tenors import TenorType
from aurum.errors import RequestError
from aurum.query.filters import FILTER_FIELDS, Asof, CurveFilter

__all__ = [
    "AsAtParam",
    "FormatParam",
    "Identity",
    "IdentityDep",
    "Paging",
    "PagingDep",
    "Tenors",
    "TenorsDep",
    "entitled",
    "field_list",
    "parse_asof",
    "parse_date",
    "parse_month",
    "reject_unknown",
]  # fmt: skip

_TEXT = {"max_length": 200}
_RANGE = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")


class FormatName(StrEnum):
    json = "json"
    csv = "csv"
    parquet = "parquet"
    xlsx = "xlsx"


def parse_date(value: str, name: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise RequestError(
            "parameter_invalid", f"{name} must be a date YYYY-MM-DD: {value!r}"
        ) from None
    return _in_range(day, name)


def parse_month(value: str, name: str) -> date:
    try:
        year, month = value.split("-")
        first = date(int(year), int(month), 1)
    except ValueError:
        raise RequestError(
            "parameter_invalid", f"{name} must be a month YYYY-MM: {value!r}"
        ) from None
    return _in_range(first, name)


def _in_range(day: date, name: str) -> date:
    """Dates and months the market calendars answer for (``FIRST_YEAR``..``LAST_YEAR``)."""
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise RequestError(
            "parameter_invalid", f"{name} must be within the years {FIRST_YEAR}..{LAST_YEAR}"
        )
    return day


def parse_asof(value: str | None) -> Asof:
    """``latest``, a date, or a range ``first..last``."""
    if value is None:
        return None
    if value == "latest":
        return "latest"
    found = _RANGE.match(value)
    if found:
        return parse_date(found[1], "asof"), parse_date(found[2], "asof")
    if ".." in value:
        raise RequestError(
            "parameter_invalid", f"asof range must be YYYY-MM-DD..YYYY-MM-DD: {value!r}"
        )
    return parse_date(value, "asof")


ASOF_DOC = "An as-of date `YYYY-MM-DD`, a range `YYYY-MM-DD..YYYY-MM-DD`, or `latest` (per vendor)."
AsofParam = Annotated[str | None, Query(description=ASOF_DOC, max_length=32)]
AsAtParam = Annotated[
    str | None,
    Query(
        description="Read the lake as it was: an ISO timestamp, a snapshot id or a tag such as"
        " `eod/RP/2025-09-17/v1`. Default: now.",
        max_length=128,
    ),
]
FormatParam = Annotated[
    FormatName | None,
    Query(
        description="Answer format; overrides `Accept` (application/json, text/csv, "
        "application/vnd.apache.parquet, and for a spreadsheet"
        " application/vnd.openxmlformats-officedocument.spreadsheetml.sheet: every matching"
        " row on a `data` sheet, the answer's facts on `about`)."
    ),
]


@dataclass(frozen=True)
class Identity:
    """Identity filters (case-insensitive equality), curve keys, and who asks."""

    fields: dict[str, str] = field(default_factory=dict)
    curve_keys: tuple[str, ...] = ()
    access: Access = PLATFORM

    def where(self, **more: Any) -> CurveFilter:
        return CurveFilter(
            fields=self.fields, curve_keys=self.curve_keys, access=self.access, **more
        )


@dataclass(frozen=True)
class Tenors:
    """Tenor types and a contract-month range (a tenor inside [month_from, month_to])."""

    tenor_types: tuple[str, ...] = ()
    month_from: date | None = None
    month_to: date | None = None


@dataclass(frozen=True)
class Paging:
    limit: int | None = None
    cursor: str | None = None


# The dependencies below are coroutines so that FastAPI calls them on the event loop: a plain
# function or class would cost a worker-thread round trip each, per request.


def field_list(fields: str | None) -> tuple[str, ...]:
    """A ``fields=a,b`` parameter as names (empty: none given); a name given twice is refused."""
    names = tuple(f.strip() for f in (fields or "").split(",") if f.strip())
    if len(set(names)) < len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise RequestError(
            "parameter_invalid", f"fields names {', '.join(repeated)} more than once"
        )
    return names


def entitled(request: Request, vendor: str | None = None) -> Access:
    """The caller's access; 403 when ``vendor`` is one it may not read."""
    access: Access = request.state.principal.access
    access.require_vendor(vendor)
    return access


async def identity(
    request: Request,
    vendor: Annotated[str | None, Query(description="EUGP, RP, PW …", **_TEXT)] = None,
    asset_class: Annotated[str | None, Query(**_TEXT)] = None,
    iso: Annotated[str | None, Query(**_TEXT)] = None,
    region: Annotated[str | None, Query(**_TEXT)] = None,
    location: Annotated[str | None, Query(**_TEXT)] = None,
    market: Annotated[str | None, Query(**_TEXT)] = None,
    product: Annotated[str | None, Query(**_TEXT)] = None,
    block: Annotated[str | None, Query(**_TEXT)] = None,
    spark_location: Annotated[str | None, Query(**_TEXT)] = None,
    price_type: Annotated[str | None, Query(**_TEXT)] = None,
    currency: Annotated[str | None, Query(**_TEXT)] = None,
    per_unit: Annotated[str | None, Query(**_TEXT)] = None,
    curve_key: Annotated[
        list[str] | None,
        Query(description="One or more curve keys (repeat the parameter); at most 500."),
    ] = None,
) -> Identity:
    given = locals()
    keys = tuple(dict.fromkeys(curve_key or ()))
    if len(keys) > 500:
        raise RequestError("parameter_invalid", f"at most 500 curve_key values, not {len(keys)}")
    if any(len(key) > 128 for key in keys):
        raise RequestError("parameter_invalid", "a curve_key is at most 128 characters")
    return Identity(
        {name: given[name] for name in FILTER_FIELDS if given.get(name) not in (None, "")},
        keys,
        entitled(request, vendor),
    )


async def tenors(
    tenor_type: Annotated[list[TenorType] | None, Query()] = None,
    month_from: Annotated[
        str | None, Query(description="First delivery month, YYYY-MM.", max_length=7)
    ] = None,
    month_to: Annotated[
        str | None, Query(description="Last delivery month, YYYY-MM.", max_length=7)
    ] = None,
) -> Tenors:
    return Tenors(
        tuple(str(t) for t in tenor_type or ()),
        parse_month(month_from, "month_from") if month_from else None,
        parse_month(month_to, "month_to") if month_to else None,
    )


async def paging(
    limit: Annotated[
        int | None, Query(ge=1, description="Rows per page; capped at the server's maximum.")
    ] = None,
    cursor: Annotated[
        str | None, Query(description="`meta.next_cursor` of the previous page.", max_length=512)
    ] = None,
    format: FormatParam = None,
) -> Paging:
    return Paging(limit, cursor)


IdentityDep = Annotated[Identity, Depends(identity)]
TenorsDep = Annotated[Tenors, Depends(tenors)]
PagingDep = Annotated[Paging, Depends(paging)]


async def reject_unknown(request: Request) -> None:
    """Refuse query parameters the route does not declare, and a parameter that takes one value
    given more than once (``vendor=EUGP&vendor=RP``: which one was meant is anyone's guess)."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    declared = _declared(dependant)
    given = request.query_params
    unknown = sorted(set(given) - declared.names)
    if unknown:
        takes = ", ".join(sorted(declared.names))
        raise RequestError(
            "parameter_unknown",
            f"unknown parameter {unknown[0]!r}; this route takes: {takes}",
            unknown=unknown,
        )
    repeated = sorted(
        name for name in set(given) - declared.repeatable if len(given.getlist(name)) > 1
    )
    if repeated:
        raise RequestError(
            "parameter_invalid",
            f"{repeated[0]!r} takes one value, not {len(given.getlist(repeated[0]))}",
            repeated=repeated,
        )


@dataclass(frozen=True)
class _Declared:
    names: frozenset[str]  # every query parameter of the route
    repeatable: frozenset[str]  # those that take a list of values


_DECLARED: dict[int, _Declared] = {}


def _declared(dependant: Dependant) -> _Declared:
    known = _DECLARED.get(id(dependant))
    if known is not None:
        return known
    names: set[str] = set()
    repeatable: set[str] = set()
    stack: list[Any] = [dependant]
    while stack:
        current = stack.pop()
        for param in current.query_params:
            names.add(param.alias)
            if _is_list(param.field_info.annotation):
                repeatable.add(param.alias)
        stack.extend(current.dependencies)
    known = _DECLARED[id(dependant)] = _Declared(frozenset(names), frozenset(repeatable))
    return known


def _is_list(annotation: Any) -> bool:
    """``list[X]``, ``list[X] | None`` …: a parameter FastAPI reads every value of."""
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    if origin in (Union, types.UnionType):
        return any(_is_list(arg) for arg in get_args(annotation))
    return False
