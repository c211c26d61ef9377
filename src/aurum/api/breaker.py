"""A circuit breaker for an optional dependency (Redis behind the cache and the rate limiter).

A Redis that is *hung* (stopped, not dead) accepts connections and then never answers, so every
call waits out its socket timeout. Without a breaker each request would pay that once per call
(cache get, rate-limit take, cache set). With one, the first call that fails opens the breaker
and every call skips Redis, at no cost, for ``cooldown_s``; then one call is let through as a
probe: its success closes the breaker, its failure opens it for another cooldown. The cache and
the rate limiter of one Redis share one breaker, so a request pays at most one deadline.

>>> now = [0.0]
>>> breaker = Breaker("redis", cooldown_s=5, clock=lambda: now[0])
>>> breaker.allow(), breaker.failure(), breaker.allow()
(True, None, False)
>>> now[0] = 5.0
>>> breaker.allow(), breaker.allow()  # one probe only
(True, False)
>>> breaker.success(); breaker.allow()
True
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

__all__ = ["Breaker"]

log = logging.getLogger("aurum.api")


class Breaker:
    """Closed (calls go through), open (calls are skipped) or probing (one call goes through)."""

    def __init__(
        self, name: str, *, cooldown_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self.cooldown_s = cooldown_s
        self.opened = 0  # how many times it opened: a metric
        self._clock = clock
        self._open_until = -math.inf
        self._probing = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._clock() < self._open_until or self._probing

    def allow(self) -> bool:
        """Whether to call the dependency now."""
        with self._lock:
            if self._probing:
                return False
            if self._open_until == -math.inf:
                return True
            if self._clock() < self._open_until:
                return False
            self._probing = True  # the cooldown is over: this caller probes
            return True

    def success(self) -> None:
        with self._lock:
            if self._open_until != -math.inf:
                log.info("%s answers again: calls resume", self.name)
            self._open_until = -math.inf
            self._probing = False

    def failure(self) -> None:
        with self._lock:
            first = self._open_until == -math.inf
            self._open_until = self._clock() + self.cooldown_s
            self._probing = False
            self.opened += 1
        if first:
            log.warning("%s failed: skipped for %g s at a time until it answers", self.name,
                        self.cooldown_s)  # fmt: skip
