"""``aurum serve``: the REST API under uvicorn, with an access log.

The access log is one line per request on stderr, by the ``aurum.access`` logger: method, path
(without the query: it may carry what a log should not), status, duration and the request id the
API answered with (``X-Request-Id``), so a line finds its problem document and its audit entry::

    INFO:     GET /v1/curves 200 12.4 ms request_id=3f2a9c1e...

It is on by default (``--no-access-log`` turns it off); uvicorn's own access log, which has no
duration and no request id, stays off.
"""

from __future__ import annotations

import copy
import logging
import os
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "create_logged_app", "serve"]

log = logging.getLogger("aurum.access")


class AccessLog:
    """ASGI middleware: one ``aurum.access`` line per HTTP request, once it is answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, request_id = 500, "-"

        async def send_seen(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name.lower() == b"x-request-id":
                        request_id = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            log.info(
                "%s %s %d %.1f ms request_id=%s", scope["method"], scope["path"], status,
                (time.perf_counter() - started) * 1000, request_id,
            )  # fmt: skip


def create_logged_app() -> ASGIApp:
    """The API (``create_app``) with the access log: the factory ``aurum serve`` runs."""
    from aurum.api.app import create_app

    return AccessLog(create_app())


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the ``aurum.access`` logger on its default (stderr) handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["aurum.access"] = {"handlers": ["default"], "level": "INFO",
                                         "propagate": False}  # fmt: skip
    return config


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address (default AURUM_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default AURUM_API__PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default AURUM_API__WORKERS).")
    ] = None,
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="Log each request: method, path, status, duration, request id.",
        ),
    ] = True,
) -> None:
    """Serve the REST API (OpenAPI at /docs) with uvicorn."""
    import uvicorn

    from aurum.api.app import check_dev_mode

    context = ctx.obj
    settings = context.settings
    host = host or settings.api.host
    check_dev_mode(settings.auth.mode, host)  # raises: dev mode is loopback only
    context.check_home()
    if not context.lake_exists:
        context.output().note(
            f"no lake at {context.home} yet: serving an empty one; `aurum ingest` or"
            " POST /v1/ingest fills it"
        )
    os.environ["AURUM_API__HOST"] = host  # the workers' create_app checks the same address
    uvicorn.run(
        "aurum.cli.serve:create_logged_app" if access_log else "aurum.api.app:create_app",
        factory=True,
        host=host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level="info",
        log_config=_log_config(),
        access_log=False,
    )
