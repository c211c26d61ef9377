"""Collectors against a local HTTP server replaying the recorded payloads: retries and backoff,
a 429 with Retry-After and CAISO's own 429 page, a 4xx that is not asked again, a dropped
connection, a timeout, a redirect, a payload over the size limit, secrets where they go and
nowhere else, the rate limit, and the watermark (advanced only after a load, resumed after a
failure, overridden by ``since``). Sleep and clock are injected: nothing waits, nothing
reaches past 127.0.0.1."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from aurum.errors import ConfigError, PayloadTooLarge, Unavailable
from aurum.feeds.collector import Fetcher, Source, collect, source
from aurum.feeds.readers import READERS, read

PJM = "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv"
CAISO_429 = "caiso/caiso_oasis_http429_acceptable_use_error.html"
KEY = "s3cr3t-key-value"


@dataclass
class Script:
    """What the server answers: per path, a list of (status, headers, body) used in turn (the
    last one again once the list is done); every request is recorded."""

    answers: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    seen: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    delay_s: float = 0.0

    def answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        queue = self.answers.get(path) or [(404, {}, b"not here")]
        return queue.pop(0) if len(queue) > 1 else queue[0]


class Replay(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        script: Script = self.server.script  # type: ignore[attr-defined]
        path = urlsplit(self.path).path
        script.seen.append((self.client_address[0], self.path, dict(self.headers)))
        status, headers, body = script.answer(path)
        if status == 0:  # drop the connection without an answer
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        time.sleep(script.delay_s)
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Clock:
    """An injected clock and sleep: sleeping moves the clock, and is recorded."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


class Marks:
    def __init__(self, start: date | None = None) -> None:
        self.marks: dict[str, date] = {} if start is None else {"test": start}

    def get(self, name: str) -> date | None:
        return self.marks.get(name)

    def advance(self, name: str, day: date) -> None:
        self.marks[name] = max(day, self.marks.get(name, day))


@pytest.fixture
def server(loopback: Callable[..., Any]) -> Iterator[tuple[str, Script]]:
    script = Script()
    with loopback(Replay, script=script) as url:
        yield url, script
    assert {host for host, _, _ in script.seen} <= {"127.0.0.1"}


def _fetcher(clock: Clock, **options: Any) -> Fetcher:
    client = httpx.Client(timeout=options.pop("timeout_s", 5.0), follow_redirects=True)
    return Fetcher(client, sleep=clock.sleep, clock=clock, rng=random.Random(7), **options)


def _source(**overrides: Any) -> Source:
    spec = {"name": "test", "doc": "a test source", "base": "http://unused.invalid",
            "url": "{base}/day/{day:%Y%m%d}.csv", "format": "pjm.dataminer_csv",
            "min_interval_s": 0.0, "suffix": ".csv", **overrides}  # fmt: skip
    return Source(**spec)


def _loader(loaded: list[tuple[str, int]]) -> Callable[..., Any]:
    def load(payload: bytes, name: str, format: str, params: dict[str, str]) -> Any:
        parsed = read(format, payload, params)  # the real parser: bad payloads raise
        loaded.append((name, parsed.rows.num_rows))
        return parsed

    return load


def test_a_5xx_is_retried_with_growing_backoff(server, feeds: Path):
    url, script = server
    body = (feeds / PJM).read_bytes()
    script.answers["/a"] = [(503, {}, b"busy"), (502, {}, b"bad gateway"), (200, {}, body)]
    clock = Clock()
    fetcher = _fetcher(clock, backoff_s=1.0)
    assert fetcher.get("test", f"{url}/a", {}) == body
    assert fetcher.retries == 2 and len(clock.slept) == 2
    assert 1.0 <= clock.slept[0] <= 1.25 and 2.0 <= clock.slept[1] <= 2.5  # jitter: up to +25 %


