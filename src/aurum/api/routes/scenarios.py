"""``/v1/scenarios``: typed, versioned scenarios; their runs on workers; their outputs.

Definitions (CRUD, assumptions, versions) and runs are tenant-owned: another tenant's scenario
or run is a 404 exactly like one that never existed. Every change is a new scenario version and
an audit entry (``aurum.scenarios.ScenarioService`` does both in one transaction). A run is
asked for with ``POST /v1/scenarios/{id}/run`` and executed by ``aurum worker``; its curves are
read like vendor curves with ``scenario_run=`` on ``/v1/curves``, ``/strips`` and ``/diff``,
and page by page, with bands and attribution, from ``…/runs/{run_id}/outputs``.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, ServicesDep, envelope, objects, read
from aurum.api.models import (
    AssumptionIn,
    AssumptionOut,
    AssumptionValueIn,
    DocumentOut,
    DocumentPatch,
    Envelope,
    LogEnvelope,
    Problem,
    RunIn,
    ScenarioIn,
    ScenarioOutputRow,
    ScenarioRunOut,
    ScenarioVersionOut,
)
from aurum.api.params import PagingDep
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ANALYST
from aurum.errors import RequestError
from aurum.scenarios import scenario_schema
from aurum.store import Run

__all__ = ["router"]

MAX_SPEC_BYTES = 256 * 1024
_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_PROBLEM, "description": "A parameter or the body is invalid."},
    403: {**_PROBLEM, "description": "A vendor the scenario reads is not entitled."},
    404: {**_PROBLEM,
          "description": "No such scenario, version, assumption or run in your tenant."},
    409: {**_PROBLEM, "description": "The name is taken, or the run has finished."},
    422: {**_PROBLEM, "description": "The spec is invalid (`spec_invalid`, naming the field),"
          " or the run cannot be computed as asked (`memory_budget_exceeded`, …)."},
}  # fmt: skip
IdPath = Annotated[str, Path(max_length=64, description="The scenario's id.")]
RunPath = Annotated[str, Path(max_length=64, description="The run's id.")]
NamePath = Annotated[str, Path(max_length=200, description="The assumption's name.")]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
OffsetQuery = Annotated[int, Query(ge=0, le=1_000_000)]

router = APIRouter(
    prefix="/v1/scenarios", tags=["scenarios"], responses=RESPONSES,
    dependencies=[requires(ANALYST)],
)  # fmt: skip


def _bounded(value: Any) -> None:
    if len(orjson.dumps(value)) > MAX_SPEC_BYTES:
        raise RequestError("parameter_invalid", f"the body is larger than {MAX_SPEC_BYTES:,} bytes")


@router.get("/schema", summary="JSON Schema of scenario settings and assumptions")
def schema() -> Response:
    """What ``spec`` (the settings) and an assumption's ``value`` may hold."""
    return envelope([scenario_schema()])


