"""A worker process for the killed-worker test: ``python killable_worker.py HOME STORE_URL MODE``.

It claims the queued scenario run and executes it with a one-second lease, then hangs where
MODE says, so the test can kill it there with SIGKILL: ``before_publish`` (in the run's first
progress step, nothing written) or ``after_publish`` (its output committed, the run not yet
recorded).
"""

from __future__ import annotations

import sys
import time
from datetime import timedelta


def main(home: str, store_url: str, mode: str) -> None:
    from aurum.config import Settings
    from aurum.lake.catalog import Lake
    from aurum.runs import Runs
    from aurum.runs.worker import Worker
    from aurum.scenarios import ScenarioService
    from aurum.store import Store

    settings = Settings(home=home, store={"url": store_url})
    store, lake = Store.connect(settings), Lake(settings)
    runs = Runs(store, lease=timedelta(seconds=1))
    service = ScenarioService(store, lake, runs)
    if mode == "after_publish":
        runs.finish = lambda *args, **kwargs: hang()  # type: ignore[method-assign]

    def execute(run, progress):  # type: ignore[no-untyped-def]
        def hanging(done: int, total: int, stage: str) -> None:
            print(f"stage {stage}", flush=True)
            if mode == "before_publish" and stage == "evaluating assumptions":
                hang()
            progress(done, total, stage)

        service.execute(run, hanging)

    Worker(runs, lake, {"scenario_run": execute}).run_once()


def hang() -> None:
    print("hanging", flush=True)
    time.sleep(600)


if __name__ == "__main__":
    main(*sys.argv[1:4])
