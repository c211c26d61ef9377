"""The queue's lifecycle with a worker: claim when due, retry with backoff, cancel, progress, and
what each way a handler ends does to its run (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from aurum.auth.access import PLATFORM, Access
from aurum.config import Settings
from aurum.errors import Conflict, NotFound, ScenarioError
from aurum.lake.catalog import Lake
from aurum.runs import Runs
from aurum.runs.worker import Progress, Worker
from aurum.store import Run, Store

ACME = Access("acme", actor="user:a@acme")


@pytest.fixture
def runs(store: Store) -> Runs:
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
        tx.create_tenant("beta", "Beta")
    return Runs(store, lease=timedelta(seconds=30), max_attempts=3,
                backoff=timedelta(seconds=10))  # fmt: skip


@pytest.fixture
def lake(tmp_path) -> Lake:
    return Lake(Settings(home=tmp_path / "home"))


def enqueue(runs: Runs, subject: str = "s1") -> Run:
    return runs.enqueue(ACME, "scenario_run", subject=subject, params={"n": 1})


def get(runs: Runs, run_id: str) -> Run:
    with runs.store.transaction(PLATFORM, write=False) as tx:
        return tx.get_run(run_id)


def worker(runs: Runs, lake: Lake, handler) -> Worker:
    return Worker(runs, lake, {"scenario_run": handler}, max_attempts=3,
                  backoff=timedelta(seconds=10))  # fmt: skip


def test_a_crash_requeues_with_doubling_backoff_then_fails(runs, lake):
    queued = enqueue(runs)

    def crash(run: Run, progress: Progress) -> None:
        raise RuntimeError("boom")

    w = worker(runs, lake, crash)
    first = w.run_once()
    assert first is not None and first.status == "queued" and first.attempts == 1
    assert first.result["errors"][0]["code"] == "crashed"
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


def test_a_bad_request_fails_at_once_and_an_unfinished_run_is_failed(runs, lake):
    enqueue(runs)

    def bad(run: Run, progress: Progress) -> None:
        raise ScenarioError("history_too_short", "only 5 days")

    done = worker(runs, lake, bad).run_once()
    assert done is not None and (done.status, done.error_code, done.attempts) == (
        "failed", "history_too_short", 1,
    )  # fmt: skip
    enqueue(runs, "s2")
    idle = worker(runs, lake, lambda run, progress: None).run_once()
    assert idle is not None and (idle.status, idle.error_code) == ("failed", "handler_incomplete")


def test_a_handler_that_finishes_publishes_and_reports_progress(runs, lake):
    queued = enqueue(runs)

    def works(run: Run, progress: Progress) -> None:
        progress(1, 2, "half way")
        assert get(runs, run.run_id).progress["stage"] == "half way"  # seen from elsewhere
        progress(2, 2, "done")
        runs.finish(run, "published", action="test.finish", details={})

    done = worker(runs, lake, works).run_once()
    assert done is not None and done.status == "published" and done.run_id == queued.run_id
    assert done.progress == {**done.progress, "done": 2, "total": 2, "stage": "done"}


def test_cancel_queued_at_once_running_at_the_next_checkpoint(runs, lake):
    queued = enqueue(runs)
    cancelled = runs.cancel(ACME, queued.run_id)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    with pytest.raises(Conflict) as caught:
        runs.cancel(ACME, queued.run_id)
    assert caught.value.code == "run_finished"
    with pytest.raises(NotFound):
        runs.cancel(Access("beta", actor="b"), enqueue(runs, "s2").run_id)

    started, release = threading.Event(), threading.Event()

    def slow(run: Run, progress: Progress) -> None:
        progress(0, 10, "starting")
        started.set()
        release.wait(10)
        progress(5, 10, "half way")  # raises Cancelled: a cancel was asked for meanwhile
        raise AssertionError("not reached")

    outcome: list[Run | None] = []
    thread = threading.Thread(target=lambda: outcome.append(worker(runs, lake, slow).run_once()))
    thread.start()
    assert started.wait(10)
    running = get(runs, next(r.run_id for r in _queued_or_running(runs)))
    asked = runs.cancel(ACME, running.run_id)
    assert asked.status == "running" and asked.cancel_requested
    time.sleep(0.6)  # checkpoints write (and look for a cancel) at most twice a second
    release.set()
    thread.join(10)
    assert outcome and outcome[0] is not None and outcome[0].status == "cancelled"


def _queued_or_running(runs: Runs) -> list[Run]:
    with runs.store.transaction(PLATFORM, write=False) as tx:
        return tx.runs(status="running")


def test_recovery_requeues_a_dead_workers_run_or_records_its_cancel(runs, lake):
    dead, stopped = enqueue(runs, "dead"), enqueue(runs, "stopped")
    for run in (dead, stopped):
        assert runs.claim(("scenario_run",), run_id=run.run_id) is not None
    runs.cancel(ACME, stopped.run_id)
    with runs.store.transaction(PLATFORM) as tx:  # both workers died: their leases ran out
        for run in (dead, stopped):
            tx.update_run(run.run_id, lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    found = {r.run_id: r.status for r in runs.recover(lake)}
    assert found == {dead.run_id: "queued", stopped.run_id: "cancelled"}
    requeued = get(runs, dead.run_id)
    assert requeued.result["errors"][0]["code"] == "abandoned" and requeued.lease_owner is None
