"""``/v1/metadata``: what curves, vendors and as-of dates the lake holds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, ServicesDep, read
from aurum.api.models import AsofDate, CurveInfo, Envelope, Vendor
from aurum.api.params import AsAtParam, FormatParam, IdentityDep, PagingDep, entitled
from aurum.api.security import requires
from aurum.auth.principal import ANALYST, OPS

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/metadata",
    tags=["metadata"],
    responses=READ_RESPONSES,
    dependencies=[requires(ANALYST, OPS)],
)


@router.get("/curves", response_model=Envelope[CurveInfo], summary="Curves, searchable")
def curves(
    request: Request,
    services: ServicesDep,
    identity: IdentityDep,
    paging: PagingDep,
    q: Annotated[
        str | None,
        Query(
            description="Words that must all appear in the curve's identity (any field).",
            max_length=200,
        ),
    ] = None,
    as_at: AsAtParam = None,
) -> Response:
    """One row per curve: identity, units, first and last as-of, tenor coverage."""
    where = identity.where()
    return read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.metadata_curves(
            where, search=q, snapshot_id=snapshot, limit=limit, offset=offset
        ),
        as_at=as_at, limit=paging.limit,
    )  # fmt: skip


@router.get("/asof-dates", response_model=Envelope[AsofDate], summary="Published as-of dates")
def asof_dates(
    request: Request,
    services: ServicesDep,
    vendor: Annotated[str | None, Query(max_length=64)] = None,
    format: FormatParam = None,
    as_at: AsAtParam = None,
) -> Response:
    """Every (vendor, as-of) at the snapshot, with rows and the newest published version."""
    access = entitled(request, vendor)
    return read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.asof_dates(
            vendor.upper() if vendor else None, access=access, snapshot_id=snapshot
        ),
        as_at=as_at, limit=None,
    )  # fmt: skip


@router.get("/vendors", response_model=Envelope[Vendor], summary="Vendors")
def vendors(
    request: Request,
    services: ServicesDep,
    format: FormatParam = None,
    as_at: AsAtParam = None,
) -> Response:
    """Each vendor's as-of count, first and last as-of and rows."""
    access = entitled(request)
    return read(
        request, services,
        lambda snapshot, limit, offset, fmt: services.curves.vendors(
            access=access, snapshot_id=snapshot
        ),
        as_at=as_at, limit=None,
    )  # fmt: skip
