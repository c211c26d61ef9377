"""``/v1/curves``: slices, strips, latest values and as-of diffs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from aurum.api.cache import Cache, NoCache
from aurum.api.deps import READ_RESPONSES, Services, ServicesDep, read
from aurum.api.models import CurveRow, DiffCell, DiffRow, Envelope, LatestRow, StripRow
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
from aurum.api.render import Reader, answer
from aurum.api.security import requires
from aurum.auth.principal import ANALYST, OPS
from aurum.domain.strips import StripKind
from aurum.errors import RequestError
from aurum.query.curves import COLUMNS, CurveFilter, Curves, Page, ServedSlice, StripRequest
from aurum.query.fx import Conversion, FxRates

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/curves",
    tags=["curves"],
    responses=READ_RESPONSES,
    dependencies=[requires(ANALYST, OPS)],
)


ScenarioRunParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="A published scenario run of your tenant (`POST /v1/scenarios/{id}/run`):"
        " its curves instead of the vendors', with `base_value` and the ensemble bands"
        " (`mean`, `p5`, `p50`, `p95`, `band_convention`; null without an ensemble). Another"
        " tenant's run is 404 `scenario_run_unknown`; a run not yet published, 409.",
    ),
]


ToCurrencyParam = Annotated[
    str | None,
    Query(
        max_length=8,
        description="Prices in this currency (USD, GBP, JPY …, EUR, or GBp/GBX/USc): each row's"
        " value, bid, ask and mid (a strip's value; a diff's values and change) times the ECB"
        " euro reference rate of its as-of, crossing through EUR; a weekend or TARGET holiday"
        " uses the last rate before it (`fallback: true`). The row's `currency` becomes this one,"
        " `per_unit` stays. The rates used are stated in `meta.fx` and in the `X-Aurum-FX`"
        " header (every format). Not the `currency` filter, which picks curves by their own"
        " currency. 400 `currency_unknown`, `curve_currency_missing` (a curve without a"
        " currency: filter it out); 404 `fx_rate_missing` (no ECB rate in the week up to an"
        " as-of, or none loaded).",
    ),
]


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
    scenario_run: ScenarioRunParam = None,
    to_currency: ToCurrencyParam = None,
) -> Response:
    """Rows of `curve_observation` by any identity field, curve key, tenor type, delivery
    months and as-of, ordered by (as-of, vendor, curve, tenor). An unknown `curve_key` is 404;
    filters that match nothing give an empty list. With `scenario_run`: that run's curves.
    With `to_currency`: prices converted at each as-of's ECB rate."""
    where = _filter(identity, tenors, asof)
    curves = _source(request, services, scenario_run, as_at)
    columns = field_list(fields) or curves.columns
    fx = _conversion(services, to_currency, scenario_run)

    def rows(snapshot: int | None, limit: int, offset: int, fmt: str) -> Page | ServedSlice:
        asked = {"snapshot_id": snapshot, "columns": columns, "limit": limit, "offset": offset}
        if fx is not None:
            return curves.curves(where, **asked, fx=fx)
        served = curves.slice(where, **asked) if fmt == "json" else None
        return served or curves.curves(where, **asked)

    return _read(request, services, rows, curves, as_at, paging.limit, scenario_run, fx)


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


class DiffSort(StrEnum):
    abs_change = "abs_change"
    pct_change = "pct_change"
    z = "z"


class DiffPer(StrEnum):
    asset_class = "asset_class"


