"""A worker process for the split-run test: ``python split_worker.py HOME STORE_URL PER_BLOCK
BARRIER WORKERS``.

It serves the queue (``Worker.serve``, as ``aurum worker`` does) with path blocks of
``PER_BLOCK`` paths until SIGTERM, and prints ``ready OWNER`` once it listens. Before it draws
a path block it waits (at most a minute) until ``WORKERS`` processes have each taken one (a
file per block in folder ``BARRIER``), so every process draws at least one block, however
fast the first one is.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path


def main(home: str, store_url: str, per_block: str, barrier: str, workers: str) -> None:
    from aurum.config import Settings
    from aurum.lake.catalog import Lake
    from aurum.runs import Runs
    from aurum.runs.worker import Worker
    from aurum.scenarios import ScenarioService
    from aurum.store import Store

    settings = Settings(home=home, store={"url": store_url},
                        scenarios={"paths_per_block": int(per_block)})  # fmt: skip
    store, lake = Store.connect(settings), Lake(settings)
    runs = Runs(store, lease=timedelta(seconds=30))
    service = ScenarioService(store, lake, runs, limits=settings.scenarios)
    folder = Path(barrier)

    def execute(run, progress):  # type: ignore[no-untyped-def]
        if run.params.get("parent"):
            (folder / f"{os.getpid()}-{run.params['block']}").touch()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and len(
                {p.name.split("-")[0] for p in folder.iterdir()}
            ) < int(workers):  # fmt: skip
                time.sleep(0.02)
        service.execute(run, progress)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker = Worker(runs, lake, {"scenario_run": execute}, poll_s=0.05,
                    backoff=timedelta(0))  # fmt: skip
    print(f"ready {runs.owner}", flush=True)
    worker.serve(stop)
    store.close()


if __name__ == "__main__":
    main(*sys.argv[1:6])
