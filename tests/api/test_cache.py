"""The response cache: in-process LRU, and Redis against the local server (required in CI)."""

from __future__ import annotations

import time
import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.api.cache import MemoryCache, NoCache, RedisCache, open_cache
from aurum.config import CacheSettings
from aurum.errors import ConfigError


def test_memory_cache_evicts_the_least_recently_used_and_expires():
    cache = MemoryCache(max_entries=2, max_bytes=10, ttl_s=60)
    cache.set("a", b"1")
    cache.set("b", b"2")
    assert cache.get("a") == b"1"
    cache.set("c", b"3")
    assert cache.get("b") is None and cache.get("a") == b"1" and cache.get("c") == b"3"
    cache.set("big", b"x" * 11)
    assert cache.get("big") is None
    short = MemoryCache(max_entries=2, max_bytes=10, ttl_s=0.01)
    short.set("a", b"1")
    time.sleep(0.02)
    assert short.get("a") is None


def test_open_cache_by_url():
    assert isinstance(open_cache(CacheSettings()), MemoryCache)
    assert isinstance(open_cache(CacheSettings(url="none")), NoCache)
    with pytest.raises(ConfigError):
        open_cache(CacheSettings(url="memcached://x"))


def test_redis_cache_round_trip(redis_url):
    cache = RedisCache(redis_url, max_bytes=1024, ttl_s=60, prefix=f"aurum:test:{uuid.uuid4()}:")
    assert cache.get("k") is None
    cache.set("k", b"body")
    assert cache.get("k") == b"body"
    assert cache.client.ttl(cache.prefix + "k") > 0
    cache.set("large", b"x" * 2048)
    assert cache.get("large") is None


def test_redis_outage_leaves_requests_uncached_not_failed():
    cache = RedisCache("redis://127.0.0.1:9/0", max_bytes=1024, ttl_s=60)
    assert cache.get("k") is None
    cache.set("k", b"v")
    # the first failure opens the breaker: the set does not even try
    assert cache.failures == 1 and cache.breaker.is_open


def test_two_apps_share_the_redis_cache(redis_url, build_lake, synthetic_days):
    settings = build_lake(
        "redis-cache", synthetic_days("EUGP", date(2025, 10, 1), 1), cache={"url": redis_url}
    )
    params = {"location": "German"}
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        one.app.state.services.cache.prefix = two.app.state.services.cache.prefix = (
            f"aurum:test:{uuid.uuid4()}:"
        )
        first = one.get("/v1/curves", params=params)
        second = two.get("/v1/curves", params=params)
    assert first.headers["x-aurum-cache"] == "miss"
    assert second.headers["x-aurum-cache"] == "hit" and second.content == first.content
