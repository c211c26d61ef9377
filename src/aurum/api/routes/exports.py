"""``/v1/exports``: one as-of day as a CSV, Parquet or Excel file."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import FileResponse

from aurum.api.deps import READ_RESPONSES, ServicesDep, audit
from aurum.api.params import AsAtParam, entitled, parse_date
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ANALYST, OPS
from aurum.lineage import shared_lineage
from aurum.query.exports import export_day, export_path

__all__ = ["router"]

router = APIRouter(prefix="/v1/exports", tags=["exports"])

_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# How cached export files are written; files of an older version (made before text that looks
# like a formula was neutralised, or before Excel files were laid out for people) are never
# served again.
_FILES_VERSION = "v3"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    xlsx = "xlsx"


class Layout(StrEnum):
    long = "long"
    grid = "grid"


@router.get(
    "/curve_observation",
    responses={
        200: {
            "content": {media.split(";")[0]: {} for media in _MEDIA.values()},
            "description": "The file.",
        },
        400: READ_RESPONSES[400],
        404: READ_RESPONSES[404],
        422: {
            **READ_RESPONSES[422],
            "description": "The day has more rows than a file may hold (`answer_too_large`):"
            " export one vendor at a time (XLSX: at most an Excel sheet's 1,048,575 rows).",
        },
        503: READ_RESPONSES[503],
    },
    response_class=FileResponse,
    summary="Export one as-of day",
    dependencies=[requires(ANALYST, OPS)],
)
def curve_observation(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    asof: Annotated[str, Query(description="YYYY-MM-DD", max_length=10)],
    vendor: Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_]+$")] = None,
    format: ExportFormat = ExportFormat.parquet,
    layout: Annotated[
        Layout,
        Query(
            description="How an Excel file is laid out. `long`: a row per curve and tenor,"
            " sorted by identity and tenor, the columns a person reads. `grid`: one sheet per"
            " vendor-day, tenors down and curves across (mids), like the vendor's workbook;"
            " XLSX only. Both add a `provenance` sheet (hashes, file, version, run)."
        ),
    ] = Layout.long,
    as_at: AsAtParam = None,
) -> FileResponse:
    """The day's rows (one vendor or all the tenant is entitled to) as a file, kept under
    `$AURUM_HOME/exports-cache/v3/{snapshot}/{entitlement}/exports/{tenant}/asof=YYYY-MM-DD/`
    and reused while the snapshot and the tenant's entitlements stay. CSV and Parquet hold
    every column in the API's order; XLSX is laid out for people (see `layout`): a styled
    header, frozen panes, filters and column widths. CSV text cells that start like a formula
    (`=`, `+`, `-`, `@`, tab, CR) begin with `'`; XLSX writes them as text."""
    day = parse_date(asof, "asof")
    access = entitled(request, vendor)
    curves = services.curves
    snapshot = curves.pin(as_at)
    neutralised = services.settings.files.neutralise_formulas
    # one cached file per (snapshot, vendors the tenant may read, how text is written): a
    # withdrawn entitlement never serves a file made under the old one
    scope = _digest(access.cache_scope(tenant_owned=False))
    out = (
        services.settings.home / "exports-cache" / _FILES_VERSION / str(snapshot)
        / (scope if neutralised else f"{scope}-raw")
    )  # fmt: skip
    tenant = principal.tenant_id
    path = export_path(out, day, vendor, format.value, tenant, layout.value)
    rows = None
    if not path.exists():
        path, rows, _ = export_day(
            curves, day, out=out, fmt=format.value, layout=layout.value, vendor=vendor,
            tenant=tenant, access=access, snapshot_id=snapshot, neutralised=neutralised,
            max_rows=services.settings.query.max_file_rows,
        )  # fmt: skip
    shared_lineage(services.settings).exported(
        file=path.name, snapshot_id=snapshot, asof=day, vendor=vendor, rows=rows,
        tenant_id=tenant, actor=principal.actor, request_id=request.state.request_id,
    )  # fmt: skip
    audit(
        request, principal, "export", path.name,
        asof=day.isoformat(), vendor=vendor, format=format.value, layout=layout.value,
    )  # fmt: skip
    return FileResponse(
        path,
        media_type=_MEDIA[format.value],
        filename=path.name,
        headers={"X-Aurum-Snapshot": str(snapshot)},
    )