def test_a_429_waits_what_it_says(server, feeds: Path):
    url, script = server
    page = (feeds / CAISO_429).read_bytes()
    script.answers["/retry-after"] = [(429, {"Retry-After": "7"}, b"slow down"), (200, {}, b"ok")]
    script.answers["/caiso"] = [(429, {}, page), (200, {}, b"ok")]
    clock = Clock()
    fetcher = _fetcher(clock)
    assert fetcher.get("test", f"{url}/retry-after", {}) == b"ok"
    assert fetcher.get("test", f"{url}/caiso", {}) == b"ok"
    assert clock.slept == [7.0, 5.0]  # the header's 7 s; the page's "after 5 seconds"


def test_a_4xx_fails_at_once_and_retries_give_up_with_the_last_answer(server):
    url, script = server
    clock = Clock()
    fetcher = _fetcher(clock, attempts=3)
    with pytest.raises(Unavailable) as refused:
        fetcher.get("test", f"{url}/missing", {})
    assert refused.value.code == "feed_refused" and clock.slept == []
    assert "HTTP 404" in str(refused.value)
    script.answers["/down"] = [(503, {}, b"maintenance until noon")]
    with pytest.raises(Unavailable) as gave_up:
        fetcher.get("test", f"{url}/down", {})
    assert gave_up.value.code == "feed_unavailable"
    assert "failed 3 times; last: HTTP 503: maintenance until noon" in str(gave_up.value)
    assert len(clock.slept) == 2


def test_a_dropped_connection_a_refused_port_and_a_timeout_are_retried(server):
    url, script = server
    script.answers["/drop"] = [(0, {}, b""), (200, {}, b"ok")]
    clock = Clock()
    assert _fetcher(clock).get("test", f"{url}/drop", {}) == b"ok"
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(Unavailable, match="failed 2 times; last: ConnectError"):
        _fetcher(Clock(), attempts=2).get("test", f"http://127.0.0.1:{closed}/x", {})
    script.answers["/slow"] = [(200, {}, b"late")]
    script.delay_s = 1.0
    with pytest.raises(Unavailable, match="last: timed out"):
        _fetcher(Clock(), attempts=2, timeout_s=0.2).get("test", f"{url}/slow", {})


def test_a_redirect_is_followed_and_a_huge_payload_refused(server):
    url, script = server
    script.answers["/old"] = [(302, {"Location": f"{url}/new"}, b"")]
    script.answers["/new"] = [(200, {}, b"moved here")]
    assert _fetcher(Clock()).get("test", f"{url}/old", {}) == b"moved here"
    script.answers["/huge"] = [(200, {}, b"x" * 300_000)]
    with pytest.raises(PayloadTooLarge):
        _fetcher(Clock(), max_bytes=100_000).get("test", f"{url}/huge", {})


def test_a_secret_header_does_not_follow_a_redirect_to_another_host(server):
    url, script = server
    port = urlsplit(url).port
    script.answers["/same"] = [(302, {"Location": f"{url}/kept"}, b"")]
    script.answers["/away"] = [(302, {"Location": f"http://localhost:{port}/kept"}, b"")]
    script.answers["/kept"] = [(200, {}, b"ok")]
    fetcher = _fetcher(Clock())
    assert fetcher.get("test", f"{url}/same", {"X-Key": KEY}) == b"ok"
    assert script.seen[-1][1] == "/kept" and script.seen[-1][2].get("X-Key") == KEY
    assert fetcher.get("test", f"{url}/away", {"X-Key": KEY}) == b"ok"  # another origin
    assert script.seen[-1][1] == "/kept" and "X-Key" not in script.seen[-1][2]


