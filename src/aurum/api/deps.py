"""What handlers get from the app: its services, and the documented error answers."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from aurum.api.app import Services
from aurum.api.models import Problem
from aurum.api.render import FORMATS, Reader, answer

if TYPE_CHECKING:
    from aurum.auth.principal import Principal

__all__ = ["READ_RESPONSES", "ServicesDep", "audit", "envelope", "objects", "read"]

log = logging.getLogger("aurum.api")


async def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(_services)]

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
    503: {**_PROBLEM, "description": "The lake cannot be read right now."},
}


def read(
    request: Request,
    services: Services,
    reader: Reader,
    *,
    as_at: str | None,
    limit: int | None,
    pin: Callable[[int | None], int] | None = None,
    **meta: Any,
) -> Response:
    """Answer a read route: pin the snapshot (a cursor's or ``as_at``'s), then page, cache,
    ETag and render (``aurum.api.render.answer``)."""
    api = services.settings.api
    principal = getattr(request.state, "principal", None)
    vendors = principal.vendors if principal is not None else frozenset()
    return answer(
        request,
        reader,
        scope="*" if vendors is None else ",".join(sorted(vendors)),
        pin=pin or (lambda snapshot: services.curves.pin(as_at, snapshot)),
        cache=services.cache,
        cursors=services.cursors,
        neutralised=services.settings.files.neutralise_formulas,
        limit=limit or api.page_size,
        max_limit=api.max_page_size,
        pinned_by_request=as_at is not None,
        meta={"as_at": as_at, **meta} if as_at else meta,
    )


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
    services.store.audit(
        action, actor=principal.actor, tenant_id=principal.tenant_id, target=target,
        request_id=request.state.request_id, details=details,
    )  # fmt: skip
