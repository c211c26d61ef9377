"""``aurum serve``: the REST API under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["serve"]


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address (default AURUM_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default AURUM_API__PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default AURUM_API__WORKERS).")
    ] = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs) with uvicorn."""
    import uvicorn

    from aurum.api.app import check_dev_mode

    settings = ctx.obj.settings
    host = host or settings.api.host
    check_dev_mode(settings.auth.mode, host)  # raises: dev mode is loopback only
    os.environ["AURUM_API__HOST"] = host  # the workers' create_app checks the same address
    uvicorn.run(
        "aurum.api.app:create_app",
        factory=True,
        host=host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level="info",
        access_log=False,
    )
