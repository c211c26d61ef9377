"""``/v1/ppa``: value PPAs; read, export and report their valuations. Contract versions live
under ``/v1/ppa-contracts/{id}/versions`` (the contracts' CRUD is the shared document router,
with the terms typed and versioned by ``aurum.ppa``).

``POST /v1/ppa/valuate`` values inline terms or a stored contract (and version) on base curves
(as-of, as-at), a scenario run, or its ensemble: deterministic valuations answer at once (201,
the summary and the monthly cashflows); an ensemble's is queued for ``aurum worker`` (202; poll
``/v1/ppa/valuations/{id}``). Every valuation is a run (also listed in ``/v1/model-runs``) whose
monthly rows are published to the tenant-owned ``ppa_valuation`` dataset.
"""

from __future__ import annotations

import tempfile
from pathlib import Path as FilePath
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Path, Query, Request
from pydantic import AfterValidator
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, ServicesDep, envelope, read
from aurum.api.models import LogEnvelope, Problem, plain_json
from aurum.api.params import PagingDep
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ANALYST
from aurum.errors import RequestError
from aurum.ppa.terms import ContractTerms, ValuationRequest
from aurum.scenarios.service import Outputs
from aurum.store import Run

__all__ = ["contract_versions", "router"]

MAX_BODY_BYTES = 512 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_PROBLEM, "description": "A parameter or the body is invalid."},
    403: {**_PROBLEM, "description": "A vendor the valuation reads is not entitled."},
    404: {**_PROBLEM, "description": "No such contract, version, scenario run or valuation."},
    409: {**_PROBLEM, "description": "The valuation has no rows yet."},
    422: {**_PROBLEM, "description": "The terms or request are invalid (`spec_invalid`, naming"
          " the field), or the valuation cannot be done as asked (`term_beyond_curve`,"
          " `units_mismatched`, `volatility_missing`, `blocks_incomplete`, …)."},
}  # fmt: skip
IdPath = Annotated[str, Path(max_length=64, description="The valuation's id.")]
ContractPath = Annotated[str, Path(max_length=64, description="The contract's id.")]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
OffsetQuery = Annotated[int, Query(ge=0, le=1_000_000)]

router = APIRouter(
    prefix="/v1/ppa", tags=["ppa"], responses=RESPONSES, dependencies=[requires(ANALYST)]
)
contract_versions = APIRouter(
    prefix="/v1/ppa-contracts", tags=["ppa-contracts"], responses=RESPONSES,
    dependencies=[requires(ANALYST)],
)  # fmt: skip


@router.get("/schema", summary="JSON Schema of contract terms and of a valuation request")
def schema() -> Response:
    return envelope([{
        "terms": ContractTerms.model_json_schema(),
        "valuation_request": ValuationRequest.model_json_schema(),
    }])  # fmt: skip


@router.post(
    "/valuate", response_model=LogEnvelope[dict[str, Any]], status_code=201,
    summary="Value a PPA (deterministic: now; ensemble: queued)",
)  # fmt: skip
def valuate(
    request: Request, services: ServicesDep, principal: PrincipalDep,
    body: Annotated[dict[str, Any], AfterValidator(plain_json), Body()],
) -> Response:  # fmt: skip
    """Inline ``terms`` or a ``contract_id`` (and ``contract_version``); ``curves``: ``asof``
    and ``as_at``, or ``scenario_run`` (with ``ensemble``: each of its paths); ``discount``: a
    flat annual effective ``rate`` or a ``curve``. See ``GET /v1/ppa/schema``."""
    if len(orjson.dumps(body)) > MAX_BODY_BYTES:
        raise RequestError("parameter_invalid", f"the body is larger than {MAX_BODY_BYTES:,} bytes")
    found = services.ppa.valuate(principal.access, body, request_id=request.state.request_id)
    if found.rows is None:
        return envelope([_valuation(found.run)], 202)
    return envelope([_valuation(found.run, found.rows)], 201)


@router.get("/valuations", response_model=LogEnvelope[dict[str, Any]],
            summary="Your tenant's valuations, newest first")  # fmt: skip