def test_secrets_go_where_the_source_says_and_nowhere_else(server):
    url, script = server
    script.answers["/h"] = [(200, {}, b"ok")]
    script.answers["/q"] = [(403, {}, f"key {KEY} is not allowed".encode())]
    env = {"AURUM_TEST_KEY": KEY}
    header = _source(url="{base}/h", secret="AURUM_TEST_KEY", secret_header="X-Key")
    request_url, headers = header.request(date(2025, 5, 1), env, url)
    assert _fetcher(Clock()).get("test", request_url, headers) == b"ok"
    assert script.seen[-1][2]["X-Key"] == KEY and KEY not in script.seen[-1][1]
    param = _source(url="{base}/q?x=1", secret="AURUM_TEST_KEY", secret_param="api_key")
    request_url, headers = param.request(date(2025, 5, 1), env, url)
    with pytest.raises(Unavailable) as refused:
        _fetcher(Clock()).get("test", request_url, headers, secrets=[KEY])
    assert parse_qs(urlsplit(script.seen[-1][1]).query)["api_key"] == [KEY]
    assert KEY not in str(refused.value) and "api_key=***" in str(refused.value)
    with pytest.raises(ConfigError, match="set AURUM_TEST_KEY in the environment"):
        header.request(date(2025, 5, 1), {}, url)


def test_the_rate_limit_spaces_requests_per_source(server):
    url, script = server
    script.answers["/r"] = [(200, {}, b"ok")]
    clock = Clock()
    fetcher = _fetcher(clock)
    for _ in range(3):
        fetcher.get("slow-source", f"{url}/r", {}, min_interval_s=5.0)
    fetcher.get("other-source", f"{url}/r", {}, min_interval_s=5.0)
    assert clock.slept == [5.0, 5.0]  # the 2nd and 3rd of one source; the other not at all


def _days(script: Script, feeds: Path) -> None:
    lines = (feeds / PJM).read_bytes().splitlines(keepends=True)
    for day in (1, 2, 3):
        ept = f"5/{day}/2025 ".encode()  # the day by the EPT column (the second)
        body = b"".join([lines[0], *(x for x in lines[1:] if x.split(b",")[1].startswith(ept))])
        script.answers[f"/day/202505{day:02d}.csv"] = [(200, {}, body)]


def test_the_watermark_advances_after_each_load_and_resumes_after_a_failure(server, feeds):
    url, script = server
    _days(script, feeds)
    script.answers["/day/20250502.csv"] = [(200, {}, b"<html><body>Try later</body></html>"),
                                           script.answers["/day/20250502.csv"][0]]  # fmt: skip
    marks, loaded = Marks(start=date(2025, 4, 30)), []
    first = collect(_source(), fetcher=_fetcher(Clock()), load=_loader(loaded), watermarks=marks,
                    until=date(2025, 5, 3), base=url)  # fmt: skip
    assert [(d.day.day, d.status) for d in first.days] == [(1, "loaded"), (2, "failed")]
    assert "payload_html" in first.days[1].detail
    assert marks.get("test") == date(2025, 5, 1)  # day 2 failed: not past it
    again = collect(_source(), fetcher=_fetcher(Clock()), load=_loader(loaded), watermarks=marks,
                    until=date(2025, 5, 3), base=url)  # fmt: skip
    assert [(d.day.day, d.status) for d in again.days] == [(2, "loaded"), (3, "loaded")]
    assert marks.get("test") == date(2025, 5, 3)
    assert [n for n, _ in loaded] == [f"test_202505{d:02d}.csv" for d in (1, 2, 3)]
    assert all(rows == 12 * 24 for _, rows in loaded)


def test_since_overrides_the_watermark_and_a_long_range_is_refused(server, feeds):
    url, script = server
    _days(script, feeds)
    marks, loaded = Marks(start=date(2025, 5, 3)), []
    done = collect(_source(), fetcher=_fetcher(Clock()), load=_loader(loaded), watermarks=marks,
                   until=date(2025, 5, 2), since=date(2025, 5, 2), base=url)  # fmt: skip
    assert [d.day for d in done.days] == [date(2025, 5, 2)]
    assert marks.get("test") == date(2025, 5, 3)  # never backwards
    with pytest.raises(ConfigError, match="collect at most 366"):
        collect(_source(), fetcher=_fetcher(Clock()), load=_loader(loaded), watermarks=marks,
                until=date(2026, 5, 2), since=date(2025, 1, 1), base=url)  # fmt: skip