@router.get("/diff", response_model=Envelope[DiffRow], summary="As-of A against as-of B")
def diff(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    tenors: TenorsDep,
    paging: PagingDep,
    asof_from: Annotated[
        str | None,
        Query(description="As-of A, YYYY-MM-DD (required without `scenario_run`).", max_length=10),
    ] = None,
    asof_to: Annotated[
        str | None,
        Query(description="As-of B, YYYY-MM-DD (required without `scenario_run`).", max_length=10),
    ] = None,
    sort: Annotated[
        DiffSort | None,
        Query(
            description="Largest first by `abs_change`, `pct_change` or `z` (the change's robust"
            " z-score within its curve family). Default: by vendor, curve and tenor."
        ),
    ] = None,
    top: Annotated[
        int | None, Query(ge=1, le=10_000, description="Only the first `top` rows of `sort`.")
    ] = None,
    per: Annotated[
        DiffPer | None,
        Query(description="`asset_class`: the first `top` rows of each asset class."),
    ] = None,
    as_at: AsAtParam = None,
    scenario_run: ScenarioRunParam = None,
    against_run: Annotated[
        str | None,
        Query(
            max_length=64,
            description="With `scenario_run`: compare that run's curves (A) with this run's (B)"
            " instead of with its own base.",
        ),
    ] = None,
    to_currency: ToCurrencyParam = None,
) -> Response:
    """Each curve and tenor at `asof_from` against `asof_to`: values, the change (to the
    values' decimals), percent change, its robust z-score within its curve family and a
    status; `meta.curves_added` / `meta.curves_removed` list whole curves. With `sort`, `top`
    and `per`: what moved most. With `scenario_run`: the run's base against its scenario
    curves (or, with `against_run`, run A against run B), `meta.asof_from`/`asof_to` naming
    the sides. With `to_currency`: each side converted at its own as-of's ECB rate, the change
    and its ranks recomputed from the converted values (`meta.fx` states both sides' rates)."""
    where = _filter(identity, tenors)
    fx = _conversion(services, to_currency, scenario_run)
    ordering = {
        "sort": sort.value if sort else None,
        "top": top,
        "per": per.value if per else None,
    }
    if scenario_run is not None:
        if asof_from or asof_to or as_at:
            raise RequestError(
                "filters_contradictory", "a scenario diff takes no asof_from, asof_to or as_at"
            )
        sides, names = services.scenarios.diff(
            request.state.principal.access, scenario_run, against_run
        )
        return _read(
            request, services,
            lambda snapshot, limit, offset, fmt: sides.side_diff(
                where, names=names, snapshot_id=snapshot, limit=limit, offset=offset,
                **ordering,  # type: ignore[arg-type]
            ),
            sides, None, paging.limit, scenario_run,
        )  # fmt: skip
    if against_run is not None:
        raise RequestError("filters_contradictory", "against_run needs scenario_run")
    if asof_from is None or asof_to is None:
        raise RequestError(
            "parameter_invalid", "a diff needs asof_from and asof_to (or a scenario_run)"
        )
    first, second = parse_date(asof_from, "asof_from"), parse_date(asof_to, "asof_to")
    return _read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.diff(
            where, first, second, snapshot_id=snapshot, limit=limit, offset=offset, fx=fx,
            **ordering,  # type: ignore[arg-type]
        ),
        services.curves, as_at, paging.limit, None, fx,
    )  # fmt: skip


@router.get(
    "/diff/heatmap",
    response_model=Envelope[DiffCell],
    summary="As-of A against B, per family and year",
)
def diff_heatmap(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    tenors: TenorsDep,
    paging: PagingDep,
    asof_from: Annotated[str, Query(description="As-of A, YYYY-MM-DD.", max_length=10)],
    asof_to: Annotated[str, Query(description="As-of B, YYYY-MM-DD.", max_length=10)],
    as_at: AsAtParam = None,
    to_currency: ToCurrencyParam = None,
) -> Response:
    """The diff of `asof_from` against `asof_to` summed up per cell of (curve family, delivery
    year), with the same identity and tenor filters as `/v1/curves/diff`: a heat map of what
    moved without reading every tenor.

    - **family**: asset class, product and units, normalised (`power|power|EUR/MWh`): the
      families the diff's `z` is computed within.
    - **year**: the year of each tenor's first delivery day, whatever its type (a month, a
      quarter, a season, a calendar year: `Winter 2027` is 2027); tenors without a delivery
      start are left out.
    - Per cell: `tenors` compared (added and removed ones included), `changed`, `mean_change`
      and `mean_change_pct` (over the tenors that have one; rounded to 10 decimals),
      `max_abs_change_pct`, and the tenor that made it (`top_curve_key`, `top_tenor_label`,
      `top_change_pct`; of equal moves, the greatest curve key and tenor label).

    Cells come ordered by family and year, paged like every read; with `to_currency`, of the
    converted diff (families then share the one currency)."""
    where = _filter(identity, tenors)
    first, second = parse_date(asof_from, "asof_from"), parse_date(asof_to, "asof_to")
    fx = _conversion(services, to_currency, None)
    return _read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.diff_heatmap(
            where, first, second, snapshot_id=snapshot, limit=limit, offset=offset, fx=fx
        ),
        services.curves, as_at, paging.limit, None, fx,
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


