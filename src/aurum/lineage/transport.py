"""Where lineage events go: a JSONL file, always; an OpenLineage HTTP endpoint, when configured.

The two differ on purpose. The **file** is appended in the caller's thread: one short line,
under an exclusive ``flock``, so the API's processes, the workers and the CLI can all append to
one file without interleaving, and the event is on disk when the run's end is. A line a crashed
writer left without its newline is ended before the next one, so it costs one unreadable line
(which readers skip and count), never the next event too.

**HTTP** must never slow or fail a publish, whatever the endpoint does. Events go into a
bounded queue that a daemon thread drains: a full queue drops the event at once (counted), a
delivery that fails after its retries is dropped (counted), and each attempt is bounded by the
timeout. Delivery is the OpenLineage client's own ``HttpTransport`` (its JSON, its bearer
token, urllib3's retries with a short backoff), so what arrives is what any OpenLineage
consumer expects. :meth:`HttpDelivery.close` waits a bounded time for the queue to drain;
what is left then is counted as dropped.
"""

from __future__ import annotations

import fcntl
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import RunEvent
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpConfig,
    HttpTransport,
    TokenProvider,
)

__all__ = ["ENDPOINT", "HttpDelivery", "JsonlFile"]

ENDPOINT = "api/v1/lineage"
"""The OpenLineage endpoint under the configured URL (Marquez serves it)."""

log = logging.getLogger("aurum.lineage")

_STOP = object()


class JsonlFile:
    """One JSON document per line, appended under an exclusive lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, line: str) -> None:
        """Append ``line`` (one JSON document, no newline in it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                end = handle.seek(0, 2)
                torn = False
                if end:
                    handle.seek(end - 1)
                    torn = handle.read(1) != b"\n"
                handle.write((b"\n" if torn else b"") + line.encode() + b"\n")
                handle.flush()
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class HttpDelivery:
    """POSTs events to ``{url}/api/v1/lineage`` from a daemon thread (see the module
    docstring); ``sent`` and ``dropped`` count what happened to them."""

    def __init__(
        self, url: str, *, api_key: str | None = None, timeout_s: float = 5.0,
        queue_size: int = 1000, retries: int = 3, backoff_s: float = 0.1,
    ) -> None:  # fmt: skip
        config = HttpConfig(
            url=url.rstrip("/") + "/", endpoint=ENDPOINT, timeout=timeout_s,
            auth=ApiKeyTokenProvider({"api_key": api_key}) if api_key else TokenProvider({}),
            retry={
                "total": retries, "connect": retries, "read": retries, "status": retries,
                "other": retries, "backoff_factor": backoff_s, "backoff_max": 2.0,
                "status_forcelist": [429, 500, 502, 503, 504], "allowed_methods": ["POST"],
                "raise_on_status": True, "respect_retry_after_header": False,
            },
        )  # fmt: skip
        self.url = config.url + ENDPOINT
        self._transport = HttpTransport(config)  # a bad URL fails here, in the composition root
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self.sent = 0
        self.dropped = 0
        self._closed = False
        self._thread = threading.Thread(target=self._deliver, name="aurum-lineage", daemon=True)
        self._thread.start()

    def submit(self, event: RunEvent) -> bool:
        """Queue ``event`` for delivery without waiting; ``False``: dropped (queue full or
        closed)."""
        if self._closed:
            self._drop("delivery is closed")
            return False
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._drop("the queue is full")
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Wait up to ``timeout`` seconds for the queue to drain, then stop; events still
        waiting are counted as dropped."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks and (left := deadline - time.monotonic()) > 0:
                self._queue.all_tasks_done.wait(left)
        left_over = 0
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
            self._queue.task_done()
            left_over += 1
        if left_over:
            self._drop("undelivered at close", left_over)
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:  # the worker is stuck in a delivery: it is a daemon, leave it
            return
        self._thread.join(timeout=max(deadline - time.monotonic(), 0.0))
        if not self._thread.is_alive():
            self._transport.close()

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is _STOP:
                    return
                self._transport.emit(event)
            except Exception as exc:  # any failure, after the retries: count it, go on
                self._drop(f"delivery failed after its retries ({type(exc).__name__})")
            else:
                with self._lock:
                    self.sent += 1
            finally:
                self._queue.task_done()

    def _drop(self, why: str, events: int = 1) -> None:
        """Count dropped events; log the 1st, 10th, 100th ... so a dead endpoint cannot flood
        the log."""
        with self._lock:
            before, self.dropped = self.dropped, self.dropped + events
        if len(str(before)) != len(str(self.dropped)) or before == 0:
            log.warning("lineage HTTP: %d event(s) dropped (%s), %d in all",
                        events, why, self.dropped)  # fmt: skip
