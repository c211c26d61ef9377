"""What handlers get from the app: its services, every ``*Dep``, and the documented error answers.

``create_app`` (``aurum.api.app``) builds :class:`Services` once; this module imports nothing from
it (the FastAPI template's rule), so routes and the app depend on it and never on each other.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.responses import Response

from aurum.api.cache import Cache
from aurum.api.models import Problem
from aurum.api.ratelimit import FailureLimiter, RateLimiter
from aurum.api.render import FORMATS, CursorCodec, Limits, Reader, answer
from aurum.api.security import PrincipalDep
from aurum.auth.access import Access
from aurum.auth.principal import Authenticator, Principal
from aurum.config import Settings
from aurum.lake.catalog import Lake
from aurum.ppa import PpaService
from aurum.query.curves import Curves
from aurum.query.datasets import Datasets
from aurum.query.engine import Query
from aurum.scenarios import ScenarioService
from aurum.store import Store

__all__ = [
    "READ_RESPONSES", "AccessDep", "Metrics", "PrincipalDep", "Services", "ServicesDep", "audit",
    "envelope", "objects", "read",
]  # fmt: skip

log = logging.getLogger("aurum.api")


@dataclass
class Services:
    settings: Settings
    lake: Lake
    store: Store
    curves: Curves
    datasets: Datasets
    query: Query
    cache: Cache
    metrics: Metrics
    auth: Authenticator
    limiter: RateLimiter
    auth_failures: FailureLimiter
    cursors: CursorCodec
    limits: Limits
    scenarios: ScenarioService
    ppa: PpaService


class Metrics:
    """Prometheus metrics of one app (its own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aurum_http_requests", "HTTP requests answered.", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "aurum_http_request_seconds", "Time to answer, by route.", ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )  # fmt: skip
        self.replica_builds = Counter(
            "aurum_replica_builds", "Serving replicas built.", registry=self.registry
        )


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]


async def _access(request: Request) -> Access:
    principal: Principal = request.state.principal  # set by security.Require, which runs first
    return principal.access


AccessDep = Annotated[Access, Depends(_access)]

_PROBLEM = {"model": Problem, "content": {"application/problem+json": {}}}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {FORMATS["csv"].split(";")[0]: {}, FORMATS["parquet"]: {}},
        "description": "A page of rows (JSON `{meta, data}`, CSV or Parquet).",
    },
    304: {"description": "Not modified: the `If-None-Match` ETag still holds."},
    400: {**_PROBLEM, "description": "A parameter is unknown, invalid or contradicts another."},
    404: {**_PROBLEM, "description": "An unknown curve, snapshot or tag."},
    406: {**_PROBLEM, "description": "The format asked for is not offered."},
    410: {**_PROBLEM, "description": "The cursor's snapshot is no longer kept."},
    422: {
        **_PROBLEM,
        "description": "A CSV or Parquet answer would hold more rows than a file may"
        " (`answer_too_large`): narrow the filters or page it with `limit`.",
    },
    503: {
        **_PROBLEM,
        "description": "The lake cannot be read right now, or the read ran past its time limit"
        " (`query_timeout`).",
    },
}


def read(
    request: Request,
    services: Services,
    reader: Reader,
    *,
    as_at: str | None,
    limit: int | None,
    pin: Callable[[int | None], int] | None = None,
    tenant_owned: bool = False,
    **meta: Any,
) -> Response:
    """Answer a read route: pin the snapshot (a cursor's or ``as_at``'s), then page, cache,
    ETag and render (``aurum.api.render.answer``). The cache scope is the caller's access
    (with its tenant, for a ``tenant_owned`` dataset)."""
    access: Access = request.state.principal.access
    return answer(
        request,
        reader,
        scope=access.cache_scope(tenant_owned=tenant_owned),
        pin=pin or (lambda snapshot: services.curves.pin(as_at, snapshot)),
        cache=services.cache,
        cursors=services.cursors,
        neutralised=services.settings.files.neutralise_formulas,
        limit=limit,
        limits=services.limits,
        pinned_by_request=_immutable(as_at),
        meta={"as_at": as_at, **meta} if as_at else meta,
    )


def _immutable(as_at: str | None) -> bool:
    """Whether the state ``as_at`` names can never change: a tag, a snapshot id or a past
    time can be cached for good; ``main`` and a time not yet past move with main.

    >>> _immutable("eod/RP/2025-09-17/v1"), _immutable("main"), _immutable(None)
    (True, False, False)
    >>> _immutable("2025-01-01T00:00:00+00:00"), _immutable("2999-01-01")
    (True, False)
    """
    if as_at is None or as_at == "main":
        return False
    if as_at.isascii() and as_at.isdigit():  # a snapshot id (as the lake reads it)
        return True
    try:
        moment = datetime.fromisoformat(as_at)
    except ValueError:
        return True  # a tag or a snapshot id
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment < datetime.now(UTC)


def envelope(data: list[Any], status: int = 200, **meta: Any) -> Response:
    """A ``{meta, data}`` JSON answer of the operational routes (runs, objects, keys, audit)."""
    document = {"meta": {"count": len(data), **meta}, "data": data}
    try:
        body = orjson.dumps(document, option=orjson.OPT_NON_STR_KEYS, default=str)
    except orjson.JSONEncodeError:
        # Stored before today's checks (an integer beyond 64 bits, a lone surrogate): the
        # standard library writes it as valid JSON text, so the list stays readable.
        log.warning("a stored value orjson cannot encode; answered with the slower encoder")
        body = json.dumps(document, default=_text).encode("ascii")
    return Response(body, status_code=status, media_type="application/json")


def _text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def objects(values: Iterable[Any], status: int = 200, **meta: Any) -> Response:
    """``envelope`` of dataclass values."""
    return envelope([dataclasses.asdict(value) for value in values], status, **meta)


def audit(
    request: Request, principal: Principal, action: str, target: str | None, **details: Any
) -> None:
    """Record ``action`` in the audit log with the caller, its tenant and the request id."""
    services: Services = request.app.state.services
    with services.store.transaction(principal.access) as tx:
        tx.audit(action, target=target, request_id=request.state.request_id, details=details)
