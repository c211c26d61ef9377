"""``create_app()``: the REST API's composition root.

It builds the services once (lake, store, query services, cache) and hands them to the routers,
which are listed here explicitly. Handlers never touch files or SQL: they call services.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aurum import telemetry, ui
from aurum._version import __version__
from aurum.alerts import Alerts
from aurum.api import problems
from aurum.api.breaker import Breaker
from aurum.api.cache import Cache, open_cache
from aurum.api.deps import Metrics, Services, housekeeping
from aurum.api.params import reject_unknown
from aurum.api.ratelimit import FailureLimiter, RateLimiter, open_rate_limiter
from aurum.api.render import CursorCodec, Limits
from aurum.api.routes import (
    admin,
    exports,
    ingest,
    metadata,
    objects,
    observability,
    operations,
    ops,
)
from aurum.api.routes import catalog as catalog_routes
from aurum.api.routes import curves as curve_routes
from aurum.api.routes import datasets as dataset_routes
from aurum.api.routes import events as events_routes
from aurum.api.routes import feeds as feed_routes
from aurum.api.routes import ppa as ppa_routes
from aurum.api.routes import scenarios as scenario_routes
from aurum.api.security import PUBLIC, check_routes, is_loopback, requires
from aurum.auth.access import PLATFORM
from aurum.auth.principal import ANALYST, OPS, Authenticator
from aurum.catalog import Catalog
from aurum.config import AuthSettings, Settings
from aurum.datasets import Dataset
from aurum.errors import ConfigError, Conflict, NotFound, PayloadTooLarge
from aurum.events.webhooks import Deliveries, Webhooks
from aurum.feeds.service import Feeds
from aurum.lake.catalog import Lake
from aurum.lineage import shared_lineage
from aurum.observability.metrics import lineage_families
from aurum.observability.usage import UsageMeter, usage_kind
from aurum.ppa import PpaService
from aurum.query.curves import COLUMNS, Curves
from aurum.query.datasets import Datasets
from aurum.query.engine import Query
from aurum.query.feeds import FeedReads
from aurum.query.replica import Replicas
from aurum.runs import Runs
from aurum.runs.loop import Every
from aurum.scenarios import ScenarioService
from aurum.store import Store
from aurum.store.keys import ApiKey
from aurum.store.tenants import Tenant

__all__ = ["authenticator", "check_dev_mode", "create_app", "housekeeping"]

log = logging.getLogger("aurum.api")
access_log = logging.getLogger("aurum.access")
DOCS_ASSETS = "/docs-assets"  # Swagger UI and ReDoc, served from the package
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def create_app(settings: Settings | None = None, datasets: Iterable[Dataset] = ()) -> FastAPI:
    """The API over the lake and store ``settings`` name; ``datasets``: contracts beyond the
    built-in ones (a feature's own tables, or a test's)."""
    settings = settings or Settings()
    check_dev_mode(settings.auth.mode, settings.api.host)
    lake = Lake(settings, datasets=datasets)
    store = Store.connect(settings)
    if settings.auth.mode == "dev":
        _ensure_tenant(store, settings.auth.dev_tenant)
    elif (security := store.row_security()) in ("bypassed", "rls-owner"):
        log.warning(
            "the operational store's role %s row-level security: only the service layer is"
            " sure to scope tenants; connect as a role that owns nothing (AURUM_STORE__URL) and"
            " migrate as the owner (AURUM_STORE__OWNER_URL)",
            "bypasses" if security == "bypassed" else "owns the tables and could lift",
        )
    replicas = Replicas(lake, settings.home / "serving", slice_columns=COLUMNS)
    curves = Curves(
        lake, replicas, freshness_s=settings.api.freshness_s, timeout_s=settings.query.timeout_s
    )
    cache, limiter, auth_failures = _redis_users(settings)
    scenarios = ScenarioService(
        store, lake, Runs(store, lease=settings.runs.lease, lineage=shared_lineage(settings)),
        limits=settings.scenarios,
        timeout_s=settings.query.timeout_s,
    )  # fmt: skip
    services = Services(
        settings=settings,
        lake=lake,
        store=store,
        curves=curves,
        datasets=Datasets(lake, timeout_s=settings.query.timeout_s),
        query=Query(lake, timeout_s=settings.query.timeout_s),
        cache=cache,
        metrics=Metrics(),
        auth=authenticator(settings.auth, store),
        limiter=limiter,
        auth_failures=auth_failures,
        cursors=CursorCodec(cursor_keys(settings)),
        limits=Limits(
            settings.api.page_size, settings.api.max_page_size, settings.query.max_file_rows
        ),
        scenarios=scenarios,
        ppa=PpaService(store, lake, scenarios.runs, curves, scenarios),
        webhooks=Webhooks(store),
        usage=UsageMeter(store),
        catalog=Catalog(lake),
        alerts=Alerts(store, settings.alerts),
        feed_loads=Feeds(lake, store, scenarios.runs),
        feeds=FeedReads(
            lake, curves, timeout_s=settings.query.timeout_s, freshness_s=settings.api.freshness_s
        ),
    )
    services.metrics.watch(store, extra=lineage_families(shared_lineage(settings)))
    telemetry.configure_tracing(settings.telemetry.traces, kept=settings.telemetry.traces_kept)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        refresher = threading.Thread(
            target=_keep_fresh, args=(services, stop), name="aurum-replica", daemon=True
        )
        refresher.start()
        deliveries = Deliveries(store, settings.events)
        loops = [
            Every(10.0, services.usage.flush, name="aurum-usage").start(),
            Every(settings.alerts.check_interval_s, services.alerts.run_once,
                  name="aurum-alerts").start(),
        ]  # fmt: skip
        if settings.events.webhook_poll_s > 0:
            poll = settings.events.webhook_poll_s
            loops.append(Every(poll, deliveries.run_once, name="aurum-webhooks").start())
        try:
            yield
        finally:
            stop.set()
            for loop in loops:
                loop.stop()
            deliveries.close()
            services.alerts.close()
            with contextlib.suppress(Exception):  # the store may be gone: counts are lost then
                services.usage.flush()
            refresher.join(timeout=5)
            curves.replicas.close()
            store.close()

    secured = settings.auth.mode == "on"
    # /docs and /redoc load Swagger UI and ReDoc from the package (fastapi-offline), never from
    # a CDN; with authentication on, the API's description is for callers only and both are off
    described: dict[str, Any] = {
        "title": "Aurum",
        "version": __version__,
        "summary": "Energy-market forward curves: slices, strips, latest values and as-of diffs.",
        "description": _DESCRIPTION,
        "lifespan": lifespan,
        "dependencies": [Depends(reject_unknown)],
    }
    if secured:
        app = FastAPI(**described, openapi_url=None, docs_url=None, redoc_url=None)
    else:
        app = FastAPIOffline(**described, static_url=DOCS_ASSETS)
    if secured:

        @app.get("/openapi.json", include_in_schema=False, dependencies=[requires(ANALYST, OPS)])
        async def openapi() -> JSONResponse:
            return JSONResponse(app.openapi())

    app.state.services = services
    problems.install(app)
    routers = (
        curve_routes.router, metadata.router, dataset_routes.router, ingest.router, exports.router,
        scenario_routes.router, *objects.DOCUMENT_ROUTES, ppa_routes.contract_versions,
        ppa_routes.router, objects.model_runs, events_routes.router, events_routes.hooks,
        operations.router, catalog_routes.router, observability.router, observability.usage,
        admin.me, admin.router, ops.router, feed_routes.iso, feed_routes.series, feed_routes.fx,
        feed_routes.feeds,
    )  # fmt: skip
    check_routes(routers)
    for router in routers:
        app.include_router(router)
    # the dashboard: public static files (they hold no data; each call they make carries the
    # user's credential), under /ui with its own Content-Security-Policy
    app.router.routes.extend(ui.routes())
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    app.add_middleware(
        RequestContext,
        services=services,
        access_log=settings.telemetry.access_log,
        max_body=int(settings.api.max_upload_mb * 1024 * 1024) + 64 * 1024,
        credentials_required=settings.auth.mode == "on",
    )
    return app


def check_dev_mode(mode: str, host: str) -> None:
    """Dev mode (no authentication) only on a loopback address: refuse anything else. (Each
    request is checked too, against the socket it arrived on: see ``security.Require``.)"""
    if mode == "dev" and not is_loopback(host):
        raise ConfigError(
            "dev_mode_exposed",
            f"dev mode has no authentication and listens on loopback only, not {host!r}:"
            " set AURUM_AUTH__MODE=on (with API keys or OIDC) to serve other hosts",
        )


def _ensure_tenant(store: Store, tenant_id: str) -> None:
    try:
        with store.transaction(PLATFORM, write=False) as tx:
            tx.tenant(tenant_id)
    except NotFound:
        with contextlib.suppress(Conflict), store.transaction(PLATFORM) as tx:
            tx.create_tenant(tenant_id, "Development")  # (another worker may have, meanwhile)


def authenticator(settings: AuthSettings, store: Store) -> Authenticator:
    """The authenticator of ``settings``, looking keys and tenants up in ``store``."""

    def key(token: str) -> ApiKey:
        with store.transaction(PLATFORM, write=False) as tx:
            return tx.verify_key(token)

    def tenant(tenant_id: str) -> Tenant:
        with store.transaction(PLATFORM, write=False) as tx:
            return tx.tenant(tenant_id)

    return Authenticator(settings, keys=key, tenants=tenant)


def cursor_keys(settings: Settings) -> tuple[bytes, ...]:
    """The keys that sign (first) and accept cursors: the configured key, or the one kept in
    ``AURUM_HOME/cursor.key`` (made on first use, readable by its owner only); then the key
    before a rotation, if any."""
    api = settings.api
    if api.cursor_key is not None:
        current = api.cursor_key.get_secret_value().encode()
    else:
        current = _home_key(settings.home / "cursor.key")
    previous = api.cursor_previous_key
    return (current,) if previous is None else (current, previous.get_secret_value().encode())


def _home_key(path: Path) -> bytes:
    """The key in ``path``, made on first use: written beside it and linked into place, so
    workers starting together all read the one key that won."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(secrets.token_hex(32))
    try:
        os.link(scratch, path)
    except FileExistsError:
        pass  # another worker's key won
    finally:
        scratch.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text(encoding="ascii").strip().encode()
    if len(key) < 16:
        raise ConfigError(
            "cursor_key_invalid",
            f"{path} holds no usable cursor key (16+ characters): delete it to make a new one",
        )
    return key


