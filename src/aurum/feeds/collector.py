"""Collectors: fetch a public feed's payloads day by day, hand each to a load, and remember how
far they got.

A source (``collectors.toml``, :func:`sources`) says where a day's payload is, which secret it
needs and how, how often it may be asked, and how the payload is read. :class:`Fetcher` asks:

- **retries** with exponential backoff and jitter on a refused or dropped connection, a
  timeout, a 5xx and a 429; a 429 waits what the source says (``Retry-After`` in seconds or as
  an HTTP date, or CAISO's "retry your request after 5 seconds"), capped; any other 4xx fails
  at once (asking again would not change it);
- **a rate limit** per source (the least time between two requests, across threads);
- **bounded memory**: the body is streamed and refused past ``max_bytes``;
- **secrets from the environment** only, sent as the source's header or query parameter, and
  never in an error, a log line or a recorded URL (:func:`redact`).

:func:`collect` walks the days after the source's **watermark** (or from ``since``) through
``until``: fetch, load, and only then advance the watermark, so a crash or a failed load resumes
at that day and never skips one; it stops at the first day that fails and says why.

Sleep, clock and randomness are injected, so tests are instant and exact. Fetching is Aurum's own
thin layer over ``httpx``: a library such as ``gridstatus`` fetches US ISOs well but returns
parsed frames, not the payload bytes the raw archive keeps and our parsers read (see
ARCHITECTURE.md's design notes).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import cache
from importlib import resources
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from aurum.errors import AurumError, ConfigError, PayloadTooLarge, Unavailable

__all__ = [
    "CollectReport", "Day", "Fetcher", "Source", "Watermarks", "collect", "redact", "sources",
]  # fmt: skip

_CAISO_WAIT = re.compile(r"retry your request after (\d+) seconds", re.IGNORECASE)


@dataclass(frozen=True)
class Source:
    """One feed's fetch: see ``collectors.toml``."""

    name: str
    doc: str
    base: str
    url: str
    format: str
    params: dict[str, str] = field(default_factory=dict)
    secret: str | None = None
    secret_header: str | None = None
    secret_param: str | None = None
    min_interval_s: float = 1.0
    suffix: str = ".bin"
    documented: bool = False

    def base_url(self, env: Mapping[str, str]) -> str:
        """The base URL: ``AURUM_FEEDS_BASE_URL_<NAME>`` when set (a mirror, a test server)."""
        override = env.get("AURUM_FEEDS_BASE_URL_" + re.sub(r"[.\-]", "_", self.name).upper())
        return (override or self.base).rstrip("/")

    def request(
        self, day: date, env: Mapping[str, str], base: str | None = None
    ) -> tuple[str, dict[str, str]]:
        """The URL and headers of ``day``'s payload (the secret included where it goes)."""
        root = (base or self.base_url(env)).rstrip("/")
        url = self.url.format(day=day, next=day + timedelta(days=1), base=root, **self.params)
        headers = {"User-Agent": "aurum-feeds"}
        if self.secret is None:
            return url, headers
        value = env.get(self.secret)
        if not value:
            raise ConfigError(
                "feed_secret_missing",
                f"{self.name} needs its key: set {self.secret} in the environment",
                source=self.name, variable=self.secret,
            )  # fmt: skip
        if self.secret_header:
            headers[self.secret_header] = value
        if self.secret_param:
            parts = urlsplit(url)
            query = [*parse_qsl(parts.query, keep_blank_values=True), (self.secret_param, value)]
            url = urlunsplit(parts._replace(query=urlencode(query)))
        return url, headers


@cache
def sources() -> dict[str, Source]:
    """Every source of ``collectors.toml``, by name (read once)."""
    text = resources.files("aurum.feeds").joinpath("collectors.toml").read_text()
    return {name: Source(name=name, **spec) for name, spec in tomllib.loads(text).items()}


def source(name: str) -> Source:
    found = sources().get(name)
    if found is None:
        raise ConfigError(
            "feed_source_unknown", f"no feed source {name!r}: one of {', '.join(sources())}",
            sources=list(sources()),
        )  # fmt: skip
    return found


