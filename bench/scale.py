"""Horizontal API throughput (issue 18): requests a second at 1, 2 and 4 `aurum serve` worker
processes on one lake, as ratios to one process, median of three runs. Prints; asserts nothing.

The request mix is bench/api.py's: one curve at one as-of, uncached (`Cache-Control: no-cache`),
a random (vendor, curve, as-of) of a few hundred per request, driven by `wrk` at 32 connections.
The processes share nothing in memory (each has its replica connections and caches); on this
2-core machine `wrk` shares the cores with them, so 4 processes cannot beat 2 here — the ratio
at 2 is the figure (target: >= 1.3x one process).

Run: `make bench` or `.venv/bin/python bench/scale.py [--duration 8] [--runs 3]`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import tempfile
from pathlib import Path

from api import Server, combinations, cpu_busy, lua_script, path_of, wrk
from lake import build_lake

PROCESSES = (1, 2, 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per measurement")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--days", type=int, default=120)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk (or `make bench`)")
    settings, _ = build_lake(args.days, False)
    busy = cpu_busy()
    print(f"API throughput by worker processes — {os.cpu_count()} cores, CPU busy before:"
          f" {'unknown' if busy is None else f'{busy:.0%}'}")  # fmt: skip
    rates: dict[int, list[float]] = {n: [] for n in PROCESSES}
    with tempfile.TemporaryDirectory(prefix="aurum-bench-scale-") as tmp:
        scratch = Path(tmp)
        script = scratch / "paths.lua"
        for run in range(args.runs):
            for processes in PROCESSES:
                server = Server(settings.home, processes, scratch / f"serve-{processes}.log")
                try:
                    server.wait_ready()
                    if not script.exists():
                        combos = combinations(server, 400, random.Random(4))
                        script.write_text(lua_script([path_of(*c) for c in combos]))
                    wrk(server.base, script, 2, 32, 2)  # warm every process
                    figures = wrk(server.base, script, 2, 32, args.duration)
                finally:
                    server.stop()
                rates[processes].append(figures["rps"])
                print(f"   run {run + 1}: {processes} process(es): {figures['rps']:7.0f} req/s,"
                      f" p50 {figures['p50_us'] / 1000:5.1f} ms, errors {figures['errors']}")
    base = statistics.median(rates[1])
    print("\nSummary (median of runs)")
    for processes in PROCESSES:
        median = statistics.median(rates[processes])
        ratio = median / base
        target = ">= 1.3x" if processes == 2 else ""
        verdict = ("met" if ratio >= 1.3 else "NOT MET") if processes == 2 else ""
        print(f"   {processes} process(es): {median:7.0f} req/s  {ratio:4.2f}x  {target}"
              f"  {verdict}")


if __name__ == "__main__":
    main()
