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
from typing import Protocol

from aurum.config import CacheSettings
from aurum.errors import ConfigError, NotInstalledError

__all__ = ["Cache", "MemoryCache", "NoCache", "RedisCache", "open_cache"]


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
    """Redis ``SET key body EX ttl``; a Redis outage makes requests uncached, never failed."""

    name = "redis"

    def __init__(self, url: str, max_bytes: int, ttl_s: int, prefix: str = "aurum:cache:") -> None:
        try:
            import redis
        except ModuleNotFoundError:
            raise NotInstalledError(
                "not_installed", "the Redis cache needs: pip install 'aurum[redis]'"
            ) from None
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.failures = 0

    def get(self, key: str) -> bytes | None:
        try:
            value = self.client.get(self.prefix + key)
        except self._errors:
            self.failures += 1
            return None
        return value if isinstance(value, bytes) else None

    def set(self, key: str, body: bytes) -> None:
        if len(body) > self.max_bytes:
            return
        try:
            self.client.set(self.prefix + key, body, ex=self.ttl_s)
        except self._errors:
            self.failures += 1

    def ping(self) -> None:
        self.client.ping()


def open_cache(settings: CacheSettings) -> Cache:
    url = settings.url
    max_bytes = settings.max_entry_kb * 1024
    if url is None:
        return MemoryCache(settings.max_entries, max_bytes, settings.ttl_s)
    if url == "none":
        return NoCache()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(url, max_bytes, settings.ttl_s)
    raise ConfigError(
        "cache_url_invalid", "AURUM_CACHE__URL must be redis://…, rediss://…, unix://… or none"
    )
