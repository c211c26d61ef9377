"""The outbox: every state change's event, written in the transaction that makes the change.

A run's end, its audit entry and its event commit together (``aurum.runs.Runs.finish``), so a
consumer never hears of a publish that did not happen nor misses one that did. Events are read
in **position** order, a number that only grows: on PostgreSQL the writers of events take one
transaction-level advisory lock before they insert, so positions become visible in the order
they were given and a reader holding position ``n`` never later finds a new event below it (a
plain sequence would let a slow transaction commit ``n - 1`` after ``n`` was read). SQLite's
single writer gives the same order for free.

Who sees an event is the access policy's to say (``Access.sees`` / ``sees_entry``): a tenant its
own events and the platform's about vendors it is entitled to. Consumers that the platform runs
(the Kafka relay) keep their place in ``event_cursor``; a webhook keeps its own in its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "EVENT_TYPES", "WATERMARK_PREFIX", "Event", "EventCursorRecord", "OutboxRecord",
    "cursor_position", "emit", "list_events", "move_cursor", "newest_position",
]  # fmt: skip

# Cursors named with this prefix are feed collectors' watermarks (a day's ordinal), not event
# consumers' positions (aurum.feeds.watermarks).
WATERMARK_PREFIX = "feed:"

# The event vocabulary; the relay publishes type ``t`` to the Kafka topic ``aurum.{t}.v1``.
EVENT_TYPES: tuple[str, ...] = (
    "curve.observation",  # one per published vendor-day: counts, snapshot, tag
    "qa.result",  # the gates of an ingest that reached them
    "ingest.error",  # a file that failed: dead letter, failed gate, error
    "scenario.request",  # a queued scenario run or valuation (announced; the queue is the store)
    "scenario.output",  # a scenario run's published output
    "ppa.valuation",  # a published valuation
    "feed.load",  # a feed payload that published new versions: rows, partitions, tags
    "alert",  # an alert raised, acknowledged or resolved
)
_LOCK = 0x4155_5255_4D00_0001  # pg_advisory_xact_lock key of the outbox's writers ("AURUM")


@dataclass(frozen=True)
class Event:
    """One event as consumers see it."""

    position: int  # its place in the outbox: grows in commit order
    event_id: str  # stable across re-deliveries: consumers de-duplicate by it
    type: str
    key: str  # events of one key are delivered in position order (a Kafka message key)
    tenant_id: str | None  # None: the platform's
    vendor: str | None
    run_id: str | None
    occurred_at: datetime
    payload: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        """The event as JSON: what ``/v1/events``, SSE and webhooks send."""
        return {
            "id": self.event_id, "position": self.position, "type": self.type, "key": self.key,
            "tenant_id": self.tenant_id, "vendor": self.vendor, "run_id": self.run_id,
            "occurred_at": self.occurred_at.isoformat(), "data": self.payload,
        }  # fmt: skip


class OutboxRecord(Base):
    """The ``outbox_event`` table (migration 0008)."""

    __tablename__ = "outbox_event"
    __table_args__ = (
        sa.Index("ix_outbox_event_tenant_id_position", "tenant_id", "position"),
        sa.Index("ix_outbox_event_type_position", "type", "position"),
    )

    position: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    event_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    type: Mapped[str] = mapped_column(sa.String(64))
    key: Mapped[str] = mapped_column(sa.String(255))
    tenant_id: Mapped[str | None] = mapped_column(sa.String(63))
    vendor: Mapped[str | None] = mapped_column(sa.String(64))
    run_id: Mapped[str | None] = mapped_column(sa.String(32))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class EventCursorRecord(Base):
    """The ``event_cursor`` table: where each platform consumer (the relay) has got to."""

    __tablename__ = "event_cursor"

    name: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    position: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


def emit(
    session: Session,
    access: Access,
    type_: str,
    *,
    key: str,
    payload: Mapping[str, Any],
    vendor: str | None = None,
    run_id: str | None = None,
    tenant_id: str | None = None,
) -> Event:
    """Add an event to the outbox in the session's transaction (it commits with it). Its
    tenant is ``tenant_id`` if given (the platform may emit for a tenant), else ``access``'s."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}: one of {', '.join(EVENT_TYPES)}")
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    record = OutboxRecord(
        event_id=uuid.uuid4().hex, type=type_, key=key[:255],
        tenant_id=tenant_id if tenant_id is not None else access.tenant_id,
        vendor=vendor, run_id=run_id, occurred_at=datetime.now(UTC), payload=dict(payload),
    )  # fmt: skip
    session.add(record)
    session.flush()
    return _event(record)


def list_events(
    session: Session,
    access: Access,
    *,
    after: int = 0,
    types: Sequence[str] | None = None,
    limit: int = 100,
) -> list[Event]:
    """The events after ``after`` that ``access`` sees, oldest first (at most ``limit``)."""
    query = (
        sa.select(OutboxRecord)
        .where(OutboxRecord.position > after)
        .where(access.sees(OutboxRecord.tenant_id, OutboxRecord.vendor))
    )
    if types:
        query = query.where(OutboxRecord.type.in_(list(types)))
    query = query.order_by(OutboxRecord.position).limit(limit)
    return [_event(r) for r in session.scalars(query)]


def newest_position(session: Session, access: Access) -> int:
    """The position of the newest event ``access`` sees (0: none)."""
    query = sa.select(sa.func.max(OutboxRecord.position)).where(
        access.sees(OutboxRecord.tenant_id, OutboxRecord.vendor)
    )
    return int(session.scalar(query) or 0)


def cursor_position(session: Session, name: str) -> int:
    """Where the consumer ``name`` has got to (0: it has read nothing)."""
    record = session.get(EventCursorRecord, name)
    return record.position if record is not None else 0


def move_cursor(session: Session, name: str, position: int) -> None:
    """Record that ``name`` has handled every event up to ``position`` (never backwards; one
    upsert, so two consumers creating the cursor at once both succeed)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(EventCursorRecord).values(
        name=name, position=position, updated_at=datetime.now(UTC)
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["name"],
            set_={
                "position": sa.case(
                    (statement.excluded.position > EventCursorRecord.position,
                     statement.excluded.position),
                    else_=EventCursorRecord.position,
                ),
                "updated_at": statement.excluded.updated_at,
            },
        )
    )  # fmt: skip


def _event(r: OutboxRecord) -> Event:
    return Event(
        r.position, r.event_id, r.type, r.key, r.tenant_id, r.vendor, r.run_id, r.occurred_at,
        dict(r.payload),
    )  # fmt: skip
