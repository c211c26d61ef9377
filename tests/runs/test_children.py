"""A run that fans out into children on the queue (on SQLite and on PostgreSQL): the children
and the parent's wait commit together, the last child to end wakes the parent, a broken child
wakes it at once, a lost wake is made up by the recheck, waiting uses up no attempt, a cancel
reaches the children, and the worker leaves a waiting run queued (``run_one`` executes its
children here, then the run again)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aurum.auth.access import PLATFORM
from aurum.errors import Conflict
from aurum.runs import Runs
from aurum.runs.worker import Worker
from aurum.store import Run

BLOCKS = [("scenario_run", "parent", {"paths": [0, 1024]}),
          ("scenario_run", "parent", {"paths": [1024, 2048]})]  # fmt: skip


def events_of(runs: Runs, run_id: str) -> list[str]:
    with runs.store.transaction(PLATFORM, write=False) as tx:
        return [e.type for e in tx.events(limit=1000) if e.run_id == run_id]


def fanned(runs: Runs, enqueue) -> tuple[Run, list[Run]]:  # type: ignore[no-untyped-def]
    parent = runs.claim(["scenario_run"]) if enqueue() else None
    assert parent is not None
    return parent, runs.fan_out(parent, BLOCKS, stage="blocks", recheck=timedelta(minutes=5))


def test_a_fan_out_queues_the_children_and_parks_the_parent(runs, enqueue, current):
    parent, children = fanned(runs, enqueue)
    waiting = current(parent.run_id)
    assert (waiting.status, waiting.attempts, waiting.lease_owner) == ("queued", 0, None)
    assert waiting.result["children"] == [c.run_id for c in children]
    assert waiting.progress is not None and waiting.progress["total"] == 2
    assert waiting.available_at > datetime.now(UTC) + timedelta(minutes=4)  # the recheck
    assert [c.params for c in children] == [
        {"paths": [0, 1024], "parent": parent.run_id},
        {"paths": [1024, 2048], "parent": parent.run_id},
    ]
    assert all(c.status == "queued" and c.tenant_id == "acme" for c in children)
    # the children are claimed (the parent is not due); only the parent is announced
    claimed = [runs.claim(["scenario_run"]), runs.claim(["scenario_run"])]
    assert [c.run_id for c in claimed if c] == [c.run_id for c in children]
    assert runs.claim(["scenario_run"]) is None
    assert all(events_of(runs, c.run_id) == [] for c in children)
    with pytest.raises(Conflict, match="already fanned out"):
        runs.fan_out(current(parent.run_id), BLOCKS, stage="blocks")


def test_the_last_child_to_end_wakes_the_parent(runs, enqueue, current):
    parent, children = fanned(runs, enqueue)
    first, second = (runs.claim(["scenario_run"]) for _ in children)
    runs.finish(first, "published", action="test", details={})
    assert current(parent.run_id).progress["done"] == 1
    assert runs.claim(["scenario_run"]) is None  # one child is at work
    runs.finish(second, "published", action="test", details={})
    again = runs.claim(["scenario_run"])
    assert again is not None and again.run_id == parent.run_id
    assert again.attempts == 1  # the wait did not count
    assert [c.status for c in runs.children(again)] == ["published", "published"]
    assert [c.run_id for c in runs.children(again)] == [c.run_id for c in children]
    assert events_of(runs, first.run_id) == []  # a child's end is its parent's business


def test_a_broken_child_wakes_the_parent_at_once(runs, enqueue, current):
    parent, _ = fanned(runs, enqueue)
    first = runs.claim(["scenario_run"])
    runs.finish(first, "failed", action="test", details={}, error_code="boom")
    assert runs.claim(["scenario_run"]).run_id == parent.run_id


def test_a_lost_wake_is_made_up_by_the_recheck_and_the_parent_waits_again(runs, enqueue, current):
    parent, children = fanned(runs, enqueue)
    with runs.store.transaction(PLATFORM) as tx:  # the recheck has come; a child still works
        tx.update_run(parent.run_id, available_at=datetime.now(UTC) - timedelta(seconds=1))
    working = runs.claim(["scenario_run"])
    assert working.run_id == parent.run_id
    parked = runs.wait(working, stage="blocks", recheck=timedelta(minutes=5))
    assert (parked.status, parked.attempts) == ("queued", 0)
    assert parked.available_at > datetime.now(UTC) + timedelta(minutes=4)
    # every child ended before the wait: due at once
    for child in children:
        with runs.store.transaction(PLATFORM) as tx:
            tx.update_run(child.run_id, status="published")
    with runs.store.transaction(PLATFORM) as tx:
        tx.update_run(parent.run_id, available_at=datetime.now(UTC) - timedelta(seconds=1))
    again = runs.claim(["scenario_run"])
    assert runs.wait(again, stage="blocks").available_at <= datetime.now(UTC)


def test_cancelling_a_waiting_parent_cancels_its_children(runs, enqueue, current, acme):
    parent, children = fanned(runs, enqueue)
    running = runs.claim(["scenario_run"])  # the first child is at work
    cancelled = runs.cancel(acme, parent.run_id)
    assert cancelled.status == "cancelled"
    assert current(running.run_id).cancel_requested and current(running.run_id).status == "running"
    assert current(children[1].run_id).status == "cancelled"
    runs.finish(running, "cancelled", action="test", details={})  # its worker stops
    assert current(parent.run_id).status == "cancelled"  # not woken, not claimed
    assert runs.claim(["scenario_run"]) is None


def test_a_cancel_asked_before_the_fan_out_leaves_no_child_to_run(runs, enqueue, current, acme):
    enqueue()
    parent = runs.claim(["scenario_run"])
    runs.cancel(acme, parent.run_id)  # running: asked to stop at its next checkpoint
    children = runs.fan_out(parent, BLOCKS, stage="blocks")
    assert [c.status for c in children] == ["cancelled", "cancelled"]
    again = runs.claim(["scenario_run"])  # due at once: it sees its cancel there
    assert again.run_id == parent.run_id and again.cancel_requested


def test_the_worker_leaves_a_waiting_run_queued_and_run_one_follows_its_children(
    runs, lake, enqueue, current
):
    done: list[str] = []

    def handler(run, progress):  # type: ignore[no-untyped-def]
        if run.params.get("parent"):
            done.append(f"child {run.params['paths'][0]}")
            runs.finish(run, "published", action="test", details={})
        elif run.result.get("children"):
            done.append("combine")
            runs.finish(run, "published", action="test", details={})
        else:
            done.append("plan")
            runs.fan_out(run, BLOCKS, stage="blocks")

    worker = Worker(runs, lake, {"scenario_run": handler}, poll_s=0.01)
    first = enqueue()
    parked = worker.run_once()
    assert (parked.run_id, parked.status) == (first.run_id, "queued")  # not handler_incomplete
    assert worker.run_once().run_id == parked.result["children"][0]
    ended = worker.run_one(first.run_id)  # the other child here, then the parent
    assert (ended.status, ended.attempts) == ("published", 1)
    assert done == ["plan", "child 0", "child 1024", "combine"]
    second = enqueue("s2")
    assert worker.run_one(second.run_id).status == "published"
    assert done[4:] == ["plan", "child 0", "child 1024", "combine"]


def test_fan_out_into_nothing_is_refused(runs, enqueue):
    enqueue()
    with pytest.raises(ValueError, match="no children"):
        runs.fan_out(runs.claim(["scenario_run"]), [], stage="blocks")
