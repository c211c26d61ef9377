"""The queue in the run table, through ``Runs`` (on SQLite and on PostgreSQL): claims take the
oldest due run once, retries back off (doubling, capped) until the attempts are used up, cancels
end or flag a run, checkpoints are seen from elsewhere, and recovery requeues a dead worker's run.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from aurum.auth.access import PLATFORM, Access
from aurum.errors import Conflict, NotFound, StoreError
from aurum.runs import Recovered, Runs
from aurum.store import Run


def due(runs: Runs, run_id: str) -> None:
    """Time passes: the run's backoff is over."""
    with runs.store.transaction(PLATFORM) as tx:
        tx.update_run(run_id, available_at=datetime.now(UTC) - timedelta(seconds=1))


def actions(runs: Runs, access: Access, run_id: str) -> list[str]:
    with runs.store.transaction(access, write=False) as tx:
        return [e.action for e in reversed(tx.audit_log()) if e.target == run_id]


def test_a_claim_takes_the_oldest_due_run_of_its_kinds(runs, enqueue, current):
    later, valuation, ready = enqueue("a"), enqueue("b", "valuation"), enqueue("c")
    with runs.store.transaction(PLATFORM) as tx:
        tx.update_run(later.run_id, available_at=datetime.now(UTC) + timedelta(minutes=1))
    claimed = runs.claim(["scenario_run"])
    assert claimed is not None and claimed.run_id == ready.run_id  # "a" is not due yet
    assert (claimed.status, claimed.attempts, claimed.lease_owner) == ("running", 1, runs.owner)
    assert claimed.started_at is not None and claimed.lease_expires_at > datetime.now(UTC)
    assert runs.claim(["scenario_run"]) is None
    assert runs.claim(["valuation"]).run_id == valuation.run_id
    due(runs, later.run_id)
    assert runs.claim(["scenario_run", "valuation"]).run_id == later.run_id
    assert current(later.run_id).status == "running"


def test_claims_from_many_workers_take_each_run_once(runs, enqueue):
    queued = {enqueue(f"s{i}").run_id for i in range(8)}
    taken: list[str] = []

    def work() -> None:
        mine = Runs(runs.store)  # another holder
        while (run := mine.claim(["scenario_run"])) is not None:
            taken.append(run.run_id)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(taken) == sorted(queued)  # each once: none twice, none left


def test_retries_back_off_doubling_capped_then_fail(store, runs, acme, enqueue):
    patient = Runs(store, max_attempts=5, backoff=timedelta(minutes=4))
    run_id = enqueue().run_id
    waits = []
    for attempt in range(1, 5):
        claimed = patient.claim(["scenario_run"])
        assert claimed is not None and claimed.attempts == attempt
        patient.checkpoint(claimed, done=1, total=2, stage="half")
        again = patient.retry(claimed, error_code="crashed", error_message=f"boom {attempt}")
        assert (again.status, again.lease_owner, again.lease_expires_at) == ("queued", None, None)
        assert again.progress is None and again.error_code == "crashed"
        assert [e["attempt"] for e in again.result["errors"]] == list(range(1, attempt + 1))
        waits.append(round((again.available_at - datetime.now(UTC)) / timedelta(minutes=1)))
        assert patient.claim(["scenario_run"]) is None  # not before its time
        due(patient, run_id)
    assert waits == [4, 8, 10, 10]  # 4 x 2^(attempt - 1), at most ten minutes
    last = patient.claim(["scenario_run"])
    failed = patient.retry(last, error_code="crashed", error_message="boom 5")
    assert (failed.status, failed.attempts, failed.error_code) == ("failed", 5, "crashed")
    assert failed.finished_at is not None and failed.error_message == "boom 5"
    assert [e["message"] for e in failed.result["errors"]] == [f"boom {i}" for i in range(1, 6)]
    assert actions(runs, acme, run_id) == ["scenario_run.enqueue", *["run.retry"] * 4, "run.fail"]


