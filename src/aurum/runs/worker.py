"""The worker: claims queued runs and executes them with their kind's handler.

``aurum worker`` builds one with a handler per kind (a scenario run: ``ScenarioService.execute``)
and serves until stopped. A handler does the work and finishes the run itself (it knows what it
published); it reports progress through the :class:`Progress` it is given, which raises
:class:`Cancelled` once a cancel was asked for. What a handler raises decides what happens::

    Cancelled                         -> cancelled (its staged branch dropped)
    AurumError with a 4xx status      -> failed with its code: the request is wrong, a retry
                                         would fail the same way (bad spec, history too short)
    anything else (a crash, a 5xx)    -> back on the queue with backoff, until its attempts
                                         are used up (then failed)
    returned with the run waiting     -> left queued: it fanned out into children
      for its children                   (:meth:`Runs.fan_out`) and is claimed again when
                                         they have ended
    returned without finishing it     -> failed (handler_incomplete)

A worker killed mid-run leaves its lease to expire; :meth:`Runs.recover` (every worker runs it
now and then) requeues the run, or records it published if its output reached the lake first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta

from aurum.auth.access import PLATFORM
from aurum.errors import AurumError
from aurum.lake.catalog import Lake
from aurum.runs import Runs, drop_branch
from aurum.store import Run, RunKind, RunStatus

__all__ = ["Cancelled", "Handler", "Progress", "Worker"]

log = logging.getLogger("aurum.worker")
_FINAL = frozenset({"published", "duplicate", "failed", "cancelled"})


class Cancelled(Exception):
    """A cancel was asked for: the handler stops where it is."""


class Progress:
    """What a handler calls as it works: ``progress(done, total, stage)``. Writes are
    throttled (``every_s``, except the last step); raises :class:`Cancelled` when the run was
    cancelled meanwhile."""

    def __init__(
        self, runs: Runs, run: Run, *, every_s: float = 0.5,
        shown: Callable[[int, int, str], None] | None = None,
    ) -> None:  # fmt: skip
        self.runs = runs
        self.run = run
        self.every_s = every_s
        self.shown = shown
        self._last: float | None = None

    def __call__(self, done: int, total: int, stage: str) -> None:
        if self.shown is not None:
            self.shown(done, total, stage)
        now = time.monotonic()
        if self._last is not None and now - self._last < self.every_s and done < total:
            return
        self._last = now
        if self.runs.checkpoint(self.run, done=done, total=total, stage=stage):
            raise Cancelled(self.run.run_id)


Handler = Callable[[Run, Progress], None]


class Worker:
    """Claims queued runs of its handlers' kinds and executes them, one at a time."""

    def __init__(
        self, runs: Runs, lake: Lake, handlers: Mapping[RunKind, Handler], *,
        poll_s: float = 1.0, max_attempts: int = 3, backoff: timedelta = timedelta(seconds=5),
        recover_every_s: float = 30.0,
    ) -> None:  # fmt: skip
        # The same store, lease and holder with this worker's retry policy: the caller's
        # ``runs`` (an API's, a service's) keeps its own.
        self.runs = Runs(runs.store, lease=runs.lease, owner=runs.owner,
                         max_attempts=max_attempts, backoff=backoff,
                         lineage=runs.lineage)  # fmt: skip
        self.lake = lake
        self.handlers = dict(handlers)
        self.poll_s = poll_s
        self.recover_every_s = recover_every_s

    def run_once(self) -> Run | None:
        """Claim the oldest queued run whose time has come and execute it; its final (or
        requeued) record, or ``None`` when nothing is queued."""
        claimed = self.runs.claim(tuple(self.handlers))
        return None if claimed is None else self.execute(claimed)

    def run_one(
        self, run_id: str, *, on_progress: Callable[[int, int, str], None] | None = None
    ) -> Run:
        """Claim run ``run_id`` and execute it here (``aurum scenario run``); a run that fans out
        has its children executed here too (those no other worker took), then itself again."""
        claimed = self.runs.claim(tuple(self.handlers), run_id=run_id)
        if claimed is None:  # taken by a worker meanwhile, not queued, or waiting
            ended = self._current_id(run_id)
        else:
            ended = self.execute(claimed, on_progress=on_progress)
        while _waiting(ended):
            for child_id in ended.result["children"]:
                child = self.runs.claim(tuple(self.handlers), run_id=child_id)
                if child is not None:
                    self.execute(child, on_progress=on_progress)
            again = self.runs.claim(tuple(self.handlers), run_id=run_id)
            if again is not None:
                ended = self.execute(again, on_progress=on_progress)
                continue
            ended = self._current_id(run_id)  # its children are at work elsewhere
            if _waiting(ended):
                time.sleep(self.poll_s)
        return ended

    def execute(
        self, run: Run, *, on_progress: Callable[[int, int, str], None] | None = None
    ) -> Run:
        """Execute a claimed run under its lease; what becomes of it depends on how the handler
        ends (see the module docstring)."""
        handler = self.handlers[run.kind]
        started = time.monotonic()
        try:
            with self.runs.held(run):
                handler(run, Progress(self.runs, run, shown=on_progress))
        except Cancelled:
            drop_branch(self.lake, self._current(run))
            ended = self._end(run, "cancelled", "cancelled", "cancelled while it ran")
        except AurumError as exc:
            if exc.http_status < 500:
                drop_branch(self.lake, self._current(run))
                ended = self._end(run, "failed", exc.code, exc.message)
            else:
                ended = self._retry(run, exc.code, exc.message)
        except Exception as exc:  # a crash: another attempt may succeed
            log.exception("run %s crashed", run.run_id)
            ended = self._retry(run, "crashed", f"{type(exc).__name__}: {exc}")
        else:
            ended = self._current(run)
            if _waiting(ended):
                pass
            elif ended.status not in _FINAL:
                ended = self._end(run, "failed", "handler_incomplete",
                                  "the handler returned without finishing the run")  # fmt: skip
        log.info("run %s (%s) %s in %.1f s", run.run_id, run.kind, ended.status,
                 time.monotonic() - started)  # fmt: skip
        return ended

    def serve(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: recover expired leases now and then, execute what is queued,
        wait ``poll_s`` when nothing is."""
        recovered_at: float | None = None
        while not stop.is_set():
            try:
                if recovered_at is None or time.monotonic() - recovered_at >= self.recover_every_s:
                    recovered_at = time.monotonic()
                    for found in self.runs.recover(self.lake):
                        log.warning("recovered run %s: %s", found.run_id, found.status)
                if self.run_once() is not None:
                    continue
            except Exception:  # the store or the catalog away for a while: look again later
                log.exception("the worker could not reach its store or lake")
            stop.wait(self.poll_s)

    def _retry(self, run: Run, code: str, message: str) -> Run:
        """Back on the queue (or failed, its attempts used up), unless its handler ended it
        already: a published run is never run again."""
        current = self._current(run)
        if current.status in _FINAL:
            return current
        return self.runs.retry(current, error_code=code, error_message=message, lake=self.lake)

    def _current(self, run: Run) -> Run:
        """The run as recorded now (its handler may have set its dataset, partition, branch)."""
        return self._current_id(run.run_id)

    def _current_id(self, run_id: str) -> Run:
        with self.runs.store.transaction(PLATFORM) as tx:
            return tx.get_run(run_id)

    def _end(self, run: Run, status: RunStatus, code: str, message: str) -> Run:
        current = self._current(run)
        if current.status in _FINAL:  # it ended first (published, then a cancel arrived)
            return current
        return self.runs.finish(
            current, status,
            action=f"run.{'cancel' if status == 'cancelled' else 'fail'}",
            details={"kind": run.kind, "error": code}, error_code=code, error_message=message,
            branch=None,
        )  # fmt: skip


def _waiting(run: Run) -> bool:
    """Queued again by its handler to wait for the children it fanned out into (a retry, which
    also requeues it, clears its progress)."""
    return run.status == "queued" and bool(run.result.get("children")) and run.progress is not None
