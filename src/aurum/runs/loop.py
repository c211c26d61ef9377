"""Background work on a timer: webhook deliveries, alert checks, usage flushes.

``Every(seconds, work)`` calls ``work()`` on a daemon thread, again ``seconds`` after each call
ends, until :meth:`Every.stop`. A failing call is logged and the loop goes on: background work
must never take its process down, and never blocks the request or publish that caused it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["Every"]

log = logging.getLogger("aurum.runs.loop")


class Every:
    def __init__(self, seconds: float, work: Callable[[], Any], *, name: str) -> None:
        self.seconds = seconds
        self.work = work
        self.name = name
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> Every:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                self.work()
            except Exception:  # logged; the next round tries again
                log.exception("%s failed; trying again in %.0f s", self.name, self.seconds)
