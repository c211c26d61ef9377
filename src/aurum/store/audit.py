"""The audit log: who did what, for which tenant, in which request.

An entry without a tenant is the platform's (an ingest by the CLI or the watcher, a recovery);
which entries a caller sees is the access policy's to say (``Access.sees_entry``): its tenant's
own and the platform's about vendors it is entitled to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.store.base import Base, UTCDateTime

__all__ = ["AuditEntry", "AuditRecord", "list_audit", "record_audit"]


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    tenant_id: str | None
    actor: str
    action: str
    target: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditRecord(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        sa.Index("ix_audit_log_tenant_id_at", "tenant_id", "at"),
        sa.Index("ix_audit_log_action", "action"),
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    tenant_id: Mapped[str | None] = mapped_column(sa.String(63))
    actor: Mapped[str] = mapped_column(sa.String(320))
    action: Mapped[str] = mapped_column(sa.String(64))
    target: Mapped[str | None] = mapped_column(sa.String(500))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


def record_audit(
    session: Session,
    access: Access,
    action: str,
    *,
    target: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """One entry, by ``access``'s actor for its tenant (the platform: no tenant)."""
    session.add(
        AuditRecord(
            at=datetime.now(UTC),
            tenant_id=access.tenant_id,
            actor=access.actor[:320],
            action=action,
            target=target[:500] if target else None,
            request_id=request_id,
            details=dict(details or {}),
        )
    )
    session.flush()


def list_audit(
    session: Session,
    access: Access,
    *,
    action: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first, the entries ``access`` sees (a page can hold fewer than ``limit``)."""
    query = sa.select(AuditRecord).where(access.sees(AuditRecord.tenant_id, sa.null()))
    if action is not None:
        query = query.where(AuditRecord.action == action)
    if since is not None:
        query = query.where(AuditRecord.at >= since)
    if before_id is not None:
        query = query.where(AuditRecord.id < before_id)
    query = query.order_by(AuditRecord.id.desc()).limit(limit)
    entries = [
        AuditEntry(
            r.id, r.at, r.tenant_id, r.actor, r.action, r.target, r.request_id, dict(r.details)
        )
        for r in session.scalars(query)
    ]
    return [e for e in entries if access.sees_entry(e.tenant_id, e.details.get("vendor"))]
