"""Webhooks: a tenant's (or the platform's) subscription to its events, and where it has got to.

A webhook is delivered its events one at a time in outbox order (``position``): the next only
once the receiver answered 2xx, so one key's events never overtake each other. A failed delivery
is tried again after a growing wait (``next_attempt_at``); after ``max_attempts`` the event is
given up, counted in ``failed`` and the webhook moves on. A deliverer first claims the webhook
(:func:`claim_webhook` sets ``next_attempt_at`` a lease ahead, in a short transaction of its own),
so several processes never deliver one webhook's events at once and no transaction stays open
while a receiver answers. Every attempt of one event carries the
same event id, so a receiver that saw it already (its answer lost) drops the repeat.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.errors import NotFound
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "Webhook", "WebhookRecord", "claim_webhook", "create_webhook", "delete_webhook", "due_webhooks",
    "get_webhook", "list_webhooks", "record_attempt",
]  # fmt: skip


@dataclass(frozen=True)
class Webhook:
    id: str
    tenant_id: str | None
    name: str
    url: str
    secret: str  # signs each delivery (HMAC-SHA256); shown once, at creation
    types: tuple[str, ...]  # event types delivered (empty: every type)
    active: bool
    position: int  # every event up to here is handled (delivered or given up)
    attempts: int  # failed attempts at the event after ``position``
    next_attempt_at: datetime | None
    delivered: int
    failed: int
    last_status: int | None
    last_error: str | None
    created_by: str
    created_at: datetime

    def public(self) -> dict[str, Any]:
        """What the API shows of it (never the secret)."""
        shown = {k: v for k, v in vars(self).items() if k != "secret"}
        return {**shown, "types": list(self.types)}


class WebhookRecord(Base):
    """The ``webhook`` table (migration 0008)."""

    __tablename__ = "webhook"
    __table_args__ = (sa.Index("ix_webhook_tenant_id", "tenant_id"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(sa.String(63))
    name: Mapped[str] = mapped_column(sa.String(200))
    url: Mapped[str] = mapped_column(sa.Text)
    secret: Mapped[str] = mapped_column(sa.String(128))
    types: Mapped[list[str]] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(sa.Boolean)
    position: Mapped[int] = mapped_column(sa.BigInteger)
    attempts: Mapped[int] = mapped_column(sa.Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered: Mapped[int] = mapped_column(sa.BigInteger)
    failed: Mapped[int] = mapped_column(sa.BigInteger)
    last_status: Mapped[int | None] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_by: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


def create_webhook(
    session: Session, access: Access, *, name: str, url: str, types: Sequence[str], start: int
) -> Webhook:
    """A new webhook of ``access``'s tenant, delivering the events after ``start``."""
    record = WebhookRecord(
        id=uuid.uuid4().hex, tenant_id=access.tenant_id, name=name[:200], url=url,
        secret=secrets.token_urlsafe(32), types=list(types), active=True, position=start,
        attempts=0, next_attempt_at=None, delivered=0, failed=0, last_status=None,
        last_error=None, created_by=access.actor[:320], created_at=datetime.now(UTC),
    )  # fmt: skip
    session.add(record)
    session.flush()
    return _webhook(record)


def get_webhook(session: Session, access: Access, webhook_id: str) -> Webhook:
    return _webhook(_record(session, access, webhook_id))


def list_webhooks(session: Session, access: Access) -> list[Webhook]:
    query = sa.select(WebhookRecord).where(access.owns(WebhookRecord.tenant_id))
    return [_webhook(r) for r in session.scalars(query.order_by(WebhookRecord.created_at))]


def delete_webhook(session: Session, access: Access, webhook_id: str) -> None:
    session.delete(_record(session, access, webhook_id))
    session.flush()


def due_webhooks(session: Session, now: datetime) -> list[Webhook]:
    """Active webhooks with no retry pending beyond ``now`` (the platform's dispatcher)."""
    query = sa.select(WebhookRecord).where(
        WebhookRecord.active.is_(True),
        sa.or_(WebhookRecord.next_attempt_at.is_(None), WebhookRecord.next_attempt_at <= now),
    )
    return [_webhook(r) for r in session.scalars(query.order_by(WebhookRecord.id))]


def claim_webhook(session: Session, webhook_id: str, now: datetime, until: datetime) -> bool:
    """Take ``webhook_id`` for delivery until ``until`` (``next_attempt_at`` doubles as the
    claim), unless another process holds it or its retry is not due: whether it was taken."""
    taken = session.execute(
        sa.update(WebhookRecord)
        .where(
            WebhookRecord.id == webhook_id, WebhookRecord.active.is_(True),
            sa.or_(WebhookRecord.next_attempt_at.is_(None), WebhookRecord.next_attempt_at <= now),
        )
        .values(next_attempt_at=until)
    )  # fmt: skip
    return bool(getattr(taken, "rowcount", 0))


def record_attempt(
    session: Session,
    webhook_id: str,
    *,
    position: int,
    status: int | None,
    error: str | None,
    done: bool,
    given_up: bool = False,
    retry_at: datetime | None = None,
    counted: bool = True,
) -> Webhook:
    """The outcome of delivering the event at ``position``: ``done`` moves the webhook past it
    (delivered, or ``given_up``); otherwise it is tried again at ``retry_at``. ``counted=False``
    only releases the claim (there was nothing to deliver)."""
    record = session.get(WebhookRecord, webhook_id, with_for_update=True)
    if record is None:
        raise NotFound("webhook_unknown", f"no webhook {webhook_id}")
    record.last_status, record.last_error = status, (error or None) and error[:1000]
    if done:
        record.position = max(record.position, position)
        record.attempts, record.next_attempt_at = 0, None
        if counted and given_up:
            record.failed += 1
        elif counted:
            record.delivered += 1
    else:
        record.attempts += 1
        record.next_attempt_at = retry_at
    session.flush()
    return _webhook(record)


def _record(session: Session, access: Access, webhook_id: str) -> WebhookRecord:
    record = session.get(WebhookRecord, webhook_id)
    if record is None or not (
        access.is_platform or (record.tenant_id is not None and access.acts_for(record.tenant_id))
    ):
        raise NotFound("webhook_unknown", f"no webhook {webhook_id}")
    return record


def _webhook(r: WebhookRecord) -> Webhook:
    return Webhook(
        r.id, r.tenant_id, r.name, r.url, r.secret, tuple(r.types), r.active, r.position,
        r.attempts, r.next_attempt_at, r.delivered, r.failed, r.last_status, r.last_error,
        r.created_by, r.created_at,
    )  # fmt: skip
