"""Worker throughput (issue 18): queued scenario runs drained by 1 and by 2 `aurum worker`
processes, as a ratio, median of three; and a check that no run was executed twice. Prints;
asserts nothing.

A demo home (3 days of the three vendors, the example driver scenario); K `aurum worker`
processes are started and given time to start up, then N runs of the scenario are queued
(distinct seeds, so none is answered by an earlier identical run) and the clock runs until
every run has ended. The
workers claim runs from the store's queue (one `UPDATE … RETURNING` each), so two never take
the same run. On this 2-core machine, 2 workers can at best double the rate.

Run: `make bench` or `.venv/bin/python bench/workers.py [--runs-per-trial 6] [--trials 3]`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.lake import Lake
from aurum.runs import Runs
from aurum.scenarios import ScenarioService
from aurum.store import Store

ROOT = Path(__file__).resolve().parents[1]
AURUM = Path(sys.executable).parent / "aurum"
PLATFORM = Access.platform("bench")
STARTUP_S = 6.0


def cli(home: Path, *args: str) -> str:
    env = {**os.environ, "AURUM_HOME": str(home)}
    done = subprocess.run([str(AURUM), *args], env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT)  # fmt: skip
    return done.stdout


def trial(home: Path, service: ScenarioService, scenario_id: str, n: int, workers: int,
          seed0: int) -> tuple[float, int]:  # fmt: skip
    """Start ``workers`` processes (and let them start up), queue ``n`` runs, and time until
    every one has ended: seconds, and runs executed more than once."""
    env = {**os.environ, "AURUM_HOME": str(home), "AURUM_RUNS__WORKER_POLL_S": "0.1"}
    procs = [subprocess.Popen([str(AURUM), "worker"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
             for _ in range(workers)]  # fmt: skip
    time.sleep(STARTUP_S)  # imports and the store's connection: not the queue's throughput
    started = time.perf_counter()
    ids = [service.request_run(PLATFORM, scenario_id, seed=seed0 + i).run.run_id
           for i in range(n)]  # fmt: skip
    try:
        while True:
            with service.store.transaction(PLATFORM, write=False) as tx:
                found = [tx.get_run(i) for i in ids]
            if all(r.status in ("published", "failed", "cancelled") for r in found):
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - started
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    failed = [r.run_id for r in found if r.status != "published"]
    if failed:
        raise SystemExit(f"{len(failed)} runs did not publish: {failed[:3]}")
    return seconds, sum(r.attempts > 1 for r in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs-per-trial", type=int, default=6)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aurum-bench-workers-") as tmp:
        home = Path(tmp) / "home"
        cli(home, "demo-data", "--days", "3", "--out", str(home / "inbox"))
        cli(home, "ingest", str(home / "inbox"))
        cli(home, "scenario", "create", "examples/scenarios/gas-and-carbon.json")
        settings = Settings(home=home)
        with Store.connect(settings) as store:
            service = ScenarioService(store, Lake(settings), Runs(store),
                                      limits=settings.scenarios)  # fmt: skip
            with store.transaction(PLATFORM, write=False) as tx:
                scenario_id = tx.documents("scenario", limit=1)[0].id
            times: dict[int, list[float]] = {1: [], 2: []}
            twice = 0
            seed = 1000
            for number in range(args.trials):
                for workers in (1, 2):
                    seconds, again = trial(home, service, scenario_id, args.runs_per_trial,
                                           workers, seed)  # fmt: skip
                    seed += args.runs_per_trial
                    times[workers].append(seconds)
                    twice += again
                    rate = args.runs_per_trial / seconds
                    print(f"   trial {number + 1}: {workers} worker(s): {args.runs_per_trial}"
                          f" runs in {seconds:5.1f} s ({rate:.2f} runs/s)")
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print("\nSummary (median of trials)")
    print(f"   1 worker:  {args.runs_per_trial / one:.2f} runs/s")
    print(f"   2 workers: {args.runs_per_trial / two:.2f} runs/s ({one / two:.2f}x)")
    print(f"   runs claimed more than once: {twice}")


if __name__ == "__main__":
    main()
