"""Prometheus metrics of one process: its HTTP answers, and the platform's runs as the store
records them.

HTTP series are counted by the API's middleware. Everything about runs — outcomes, ingest
duration, rows published and quarantined, gate failures, queue depth, freshness per vendor,
event consumers' lag, open alerts — is read from the store at scrape time
(:class:`StoreCollector`, cached for a few seconds), so every API process answers for every
ingest, whoever ran it (the CLI, the watcher, a worker), and a restart loses nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from aurum.auth.access import Access
from aurum.lineage import Lineage
from aurum.store import Store
from aurum.store.outbox import WATERMARK_PREFIX
from aurum.store.stats import StoreStats

__all__ = ["DURATION_BUCKETS", "Metrics", "StoreCollector", "families", "lineage_families"]

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DURATION_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600)
RELAY = "relay:kafka"  # the Kafka relay's cursor name in the store


class Metrics:
    """The metrics of one app (its own registry, so tests can build many apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "aurum_http_requests", "HTTP requests answered.", ["method", "route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "aurum_http_request_seconds", "Time to answer, by route and status.",
            ["route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.replica_builds = Counter(
            "aurum_replica_builds", "Serving replicas built.", registry=self.registry
        )
        self.cache = Counter(
            "aurum_cache_requests", "Cacheable answers, by whether the cache held them.",
            ["result"], registry=self.registry,
        )  # fmt: skip

    def watch(self, store: Store, *, extra: Callable[[], Iterator[Metric]] | None = None) -> None:
        """Add the store's figures (and ``extra`` process figures) to this registry."""
        self.registry.register(StoreCollector(store, extra=extra))


class StoreCollector(Collector):
    """The platform's run figures, from the store, at most every ``ttl_s`` seconds."""

    def __init__(
        self, store: Store, *, ttl_s: float = 1.0,
        extra: Callable[[], Iterator[Metric]] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.ttl_s = ttl_s
        self.extra = extra
        self._lock = threading.Lock()
        self._cached: tuple[float, StoreStats] | None = None

    def stats(self) -> StoreStats:
        with self._lock:
            if self._cached is None or time.monotonic() - self._cached[0] > self.ttl_s:
                with self.store.transaction(Access.platform(), write=False) as tx:
                    self._cached = (time.monotonic(), tx.stats())
            return self._cached[1]

    def collect(self) -> Iterator[Metric]:
        yield from families(self.stats(), today=datetime.now(UTC).date())
        if self.extra is not None:
            yield from self.extra()


def families(stats: StoreStats, *, today: date) -> Iterator[Metric]:
    """The Prometheus families of ``stats`` (pure: tests check values from here too)."""
    outcomes = CounterMetricFamily(
        "aurum_run_outcomes", "Finished runs by kind and outcome.", labels=["kind", "status"]
    )
    for (kind, status), n in sorted(stats.outcomes.items()):
        outcomes.add_metric([kind, status], n)
    yield outcomes
    for name, doc, counts in (
        ("aurum_queue_depth", "Queued runs waiting for a worker.", stats.queued),
        ("aurum_runs_active", "Runs running or staged now.", stats.active),
    ):
        gauge = GaugeMetricFamily(name, doc, labels=["kind"])
        for kind, n in sorted(counts.items()):
            gauge.add_metric([kind], n)
        yield gauge
    published = CounterMetricFamily(
        "aurum_ingest_rows_published", "Rows published by ingests.", labels=["vendor"]
    )
    quarantined = CounterMetricFamily(
        "aurum_ingest_rows_quarantined", "Rows held in quarantine by ingests.", labels=["vendor"]
    )
    for vendor in sorted({v for v, _ in stats.rows}):
        kept = [rows for (v, status), rows in stats.rows.items() if v == vendor]
        published.add_metric([vendor], stats.rows.get((vendor, "published"), (0, 0))[0])
        quarantined.add_metric([vendor], sum(q for _, q in kept))
    yield published
    yield quarantined
    gates = CounterMetricFamily(
        "aurum_gate_failures", "Ingests a gate stopped, by rule.", labels=["vendor", "rule"]
    )
    for (vendor, rule), n in sorted(stats.gate_failures.items()):
        gates.add_metric([vendor, rule], n)
    yield gates
    yield _durations(stats.durations)
    freshness = GaugeMetricFamily(
        "aurum_vendor_freshness_days", "Days since the vendor's newest published as-of.",
        labels=["vendor"],
    )  # fmt: skip
    last = GaugeMetricFamily(
        "aurum_vendor_last_publish_timestamp_seconds", "When the vendor last published (Unix).",
        labels=["vendor"],
    )  # fmt: skip
    for vendor, (asof, at) in sorted(stats.newest_asof.items()):
        freshness.add_metric([vendor], (today - asof).days)
        last.add_metric([vendor], at.timestamp())
    yield freshness
    yield last
    yield GaugeMetricFamily(
        "aurum_events_newest_position", "Position of the newest outbox event.",
        value=stats.newest_event,
    )  # fmt: skip
    lag = GaugeMetricFamily(
        "aurum_event_consumer_lag", "Outbox events a consumer has not handled yet.",
        labels=["consumer"],
    )  # fmt: skip
    relay = stats.cursors.get(RELAY)
    if relay is not None:
        lag.add_metric(["relay"], stats.newest_event - relay)
    for name, position in sorted(stats.cursors.items()):
        if name != RELAY and not name.startswith(WATERMARK_PREFIX):
            lag.add_metric([name], stats.newest_event - position)
    for hook, position, _, _ in stats.webhooks:
        lag.add_metric([f"webhook:{hook}"], stats.newest_event - position)
    yield lag
    behind = GaugeMetricFamily(
        "aurum_feed_watermark_days", "Days between today and the last day a feed collected.",
        labels=["source"],
    )  # fmt: skip
    today = date.today().toordinal()
    for name, position in sorted(stats.cursors.items()):
        if name.startswith(WATERMARK_PREFIX):
            behind.add_metric([name[len(WATERMARK_PREFIX) :]], today - position)
    yield behind
    given_up = CounterMetricFamily(
        "aurum_webhook_events_given_up", "Events webhooks gave up after their retries."
    )
    given_up.add_metric([], sum(failed for *_, failed in stats.webhooks))
    yield given_up
    alerts = GaugeMetricFamily("aurum_alerts_open", "Alerts not resolved.", labels=["kind"])
    for kind, n in sorted(stats.alerts_open.items()):
        alerts.add_metric([kind], n)
    yield alerts


def lineage_families(lineage: Lineage) -> Callable[[], Iterator[Metric]]:
    """This process's lineage delivery: events journaled, sent over HTTP, dropped, failed."""

    def collect() -> Iterator[Metric]:
        for name, doc, value in (
            ("aurum_lineage_written", "Lineage events appended to the journal.", lineage.written),
            ("aurum_lineage_sent", "Lineage events the HTTP endpoint accepted.", lineage.sent),
            ("aurum_lineage_dropped", "Lineage events HTTP delivery gave up on (queue full or"
             " retries spent): never a publish slowed.", lineage.dropped),
            ("aurum_lineage_errors", "Lineage events that could not be built or journaled.",
             lineage.errors),
        ):  # fmt: skip
            family = CounterMetricFamily(name, doc)
            family.add_metric([], value)
            yield family

    return collect


def _durations(durations: list[tuple[str, float]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(
        "aurum_ingest_duration_seconds", "Time from an ingest's start to its end.",
        labels=["vendor"],
    )  # fmt: skip
    for vendor in sorted({v for v, _ in durations}):
        seconds = [s for v, s in durations if v == vendor]
        buckets = [(str(b), sum(1 for s in seconds if s <= b)) for b in DURATION_BUCKETS]
        family.add_metric([vendor], [*buckets, ("+Inf", len(seconds))], sum(seconds))
    return family