def test_cancel_ends_a_queued_run_flags_a_running_one_refuses_a_finished_one(
    runs, acme, enqueue, current
):
    queued = enqueue("q")
    cancelled = runs.cancel(acme, queued.run_id, request_id="req-1")
    assert (cancelled.status, cancelled.error_code) == ("cancelled", "cancelled")
    assert cancelled.finished_at is not None
    assert actions(runs, acme, queued.run_id) == ["scenario_run.enqueue", "run.cancel"]
    assert runs.claim(["scenario_run"]) is None  # never runs
    with pytest.raises(Conflict) as finished:
        runs.cancel(acme, queued.run_id)
    assert (finished.value.code, finished.value.http_status) == ("run_finished", 409)

    running = runs.claim(["scenario_run"], run_id=enqueue("r").run_id)
    assert running is not None
    assert runs.checkpoint(running, done=1, total=4, stage="paths") is False
    with pytest.raises(NotFound):  # another tenant's run is one that does not exist
        runs.cancel(Access("beta", actor="user:b@beta"), running.run_id)
    assert current(running.run_id).cancel_requested is False
    asked = runs.cancel(acme, running.run_id)
    assert (asked.status, asked.cancel_requested, asked.finished_at) == ("running", True, None)
    assert runs.checkpoint(running, done=2, total=4, stage="paths") is True  # its worker stops
    assert actions(runs, acme, running.run_id)[-1] == "run.cancel"


def test_checkpoints_are_seen_from_another_transaction_while_the_run_works(runs, enqueue, current):
    run = runs.claim(["scenario_run"], run_id=enqueue().run_id)
    with runs.held(run):
        runs.checkpoint(run, done=3, total=10, stage="simulating paths")
        seen = current(run.run_id)
    assert seen.status == "running"
    assert {k: seen.progress[k] for k in ("done", "total", "stage")} == {
        "done": 3, "total": 10, "stage": "simulating paths",
    }  # fmt: skip
    assert datetime.fromisoformat(seen.progress["at"]) > datetime.now(UTC) - timedelta(minutes=1)


def test_runs_are_listed_by_subject_and_flags_are_booleans(runs, acme, enqueue):
    first, _, third = enqueue("scenario-1"), enqueue("scenario-2"), enqueue("scenario-1")
    with runs.store.transaction(acme) as tx:
        assert [r.run_id for r in tx.runs(subject="scenario-1")] == [third.run_id, first.run_id]
        with pytest.raises(StoreError) as caught:
            tx.update_run(first.run_id, cancel_requested="yes")
    assert caught.value.code == "value_invalid"


def test_recovery_requeues_a_dead_workers_run_and_settles_the_rest(runs, acme, lake, enqueue,
                                                                    current):  # fmt: skip
    dead, stopped, spent = enqueue("dead"), enqueue("stopped"), enqueue("spent")
    for run in (dead, stopped, spent):
        assert runs.claim(["scenario_run"], run_id=run.run_id) is not None
    runs.cancel(acme, stopped.run_id)
    with runs.store.transaction(PLATFORM) as tx:
        tx.update_run(spent.run_id, attempts=3)  # its last attempt
    ingest = runs.start(acme, "ingest", subject="file.xlsx")  # not from the queue
    with runs.store.transaction(PLATFORM) as tx:  # every worker died: the leases ran out
        for run in (dead, stopped, spent, ingest):
            tx.update_run(run.run_id, lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
    found = sorted(runs.recover(lake), key=lambda r: r.run_id)
    assert found == sorted([
        Recovered(dead.run_id, "queued"), Recovered(stopped.run_id, "cancelled"),
        Recovered(spent.run_id, "failed"), Recovered(ingest.run_id, "failed"),
    ], key=lambda r: r.run_id)  # fmt: skip
    requeued = current(dead.run_id)
    assert requeued.lease_owner is None and requeued.attempts == 1
    assert [(e["attempt"], e["code"]) for e in requeued.result["errors"]] == [(1, "abandoned")]
    assert current(spent.run_id).error_code == "abandoned"
    assert runs.recover(lake) == []  # settled once
    run: Run | None = runs.claim(["scenario_run"])
    assert run is None  # the requeued run waits out its backoff
