"""Alerts: one row per condition, however often it is seen.

A condition has a **key** (``file_missing|EUGP|2026-12-03``, ``layout_drift|PW|<run>``): raising
it again while its alert is open or acknowledged only counts the sighting and moves
``last_seen_at`` — one alert, one notification. Once resolved, the same key may raise a new one.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.errors import Conflict, NotFound
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "Alert", "AlertRecord", "AlertState", "acknowledge_alert", "get_alert", "list_alerts",
    "lock_alert", "open_alert", "raise_alert", "resolve_alert",
]  # fmt: skip

AlertState = Literal["open", "acknowledged", "resolved"]


@dataclass(frozen=True)
class Alert:
    id: str
    key: str
    kind: str  # gate_failure, quarantine_rate, layout_drift, file_missing, stale_curve
    severity: str  # warning or critical
    tenant_id: str | None  # None: the platform's
    vendor: str | None
    summary: str
    details: dict[str, Any]
    state: AlertState
    count: int  # sightings of the condition
    raised_at: datetime
    last_seen_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None


class AlertRecord(Base):
    """The ``alert`` table (migration 0008); ``open_key`` is the key while not resolved, so a
    unique index allows one unresolved alert per condition."""

    __tablename__ = "alert"
    __table_args__ = (
        sa.Index("ix_alert_state_raised_at", "state", "raised_at"),
        sa.Index("ix_alert_tenant_id", "tenant_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(255))
    open_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(16))
    tenant_id: Mapped[str | None] = mapped_column(sa.String(63))
    vendor: Mapped[str | None] = mapped_column(sa.String(64))
    summary: Mapped[str] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    state: Mapped[str] = mapped_column(sa.String(16))
    count: Mapped[int] = mapped_column(sa.Integer)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(sa.String(320))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def raise_alert(
    session: Session,
    *,
    key: str,
    kind: str,
    severity: str,
    summary: str,
    details: Mapping[str, Any],
    vendor: str | None = None,
    tenant_id: str | None = None,
) -> tuple[Alert, bool]:
    """The unresolved alert of ``key``, and whether it is new (a sighting of an existing one
    only counts)."""
    now = datetime.now(UTC)
    found = session.scalars(
        sa.select(AlertRecord).where(AlertRecord.open_key == key[:255]).with_for_update()
    ).first()
    if found is not None:
        found.count += 1
        found.last_seen_at = now
        session.flush()
        return _alert(found), False
    record = AlertRecord(
        id=uuid.uuid4().hex, key=key[:255], open_key=key[:255], kind=kind, severity=severity,
        tenant_id=tenant_id, vendor=vendor, summary=summary, details=dict(details),
        state="open", count=1, raised_at=now, last_seen_at=now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return _alert(record), True


def open_alert(session: Session, key: str) -> Alert | None:
    """The unresolved alert of condition ``key``, if there is one."""
    found = session.scalars(sa.select(AlertRecord).where(AlertRecord.open_key == key[:255]))
    record = found.first()
    return _alert(record) if record is not None else None


def get_alert(session: Session, access: Access, alert_id: str) -> Alert:
    return _alert(_record(session, access, alert_id))


def list_alerts(
    session: Session, access: Access, *, state: str | None = None, kind: str | None = None,
    limit: int = 100,
) -> list[Alert]:  # fmt: skip
    """Newest first, the alerts ``access`` sees."""
    query = sa.select(AlertRecord).where(access.sees(AlertRecord.tenant_id, AlertRecord.vendor))
    if state is not None:
        query = query.where(AlertRecord.state == state)
    if kind is not None:
        query = query.where(AlertRecord.kind == kind)
    query = query.order_by(AlertRecord.raised_at.desc(), AlertRecord.id).limit(limit)
    return [_alert(r) for r in session.scalars(query)]


def lock_alert(session: Session, alert_id: str) -> Alert:
    """The alert as it is now, its row locked until the transaction ends (PostgreSQL), so two
    processes never both change it."""
    record = session.get(AlertRecord, alert_id, with_for_update=True, populate_existing=True)
    if record is None:
        raise NotFound("alert_unknown", f"no alert {alert_id}")
    return _alert(record)


def acknowledge_alert(session: Session, access: Access, alert_id: str) -> Alert:
    record = _record(session, access, alert_id, lock=True)
    if record.state == "resolved":
        raise Conflict("alert_resolved", f"alert {alert_id} is resolved already")
    if record.state == "open":
        record.state = "acknowledged"
        record.acknowledged_by, record.acknowledged_at = access.actor[:320], datetime.now(UTC)
    session.flush()
    return _alert(record)


def resolve_alert(session: Session, access: Access, alert_id: str) -> Alert:
    """Close it; 409 ``alert_resolved`` if it was closed already (by someone else, meanwhile)."""
    record = _record(session, access, alert_id, lock=True)
    if record.state == "resolved":
        raise Conflict("alert_resolved", f"alert {alert_id} is resolved already")
    record.state, record.open_key, record.resolved_at = "resolved", None, datetime.now(UTC)
    session.flush()
    return _alert(record)


def _record(
    session: Session, access: Access, alert_id: str, *, lock: bool = False
) -> AlertRecord:
    record = session.get(AlertRecord, alert_id, with_for_update=lock, populate_existing=lock)
    if record is None or not access.sees_entry(record.tenant_id, record.vendor):
        raise NotFound("alert_unknown", f"no alert {alert_id}")
    return record


def _alert(r: AlertRecord) -> Alert:
    return Alert(
        r.id, r.key, r.kind, r.severity, r.tenant_id, r.vendor, r.summary, dict(r.details),
        r.state,  # type: ignore[arg-type]
        r.count, r.raised_at, r.last_seen_at, r.acknowledged_by, r.acknowledged_at,
        r.resolved_at,
    )  # fmt: skip
