"""Per-principal rate limiting: one token bucket per key.

A bucket holds at most ``burst`` tokens and refills continuously at ``rate_per_s``; a request takes
``cost`` tokens when they are there and nothing when they are not, and is then told how long to wait
(``retry_after_s``). Keys are opaque caller-chosen strings (``"key:abcd1234"``,
``"user:alice@tenant"``); they are hashed (BLAKE2b, 128 bits) before use, so user-supplied text of
any length or content costs the same small, fixed-size entry and cannot collide with or inject into
another key.

Backends: in-process (``MemoryRateLimiter``, one bucket set per worker, so the effective limit is
multiplied by the number of workers) by default; Redis when a URL is configured, shared by every
worker and host. The Redis backend does the whole read-refill-take-write in one Lua script, so
concurrent requests cannot both spend the last token, and takes the time from the server's
``TIME``, so API hosts with skewed clocks agree. It needs Redis 5 or later (scripts that read
``TIME`` and then write). Each bucket expires once it would have refilled, so idle keys disappear.

When Redis is unreachable or slow, ``RedisRateLimiter.take`` *fails open*: it allows the request,
counts the failure in ``failures`` and logs a warning at most once a minute. Failing closed would
turn a Redis outage into an outage of the whole API, for everyone, to stop a few clients from going
over their share; failing open trades that for unlimited traffic while Redis is down, which the
rate limit exists to smooth, not to secure. Each failed call waits at most about ``timeout_s``
(connect, then read; redis-py's retries are off) and never raises, and opens the circuit breaker
it shares with the cache (:mod:`aurum.api.breaker`): Redis is then skipped, at no cost, until a
probe finds it back. ``ping`` does raise, so the readiness probe reports the outage.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aurum.api.breaker import Breaker
from aurum.api.cache import redis_client
from aurum.errors import ConfigError

if TYPE_CHECKING:
    import redis

__all__ = [
    "Decision",
    "FailureLimiter",
    "MemoryRateLimiter",
    "NoRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "open_rate_limiter",
]

log = logging.getLogger("aurum.api")

WARNING_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer to one request; ``limit`` and ``remaining`` feed the rate-limit headers."""

    allowed: bool
    remaining: int  # whole tokens left after this request (0 when refused)
    retry_after_s: float  # 0 when allowed; else seconds until enough tokens are there (> 0)
    limit: int  # the bucket's capacity (burst); 0 from NoRateLimiter: no limit


class RateLimiter(Protocol):
    name: str

    def take(self, key: str, cost: float = 1.0) -> Decision: ...

    def ping(self) -> None: ...


class NoRateLimiter:
    """Rate limiting off: every request is allowed."""

    name = "none"

    def take(self, key: str, cost: float = 1.0) -> Decision:
        return Decision(allowed=True, remaining=0, retry_after_s=0.0, limit=0)

    def ping(self) -> None:
        return None


class MemoryRateLimiter:
    """Token buckets in this process: thread-safe, at most ``max_keys`` of them.

    A bucket that has refilled is the same as no bucket, so idle full buckets are dropped as
    requests go by; past ``max_keys`` the least recently used bucket is dropped even if not full,
    which can only let its owner through sooner.

    >>> now = [0.0]
    >>> limiter = MemoryRateLimiter(rate_per_s=0.5, burst=2, clock=lambda: now[0])
    >>> [limiter.take("user:alice").allowed for _ in range(3)]
    [True, True, False]
    >>> limiter.take("user:alice").retry_after_s
    2.0
    >>> now[0] = 2.0
    >>> limiter.take("user:alice")
    Decision(allowed=True, remaining=0, retry_after_s=0.0, limit=2)
    """

    name = "memory"

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        _check_limits(rate_per_s, burst)
        if max_keys < 1:
            raise ConfigError("rate_limit_invalid", "max_keys must be at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._clock = clock
        # digest -> (tokens, time they were counted), least recently used first
        self._buckets: OrderedDict[bytes, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def bucket_count(self) -> int:
        """The number of buckets held (not full, or not yet noticed to be)."""
        return len(self._buckets)

    def take(self, key: str, cost: float = 1.0) -> Decision:
        _check_cost(cost, self.burst)
        digest = _digest(key)
        with self._lock:
            now = self._clock()
            state = self._buckets.pop(digest, None)
            tokens = self.burst if state is None else self._level(state, now)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._buckets[digest] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            # Two per call: idle buckets drain faster than new keys (one per call) arrive.
            for _ in range(2):
                oldest = next(iter(self._buckets))
                if self._level(self._buckets[oldest], now) < self.burst:
                    break
                del self._buckets[oldest]
        if allowed:
            return Decision(True, math.floor(tokens), 0.0, self.burst)
        return Decision(False, 0, (cost - tokens) / self.rate_per_s, self.burst)

    def ping(self) -> None:
        return None

    def _level(self, state: tuple[float, float], now: float) -> float:
        tokens, counted_at = state
        return min(self.burst, tokens + max(0.0, now - counted_at) * self.rate_per_s)


# KEYS[1]: the bucket, a hash {tokens, at}; ARGV: rate per second, burst, cost.
# Returns {allowed (0/1), whole tokens left (0 when refused), retry after in seconds (a string:
# Redis truncates Lua numbers in replies to integers)}.
TAKE_SCRIPT = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = burst
if state[1] then
  tokens = math.min(burst, tonumber(state[1]) + math.max(0, now - tonumber(state[2])) * rate)
end
local allowed, remaining, retry = 0, 0, (cost - tokens) / rate
if tokens >= cost then
  tokens = tokens - cost
  allowed, remaining, retry = 1, math.floor(tokens), 0
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000))
return {allowed, remaining, string.format('%.17g', retry)}
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every worker and host; fails open (see the module)."""

    name = "redis"

    def __init__(
        self,
        url: str,
        rate_per_s: float,
        burst: int,
        *,
        breaker: Breaker | None = None,
        prefix: str = "aurum:rl:",
        timeout_s: float = 0.25,
    ) -> None:
        _check_limits(rate_per_s, burst)
        self.client: redis.Redis = redis_client(url, timeout_s, "the Redis rate limiter")
        import redis  # installed: redis_client said so

        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._take = self.client.register_script(TAKE_SCRIPT)
        self.breaker = breaker or Breaker("Redis")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.prefix = prefix
        self.failures = 0
        self._warned_at = -math.inf
        self._lock = threading.Lock()

    def redis_key(self, key: str) -> str:
        """The Redis key holding ``key``'s bucket."""
        return self.prefix + _digest(key).hex()

    def take(self, key: str, cost: float = 1.0) -> Decision:
        _check_cost(cost, self.burst)
        # While Redis is failing: as if the bucket were full, nothing is limited until it is back.
        unlimited = Decision(True, math.floor(self.burst - cost), 0.0, self.burst)
        if not self.breaker.allow():
            return unlimited
        try:
            reply: Any = self._take(
                keys=[self.redis_key(key)], args=[self.rate_per_s, self.burst, cost]
            )
        except self._errors as exc:
            self._failed(exc)
            return unlimited
        self.breaker.success()
        allowed, remaining, retry_after_s = reply
        return Decision(allowed == 1, int(remaining), float(retry_after_s), self.burst)

    def ping(self) -> None:
        self.client.ping()

    def _failed(self, exc: Exception) -> None:
        self.breaker.failure()
        with self._lock:
            self.failures += 1
            now = time.monotonic()
            if now - self._warned_at < WARNING_INTERVAL_S:
                return
            self._warned_at = now
            failures = self.failures
        log.warning(
            "rate limiter: Redis unavailable, allowing every request (%s failures so far): %r",
            failures,
            exc,
        )