@router.get("", response_model=LogEnvelope[DocumentOut], summary="Your tenant's scenarios")
def list_scenarios(
    services: ServicesDep, principal: PrincipalDep, limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Response:  # fmt: skip
    with services.store.transaction(principal.access, write=False) as tx:
        found = tx.documents("scenario", limit=limit, offset=offset)
    return objects(found, limit=limit)


@router.post("", response_model=LogEnvelope[DocumentOut], status_code=201,
             summary="Create a scenario (version 1)")  # fmt: skip
def create_scenario(
    request: Request, services: ServicesDep, principal: PrincipalDep, body: ScenarioIn
) -> Response:
    _bounded(body.model_dump())
    document = services.scenarios.create(
        principal.access, name=body.name, description=body.description, spec=body.spec,
        assumptions=[(a.name, a.value) for a in body.assumptions],
        request_id=request.state.request_id,
    )  # fmt: skip
    return objects([document], 201)


@router.get("/{scenario_id}", response_model=LogEnvelope[DocumentOut], summary="One scenario")
def get_scenario(services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath) -> Response:
    with services.store.transaction(principal.access, write=False) as tx:
        return objects([tx.document("scenario", scenario_id)])


@router.patch("/{scenario_id}", response_model=LogEnvelope[DocumentOut],
              summary="Change a scenario (a new version)")  # fmt: skip
def update_scenario(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    body: DocumentPatch,
) -> Response:  # fmt: skip
    changes = body.model_dump(exclude_unset=True)
    if any(value is None for value in changes.values()):
        raise RequestError("parameter_invalid", "name, description and spec cannot be null")
    _bounded(changes)
    document = services.scenarios.update(
        principal.access, scenario_id, changes, request_id=request.state.request_id
    )
    return objects([document])


@router.delete("/{scenario_id}", status_code=204, summary="Delete a scenario")
def delete_scenario(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath
) -> Response:
    with services.store.transaction(principal.access) as tx:
        document = tx.delete_document("scenario", scenario_id)
        tx.audit("scenario.delete", target=scenario_id, request_id=request.state.request_id,
                 details={"name": document.name})  # fmt: skip
    return Response(status_code=204)


# -- assumptions and versions ---------------------------------------------------------------------


@router.get("/{scenario_id}/assumptions", response_model=LogEnvelope[AssumptionOut],
            summary="A scenario's assumptions, in order")  # fmt: skip
def list_assumptions(
    services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath
) -> Response:
    with services.store.transaction(principal.access, write=False) as tx:
        return objects(tx.assumptions(scenario_id))


@router.post("/{scenario_id}/assumptions", response_model=LogEnvelope[AssumptionOut],
             status_code=201, summary="Add a typed assumption (a new version)")  # fmt: skip
def create_assumption(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    body: AssumptionIn,
) -> Response:  # fmt: skip
    _bounded(body.value)
    assumption = services.scenarios.add_assumption(
        principal.access, scenario_id, name=body.name, value=body.value,
        request_id=request.state.request_id,
    )  # fmt: skip
    return objects([assumption], 201)


@router.put("/{scenario_id}/assumptions/{name}", response_model=LogEnvelope[AssumptionOut],
            summary="Replace an assumption (a new version)")  # fmt: skip
def replace_assumption(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    name: NamePath, body: AssumptionValueIn,
) -> Response:  # fmt: skip
    _bounded(body.value)
    assumption = services.scenarios.replace_assumption(
        principal.access, scenario_id, name, value=body.value,
        request_id=request.state.request_id,
    )  # fmt: skip
    return objects([assumption])


@router.delete("/{scenario_id}/assumptions/{name}", status_code=204,
               summary="Remove an assumption (a new version)")  # fmt: skip
def delete_assumption(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    name: NamePath,
) -> Response:  # fmt: skip
    services.scenarios.remove_assumption(
        principal.access, scenario_id, name, request_id=request.state.request_id
    )
    return Response(status_code=204)


@router.get("/{scenario_id}/versions", response_model=LogEnvelope[ScenarioVersionOut],
            summary="A scenario's versions, newest first")  # fmt: skip
def list_versions(
    services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    limit: LimitQuery = 100, offset: OffsetQuery = 0,
) -> Response:  # fmt: skip
    with services.store.transaction(principal.access, write=False) as tx:
        return objects(tx.scenario_versions(scenario_id, limit=limit, offset=offset), limit=limit)


@router.get("/{scenario_id}/versions/{version}", response_model=LogEnvelope[ScenarioVersionOut],
            summary="A scenario as it was at one version")  # fmt: skip
def get_version(
    services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    version: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:  # fmt: skip
    return objects([services.scenarios.version(principal.access, scenario_id, version)])


# -- runs -----------------------------------------------------------------------------------------


@router.post(
    "/{scenario_id}/run", response_model=LogEnvelope[ScenarioRunOut], status_code=202,
    summary="Run the scenario on a worker (or answer the run that already did)",
)  # fmt: skip
def run_scenario(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    body: RunIn | None = None,
) -> Response:  # fmt: skip
    """Enqueues a run of the scenario's version on the newest base days. A run with the same
    version, vendor-day tags, seed and code version is answered instead (``reused``: true,
    status 200). Poll ``…/runs/{run_id}`` for its progress; ``aurum worker`` executes it."""
    asked = body or RunIn()
    found = services.scenarios.request_run(
        principal.access, scenario_id, version=asked.version, seed=asked.seed,
        request_id=request.state.request_id,
    )  # fmt: skip
    return envelope([_run(found.run, reused=found.reused)], 200 if found.reused else 202)


@router.get("/{scenario_id}/runs", response_model=LogEnvelope[ScenarioRunOut],
            summary="The scenario's runs, newest first")  # fmt: skip
def list_runs(
    services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    limit: LimitQuery = 100, offset: OffsetQuery = 0,
) -> Response:  # fmt: skip
    found = services.scenarios.runs_of(principal.access, scenario_id, limit=limit, offset=offset)
    return envelope([_run(run) for run in found], limit=limit)


@router.get("/{scenario_id}/runs/{run_id}", response_model=LogEnvelope[ScenarioRunOut],
            summary="One run: status, progress, calibration, backtest")  # fmt: skip
def get_run(
    services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath, run_id: RunPath
) -> Response:
    return envelope([_run(services.scenarios.run(principal.access, scenario_id, run_id))])


@router.post("/{scenario_id}/runs/{run_id}/cancel", response_model=LogEnvelope[ScenarioRunOut],
             summary="Cancel a run (queued: at once; running: at its next checkpoint)")  # fmt: skip
def cancel_run(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    run_id: RunPath,
) -> Response:  # fmt: skip
    run = services.scenarios.cancel(
        principal.access, scenario_id, run_id, request_id=request.state.request_id
    )
    return envelope([_run(run)])


@router.get(
    "/{scenario_id}/runs/{run_id}/outputs", response_model=Envelope[ScenarioOutputRow],
    responses=READ_RESPONSES,
    summary="A run's curves: base, scenario, bands, attribution (JSON, CSV, Parquet)",
)  # fmt: skip
def outputs(
    request: Request, services: ServicesDep, principal: PrincipalDep, scenario_id: IdPath,
    run_id: RunPath, paging: PagingDep,
    curve_key: Annotated[
        str | None, Query(max_length=64, description="Only this curve's rows.")
    ] = None,
) -> Response:  # fmt: skip
    """Every row of the run's ``scenario_output`` (or one curve's), in curve and tenor order;
    ``attribution`` is a JSON object: each assumption's share of ``value − base_value``."""
    run = services.scenarios.readable_run(principal.access, run_id, scenario_id)
    outputs = services.scenarios.outputs(principal.access, run, curve_key)
    return read(
        request, services, lambda snapshot, limit_, offset, fmt: outputs.page(limit_, offset),
        as_at=None, limit=paging.limit, pin=lambda snapshot: outputs.snapshot_id, tenant_owned=True,
        run_id=run.run_id,
    )  # fmt: skip


def _run(run: Run, *, reused: bool | None = None) -> dict[str, Any]:
    params = run.params
    return {
        "id": run.run_id, "scenario_id": run.subject, "status": run.status, "reused": reused,
        "version": params.get("version"), "base_tags": params.get("base_tags", {}),
        "seed": params.get("seed"), "code_version": params.get("code_version"),
        "tag": run.tag, "progress": run.progress, "cancel_requested": run.cancel_requested,
        "attempts": run.attempts, "error_code": run.error_code,
        "error_message": run.error_message, "result": run.result,
        "created_by": run.requested_by, "queued_at": run.queued_at,
        "started_at": run.started_at, "finished_at": run.finished_at,
    }  # fmt: skip