def _redis_users(settings: Settings) -> tuple[Cache, RateLimiter, FailureLimiter]:
    """The response cache, the rate limiter and the failed-authentication limiter. Those on the
    same Redis share one circuit breaker, so a hung Redis costs a request one deadline at most."""
    limits, timeout_s = settings.rate_limit, settings.cache.redis_timeout_s
    cooldown_s = settings.cache.redis_cooldown_s
    breaker = Breaker("Redis", cooldown_s=cooldown_s)
    url = _limiter_url(settings)
    shared = (
        breaker if url == settings.cache.url else Breaker("Redis (limits)", cooldown_s=cooldown_s)
    )
    limiter = open_rate_limiter(
        limits.per_s, limits.burst, url, breaker=shared, timeout_s=timeout_s
    )
    failures = open_rate_limiter(
        limits.failed_auth_per_s, limits.failed_auth_burst, url, breaker=shared,
        timeout_s=timeout_s,
    )  # fmt: skip
    return open_cache(settings.cache, breaker), limiter, FailureLimiter(failures)


def _limiter_url(settings: Settings) -> str | None:
    url = settings.rate_limit.url or settings.cache.url
    return url if url and url.startswith(("redis://", "rediss://")) else None


def _keep_fresh(
    services: Services, stop: threading.Event, every_s: float = 2.0, chores_every_s: float = 60.0
) -> None:
    """Build the replica of each new snapshot soon after it is published, off the request path,
    and keep the store's instruments in step with the curves of the newest snapshot; at start
    and then every ``chores_every_s``, do the server's chores (``housekeeping``)."""
    synced: int | None = None
    chores_at = -math.inf
    while True:
        if time.monotonic() - chores_at >= chores_every_s:
            chores_at = time.monotonic()
            try:
                housekeeping(services)
            except Exception:  # the next round retries
                log.exception("the server's housekeeping failed")
        try:
            report = services.curves.refresh()
            snapshot = services.curves.pin()
            if snapshot != synced:
                with services.store.transaction(PLATFORM) as tx:
                    tx.sync_instruments(services.curves.instruments())
                synced = snapshot
        except Exception:  # the next tick retries; requests still read Iceberg meanwhile
            log.exception("refreshing the serving replica or the instruments failed")
            report = None
        if report is not None:
            services.metrics.replica_builds.inc()
            log.info(
                "replica of snapshot %s: %d of %d days rebuilt in %.2f s",
                report.snapshot_id, report.partitions_changed, report.partitions_total,
                report.seconds,
            )  # fmt: skip
        if stop.wait(every_s):
            return


