"""The response cache: bodies keyed by (route, query, snapshot id, format).

A key names the snapshot it was read from, so a publish never needs to invalidate anything: the
next request pins the new snapshot and so asks for another key. Entries expire only to bound the
cache's size. In-process (a small LRU) by default; Redis when ``AURUM_CACHE__URL`` says so, shared
by every worker and host.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Protocol

from aurum.api.breaker import Breaker
from aurum.config import CacheSettings
from aurum.errors import ConfigError, NotInstalledError

if TYPE_CHECKING:
    import redis

__all__ = ["Cache", "MemoryCache", "NoCache", "RedisCache", "open_cache", "redis_client"]


class Cache(Protocol):
    name: str

    def get(self, key: str) -> bytes | None: ...

    def set(self, key: str, body: bytes) -> None: ...

    def ping(self) -> None: ...


class NoCache:
    name = "none"

    def get(self, key: str) -> bytes | None:
        return None

    def set(self, key: str, body: bytes) -> None:
        return None

    def ping(self) -> None:
        return None


class MemoryCache:
    """A thread-safe LRU of response bodies with a time to live."""

    name = "memory"

    def __init__(self, max_entries: int, max_bytes: int, ttl_s: float) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] < time.monotonic():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def set(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = (time.monotonic() + self.ttl_s, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def ping(self) -> None:
        return None


class RedisCache:
    """Redis ``SET key body EX ttl``; a Redis outage makes requests uncached, never failed.

    Each call waits at most ``timeout_s`` (no retries), and a failure opens ``breaker``: Redis
    is then skipped for a while (see :mod:`aurum.api.breaker`).
    """

    name = "redis"

    def __init__(
        self, url: str, max_bytes: int, ttl_s: int, *, breaker: Breaker | None = None,
        timeout_s: float = 0.25, prefix: str = "aurum:cache:",
    ) -> None:  # fmt: skip
        self.client = redis_client(url, timeout_s, "the Redis cache")
        import redis  # installed: redis_client said so

        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self.breaker = breaker or Breaker("Redis")
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.failures = 0

    def get(self, key: str) -> bytes | None:
        if not self.breaker.allow():
            return None
        try:
            value = self.client.get(self.prefix + key)
        except self._errors:
            self._failed()
            return None
        self.breaker.success()
        return value if isinstance(value, bytes) else None

    def set(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes or not self.breaker.allow():
            return
        try:
            self.client.set(self.prefix + key, body, ex=self.ttl_s)
        except self._errors:
            self._failed()
            return
        self.breaker.success()

    def ping(self) -> None:
        self.client.ping()

    def _failed(self) -> None:
        self.failures += 1
        self.breaker.failure()


def redis_client(url: str, timeout_s: float, what: str) -> redis.Redis:
    """A Redis client that waits at most ``timeout_s`` per call (connect, then read), with
    redis-py's retries off: a request must not wait on Redis longer than one deadline."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ModuleNotFoundError:
        raise NotInstalledError(
            "not_installed", f"{what} needs: pip install 'aurum[redis]'"
        ) from None
    return redis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )


def open_cache(settings: CacheSettings, breaker: Breaker | None = None) -> Cache:
    """The cache ``settings`` ask for; a Redis one skips Redis while ``breaker`` is open."""
    url = settings.url
    max_bytes = settings.max_entry_kb * 1024
    if url is None:
        return MemoryCache(settings.max_entries, max_bytes, settings.ttl_s)
    if url == "none":
        return NoCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(
            url, max_bytes, settings.ttl_s, timeout_s=settings.redis_timeout_s,
            breaker=breaker or Breaker("Redis", cooldown_s=settings.redis_cooldown_s),
        )  # fmt: skip
    raise ConfigError(
        "cache_url_invalid", "AURUM_CACHE__URL must be redis://…, rediss://…, unix://… or none"
    )
