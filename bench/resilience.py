"""The API while its Redis is healthy, hung and dead (security review, finding 6). Prints figures.

The review measured, with 8 clients: healthy p50 91 ms / 789 requests in 10 s; Redis hung
(SIGSTOP) p50 1,567 ms / 55 requests; Redis dead p50 143 ms / 530 requests: a hung Redis cost
every request each call's socket timeout. With the circuit breaker shared by the cache and the
rate limiter, a hung Redis costs one deadline, then is skipped until a probe finds it back.

Setup: a private ``redis-server`` on a free port (never the machine's shared one), a small lake
of synthetic EUGP days, ``aurum serve --workers 2`` with authentication on (an API key, so the
rate limiter's Redis calls run too) and the Redis cache, then ``wrk`` with 8 connections for
``--duration`` seconds per phase, uncached (``Cache-Control: no-cache`` skips the cache read, not
the rate limiter), a random curve per request.

Run: ``make bench`` or ``.venv/bin/python bench/resilience.py [--duration S]``.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import date
from pathlib import Path

from api import Server, free_port, lua_script, wrk
from aurum import tenancy
from aurum.auth.access import PLATFORM
from aurum.config import Settings
from aurum.ingest.runner import backfill
from aurum.lake import Lake
from aurum.store import Store
from aurum.synthetic import business_days, workbook_name, write_workbook

REVIEW = {"healthy": (91, 789), "hung": (1567, 55), "dead": (143, 530)}  # p50 ms, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="Seconds per phase.")
    args = parser.parse_args()
    binary, wrk_binary = shutil.which("redis-server"), shutil.which("wrk")
    if binary is None or wrk_binary is None:
        raise SystemExit("needs redis-server and wrk (apt-get install redis-server wrk)")
    with tempfile.TemporaryDirectory(prefix="aurum-resilience-") as scratch_dir:
        scratch = Path(scratch_dir)
        port = free_port()
        redis = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir",
             str(scratch)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            run(scratch, f"redis://127.0.0.1:{port}/0", redis, args.duration)
        finally:
            redis.send_signal(signal.SIGCONT)
            redis.kill()
            redis.wait()


def run(scratch: Path, url: str, redis: subprocess.Popen[bytes], seconds: int) -> None:
    home = scratch / "home"
    settings = Settings(home=home)
    days = business_days(date(2025, 10, 1), 3)
    paths = [write_workbook(scratch / "in" / workbook_name("EUGP", d), vendor="EUGP", asof=d)
             for d in days]  # fmt: skip
    with Store.connect(settings) as store:
        backfill(paths, lake=Lake(settings), store=store, settings=settings)
        tenancy.create_tenant(store, PLATFORM, "bench", "Bench", ["EUGP"])
        key = tenancy.issue_key(
            store, PLATFORM, tenant_id="bench", role="aurum-analyst", name="b"
        ).token
    bearer = {"Authorization": f"Bearer {key}"}
    env = {"AURUM_AUTH__MODE": "on", "AURUM_CACHE__URL": url,
           "AURUM_RATE_LIMIT__PER_S": "100000", "AURUM_RATE_LIMIT__BURST": "100000"}  # fmt: skip
    server = Server(home, 2, scratch / "serve.log", env)
    try:
        server.wait_ready(headers={"Authorization": f"Bearer {_ops_key(settings)}"})
        curves = server.json("/v1/metadata/curves?vendor=EUGP&limit=200", bearer)["data"]
        rng = random.Random(7)
        script = scratch / "paths.lua"
        script.write_text(lua_script(
            [f"/v1/curves?vendor=EUGP&curve_key={rng.choice(curves)['curve_key']}"
             f"&asof={rng.choice(days).isoformat()}" for _ in range(300)],
            bearer,
        ))  # fmt: skip
        wrk(server.base, script, 2, 8, 2)  # warm up
        print(f"\nThe API with its Redis healthy, hung and dead: wrk -t2 -c8, {seconds} s each,"
              " auth on (API key), Redis cache and rate limiter, uncached reads")  # fmt: skip
        print(f"{'phase':<9} {'p50 ms':>8} {'p99 ms':>8} {'requests':>9} {'errors':>7}"
              f"   review: p50 ms, requests")  # fmt: skip
        for phase in ("healthy", "hung", "dead"):
            if phase == "hung":
                redis.send_signal(signal.SIGSTOP)
            elif phase == "dead":
                redis.send_signal(signal.SIGCONT)
                redis.kill()
                redis.wait()
                time.sleep(0.5)
            r = wrk(server.base, script, 2, 8, seconds)
            p50, count = REVIEW[phase]
            print(f"{phase:<9} {r['p50_us'] / 1000:8.1f} {r['p99_us'] / 1000:8.1f}"
                  f" {r['requests']:9d} {r['errors']:7d}   {p50:,} ms, {count:,}")  # fmt: skip
    finally:
        server.stop()


def _ops_key(settings: Settings) -> str:
    with Store.connect(settings) as store:
        return tenancy.issue_key(
            store, PLATFORM, tenant_id="bench", role="aurum-ops", name="ready"
        ).token


if __name__ == "__main__":
    main()
