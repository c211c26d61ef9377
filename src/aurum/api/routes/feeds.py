"""Public feeds: ``/v1/iso`` (LMPs, nodes, realised vs forward), ``/v1/series``, ``/v1/fx``, and
``/v1/feeds`` (the formats a load reads, and the loads)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, Services, ServicesDep, envelope, read
from aurum.api.params import AsAtParam, Paging, PagingDep, parse_date, parse_month
from aurum.api.routes.objects import LimitQuery, OffsetQuery
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ANALYST, OPS
from aurum.datasets.feeds import FX_RATE, ISO_LMP, ISO_NODE, SERIES_OBSERVATION
from aurum.errors import RequestError
from aurum.feeds import readers
from aurum.query.page import Page
from aurum.query.served import ServedSlice

__all__ = ["feeds", "fx", "iso", "series"]

_READERS = {"dependencies": [requires(ANALYST, OPS)], "responses": READ_RESPONSES}
iso = APIRouter(prefix="/v1/iso", tags=["feeds"], **_READERS)
series = APIRouter(prefix="/v1/series", tags=["feeds"], **_READERS)
fx = APIRouter(prefix="/v1/fx", tags=["feeds"], **_READERS)
feeds = APIRouter(prefix="/v1/feeds", tags=["feeds"])

_AGGREGATE = "Per interval, or time-weighted means by UTC hour, operating day or month."
DateParam = Annotated[str | None, Query(description="A date, YYYY-MM-DD.", max_length=10)]


class MarketRun(StrEnum):
    DA = "DA"
    RT = "RT"


class Aggregate(StrEnum):
    interval = "interval"
    hourly = "hourly"
    daily = "daily"
    monthly = "monthly"


def _answer(
    request: Request, services: Services, dataset: str, as_at: str | None, paging: Paging,
    page: Callable[[int, int, int, str], Page | ServedSlice],
) -> Response:  # fmt: skip
    """A read of ``dataset`` pinned to ``as_at`` (or a cursor's snapshot), paged and rendered."""
    reads = services.feeds

    def pinned(snapshot: int | None, limit: int, offset: int, fmt: str) -> Page | ServedSlice:
        assert snapshot is not None  # pinned by `pin` below
        return page(snapshot, limit, offset, fmt)

    return read(request, services, pinned, as_at=as_at, limit=paging.limit,
                pin=lambda snapshot: reads.pin(dataset, as_at, snapshot))  # fmt: skip


def _day(value: str | None, name: str) -> date | None:
    return parse_date(value, name) if value else None


@iso.get("/lmp", summary="ISO locational marginal prices")
def lmp(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    iso_name: Annotated[str, Query(alias="iso", description="PJM, CAISO, ERCOT, MISO, NYISO, "
                                   "ISONE or SPP.", max_length=16)],
    start: Annotated[str, Query(description="First operating day, YYYY-MM-DD.", max_length=10)],
    end: DateParam = None,
    node: Annotated[list[str] | None, Query(description="Node, zone or hub (repeat for "
                                            "several; default: every node).")] = None,
    market_run: MarketRun = MarketRun.DA,
    aggregate: Annotated[Aggregate, Query(description=_AGGREGATE)] = Aggregate.hourly,
    block: Annotated[str | None, Query(description="Only hours in this block of the ISO's "
                                       "calendar: ON_PEAK, OFF_PEAK, 7X24, 2X16, 7X8 …",
                                       max_length=16)] = None,
    as_at: AsAtParam = None,
) -> Response:  # fmt: skip
    """Prices of an ISO's nodes over operating days `start`…`end` (default: `start`), each
    interval or averaged weighting every interval by its length; `hours` says how much of the
    period the prices cover (a gap in the source shows as fewer hours), and `lmp = energy +
    congestion + loss (+ ghg)` in one sign convention (NYISO's congestion is flipped)."""
    first = parse_date(start, "start")
    last = _day(end, "end") or first
    nodes = tuple(n for value in node or () for n in value.split(",") if n)
    reads = services.feeds
    return _answer(
        request, services, ISO_LMP.name, as_at, paging,
        lambda snapshot, limit, offset, fmt: reads.lmp(
            snapshot_id=snapshot, iso=iso_name, nodes=nodes, market_run=market_run.value,
            first=first, last=last, aggregate=aggregate.value, block=block, limit=limit,
            offset=offset, served=fmt == "json",
        ),
    )  # fmt: skip


@iso.get("/nodes", summary="The ISOs' node registry")
def nodes(
    services: ServicesDep,
    iso_name: Annotated[str | None, Query(alias="iso", max_length=16)] = None,
    as_at: AsAtParam = None,
) -> Response:
    """Every node, zone and hub seen in an ISO's prices, with its type, time zone and the first
    operating day loaded (a versioned registry: `as_at` reads an earlier one)."""
    snapshot = services.feeds.pin(ISO_NODE.name, as_at)
    rows = services.feeds.nodes(snapshot_id=snapshot, iso=iso_name)
    return envelope(rows.to_pylist(), snapshot_id=snapshot)


@iso.get("/realised", summary="A hub's settled month beside its forward")
def realised(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    iso_name: Annotated[str, Query(alias="iso", max_length=16)],
    node: Annotated[str, Query(max_length=100, description="A mapped node (see the answer's "
                                "error for the list).")],
    month: Annotated[str, Query(description="Delivery month, YYYY-MM.", max_length=7)],
    asof: Annotated[str | None, Query(description="The forward's as-of (default: the last "
                                      "before the month).", max_length=10)] = None,
    as_at: AsAtParam = None,
) -> Response:  # fmt: skip
    """For each block of the mapped forward curve: the node's settled average over the month's
    hours in that block (day-ahead, time-weighted) beside the forward's value for that month as
    of `asof`, and their difference. The node → curve mapping is the documented file
    `aurum/query/realised.toml`."""
    month_start = parse_month(month, "month")
    day = _day(asof, "asof")
    access = request.state.principal.access
    reads = services.feeds
    return _answer(
        request, services, ISO_LMP.name, as_at, paging,
        lambda snapshot, limit, offset, fmt: reads.realised(
            snapshot_id=snapshot, iso=iso_name, node=node, month=month_start, asof=day,
            access=access,
        ),
    )  # fmt: skip


@iso.get("/realised/monthly", summary="Settled monthly averages beside a forward curve")
def realised_monthly(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    curve_key: Annotated[str, Query(max_length=64, description="A forward curve's key.")],
    month_from: Annotated[str, Query(description="First month, YYYY-MM.", max_length=7)],
    month_to: Annotated[str, Query(description="Last month, YYYY-MM.", max_length=7)],
    as_at: AsAtParam = None,
) -> Response:  # fmt: skip
    """The node a curve is mapped to (`aurum/query/realised.toml`), its settled prices averaged
    per month over the curve's block (day-ahead, time-weighted): one row per month with prices.
    `meta.mapped` is false, with no rows, for a curve no node is mapped to."""
    first, last = parse_month(month_from, "month_from"), parse_month(month_to, "month_to")
    if first > last:
        raise RequestError("filters_contradictory", "month_from is after month_to")
    if (last.year - first.year) * 12 + last.month - first.month > 120:
        raise RequestError("range_too_long", "at most 120 months at a time")
    access = request.state.principal.access
    reads = services.feeds
    return _answer(
        request, services, ISO_LMP.name, as_at, paging,
        lambda snapshot, limit, offset, fmt: reads.realised_monthly(
            snapshot_id=snapshot, curve_key=curve_key, first=first, last=last, access=access
        ),
    )  # fmt: skip


@series.get("/{source}/{series_id:path}", summary="A public series' observations")
def observations(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    source: Annotated[str, Path(description="EIA, FRED or NOAA.", max_length=16)],
    series_id: Annotated[str, Path(description="The series as its source names it.",
                                   max_length=200)],
    start: DateParam = None,
    end: DateParam = None,
    vintage: Annotated[str | None, Query(description="FRED: the values as published on this "
                                         "day (default: the newest).", max_length=10)] = None,
    as_at: AsAtParam = None,
) -> Response:  # fmt: skip
    """Observations by period; for a vintaged series, one value per period: as published on
    `vintage` (its real-time window holds that day), else the newest."""
    first, last, on = _day(start, "start"), _day(end, "end"), _day(vintage, "vintage")
    reads = services.feeds
    return _answer(
        request, services, SERIES_OBSERVATION.name, as_at, paging,
        lambda snapshot, limit, offset, fmt: reads.series(
            snapshot_id=snapshot, source=source, series_id=series_id, first=first, last=last,
            vintage=on, limit=limit, offset=offset,
        ),
    )  # fmt: skip


@fx.get("", summary="Foreign-exchange reference rates")
def rates(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    currency: Annotated[str | None, Query(description="Comma-separated ISO codes (default: "
                                          "all).", max_length=200)] = None,
    start: DateParam = None,
    end: DateParam = None,
    as_at: AsAtParam = None,
) -> Response:  # fmt: skip
    """The ECB's euro reference rates: units of `currency` per 1 EUR, on TARGET business days
    (there is no rate on a weekend or a TARGET holiday)."""
    wanted = tuple(c.strip() for c in (currency or "").split(",") if c.strip())
    if any(len(c) != 3 or not c.isalpha() for c in wanted):
        raise RequestError("parameter_invalid", f"currency must be ISO codes: {currency!r}")
    first, last = _day(start, "start"), _day(end, "end")
    reads = services.feeds
    return _answer(
        request, services, FX_RATE.name, as_at, paging,
        lambda snapshot, limit, offset, fmt: reads.fx(
            snapshot_id=snapshot, currencies=wanted, first=first, last=last, limit=limit,
            offset=offset,
        ),
    )  # fmt: skip


@feeds.get(
    "/formats", summary="Payload formats a feed load reads", dependencies=[requires(ANALYST, OPS)]
)
def formats() -> Response:
    """Every format by name, with its parameters (`aurum feeds load --format NAME`)."""
    return envelope(readers.describe())


@feeds.get("/loads", summary="Feed loads, newest first", dependencies=[requires(ANALYST, OPS)])
def loads(
    request: Request, services: ServicesDep,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Response:  # fmt: skip
    """Each load's run: the file, its format, the rows and partitions it published, the
    checks that fired, or why it failed."""
    access = request.state.principal.access
    with services.store.transaction(access, write=False) as tx:
        runs = tx.runs(kind="feed_load", limit=limit, offset=offset)
    return envelope([dataclasses.asdict(run) for run in runs])


@feeds.post(
    "/loads", summary="Load a feed payload", status_code=201, dependencies=[requires(OPS)],
    responses={
        200: {"description": "A duplicate: every partition was already published as is."},
        413: {"description": "The upload is larger than allowed."},
        422: {"description": "Not loaded: the payload's reason (nothing was written)."},
    },
)  # fmt: skip
def load(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="A payload (CSV, JSON, XML, zip).")],
    format: Annotated[str | None, Form(max_length=64, description="Its format (see "
                                       "`/v1/feeds/formats`); default: from the name.")] = None,
    param: Annotated[list[str] | None, Form(description="name=value the format needs "
                                            "(repeat).")] = None,
) -> Response:  # fmt: skip
    """Parse, check and publish one payload, as `aurum feeds load` does: 201 when a version was
    published, 200 when it changed nothing, 422 with the reason when it was refused."""
    params = readers.parse_params(param)
    payload = file.file.read()
    done = services.feed_loads.load(
        principal.access, payload, name=file.filename or "payload", format=format,
        params=params, request_id=request.state.request_id,
    )  # fmt: skip
    return envelope([done.summary()], 201 if done.status == "published" else 200)
