"""``/v1/me`` (who am I), and ``/v1/admin``: the audit log and the tenant's API keys."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from aurum import tenancy
from aurum.api.deps import ServicesDep, envelope, objects
from aurum.api.models import ApiKeyOut, AuditEntryOut, IssuedKeyOut, KeyIn, LogEnvelope, Me
from aurum.api.params import parse_date
from aurum.api.routes.objects import RESPONSES
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ADMIN, ANALYST, OPS
from aurum.auth.roles import ROLES
from aurum.errors import RequestError

__all__ = ["me", "router"]

me = APIRouter(tags=["admin"])


@me.get("/v1/me", response_model=Me, summary="The caller", dependencies=[requires(ANALYST, OPS)])
def whoami(principal: PrincipalDep) -> Me:
    """Subject, tenant, roles and entitled vendors of the credential sent."""
    return Me(
        subject=principal.subject,
        tenant_id=principal.tenant_id,
        roles=sorted(principal.roles),
        vendors=sorted(principal.vendors) if principal.vendors is not None else None,
        via=principal.via,
    )


router = APIRouter(
    prefix="/v1/admin", tags=["admin"], dependencies=[requires(ADMIN)], responses=RESPONSES
)


@router.get("/audit", response_model=LogEnvelope[AuditEntryOut], summary="The audit log")
def audit_log(
    services: ServicesDep,
    principal: PrincipalDep,
    action: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(description="YYYY-MM-DD (UTC)", max_length=10)] = None,
    before_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Page: entries older than this id.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Ingests, exports, key creation and revocation, and changes to tenant objects, newest
    first: your tenant's entries and the platform's (no tenant) about vendors your tenant is
    entitled to (a page can hold fewer than `limit`: page on with `before_id`)."""
    day = parse_date(since, "since") if since else None
    with services.store.transaction(principal.access, write=False) as tx:
        entries = tx.audit_log(
            action=action, before_id=before_id, limit=limit,
            since=datetime(day.year, day.month, day.day, tzinfo=UTC) if day else None,
        )  # fmt: skip
    return objects(entries, limit=limit, next_before_id=entries[-1].id if entries else None)


@router.get("/keys", response_model=LogEnvelope[ApiKeyOut], summary="Your tenant's API keys")
def keys(services: ServicesDep, principal: PrincipalDep) -> Response:
    with services.store.transaction(principal.access, write=False) as tx:
        return objects(tx.api_keys())


@router.post(
    "/keys", response_model=LogEnvelope[IssuedKeyOut], status_code=201, summary="Issue an API key"
)
def create_key(
    request: Request, services: ServicesDep, principal: PrincipalDep, body: KeyIn
) -> Response:
    """A key of your tenant; `token` is in this answer only."""
    if body.role not in ROLES:
        raise RequestError("parameter_invalid", f"role must be one of {', '.join(ROLES)}")
    issued = tenancy.issue_key(
        services.store, principal.access, tenant_id=principal.tenant_id, role=body.role,
        name=body.name, request_id=request.state.request_id,
        expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
    )  # fmt: skip
    return envelope([{**dataclasses.asdict(issued.key), "token": issued.token}], 201)


@router.delete("/keys/{prefix}", response_model=LogEnvelope[ApiKeyOut], summary="Revoke an API key")
def revoke_key(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    prefix: Annotated[str, Path(max_length=16)],
) -> Response:
    key = tenancy.revoke_key(
        services.store, principal.access, prefix, request_id=request.state.request_id
    )
    services.auth.forget_key(prefix)
    return objects([key])
