"""Rate limiting: the token-bucket contract on both backends, then what is particular to each.

Redis tests run against the local server (required in CI), each under its own key prefix.
"""

from __future__ import annotations

import logging
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from aurum.api.ratelimit import (
    Decision,
    MemoryRateLimiter,
    NoRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    open_rate_limiter,
)
from aurum.errors import ConfigError

REDIS = "redis://127.0.0.1:6379/0"

MakeLimiter = Callable[[float, int], RateLimiter]

HOSTILE_KEYS = [
    "",
    "a",
    "a:",
    ":a",
    "a:b",
    "a b",
    "a\nb",
    "a\x00b",
    "*",
    "key:abcd1234",
    "user:alice@tenant",
    "x" * 10_240,
    "x" * 10_241,
    "']) redis.call('DEL', KEYS[1]) --",
    "\ud800",
    "é",
    "e\u0301",
]


@pytest.fixture
def make_redis_limiter(redis_url: str) -> Iterator[Callable[[float, int], RedisRateLimiter]]:
    prefix = f"aurum:test:rl:{uuid.uuid4()}:"

    def make(rate_per_s: float, burst: int) -> RedisRateLimiter:
        return RedisRateLimiter(redis_url, rate_per_s, burst, prefix=prefix)

    probe = make(1, 1)
    yield make
    keys = list(probe.client.scan_iter(match=prefix + "*"))
    if keys:
        probe.client.delete(*keys)


@pytest.fixture(params=["memory", "redis"])
def make_limiter(request: pytest.FixtureRequest) -> MakeLimiter:
    if request.param == "memory":
        return lambda rate_per_s, burst: MemoryRateLimiter(rate_per_s, burst)
    make: MakeLimiter = request.getfixturevalue("make_redis_limiter")
    return make


# The contract, on real time: rates are chosen so that a few milliseconds do not matter.


def test_burst_then_refusal(make_limiter):
    limiter = make_limiter(1.0, 3)
    assert [limiter.take("a") for _ in range(3)] == [
        Decision(True, 2, 0.0, 3),
        Decision(True, 1, 0.0, 3),
        Decision(True, 0, 0.0, 3),
    ]
    refused = limiter.take("a")
    assert (refused.allowed, refused.remaining, refused.limit) == (False, 0, 3)
    assert 0.5 < refused.retry_after_s <= 1.0


def test_a_cost_is_taken_whole_or_not_at_all(make_limiter):
    limiter = make_limiter(1.0, 5)
    assert limiter.take("b", cost=3) == Decision(True, 2, 0.0, 5)
    refused = limiter.take("b", cost=3)
    assert (refused.allowed, refused.remaining) == (False, 0)
    assert 0.5 < refused.retry_after_s <= 1.0
    assert limiter.take("b", cost=2) == Decision(True, 0, 0.0, 5)
    with pytest.raises(ValueError):
        limiter.take("b", cost=6)
    with pytest.raises(ValueError):
        limiter.take("b", cost=0)


def test_the_bucket_refills_over_time(make_limiter):
    limiter = make_limiter(10.0, 2)
    assert limiter.take("c", cost=2).allowed
    refused = limiter.take("c")
    assert not refused.allowed and 0 < refused.retry_after_s <= 0.1
    time.sleep(0.2)
    assert limiter.take("c") == Decision(True, 1, 0.0, 2)


def test_keys_are_independent_whatever_their_text(make_limiter):
    limiter = make_limiter(1.0, 1)
    assert all(limiter.take(key).allowed for key in HOSTILE_KEYS)
    assert not any(limiter.take(key).allowed for key in HOSTILE_KEYS)


# In process


def test_memory_limiter_refills_continuously_up_to_the_burst():
    now = [0.0]
    limiter = MemoryRateLimiter(rate_per_s=0.5, burst=2, clock=lambda: now[0])
    assert [limiter.take("k") for _ in range(3)] == [
        Decision(True, 1, 0.0, 2),
        Decision(True, 0, 0.0, 2),
        Decision(False, 0, 2.0, 2),
    ]
    now[0] = 1.0
    assert limiter.take("k") == Decision(False, 0, 1.0, 2)
    now[0] = 2.0
    assert limiter.take("k") == Decision(True, 0, 0.0, 2)
    now[0] = 100.0
    assert limiter.take("k") == Decision(True, 1, 0.0, 2)
    now[0] = 99.0  # a clock stepping back neither refills nor drains
    assert limiter.take("k") == Decision(True, 0, 0.0, 2)


def test_memory_limiter_charges_costs_exactly():
    now = [0.0]
    limiter = MemoryRateLimiter(rate_per_s=1, burst=5, clock=lambda: now[0])
    assert limiter.take("k", cost=3) == Decision(True, 2, 0.0, 5)
    assert limiter.take("k", cost=3) == Decision(False, 0, 1.0, 5)
    assert limiter.take("k", cost=2) == Decision(True, 0, 0.0, 5)
    assert limiter.take("k", cost=0.5) == Decision(False, 0, 0.5, 5)
    now[0] = 0.5
    assert limiter.take("k", cost=0.5) == Decision(True, 0, 0.0, 5)


