"""``/v1/curves``: slices, strips, latest values and as-of diffs."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, ServicesDep, read
from aurum.api.models import CurveRow, DiffRow, Envelope, LatestRow, StripRow
from aurum.api.params import (
    ASOF_DOC,
    AsAtParam,
    AsofParam,
    Identity,
    IdentityDep,
    PagingDep,
    Tenors,
    TenorsDep,
    field_list,
    parse_asof,
    parse_date,
    parse_month,
)
from aurum.api.security import requires
from aurum.auth.principal import ANALYST, OPS
from aurum.domain.strips import StripKind
from aurum.errors import RequestError
from aurum.query.curves import COLUMNS, CurveFilter, Page, ServedSlice, StripRequest

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/curves",
    tags=["curves"],
    responses=READ_RESPONSES,
    dependencies=[requires(ANALYST, OPS)],
)


def _filter(identity: Identity, tenors: Tenors, asof: str | None = None) -> CurveFilter:
    return identity.where(
        tenor_types=tenors.tenor_types,
        month_from=tenors.month_from,
        month_to=tenors.month_to,
        asof=parse_asof(asof),
    )


@router.get("", response_model=Envelope[CurveRow], summary="Curve rows")
def curves(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    tenors: TenorsDep,
    paging: PagingDep,
    asof: AsofParam = None,
    as_at: AsAtParam = None,
    fields: Annotated[
        str | None,
        Query(description=f"Comma-separated subset of: {', '.join(COLUMNS)}.", max_length=1000),
    ] = None,
) -> Response:
    """Rows of `curve_observation` by any identity field, curve key, tenor type, delivery
    months and as-of, ordered by (as-of, vendor, curve, tenor). An unknown `curve_key` is 404;
    filters that match nothing give an empty list."""
    where = _filter(identity, tenors, asof)
    columns = field_list(fields) or COLUMNS
    curves = services.curves

    def rows(snapshot: int | None, limit: int, offset: int, fmt: str) -> Page | ServedSlice:
        asked = {"snapshot_id": snapshot, "columns": columns, "limit": limit, "offset": offset}
        served = curves.slice(where, **asked) if fmt == "json" else None
        return served or curves.curves(where, **asked)

    return read(request, services, rows, as_at=as_at, limit=paging.limit)


@router.get("/latest", response_model=Envelope[LatestRow], summary="Latest value per tenor")
def latest(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    tenors: TenorsDep,
    paging: PagingDep,
    on: Annotated[
        str | None, Query(description="Reference as-of (default: the newest).", max_length=10)
    ] = None,
    lookback_days: Annotated[
        int, Query(ge=0, le=3660, description="How far back a last good value may be.")
    ] = 31,
    as_at: AsAtParam = None,
) -> Response:
    """The last good (non-null) value of every curve and tenor on or before `on`, with its own
    as-of and age; tenors whose delivery ended before `on`'s month are left out."""
    where = _filter(identity, tenors)
    day = parse_date(on, "on") if on else None
    return read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.latest(
            where, on=day, lookback_days=lookback_days, snapshot_id=snapshot, limit=limit,
            offset=offset,
        ),
        as_at=as_at, limit=paging.limit,
    )  # fmt: skip


@router.get("/diff", response_model=Envelope[DiffRow], summary="As-of A against as-of B")
def diff(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    tenors: TenorsDep,
    paging: PagingDep,
    asof_from: Annotated[str, Query(description="As-of A, YYYY-MM-DD.", max_length=10)],
    asof_to: Annotated[str, Query(description="As-of B, YYYY-MM-DD.", max_length=10)],
    as_at: AsAtParam = None,
) -> Response:
    """Each curve and tenor at `asof_from` against `asof_to`: values, absolute and percent
    change and a status; `meta.curves_added` / `meta.curves_removed` list whole curves."""
    where = _filter(identity, tenors)
    first, second = parse_date(asof_from, "asof_from"), parse_date(asof_to, "asof_to")
    return read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.diff(
            where, first, second, snapshot_id=snapshot, limit=limit, offset=offset
        ),
        as_at=as_at, limit=paging.limit,
    )  # fmt: skip


class Convention(StrEnum):
    market = "market"
    us = "us"
    eu_gas = "eu_gas"


class Weighting(StrEnum):
    auto = "auto"
    simple = "simple"
    hours = "hours"
    days = "days"


@router.get("/strips", response_model=Envelope[StripRow], summary="Derived strips")
def strips(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    paging: PagingDep,
    asof: Annotated[str | None, Query(description=ASOF_DOC, max_length=32)] = "latest",
    kind: Annotated[
        list[StripKind] | None,
        Query(description="calendar, quarter, season (default: all three)."),
    ] = None,
    custom: Annotated[
        list[str] | None,
        Query(description="Custom month ranges `YYYY-MM..YYYY-MM` (repeatable, at most 24)."),
    ] = None,
    convention: Annotated[
        Convention,
        Query(
            description="Seasons: the curve's market (`market`), US/vendor Summer Apr–Oct"
            " + Winter Nov–Mar (`us`), or EU gas Summer Apr–Sep + Winter Oct–Mar (`eu_gas`)."
        ),
    ] = Convention.market,
    weighting: Annotated[
        Weighting,
        Query(description="`auto`: power by block hours, gas by days, others simple."),
    ] = Weighting.auto,
    as_at: AsAtParam = None,
) -> Response:
    """Calendar, quarter, season and custom strips derived from the monthly rows, each with its
    weighting, `months_expected` (the strip's months from the as-of month on),
    `months_present` and `complete`."""
    where = _filter(identity, Tenors(), asof)
    # each list is a set of values: repeats change nothing (and the cache key is of the set)
    kinds = tuple(dict.fromkeys(k for k in kind or () if k != StripKind.CUSTOM))
    request_ = StripRequest(
        kinds=kinds or StripRequest().kinds,
        custom=tuple(dict.fromkeys(_month_range(text) for text in (custom or ())[:25])),
        convention=convention.value,  # type: ignore[arg-type]
        weighting=weighting.value,  # type: ignore[arg-type]
    )
    if custom and len(custom) > 24:
        raise RequestError("parameter_invalid", "at most 24 custom strips")
    return read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.strips(
            where, request_, snapshot_id=snapshot, limit=limit, offset=offset
        ),
        as_at=as_at, limit=paging.limit,
    )  # fmt: skip


def _month_range(text: str) -> tuple[date, date]:
    first, sep, last = text.partition("..")
    if not sep:
        raise RequestError("parameter_invalid", f"custom must be YYYY-MM..YYYY-MM: {text!r}")
    start, end = parse_month(first, "custom"), parse_month(last, "custom")
    if end < start:
        raise RequestError("filters_contradictory", f"custom strip {text!r} ends before it starts")
    if (end.year - start.year) * 12 + end.month - start.month >= 240:
        raise RequestError("parameter_invalid", f"custom strip {text!r} spans more than 240 months")
    return start, end
