"""Tenant-owned documents: scenarios (with their assumptions), PPA contracts, curve definitions.

A PPA contract is versioned too: each create or change records a ``ppa_contract_version`` row
with its terms as they then are, so a valuation names the exact terms it valued.

A scenario is versioned: creating it, changing it, and adding, replacing or removing one of its
assumptions each records a new ``scenario_version`` row holding the whole scenario as it then
is (settings and assumptions, in order), so a run names an exact version and any version can
be read back. What a scenario's spec and assumptions *mean* is ``aurum.scenarios``' to check;
the store keeps them as JSON.

Every function takes the caller's :class:`~aurum.auth.access.Access` and reads and writes only
rows it owns (``Access.owns``); on PostgreSQL row-level security guards the same rows again. A
row of another tenant is answered exactly like a row that does not exist (``NotFound``), so ids
of other tenants reveal nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar, get_args

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.errors import Conflict, Forbidden, NotFound
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "DOCUMENT_KINDS",
    "Assumption",
    "ContractVersion",
    "Document",
    "DocumentKind",
    "ScenarioVersion",
    "contract_version",
    "create_assumption",
    "create_document",
    "delete_assumption",
    "delete_document",
    "get_document",
    "list_assumptions",
    "list_contract_versions",
    "list_documents",
    "list_scenario_versions",
    "scenario_version",
    "update_assumption",
    "update_document",
]  # fmt: skip

DocumentKind = Literal["scenario", "ppa_contract", "curve_def"]
DOCUMENT_KINDS: tuple[DocumentKind, ...] = get_args(DocumentKind)


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
    version: int | None = None  # a scenario's or contract's current version (curve defs: none)


@dataclass(frozen=True)
class ScenarioVersion:
    """A scenario as it was at one version: ``spec`` holds ``settings`` and ``assumptions``
    (a list of ``{name, value}`` in order)."""

    scenario_id: str
    tenant_id: str
    version: int
    spec: dict[str, Any]
    change: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class ContractVersion:
    """A PPA contract's terms as they were at one version."""

    contract_id: str
    tenant_id: str
    version: int
    name: str
    spec: dict[str, Any]
    change: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class Assumption:
    id: str
    scenario_id: str
    tenant_id: str
    name: str
    value: Any
    created_by: str
    created_at: datetime


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
    position: Mapped[int | None] = mapped_column(sa.Integer)


