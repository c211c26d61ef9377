"""The relay against a real Kafka-protocol broker (tansu) and a real SQLite store: each event
reaches its topic once confirmed, keyed and framed; nothing is skipped when the broker, the
relay or the registry goes away; and a run's publish never waits for any of them."""

from __future__ import annotations

import logging
import queue
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka
import confluent_kafka.admin
import pytest

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.errors import ConfigError
from aurum.events import wire
from aurum.events.registry import LocalIds, Registry
from aurum.events.relay import CURSOR, HEADER_EVENT_ID, HEADER_EVENT_TYPE, Relay
from aurum.events.schemas import from_record, local_ids, schemas
from aurum.store import Store
from aurum.store.outbox import Event

TOPICS = {s.topic: s for s in schemas().values()}
PLATFORM = Access.platform("test")
KAFKA_LOG = logging.getLogger("tests.events.kafka")


@pytest.fixture
def store(tmp_path):
    with Store.open(f"sqlite:///{tmp_path}/store.db") as opened:
        yield opened


def emit_all(store, run_events, *, times: int = 1) -> list[Event]:
    """The run-shaped events, emitted ``times`` over (keys made distinct per round)."""
    emitted = []
    for round_ in range(times):
        with store.transaction(PLATFORM) as tx:
            for e in run_events:
                emitted.append(tx.emit(
                    e.type, key=f"{e.key}#{round_ % 5}", payload=e.payload, vendor=e.vendor,
                    run_id=e.payload.get("run_id"), tenant_id="acme" if e.vendor is None else None,
                ))  # fmt: skip
    return emitted


def cursor_of(store) -> int:
    with store.transaction(PLATFORM, write=False) as tx:
        return tx.cursor(CURSOR)


@dataclass
class Seen:
    topic: str
    partition: int
    key: bytes
    headers: dict[str, bytes]
    schema_id: int
    event: Event


@dataclass
class Consumer:
    """A consumer of every topic, from the beginning of each partition, on its own thread.

    It reads assigned partitions (no group join: tansu takes ~20 s for one). ``restart_from_zero``
    is what a consumer of a memory-only broker must do after the broker restarts: the broker's
    logs begin again at offset 0, below the positions it had.
    """

    bootstrap: str
    schema_of: Callable[[int], Any]
    partitions: int = 3
    seen: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    commands: queue.Queue[str] = field(default_factory=queue.Queue)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _assignment(self) -> list[Any]:
        return [
            confluent_kafka.TopicPartition(topic, p, confluent_kafka.OFFSET_BEGINNING)
            for topic in TOPICS for p in range(self.partitions)
        ]  # fmt: skip

    def _run(self) -> None:
        consumer = confluent_kafka.Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": "aurum-test",
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50, "topic.metadata.refresh.interval.ms": 500,
        }, logger=KAFKA_LOG)  # fmt: skip
        consumer.assign(self._assignment())
        try:
            while not self.stop.is_set():
                while not self.commands.empty():
                    command = self.commands.get()
                    if command == "unassign":
                        consumer.unassign()
                    else:
                        consumer.assign(self._assignment())
                    self.commands.task_done()
                message = consumer.poll(0.05)
                if message is None:
                    continue
                if message.error():
                    self.errors.append(str(message.error()))
                    continue
                self._keep(message)
        finally:
            consumer.close()

    def _keep(self, message: Any) -> None:
        headers = dict(message.headers() or [])
        schema_id, record = wire.decode(message.value(), self.schema_of)
        event = from_record(record, TOPICS[message.topic()])
        self.seen.append(Seen(message.topic(), message.partition(), message.key(), headers,
                              schema_id, event))  # fmt: skip

    def unassign(self) -> None:
        self.commands.put("unassign")
        self.commands.join()

    def restart_from_zero(self) -> None:
        self.commands.put("assign")
        self.commands.join()

    def wait_for(self, event_ids: Iterable[str], timeout: float = 30.0) -> set[str]:
        """Waits until every id has been seen; answers the ids still missing."""
        wanted = set(event_ids)
        deadline = time.monotonic() + timeout
        while True:
            missing = wanted - {s.event.event_id for s in list(self.seen)}
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.05)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def consume(broker):
    made = []

    def start(schema_of: Callable[[int], Any] | None = None) -> Consumer:
        made.append(Consumer(broker.bootstrap, schema_of or LocalIds().schema_of))
        return made[-1]

    yield start
    for consumer in made:
        consumer.close()


def make_relay(store, broker, **options) -> Relay:
    options.setdefault("ids", LocalIds())
    options.setdefault("delivery_timeout_s", 5.0)
    return Relay(store, bootstrap=broker.bootstrap, **options)


def first_sightings_in_order(seen: list[Seen]) -> dict[tuple[str, str], list[int]]:
    """Per (topic, key), the positions of each event's first sighting, in the order seen."""
    first: dict[tuple[str, str], list[int]] = defaultdict(list)
    known = set()
    for s in seen:
        if s.event.event_id not in known:
            known.add(s.event.event_id)
            first[(s.topic, s.event.key)].append(s.event.position)
    return first


