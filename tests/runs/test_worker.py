"""The worker (on SQLite and on PostgreSQL): what each way a handler ends does to its run, a
cancel reaching a running handler, the serving loop, and a worker killed for real (SIGKILL)
mid-run or after its publish: the run is done once, its output published once."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from aurum.auth.access import PLATFORM
from aurum.config import Settings
from aurum.errors import ScenarioError, Unavailable
from aurum.lake.catalog import Lake
from aurum.lake.versions import versions
from aurum.query import Query
from aurum.runs import Runs
from aurum.runs.worker import Progress, Worker
from aurum.store import Run

SCRIPT = Path(__file__).with_name("dying_worker.py")
_spec = importlib.util.spec_from_file_location("dying_worker", SCRIPT)
assert _spec is not None and _spec.loader is not None
dying_worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dying_worker)


def worker(runs: Runs, lake: Lake, handler) -> Worker:
    return Worker(runs, lake, {"scenario_run": handler}, max_attempts=3,
                  backoff=timedelta(seconds=10), poll_s=0.05)  # fmt: skip


def test_a_crash_requeues_with_doubling_backoff_then_fails(runs, lake, enqueue):
    queued = enqueue()

    def crash(run: Run, progress: Progress) -> None:
        raise RuntimeError("boom")

    w = worker(runs, lake, crash)
    first = w.run_once()
    assert first is not None and first.status == "queued" and first.attempts == 1
    assert first.result["errors"][0]["code"] == "crashed"
    assert first.error_message == "RuntimeError: boom"
    wait = first.available_at - datetime.now(UTC)
    assert timedelta(seconds=8) < wait <= timedelta(seconds=10)
    assert w.run_once() is None  # not due yet
    with runs.store.transaction(PLATFORM) as tx:  # time passes
        tx.update_run(queued.run_id, available_at=datetime.now(UTC) - timedelta(seconds=1))
    second = w.run_once()
    assert second is not None and second.attempts == 2
    assert timedelta(seconds=18) < second.available_at - datetime.now(UTC) <= timedelta(seconds=20)
    with runs.store.transaction(PLATFORM) as tx:
        tx.update_run(queued.run_id, available_at=datetime.now(UTC) - timedelta(seconds=1))
    third = w.run_once()
    assert third is not None and (third.status, third.attempts) == ("failed", 3)
    assert third.error_code == "crashed" and len(third.result["errors"]) == 3


def test_a_server_side_error_is_retried_a_bad_request_is_not(runs, lake, enqueue):
    enqueue()

    def bad(run: Run, progress: Progress) -> None:
        raise ScenarioError("history_too_short", "only 5 days")

    done = worker(runs, lake, bad).run_once()
    assert done is not None and (done.status, done.error_code, done.attempts) == (
        "failed", "history_too_short", 1,
    )  # fmt: skip
    assert done.error_message == "only 5 days" and done.finished_at is not None
    enqueue("s2")

    def away(run: Run, progress: Progress) -> None:
        raise Unavailable("catalog_unavailable", "the catalog did not answer")

    again = worker(runs, lake, away).run_once()
    assert again is not None and (again.status, again.error_code) == (
        "queued", "catalog_unavailable",
    )  # fmt: skip


def test_a_handler_that_does_not_finish_its_run_fails_it(runs, lake, enqueue):
    enqueue()
    idle = worker(runs, lake, lambda run, progress: None).run_once()
    assert idle is not None and (idle.status, idle.error_code) == ("failed", "handler_incomplete")


def test_a_handler_that_finishes_publishes_and_reports_progress(runs, lake, enqueue, current):
    queued = enqueue()

    def works(run: Run, progress: Progress) -> None:
        progress(1, 2, "half way")
        assert current(run.run_id).progress["stage"] == "half way"  # seen from elsewhere
        progress(2, 2, "done")
        runs.finish(run, "published", action="test.finish", details={})

    done = worker(runs, lake, works).run_once()
    assert done is not None and done.status == "published" and done.run_id == queued.run_id
    assert done.progress == {**done.progress, "done": 2, "total": 2, "stage": "done"}


def test_what_a_handler_recorded_stands_if_it_raises_afterwards(runs, lake, enqueue):
    enqueue()

    def finishes_then_crashes(run: Run, progress: Progress) -> None:
        runs.finish(run, "published", action="test.finish", details={})
        raise RuntimeError("after the fact")

    done = worker(runs, lake, finishes_then_crashes).run_once()
    assert done is not None and (done.status, done.attempts) == ("published", 1)
    assert worker(runs, lake, finishes_then_crashes).run_once() is None  # never run again


def test_the_worker_keeps_its_retry_policy_to_itself(runs, lake):
    w = Worker(runs, lake, {}, max_attempts=7, backoff=timedelta(seconds=1))
    assert (w.runs.max_attempts, w.runs.backoff, w.runs.owner) == (7, timedelta(seconds=1),
                                                                  runs.owner)  # fmt: skip
    assert (runs.max_attempts, runs.backoff) == (3, timedelta(seconds=10))


def test_a_cancel_stops_a_running_handler_at_its_next_progress(runs, lake, acme, enqueue):
    queued = enqueue()
    started, release = threading.Event(), threading.Event()
    steps: list[int] = []

    def slow(run: Run, progress: Progress) -> None:
        progress(0, 10, "starting")
        started.set()
        release.wait(10)
        for done in range(1, 10):
            progress(done, 10, "working")  # raises Cancelled once the cancel is seen
            steps.append(done)
            time.sleep(0.2)
        runs.finish(run, "published", action="test.finish", details={})

    outcome: list[Run | None] = []
    thread = threading.Thread(target=lambda: outcome.append(worker(runs, lake, slow).run_once()))
    thread.start()
    assert started.wait(10)
    asked = runs.cancel(acme, queued.run_id)
    assert asked.status == "running" and asked.cancel_requested
    release.set()
    thread.join(10)
    assert outcome and outcome[0] is not None
    assert (outcome[0].status, outcome[0].error_code) == ("cancelled", "cancelled")
    assert outcome[0].finished_at is not None and outcome[0].lease_owner is None
    assert len(steps) < 9  # it stopped before the end


def test_serve_runs_what_is_queued_and_recovers_until_stopped(runs, lake, enqueue, current):
    handled: list[str] = []

    def works(run: Run, progress: Progress) -> None:
        handled.append(run.subject)
        runs.finish(run, "published", action="test.finish", details={})

    dead = runs.claim(["scenario_run"], run_id=enqueue("dead").run_id)
    with runs.store.transaction(PLATFORM) as tx:  # its worker died: the lease ran out
        tx.update_run(dead.run_id, lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    first, second = enqueue("first"), enqueue("second")
    w = Worker(runs, lake, {"scenario_run": works}, poll_s=0.05, backoff=timedelta(0))
    stop = threading.Event()
    thread = threading.Thread(target=w.serve, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 15
    while len(handled) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
    assert sorted(handled) == ["dead", "first", "second"]  # the dead run requeued, then run
    assert {current(r.run_id).status for r in (dead, first, second)} == {"published"}
    assert current(dead.run_id).attempts == 2


# -- a worker killed for real ---------------------------------------------------------------------


def kill_when_hanging(home: Path, store_url: str, die_at: str) -> None:
    process = subprocess.Popen([sys.executable, str(SCRIPT), str(home), store_url, die_at],
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("hanging"):
                break
        else:
            pytest.fail(f"the worker ended before it hung (exit {process.wait()})")
    finally:
        process.kill()  # SIGKILL: no finally, no cleanup, the lease left to expire
        process.wait(10)


@pytest.mark.parametrize("die_at", ["audited", "published"])
def test_a_killed_worker_is_recovered_and_its_output_published_once(
    store, store_url, acme, tmp_path, die_at
):
    home = tmp_path / "home"
    lake = Lake(Settings(home=home), datasets=[dying_worker.READINGS])
    runs = Runs(store, lease=timedelta(seconds=1), backoff=timedelta(0))
    run_id = runs.enqueue(acme, "valuation", subject="S1",
                          params={"station": "S1", "day": "2025-01-02"}).run_id  # fmt: skip
    kill_when_hanging(home, store_url, die_at)
    with store.transaction(PLATFORM, write=False) as tx:
        killed = tx.get_run(run_id)
    assert (killed.status, killed.attempts) == ("staged", 1) and killed.branch is not None
    assert runs.recover(lake) == []  # its lease may still be renewed: not taken over yet
    time.sleep(1.2)  # the lease runs out

    recovered = runs.recover(lake)
    table = lake.table(dying_worker.READINGS.name)
    assert killed.branch not in table.metadata.refs  # dropped, or removed by the publish
    worker = Worker(runs, lake, {"valuation": dying_worker.publisher(runs, lake)},
                    backoff=timedelta(0))  # fmt: skip
    if die_at == "published":  # the catalog has its version: recorded published, not rerun
        assert [(r.run_id, r.status, r.tag) for r in recovered] == [
            (run_id, "published", "wr/S1/2025-01-02/v1")
        ]
        assert worker.run_once() is None
    else:  # nothing published: back on the queue, and the next worker does it
        assert [(r.run_id, r.status) for r in recovered] == [(run_id, "queued")]
        done = worker.run_once()
        assert done is not None and (done.run_id, done.status, done.attempts) == (
            run_id, "published", 2,
        )  # fmt: skip
        assert done.result["errors"][0]["code"] == "abandoned"
    with store.transaction(PLATFORM, write=False) as tx:
        final = tx.get_run(run_id)
    assert (final.status, final.tag, final.version) == ("published", "wr/S1/2025-01-02/v1", 1)
    table = lake.table(dying_worker.READINGS.name)
    partition = {"station": "S1", "day": date(2025, 1, 2)}
    assert list(versions(table, dying_worker.READINGS.tags, partition)) == [1]
    assert [n for n in table.metadata.refs if n.startswith("wr_")] == []  # no branch left
    rows, _ = Query(lake).scan(dying_worker.READINGS.name)
    assert rows.num_rows == 24  # the day once