def list_valuations(
    services: ServicesDep, principal: PrincipalDep, limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Response:  # fmt: skip
    found = services.ppa.valuations(principal.access, limit=limit, offset=offset)
    return envelope([_valuation(run) for run in found], limit=limit)


@router.get("/valuations/{valuation_id}", response_model=LogEnvelope[dict[str, Any]],
            summary="One valuation: status, summary, inputs and monthly cashflows")  # fmt: skip
def get_valuation(services: ServicesDep, principal: PrincipalDep, valuation_id: IdPath) -> Response:
    run = services.ppa.valuation(principal.access, valuation_id)
    rows = services.ppa.rows(principal.access, run) if run.status == "published" else None
    return envelope([_valuation(run, rows)])


@router.get(
    "/valuations/{valuation_id}/cashflows", responses=READ_RESPONSES,
    summary="A valuation's monthly rows (JSON, CSV, Parquet: Accept or format=)",
)  # fmt: skip
def cashflows(
    request: Request, services: ServicesDep, principal: PrincipalDep, valuation_id: IdPath,
    paging: PagingDep,
) -> Response:  # fmt: skip
    run = services.ppa.valuation(principal.access, valuation_id)
    rows = services.ppa.rows(principal.access, run)
    outputs = Outputs(rows, int(run.snapshot_id or 0))
    return read(
        request, services, lambda snapshot, limit_, offset, fmt: outputs.page(limit_, offset),
        as_at=None, limit=paging.limit, pin=lambda snapshot: outputs.snapshot_id,
        tenant_owned=True, valuation_id=run.run_id,
    )  # fmt: skip


@router.get(
    "/valuations/{valuation_id}/report.xlsx", summary="The valuation report (XLSX)",
    responses={200: {"content": {XLSX: {}}, "description": "The workbook."}},
)  # fmt: skip
def report(services: ServicesDep, principal: PrincipalDep, valuation_id: IdPath) -> Response:
    run = services.ppa.valuation(principal.access, valuation_id)
    with tempfile.TemporaryDirectory(prefix="aurum-report-") as folder:
        path = services.ppa.report(principal.access, run, FilePath(folder) / "report.xlsx")
        content = path.read_bytes()
    return Response(
        content, media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="valuation-{run.run_id}.xlsx"'},
    )  # fmt: skip


@contract_versions.get(
    "/{contract_id}/versions", response_model=LogEnvelope[dict[str, Any]],
    summary="A contract's versions, newest first",
)  # fmt: skip
def list_contract_versions(
    services: ServicesDep, principal: PrincipalDep, contract_id: ContractPath,
    limit: LimitQuery = 100, offset: OffsetQuery = 0,
) -> Response:  # fmt: skip
    found = services.ppa.contract_versions(principal.access, contract_id, limit=limit,
                                           offset=offset)  # fmt: skip
    return envelope([vars(v) for v in found], limit=limit)


@contract_versions.get(
    "/{contract_id}/versions/{version}", response_model=LogEnvelope[dict[str, Any]],
    summary="A contract's terms at one version",
)  # fmt: skip
def get_contract_version(
    services: ServicesDep, principal: PrincipalDep, contract_id: ContractPath,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
) -> Response:  # fmt: skip
    return envelope([vars(services.ppa.contract_version(principal.access, contract_id, version))])


def _valuation(run: Run, rows: Any = None) -> dict[str, Any]:
    result = run.result or {}
    request = (run.params or {}).get("request", {})
    found = {
        "id": run.run_id, "status": run.status, "contract_id": request.get("contract_id"),
        "contract_version": request.get("contract_version"), "curves": request.get("curves"),
        "tag": run.tag, "progress": run.progress, "error_code": run.error_code,
        "error_message": run.error_message, "summary": result.get("summary"),
        "inputs": result.get("inputs"), "request": request, "created_by": run.requested_by,
        "queued_at": run.queued_at, "finished_at": run.finished_at,
    }  # fmt: skip
    if rows is not None:
        found["cashflows"] = rows.drop_columns(["inputs", "tenant_id"]).to_pylist()
    return found
