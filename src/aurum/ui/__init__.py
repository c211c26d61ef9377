"""The dashboard: static pages under ``/ui`` that read the public ``/v1`` API and nothing else.

The pages are plain ES modules with Apache ECharts (vendored from the npm registry, see
``vendor.py``), shipped inside the package: no CDN, no build step, nothing fetched at run time.
The assets hold no data, so they are public (``PUBLIC_PREFIXES``); every data call the pages make
carries the credential the user pasted at sign-in. Every answer under ``/ui`` carries a strict
Content-Security-Policy: scripts and styles from this origin only, no inline script, and
``connect-src 'self'`` so a page can talk to this server alone.

This module imports nothing of Aurum's: the dashboard is a client of the API.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

__all__ = ["CSP", "PAGES", "PUBLIC_PREFIXES", "STATIC", "routes"]

STATIC = Path(str(files("aurum.ui") / "static"))
# The pages a URL may name (each is the one index.html; the script draws the page it names).
PAGES = ("curves", "changes", "ingest", "scenarios", "ppa", "sign-in")
# Paths anyone may load: static files that hold no data.
PUBLIC_PREFIXES = ("/ui",)
CSP = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))  # fmt: skip
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class _Assets(StaticFiles):
    """The package's static files with the dashboard's headers; revalidated by ETag."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(_HEADERS)
        response.headers["Cache-Control"] = "no-cache"
        return response


async def _page(request: Request) -> Response:
    page = request.path_params.get("page", "curves")
    if page not in PAGES:
        return RedirectResponse("/ui/", status_code=307)
    response = FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")
    response.headers.update(_HEADERS)
    response.headers["Cache-Control"] = "no-cache"
    return response


async def _home(request: Request) -> Response:
    return RedirectResponse("/ui/", status_code=307)


def routes() -> list[Any]:
    """``/`` and ``/ui`` (redirects), ``/ui/`` and ``/ui/{page}`` (the page), ``/ui/assets``."""
    return [
        Route("/", _home, methods=["GET", "HEAD"], name="home"),
        Route("/ui", _home, methods=["GET", "HEAD"], name="ui-root"),
        Route("/ui/", _page, methods=["GET", "HEAD"], name="ui"),
        Mount("/ui/assets", app=_Assets(directory=STATIC), name="ui-assets"),
        Route("/ui/{page}", _page, methods=["GET", "HEAD"], name="ui-page"),
    ]