def redact(text: str, secrets: list[str]) -> str:
    """``text`` with every secret value written ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class Fetcher:
    """GETs with retries, backoff, a rate limit per source and a size limit (module docstring)."""

    def __init__(
        self, client: httpx.Client | None = None, *, attempts: int = 5, backoff_s: float = 1.0,
        max_wait_s: float = 120.0, timeout_s: float = 60.0, max_bytes: int = 512 << 20,
        max_redirects: int = 5,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None,
    ) -> None:  # fmt: skip
        self.client = client or httpx.Client(timeout=timeout_s, follow_redirects=True)
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
        self.retries = 0  # requests asked again, over this fetcher's life
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def get(
        self, name: str, url: str, headers: Mapping[str, str], *, min_interval_s: float = 0.0,
        secrets: list[str] | None = None,
    ) -> bytes:  # fmt: skip
        """The body of a 200 answer to ``GET url`` (see the module docstring)."""
        hidden = [*(secrets or ()), *(v for k, v in headers.items() if k.lower() != "user-agent")]
        shown = redact(url, hidden)
        last = "no answer"
        for attempt in range(1, self.attempts + 1):
            self._space(name, min_interval_s)
            wait: float | None = None
            try:
                with self._open(url, headers) as response:
                    status = response.status_code
                    if status == 200:
                        return self._body(response, name, shown)
                    text = _head(response, 2000).decode("utf-8", "replace")
                    last = f"HTTP {status}: {redact(' '.join(text.split())[:200], hidden)}"
                    if status == 429:
                        wait = _said_wait(response.headers.get("retry-after"), text)
                    elif status < 500:
                        raise Unavailable(
                            "feed_refused",
                            f"{name}: {shown} answered {last}; not asked again (a 4xx other than "
                            "429 would answer the same)",
                            source=name, status=status, dependency=name,
                        )  # fmt: skip
            except httpx.TimeoutException:
                last = "timed out"
            except httpx.TransportError as exc:
                last = redact(f"{type(exc).__name__}: {exc}", hidden)
            if attempt == self.attempts:
                break
            self.retries += 1
            self.sleep(min(self.max_wait_s, wait if wait is not None else self._backoff(attempt)))
        raise Unavailable(
            "feed_unavailable", f"{name}: {shown} failed {self.attempts} times; last: {last}",
            source=name, attempts=self.attempts, dependency=name,
        )  # fmt: skip

    @contextmanager
    def _open(self, url: str, headers: Mapping[str, str]) -> Iterator[httpx.Response]:
        """The streamed answer to ``GET url`` after its redirects (OASIS and NYISO answer http://
        with a 302 to https://). httpx keeps custom headers on a redirect to another host, so
        the secret (``Ocp-Apim-Subscription-Key``, ``token``) goes only where it was meant to:
        the caller's headers but the User-Agent are dropped once the host or port changes."""
        origin = httpx.URL(url)
        request = self.client.build_request("GET", url, headers=dict(headers))
        for _ in range(self.max_redirects + 1):
            response = self.client.send(request, stream=True, follow_redirects=False)
            following = response.next_request
            if following is None:
                try:
                    yield response
                finally:
                    response.close()
                return
            _head(response, 2000)  # a redirect's body is never needed
            response.close()
            if not _same_site(origin, following.url):
                for key in headers:  # the caller's: its secret, never httpx's Host
                    if key.lower() != "user-agent":
                        following.headers.pop(key, None)
            request = following
        raise httpx.TooManyRedirects(f"more than {self.max_redirects} redirects", request=request)

    def _backoff(self, attempt: int) -> float:
        """1, 2, 4 … times ``backoff_s``, with up to a quarter more at random (jitter)."""
        base = self.backoff_s * 2 ** (attempt - 1)
        return float(base * (1 + self.rng.random() / 4))

    def _space(self, name: str, interval: float) -> None:
        """Wait until ``interval`` has passed since this source's previous request."""
        with self._lock:
            now = self.clock()
            due = self._last.get(name, -float("inf")) + interval
            self._last[name] = max(now, due)
        if due > now:
            self.sleep(due - now)

    def _body(self, response: httpx.Response, name: str, shown: str) -> bytes:
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise PayloadTooLarge(
                    "payload_too_large",
                    f"{name}: {shown} sent more than {self.max_bytes:,} bytes; refused",
                    source=name, max_bytes=self.max_bytes,
                )  # fmt: skip
            chunks.append(chunk)
        return b"".join(chunks)


def _same_site(origin: httpx.URL, target: httpx.URL) -> bool:
    """Whether a redirect stays where the secret was meant to go: the same host and port, or
    the same host moved from http to https on the default ports.

    >>> _same_site(httpx.URL("http://oasis.caiso.com/a"), httpx.URL("https://oasis.caiso.com/b"))
    True
    >>> _same_site(httpx.URL("https://api.ercot.com/a"), httpx.URL("http://api.ercot.com/a"))
    False
    >>> _same_site(httpx.URL("https://api.pjm.com/a"), httpx.URL("https://cdn.example/a"))
    False
    """
    if target.host != origin.host:
        return False
    if target.scheme == origin.scheme:
        return target.port == origin.port
    return (
        origin.scheme == "http"
        and target.scheme == "https"
        and origin.port in (None, 80)
        and target.port in (None, 443)
    )


def _head(response: httpx.Response, limit: int) -> bytes:
    """At most ``limit`` bytes of a body we only quote (an error page, a redirect)."""
    got = b""
    for chunk in response.iter_bytes():
        got += chunk
        if len(got) >= limit:
            break
    return got[:limit]


def _said_wait(header: str | None, body: str) -> float | None:
    """How long a 429 asks to wait: ``Retry-After`` (seconds or an HTTP date), or a body that
    says "retry your request after N seconds" (CAISO OASIS)."""
    if header:
        header = header.strip()
        if header.isdigit():
            return float(header)
        try:
            when = parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            moment = when if when.tzinfo else when.replace(tzinfo=UTC)
            return max(0.0, (moment - datetime.now(UTC)).total_seconds())
    found = _CAISO_WAIT.search(body)
    return float(found.group(1)) if found else None


class Watermarks(Protocol):
    """The last day collected, per source (``aurum.feeds.watermarks.StoreWatermarks``)."""

    def get(self, source: str) -> date | None: ...

    def advance(self, source: str, day: date) -> None: ...


@dataclass
class Day:
    day: date
    status: str  # loaded, duplicate, empty, failed
    detail: str = ""


@dataclass
class CollectReport:
    source: str
    days: list[Day] = field(default_factory=list)
    retries: int = 0

    @property
    def failed(self) -> Day | None:
        return next((d for d in self.days if d.status == "failed"), None)


Load = Callable[[bytes, str, str, dict[str, str]], Any]


def collect(
    spec: Source, *, fetcher: Fetcher, load: Load, watermarks: Watermarks, until: date,
    since: date | None = None, base: str | None = None, env: Mapping[str, str] | None = None,
    most_days: int = 366,
) -> CollectReport:  # fmt: skip
    """Fetch and load each day after the watermark (or from ``since``) through ``until``."""
    environment = os.environ if env is None else env
    mark = watermarks.get(spec.name)
    first = since or (mark + timedelta(days=1) if mark else until)
    report = CollectReport(spec.name)
    if (until - first).days + 1 > most_days:
        raise ConfigError(
            "feed_range_too_long",
            f"{spec.name}: {(until - first).days + 1} days from {first} to {until}; collect at "
            f"most {most_days} at a time (give --since)",
        )  # fmt: skip
    secret = environment.get(spec.secret) if spec.secret else None
    retried = fetcher.retries
    day = first
    while day <= until:
        try:
            url, headers = spec.request(day, environment, base)
            payload = fetcher.get(spec.name, url, headers, min_interval_s=spec.min_interval_s,
                                  secrets=[secret] if secret else None)  # fmt: skip
            done = load(payload, f"{spec.name}_{day:%Y%m%d}{spec.suffix}", spec.format,
                        dict(spec.params))  # fmt: skip
        except AurumError as exc:
            text = redact(str(exc), [secret] if secret else [])
            report.days.append(Day(day, "failed", f"{exc.code}: {text}"))
            break
        kind, status = getattr(done, "kind", "lmp"), getattr(done, "status", "published")
        shown = "empty" if kind in ("empty",) else (
            "duplicate" if status == "duplicate" else "loaded")  # fmt: skip
        report.days.append(Day(day, shown, kind))
        watermarks.advance(spec.name, day)
        day += timedelta(days=1)
    report.retries = fetcher.retries - retried
    return report
