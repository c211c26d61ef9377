"""REST API benchmarks for the serving issue (#4). Prints figures and targets; asserts nothing.

Everything is measured in one run against the cached 120-as-of-day lake of `bench/lake.py`
(EUGP + RP, ~4.7 M rows), so the ratios compare like with like:

1. Start `aurum serve` (uvicorn, `--workers N`, default 2) on a free port and wait for
   `GET /ready` (the first start may build the serving replica; the wait is printed).
2. `GET /v1/curves?vendor=V&curve_key=K&asof=D`, one curve at one as-of (~76-150 rows), UNCACHED
   (`Cache-Control: no-cache` makes the API skip its response cache) and a random
   (vendor, curve, as-of) per request out of a few hundred, driven by `wrk` at 1, 8 and 32
   connections: p50 <= 15 ms at 1 client, >= 400 req/s at 32, no errors.
   2b. The same curves asked by `curve_key` alone (no `vendor`) at 1 client: p50 within 1.5x
   of the vendor-given one (the served slices answer both).
3. The same query in-process on the query service (`Curves`, same replica): API p50 at
   1 client / bare p50 (target <= 3). The API answers this shape from the replica's served
   slices (pre-encoded JSON per vendor, as-of and curve); the DuckDB query it would otherwise
   run is timed beside it.
4. A diff of two as-of dates over all RP curves and the strips of all EUGP curves at one as-of:
   service p50 (target <= 300 ms each), and the same over HTTP as one Parquet answer (the server
   is started with a page size cap large enough for it); JSON for comparison.

`wrk` shares the machine's cores with the server, so req/s is a floor, not a ceiling.

Run: `make bench` or `.venv/bin/python bench/api.py [--workers N] [--duration S]`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from aurum.lake import Lake
from aurum.query.curves import COLUMNS, CurveFilter, Curves
from aurum.query.replica import Replicas
from lake import build_lake

AURUM = Path(sys.executable).parent / "aurum"
LEVELS = ((1, 1), (2, 8), (2, 32))  # (wrk threads, connections)
BIG = 1_000_000  # a limit above any answer of this lake
NO_CACHE = {"Cache-Control": "no-cache"}
Combo = tuple[str, str, date]  # vendor, curve key, as-of
Summary = list[tuple[str, str, str, str]]  # figure, value, target, verdict

# Picks a random path per request; prints wrk's own summary as one JSON line at the end.
LUA = """
local paths = {%(paths)s}
local headers = {%(headers)s}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("seed", n)
end
function init(args)
  math.randomseed(os.time() * 1000 + seed)
end
function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'AURUM {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, '
    .. '"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def lua_script(paths: list[str], headers: dict[str, str] | None = None) -> str:
    """wrk script: a random path of ``paths`` per request, uncached, with ``headers``."""
    sent = {**NO_CACHE, **(headers or {})}
    return LUA % {
        "paths": ", ".join(json.dumps(p) for p in paths),
        "headers": ", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in sent.items()),
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 60) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class Server:
    """`aurum serve` as a child process in its own process group, stopped on exit."""

    def __init__(
        self, home: Path, workers: int, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "AURUM_HOME": str(home),
            "AURUM_API__MAX_PAGE_SIZE": str(BIG),  # so one request can return a whole answer
            **(env or {}),
        }
        self.log = log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            [str(AURUM), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers)],
            env=env, stdout=self._log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 120, headers: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise SystemExit(f"aurum serve exited ({self.process.returncode}):\n{self.tail()}")
            try:
                status, _ = get(self.base + "/ready", headers, timeout=5)
                if status == 200:
                    return time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"aurum serve not ready after {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log_file.close()

    def json(self, path: str, headers: dict[str, str] | None = None) -> Any:
        status, body = get(self.base + path, {**NO_CACHE, **(headers or {})})
        if status != 200:
            raise SystemExit(f"GET {path}: {status} {body[:300]!r}")
        return json.loads(body)


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Share of all cores busy over ``seconds`` (Linux /proc/stat), to flag a shared machine."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1 - (idle1 - idle0) / max(total1 - total0, 1)


