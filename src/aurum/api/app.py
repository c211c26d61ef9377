"""``create_app()``: the REST API's composition root.

It builds the services once (lake, store, query services, cache) and hands them to the routers,
which are listed here explicitly. Handlers never touch files or SQL: they call services.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Depends, FastAPI
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aurum import __version__
from aurum.api import problems
from aurum.api.cache import Cache, open_cache
from aurum.api.params import reject_unknown
from aurum.api.problems import ApiError
from aurum.api.ratelimit import RateLimiter, open_rate_limiter
from aurum.api.security import check_routes
from aurum.auth.principal import Authenticator
from aurum.config import Settings
from aurum.errors import ConfigError, Conflict, NotFound
from aurum.lake.catalog import Lake
from aurum.query.curves import COLUMNS, Curves
from aurum.query.engine import Query
from aurum.query.replica import Replicas
from aurum.store import Store

__all__ = ["Services", "check_dev_mode", "create_app"]

log = logging.getLogger("aurum.api")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass
class Services:
    settings: Settings
    lake: Lake
    store: Store
    curves: Curves
    query: Query
    cache: Cache
    metrics: Metrics
    auth: Authenticator
    limiter: RateLimiter


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


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    check_dev_mode(settings.auth.mode, settings.api.host)
    lake = Lake(settings)
    store = Store.connect(settings)
    if settings.auth.mode == "dev":
        _ensure_tenant(store, settings.auth.dev_tenant)
    elif store.row_security() == "bypassed":
        log.warning(
            "the operational store's role is a superuser or BYPASSRLS: row-level security does"
            " not bind it, only the service layer scopes tenants (see AURUM_STORE__OWNER_URL)"
        )
    replicas = Replicas(lake, settings.home / "serving", slice_columns=COLUMNS)
    curves = Curves(lake, replicas, freshness_s=settings.api.freshness_s)
    services = Services(
        settings=settings,
        lake=lake,
        store=store,
        curves=curves,
        query=Query(lake),
        cache=open_cache(settings.cache),
        metrics=Metrics(),
        auth=Authenticator(settings.auth, store),
        limiter=open_rate_limiter(
            settings.rate_limit.per_s, settings.rate_limit.burst, _limiter_url(settings)
        ),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        refresher = threading.Thread(
            target=_keep_fresh, args=(services, stop), name="aurum-replica", daemon=True
        )
        refresher.start()
        try:
            yield
        finally:
            stop.set()
            refresher.join(timeout=5)
            curves.replicas.close()
            store.close()

    app = FastAPI(
        title="Aurum",
        version=__version__,
        summary="Energy-market forward curves: slices, strips, latest values and as-of diffs.",
        description=_DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(reject_unknown)],
    )
    app.state.services = services
    problems.install(app)
    from aurum.api.routes import admin, exports, ingest, metadata, objects, ops
    from aurum.api.routes import curves as curve_routes

    routers = (
        curve_routes.router, metadata.router, ingest.router, exports.router,
        *objects.DOCUMENT_ROUTES, objects.model_runs, admin.me, admin.router, ops.router,
    )  # fmt: skip
    check_routes(routers)
    for router in routers:
        app.include_router(router)
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(
        RequestContext,
        metrics=services.metrics,
        max_body=int(settings.api.max_upload_mb * 1024 * 1024) + 64 * 1024,
    )
    return app


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def check_dev_mode(mode: str, host: str) -> None:
    """Dev mode (no authentication) only on a loopback address: refuse anything else."""
    loopback = host in _LOOPBACK or host.startswith("127.")
    if mode == "dev" and not loopback:
        raise ConfigError(
            "dev_mode_exposed",
            f"dev mode has no authentication and listens on loopback only, not {host!r}:"
            " set AURUM_AUTH__MODE=on (with API keys or OIDC) to serve other hosts",
        )


def _ensure_tenant(store: Store, tenant_id: str) -> None:
    try:
        store.tenant(tenant_id)
    except NotFound:
        with contextlib.suppress(Conflict):  # another worker created it meanwhile
            store.create_tenant(tenant_id, "Development")


def _limiter_url(settings: Settings) -> str | None:
    url = settings.rate_limit.url or settings.cache.url
    return url if url and url.startswith(("redis://", "rediss://")) else None


def _keep_fresh(services: Services, stop: threading.Event, every_s: float = 2.0) -> None:
    """Build the replica of each new snapshot soon after it is published, off the request path."""
    while not stop.wait(every_s):
        try:
            report = services.curves.refresh()
        except Exception:  # the next tick retries; requests still read Iceberg meanwhile
            log.exception("building the serving replica failed")
            continue
        if report is not None:
            services.metrics.replica_builds.inc()
            try:
                services.store.sync_instruments(services.curves.instruments())
            except Exception:  # the instrument list catches up on the next build
                log.exception("syncing instruments failed")
            log.info(
                "replica of snapshot %s: %d of %d days rebuilt in %.2f s",
                report.snapshot_id, report.partitions_changed, report.partitions_total,
                report.seconds,
            )  # fmt: skip


class RequestContext:
    """Request id on every response, request metrics, and the request body bound (413)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        length = _header(scope, b"content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            await _too_large(send, request_id, self.max_body)
            self._observe(scope, "413", started)
            return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise ApiError(
                    "upload_too_large", f"the request body exceeds {self.max_body:,} bytes"
                )
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"], (b"x-request-id", request_id.encode())
                ]  # fmt: skip
            await send(message)

        try:
            await self.app(scope, bounded_receive, send_with_id)
        finally:
            self._observe(scope, str(status), started)

    def _observe(self, scope: Scope, status: str, started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(scope["method"], route, status).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    import orjson

    body = orjson.dumps(
        {
            "type": "https://aurum.dev/problems/upload_too_large",
            "title": "Content Too Large",
            "status": 413,
            "code": "upload_too_large",
            "detail": f"the request body exceeds {limit:,} bytes",
            "request_id": request_id,
        }
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", problems.PROBLEM.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_DESCRIPTION = """
Aurum serves the vendors' end-of-day forward curves from a versioned lake.

* Every answer is read from **one snapshot** of the lake, named in `meta.snapshot_id` and the
  `X-Aurum-Snapshot` header. Pages after the first (`cursor`) read the same snapshot, so paging
  stays consistent while new days are published.
* `as_at` reads the lake as it was at a time, a snapshot id or a tag (`eod/RP/2025-09-17/v1`).
* Answers are `{meta, data}` JSON, or CSV / Parquet (`format=` or `Accept`); `ETag` +
  `If-None-Match` give 304; errors are `application/problem+json` with a stable `code`.
* An unknown `curve_key` is **404** (`curve_unknown`); filters that match nothing are an empty
  `data` list with 200.
"""
