"""Operations: ``/health`` (the process answers), ``/ready`` (it can serve), ``/metrics``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from aurum._version import __version__
from aurum.api.deps import ServicesDep
from aurum.api.problems import RETRY_AFTER_S
from aurum.api.security import requires
from aurum.auth.access import PLATFORM
from aurum.auth.principal import OPS
from aurum.errors import AurumError

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness")
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get(
    "/ready",
    dependencies=[requires(OPS)],
    summary="Readiness: lake, store, cache and serving replica",
    responses={503: {"description": "Not ready; the body says which check failed."}},
)
def ready(services: ServicesDep) -> Response:
    checks: dict[str, Any] = {}
    ok = True
    for name, check in (
        ("lake", lambda: services.curves.table().metadata.refs["main"].snapshot_id),
        ("store", lambda: _store_answers(services)),
        ("cache", lambda: services.cache.ping() or services.cache.name),
        ("rate_limit", lambda: services.limiter.ping() or services.limiter.name),
        ("row_security", services.store.row_security),
        ("replica", lambda: services.curves.replicas.has(services.curves.pin())),
    ):
        try:
            checks[name] = {"ok": True, "value": check()}
        except (AurumError, OSError) as exc:
            ok = False
            checks[name] = {"ok": False, "error": getattr(exc, "code", type(exc).__name__)}
        except Exception as exc:  # a backend's own error type (Redis, a driver): not ready
            ok = False
            checks[name] = {"ok": False, "error": type(exc).__name__}
    down = [name for name, check in checks.items() if not check["ok"]]
    body = orjson.dumps({"status": "ready" if ok else "not_ready", "down": down, "checks": checks})
    headers = {} if ok else {"Retry-After": str(RETRY_AFTER_S)}
    return Response(
        body, status_code=200 if ok else 503, media_type="application/json", headers=headers
    )


def _store_answers(services: Any) -> int:
    with services.store.transaction(PLATFORM, write=False) as tx:
        return len(tx.runs(limit=1))


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    dependencies=[requires(OPS)],
)
def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
