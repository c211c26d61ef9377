"""What handlers get from the app: its services, every ``*Dep``, and the documented error answers.

``create_app`` (``aurum.api.app``) builds :class:`Services` once; this module imports nothing from
it (the FastAPI template's rule), so routes and the app depend on it and never on each other.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.responses import Response

from aurum.alerts import Alerts
from aurum.api.cache import Cache
from aurum.api.models import Problem
from aurum.api.ratelimit import FailureLimiter, RateLimiter
from aurum.api.render import FORMATS, CursorCodec, Limits, Reader, answer
from aurum.api.security import PrincipalDep
from aurum.auth.access import Access
from aurum.auth.principal import Authenticator, Principal
from aurum.catalog import Catalog
from aurum.config import Settings
from aurum.errors import AurumError
from aurum.events.webhooks import Webhooks
from aurum.feeds.service import Feeds
from aurum.lake.catalog import Lake
from aurum.lineage import shared_lineage
from aurum.observability.metrics import Metrics
from aurum.observability.usage import UsageMeter
from aurum.ppa import PpaService
from aurum.query.curves import Curves
from aurum.query.datasets import Datasets
from aurum.query.engine import Query
from aurum.query.feeds import FeedReads
from aurum.runs import Runs, drop_orphan_branches
from aurum.scenarios import ScenarioService
from aurum.store import Store

__all__ = [
    "READ_RESPONSES", "AccessDep", "Metrics", "PrincipalDep", "Services", "ServicesDep", "audit",
    "envelope", "housekeeping", "objects", "read",
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
    webhooks: Webhooks
    usage: UsageMeter
    catalog: Catalog
    alerts: Alerts
    feeds: FeedReads
    feed_loads: Feeds


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
        "content": {FORMATS["csv"].split(";")[0]: {}, FORMATS["parquet"]: {}, FORMATS["xlsx"]: {}},
        "description": "A page of rows (JSON `{meta, data}`, CSV, Parquet or XLSX).",
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


# An upload's folder lives for the request that wrote it; older ones were left by a crash.
_UPLOAD_LIFETIME = timedelta(hours=1)


def housekeeping(services: Services) -> dict[str, list[str]]:
    """What a crash leaves behind, cleared by the server as by the CLI: runs whose lease expired
    (recorded as published if the catalog has them, else failed), write-audit-publish branches
    no live run holds, scratch files of a replica build, scratch folders of split scenario runs
    that ended, and upload folders older than an upload may take. What it cleared, by kind."""
    settings = services.settings
    done: dict[str, list[str]] = {
        "runs": [], "branches": [], "replica_files": [], "scenario_scratch": [], "uploads": [],
    }  # fmt: skip
    runs = Runs(services.store, lease=settings.runs.lease, lineage=shared_lineage(settings))
    for run in runs.recover(services.lake):
        log.warning("recovered run %s, whose lease expired: %s", run.run_id, run.status)
        done["runs"].append(f"{run.run_id}: {run.status}")
    for branch in drop_orphan_branches(services.lake, services.store):
        log.warning("dropped the branch %s, which no live run holds", branch)
        done["branches"].append(branch)
    for path in services.curves.replicas.sweep() if services.curves.replicas else ():
        log.warning("removed %s, left by a replica build that died", path.name)
        done["replica_files"].append(path.name)
    try:  # the warehouse may be out of reach (S3): the uploads are cleared all the same
        swept = services.scenarios.sweep_scratch()
    except (AurumError, OSError) as exc:
        log.warning("the scratch folders of split scenario runs were not swept: %s", exc)
        swept = []
    for run_id in swept:
        log.warning("removed the scratch folder of the split scenario run %s, which ended", run_id)
        done["scenario_scratch"].append(run_id)
    uploads = settings.home / "uploads"
    cutoff = time.time() - _UPLOAD_LIFETIME.total_seconds()
    for folder in uploads.iterdir() if uploads.is_dir() else ():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            log.warning("removed the abandoned upload %s", folder.name)
            done["uploads"].append(folder.name)
    return done
