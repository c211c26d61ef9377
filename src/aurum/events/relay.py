"""The Kafka relay (``aurum relay``): the outbox's events to Kafka topics in Avro, at least once,
in order per key.

One pass (:meth:`Relay.run_once`)::

    read    the events after the cursor ``relay:kafka``, oldest first (``events.relay_batch``),
            in a read-only store transaction that ends before anything below happens
    encode  each into its topic's schema (:mod:`.schemas`), framed with the schema's id
            (:mod:`.wire`; the id from the registry or the local table, :mod:`.registry`)
    send    each to ``aurum.{type}.v1`` with its ordering key as the message key (UTF-8) and
            headers ``aurum-event-id`` and ``aurum-event-type``; the producer is idempotent with
            ``acks=all`` and partitions keys as the Java client does (murmur2)
    wait    for every delivery report (``delivery_timeout_s`` at most)
    move    the cursor to the last event that was confirmed *with every event before it*

**At least once.** The cursor only ever passes confirmed events, so an event whose delivery was
not confirmed — the broker went away, the relay died mid-batch — is sent again by the next pass
or the next relay; consumers drop repeats by the event id (also the ``aurum-event-id`` header).
A failed pass discards its producer (a fresh one has no stale idempotence state after a broker
restart) and the loop (:meth:`Relay.serve`) waits 0.5 s, 1 s, 2 s … (at most ``max_backoff_s``)
before trying again: it never skips.

**Order per key.** A key always goes to the same partition, events are sent in position order,
one batch after another, and the idempotent producer never reorders a partition; a re-send
starts again from the first unconfirmed event, so the first sighting of each event follows
position order within its key.

**An event that does not fit its schema stops the relay there** (it is counted in
``stats.invalid`` and logged with the event's id and field), rather than being skipped. The
outbox keeps it, and every event after it, so nothing is lost while someone fixes the schema or
the code that wrote it; skipping would break the promise that every event reaches Kafka, and the
break would be silent for consumers. It can only happen when code and schema disagree, which the
tests rule out for every event the runs write (``tests/events/test_avro.py``). Passes keep
retrying with backoff, so the relay resumes by itself once a fixed version is deployed; the
growing ``lag`` is the signal to alert on.

**Registry down or slow.** Ids are cached after a schema's first use; a registry that does not
answer within its timeout fails the pass (``stats.registry_errors``) and nothing is sent
without an id. It never touches the publish path: runs write the outbox in their own store
transaction, and the relay holds no store transaction while it talks to a registry or a broker.

``confluent-kafka`` is the optional extra ``aurum[kafka]``; without it constructing a relay raises
``NotInstalledError``.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.errors import AurumError, ConfigError, NotInstalledError, Unavailable, ValidationFailed
from aurum.events import wire
from aurum.events.registry import Registry, SchemaIds, schema_ids
from aurum.events.schemas import schema_for, schemas, to_record
from aurum.store import Store
from aurum.store.outbox import Event

__all__ = ["CURSOR", "HEADER_EVENT_ID", "HEADER_EVENT_TYPE", "Relay", "RelayPass", "RelayStats"]

log = logging.getLogger("aurum.events.relay")
CURSOR = "relay:kafka"  # the relay's place in the outbox (``event_cursor``)
HEADER_EVENT_ID = "aurum-event-id"
HEADER_EVENT_TYPE = "aurum-event-type"
_PENDING = object()  # a message whose delivery report has not come


@dataclass
class RelayStats:
    """Counters since the relay started (for metrics: each only grows, except the positions)."""

    relayed: int = 0  # deliveries the broker confirmed (a re-sent event counts again)
    failed: int = 0  # deliveries that failed or were not confirmed in time (sent again later)
    invalid: int = 0  # passes stopped by an event that does not fit its schema
    registry_errors: int = 0  # passes stopped because no schema id could be had
    passes: int = 0
    cursor: int = 0  # every event up to here is confirmed
    newest: int = 0  # the newest position in the outbox, as of the last pass

    @property
    def lag(self) -> int:
        """Events in the outbox not yet confirmed by Kafka."""
        return max(0, self.newest - self.cursor)


@dataclass(frozen=True)
class RelayPass:
    """What one pass did."""

    read: int = 0  # events read from the outbox
    relayed: int = 0  # confirmed, each with every event before it
    failed: int = 0  # sent but not confirmed
    cursor: int = 0  # the cursor after the pass
    error: str | None = None  # the code of what stopped it short (None: it did all it read)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class _Message:
    event: Event
    topic: str
    value: bytes


class Relay:
    """Relays the outbox to Kafka at ``bootstrap`` (see the module's docstring).

    ``kafka_config`` is added to the producer's and the topic admin's configuration (security
    settings, say); ``partitions`` and ``replication`` are used when the relay creates a missing
    topic (``create_topics``; -1: the broker's default replication).
    """

    def __init__(
        self,
        store: Store,
        *,
        bootstrap: str,
        ids: SchemaIds,
        batch: int = 500,
        partitions: int = 3,
        replication: int = -1,
        create_topics: bool = True,
        delivery_timeout_s: float = 30.0,
        kafka_config: Mapping[str, Any] | None = None,
        name: str = CURSOR,
    ) -> None:
        self._kafka = _kafka()
        self.store = store
        self.bootstrap = bootstrap
        self.ids = ids
        self.batch = batch
        self.partitions = partitions
        self.replication = replication
        self.create_topics = create_topics
        self.delivery_timeout_s = delivery_timeout_s
        self.name = name
        self.stats = RelayStats()
        self._access = Access.platform("relay")
        self._common = {"bootstrap.servers": bootstrap, **(kafka_config or {})}
        self._producer: Any = None
        self._topics_ready = not create_topics
        self._owns_ids = False  # a registry client it made (``from_settings``) it closes

    @classmethod
    def from_settings(cls, store: Store, settings: Settings, **options: Any) -> Relay:
        """The relay ``settings.events`` describe: ``kafka_bootstrap`` (required),
        ``schema_registry_url`` (else the local id table) and ``relay_batch``."""
        events = settings.events
        if not events.kafka_bootstrap:
            raise ConfigError(
                "kafka_not_configured",
                "the relay needs Kafka's bootstrap servers: set AURUM_EVENTS__KAFKA_BOOTSTRAP"
                " (host:port,...)",
            )
        options.setdefault("batch", events.relay_batch)
        relay = cls(store, bootstrap=events.kafka_bootstrap, ids=schema_ids(events), **options)
        relay._owns_ids = True
        return relay

    # -- the loop ------------------------------------------------------------------------------

    def serve(
        self, stop: threading.Event, *, idle_s: float = 1.0, max_backoff_s: float = 30.0
    ) -> None:
        """Relay until ``stop`` is set: at once while there is a backlog, every ``idle_s``
        when caught up, and after a failure with a backoff doubling from 0.5 s."""
        backoff = 0.5
        while not stop.is_set():
            try:
                done = self.run_once()
            except Unavailable as exc:  # the store is down, say: nothing moved, try again
                log.warning("relay pass failed: %s: %s", exc.code, exc.message)
                done = RelayPass(error=exc.code)
            if not done.ok:
                stop.wait(backoff)
                backoff = min(backoff * 2, max_backoff_s)
                continue
            backoff = 0.5
            if done.read < self.batch:
                stop.wait(idle_s)

    def run_once(self) -> RelayPass:
        """One pass: read a batch after the cursor, send it, move the cursor over what the
        broker confirmed."""
        with self.store.transaction(self._access, write=False) as tx:
            cursor = tx.cursor(self.name)
            events = tx.events(after=cursor, limit=self.batch)
            newest = tx.newest_event()
        self.stats.passes += 1
        self.stats.cursor, self.stats.newest = cursor, newest
        if not events:
            return RelayPass(cursor=cursor)
        messages, error = self._encode(events)
        confirmed = self._deliver(messages) if messages else 0
        failed = len(messages) - confirmed
        if confirmed:
            cursor = messages[confirmed - 1].event.position
            with self.store.transaction(self._access) as tx:
                tx.move_cursor(self.name, cursor)
            self.stats.cursor = cursor
        self.stats.relayed += confirmed
        self.stats.failed += failed
        if failed:
            error = error or "kafka_delivery_failed"
        return RelayPass(len(events), confirmed, failed, cursor, error)

    def close(self) -> None:
        """Wait briefly for what is in flight, then drop the producer (the cursor already says
        what was confirmed; anything else is sent again by the next relay)."""
        if self._producer is not None:
            self._producer.flush(1.0)
            self._drop_producer()
        if self._owns_ids and isinstance(self.ids, Registry):
            self.ids.close()

    def __enter__(self) -> Relay:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- steps -----------------------------------------------------------------------------------

    def _encode(self, events: Sequence[Event]) -> tuple[list[_Message], str | None]:
        """The messages of the events up to the first that cannot be encoded, and why not."""
        messages: list[_Message] = []
        for event in events:
            schema = schema_for(event.type)
            try:
                record = to_record(event, schema)
            except ValidationFailed as exc:
                self.stats.invalid += 1
                log.error("relay stopped at event %s: %s", event.event_id, exc.message)
                return messages, exc.code
            try:
                schema_id = self.ids.id_of(schema)
            except AurumError as exc:
                self.stats.registry_errors += 1
                log.warning("no schema id for %s: %s: %s", schema.subject, exc.code, exc.message)
                return messages, exc.code
            messages.append(
                _Message(event, schema.topic, wire.encode(schema_id, schema.parsed, record))
            )
        return messages, None

    def _deliver(self, messages: Sequence[_Message]) -> int:
        """Send ``messages`` and wait for their reports: how many, from the first, the broker
        confirmed with every one before them."""
        if not self._topics_ready:
            self.ensure_topics()
        producer = self._producer_now()
        outcome: list[Any] = [_PENDING] * len(messages)
        for i, message in enumerate(messages):
            event = message.event
            try:
                self._produce(producer, message, functools.partial(_report, outcome, i))
            except self._kafka.KafkaException as exc:
                log.warning("relay could not send event %s: %s", event.event_id, exc)
                break
        producer.flush(self.delivery_timeout_s + 5.0)
        confirmed = 0
        for result in outcome:
            if result is not None:
                break
            confirmed += 1
        if confirmed < len(messages):
            first = outcome[confirmed]
            why = "not confirmed in time" if first is _PENDING else str(first)
            log.warning(
                "relay: %d of %d events not confirmed, from event %s (%s); sending again later",
                len(messages) - confirmed, len(messages), messages[confirmed].event.event_id, why,
            )  # fmt: skip
            self._drop_producer()
            self._topics_ready = not self.create_topics
        return confirmed

    def _produce(self, producer: Any, message: _Message, report: Any) -> None:
        event = message.event
        headers = [
            (HEADER_EVENT_ID, event.event_id.encode()),
            (HEADER_EVENT_TYPE, event.type.encode()),
        ]
        while True:
            try:
                producer.produce(
                    message.topic, key=event.key.encode(), value=message.value, headers=headers,
                    on_delivery=report,
                )  # fmt: skip
                return
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)

    def _producer_now(self) -> Any:
        if self._producer is None:
            config = {
                "enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random",
                "message.timeout.ms": int(self.delivery_timeout_s * 1000),
                "allow.auto.create.topics": False, "linger.ms": 5, "client.id": "aurum-relay",
                **self._common,
            }  # fmt: skip
            try:
                self._producer = self._kafka.Producer(
                    config, logger=logging.getLogger("aurum.events.relay.kafka"), error_cb=_error
                )
            except self._kafka.KafkaException as exc:
                raise ConfigError("kafka_config_invalid", f"the relay's producer: {exc}") from exc
        return self._producer

    def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        producer.purge()
        producer.flush(0)
        close = getattr(producer, "close", None)  # newer confluent-kafka; before, GC ends it
        if close is not None:
            close()

    def ensure_topics(self) -> bool:
        """Create the relay's topics where missing (``partitions``, ``replication``); whether
        they all exist now. A pass does this first, and again after a failed pass."""
        from confluent_kafka.admin import AdminClient, NewTopic

        wanted = [
            NewTopic(s.topic, num_partitions=self.partitions, replication_factor=self.replication)
            for s in schemas().values()
        ]
        timeout = min(10.0, self.delivery_timeout_s)
        try:
            # ``admin`` must outlive the futures: its end fails them
            admin = AdminClient(self._common, logger=logging.getLogger("aurum.events.relay.kafka"))
            futures = admin.create_topics(wanted, request_timeout=timeout)
        except self._kafka.KafkaException as exc:
            log.warning("relay could not create its topics: %s", exc)
            return False
        ready = True
        for topic, future in futures.items():
            try:
                future.result(timeout + 1.0)
            except self._kafka.KafkaException as exc:
                error = exc.args[0] if exc.args else exc
                code = error.code() if hasattr(error, "code") else None
                if code != self._kafka.KafkaError.TOPIC_ALREADY_EXISTS:
                    ready = False
                    log.warning("relay could not create topic %s: %s", topic, error)
        self._topics_ready = ready
        return ready


def _report(outcome: list[Any], index: int, error: Any, _message: Any) -> None:
    outcome[index] = error  # None: delivered


def _error(error: Any) -> None:
    log.debug("kafka: %s", error)


def _kafka() -> ModuleType:
    try:
        import confluent_kafka
    except ImportError as exc:
        raise NotInstalledError(
            "not_installed", "the Kafka relay needs confluent-kafka: pip install 'aurum[kafka]'"
        ) from exc
    return confluent_kafka
