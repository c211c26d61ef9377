"""The dashboard in a real browser: Debian's Chromium driven by Playwright (``playwright`` from
PyPI, pointed at ``/usr/bin/chromium``: no browser download), against ``aurum serve`` on a lake
built from the shared real workbooks and the synthetic generator.

Every page a test opens is watched: a request to any host but 127.0.0.1 fails the test (the
browser also cannot resolve any other host), and so does a console error or a page error (a
Content-Security-Policy violation is one). Each test leaves a screenshot in
``$AURUM_TEST_ARTIFACTS`` (default ``test-artifacts/`` in the checkout, ignored by git).

Without Chromium or Playwright the browser tests skip with a message, unless ``CI`` is set:
then they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aurum.config import Settings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("AURUM_TEST_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"
AURUM = Path(sys.executable).parent / "aurum"
# The real workbooks of two vendors on two days, and three synthetic PW days between them.
REAL = ("EOD_EUGP_20250912_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx",
        "EOD_RP_20250912_1430.xlsx", "EOD_RP_20250917_1430.xlsx")  # fmt: skip
PW_FIRST, PW_DAYS = date(2025, 9, 15), 3
FLAGS = (
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)  # fmt: skip


def _browser_or_skip() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - make install puts it in .venv
        if os.environ.get("CI"):
            pytest.fail("playwright is not installed: CI must run the browser tests")
        pytest.skip("playwright is not installed (make install adds it)")
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail(
                "chromium is missing: CI must run the browser tests (make test installs it)"
            )
        pytest.skip("chromium is not installed (make test installs it; apt-get install chromium)")
    return sync_playwright


def run(*args: str, home: Path, env: dict[str, str] | None = None) -> str:
    """``aurum ARGS`` on ``home``; its output (the test fails on a non-zero exit)."""
    done = subprocess.run(
        [str(AURUM), *args], env={**os.environ, "AURUM_HOME": str(home), **(env or {})},
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout


@pytest.fixture(scope="session")
def dashboard_home(
    build_lake: Callable[..., Settings], workbooks_dir: Path, synthetic_days: Callable[..., Any]
) -> Path:
    """A home with the real EUGP and RP workbooks of 2025-09-12 and -17, three synthetic PW days,
    the example driver scenario run, and the example solar PPA valued."""
    paths = [workbooks_dir / name for name in REAL] + synthetic_days("PW", PW_FIRST, PW_DAYS)
    home = build_lake("dashboard", paths).home
    run("scenario", "create", "examples/scenarios/gas-and-carbon.json", home=home)
    run("scenario", "run", "gas and carbon", home=home)
    run("ppa", "create", "examples/ppa/solar-de.json", home=home)
    run("ppa", "value", "Solar DE 50 MW", "--rate", "0.07", "--extrapolate", "flat", home=home)
    return home


@contextmanager
def serving(home: Path, env: dict[str, str] | None = None, worker: bool = False) -> Iterator[str]:
    """``aurum serve`` on a free loopback port (and ``aurum worker`` beside it): its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environment = {**os.environ, "AURUM_HOME": str(home), **(env or {})}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": environment}
    processes = [subprocess.Popen(
        [str(AURUM), "serve", "--host", "127.0.0.1", "--port", str(port)], **quiet  # type: ignore[call-overload]
    )]  # fmt: skip
    if worker:
        processes.append(subprocess.Popen([str(AURUM), "worker"], **quiet))  # type: ignore[call-overload]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(base + "/health", timeout=2):
                    break
            except OSError:
                time.sleep(0.25)
        else:
            raise AssertionError("aurum serve did not answer /health within 60 s")
        yield base
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)


@pytest.fixture(scope="session")
def dashboard(dashboard_home: Path) -> Iterator[str]:
    """The dashboard's server in dev mode (no authentication), with a worker."""
    with serving(dashboard_home, worker=True) as base:
        yield base


def get_json(url: str, token: str | None = None) -> Any:
    """GET ``url`` as the API's client would (for the values a test compares with the page)."""
    request = urllib.request.Request(
        url, headers={"Authorization": f"Bearer {token}"} if token else {}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@dataclass
class Watched:
    """A page and what it did: every request URL, console errors and page errors."""

    page: Any
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    allowed: list[str] = field(default_factory=list)  # console errors a test provokes on purpose

    def ready(self, timeout_ms: float = 20_000) -> Any:
        """Wait until the page's render finished (``main[data-ready]``)."""
        self.page.wait_for_selector("main[data-ready]", timeout=timeout_ms)
        return self.page

    def goto(self, url: str) -> Any:
        self.page.goto(url)
        return self.ready()

    def after(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` (a click, a key, a choice) and wait for the render it starts."""
        self.page.evaluate("() => { delete document.querySelector('main').dataset.ready; }")
        action()
        return self.ready()

    def click(self, selector: str) -> Any:
        """Click ``selector`` and wait for the render it starts."""
        return self.after(lambda: self.page.click(selector))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_playwright = _browser_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=list(FLAGS))
        yield launched
        launched.close()


@pytest.fixture
def watched(browser: Any, request: pytest.FixtureRequest) -> Iterator[Watched]:
    """A fresh 1366x768 page; afterwards: a screenshot, and no request beyond 127.0.0.1, no
    console or page error."""
    context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    page = context.new_page()
    seen = Watched(page)
    page.on("request", lambda r: seen.requests.append(r.url))
    page.on(
        "console", lambda m: seen.errors.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: seen.errors.append(f"page error: {e}"))
    try:
        yield seen
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        name = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        finally:
            context.close()
    remote = [
        url for url in seen.requests if not url.startswith(("http://127.0.0.1:", "data:", "blob:"))
    ]
    assert not remote, f"requests left 127.0.0.1: {remote}"
    unexpected = [e for e in seen.errors if not any(x in e for x in seen.allowed)]
    assert not unexpected, unexpected
