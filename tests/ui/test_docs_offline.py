"""``/docs`` and ``/redoc`` work with no network: their scripts come from the package, and a
real browser (headless Chromium, every host but 127.0.0.1 unresolvable) renders the API's
operations on both pages.

Chromium comes from Debian's package (``make test`` installs it). Without it the browser test
skips with a message, unless ``CI`` is set, in which case it fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aurum.api.app import DOCS_ASSETS, create_app
from aurum.config import Settings

from .conftest import serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PAGES = ("/docs", "/redoc")


@pytest.fixture(scope="module")
def settings(build_lake, synthetic_days) -> Settings:
    return build_lake("docs", synthetic_days("RP", date(2025, 9, 1), 1))


def test_doc_pages_load_nothing_from_another_host(settings: Settings):
    with TestClient(create_app(settings)) as client:
        for page in PAGES:
            html = client.get(page).text
            sources = re.findall(r'(?:src|href)="([^"]+)"', html)
            assert sources and all(s.startswith(DOCS_ASSETS + "/") for s in sources), sources
            assert "cdn." not in html and "fonts.googleapis" not in html
            for source in sources:
                asset = client.get(source)
                assert asset.status_code == 200 and len(asset.content) > 1000, source


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[str]:
    with serving(Path(settings.home)) as base:
        yield base


def rendered(url: str) -> str:
    """The page's DOM after its scripts ran, in headless Chromium that can reach 127.0.0.1
    only (any other host fails to resolve, so a CDN script would never load)."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             "--virtual-time-budget=20000", "--dump-dom", url],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("CI"),
    reason="chromium is not installed (make test installs it; apt-get install chromium)",
)
@pytest.mark.parametrize("page", PAGES)
def test_a_real_browser_renders_the_doc_pages_offline(server: str, page: str):
    assert CHROMIUM is not None, "chromium is missing: CI must run the browser tests"
    dom = rendered(server + page)
    # both pages list the operations by their summaries once their script has run
    for summary in ("Curve rows", "As-of A against as-of B", "Dataset contracts"):
        assert summary in dom, (page, summary, dom[:2000])
    marker = 'class="swagger-ui' if page == "/docs" else "redoc-wrap"
    assert marker in dom, dom[:2000]