class Source(StrEnum):
    derived = "derived"
    vendor = "vendor"
    both = "both"


@router.get(
    "/strips", response_model=Envelope[StripRow], summary="Strips: derived and the vendor's"
)
def strips(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    paging: PagingDep,
    asof: Annotated[str | None, Query(description=ASOF_DOC, max_length=32)] = "latest",
    kind: Annotated[
        list[StripKind] | None,
        Query(
            description="calendar, quarter, season (default: all three, or none when `custom`"
            " is given)."
        ),
    ] = None,
    custom: Annotated[
        list[str] | None,
        Query(
            description="Custom strips `YYYY-MM..YYYY-MM` or `YYYY-MM-DD..YYYY-MM` (from that"
            " day: its first month is weighted by the hours or days left in it); repeatable,"
            " at most 24."
        ),
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
    source: Annotated[
        Source,
        Query(
            description="`derived`: Aurum's strips from the monthly rows; `vendor`: the vendor's"
            " own quoted strips (simple means, its labels); `both`."
        ),
    ] = Source.derived,
    include_current_month: Annotated[
        bool,
        Query(
            description="Balance strips (a period whose delivery has started) keep the rest of"
            " the as-of month, weighted by its hours or days after the as-of day; by default"
            " they start the month after, like the vendors' `Bal YYYY`."
        ),
    ] = False,
    as_at: AsAtParam = None,
    scenario_run: ScenarioRunParam = None,
    to_currency: ToCurrencyParam = None,
) -> Response:
    """Calendar, quarter, season and custom strips, derived from the monthly rows (hour-weighted
    for power, day-weighted for gas) and/or the vendor's own, each row with its `source`,
    `weighting`, units, `months_expected` (the strip's months on the curve), `months_present`
    and `complete`. A period whose delivery has started is a balance strip, labelled
    `Bal Cal 2025`, `Bal Q4 2025`, with its true first month. With `to_currency`: each value
    times the ECB rate of its currency at its as-of."""
    where = _filter(identity, Tenors(), asof)
    fx = _conversion(services, to_currency, scenario_run)
    # each list is a set of values: repeats change nothing (and the cache key is of the set)
    kinds = tuple(dict.fromkeys(k for k in kind or () if k != StripKind.CUSTOM))
    if custom and len(custom) > 24:
        raise RequestError("parameter_invalid", "at most 24 custom strips")
    request_ = StripRequest(
        kinds=kinds or (() if custom else StripRequest().kinds),
        custom=tuple(dict.fromkeys(_day_range(text) for text in custom or ())),
        convention=convention.value,  # type: ignore[arg-type]
        weighting=weighting.value,  # type: ignore[arg-type]
        source=source.value,  # type: ignore[arg-type]
        include_current_month=include_current_month,
    )
    curves = _source(request, services, scenario_run, as_at)
    return _read(
        request, services,
        lambda snapshot, limit, offset, fmt: curves.strips(
            where, request_, snapshot_id=snapshot, limit=limit, offset=offset, fx=fx
        ),
        curves, as_at, paging.limit, scenario_run, fx,
    )  # fmt: skip


def _source(
    request: Request, services: Services, scenario_run: str | None, as_at: str | None
) -> Curves:
    """The vendors' curves, or a scenario run's (never both, never at another time)."""
    if scenario_run is None:
        return services.curves
    if as_at is not None:
        raise RequestError("filters_contradictory", "a scenario run's curves take no as_at")
    return services.scenarios.curves(request.state.principal.access, scenario_run)


def _read(
    request: Request, services: Services, reader: Reader, curves: Curves, as_at: str | None,
    limit: int | None, scenario_run: str | None, fx: Conversion | None = None,
) -> Response:  # fmt: skip
    """``read`` pinned to ``curves``' snapshot; a scenario run's answers are its tenant's."""
    if fx is not None:
        return _converted(request, services, reader, fx, as_at=as_at, limit=limit,
                          pin=lambda snapshot: curves.pin(as_at, snapshot))  # fmt: skip
    return read(
        request, services, reader, as_at=as_at, limit=limit,
        pin=lambda snapshot: curves.pin(as_at, snapshot), tenant_owned=scenario_run is not None,
    )  # fmt: skip


# -- answers in another currency (``to_currency``) ---------------------------------------------

FX_HEADER = "X-Aurum-FX"
_FX_HEADER_MAX = 4000  # bytes; more rates than fit are in the answer's meta only


def _conversion(
    services: Services, to_currency: str | None, scenario_run: str | None
) -> Conversion | None:
    """The conversion ``to_currency`` asks for, at main's ECB rates now (``None``: none)."""
    if to_currency is None:
        return None
    if scenario_run is not None:
        raise RequestError("filters_contradictory", "a scenario run's curves take no to_currency")
    return FxRates(services.lake).conversion(to_currency)


def _converted(
    request: Request, services: Services, reader: Reader, fx: Conversion, *,
    as_at: str | None, limit: int | None, pin: Callable[[int | None], int],
    cache: Cache | None = None,
) -> Response:  # fmt: skip
    """``read`` of a converted answer: its cache key and ETag name the rates' snapshot too (a
    rate loaded later is another answer), it is never immutable (the rates are main's), and
    every format carries the rates in the ``X-Aurum-FX`` header (remembered beside the body,
    so a cached answer or a 304 states them too)."""
    access = request.state.principal.access
    stated: list[dict[str, Any]] = []

    def converting(snapshot: int | None, limit: int, offset: int, fmt: str) -> Page | ServedSlice:
        page = reader(snapshot, limit, offset, fmt)
        stated.append(page.extra["fx"])
        return page

    cache = cache or services.cache
    response = answer(
        request, converting,
        scope=f"{access.cache_scope(tenant_owned=False)}|fx:{fx.to}:{fx.snapshot_id}",
        pin=pin, cache=cache, cursors=services.cursors,
        neutralised=services.settings.files.neutralise_formulas, limit=limit,
        limits=services.limits, pinned_by_request=False,
        meta={"as_at": as_at} if as_at else {},
    )  # fmt: skip
    remembered = f"fx-header|{response.headers['etag']}"
    if stated:
        header = _fx_header(stated[0])
        cache.set(remembered, header.encode("ascii"))
    else:
        found = cache.get(remembered)
        if found is None and response.status_code == 200:  # the body outlived its header
            return _converted(request, services, reader, fx, as_at=as_at, limit=limit, pin=pin,
                              cache=NoCache())  # fmt: skip
        header = found.decode("ascii") if found else ""
    if header:
        response.headers[FX_HEADER] = header
    return response


def _fx_header(statement: dict[str, Any]) -> str:
    """The rates as compact JSON; past ``_FX_HEADER_MAX`` bytes, a summary without them."""
    text = orjson.dumps(statement).decode("ascii")
    if len(text) <= _FX_HEADER_MAX:
        return text
    rates = statement["rates"]
    summary = {
        **{k: v for k, v in statement.items() if k != "rates"},
        "rates_count": len(rates),
        "fallbacks": sum(1 for r in rates if r["fallback"]),
        "rates_omitted": "too many for a header: see the answer's meta.fx (JSON, the XLSX about"
        " sheet, Parquet metadata) or GET /v1/fx",
    }
    return orjson.dumps(summary).decode("ascii")


def _day_range(text: str) -> tuple[date, date]:
    """``YYYY-MM[-DD]..YYYY-MM``: the first delivery day and the last month of a custom strip."""
    first, sep, last = text.partition("..")
    if not sep:
        raise RequestError(
            "parameter_invalid", f"custom must be YYYY-MM..YYYY-MM or YYYY-MM-DD..YYYY-MM: {text!r}"
        )
    start = parse_date(first, "custom") if first.count("-") == 2 else parse_month(first, "custom")
    end = parse_month(last, "custom")
    if end < date(start.year, start.month, 1):
        raise RequestError("filters_contradictory", f"custom strip {text!r} ends before it starts")
    if (end.year - start.year) * 12 + end.month - start.month >= 240:
        raise RequestError("parameter_invalid", f"custom strip {text!r} spans more than 240 months")
    return start, end