class FailureLimiter:
    """Failed authentications per client address (a bad key or token costs a store or JWKS
    lookup, so unauthenticated traffic must not get unlimited ones).

    Each failure takes a token from the client's bucket (``authfail:<address>`` in ``limiter``,
    so shared through Redis when the limiter is). Once a failure finds the bucket empty, this
    process refuses that client (429) *before* looking any credential up, until the bucket has
    refilled; a client failing slower than the refill rate is never refused.

    >>> now = [0.0]
    >>> limiter = MemoryRateLimiter(rate_per_s=1, burst=2, clock=lambda: now[0])
    >>> failures = FailureLimiter(limiter, clock=lambda: now[0])
    >>> [failures.failed("203.0.113.9") for _ in range(3)], failures.retry_after("203.0.113.9")
    ([None, None, None], 1.0)
    >>> now[0] = 1.0
    >>> failures.retry_after("203.0.113.9") is None
    True
    """

    def __init__(
        self, limiter: RateLimiter, *, clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:  # fmt: skip
        self.limiter = limiter
        self.max_clients = max_clients
        self._clock = clock
        self._blocked: OrderedDict[str, float] = OrderedDict()  # client -> refused until
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> float | None:
        """Seconds until ``client`` may try a credential again, or None: it may now."""
        with self._lock:
            until = self._blocked.get(client)
            if until is None:
                return None
            wait = until - self._clock()
            if wait <= 0:
                del self._blocked[client]
                return None
            return wait

    def failed(self, client: str) -> None:
        """Count one failed authentication of ``client``."""
        decision = self.limiter.take(f"authfail:{client}")
        if decision.allowed:
            return
        with self._lock:
            self._blocked[client] = self._clock() + decision.retry_after_s
            self._blocked.move_to_end(client)
            while len(self._blocked) > self.max_clients:
                self._blocked.popitem(last=False)


def open_rate_limiter(
    rate_per_s: float, burst: int, url: str | None, *, breaker: Breaker | None = None,
    timeout_s: float = 0.25,
) -> RateLimiter:  # fmt: skip
    """The limiter the settings ask for: ``url`` None is in-process; ``rate_per_s`` 0 is off.
    A Redis limiter skips Redis while ``breaker`` is open (share the cache's for one Redis)."""
    if url is not None and not url.startswith(("redis://", "rediss://")):
        raise ConfigError(
            "rate_limit_url_unsupported", "the rate limit URL must be redis://… or rediss://…"
        )
    if rate_per_s == 0:
        return NoRateLimiter()
    if url is None:
        return MemoryRateLimiter(rate_per_s, burst)
    return RedisRateLimiter(url, rate_per_s, burst, breaker=breaker, timeout_s=timeout_s)


def _digest(key: str) -> bytes:
    # surrogatepass: any str encodes, and distinct strs encode to distinct bytes
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _check_limits(rate_per_s: float, burst: int) -> None:
    if not (rate_per_s > 0 and math.isfinite(rate_per_s)):
        raise ConfigError(
            "rate_limit_invalid", f"the rate must be a positive number per second, not {rate_per_s}"
        )
    if burst < 1:
        raise ConfigError("rate_limit_invalid", f"the burst must be at least 1, not {burst}")


def _check_cost(cost: float, burst: int) -> None:
    # A cost above the burst could never be paid: a caller bug, not a refusal.
    if not 0 < cost <= burst:
        raise ValueError(f"cost must be in (0, {burst}], not {cost}")