# JSON bodies (tenant objects, keys) are small documents; only uploads may be large.
MAX_JSON_BODY = 1024 * 1024


class RequestContext:
    """Request id on every response, request metrics, and the request body bound (413); with
    authentication on, a request with no credential at all is refused before its body is read."""

    def __init__(
        self, app: ASGIApp, *, services: Services, max_body: int, credentials_required: bool,
        access_log: bool = True,
    ) -> None:  # fmt: skip
        self.app = app
        self.metrics = services.metrics
        self.usage = services.usage
        self.access_log = access_log
        self.max_body = max_body
        self.credentials_required = credentials_required

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        limit = self.max_body
        if (_header(scope, b"content-type") or "").startswith("application/json"):
            limit = min(limit, MAX_JSON_BODY)
        length = _header(scope, b"content-length")
        if length and length.isdigit() and int(length) > limit:
            await _refuse(send, request_id, 413, "upload_too_large",
                          f"the request body exceeds {limit:,} bytes")  # fmt: skip
            self._observe(scope, "413", started)
            return
        if (
            self.credentials_required
            and scope["path"] not in PUBLIC
            and not _header(scope, b"authorization")
            and scope["method"] not in ("GET", "HEAD")  # those have no body to spare
        ):
            await _refuse(send, request_id, 401, "unauthenticated",
                          "this route needs a bearer token or an API key")  # fmt: skip
            self._observe(scope, "401", started)
            return
        seen = 0

        async def bounded_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLarge(
                    "upload_too_large", f"the request body exceeds {limit:,} bytes"
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

        response_headers: dict[bytes, bytes] = {}
        with (
            telemetry.context(request_id=request_id),
            telemetry.span(f"HTTP {scope['method']}", path=scope["path"]) as opened,
        ):
            try:
                await self._call(scope, bounded_receive, send_with_id, response_headers)
            finally:
                if opened is not None:
                    opened.set_attribute("http.status_code", status)
                    principal = scope["state"].get("principal")
                    if principal is not None and principal.tenant_id is not None:
                        opened.set_attribute("aurum.tenant", principal.tenant_id)
                self._done(scope, status, started, response_headers)

    async def _call(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes]
    ) -> None:
        """The app, with an unexpected error answered as a problem (500) here."""
        started_response = False

        async def keep_headers(message: Message) -> None:
            nonlocal started_response
            if message["type"] == "http.response.start":
                started_response = True
                headers.update((k.lower(), v) for k, v in message.get("headers", ()))
            await send(message)

        try:
            await self.app(scope, receive, keep_headers)
        except Exception:
            # Answered here, not re-raised: the server would otherwise close the connection
            # and a keep-alive client's next request would fail too.
            if started_response:
                raise
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            detail = "an unexpected error; it has been logged with the request id"
            request_id = scope["state"]["request_id"]
            await _refuse(send, request_id, 500, "internal_error", detail)

    def _observe(self, scope: Scope, status: str, started: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(scope["method"], route, status).inc()
        self.metrics.latency.labels(route, status).observe(time.perf_counter() - started)

    def _done(self, scope: Scope, status: int, started: float, headers: dict[bytes, bytes]) -> None:
        """Metrics, the access log line and the tenant's usage of one answered request."""
        self._observe(scope, str(status), started)
        cached = headers.get(b"x-aurum-cache")
        if cached in (b"hit", b"miss"):
            self.metrics.cache.labels(cached.decode()).inc()
        route = getattr(scope.get("route"), "path", "unmatched")
        principal = scope.get("state", {}).get("principal")
        tenant = getattr(principal, "tenant_id", None)
        if self.access_log:
            access_log.info(
                "%s %s %d %.1f ms request_id=%s", scope["method"], scope["path"], status,
                (time.perf_counter() - started) * 1000, scope["state"]["request_id"],
                extra={"fields": {
                    "method": scope["method"], "path": scope["path"], "route": route,
                    "status": status, "ms": round((time.perf_counter() - started) * 1000, 3),
                    "tenant": tenant,
                }},
            )  # fmt: skip
        media = headers.get(b"content-type", b"").decode("latin-1")
        kind = usage_kind(scope["method"], scope["path"], media) if status < 300 else None
        if kind is not None and tenant is not None:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            vendors = [v for value in query.get("vendor", ()) for v in value.split(",") if v]
            rows = headers.get(b"x-aurum-rows", b"0")
            self.usage.count(tenant, kind, vendors, int(rows) if rows.isdigit() else 0)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _refuse(send: Send, request_id: str, status: int, code: str, detail: str) -> None:
    """A problem answer sent before the app (and before reading the body)."""
    import orjson

    body = orjson.dumps(
        {
            "type": f"https://aurum.dev/problems/{code}",
            "title": problems.title(status),
            "status": status,
            "code": code,
            "detail": detail,
            "request_id": request_id,
        }
    )
    headers = [
        (b"content-type", problems.PROBLEM.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="aurum"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
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