def test_memory_limiter_is_thread_safe():
    def allowed_in_one_round() -> list[int]:
        limiter = MemoryRateLimiter(rate_per_s=1, burst=300, clock=lambda: 0.0)
        start = threading.Barrier(8)
        allowed: list[int] = []

        def worker() -> None:
            start.wait()
            allowed.append(sum(limiter.take("shared").allowed for _ in range(100)))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return allowed

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often enough for a missing lock to show
    try:
        rounds = [allowed_in_one_round() for _ in range(5)]
    finally:
        sys.setswitchinterval(interval)
    assert [(len(allowed), sum(allowed)) for allowed in rounds] == [(8, 300)] * 5


def test_memory_limiter_holds_at_most_max_keys():
    limiter = MemoryRateLimiter(rate_per_s=1, burst=1, clock=lambda: 0.0, max_keys=2)
    assert all(limiter.take(key).allowed for key in "abc")
    assert limiter.bucket_count == 2
    assert limiter.take("a").allowed  # the least recently used went: a fresh bucket
    assert not limiter.take("c").allowed


def test_memory_limiter_drops_buckets_once_full():
    now = [0.0]
    limiter = MemoryRateLimiter(rate_per_s=1, burst=1, clock=lambda: now[0])
    for key in "abcde":
        limiter.take(key)
    now[0] = 10.0
    sizes = []
    for _ in range(3):
        limiter.take("x")
        sizes.append(limiter.bucket_count)
    assert sizes == [4, 2, 1]


def test_limits_must_make_sense():
    for rate, burst in [(0, 1), (-1, 1), (float("inf"), 1), (float("nan"), 1), (1, 0)]:
        with pytest.raises(ConfigError):
            MemoryRateLimiter(rate, burst)
        with pytest.raises(ConfigError):
            RedisRateLimiter(REDIS, rate, burst)
    with pytest.raises(ConfigError):
        MemoryRateLimiter(1, 1, max_keys=0)


# Redis


def test_two_workers_share_one_bucket(make_redis_limiter):
    one, two = make_redis_limiter(1.0, 3), make_redis_limiter(1.0, 3)
    assert [worker.take("k").remaining for worker in (one, two, one)] == [2, 1, 0]
    assert not two.take("k").allowed


def test_redis_buckets_are_hashed_and_expire_once_full(make_redis_limiter):
    limiter = make_redis_limiter(1.0, 3)
    for key in HOSTILE_KEYS:
        limiter.take(key)
    stored = {key.decode() for key in limiter.client.scan_iter(match=limiter.prefix + "*")}
    assert stored == {limiter.redis_key(key) for key in HOSTILE_KEYS}
    assert {len(key) for key in stored} == {len(limiter.prefix) + 32}
    assert 0 < limiter.client.pttl(limiter.redis_key("a")) <= 1000
    limiter.take("a", cost=2)
    assert 2000 < limiter.client.pttl(limiter.redis_key("a")) <= 3000

    fast = make_redis_limiter(50.0, 1)
    fast.take("idle")
    assert fast.client.exists(fast.redis_key("idle")) == 1
    time.sleep(0.1)
    assert fast.client.exists(fast.redis_key("idle")) == 0


def test_redis_outage_fails_open_quickly_and_warns_once(caplog):
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", rate_per_s=1, burst=2)
    with caplog.at_level(logging.WARNING, logger="aurum.api"):
        started = time.perf_counter()
        decisions = [limiter.take("k") for _ in range(3)]
        elapsed = time.perf_counter() - started
    assert decisions == [Decision(True, 1, 0.0, 2)] * 3
    # one call fails and opens the breaker; the next two skip Redis altogether
    assert limiter.failures == 1 and limiter.breaker.is_open and elapsed < 1
    assert {record.levelname for record in caplog.records} == {"WARNING"}
    with pytest.raises(RedisConnectionError):
        limiter.ping()


def test_a_silent_redis_fails_open_after_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        limiter = RedisRateLimiter(f"redis://127.0.0.1:{port}/0", 1, 2, timeout_s=0.1)
        started = time.perf_counter()
        decision = limiter.take("k")
        elapsed = time.perf_counter() - started
    assert decision.allowed and limiter.failures == 1
    assert 0.1 <= elapsed < 1


# Wiring


def test_open_rate_limiter_by_url_and_rate():
    assert isinstance(open_rate_limiter(10, 20, None), MemoryRateLimiter)
    shared = open_rate_limiter(10, 20, "rediss://redis.example:6380/1")
    assert isinstance(shared, RedisRateLimiter) and (shared.rate_per_s, shared.burst) == (10, 20)
    off = open_rate_limiter(0, 20, REDIS)
    assert isinstance(off, NoRateLimiter)
    assert isinstance(open_rate_limiter(0, 20, None), NoRateLimiter)
    assert off.take("k", cost=1000) == Decision(True, 0, 0.0, 0)
    for url in ["memcached://x", "unix:///tmp/redis.sock", "none", ""]:
        with pytest.raises(ConfigError) as raised:
            open_rate_limiter(10, 20, url)
        assert raised.value.code == "rate_limit_url_unsupported"
    with pytest.raises(ConfigError):
        open_rate_limiter(-1, 20, None)