def test_every_configured_source_builds_its_request():
    env = {spec.secret: KEY for spec in _all() if spec.secret}
    for spec in _all():
        request_url, headers = spec.request(date(2025, 5, 1), env, "http://127.0.0.1:9")
        assert request_url.startswith("http://127.0.0.1:9/"), spec.name
        assert KEY in request_url + "".join(headers.values()) or spec.secret is None
        assert spec.format in READERS, spec.name  # a format the loads read
    assert (
        source("pjm_da_hrl_lmps").base_url(
            {"AURUM_FEEDS_BASE_URL_PJM_DA_HRL_LMPS": "http://mirror/"}
        )
        == "http://mirror"
    )


def _all() -> list[Source]:
    from aurum.feeds.collector import sources

    return list(sources().values())


def test_the_fetcher_is_safe_across_threads(server):
    url, script = server
    script.answers["/t"] = [(200, {}, b"ok")]
    clock = Clock()
    fetcher = _fetcher(clock)
    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(
        fetcher.get("threads", f"{url}/t", {}, min_interval_s=1.0))) for _ in range(4)]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [b"ok"] * 4
    assert fetcher._last["threads"] == 1003.0  # four requests, reserved one second apart


EIA = "eia/eia_v2_electricity_rto_region-data_PACW_D_hourly_2023-01-01_08.json"


class AnyDay(BaseHTTPRequestHandler):
    """The recorded EIA answer for any day asked, to a caller with the key; a 503 the first time
    a path is asked."""

    def do_GET(self) -> None:
        state = self.server  # type: ignore[attr-defined]
        state.seen.append((self.client_address[0], parse_qs(urlsplit(self.path).query)))
        first_time = self.path not in state.asked
        state.asked.add(self.path)
        status, body = (503, b"busy") if first_time else (200, state.payload)
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_aurum_feeds_collect_loads_each_day_once(loopback, feeds: Path, tmp_path: Path):
    aurum = Path(sys.executable).parent / "aurum"
    state: dict[str, Any] = {"payload": (feeds / EIA).read_bytes(), "asked": set(), "seen": []}
    with loopback(AnyDay, **state) as url:
        env = {"AURUM_HOME": str(tmp_path / "home"), "AURUM_FEEDS_EIA_KEY": KEY,
               "AURUM_FEEDS_BASE_URL_EIA_RTO_REGION_DATA": url,
               "PATH": "/usr/bin:/bin"}  # fmt: skip

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([str(aurum), "feeds", *args], env=env, capture_output=True,
                                  text=True, timeout=300)  # fmt: skip

        first = run("collect", "eia_rto_region_data", "--since", "2023-01-01", "--until",
                    "2023-01-01", "--json")  # fmt: skip
        assert first.returncode == 0, first.stderr
        again = run("collect", "eia_rto_region_data", "--until", "2023-01-02", "--json")
        listed = run("sources", "--json")
    days = json.loads(first.stdout)
    assert [(d["day"], d["status"]) for d in days["days"]] == [("2023-01-01", "loaded")]
    assert days["retries"] == 1  # the 503, asked again
    # resumed after the watermark: the 2nd holds the same payload, so it changes nothing
    assert [(d["day"], d["status"]) for d in json.loads(again.stdout)["days"]] == [
        ("2023-01-02", "duplicate")]  # fmt: skip
    marks = {s["source"]: s["watermark"] for s in json.loads(listed.stdout)}
    assert marks["eia_rto_region_data"] == "2023-01-02" and marks["pjm_da_hrl_lmps"] == ""
    assert {query["api_key"][0] for _, query in state["seen"]} == {KEY}
    assert KEY not in first.stdout + first.stderr + again.stdout + again.stderr
