"""Tenant-owned objects: ``/v1/scenarios`` (with assumptions), ``/v1/ppa-contracts``,
``/v1/curve-defs`` and ``/v1/model-runs``.

Every call is scoped to the caller's tenant by the store (and, on PostgreSQL, by row-level
security): another tenant's id is a 404 exactly like an id that never existed.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from aurum.api.deps import ServicesDep, audit, objects
from aurum.api.models import (
    AssumptionIn,
    AssumptionOut,
    DocumentIn,
    DocumentOut,
    DocumentPatch,
    LogEnvelope,
    ModelRunOut,
    Problem,
)
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ANALYST
from aurum.errors import RequestError
from aurum.store.tenancy import DocumentKind

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


def document_router(kind: DocumentKind, path: str, title: str) -> APIRouter:
    """CRUD for one kind of tenant document, under ``/v1/{path}``."""
    router = APIRouter(
        prefix=f"/v1/{path}", tags=[path], responses=RESPONSES,
        dependencies=[requires(ANALYST)],
    )  # fmt: skip

    @router.get("", response_model=LogEnvelope[DocumentOut], summary=f"Your tenant's {title}s")
    def list_documents(
        services: ServicesDep, principal: PrincipalDep, limit: LimitQuery = 100,
        offset: OffsetQuery = 0,
    ) -> Response:  # fmt: skip
        found = services.store.documents(kind, principal.tenant_id, limit=limit, offset=offset)
        return objects(found, limit=limit)

    @router.post(
        "", response_model=LogEnvelope[DocumentOut], status_code=201, summary=f"Create a {title}"
    )
    def create_document(
        request: Request, services: ServicesDep, principal: PrincipalDep, body: DocumentIn
    ) -> Response:
        _check_size(body.spec)
        document = services.store.create_document(
            kind, principal.tenant_id, name=body.name, description=body.description,
            spec=body.spec, created_by=principal.actor,
        )  # fmt: skip
        audit(request, principal, f"{kind}.create", document.id, name=document.name)
        return objects([document], 201)

    @router.get("/{object_id}", response_model=LogEnvelope[DocumentOut], summary=f"One {title}")
    def get_document(services: ServicesDep, principal: PrincipalDep, object_id: IdPath) -> Response:
        return objects([services.store.document(kind, principal.tenant_id, object_id)])

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
        document = services.store.update_document(kind, principal.tenant_id, object_id, changes)
        audit(request, principal, f"{kind}.update", object_id, fields=sorted(changes))
        return objects([document])

    @router.delete("/{object_id}", status_code=204, summary=f"Delete a {title}")
    def delete_document(
        request: Request, services: ServicesDep, principal: PrincipalDep, object_id: IdPath
    ) -> Response:
        document = services.store.delete_document(kind, principal.tenant_id, object_id)
        audit(request, principal, f"{kind}.delete", object_id, name=document.name)
        return Response(status_code=204)

    if kind == "scenario":

        @router.get(
            "/{object_id}/assumptions",
            response_model=LogEnvelope[AssumptionOut],
            summary="A scenario's assumptions",
        )
        def list_assumptions(
            services: ServicesDep, principal: PrincipalDep, object_id: IdPath
        ) -> Response:
            return objects(services.store.assumptions(principal.tenant_id, object_id))

        @router.post(
            "/{object_id}/assumptions",
            response_model=LogEnvelope[AssumptionOut],
            status_code=201,
            summary="Add an assumption to a scenario",
        )
        def create_assumption(
            request: Request, services: ServicesDep, principal: PrincipalDep, object_id: IdPath,
            body: AssumptionIn,
        ) -> Response:  # fmt: skip
            _check_size(body.value)
            assumption = services.store.create_assumption(
                principal.tenant_id, object_id, name=body.name, value=body.value,
                created_by=principal.actor,
            )  # fmt: skip
            audit(request, principal, "assumption.create", assumption.id, scenario=object_id)
            return objects([assumption], 201)

    return router


DOCUMENT_ROUTES = (
    document_router("scenario", "scenarios", "scenario"),
    document_router("ppa_contract", "ppa-contracts", "PPA contract"),
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
    found = services.store.model_runs(principal.tenant_id, limit=limit, offset=offset)
    return objects(found, limit=limit)


@model_runs.get("/{object_id}", response_model=LogEnvelope[ModelRunOut], summary="One model run")
def get_model_run(services: ServicesDep, principal: PrincipalDep, object_id: IdPath) -> Response:
    return objects([services.store.model_run(principal.tenant_id, object_id)])
