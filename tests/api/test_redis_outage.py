"""A hung Redis (stopped, not dead) costs a request one short deadline at most (review finding 6).

The test starts its own ``redis-server`` on a free port, never the machine's shared one, and
stops it with SIGSTOP: connections are still accepted, nothing is answered. The cache and the
rate limiter share a circuit breaker, so the first call that times out opens it and the requests
after it skip Redis until a probe finds it back. ``bench/resilience.py`` measures the same with
concurrent clients.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Iterator
from datetime import date

import pytest
import redis
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM

TIMEOUT_S = 0.25
COOLDOWN_S = 1.0


@pytest.fixture
def private_redis(tmp_path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    binary = shutil.which("redis-server")
    if binary is None:
        message = "redis-server is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the Redis outage test must run)")
        pytest.skip(message)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url, socket_timeout=1)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.RedisError:
            assert time.monotonic() < deadline, "the private redis-server did not start"
            time.sleep(0.05)
    yield server, url
    server.send_signal(signal.SIGCONT)
    server.kill()
    server.wait(10)


def timed(client: TestClient, url: str, headers: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    answer = client.get(url, headers=headers or {})
    assert answer.status_code == 200, answer.text
    return time.perf_counter() - started


def test_a_hung_redis_costs_one_deadline_then_is_skipped(private_redis, build_lake, synthetic_days):
    server, url = private_redis
    settings = build_lake(
        "redis-hung", synthetic_days("EUGP", date(2025, 10, 1), 1),
        cache={"url": url, "redis_timeout_s": TIMEOUT_S, "redis_cooldown_s": COOLDOWN_S},
        auth={"mode": "on"}, rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    from aurum.store import Store

    with Store.connect(settings) as store:
        tenancy.create_tenant(store, PLATFORM, "acme", "Acme", ["EUGP"])
        token = tenancy.issue_key(
            store, PLATFORM, tenant_id="acme", role="aurum-analyst", name="k"
        ).token
    bearer = {"Authorization": f"Bearer {token}"}
    path = "/v1/curves?vendor=EUGP&asof=2025-10-01&limit=5"
    with TestClient(create_app(settings)) as client:
        healthy = [timed(client, path, bearer) for _ in range(20)]
        assert client.get(path, headers=bearer).headers["x-aurum-cache"] == "hit"

        server.send_signal(signal.SIGSTOP)  # hung: accepts, never answers
        hung = [timed(client, path, bearer) for _ in range(60)]
        breaker = client.app.state.services.cache.breaker
        assert breaker.is_open
        # at most one deadline per request, and only the first and each probe pay it
        assert max(hung) < TIMEOUT_S + 0.4
        slow = [t for t in hung if t >= TIMEOUT_S * 0.8]
        assert 1 <= len(slow) <= sum(hung) / COOLDOWN_S + 2
        assert statistics.median(hung) < 0.05

        server.send_signal(signal.SIGCONT)  # back: the next probe closes the breaker
        time.sleep(COOLDOWN_S + 0.1)
        timed(client, path, bearer)
        assert not breaker.is_open
        assert client.get(path, headers=bearer).headers["x-aurum-cache"] == "hit"

        server.kill()  # dead: refused at once, skipped the same way
        server.wait(10)
        dead = [timed(client, path, bearer) for _ in range(20)]
        assert statistics.median(dead) < 0.05 and max(dead) < TIMEOUT_S + 0.4
    print(
        f"p50 healthy {statistics.median(healthy) * 1000:.1f} ms, hung"
        f" {statistics.median(hung) * 1000:.1f} ms (max {max(hung) * 1000:.0f} ms),"
        f" dead {statistics.median(dead) * 1000:.1f} ms"
    )
