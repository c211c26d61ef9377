"""The store's side of API keys: rows of prefix, tenant, role and the secret's digest (the key
format and the digest are ``aurum.auth.keys``'s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.auth.keys import matches, new_key, parse_key
from aurum.auth.roles import ROLES, Role
from aurum.errors import AuthError, Conflict, NotFound, StoreError
from aurum.store.base import Base, UTCDateTime
from aurum.store.tenants import get_tenant

__all__ = [
    "ApiKey", "ApiKeyRecord", "IssuedKey", "create_key", "key_tenant", "list_keys", "revoke_key",
    "verify_key",
]  # fmt: skip


@dataclass(frozen=True)
class ApiKey:
    prefix: str
    tenant_id: str
    role: Role
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class IssuedKey:
    """A new key: ``token`` is shown once and never stored."""

    key: ApiKey
    token: str


class ApiKeyRecord(Base):
    __tablename__ = "api_key"
    __table_args__ = (sa.Index("ix_api_key_tenant_id", "tenant_id"),)

    prefix: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(63), sa.ForeignKey("tenant.tenant_id"))
    role: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(200))
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))
    created_by: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


def create_key(
    session: Session,
    *,
    tenant_id: str,
    role: str,
    name: str,
    created_by: str,
    expires_in: timedelta | None,
) -> IssuedKey:
    if role not in ROLES:
        raise StoreError("role_invalid", f"role must be one of {', '.join(ROLES)}, not {role!r}")
    tenant = get_tenant(session, tenant_id)
    if not tenant.active:
        raise Conflict("tenant_inactive", f"tenant {tenant_id!r} is not active")
    token, prefix, digest = new_key()
    now = datetime.now(UTC)
    record = ApiKeyRecord(
        prefix=prefix, tenant_id=tenant_id, role=role, name=name, secret_sha256=digest,
        created_by=created_by, created_at=now, expires_at=now + expires_in if expires_in else None,
        revoked_at=None,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return IssuedKey(_to_key(record), token)


def key_tenant(session: Session, prefix: str) -> str:
    record = session.get(ApiKeyRecord, prefix)
    if record is None:
        raise NotFound("key_unknown", f"no API key {prefix!r}")
    return record.tenant_id


def verify_key(session: Session, token: str, now: datetime) -> ApiKey:
    """The key ``token`` is, if it is valid now; otherwise ``AuthError`` (never echoing it)."""
    parsed = parse_key(token)
    if parsed is None:
        raise AuthError("key_invalid", "the API key is malformed")
    prefix, secret = parsed
    record = session.get(ApiKeyRecord, prefix)
    if record is None or not matches(record.secret_sha256, secret):
        raise AuthError("key_invalid", "the API key is not one this server issued")
    if record.revoked_at is not None:
        raise AuthError("key_revoked", f"API key {prefix} was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthError("key_expired", f"API key {prefix} expired")
    return _to_key(record)


def revoke_key(session: Session, access: Access, prefix: str) -> ApiKey:
    """Revoke a key ``access`` owns (the platform: any); revoking twice keeps the first time."""
    record = session.scalars(
        sa.select(ApiKeyRecord)
        .where(ApiKeyRecord.prefix == prefix, access.owns(ApiKeyRecord.tenant_id))
        .with_for_update()
    ).one_or_none()
    if record is None:
        raise NotFound("key_unknown", f"no API key {prefix!r}")
    if record.revoked_at is None:
        record.revoked_at = datetime.now(UTC)
        session.flush()
    return _to_key(record)


def list_keys(session: Session, access: Access) -> list[ApiKey]:
    query = (
        sa.select(ApiKeyRecord)
        .where(access.owns(ApiKeyRecord.tenant_id))
        .order_by(ApiKeyRecord.created_at, ApiKeyRecord.prefix)
    )
    return [_to_key(record) for record in session.scalars(query)]


def _to_key(record: ApiKeyRecord) -> ApiKey:
    return ApiKey(
        record.prefix, record.tenant_id, record.role, record.name, record.created_by,  # type: ignore[arg-type]
        record.created_at, record.expires_at, record.revoked_at,
    )  # fmt: skip
