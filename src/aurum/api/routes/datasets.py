"""``/v1/datasets``: every dataset's contract, and any served dataset's rows at a snapshot."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, ServicesDep, envelope, read
from aurum.api.params import AsAtParam, PagingDep, field_list
from aurum.api.security import requires
from aurum.auth.principal import ANALYST, OPS
from aurum.query.page import Page

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/datasets",
    tags=["datasets"],
    responses=READ_RESPONSES,
    dependencies=[requires(ANALYST, OPS)],
)

NameParam = Annotated[
    str, Path(description="Dataset name, as `/v1/datasets` lists it.", max_length=63)
]


@router.get("", summary="Dataset contracts")
def contracts(services: ServicesDep) -> Response:
    """Every table Aurum keeps: columns with their docs and units, partitioning, sort order,
    how versions are tagged, owner, retention, whether rows belong to a tenant and whether
    `/v1/datasets/{name}/rows` serves them."""
    return envelope(services.datasets.contracts())


@router.get("/{name}", summary="One dataset's contract")
def contract(services: ServicesDep, name: NameParam) -> Response:
    """One dataset's contract (404 `dataset_unknown` for another name)."""
    return envelope([services.datasets.contract(name).describe()])


@router.get("/{name}/rows", summary="A dataset's rows at a snapshot")
def rows(
    request: Request,
    services: ServicesDep,
    name: NameParam,
    paging: PagingDep,
    as_at: AsAtParam = None,
    fields: Annotated[
        str | None,
        Query(description="Comma-separated columns to return (default: all).", max_length=1000),
    ] = None,
) -> Response:
    """A dataset's published rows in its partition and sort order, as your access allows: a
    tenant-owned dataset shows your tenant's rows, a dataset with a `vendor` column the vendors
    your tenant is entitled to. Operational logs answer 403 `dataset_not_served` (read them
    through `/v1/ingest`)."""
    datasets = services.datasets
    dataset = datasets.contract(name)
    columns = field_list(fields)
    access = request.state.principal.access

    def page(snapshot: int | None, limit: int, offset: int, fmt: str) -> Page:
        assert snapshot is not None  # pinned by `pin` below
        return datasets.rows(
            name, access, snapshot_id=snapshot, columns=columns, limit=limit, offset=offset
        )

    meta: dict[str, Any] = {"dataset": dataset.name}
    return read(
        request, services, page, as_at=as_at, limit=paging.limit,
        pin=lambda snapshot: datasets.pin(name, as_at, snapshot),
        tenant_owned=dataset.tenant_owned, **meta,
    )  # fmt: skip