# -- the happy path ---------------------------------------------------------------------------


def test_each_event_reaches_its_topic_keyed_framed_and_equal(store, broker, consume,
                                                            all_run_events):  # fmt: skip
    emitted = emit_all(store, all_run_events, times=3)
    with make_relay(store, broker, batch=7) as relay:
        assert relay.ensure_topics()
        consumer = consume()
        passes = [relay.run_once() for _ in range(5)]
        batches = [7] * (len(emitted) // 7) + [len(emitted) % 7]
        assert [p.read for p in passes] == batches and all(p.ok for p in passes)
        assert sum(p.relayed for p in passes) == len(emitted) == relay.stats.relayed
        assert relay.run_once().read == 0  # caught up
    assert consumer.wait_for(e.event_id for e in emitted) == set()
    assert cursor_of(store) == emitted[-1].position == relay.stats.cursor
    assert relay.stats.lag == 0 and relay.stats.failed == 0

    by_id = {s.event.event_id: s for s in consumer.seen}
    assert len(consumer.seen) == len(emitted)  # nothing twice on the happy path
    for event in emitted:
        seen = by_id[event.event_id]
        assert seen.topic == f"aurum.{event.type}.v1"
        assert seen.key == event.key.encode()
        assert seen.headers == {HEADER_EVENT_ID: event.event_id.encode(),
                                HEADER_EVENT_TYPE: event.type.encode()}  # fmt: skip
        assert seen.schema_id == local_ids()[f"{seen.topic}-value"].id
        expected = {f["name"]: None for f in _data_fields(seen.topic)} | event.payload
        assert seen.event.payload == expected
        assert (seen.event.position, seen.event.tenant_id, seen.event.vendor) == (
            event.position, event.tenant_id, event.vendor,
        )  # fmt: skip
    # one key, one partition (per topic), so one key's events arrive in order
    partitions = defaultdict(set)
    for s in consumer.seen:
        partitions[(s.topic, s.key)].add(s.partition)
    assert all(len(p) == 1 for p in partitions.values())
    for positions in first_sightings_in_order(consumer.seen).values():
        assert positions == sorted(positions)


def _data_fields(topic: str) -> list[str]:
    document = TOPICS[topic].document
    return next(f for f in document["fields"] if f["name"] == "data")["type"]["fields"]


def test_ids_come_from_the_registry_once_per_schema(store, broker, consume, registry_stub,
                                                     all_run_events):  # fmt: skip
    emitted = emit_all(store, all_run_events, times=2)
    with Registry(registry_stub.url) as ids, make_relay(store, broker, ids=ids) as relay:
        assert relay.run_once().relayed == len(emitted)
    registrations = [p for m, p in registry_stub.requests if m == "POST"]
    assert sorted(registrations) == sorted(f"/subjects/{t}-value/versions" for t in TOPICS)
    with Registry(registry_stub.url) as reader:
        consumer = consume(reader.schema_of)
        assert consumer.wait_for(e.event_id for e in emitted) == set()
    assert {s.schema_id for s in consumer.seen} == set(registry_stub.texts)


def test_from_settings(store, broker, registry_stub):
    with pytest.raises(ConfigError) as caught:
        Relay.from_settings(store, Settings())
    assert caught.value.code == "kafka_not_configured"
    settings = Settings(events={"kafka_bootstrap": broker.bootstrap, "relay_batch": 42,
                                "schema_registry_url": registry_stub.url})  # fmt: skip
    with Relay.from_settings(store, settings) as relay:
        assert relay.batch == 42 and relay.bootstrap == broker.bootstrap
        assert isinstance(relay.ids, Registry) and relay.ids.url == registry_stub.url


# -- what goes wrong ------------------------------------------------------------------------------


def test_the_relay_stops_at_an_event_that_does_not_fit_and_skips_nothing(
    store, broker, consume, all_run_events
):
    good = next(e for e in all_run_events if e.type == "scenario.output")
    with store.transaction(PLATFORM) as tx:
        first = tx.emit(good.type, key="k", payload=good.payload)
        bad = tx.emit(good.type, key="k", payload={**good.payload, "rows": "many"})
        tx.emit(good.type, key="k", payload=good.payload)
    with make_relay(store, broker) as relay:
        assert relay.ensure_topics()
        consumer = consume()
        done = relay.run_once()
        assert (done.read, done.relayed, done.error) == (3, 1, "event_payload_invalid")
        done = relay.run_once()  # the next pass stops at the same event
        assert (done.read, done.relayed, done.error) == (2, 0, "event_payload_invalid")
        assert relay.stats.invalid == 2 and relay.stats.cursor == first.position
        assert relay.stats.lag == 2
    assert cursor_of(store) == first.position
    assert consumer.wait_for([first.event_id]) == set()
    time.sleep(0.3)
    assert bad.event_id not in {s.event.event_id for s in consumer.seen}


def test_a_registry_that_is_down_holds_the_relay_not_the_publish(store, broker, consume,
                                                                  registry_stub, closed_url,
                                                                  all_run_events):  # fmt: skip
    emitted = emit_all(store, all_run_events)
    # down: nothing is sent without an id, the cursor stays, and the pass says why
    with Registry(closed_url, timeout_s=1.0) as ids, make_relay(store, broker, ids=ids) as relay:
        started = time.monotonic()
        done = relay.run_once()
        assert time.monotonic() - started < 2.0
        assert (done.relayed, done.error) == (0, "schema_registry_unavailable")
        assert relay.stats.registry_errors == 1 and cursor_of(store) == 0

    # slow: while a relay waits on the registry, runs publish and their events commit at once
    registry_stub.gate = threading.Event()
    with (
        Registry(registry_stub.url, timeout_s=20) as ids,
        make_relay(store, broker, ids=ids) as relay,
    ):
        relaying = threading.Thread(target=relay.run_once)
        relaying.start()
        deadline = time.monotonic() + 5
        while not registry_stub.requests and time.monotonic() < deadline:
            time.sleep(0.01)
        assert registry_stub.requests, "the relay did not reach the registry"
        started = time.monotonic()
        more = emit_all(store, all_run_events[:3])
        assert time.monotonic() - started < 2.0, "a publish waited for the relay"
        assert relaying.is_alive()  # still waiting on the registry
        registry_stub.gate.set()  # it answers: everything goes out
        relaying.join(30)
        while relay.run_once().read:
            pass
    with Registry(registry_stub.url) as reader:
        consumer = consume(reader.schema_of)
        assert consumer.wait_for(e.event_id for e in emitted + more) == set()


RELAY_PROCESS = """
import sys, threading
from aurum.events.registry import LocalIds
from aurum.events.relay import Relay
from aurum.store import Store
store = Store.open(sys.argv[1])
relay = Relay(store, bootstrap=sys.argv[2], ids=LocalIds(), batch=10,
              kafka_config={"linger.ms": 40})
relay.serve(threading.Event(), idle_s=0.05)
"""


def test_every_event_arrives_after_the_broker_and_the_relay_restart(
    tmp_path, store, broker, consume, all_run_events
):
    """The relay process is killed mid-stream, then the broker; events are emitted while both
    are down; a new relay starts before the broker is back. Every event arrives at least once,
    the first sighting of each in position order per key."""
    with make_relay(store, broker) as setup:
        assert setup.ensure_topics()
    consumer = consume()
    emitted = emit_all(store, all_run_events, times=12)  # 120 events over 30 keys
    log, url = tmp_path / "relay.log", f"sqlite:///{tmp_path}/store.db"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", RELAY_PROCESS, url, broker.bootstrap],
            stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while cursor_of(store) < 30 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.005)
        process.kill()  # mid-stream: a batch of ten is in flight most of the time
    finally:
        process.kill()
        process.wait(10)
    killed_at = cursor_of(store)
    assert 30 <= killed_at < emitted[-1].position, log.read_text(errors="replace")[-2000:]
    # what the relay confirmed is in Kafka; the consumer has it before the broker goes away
    confirmed = [e.event_id for e in emitted if e.position <= killed_at]
    assert consumer.wait_for(confirmed) == set()

    broker.kill()
    consumer.unassign()
    while_down = emit_all(store, all_run_events, times=3)
    relay = make_relay(store, broker, delivery_timeout_s=2.0)
    stop = threading.Event()
    serving = threading.Thread(target=relay.serve, args=(stop,),
                               kwargs={"idle_s": 0.05, "max_backoff_s": 1.0})  # fmt: skip
    serving.start()
    try:
        deadline = time.monotonic() + 20
        while relay.stats.failed == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert relay.stats.failed > 0 and relay.stats.relayed == 0  # tried, failed, skipped none
        assert cursor_of(store) == killed_at

        broker.start()  # on the same port, empty
        _wait_for_topics(broker.bootstrap)  # the relay creates them again
        consumer.restart_from_zero()
        everything = emitted + while_down
        missing = consumer.wait_for((e.event_id for e in everything), timeout=40)
        assert missing == set(), f"{len(missing)} events never arrived"
    finally:
        stop.set()
        serving.join(30)
        relay.close()
    assert relay.stats.cursor == cursor_of(store) == everything[-1].position
    assert relay.stats.lag == 0
    for key, positions in first_sightings_in_order(consumer.seen).items():
        assert positions == sorted(positions), key
    by_id = {e.event_id: e for e in everything}
    for s in consumer.seen:  # and each arrived whole
        expected = {f["name"]: None for f in _data_fields(s.topic)} | by_id[
            s.event.event_id
        ].payload
        assert s.event.payload == expected


def _wait_for_topics(bootstrap: str, timeout: float = 20.0) -> None:
    admin = confluent_kafka.admin.AdminClient({"bootstrap.servers": bootstrap}, logger=KAFKA_LOG)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            topics = admin.list_topics(timeout=2).topics
        except confluent_kafka.KafkaException:
            topics = {}
        if all(t in topics and len(topics[t].partitions) == 3 for t in TOPICS):
            return
        time.sleep(0.1)
    raise AssertionError("the relay did not create its topics again")
