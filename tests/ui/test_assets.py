"""The dashboard's assets: served from the package under /ui with a strict CSP, public (they hold
no data) while every data call needs a credential, and the vendored chart library is the one
VENDOR.json pins."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aurum import ui
from aurum.api.app import create_app
from aurum.config import Settings

STATIC = ui.STATIC


@pytest.fixture(scope="module")
def settings(build_lake, synthetic_days) -> Settings:
    return build_lake("ui-assets", synthetic_days("PW", date(2025, 9, 1), 1))


def _assets() -> list[Path]:
    return sorted(p for p in STATIC.rglob("*") if p.is_file())


def test_the_vendored_files_are_the_pinned_ones():
    pinned = json.loads((STATIC / "vendor" / "VENDOR.json").read_text())
    for package in pinned.values():
        for name, facts in package["files"].items():
            digest = hashlib.sha256((STATIC / "vendor" / name).read_bytes()).hexdigest()
            assert digest == facts["sha256"], f"{name} differs from VENDOR.json: run make ui-vendor"


def test_every_asset_is_in_the_package_data():
    """A file the globs of pyproject.toml miss would be absent from a wheel (pip install users)."""
    import fnmatch
    import tomllib

    root = STATIC.parents[2]  # src/
    project = tomllib.loads((root.parent / "pyproject.toml").read_text())
    globs = project["tool"]["setuptools"]["package-data"]["aurum"]
    for path in _assets():
        name = path.relative_to(root / "aurum").as_posix()
        assert any(fnmatch.fnmatch(name, g) and name.count("/") == g.count("/") for g in globs), (
            name
        )


def test_no_asset_names_another_host_or_runs_inline_script():
    for path in _assets():
        if path.suffix not in (".html", ".js", ".css") or path.parent.name == "vendor":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?:src|href)=[\"']?(?:https?:)?//", text), path
        assert "cdn." not in text and "googleapis" not in text, path
        assert not re.search(r"\son[a-z]+=\"", text), (
            f"inline handler in {path}"
        )  # CSP refuses them
        if path.suffix == ".html":
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline script in {path}"
            assert "style=" not in text, f"inline style in {path}"


def test_pages_and_assets_are_public_and_carry_the_csp(settings: Settings):
    secured = settings.model_copy(update={"auth": settings.auth.model_copy(update={"mode": "on"})})
    with TestClient(create_app(secured), follow_redirects=False) as client:
        home = client.get("/")
        assert home.status_code == 307 and home.headers["location"] == "/ui/"
        for path in ("/ui/", "/ui/curves", "/ui/changes", "/ui/sign-in"):
            page = client.get(path)
            assert page.status_code == 200, path
            assert page.headers["content-type"].startswith("text/html")
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "connect-src 'self'" in csp
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
            assert page.headers["x-frame-options"] == "DENY"
        assert client.get("/ui/nowhere").status_code == 307  # an unknown page goes to the first
        for path in _assets():
            url = "/ui/assets/" + path.relative_to(STATIC).as_posix()
            answer = client.get(url)
            assert answer.status_code == 200, url
            assert answer.headers["content-security-policy"] == ui.CSP
            assert answer.headers["x-content-type-options"] == "nosniff"
            if path.suffix == ".js":
                assert answer.headers["content-type"].startswith(
                    ("text/javascript", "application/javascript")
                )
        # the data the pages show is not public
        assert client.get("/v1/me").status_code == 401
        assert client.get("/v1/metadata/curves").status_code == 401
        assert client.get("/ui/assets/../../config.py").status_code == 404


def test_every_route_is_declared_or_explicitly_public(settings: Settings):
    """An app route is an API route with declared roles, /health, the doc pages, or the
    dashboard's static files (explicitly public: they hold no data)."""
    from fastapi.routing import APIRoute
    from starlette.routing import Mount

    app = create_app(settings)
    public = {"/", "/ui", "/ui/", "/ui/{page}", "/ui/assets"}
    docs = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/docs-assets"}
    routes = [
        inner
        for route in app.routes
        for inner in getattr(getattr(route, "original_router", None), "routes", [route])
    ]  # (included routers are checked by check_routes when the app is made)
    for route in routes:
        path = route.path
        if isinstance(route, APIRoute) and path not in docs:
            assert path == "/health" or (route.openapi_extra or {}).get("x-aurum-roles"), path
            continue
        assert path in public | docs, f"{path} is neither a secured API route nor listed public"
        if path in public and isinstance(route, Mount):
            assert path == "/ui/assets"
