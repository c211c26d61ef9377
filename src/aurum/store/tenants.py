"""Tenants and their vendor entitlements (which vendors' curves a tenant may read)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.errors import Conflict, NotFound, StoreError
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "EntitlementRecord", "Tenant", "TenantRecord", "check_tenant_id", "create_tenant",
    "entitle", "get_tenant", "list_tenants",
]  # fmt: skip

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def check_tenant_id(tenant_id: str) -> str:
    """``tenant_id`` if it is a valid tenant id (lowercase letters, digits, dashes; ≤ 63)."""
    if not isinstance(tenant_id, str) or not _TENANT_ID.match(tenant_id):
        raise StoreError(
            "tenant_id_invalid",
            "a tenant id is 1-63 lowercase letters, digits and dashes, starting with a letter"
            " or digit",
        )
    return tenant_id


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    active: bool
    created_at: datetime
    vendors: tuple[str, ...]  # the vendors whose curves the tenant may read


class TenantRecord(Base):
    __tablename__ = "tenant"

    tenant_id: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(sa.Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class EntitlementRecord(Base):
    __tablename__ = "entitlement"

    tenant_id: Mapped[str] = mapped_column(
        sa.String(63), sa.ForeignKey("tenant.tenant_id"), primary_key=True
    )
    vendor: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


def create_tenant(session: Session, tenant_id: str, name: str) -> Tenant:
    check_tenant_id(tenant_id)
    if session.get(TenantRecord, tenant_id) is not None:
        raise Conflict("tenant_exists", f"tenant {tenant_id!r} already exists")
    session.add(
        TenantRecord(tenant_id=tenant_id, name=name, active=True, created_at=datetime.now(UTC))
    )
    session.flush()
    return get_tenant(session, tenant_id)


def get_tenant(session: Session, tenant_id: str) -> Tenant:
    record = session.get(TenantRecord, tenant_id)
    if record is None:
        raise NotFound("tenant_unknown", f"no tenant {tenant_id!r}")
    vendors = session.scalars(
        sa.select(EntitlementRecord.vendor)
        .where(EntitlementRecord.tenant_id == tenant_id)
        .order_by(EntitlementRecord.vendor)
    )
    return Tenant(record.tenant_id, record.name, record.active, record.created_at, tuple(vendors))


def list_tenants(session: Session) -> list[str]:
    return list(session.scalars(sa.select(TenantRecord.tenant_id).order_by(TenantRecord.tenant_id)))


def entitle(session: Session, tenant_id: str, vendors: list[str], *, grant: bool) -> Tenant:
    """Grant (or withdraw) the tenant's right to read these vendors' curves."""
    get_tenant(session, tenant_id)
    for vendor in vendors:
        current = session.get(EntitlementRecord, (tenant_id, vendor))
        if grant and current is None:
            session.add(
                EntitlementRecord(tenant_id=tenant_id, vendor=vendor, granted_at=datetime.now(UTC))
            )
        elif not grant and current is not None:
            session.delete(current)
    session.flush()
    return get_tenant(session, tenant_id)