class ScenarioVersionRecord(Base):
    __tablename__ = "scenario_version"
    __table_args__ = (sa.UniqueConstraint("scenario_id", "version"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    scenario_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("scenario.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[str] = mapped_column(
        sa.String(63), sa.ForeignKey("tenant.tenant_id"), index=True
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    change: Mapped[str] = mapped_column(sa.String(200))
    created_by: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ContractVersionRecord(Base):
    __tablename__ = "ppa_contract_version"
    __table_args__ = (sa.UniqueConstraint("contract_id", "version"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    contract_id: Mapped[str] = mapped_column(
        sa.String(32), sa.ForeignKey("ppa_contract.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[str] = mapped_column(
        sa.String(63), sa.ForeignKey("tenant.tenant_id"), index=True
    )
    version: Mapped[int] = mapped_column(sa.Integer)
    name: Mapped[str] = mapped_column(sa.String(200))
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    change: Mapped[str] = mapped_column(sa.String(200))
    created_by: Mapped[str] = mapped_column(sa.String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


_O = TypeVar("_O", bound=_Owned)
# The versioned kinds: their version table and its column naming the document.
_VERSIONS: Mapping[str, tuple[Any, Any]] = {
    "scenario": (ScenarioVersionRecord, ScenarioVersionRecord.scenario_id),
    "ppa_contract": (ContractVersionRecord, ContractVersionRecord.contract_id),
}
_DOCUMENTS: Mapping[str, type[_DocumentColumns]] = {
    "scenario": ScenarioRecord, "ppa_contract": PpaContractRecord, "curve_def": CurveDefRecord,
}  # fmt: skip


def create_document(
    session: Session,
    access: Access,
    kind: DocumentKind,
    *,
    name: str,
    description: str,
    spec: dict[str, Any],
    assumptions: Sequence[tuple[str, Any]] = (),
) -> Document:
    """A new document; a scenario with its first ``assumptions`` (name, value), in order, as
    its version 1."""
    tenant_id = _tenant(access)
    model = _DOCUMENTS[kind]
    _unique(session, access, model, name, kind)
    now = datetime.now(UTC)
    record = model(
        id=uuid.uuid4().hex, tenant_id=tenant_id, name=name, description=description, spec=spec,
        created_by=access.actor, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(record)
    session.flush()
    if assumptions and kind != "scenario":
        raise Conflict("assumptions_unsupported", "only a scenario has assumptions")
    if len({name for name, _ in assumptions}) != len(assumptions):
        raise Conflict("assumption_exists", "two assumptions have the same name")
    for position, (name, value) in enumerate(assumptions):
        session.add(AssumptionRecord(
            id=uuid.uuid4().hex, tenant_id=tenant_id, scenario_id=record.id, name=name,
            value=value, created_by=access.actor, created_at=now, updated_at=now,
            position=position,
        ))  # fmt: skip
    session.flush()
    if kind == "scenario":
        _new_version(session, access, record, "created")
    elif kind == "ppa_contract":
        _new_contract_version(session, access, record, "created")
    return _to_document(kind, record, session)


def get_document(session: Session, access: Access, kind: DocumentKind, id_: str) -> Document:
    return _to_document(
        kind, _owned_record(session, access, _DOCUMENTS[kind], id_, kind), session
    )


def list_documents(
    session: Session, access: Access, kind: DocumentKind, *, limit: int, offset: int
) -> list[Document]:
    model = _DOCUMENTS[kind]
    query = (
        sa.select(model)
        .where(access.owns(model.tenant_id))
        .order_by(model.created_at, model.id)
        .limit(limit)
        .offset(offset)
    )
    return [_to_document(kind, record, session) for record in session.scalars(query)]


def update_document(
    session: Session, access: Access, kind: DocumentKind, id_: str, changes: Mapping[str, Any]
) -> Document:
    model = _DOCUMENTS[kind]
    record = _owned_record(session, access, model, id_, kind)
    if "name" in changes and changes["name"] != record.name:
        _unique(session, access, model, changes["name"], kind)
    for name in ("name", "description", "spec"):
        if name in changes:
            setattr(record, name, changes[name])
    record.updated_at = datetime.now(UTC)
    session.flush()
    if kind == "scenario":
        _new_version(session, access, record, "changed " + ", ".join(sorted(changes)))
    elif kind == "ppa_contract":
        _new_contract_version(session, access, record, "changed " + ", ".join(sorted(changes)))
    return _to_document(kind, record, session)


def delete_document(session: Session, access: Access, kind: DocumentKind, id_: str) -> Document:
    record = _owned_record(session, access, _DOCUMENTS[kind], id_, kind)
    document = _to_document(kind, record)
    if kind == "scenario":  # SQLite enforces ON DELETE CASCADE only with foreign keys on
        session.execute(sa.delete(AssumptionRecord).where(AssumptionRecord.scenario_id == id_))
        session.execute(
            sa.delete(ScenarioVersionRecord).where(ScenarioVersionRecord.scenario_id == id_)
        )
    if kind == "ppa_contract":
        session.execute(
            sa.delete(ContractVersionRecord).where(ContractVersionRecord.contract_id == id_)
        )
    session.delete(record)
    session.flush()
    return document


def create_assumption(
    session: Session, access: Access, scenario_id: str, *, name: str, value: Any
) -> Assumption:
    scenario = _owned_record(session, access, ScenarioRecord, scenario_id, "scenario")
    taken = session.scalars(
        sa.select(AssumptionRecord.id).where(
            AssumptionRecord.scenario_id == scenario_id, AssumptionRecord.name == name
        )
    ).first()
    if taken is not None:
        raise Conflict("assumption_exists", f"the scenario has an assumption named {name!r}")
    now = datetime.now(UTC)
    last = session.scalar(
        sa.select(sa.func.max(AssumptionRecord.position)).where(
            AssumptionRecord.scenario_id == scenario_id
        )
    )
    record = AssumptionRecord(
        id=uuid.uuid4().hex, tenant_id=scenario.tenant_id, scenario_id=scenario_id, name=name,
        value=value, created_by=access.actor, created_at=now, updated_at=now,
        position=(last + 1) if last is not None else 0,
    )  # fmt: skip
    session.add(record)
    session.flush()
    _new_version(session, access, scenario, f"added assumption {name}")
    return _to_assumption(record)


def update_assumption(
    session: Session, access: Access, scenario_id: str, name: str, *, value: Any
) -> Assumption:
    """Replace the value of a scenario's assumption ``name`` (it keeps its place)."""
    scenario = _owned_record(session, access, ScenarioRecord, scenario_id, "scenario")
    record = _assumption(session, access, scenario_id, name)
    record.value, record.updated_at = value, datetime.now(UTC)
    session.flush()
    _new_version(session, access, scenario, f"changed assumption {name}")
    return _to_assumption(record)


def delete_assumption(session: Session, access: Access, scenario_id: str, name: str) -> Assumption:
    scenario = _owned_record(session, access, ScenarioRecord, scenario_id, "scenario")
    record = _assumption(session, access, scenario_id, name)
    gone = _to_assumption(record)
    session.delete(record)
    session.flush()
    _new_version(session, access, scenario, f"removed assumption {name}")
    return gone


def scenario_version(
    session: Session, access: Access, scenario_id: str, version: int | None = None
) -> ScenarioVersion:
    """One version of a scenario (default: its current one)."""
    return _to_version(_one_version(session, access, "scenario", scenario_id, version))


def list_scenario_versions(
    session: Session, access: Access, scenario_id: str, *, limit: int = 100, offset: int = 0
) -> list[ScenarioVersion]:
    """A scenario's versions, newest first."""
    query = _versions(session, access, "scenario", scenario_id).limit(limit).offset(offset)
    return [_to_version(record) for record in session.scalars(query)]


def contract_version(
    session: Session, access: Access, contract_id: str, version: int | None = None
) -> ContractVersion:
    """One version of a PPA contract's terms (default: its current one)."""
    return _to_contract_version(
        _one_version(session, access, "ppa_contract", contract_id, version)
    )


def list_contract_versions(
    session: Session, access: Access, contract_id: str, *, limit: int = 100, offset: int = 0
) -> list[ContractVersion]:
    """A contract's versions, newest first."""
    query = _versions(session, access, "ppa_contract", contract_id).limit(limit).offset(offset)
    return [_to_contract_version(record) for record in session.scalars(query)]


def _versions(session: Session, access: Access, kind: DocumentKind, owner_id: str) -> Any:
    """The versions of a document of the caller's, newest first (404 for anyone else's)."""
    _owned_record(session, access, _DOCUMENTS[kind], owner_id, kind)
    model, owner = _VERSIONS[kind]
    return (
        sa.select(model)
        .where(owner == owner_id, access.owns(model.tenant_id))
        .order_by(model.version.desc())
    )


def _one_version(
    session: Session, access: Access, kind: DocumentKind, owner_id: str, version: int | None
) -> Any:
    model, _ = _VERSIONS[kind]
    query = _versions(session, access, kind, owner_id)
    if version is not None:
        query = query.where(model.version == version)
    record = session.scalars(query.limit(1)).one_or_none()
    if record is None:
        raise NotFound(
            f"{kind}_version_unknown",
            f"{kind.replace('_', ' ')} {owner_id!r} has no version {version}",
        )
    return record


def _latest_version(session: Session, kind: DocumentKind, owner_id: str) -> int | None:
    model, owner = _VERSIONS[kind]
    found: int | None = session.scalar(
        sa.select(sa.func.max(model.version)).where(owner == owner_id)
    )
    return found


def list_assumptions(session: Session, access: Access, scenario_id: str) -> list[Assumption]:
    _owned_record(session, access, ScenarioRecord, scenario_id, "scenario")
    query = (
        sa.select(AssumptionRecord)
        .where(access.owns(AssumptionRecord.tenant_id), AssumptionRecord.scenario_id == scenario_id)
        .order_by(AssumptionRecord.position, AssumptionRecord.name)
    )
    return [_to_assumption(record) for record in session.scalars(query)]


def _tenant(access: Access) -> str:
    if access.tenant_id is None:
        raise Forbidden("tenant_required", "documents belong to a tenant: act as one")
    return access.tenant_id


def _owned_record(session: Session, access: Access, model: type[_O], id_: str, kind: str) -> _O:
    record = session.scalars(
        sa.select(model).where(model.id == id_, access.owns(model.tenant_id))
    ).one_or_none()
    if record is None:  # another tenant's id is answered like one that never existed
        raise NotFound(f"{kind}_unknown", f"no {kind.replace('_', ' ')} {id_!r}")
    return record


def _unique(
    session: Session, access: Access, model: type[_DocumentColumns], name: str, kind: str
) -> None:
    taken = session.scalars(
        sa.select(model.id).where(access.owns(model.tenant_id), model.name == name)
    ).first()
    if taken is not None:
        raise Conflict(f"{kind}_exists", f"a {kind.replace('_', ' ')} named {name!r} exists")


def _assumption(session: Session, access: Access, scenario_id: str, name: str) -> AssumptionRecord:
    record = session.scalars(
        sa.select(AssumptionRecord).where(
            AssumptionRecord.scenario_id == scenario_id, AssumptionRecord.name == name,
            access.owns(AssumptionRecord.tenant_id),
        )
    ).one_or_none()
    if record is None:
        raise NotFound("assumption_unknown", f"the scenario has no assumption named {name!r}")
    return record


def _new_version(session: Session, access: Access, scenario: ScenarioRecord, change: str) -> int:
    """Record the scenario as it now is as its next version."""
    assumptions = session.scalars(
        sa.select(AssumptionRecord)
        .where(AssumptionRecord.scenario_id == scenario.id)
        .order_by(AssumptionRecord.position, AssumptionRecord.name)
    )
    version = (_latest_version(session, "scenario", scenario.id) or 0) + 1
    spec = {
        "name": scenario.name,
        "settings": dict(scenario.spec),
        "assumptions": [{"name": a.name, "value": a.value} for a in assumptions],
    }
    session.add(
        ScenarioVersionRecord(
            id=uuid.uuid4().hex, scenario_id=scenario.id, tenant_id=scenario.tenant_id,
            version=version, spec=spec, change=change[:200], created_by=access.actor,
            created_at=datetime.now(UTC),
        )
    )
    session.flush()
    return version


def _new_contract_version(
    session: Session, access: Access, contract: PpaContractRecord, change: str
) -> int:
    """Record the contract's terms as they now are as its next version."""
    version = (_latest_version(session, "ppa_contract", contract.id) or 0) + 1
    session.add(
        ContractVersionRecord(
            id=uuid.uuid4().hex, contract_id=contract.id, tenant_id=contract.tenant_id,
            version=version, name=contract.name, spec=dict(contract.spec), change=change[:200],
            created_by=access.actor, created_at=datetime.now(UTC),
        )
    )
    session.flush()
    return version


def _to_contract_version(record: ContractVersionRecord) -> ContractVersion:
    return ContractVersion(
        record.contract_id, record.tenant_id, record.version, record.name, dict(record.spec),
        record.change, record.created_by, record.created_at,
    )  # fmt: skip


def _to_document(
    kind: DocumentKind, record: _DocumentColumns, session: Session | None = None
) -> Document:
    version = (
        _latest_version(session, kind, record.id)
        if kind in _VERSIONS and session is not None else None
    )  # fmt: skip
    return Document(
        record.id, kind, record.tenant_id, record.name, record.description, dict(record.spec),
        record.created_by, record.created_at, record.updated_at, version,
    )  # fmt: skip


def _to_version(record: ScenarioVersionRecord) -> ScenarioVersion:
    return ScenarioVersion(
        record.scenario_id, record.tenant_id, record.version, dict(record.spec), record.change,
        record.created_by, record.created_at,
    )  # fmt: skip


def _to_assumption(record: AssumptionRecord) -> Assumption:
    return Assumption(
        record.id, record.scenario_id, record.tenant_id, record.name, record.value,
        record.created_by, record.created_at,
    )  # fmt: skip
