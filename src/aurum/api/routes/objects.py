"""Tenant-owned objects: ``/v1/scenarios`` (with assumptions), ``/v1/ppa-contracts``,
``/v1/curve-defs`` and ``/v1/model-runs``.

Every call is scoped to the caller's tenant by the store (and, on PostgreSQL, by row-level
security): another tenant's id is a 404 exactly like an id that never existed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from aurum.api.deps import ServicesDep, envelope, objects
from aurum.api.models import (
    DocumentIn,
    DocumentOut,
    DocumentPatch,
    LogEnvelope,
    ModelRunOut,
    Problem,
)
from aurum.api.security import PrincipalDep, requires
from aurum.auth.access import Access
from aurum.auth.principal import ANALYST
from aurum.errors import NotFound, RequestError
from aurum.store import Run
from aurum.store.documents import Document, DocumentKind

__all__ = ["DOCUMENT_ROUTES", "RESPONSES", "document_router", "model_runs"]

MAX_SPEC_BYTES = 256 * 1024
_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {**_PROBLEM, "description": "A parameter or the body is invalid."},
    404: {**_PROBLEM, "description": "No such object in your tenant."},
    409: {**_PROBLEM, "description": "The name is taken in your tenant."},
}
IdPath = Annotated[str, Path(max_length=64, description="The object's id.")]
LimitQuery = Annotated[int, Query(ge=1, le=1000)]
OffsetQuery = Annotated[int, Query(ge=0, le=1_000_000)]


def _check_size(spec: Any) -> None:
    """A bounded document (the models already refused what is not plain JSON)."""
    if spec is not None and len(orjson.dumps(spec)) > MAX_SPEC_BYTES:
        raise RequestError("parameter_invalid", f"spec is larger than {MAX_SPEC_BYTES:,} bytes")


Create = Callable[[Access, DocumentIn, str | None], Document]
Update = Callable[[Access, str, dict[str, Any], str | None], Document]


def document_router(
    kind: DocumentKind, path: str, title: str, *,
    create: Callable[[Request], Create] | None = None,
    update: Callable[[Request], Update] | None = None,
) -> APIRouter:  # fmt: skip
    """CRUD for one kind of tenant document, under ``/v1/{path}``; ``create``/``update`` give,
    for a request, the service that validates, versions and audits the document (default: the
    store keeps it as it is)."""
    router = APIRouter(
        prefix=f"/v1/{path}", tags=[path], responses=RESPONSES,
        dependencies=[requires(ANALYST)],
    )  # fmt: skip

    @router.get("", response_model=LogEnvelope[DocumentOut], summary=f"Your tenant's {title}s")
    def list_documents(
        services: ServicesDep, principal: PrincipalDep, limit: LimitQuery = 100,
        offset: OffsetQuery = 0,
    ) -> Response:  # fmt: skip
        with services.store.transaction(principal.access, write=False) as tx:
            found = tx.documents(kind, limit=limit, offset=offset)
        return objects(found, limit=limit)

    @router.post(
        "", response_model=LogEnvelope[DocumentOut], status_code=201, summary=f"Create a {title}"
    )
    def create_document(
        request: Request, services: ServicesDep, principal: PrincipalDep, body: DocumentIn
    ) -> Response:
        _check_size(body.spec)
        if create is not None:
            made = create(request)(principal.access, body, request.state.request_id)
            return objects([made], 201)
        with services.store.transaction(principal.access) as tx:
            document = tx.create_document(
                kind, name=body.name, description=body.description, spec=body.spec
            )
            tx.audit(f"{kind}.create", target=document.id, request_id=request.state.request_id,
                     details={"name": document.name})  # fmt: skip
        return objects([document], 201)

    @router.get("/{object_id}", response_model=LogEnvelope[DocumentOut], summary=f"One {title}")
    def get_document(services: ServicesDep, principal: PrincipalDep, object_id: IdPath) -> Response:
        with services.store.transaction(principal.access, write=False) as tx:
            return objects([tx.document(kind, object_id)])

    @router.patch(
        "/{object_id}", response_model=LogEnvelope[DocumentOut], summary=f"Change a {title}"
    )
    def update_document(
        request: Request, services: ServicesDep, principal: PrincipalDep, object_id: IdPath,
        body: DocumentPatch,
    ) -> Response:  # fmt: skip
        changes = body.model_dump(exclude_unset=True)
        if any(value is None for value in changes.values()):
            raise RequestError("parameter_invalid", "name, description and spec cannot be null")
        _check_size(changes.get("spec"))
        if update is not None:
            changed = update(request)(principal.access, object_id, changes,
                                      request.state.request_id)  # fmt: skip
            return objects([changed])
        with services.store.transaction(principal.access) as tx:
            document = tx.update_document(kind, object_id, changes)
            tx.audit(f"{kind}.update", target=object_id, request_id=request.state.request_id,
                     details={"fields": sorted(changes)})  # fmt: skip
        return objects([document])

    @router.delete("/{object_id}", status_code=204, summary=f"Delete a {title}")
    def delete_document(
        request: Request, services: ServicesDep, principal: PrincipalDep, object_id: IdPath
    ) -> Response:
        with services.store.transaction(principal.access) as tx:
            document = tx.delete_document(kind, object_id)
            tx.audit(f"{kind}.delete", target=object_id, request_id=request.state.request_id,
                     details={"name": document.name})  # fmt: skip
        return Response(status_code=204)

    return router


def _contracts(request: Request) -> Any:
    return request.app.state.services.ppa


DOCUMENT_ROUTES = (  # scenarios have their own routes (aurum.api.routes.scenarios)
    document_router(
        "ppa_contract", "ppa-contracts", "PPA contract",
        create=lambda request: lambda access, body, request_id: _contracts(request)
        .create_contract(access, name=body.name, description=body.description, spec=body.spec,
                         request_id=request_id),
        update=lambda request: lambda access, id_, changes, request_id: _contracts(request)
        .update_contract(access, id_, changes, request_id=request_id),
    ),  # terms typed and versioned by aurum.ppa (versions: aurum.api.routes.ppa)
    document_router("curve_def", "curve-defs", "curve definition"),
)

model_runs = APIRouter(
    prefix="/v1/model-runs", tags=["model-runs"], responses=RESPONSES,
    dependencies=[requires(ANALYST)],
)  # fmt: skip


@model_runs.get("", response_model=LogEnvelope[ModelRunOut], summary="Your tenant's model runs")
def list_model_runs(
    services: ServicesDep, principal: PrincipalDep, limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> Response:  # fmt: skip
    """Scenario runs and valuations, newest first."""
    with services.store.transaction(principal.access, write=False) as tx:
        found = tx.runs(kind=_MODEL_RUNS, limit=limit, offset=offset)
    return envelope([_model_run(run) for run in found], limit=limit)


@model_runs.get("/{object_id}", response_model=LogEnvelope[ModelRunOut], summary="One model run")
def get_model_run(services: ServicesDep, principal: PrincipalDep, object_id: IdPath) -> Response:
    unknown = NotFound("model_run_unknown", f"no model run {object_id!r}")
    try:
        with services.store.transaction(principal.access, write=False) as tx:
            run = tx.get_run(object_id)
    except NotFound:
        raise unknown from None
    if run.kind not in _MODEL_RUNS:
        raise unknown
    return envelope([_model_run(run)])


_MODEL_RUNS = ("scenario_run", "valuation")


def _model_run(run: Run) -> dict[str, Any]:
    return {
        "id": run.run_id, "tenant_id": run.tenant_id, "kind": run.kind, "subject_id": run.subject,
        "status": run.status, "params": run.params, "result": run.result,
        "created_by": run.requested_by, "created_at": run.queued_at,
        "finished_at": run.finished_at,
    }  # fmt: skip
