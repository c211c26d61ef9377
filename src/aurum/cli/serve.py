"""``aurum serve``: the REST API under uvicorn, logging as the settings say.

The API's middleware writes the access log: one line per request on stderr, by the
``aurum.access`` logger — method, path (without the query: it may carry what a log should not),
status, duration and the request id the API answered with (``X-Request-Id``), so a line finds its
problem document and its audit entry::

    INFO aurum.access: GET /v1/curves 200 12.4 ms request_id=3f2a9c1e...

With ``AURUM_TELEMETRY__LOG_FORMAT=json`` every Aurum log line is a JSON object carrying the
request id, tenant and run id. The access log is on by default (``--no-access-log`` or
``AURUM_TELEMETRY__ACCESS_LOG=false`` turn it off); uvicorn's own, which has neither duration nor
request id, stays off.
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from starlette.types import ASGIApp

__all__ = ["create_served_app", "serve"]


def create_served_app() -> ASGIApp:
    """The API with Aurum's logging configured: the factory each uvicorn worker runs."""
    from aurum import telemetry
    from aurum.api.app import create_app
    from aurum.config import Settings

    settings = Settings()
    telemetry.configure_logging(settings.telemetry.log_format, settings.telemetry.log_level)
    return create_app(settings)


def _log_config() -> dict[str, Any]:
    """uvicorn's own logging (Aurum's loggers get their handler in ``create_served_app``)."""
    from uvicorn.config import LOGGING_CONFIG

    return copy.deepcopy(LOGGING_CONFIG)


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
            help="Log each request: method, path, status, duration, request id (default"
            " AURUM_TELEMETRY__ACCESS_LOG).",
        ),
    ] = True,
) -> None:
    """Serve the REST API (OpenAPI at /docs) and the dashboard (/ui) with uvicorn."""
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
    shown = f"\\[{host}]" if ":" in host else host  # (IPv6; rich prints \\[ as [)
    context.output().note(
        f"the dashboard: http://{shown}:{port or settings.api.port}/ui/"
        + (" (sign in with an API key or a bearer token)" if settings.auth.mode == "on" else "")
    )
    if not access_log:
        os.environ["AURUM_TELEMETRY__ACCESS_LOG"] = "false"
    uvicorn.run(
        "aurum.cli.serve:create_served_app",
        factory=True,
        host=host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level="info",
        log_config=_log_config(),
        access_log=False,
    )