def combinations(
    server: Server, count: int, rng: random.Random, headers: dict[str, str] | None = None
) -> list[Combo]:
    """Random (vendor, curve key, as-of) taken from the API's own metadata, each as-of inside
    the curve's [first, last] as-of and published for its vendor."""
    days: dict[str, list[date]] = {}
    for row in server.json("/v1/metadata/asof-dates", headers)["data"]:
        days.setdefault(row["vendor"], []).append(date.fromisoformat(row["asof_date"]))
    curves = [
        (row["vendor"], row["curve_key"], row["first_asof"], row["last_asof"])
        for vendor in ("RP", "EUGP")
        for row in server.json(f"/v1/metadata/curves?vendor={vendor}&limit=200", headers)["data"]
    ]
    picked = []
    for _ in range(count):
        vendor, key, first, last = rng.choice(curves)
        within = [d for d in days[vendor] if first <= d.isoformat() <= last]
        picked.append((vendor, key, rng.choice(within)))
    return picked


def path_of(vendor: str, key: str, day: date) -> str:
    return f"/v1/curves?vendor={vendor}&curve_key={key}&asof={day.isoformat()}"


def wrk(base: str, script: Path, threads: int, connections: int, seconds: int) -> dict[str, Any]:
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout",
         "5s", "-s", str(script), base],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("AURUM "))
    figures: dict[str, Any] = json.loads(line.removeprefix("AURUM "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    figures["errors"] = sum(figures[k] for k in ("connect", "read", "write", "timeout", "status"))
    return figures


def timed(fn: Callable[[], object], rounds: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return sorted(times)


def p50_ms(times: list[float]) -> float:
    return statistics.median(times) * 1000


def p99_ms(times: list[float]) -> float:
    return times[min(len(times) - 1, round(0.99 * (len(times) - 1)))] * 1000


def api_latency(
    server: Server, scratch: Path, combos: list[Combo], seconds: int, summary: Summary
) -> float:
    """Section 2: wrk at 1, 8 and 32 connections. Returns the p50 at 1 client, in ms."""
    paths = [path_of(*c) for c in combos]
    sizes = [len(server.json(path)["data"]) for path in paths[:20]]
    script = scratch / "paths.lua"
    script.write_text(lua_script(paths))
    print(f"\n2. GET /v1/curves, one curve at one as-of, uncached: {len(set(combos))} random"
          f" (vendor, curve, as-of), {min(sizes)}-{max(sizes)} rows (sample of 20)")  # fmt: skip
    wrk(server.base, script, 2, 32, 3)  # warm every worker and its threads' replica cursors
    results = {}
    for threads, connections in LEVELS:
        r = results[connections] = wrk(server.base, script, threads, connections, seconds)
        print(f"   wrk -t{threads} -c{connections:<2d}  p50 {r['p50_us'] / 1000:6.1f} ms"
              f"  p99 {r['p99_us'] / 1000:6.1f} ms  {r['rps']:6.0f} req/s  {r['requests']:6d}"
              f" requests, non-2xx {r['status']}, socket errors"
              f" {r['errors'] - r['status']}")  # fmt: skip
    p50 = results[1]["p50_us"] / 1000
    rps = results[32]["rps"]
    errors = sum(r["errors"] for r in results.values())
    summary.append(("API p50, 1 client", f"{p50:.1f} ms", "<= 15 ms", verdict(p50 <= 15)))
    summary.append(("API req/s, 32 connections", f"{rps:.0f}", ">= 400", verdict(rps >= 400)))
    summary.append(("API errors, all levels", str(errors), "0", verdict(errors == 0)))
    return float(p50)


def key_only(
    server: Server,
    scratch: Path,
    combos: list[Combo],
    seconds: int,
    vendor_p50: float,
    summary: Summary,
) -> None:
    """Section 2b: the same curves asked by ``curve_key`` alone (no ``vendor``), at 1 client:
    the served slices answer this shape too, so it should cost what the vendor-given one does."""
    paths = [f"/v1/curves?curve_key={key}&asof={day.isoformat()}" for _, key, day in combos]
    script = scratch / "keys.lua"
    script.write_text(lua_script(paths))
    wrk(server.base, script, 1, 1, 2)  # warm
    r = wrk(server.base, script, 1, 1, seconds)
    p50 = r["p50_us"] / 1000
    ratio = p50 / vendor_p50
    print(f"\n2b. GET /v1/curves?curve_key=K&asof=D (no vendor), 1 client: p50 {p50:.1f} ms"
          f"  p99 {r['p99_us'] / 1000:.1f} ms  {r['rps']:.0f} req/s, non-2xx {r['status']};"
          f" / vendor-given p50 = {ratio:.2f}")  # fmt: skip
    summary.append(("curve_key-only / vendor-given p50", f"{ratio:.2f}", "<= 1.5",
                    verdict(ratio <= 1.5 and r["errors"] == 0)))  # fmt: skip


def bare_engine(curves: Curves, combos: list[Combo], api_p50: float, summary: Summary) -> None:
    """Section 3: the same question in-process, on the same serving replica: from the
    served-slice read model (what the API answers this JSON shape from) and as a DuckDB query
    (what any other shape costs)."""
    rng = random.Random(3)

    def pick(vendor_given: bool = True) -> CurveFilter:
        vendor, key, day = rng.choice(combos)
        fields = {"vendor": vendor} if vendor_given else {}
        return CurveFilter(fields=fields, curve_keys=(key,), asof=day)

    def served(vendor_given: bool) -> None:
        answer = curves.slice(pick(vendor_given))
        assert answer is not None and answer.rows > 0

    def query() -> None:
        assert curves.curves(pick()).rows > 0

    by_vendor = timed(lambda: served(True), 400, warmup=30)
    by_key = timed(lambda: served(False), 400, warmup=30)
    queried = timed(query, 400, warmup=30)
    over_query, over_slice = api_p50 / p50_ms(queried), api_p50 / p50_ms(by_vendor)
    print("\n3. the same question in-process (Curves, same replica, 400 random calls)")
    print(f"   DuckDB query            p50 {p50_ms(queried):.2f} ms  p99 {p99_ms(queried):.2f}"
          f" ms; API p50 at 1 client / this = {over_query:.1f}")  # fmt: skip
    print(
        f"   served slice            p50 {p50_ms(by_vendor):.2f} ms  p99"
        f" {p99_ms(by_vendor):.2f} ms; API p50 at 1 client / this = {over_slice:.1f} (the"
        f" HTTP stack's fixed {api_p50 - p50_ms(by_vendor):.1f} ms over a primary-key read)"
    )
    print(f"   served slice, key only  p50 {p50_ms(by_key):.2f} ms  p99 {p99_ms(by_key):.2f} ms")
    summary.append(("API p50 / bare query p50", f"{over_query:.1f}", "<= 3",
                    verdict(over_query <= 3)))  # fmt: skip
    summary.append(("API p50 / served-slice p50", f"{over_slice:.1f}", "(info)", ""))


def http_rows(url: str, fmt: str) -> int:
    status, body = get(url, NO_CACHE)
    if status != 200:
        raise SystemExit(f"GET {url}: {status} {body[:300]!r}")
    if fmt == "parquet":
        return int(pq.read_table(io.BytesIO(body)).num_rows)
    return len(json.loads(body)["data"])


def whole_vendor(server: Server, curves: Curves, summary: Summary) -> None:
    """Section 4: diff of two as-ofs over all RP curves, strips of all EUGP curves at one as-of."""
    rp_days = curves.asof_dates("RP").table["asof_date"].to_pylist()
    first, second = rp_days[-2], rp_days[-1]
    eugp_day = curves.asof_dates("EUGP").table["asof_date"].to_pylist()[-1]

    def diff() -> int:
        where = CurveFilter(fields={"vendor": "RP"})
        return int(curves.diff(where, first, second, limit=BIG).table.num_rows)

    def strip() -> int:
        where = CurveFilter(fields={"vendor": "EUGP"}, asof=eugp_day)
        return int(curves.strips(where, limit=BIG).table.num_rows)

    jobs = [
        ("diff", f"RP, all curves, {first} against {second}", diff,
         f"/v1/curves/diff?vendor=RP&asof_from={first}&asof_to={second}"),
        ("strips", f"EUGP, all curves, as-of {eugp_day}", strip,
         f"/v1/curves/strips?vendor=EUGP&asof={eugp_day}"),
    ]  # fmt: skip
    print("\n4. whole-vendor answers: service p50 (20 runs), then one HTTP request each (no-cache)")
    for name, label, service, path in jobs:
        rows = service()
        times = timed(service, 20)
        print(f"   {name} {label}: {rows:,} rows")
        print(f"     service        p50 {p50_ms(times):7.1f} ms  max {times[-1] * 1000:7.1f} ms")
        summary.append((f"{name}, service p50", f"{p50_ms(times):.0f} ms", "<= 300 ms",
                        verdict(p50_ms(times) <= 300)))  # fmt: skip
        for fmt, rounds in (("parquet", 20), ("json", 5)):
            url = f"{server.base}{path}&limit={BIG}&format={fmt}"
            got: list[int] = []
            times = timed(lambda url=url, fmt=fmt, got=got: got.append(http_rows(url, fmt)),
                          rounds, warmup=1)  # fmt: skip
            check = "" if set(got) == {rows} else f"  ROWS DIFFER: {sorted(set(got))}"
            print(f"     HTTP {fmt:8s}  p50 {p50_ms(times):7.1f} ms  max"
                  f" {times[-1] * 1000:7.1f} ms  ({rounds} requests){check}")  # fmt: skip
            if fmt == "parquet":
                summary.append((f"{name}, HTTP parquet p50", f"{p50_ms(times):.0f} ms",
                                "<= 300 ms", verdict(p50_ms(times) <= 300)))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (default 2)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk level")
    parser.add_argument("--combos", type=int, default=400, help="random (vendor, curve, as-of)")
    parser.add_argument("--days", type=int, default=120)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (or `make bench`)")
    started = time.perf_counter()
    settings, built = build_lake(args.days, False)
    cores = os.cpu_count() or 1
    print(f"Aurum API benchmark — lake of {args.days} as-of days, EUGP + RP"
          + (f" (built now in {built} s)" if built else " (cached)"))  # fmt: skip
    busy = cpu_busy()
    print(f"machine: {cores} cores, shared by wrk and the {args.workers} uvicorn workers (wrk"
          " is closed-loop: req/s is a floor); CPU busy before the run: "
          + ("unknown" if busy is None else f"{busy:.0%}")
          + (" — OTHER WORK IS RUNNING, figures are pessimistic" if (busy or 0) > 0.2 else "")
          + "\n")  # fmt: skip
    summary: Summary = []
    with tempfile.TemporaryDirectory(prefix="aurum-bench-api-") as tmp:
        scratch = Path(tmp)
        server = Server(settings.home, args.workers, scratch / "serve.log")
        try:
            waited = server.wait_ready()
            print(f"1. aurum serve --workers {args.workers}: GET /ready 200 after {waited:.1f} s")
            combos = combinations(server, args.combos, random.Random(4))
            api_p50 = api_latency(server, scratch, combos, args.duration, summary)
            key_only(server, scratch, combos, args.duration, api_p50, summary)
            lake = Lake(settings)
            replicas = Replicas(lake, settings.home / "serving", slice_columns=COLUMNS)
            curves = Curves(lake, replicas)
            bare_engine(curves, combos, api_p50, summary)
            whole_vendor(server, curves, summary)
        finally:
            server.stop()
    width = max(len(row[0]) for row in summary)
    print(f"\nSummary ({cores} cores, {args.workers} workers, wrk on the same cores)")
    print(f"   {'figure':{width}s}  {'value':>8s}  {'target':>9s}")
    for figure, value, target, ok in summary:
        print(f"   {figure:{width}s}  {value:>8s}  {target:>9s}  {ok}")
    print(f"\n(run took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
