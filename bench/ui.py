"""Dashboard benchmarks in the real browser (issue 16). Prints figures and targets; asserts nothing.

Debian's Chromium driven by Playwright, at 1366x768, against `aurum serve` on two lakes:

- the demo lake (`aurum demo-data --days 5`, ingested: what `make demo` serves), and
- the 120-as-of-day benchmark lake of `bench/lake.py` (EUGP + RP, ~4.7 M rows; built once and
  cached in .aurum/bench/lake120).

1. **First chart**: from navigation start (the page's time origin) to the explorer's chart drawn
   (ECharts' `finished`) and its table filled (`main[data-ready]`), for one curve's link
   (`/ui/curves?curve=K&asof=D`) and for `/` (redirected to the explorer, which finds curves and
   draws the first). Each run is a new browser context: nothing cached. Targets: <= 1 s on the
   demo lake, <= 2 s on the 120-day lake.
2. **Overlays**: the explorer showing one curve with two overlaid as-of dates; ticking a third,
   from the click to the chart with all three drawn. Target <= 300 ms.

Median and worst of RUNS runs each. The machine has 2 cores shared by browser and server.

Run: `make bench` or `.venv/bin/python bench/ui.py [--runs 7] [--skip-120]`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lake import build_lake

AURUM = Path(sys.executable).parent / "aurum"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]  # fmt: skip


def demo_home(root: Path) -> Path:
    """The lake `make demo` builds (5 generated days of every vendor), made once per run."""
    home = root / "demo"
    subprocess.run([str(AURUM), "demo-data", "--days", "5", "--out", str(home / "inbox")],
                   check=True, capture_output=True)  # fmt: skip
    env = {**os.environ, "AURUM_HOME": str(home)}
    subprocess.run([str(AURUM), "ingest", str(home / "inbox")], check=True, capture_output=True,
                   env=env)  # fmt: skip
    return home


@contextmanager
def serving(home: Path) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "AURUM_HOME": str(home)}
    server = subprocess.Popen(
        [str(AURUM), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    try:
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.perf_counter() - started > 600:
                raise SystemExit("aurum serve was not ready within 10 minutes")
            time.sleep(0.5)
        # the replica is built in the background after a start: wait until a read is served
        # from it (the first read after a start is not what an analyst waits for every day)
        get_json(base + "/v1/metadata/vendors")
        print(f"  server ready in {time.perf_counter() - started:.1f} s")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as answer:
        return json.load(answer)


def german_base(base: str) -> tuple[str, str]:
    """EUGP German power BASE: its key and its last as-of."""
    (curve,) = get_json(
        f"{base}/v1/metadata/curves?vendor=EUGP&location=German&product=power&block=BASE"
    )["data"]
    return curve["curve_key"], curve["last_asof"]


# Waits inside the page (a 5 ms timer) for the chart drawn and the table filled, and answers the
# later of the two page-clock stamps the dashboard sets (`data-drawn`, `data-ready`). Waiting
# with Playwright's own selectors instead would run its injected script on the page's main
# thread while the page works, and add ~200 ms to what is measured.
DONE = """() => new Promise((resolve) => {
    const check = () => {
        const main = document.querySelector('main');
        const chart = document.querySelector('#curve-chart');
        if (main && main.dataset.ready && chart && chart.dataset.drawn
            && document.querySelector('#curve-table tbody tr')) {
            resolve(Math.max(Number(main.dataset.ready), Number(chart.dataset.drawn)));
        } else {
            setTimeout(check, 5);
        }
    };
    check();
})"""

# Tick an overlay and answer the ms from the click to the chart and table drawn again.
CLICK = """(id) => {
    delete document.querySelector('main').dataset.ready;
    const clicked = performance.now();
    document.getElementById(id).click();
    return (__DONE__)().then((at) => at - clicked);
}""".replace("__DONE__", DONE)


def first_chart(browser: Any, url: str) -> float:
    """ms from navigation start to the chart drawn and the table filled, in a fresh context."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        page.goto(url, wait_until="commit")
        return float(page.evaluate(DONE))
    finally:
        context.close()


def third_overlay(browser: Any, base: str, key: str, dates: list[str]) -> float:
    """ms from ticking a third overlaid as-of to the chart drawn with it."""
    asof, first, second, third = dates[-1], dates[-2], dates[-3], dates[-4]
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    try:
        page.goto(f"{base}/ui/curves?curve={key}&asof={asof}&overlay={first},{second}")
        page.evaluate(DONE)
        took = page.evaluate(CLICK, f"overlay-{third}")
        headers = page.locator("#curve-table thead th").all_text_contents()
        assert sum(h.startswith("Mid 20") for h in headers) == 4, headers  # main + 3 overlays
        return float(took)
    finally:
        context.close()


def figures(label: str, values: list[float], target: float) -> tuple[str, str, str, str]:
    median, worst = statistics.median(values), max(values)
    verdict = "ok" if median <= target else "MISSED"
    runs = ", ".join(f"{v:,.0f}" for v in values)
    print(f"  {label}: median {median:,.0f} ms, worst {worst:,.0f} ms (target <= {target:,.0f} ms)"
          f" {verdict}  [{runs}]")  # fmt: skip
    return label, f"{median:,.0f} ms", f"<= {target:,.0f} ms", verdict


def measure(browser: Any, name: str, home: Path, target: float, runs: int) -> list[Any]:
    print(f"{name} ({home})")
    out = []
    with serving(home) as base:
        key, asof = german_base(base)
        dates = [
            d["asof_date"] for d in get_json(f"{base}/v1/metadata/asof-dates?vendor=EUGP")["data"]
        ]
        first_chart(browser, base + "/")  # one warm-up: the server's first reads
        link = [
            first_chart(browser, f"{base}/ui/curves?curve={key}&asof={asof}") for _ in range(runs)
        ]
        root = [first_chart(browser, base + "/") for _ in range(runs)]
        overlay = [third_overlay(browser, base, key, dates) for _ in range(runs)]
        out.append(figures(f"{name}: a curve's link, first chart + table", link, target))
        out.append(figures(f"{name}: / (find curves, draw the first)", root, target))
        out.append(figures(f"{name}: third overlay, click to chart", overlay, 300))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-120", action="store_true", help="the demo lake only")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("chromium is not installed: make browser (or apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    summary = []
    with tempfile.TemporaryDirectory(prefix="aurum-bench-ui-") as scratch, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        started = time.perf_counter()
        home = demo_home(Path(scratch))
        print(f"demo lake built in {time.perf_counter() - started:.0f} s")
        summary += measure(browser, "demo lake", home, 1000, args.runs)
        if not args.skip_120:
            settings, built = build_lake(120, rebuild=False)
            print(f"120-day lake {f'built in {built} s' if built else 'cached'}")
            summary += measure(browser, "120-day lake", Path(settings.home), 2000, args.runs)
        browser.close()
    width = max(len(s[0]) for s in summary)
    print("\n" + "\n".join(f"{a:<{width}}  {b:>9}  {c:>10}  {d}" for a, b, c, d in summary))


if __name__ == "__main__":
    main()
