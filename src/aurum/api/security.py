"""Authentication, roles and rate limits at the HTTP edge.

Every route declares the roles it needs with ``dependencies=[requires(...)]``; ``create_app``
refuses to start if a route other than ``/health`` declares none (``check_routes``), and each
operation's OpenAPI carries ``security`` and ``x-aurum-roles``. The dependency authenticates the
bearer credential (``aurum.auth.principal``), takes a token from the caller's rate-limit bucket
and checks the role; handlers then read the principal with ``PrincipalDep``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Network, IPv6Network
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from aurum import telemetry
from aurum.api.models import Problem
from aurum.auth.principal import Principal
from aurum.auth.roles import Role
from aurum.errors import AuthError, Forbidden, RateLimited

__all__ = ["PUBLIC", "PrincipalDep", "Require", "check_routes", "requires"]

# Routes anyone may call: liveness only (a load balancer has no credentials).
PUBLIC = frozenset({"/health"})

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An OIDC access token (JWT) from the identity provider, or an Aurum API key"
    " (`aurum_…`, from `aurum keys create`).",
)


class Require:
    """A route dependency: an authenticated principal holding one of ``roles`` (admin: all)."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self.roles: tuple[Role, ...] = tuple(roles)

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        services = request.app.state.services
        auth = services.auth
        token = credentials.credentials if credentials else None
        tenant = request.headers.get("x-aurum-tenant")
        principal = auth.peek(token)
        if principal is None:
            principal = await _authenticate(request, services, token, tenant)
        request.state.principal = principal
        telemetry.bind(tenant=principal.tenant_id)
        if principal.via == "dev" and not _arrived_on_loopback(request):
            raise Forbidden("dev_mode_exposed", "dev mode answers on a loopback address only")
        if principal.via != "dev":
            decision = services.limiter.take(principal.rate_key)
            if not decision.allowed:
                raise RateLimited(
                    "rate_limited",
                    f"more than {decision.limit} requests at once; retry in"
                    f" {decision.retry_after_s:.1f} s",
                    retry_after_s=decision.retry_after_s,
                )
        if not principal.has_any(self.roles):
            raise Forbidden(
                "role_missing", f"this route needs one of the roles {', '.join(self.roles)}"
            )
        return principal


async def _authenticate(
    request: Request, services: Any, token: str | None, tenant: str | None
) -> Principal:
    """Look the credential up (a database or JWKS call, off the event loop), unless its client
    address failed too often lately: then 429 before any lookup. A credential that fails counts
    against the address; a request with none costs no lookup and counts nothing."""
    client = client_address(request, services.settings.api.trusted_proxies)
    wait = services.auth_failures.retry_after(client)
    if wait is not None and token:
        raise RateLimited(
            "auth_rate_limited",
            f"too many failed authentications from your address; retry in {wait:.1f} s",
            retry_after_s=wait,
        )
    try:
        principal: Principal = await run_in_threadpool(services.auth.authenticate, token, tenant)
    except AuthError:
        if token:
            services.auth_failures.failed(client)
        raise
    return principal


def client_address(request: Request, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """The calling client's address: the connection's peer, or, when that peer is a trusted
    proxy, the rightmost ``X-Forwarded-For`` entry that is not a trusted proxy (entries left of
    it are the client's own claims, which anyone can forge)."""
    peer = request.client.host if request.client else ""
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _within(hop, trusted):
            return hop
    return peer


def _within(address: str, networks: Sequence[IPv4Network | IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in networks)


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``); no other name."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _arrived_on_loopback(request: Request) -> bool:
    """Whether the connection came in on a loopback address of this server (a server bound to
    0.0.0.0 by hand, past ``aurum serve``'s check, still refuses other interfaces). A socket
    that is not TCP (a Unix socket, an in-process test transport) is local by nature."""
    server = request.scope.get("server")
    if not server:
        return True
    try:
        return ipaddress.ip_address(str(server[0]).strip("[]")).is_loopback
    except ValueError:
        return True


def requires(*roles: Role) -> Any:
    """``dependencies=[requires(ANALYST, OPS)]`` on a route or router."""
    return Depends(Require(roles))


async def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal  # set by Require, which runs first
    return principal


PrincipalDep = Annotated[Principal, Depends(_principal)]


_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
_SECURED: dict[int | str, dict[str, Any]] = {
    401: {**_PROBLEM, "description": "No valid credential (missing, expired, revoked, forged)."},
    403: {**_PROBLEM, "description": "A role or vendor entitlement is missing."},
    429: {**_PROBLEM, "description": "Rate limit: retry after `Retry-After` seconds."},
}


def check_routes(routers: Iterable[APIRouter]) -> None:
    """Every route of ``routers`` but ``PUBLIC`` ones declares its roles (else the app does not
    start); the roles and the 401/403/429 answers go into the OpenAPI."""
    for route in (r for router in routers for r in router.routes):
        if not isinstance(route, APIRoute):
            raise RuntimeError(f"{route!r} is not an API route: its access cannot be checked")
        declared = [d.dependency for d in route.dependencies if isinstance(d.dependency, Require)]
        if route.path in PUBLIC:
            continue
        if len(declared) != 1:
            raise RuntimeError(
                f"route {sorted(route.methods or ())} {route.path} must declare its roles once with"
                " requires(...)"
            )
        route.openapi_extra = {**(route.openapi_extra or {}), "x-aurum-roles": list(
            declared[0].roles
        )}  # fmt: skip
        route.responses = {**_SECURED, **route.responses}
