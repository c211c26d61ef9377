"""One lifecycle for every run: an ingest, a feed load, a scenario run, a valuation.

The service keeps a run's record in step with what it does, in one place, so lineage, events and
metrics hook into every run here (``start``, ``stage``, ``finish``)::

    run = runs.start(access, "ingest", subject=file, dataset=..., partition=...)
    with runs.held(run):                      # a heartbeat renews the lease while it works
        ...                                   # the work; publishes call ``runs.stage``
        runs.finish(run, "published", action="ingest", details=..., snapshot_id=...)

``finish`` commits the run's row, its audit entry and its outbox events
(:mod:`aurum.runs.events`) in **one** store transaction; ``enqueue`` announces a queued run the
same way. The catalog commit of a publish is in another database, so the publish records
the run id in its snapshot summary and :meth:`Runs.recover` reconciles from the catalog: a run
whose lease expired is recorded ``published`` if the catalog holds a version it made, and
``failed`` otherwise (its branch dropped). Recovery claims each expired run atomically
(``aurum.store.runs.claim_expired``), so several API processes and workers never race, and a run
whose heartbeat is fresh is never taken over, however long it takes.

The same table is the work queue: :meth:`Runs.enqueue` records a ``queued`` run, a worker takes
the oldest whose time has come with :meth:`Runs.claim` (``aurum.runs.worker``). While it works it
reports progress at checkpoints (:meth:`Runs.checkpoint`), which also tell it whether a cancel
was asked for (:meth:`Runs.cancel`). A queued run that crashed, or whose worker died, goes back
to the queue with backoff (:meth:`Runs.retry`; :meth:`Runs.recover` does it for expired leases)
until its attempts are used up; a run that published before it died is recorded published, never
run twice::

    run = runs.enqueue(access, "scenario_run", subject=scenario_id, params=...)
    claimed = runs.claim(["scenario_run"])    # queued -> running, attempts + 1, leased
    with runs.held(claimed):
        if runs.checkpoint(claimed, done=1, total=9, stage="paths"):
            ...                               # cancel asked: stop, record cancelled
        runs.finish(claimed, "published", ...)   # or, after a crash: runs.retry(claimed, ...)

Which kinds come from the queue is :data:`QUEUED_KINDS`: recovery requeues those (another worker
runs them again) and fails the others (an ingest or a feed load was started by a process, not
taken from the queue: whoever started it decides whether to start it again).

A queued run may **fan out** into children that any worker takes from the same queue (a large
ensemble's path blocks): :meth:`Runs.fan_out` enqueues them and puts the parent back on the
queue, *waiting*, in one store transaction, so no child exists without its parent waiting for
it. A child that ends wakes its parent (makes it due at once) when every child has ended or one
failed; a parent whose wake was lost (its child's worker died between the two commits) is due
again after ``recheck`` anyway and waits again (:meth:`Runs.wait`) if its children are still
at work. Waiting does not use up an attempt. Cancelling the parent cancels its children::

    children = runs.fan_out(claimed, [("scenario_run", claimed.run_id, {"paths": [0, 2048]}),
                                      ("scenario_run", claimed.run_id, {"paths": [2048, 4096]})],
                            stage="path blocks")
    ...                                       # workers run the children; the last one wakes
    again = runs.claim(["scenario_run"])      # the parent, due: its children have ended
    runs.children(again)                      # their records, to combine what they made
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aurum import telemetry
from aurum.auth.access import Access
from aurum.errors import Conflict
from aurum.lake.catalog import Lake
from aurum.lake.versions import published_by
from aurum.lineage import Lineage
from aurum.runs.events import RunEvent, finished_events, queued_events
from aurum.store import Run, RunKind, RunStatus, Store, Tx
from aurum.store.runs import FINAL_STATUSES

__all__ = [
    "QUEUED_KINDS", "Child", "Recovered", "Runs", "drop_branch", "drop_orphan_branches",
    "worker_name",
]  # fmt: skip

# Kinds that come from the queue: a worker death or a crash requeues them (with backoff).
QUEUED_KINDS: tuple[RunKind, ...] = ("scenario_run", "valuation")
MAX_BACKOFF = timedelta(minutes=10)
Child = tuple[RunKind, str, Mapping[str, Any]]
"""A child run to enqueue: its kind, subject and params (:meth:`Runs.fan_out` adds ``parent``)."""
_BROKEN: tuple[RunStatus, ...] = ("failed", "cancelled")

log = logging.getLogger("aurum.runs")


def worker_name() -> str:
    """Who holds a lease: this host, process and a random part (a restarted process is another
    holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Recovered:
    """A run whose lease expired, and what it turned out to be."""

    run_id: str
    status: str  # "published": the catalog has its version; "failed": it never committed;
    # "queued": a queued kind, back on the queue for another attempt; "cancelled": it was
    # asked to stop and its worker died first
    tag: str | None = None


class Runs:
    """The run lifecycle over one store (and, to reconcile publishes, one lake)."""

    def __init__(
        self, store: Store, *, lease: timedelta = timedelta(seconds=60), owner: str | None = None,
        max_attempts: int = 3, backoff: timedelta = timedelta(seconds=5),
        lineage: Lineage | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.lineage = lineage  # told of each run's start and end, after they commit
        self.lease = lease
        self.owner = owner or worker_name()
        self.max_attempts = max_attempts
        self.backoff = backoff

    # -- the lifecycle ----------------------------------------------------------------------------

    def start(
        self, access: Access, kind: RunKind, *, subject: str, request_id: str | None = None,
        **values: Any,
    ) -> Run:  # fmt: skip
        """A new run of ``access``'s tenant, ``running`` and leased to this process."""
        with self.store.transaction(access) as tx:
            run = tx.start_run(
                kind, subject=subject, lease=(self.owner, self.lease), request_id=request_id,
                **values,
            )  # fmt: skip
        if self.lineage is not None:
            self.lineage.started(run)
        return run

    def stage(self, run: Run, **changes: Any) -> Run:
        """The run's output sits on a branch, not yet published."""
        with self.store.transaction(_access_of(run)) as tx:
            return tx.update_run(run.run_id, status="staged", **changes)

    def finish(
        self,
        run: Run,
        status: RunStatus,
        *,
        action: str,
        details: Mapping[str, Any],
        actor: str | None = None,
        pause: Callable[[str], None] | None = None,
        **changes: Any,
    ) -> Run:
        """End the run: its row and its audit entry (by ``actor``, default whoever asked for the
        run) commit together, or neither does."""
        access = _access_of(run, actor)
        with self.store.transaction(access) as tx:
            ended = tx.update_run(
                run.run_id, status=status, finished_at=datetime.now(UTC), lease_owner=None,
                lease_expires_at=None, **changes,
            )  # fmt: skip
            if pause is not None:
                pause("run_recorded")  # fault injection: the audit entry is not written yet
            tx.audit(action, target=run.run_id, request_id=run.request_id, details=details)
            _emit(tx, ended, finished_events(ended))
        if self.lineage is not None:
            self.lineage.finished(ended)
        if ended.params.get("parent") and ended.status in FINAL_STATUSES:
            self._wake(str(ended.params["parent"]), ended)
        return ended

    @contextmanager
    def held(self, run: Run) -> Iterator[None]:
        """Renew ``run``'s lease every third of its length while the block runs (whose log
        lines carry the run id)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.lease.total_seconds() / 3):
                try:
                    with self.store.transaction(Access.platform()) as tx:
                        kept = tx.heartbeat(run.run_id, self.owner, self.lease)
                except Exception:  # the next beat retries; the lease outlives a few misses
                    log.exception("heartbeat of run %s failed", run.run_id)
                    continue
                if not kept:
                    log.warning("run %s lost its lease (taken over or ended)", run.run_id)
                    return

        thread = threading.Thread(target=beat, name=f"aurum-lease-{run.run_id[:8]}", daemon=True)
        thread.start()
        try:
            with telemetry.context(run_id=run.run_id):  # log lines of the work name the run
                yield
        finally:
            stop.set()
            thread.join(timeout=5)

    # -- the queue --------------------------------------------------------------------------------

    def enqueue(
        self, access: Access, kind: RunKind, *, subject: str, params: Mapping[str, Any],
        request_id: str | None = None,
    ) -> Run:  # fmt: skip
        """A ``queued`` run of ``access``'s tenant for a worker to claim."""
        with self.store.transaction(access) as tx:
            run = tx.start_run(
                kind, subject=subject, queued=True, params=dict(params), request_id=request_id
            )
            tx.audit(f"{kind}.enqueue", target=run.run_id, request_id=request_id,
                     details={"subject": subject})  # fmt: skip
            _emit(tx, run, queued_events(run))
        return run

    def claim(self, kinds: Sequence[RunKind], *, run_id: str | None = None) -> Run | None:
        """The oldest queued run of ``kinds`` whose time has come (or run ``run_id``), now
        ``running`` and leased to this process."""
        with self.store.transaction(Access.platform()) as tx:
            claimed = tx.claim_queued(kinds, self.owner, self.lease, run_id=run_id)
        if claimed is not None and self.lineage is not None:
            self.lineage.started(claimed)
        return claimed

    def fan_out(
        self, run: Run, children: Sequence[Child], *, stage: str,
        recheck: timedelta | None = None,
    ) -> list[Run]:  # fmt: skip
        """Enqueue ``children`` of the claimed ``run`` (each with ``params["parent"]``, of the
        run's tenant) and put ``run`` back on the queue to wait for them, in one transaction;
        the children, queued. ``run.result["children"]`` lists them, in order."""
        if not children:
            raise ValueError(f"run {run.run_id} fans out into no children")
        if run.result.get("children"):
            raise Conflict(
                "run_has_children", f"run {run.run_id} already fanned out: wait for its children",
                run_id=run.run_id,
            )  # fmt: skip
        with self.store.transaction(_access_of(run)) as tx:
            cancelled = tx.update_run(run.run_id).cancel_requested  # asked since its checkpoint
            made = [
                tx.start_run(kind, subject=subject, queued=True,
                             params={**params, "parent": run.run_id},
                             request_id=run.request_id)
                for kind, subject, params in children
            ]  # fmt: skip
            for index, child in enumerate(made):
                tx.audit(f"{child.kind}.enqueue", target=child.run_id,
                         request_id=run.request_id,
                         details={"subject": child.subject, "parent": run.run_id})  # fmt: skip
                if cancelled:  # none will run; the parent, due at once, sees its cancel
                    made[index] = tx.update_run(
                        child.run_id, status="cancelled", finished_at=datetime.now(UTC),
                        error_code="cancelled", error_message=f"its parent {run.run_id} was"
                        " cancelled",
                    )  # fmt: skip
            result = {**run.result, "children": [child.run_id for child in made]}
            self._park(tx, run, made, result=result, stage=stage, recheck=recheck)
        return made

    def wait(self, run: Run, *, stage: str, recheck: timedelta | None = None) -> Run:
        """Put the claimed ``run`` back on the queue to wait for its children again (it was due
        before they ended: a lost wake, or the recheck came first)."""
        ids = run.result.get("children") or []
        if not ids:
            raise ValueError(f"run {run.run_id} has no children to wait for")
        with self.store.transaction(_access_of(run)) as tx:
            found = [tx.get_run(child) for child in ids]
            return self._park(tx, run, found, result=run.result, stage=stage, recheck=recheck)

    def children(self, run: Run) -> list[Run]:
        """The records of ``run``'s children (:meth:`fan_out`), in the order they were made."""
        with self.store.transaction(_access_of(run), write=False) as tx:
            return [tx.get_run(child) for child in run.result.get("children") or []]

    def _park(
        self, tx: Tx, run: Run, children: Sequence[Run], *, result: Mapping[str, Any],
        stage: str, recheck: timedelta | None,
    ) -> Run:  # fmt: skip
        """``run`` queued again, waiting for ``children``: due at once when they have ended
        (or one broke) already, else after ``recheck`` (default: the lease). The claim that
        led here is not an attempt."""
        now = datetime.now(UTC)
        ended = sum(child.status in FINAL_STATUSES for child in children)
        broken = any(child.status in _BROKEN for child in children)
        due = ended == len(children) or broken
        return tx.update_run(
            run.run_id, status="queued", lease_owner=None, lease_expires_at=None,
            attempts=max(run.attempts - 1, 0), result=dict(result),
            available_at=now if due else now + (recheck or self.lease),
            progress={"done": ended, "total": len(children), "stage": stage,
                      "at": now.isoformat(timespec="seconds")},
        )  # fmt: skip

    def _wake(self, parent_id: str, child: Run) -> None:
        """Count ``child``'s end on its waiting parent; make the parent due once every child
        has ended or one broke. Best effort: a parent not woken is due after its recheck."""
        try:
            with self.store.transaction(_access_of(child, "aurum")) as tx:
                parent = tx.update_run(parent_id)  # under the row's lock: children end together
                ids = parent.result.get("children") or []
                if parent.status != "queued" or child.run_id not in ids:
                    return
                found = [tx.get_run(i) for i in ids]
                ended = sum(r.status in FINAL_STATUSES for r in found)
                now = datetime.now(UTC)
                changes: dict[str, Any] = {"progress": {
                    **(parent.progress or {}), "done": ended, "total": len(ids),
                    "at": now.isoformat(timespec="seconds"),
                }}  # fmt: skip
                if ended == len(ids) or any(r.status in _BROKEN for r in found):
                    changes["available_at"] = now
                tx.update_run(parent_id, **changes)
        except Exception:  # the recheck makes it due anyway
            log.exception("could not wake run %s after its child %s", parent_id, child.run_id)

    def checkpoint(self, run: Run, *, done: int, total: int, stage: str) -> bool:
        """Record the run's progress; whether a cancel was asked for (the worker then stops)."""
        progress = {"done": done, "total": total, "stage": stage,
                    "at": datetime.now(UTC).isoformat(timespec="seconds")}  # fmt: skip
        with self.store.transaction(_access_of(run)) as tx:
            return tx.update_run(run.run_id, progress=progress).cancel_requested

    def cancel(self, access: Access, run_id: str, *, request_id: str | None = None) -> Run:
        """A queued run ends ``cancelled`` at once; a running one is asked to stop (its worker
        records ``cancelled`` at its next checkpoint); a finished one is a 409."""
        with self.store.transaction(access) as tx:
            run = tx.update_run(run_id)  # read under the row's lock: a worker may claim it now
            if run.status in ("published", "duplicate", "failed", "cancelled"):
                raise Conflict(
                    "run_finished", f"run {run_id} has finished ({run.status})", status=run.status
                )
            if run.status == "queued":
                run = tx.update_run(
                    run_id, status="cancelled", finished_at=datetime.now(UTC),
                    error_code="cancelled", error_message=f"cancelled by {access.actor}",
                )  # fmt: skip
            else:
                run = tx.update_run(run_id, cancel_requested=True)
            tx.audit("run.cancel", target=run_id, request_id=request_id,
                     details={"kind": run.kind, "status": run.status})  # fmt: skip
            never: list[Run] = []  # children that never started
            for child_id in run.result.get("children") or []:  # a waiting run's children
                child = tx.update_run(child_id)
                if child.status == "queued":
                    never.append(tx.update_run(
                        child_id, status="cancelled", finished_at=datetime.now(UTC),
                        error_code="cancelled", error_message=f"its parent {run_id} was cancelled",
                    ))  # fmt: skip
                elif child.status not in FINAL_STATUSES:
                    tx.update_run(child_id, cancel_requested=True)
        if self.lineage is not None:  # what never started: ABORT
            for ended in [run, *never] if run.status == "cancelled" else never:
                self.lineage.finished(ended)
        return run

    def retry(
        self, run: Run, *, error_code: str, error_message: str, lake: Lake | None = None,
        actor: str | None = None,
    ) -> Run:  # fmt: skip
        """Back to the queue after ``backoff * 2^(attempts - 1)`` (at most ten minutes), the
        error kept in ``result["errors"]``; ``failed`` once its attempts are used up. A staged
        branch is dropped first."""
        if lake is not None:
            published = self._published(lake, run)
            if published is not None:  # its output reached the lake: never run it again
                return published
            drop_branch(lake, run)
        now = datetime.now(UTC)
        errors = [*run.result.get("errors", []), {
            "attempt": run.attempts, "code": error_code, "message": error_message[:500],
            "at": now.isoformat(timespec="seconds"),
        }]  # fmt: skip
        result = {**run.result, "errors": errors}
        if run.attempts >= self.max_attempts:
            return self.finish(
                run, "failed", action="run.fail", actor=actor,
                details={"kind": run.kind, "attempts": run.attempts, "error": error_code},
                error_code=error_code, error_message=error_message, result=result, branch=None,
            )  # fmt: skip
        wait = min(self.backoff * 2 ** max(run.attempts - 1, 0), MAX_BACKOFF)
        with self.store.transaction(_access_of(run, actor)) as tx:
            requeued = tx.update_run(
                run.run_id, status="queued", lease_owner=None, lease_expires_at=None,
                available_at=now + wait, result=result, progress=None, branch=None,
                error_code=error_code, error_message=error_message,
            )  # fmt: skip
            tx.audit("run.retry", target=run.run_id, request_id=run.request_id,
                     details={"kind": run.kind, "attempt": run.attempts, "error": error_code,
                              "retry_in_s": wait.total_seconds()})  # fmt: skip
        return requeued

    # -- recovery ---------------------------------------------------------------------------------

    def recover(self, lake: Lake) -> list[Recovered]:
        """Take over the runs whose lease expired and settle each from the catalog: published if
        it holds their version; else a queued kind goes back to the queue (:meth:`retry`, its
        branch dropped, ``failed`` once its attempts are used up) and any other is failed."""
        with self.store.transaction(Access.platform()) as tx:
            claimed = tx.claim_expired(self.owner, self.lease)
        return [self._settle(lake, run) for run in claimed]

    def _published(self, lake: Lake, run: Run) -> Run | None:
        """Record ``run`` published if the catalog holds a version it made (else ``None``)."""
        dataset = lake.datasets.get(run.dataset or "")
        scheme = dataset.tags if dataset is not None else None
        if scheme is None or not run.partition:
            return None
        found = published_by(lake.table(run.dataset or ""), scheme, run.partition, run.run_id)
        if found is None:
            return None
        version, snapshot = found
        tag = scheme.tag(run.partition, version)
        return self.finish(
            run, "published", action="run.recovered", actor="aurum:recovery",
            details={"subject": run.subject, "kind": run.kind, "status": "published", "tag": tag},
            snapshot_id=snapshot.snapshot_id, tag=tag, version=version, branch=None,
        )  # fmt: skip

    def _settle(self, lake: Lake, run: Run) -> Recovered:
        dataset = lake.datasets.get(run.dataset or "")
        scheme = dataset.tags if dataset is not None else None
        found = None
        if scheme is not None and run.partition:
            table = lake.table(run.dataset or "")
            found = published_by(table, scheme, run.partition, run.run_id)
        details = {"subject": run.subject, "kind": run.kind}
        if found is not None:
            assert scheme is not None and run.partition is not None
            version, snapshot = found
            tag = scheme.tag(run.partition, version)
            rows = snapshot.summary.get("added-records")
            self.finish(
                run, "published", action="run.recovered", actor="aurum:recovery",
                details={**details, "status": "published", "tag": tag},
                snapshot_id=snapshot.snapshot_id, tag=tag, version=version, branch=None,
                result={**run.result, **({"rows": int(rows)} if rows and rows.isdigit() else {})},
            )  # fmt: skip
            return Recovered(run.run_id, "published", tag)
        if run.kind in QUEUED_KINDS and not run.cancel_requested:
            again = self.retry(
                run, error_code="abandoned", lake=lake, actor="aurum:recovery",
                error_message="its worker stopped before it finished (lease expired)",
            )  # fmt: skip
            return Recovered(run.run_id, again.status)
        drop_branch(lake, run)
        if run.cancel_requested:  # asked to stop, and stopped: what was asked
            self.finish(
                run, "cancelled", action="run.recovered", actor="aurum:recovery",
                details={**details, "status": "cancelled"}, error_code="cancelled",
                error_message="cancelled; its worker stopped before it could record it",
            )  # fmt: skip
            return Recovered(run.run_id, "cancelled")
        self.finish(
            run, "failed", action="run.recovered", actor="aurum:recovery",
            details={**details, "status": "failed"}, error_code="abandoned",
            error_message="the run stopped before it published; its staged branch was dropped",
        )  # fmt: skip
        return Recovered(run.run_id, "failed")


def drop_orphan_branches(lake: Lake, store: Store) -> list[str]:
    """Drop the write-audit-publish branches no live run holds (their run finished, or is not
    known to this store): what a crash between staging and recording leaves in the catalog.
    A branch of a running or staged run is kept, whatever its age."""
    candidates: list[tuple[Any, str, str]] = []
    for name, dataset in lake.datasets.items():
        scheme = dataset.tags
        if scheme is None:
            continue
        table = lake.table(name)
        for branch, ref in table.metadata.refs.items():
            run_id = branch.rsplit("_", 1)[-1]
            if ref.snapshot_ref_type == "branch" and branch.startswith(f"{scheme.prefix}_") and (
                len(run_id) == 32
            ):  # fmt: skip
                candidates.append((table, branch, run_id))
    if not candidates:
        return []
    with store.transaction(Access.platform(), write=False) as tx:
        live = {r.run_id for r in tx.runs(status="running", limit=10_000)}
        live |= {r.run_id for r in tx.runs(status="staged", limit=10_000)}
    dropped = []
    for table, branch, run_id in candidates:
        if run_id not in live:
            table.manage_snapshots().remove_branch(branch).commit()
            dropped.append(branch)
    return dropped


def drop_branch(lake: Lake, run: Run) -> None:
    """Drop the write-audit-publish branch a run may have staged."""
    dataset = lake.datasets.get(run.dataset or "")
    scheme = dataset.tags if dataset is not None else None
    if scheme is None or not run.partition:
        return
    branch = run.branch or scheme.branch(run.partition, run.run_id)
    table = lake.table(run.dataset or "")
    if branch in table.metadata.refs:
        table.manage_snapshots().remove_branch(branch).commit()


def _emit(tx: Tx, run: Run, events: Sequence[RunEvent]) -> None:
    """Write ``run``'s events to the outbox in ``tx``, as the run's tenant's."""
    for event in events:
        tx.emit(
            event.type, key=event.key, payload=event.payload, vendor=event.vendor or run.vendor,
            run_id=run.run_id, tenant_id=run.tenant_id,
        )  # fmt: skip


def _access_of(run: Run, actor: str | None = None) -> Access:
    """The run's own scope: its tenant's (or the platform's), acting as ``actor``."""
    name = actor or run.requested_by or "aurum"
    return Access.platform(name) if run.tenant_id is None else Access(run.tenant_id, actor=name)
