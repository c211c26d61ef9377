"""A worker that publishes a test-only dataset, and can die: ``python dying_worker.py HOME
STORE_URL STAGE``.

Run as a script it claims the queued ``valuation`` run (one-second lease) and publishes the day
of readings its params name, then hangs at publish ``STAGE`` so the test can kill it there with
SIGKILL: ``audited`` (its branch staged, main untouched) or ``published`` (the catalog commit
done, the run not yet recorded). The test imports :data:`READINGS` and :func:`publisher` from
here to finish the run in its own process the same way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, timedelta

import pyarrow as pa

from aurum.config import Settings
from aurum.datasets import Column, Dataset, TagScheme
from aurum.lake import Lake, publish
from aurum.runs import Runs
from aurum.runs.worker import Handler, Progress, Worker
from aurum.store import Run, Store

READINGS = Dataset(
    name="worker_reading",
    doc="Hourly temperature at a station, published by a test worker.",
    owner="tests",
    columns=(
        Column("station", pa.string(), "Station code.", required=True),
        Column("day", pa.date32(), "Local day of the readings.", required=True),
        Column("hour", pa.int32(), "Hour ending, 1-24.", required=True),
        Column("celsius", pa.float64(), "Air temperature.", "degC"),
    ),
    partition_by=("day", "station"),
    sort_by=("hour",),
    tags=TagScheme("wr", ("station", "day")),
    order_by="day",
)


def publisher(runs: Runs, lake: Lake, pause: Callable[[str], None] | None = None) -> Handler:
    """A handler publishing the day its run's params name (``station``, ``day``) and recording
    the run, as any handler does: dataset and partition on the run before the catalog commit
    (recovery looks there), ``finish`` after it."""

    def handle(run: Run, progress: Progress) -> None:
        station, day = run.params["station"], date.fromisoformat(run.params["day"])
        partition = {"station": station, "day": day}
        for hour in range(0, 24, 6):
            progress(hour, 24, "reading the station")
        rows = pa.table({
            "station": [station] * 24, "day": [day] * 24,
            "hour": pa.array(range(1, 25), pa.int32()), "celsius": [h / 10 for h in range(24)],
        })  # fmt: skip

        def at(stage: str) -> None:
            if stage == "staged":
                runs.stage(run, dataset=READINGS.name, partition=partition,
                           branch=READINGS.tags.branch(partition, run.run_id))  # fmt: skip
            if pause is not None:
                pause(stage)

        done = publish(lake, READINGS, partition, rows, run_id=run.run_id,
                       content_sha256=f"{station}/{day}", pause=at)  # fmt: skip
        runs.finish(
            run, done.status, action="valuation.publish", details={"tag": done.tag},
            dataset=READINGS.name, partition=partition, snapshot_id=done.snapshot_id,
            tag=done.tag, version=done.version, branch=None,
            result={**run.result, "rows": rows.num_rows},  # earlier attempts' errors kept
        )  # fmt: skip

    return handle


def main(home: str, store_url: str, die_at: str) -> None:
    def hang(stage: str) -> None:
        if stage == die_at:
            print("hanging", flush=True)
            time.sleep(600)

    store = Store.open(store_url)
    lake = Lake(Settings(home=home), datasets=[READINGS])
    runs = Runs(store, lease=timedelta(seconds=1))
    Worker(runs, lake, {"valuation": publisher(runs, lake, hang)}).run_once()


if __name__ == "__main__":
    main(*sys.argv[1:4])
