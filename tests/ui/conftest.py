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
    the demo's synthetic PJM day-ahead hub prices of September 2025 (and ECB rates), the example
    driver scenario run, and the example solar PPA valued."""
    paths = [workbooks_dir / name for name in REAL] + synthetic_days("PW", PW_FIRST, PW_DAYS)
    home = build_lake("dashboard", paths).home
    from aurum.feeds.demo import write_demo_feeds

    feeds = write_demo_feeds(home / "feeds", first=PW_FIRST, last=PW_FIRST)
    run("feeds", "load", *map(str, feeds), home=home)
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


def post_json(url: str, body: Any, token: str | None = None) -> Any:
    """POST ``body`` as JSON; the answer's JSON (the test fails on an error status)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def wait_for(url: str, done: Callable[[Any], bool], timeout_s: float = 180) -> Any:
    """GET ``url`` until ``done(answer)``; the answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = get_json(url)
        if done(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


# Seventy as-of days of EUGP German power (BASE, PEAK), TTF and EUA: the history an ensemble
# calibrates on (the scenario tests' lake, built by their own module).
ENSEMBLE_SPEC = {
    "base": {"vendors": ["EUGP"]}, "seed": 11,
    "ensemble": {"paths": 200, "horizon_days": 20, "calibration_days": 60,
                 "curves": {"location": "German"}},
}  # fmt: skip
SHOCK = {"type": "shock", "filter": {"location": "German"}, "mode": "relative", "value": 10}
SOLAR = [[0.0] * 6 + [0.1, 0.3, 0.5, 0.65, 0.75, 0.8, 0.8, 0.75, 0.65, 0.5, 0.3, 0.1] + [0.0] * 6
         for _ in range(12)]  # fmt: skip
PPA_TERMS: dict[str, Any] = {
    "hub": {"vendor": "EUGP", "location": "German"},
    "volume": {"type": "pay_as_produced", "capacity_mw": 40, "month_hour": SOLAR,
               "energy_uncertainty_pct": 7},
    "strike": {"type": "escalating", "price": 80, "escalation_pct": 2},
    "term": {"start": "2025-11", "end": "2027-08"},
}  # fmt: skip


@dataclass(frozen=True)
class Ensembles:
    base: str  # the server's URL
    scenario: str  # an ensemble scenario's id
    run: str  # its published run
    contract: str
    valuation: str  # on base curves
    on_run: str  # on the scenario run
    ensemble: str  # on the run's ensemble


@pytest.fixture(scope="session")
def ensembles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ensembles]:
    """A server (with a worker) on seventy days of history, an ensemble scenario run on it, a
    solar PPA valued on base curves, on the run and on its ensemble."""
    import hashlib
    import importlib.util

    from aurum.datasets.curves import CURVE_OBSERVATION
    from aurum.lake.catalog import Lake
    from aurum.lake.publish import publish

    source = ROOT / "tests" / "scenarios" / "conftest.py"
    spec = importlib.util.spec_from_file_location("scenario_lake", source)
    assert spec and spec.loader
    history = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("scenario_lake", history)  # (its dataclasses look themselves up)
    spec.loader.exec_module(history)
    home = tmp_path_factory.mktemp("ensembles")
    lake = Lake(Settings(home=home))
    days, levels = history.simulate_history()
    for asof, day_levels in zip(days, levels, strict=True):
        run_id = hashlib.sha256(str(asof).encode()).hexdigest()[:32]
        rows = history.day_rows(asof, day_levels)
        partition = {"vendor": "EUGP", "asof_date": asof}
        publish(lake, CURVE_OBSERVATION, partition, rows, run_id=run_id, content_sha256=run_id)
    with serving(home, worker=True) as base:
        made = post_json(f"{base}/v1/scenarios", {
            "name": "German +10 % with bands", "spec": ENSEMBLE_SPEC,
            "assumptions": [{"name": "german up", "value": SHOCK}],
        })["data"][0]  # fmt: skip
        run = post_json(f"{base}/v1/scenarios/{made['id']}/run", {})["data"][0]
        runs = f"{base}/v1/scenarios/{made['id']}/runs/{run['id']}"
        finished = wait_for(runs, lambda a: a["data"][0]["status"] in ("published", "failed"))
        assert finished["data"][0]["status"] == "published", finished
        contract = post_json(
            f"{base}/v1/ppa-contracts", {"name": "Solar DE 40 MW", "spec": PPA_TERMS}
        )
        contract_id = contract["data"][0]["id"]
        request = {"contract_id": contract_id, "discount": {"rate": 0.07}}
        plain = post_json(f"{base}/v1/ppa/valuate", request)["data"][0]
        on_run_curves = {"scenario_run": run["id"]}
        on_run = post_json(f"{base}/v1/ppa/valuate", {**request, "curves": on_run_curves})
        paths = {**on_run_curves, "ensemble": True}
        queued = post_json(f"{base}/v1/ppa/valuate", {**request, "curves": paths})
        ensemble = queued["data"][0]["id"]
        valued = wait_for(f"{base}/v1/ppa/valuations/{ensemble}",
                          lambda a: a["data"][0]["status"] in ("published", "failed"))  # fmt: skip
        assert valued["data"][0]["status"] == "published", valued
        yield Ensembles(base, made["id"], run["id"], contract_id, plain["id"],
                        on_run["data"][0]["id"], ensemble)  # fmt: skip
