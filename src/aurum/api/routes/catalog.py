"""``/v1/catalog/datasets``: the data catalog, searchable, as the caller's tenant may know it.

Every role of a tenant reads it (it describes data, it is not the data); its facts (rows,
versions, last publish, freshness) count only what the caller may read. The handlers call the
catalog service (``aurum.catalog.Catalog``) and nothing else.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from aurum.api.deps import AccessDep, ServicesDep, envelope
from aurum.api.models import LogEnvelope, Problem
from aurum.api.security import requires
from aurum.auth.principal import ANALYST, OPS

__all__ = ["CatalogEntry", "router"]

_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
router = APIRouter(
    prefix="/v1/catalog",
    tags=["catalog"],
    responses={
        404: {**_PROBLEM, "description": "No dataset of that name (`dataset_unknown`)."},
        503: {**_PROBLEM, "description": "The lake cannot be read right now."},
    },
    dependencies=[requires(ANALYST, OPS)],
)

NameParam = Annotated[
    str, Path(description="Dataset name, as `/v1/catalog/datasets` lists it.", max_length=63)
]
QueryParam = Annotated[
    str | None,
    Query(
        description="Words that must all appear in the dataset's name, doc, column names or"
        " column docs (case-insensitive); each entry then names the columns that matched.",
        max_length=200,
    ),
]


class CatalogColumn(BaseModel):
    name: str
    type: str = Field(description="Arrow type.")
    doc: str = Field(description="What the column means.")
    unit: str | None = Field(description="Unit of a quantity (null: none).")
    required: bool


class TagSchemeOut(BaseModel):
    prefix: str
    keys: list[str] = Field(description="Partition columns, in the tag's order.")
    pattern: str = Field(description="e.g. `eod/{vendor}/{asof_date}/v{n}`.")


class RowRetention(BaseModel):
    column: str
    days: float


class FreshnessOut(BaseModel):
    vendor: str
    newest: date = Field(description="Newest published as-of (`order_by`) of the vendor.")
    age_days: int = Field(description="Days from it to today (UTC).")


class FactsOut(BaseModel):
    snapshot_id: int | None = Field(description="Main's snapshot the facts describe.")
    rows: int = Field(description="Rows you may read at that snapshot.")
    versions: int | None = Field(description="Published versions you see (null: a log).")
    partitions: int | None = Field(description="Partitions published that you see.")
    snapshots: int | None = Field(
        description="Main's snapshots kept for time travel (null: your view is limited)."
    )
    last_published: datetime | None = Field(
        description="Newest version you see (a log: its last append, by any run)."
    )
    freshness: list[FreshnessOut] = Field(description="Per entitled vendor (curves only).")
    counted_over: dict[str, list[str]] = Field(
        description="The column values the counts are limited to (empty: every row)."
    )


class LineageEdge(BaseModel):
    dataset: str
    kind: Literal["derived", "log"] = Field(
        description="derived: rows computed from the upstream's; log: written by its ingest."
    )


class Lineage(BaseModel):
    upstream: list[LineageEdge]
    downstream: list[LineageEdge]


class CatalogEntry(BaseModel):
    name: str
    doc: str
    owner: str
    columns: list[CatalogColumn]
    partition_by: list[str]
    sort_by: list[str]
    tag_scheme: TagSchemeOut | None = Field(description="How versions are tagged (null: a log).")
    order_by: str | None
    retain_rows: RowRetention | None
    retain_snapshots_days: float
    tenant_owned: bool
    rows_served: bool = Field(description="Whether `/v1/datasets/{name}/rows` serves it.")
    served_by: str | None
    derived_from: list[str]
    facts: FactsOut
    lineage: Lineage
    matched_columns: list[str] | None = Field(
        description="Columns a search word matched (null: not a search)."
    )


@router.get("/datasets", response_model=LogEnvelope[CatalogEntry], summary="The data catalog")
def datasets(services: ServicesDep, access: AccessDep, q: QueryParam = None) -> Response:
    """Every dataset (or those matching `q`): its contract (columns with docs and units,
    partitioning, tag scheme, owner, retention), facts at main's current snapshot (rows,
    versions, last publish, freshness per vendor: yours only) and lineage in both directions."""
    found = services.catalog.entries(access, q)
    return envelope([entry.describe() for entry in found], **({"q": q} if q else {}))


@router.get(
    "/datasets/{name}", response_model=LogEnvelope[CatalogEntry], summary="One catalog entry"
)
def dataset(services: ServicesDep, access: AccessDep, name: NameParam) -> Response:
    """One dataset's entry (404 `dataset_unknown` for another name)."""
    return envelope([services.catalog.entry(name, access).describe()])
