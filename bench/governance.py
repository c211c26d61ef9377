"""What governance costs and how fast it tells (issue 15). Prints figures; asserts nothing.

1. **A run's end with and without its outbox events and lineage**: ``Runs.finish`` of an ingest
   run (row + audit entry + events in one transaction, then the OpenLineage event appended to
   the journal), against the same finish with neither — the price every publish pays.
2. **An ingest end to end**, the generator's RP workbook (27,816 rows), whose governance share
   is (1) over this.
3. **Publish → Server-Sent Event**: an ingest commits; a client holding ``/v1/events/stream``
   open on a real uvicorn server notes the frame. Median and worst of several publishes
   (the issue asks for under a second).
4. **Reading the outbox**: ``/v1/events`` pages of 1,000 over 20,000 events, events per second.
5. **A ``/metrics`` scrape** over 2,000 finished runs (its store figures are aggregated in SQL).

Run: ``.venv/bin/python bench/governance.py`` from the repository root.
"""

from __future__ import annotations

import queue
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

from aurum.api.app import create_app
from aurum.auth.access import Access
from aurum.config import Settings
from aurum.ingest.runner import ingest_file
from aurum.lake.catalog import Lake
from aurum.lineage import shared_lineage
from aurum.runs import Runs
from aurum.store import Store
from aurum.synthetic import business_days, workbook_name, write_workbook


def finish_cost(store: Store, settings: Settings, n: int = 200) -> tuple[float, float]:
    """Median ms of ``Runs.finish`` of an ingest run: (with events and lineage, bare)."""
    timings: dict[bool, list[float]] = {True: [], False: []}
    governed = Runs(store, lineage=shared_lineage(settings))
    result = {"rows": 27816, "quarantined": 0, "price_cells": 81709,
              "gates": [{"rule": "jump", "severity": "warn", "failed": 1, "checked": 27816,
                         "sample_keys": []}]}  # fmt: skip
    for i in range(n):
        for with_governance in (True, False):
            runs = governed if with_governance else Runs(store)
            run = runs.start(Access.platform(), "ingest", subject=f"f{i}.xlsx", vendor="RP",
                             asof=date(2025, 9, 1), dataset="curve_observation",
                             partition={"vendor": "RP", "asof_date": "2025-09-01"})  # fmt: skip
            started = time.perf_counter()
            if with_governance:
                runs.finish(run, "published", action="ingest", details={}, result=result,
                            snapshot_id=1, tag=f"eod/RP/2025-09-01/v{i}", version=i)  # fmt: skip
            else:  # the same row and audit entry, no events, no lineage
                with store.transaction(Access.platform()) as tx:
                    tx.update_run(run.run_id, status="published", finished_at=datetime.now(UTC),
                                  result=result, snapshot_id=1, version=i)  # fmt: skip
                    tx.audit("ingest", target=run.run_id, details={})
            timings[with_governance].append((time.perf_counter() - started) * 1000)
    return statistics.median(timings[True]), statistics.median(timings[False])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sse_latency(settings: Settings, paths: list[Path]) -> list[float]:
    """Seconds from each ingest's return to its ``curve.observation`` frame on an open stream."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))  # fmt: skip
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    frames: queue.Queue[float] = queue.Queue()

    def listen() -> None:
        with httpx.stream("GET", f"http://127.0.0.1:{port}/v1/events/stream",
                          params={"types": "curve.observation"}, timeout=60) as answer:  # fmt: skip
            for line in answer.iter_lines():
                if line.startswith("event: curve.observation"):
                    frames.put(time.monotonic())

    threading.Thread(target=listen, daemon=True).start()
    time.sleep(0.5)
    delays = []
    with Store.connect(settings) as store:
        for path in paths:
            ingest_file(path, lake=Lake(settings), store=store, settings=settings)
            done = time.monotonic()
            delays.append(frames.get(timeout=10) - done)
    server.should_exit = True
    return delays


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        settings = Settings(home=home / "home", events={"webhook_poll_s": 0},
                            alerts={"check_interval_s": 3600})  # fmt: skip
        days = business_days(date(2025, 9, 1), 6)
        paths = [write_workbook(home / "in" / workbook_name("RP", d), vendor="RP", asof=d)
                 for d in days]  # fmt: skip
        with Store.connect(settings) as store:
            started = time.perf_counter()
            report = ingest_file(paths[0], lake=Lake(settings), store=store, settings=settings)
            ingest_s = time.perf_counter() - started
            governed, bare = finish_cost(store, settings)
        print(f"run end with outbox events + lineage: {governed:.2f} ms (median); without:"
              f" {bare:.2f} ms; governance adds {governed - bare:.2f} ms"
              f" = {(governed - bare) / 1000 / ingest_s:.2%} of one ingest"
              f" ({ingest_s:.2f} s, {report.parse.observations.num_rows:,} rows)")  # fmt: skip
        delays = sse_latency(settings, paths[1:])
        print(f"publish -> SSE frame: median {statistics.median(delays) * 1000:.0f} ms,"
              f" worst {max(delays) * 1000:.0f} ms over {len(delays)} publishes (target < 1 s)")
        with Store.connect(settings) as store:
            for start in range(0, 20_000, 1000):
                with store.transaction(Access.platform()) as tx:
                    for n in range(start, start + 1000):
                        tx.emit("alert", key=f"k{n % 50}", payload={"n": n}, vendor="RP")
            app = create_app(settings)
            from fastapi.testclient import TestClient

            with TestClient(app) as client:
                started, after, seen = time.perf_counter(), 0, 0
                while True:
                    page = client.get("/v1/events", params={"after": after, "limit": 1000}).json()
                    seen += page["meta"]["count"]
                    if not page["data"]:
                        break
                    after = page["meta"]["next"]
                read_s = time.perf_counter() - started
                print(f"/v1/events: {seen:,} events in pages of 1,000: {read_s:.2f} s"
                      f" ({seen / read_s:,.0f} events/s)")
                runs = Runs(store)
                for i in range(2000):
                    run = runs.start(Access.platform(), "ingest", subject=f"m{i}", vendor="PW",
                                     asof=date(2025, 9, 1) + timedelta(days=i % 30))  # fmt: skip
                    runs.finish(run, "failed" if i % 7 == 0 else "published", action="ingest",
                                details={}, result={"rows": 100, "quarantined": i % 3})  # fmt: skip
                time.sleep(1.1)  # past the store figures' one-second cache
                scrapes = []
                for _ in range(5):
                    started = time.perf_counter()
                    client.get("/metrics")
                    scrapes.append(time.perf_counter() - started)
                    time.sleep(1.05)
                print(f"/metrics with {2000 + len(paths):,} finished runs: median"
                      f" {statistics.median(scrapes) * 1000:.1f} ms a scrape (uncached)")


if __name__ == "__main__":
    main()
