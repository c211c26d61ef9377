"""Tenants, their API keys and vendor entitlements, tenant-owned objects, and the audit log.

Every function that touches a tenant-owned row takes the tenant and filters on it (the service
layer's scoping); on PostgreSQL the same rows are also guarded by row-level security keyed on the
transaction's ``app.current_tenant`` (migration 0003), which :class:`~aurum.store.Store` sets at
the start of each scoped transaction. A row of another tenant is answered exactly like a row that
does not exist (``NotFound``), so ids of other tenants reveal nothing.

API keys are ``aurum_<prefix>_<secret>``: the prefix names the key (it is what lists, logs and
revocations show), the secret is 256 random bits kept only as its SHA-256. A fast hash is right
here: the secret is random, not a password, so there is nothing to brute-force with a dictionary,
and the check costs microseconds per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.errors import AuthError, Conflict, NotFound, StoreError
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "DOCUMENT_KINDS", "ROLES", "ApiKey", "AuditEntry", "Document", "DocumentKind", "IssuedKey",
    "ModelRun", "Role", "Tenant", "check_tenant_id",
]  # fmt: skip

Role = Literal["aurum-admin", "aurum-ops", "aurum-analyst"]
ROLES: tuple[Role, ...] = get_args(Role)
DocumentKind = Literal["scenario", "ppa_contract", "curve_def"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = get_args(DocumentKind)

_TENANT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_KEY = re.compile(r"^aurum_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")


def check_tenant_id(tenant_id: str) -> str:
    """``tenant_id`` if it is a valid tenant id (lowercase letters, digits, dashes; ≤ 63)."""
    if not isinstance(tenant_id, str) or not _TENANT_ID.match(tenant_id):
        raise StoreError(
            "tenant_id_invalid",
            "a tenant id is 1-63 lowercase letters, digits and dashes, starting with a letter"
            " or digit",
        )
    return tenant_id


# -- values handed out ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    name: str
    active: bool
    created_at: datetime
    vendors: tuple[str, ...]  # the vendors whose curves the tenant may read


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


@dataclass(frozen=True)
class Document:
    """A tenant-owned scenario, PPA contract or curve definition."""

    id: str
    kind: DocumentKind
    tenant_id: str
    name: str
    description: str
    spec: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Assumption:
    id: str
    scenario_id: str
    tenant_id: str
    name: str
    value: Any
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class ModelRun:
    id: str
    tenant_id: str
    kind: str
    subject_id: str | None
    status: str
    params: dict[str, Any]
    result: Any
    created_by: str
    created_at: datetime
    finished_at: datetime | None


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


# -- tables (created by migration 0003) ----------------------------------------------------------


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


class _Owned:
    """Columns every tenant-owned object has."""

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(
        sa.String(63), sa.ForeignKey("tenant.tenant_id"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    created_by: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class _DocumentColumns(_Owned):
    description: Mapped[str] = mapped_column(sa.Text)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON)


class ScenarioRecord(_DocumentColumns, Base):
    __tablename__ = "scenario"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)


class PpaContractRecord(_DocumentColumns, Base):
    __tablename__ = "ppa_contract"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)


class CurveDefRecord(_DocumentColumns, Base):
    __tablename__ = "curve_def"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name"),)


class AssumptionRecord(_Owned, Base):
    __tablename__ = "assumption"
    __table_args__ = (sa.UniqueConstraint("scenario_id", "name"),)

    scenario_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("scenario.id", ondelete="CASCADE")
    )
    value: Mapped[Any] = mapped_column(sa.JSON)


class ModelRunRecord(_Owned, Base):
    __tablename__ = "model_run"

    kind: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[str | None] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    result: Mapped[Any] = mapped_column(sa.JSON, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class InstrumentRecord(Base):
    """One curve as the lake knows it (synced from the curve identities after publishes)."""

    __tablename__ = "instrument"
    __table_args__ = (sa.Index("ix_instrument_vendor", "vendor"),)

    curve_key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(64))
    identity: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    price_type: Mapped[str | None] = mapped_column(sa.String(64))
    currency: Mapped[str | None] = mapped_column(sa.String(16))
    per_unit: Mapped[str | None] = mapped_column(sa.String(32))
    units_raw: Mapped[str | None] = mapped_column(sa.String(200))
    first_asof: Mapped[date | None] = mapped_column(sa.Date)
    last_asof: Mapped[date | None] = mapped_column(sa.Date)
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime)


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


_O = TypeVar("_O", bound=_Owned)
_DOCUMENTS: Mapping[str, type[_DocumentColumns]] = {
    "scenario": ScenarioRecord, "ppa_contract": PpaContractRecord, "curve_def": CurveDefRecord,
}  # fmt: skip


# -- tenants and entitlements --------------------------------------------------------------------


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


# -- API keys ------------------------------------------------------------------------------------


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
    prefix, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    record = ApiKeyRecord(
        prefix=prefix, tenant_id=tenant_id, role=role, name=name, secret_sha256=_digest(secret),
        created_by=created_by, created_at=now, expires_at=now + expires_in if expires_in else None,
        revoked_at=None,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return IssuedKey(_to_key(record), f"aurum_{prefix}_{secret}")


def key_prefix(token: str) -> str:
    """The prefix of a well-formed key (``""`` otherwise: nothing is looked up)."""
    match = _KEY.match(token)
    return match.group(1) if match else ""


def key_tenant(session: Session, prefix: str) -> str:
    record = session.get(ApiKeyRecord, prefix)
    if record is None:
        raise NotFound("key_unknown", f"no API key {prefix!r}")
    return record.tenant_id


def verify_key(session: Session, token: str, now: datetime) -> ApiKey:
    """The key ``token`` is, if it is valid now; otherwise ``AuthError`` (never echoing it)."""
    match = _KEY.match(token)
    if match is None:
        raise AuthError("key_invalid", "the API key is malformed")
    prefix, secret = match.groups()
    record = session.get(ApiKeyRecord, prefix)
    if record is None or not hmac.compare_digest(record.secret_sha256, _digest(secret)):
        raise AuthError("key_invalid", "the API key is not one this server issued")
    if record.revoked_at is not None:
        raise AuthError("key_revoked", f"API key {prefix} was revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise AuthError("key_expired", f"API key {prefix} expired")
    return _to_key(record)


def revoke_key(session: Session, prefix: str, tenant_id: str | None) -> ApiKey:
    """Revoke a key (of ``tenant_id`` only, when given); revoking twice keeps the first time."""
    record = session.get(ApiKeyRecord, prefix, with_for_update=True)
    if record is None or (tenant_id is not None and record.tenant_id != tenant_id):
        raise NotFound("key_unknown", f"no API key {prefix!r}")
    if record.revoked_at is None:
        record.revoked_at = datetime.now(UTC)
        session.flush()
    return _to_key(record)


def list_keys(session: Session, tenant_id: str | None) -> list[ApiKey]:
    query = sa.select(ApiKeyRecord).order_by(ApiKeyRecord.created_at, ApiKeyRecord.prefix)
    if tenant_id is not None:
        query = query.where(ApiKeyRecord.tenant_id == tenant_id)
    return [_to_key(record) for record in session.scalars(query)]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _to_key(record: ApiKeyRecord) -> ApiKey:
    return ApiKey(
        record.prefix, record.tenant_id, record.role, record.name, record.created_by,  # type: ignore[arg-type]
        record.created_at, record.expires_at, record.revoked_at,
    )  # fmt: skip


# -- tenant-owned documents ----------------------------------------------------------------------


def create_document(
    session: Session,
    kind: DocumentKind,
    tenant_id: str,
    *,
    name: str,
    description: str,
    spec: dict[str, Any],
    created_by: str,
) -> Document:
    model = _DOCUMENTS[kind]
    _unique(session, model, tenant_id, name, kind)
    now = datetime.now(UTC)
    record = model(
        id=uuid.uuid4().hex, tenant_id=tenant_id, name=name, description=description, spec=spec,
        created_by=created_by, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return _to_document(kind, record)


def get_document(session: Session, kind: DocumentKind, tenant_id: str, id_: str) -> Document:
    return _to_document(kind, _owned_record(session, _DOCUMENTS[kind], tenant_id, id_, kind))


def list_documents(
    session: Session, kind: DocumentKind, tenant_id: str, *, limit: int, offset: int
) -> list[Document]:
    model = _DOCUMENTS[kind]
    query = (
        sa.select(model)
        .where(model.tenant_id == tenant_id)
        .order_by(model.created_at, model.id)
        .limit(limit)
        .offset(offset)
    )
    return [_to_document(kind, record) for record in session.scalars(query)]


def update_document(
    session: Session, kind: DocumentKind, tenant_id: str, id_: str, changes: Mapping[str, Any]
) -> Document:
    model = _DOCUMENTS[kind]
    record = _owned_record(session, model, tenant_id, id_, kind)
    if "name" in changes and changes["name"] != record.name:
        _unique(session, model, tenant_id, changes["name"], kind)
    for name in ("name", "description", "spec"):
        if name in changes:
            setattr(record, name, changes[name])
    record.updated_at = datetime.now(UTC)
    session.flush()
    return _to_document(kind, record)


def delete_document(session: Session, kind: DocumentKind, tenant_id: str, id_: str) -> Document:
    record = _owned_record(session, _DOCUMENTS[kind], tenant_id, id_, kind)
    document = _to_document(kind, record)
    if kind == "scenario":  # SQLite enforces ON DELETE CASCADE only with foreign keys on
        session.execute(sa.delete(AssumptionRecord).where(AssumptionRecord.scenario_id == id_))
    session.delete(record)
    session.flush()
    return document


def _owned_record(session: Session, model: type[_O], tenant_id: str, id_: str, kind: str) -> _O:
    record = session.scalars(
        sa.select(model).where(model.id == id_, model.tenant_id == tenant_id)
    ).one_or_none()
    if record is None:  # another tenant's id is answered like one that never existed
        raise NotFound(f"{kind}_unknown", f"no {kind.replace('_', ' ')} {id_!r}")
    return record


def _unique(
    session: Session, model: type[_DocumentColumns], tenant_id: str, name: str, kind: str
) -> None:
    taken = session.scalars(
        sa.select(model.id).where(model.tenant_id == tenant_id, model.name == name)
    ).first()
    if taken is not None:
        raise Conflict(f"{kind}_exists", f"a {kind.replace('_', ' ')} named {name!r} exists")


def _to_document(kind: DocumentKind, record: _DocumentColumns) -> Document:
    return Document(
        record.id, kind, record.tenant_id, record.name, record.description, dict(record.spec),
        record.created_by, record.created_at, record.updated_at,
    )  # fmt: skip


# -- assumptions and model runs ------------------------------------------------------------------


def create_assumption(
    session: Session, tenant_id: str, scenario_id: str, *, name: str, value: Any, created_by: str
) -> Assumption:
    _owned_record(session, ScenarioRecord, tenant_id, scenario_id, "scenario")
    taken = session.scalars(
        sa.select(AssumptionRecord.id).where(
            AssumptionRecord.scenario_id == scenario_id, AssumptionRecord.name == name
        )
    ).first()
    if taken is not None:
        raise Conflict("assumption_exists", f"the scenario has an assumption named {name!r}")
    now = datetime.now(UTC)
    record = AssumptionRecord(
        id=uuid.uuid4().hex, tenant_id=tenant_id, scenario_id=scenario_id, name=name, value=value,
        created_by=created_by, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return _to_assumption(record)


def list_assumptions(session: Session, tenant_id: str, scenario_id: str) -> list[Assumption]:
    _owned_record(session, ScenarioRecord, tenant_id, scenario_id, "scenario")
    query = (
        sa.select(AssumptionRecord)
        .where(AssumptionRecord.tenant_id == tenant_id, AssumptionRecord.scenario_id == scenario_id)
        .order_by(AssumptionRecord.name)
    )
    return [_to_assumption(record) for record in session.scalars(query)]


def _to_assumption(record: AssumptionRecord) -> Assumption:
    return Assumption(
        record.id, record.scenario_id, record.tenant_id, record.name, record.value,
        record.created_by, record.created_at,
    )  # fmt: skip


def create_model_run(
    session: Session,
    tenant_id: str,
    *,
    kind: str,
    subject_id: str | None,
    params: dict[str, Any],
    created_by: str,
) -> ModelRun:
    now = datetime.now(UTC)
    record = ModelRunRecord(
        id=uuid.uuid4().hex, tenant_id=tenant_id, name=f"{kind} {now:%Y-%m-%dT%H:%M:%SZ}",
        kind=kind, subject_id=subject_id, status="queued", params=params, result=None,
        created_by=created_by, created_at=now, updated_at=now, finished_at=None,
    )  # fmt: skip
    session.add(record)
    session.flush()
    return _to_model_run(record)


def get_model_run(session: Session, tenant_id: str, id_: str) -> ModelRun:
    return _to_model_run(_owned_record(session, ModelRunRecord, tenant_id, id_, "model_run"))


def list_model_runs(session: Session, tenant_id: str, *, limit: int, offset: int) -> list[ModelRun]:
    query = (
        sa.select(ModelRunRecord)
        .where(ModelRunRecord.tenant_id == tenant_id)
        .order_by(ModelRunRecord.created_at.desc(), ModelRunRecord.id)
        .limit(limit)
        .offset(offset)
    )
    return [_to_model_run(record) for record in session.scalars(query)]


def _to_model_run(record: ModelRunRecord) -> ModelRun:
    return ModelRun(
        record.id, record.tenant_id, record.kind, record.subject_id, record.status,
        dict(record.params), record.result, record.created_by, record.created_at,
        record.finished_at,
    )  # fmt: skip


# -- audit log -----------------------------------------------------------------------------------


def audit(
    session: Session,
    *,
    tenant_id: str | None,
    actor: str,
    action: str,
    target: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> None:
    record = AuditRecord(
        at=datetime.now(UTC), tenant_id=tenant_id, actor=actor[:320], action=action,
        target=target[:500] if target else None, request_id=request_id,
        details=dict(details or {}),
    )  # fmt: skip
    session.add(record)
    session.flush()


def list_audit(
    session: Session,
    tenant_id: str | None,
    *,
    action: str | None = None,
    since: datetime | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first; ``tenant_id`` sees its own entries and the platform's (no tenant)."""
    query = sa.select(AuditRecord)
    if tenant_id is not None:
        query = query.where(
            sa.or_(AuditRecord.tenant_id == tenant_id, AuditRecord.tenant_id.is_(None))
        )
    if action is not None:
        query = query.where(AuditRecord.action == action)
    if since is not None:
        query = query.where(AuditRecord.at >= since)
    if before_id is not None:
        query = query.where(AuditRecord.id < before_id)
    query = query.order_by(AuditRecord.id.desc()).limit(limit)
    return [
        AuditEntry(
            r.id, r.at, r.tenant_id, r.actor, r.action, r.target, r.request_id, dict(r.details)
        )
        for r in session.scalars(query)
    ]


# -- instruments ---------------------------------------------------------------------------------


def list_instruments(session: Session, vendor: str | None) -> list[dict[str, Any]]:
    query = sa.select(InstrumentRecord).order_by(InstrumentRecord.curve_key)
    if vendor is not None:
        query = query.where(InstrumentRecord.vendor == vendor)
    return [
        {column.key: getattr(record, column.key) for column in InstrumentRecord.__table__.columns}
        for record in session.scalars(query)
    ]


def sync_instruments(session: Session, rows: list[dict[str, Any]]) -> int:
    """Upsert one instrument per curve (``rows`` as ``Curves.instruments`` gives them)."""
    now = datetime.now(UTC)
    known = {record.curve_key: record for record in session.scalars(sa.select(InstrumentRecord))}
    for row in rows:
        record = known.get(row["curve_key"]) or InstrumentRecord(curve_key=row["curve_key"])
        for name, value in row.items():
            setattr(record, name, value)
        record.synced_at = now
        session.add(record)
    session.flush()
    return len(rows)
