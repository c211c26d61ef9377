"""The ingest log: one row per attempt to ingest a file, whatever became of it.

A run starts ``running``, becomes ``staged`` once its day sits on a branch, and ends ``published``,
``duplicate`` (identical content already published) or ``failed``. Runs still ``running`` or
``staged`` long after they started were killed: :func:`stale_runs` finds them.

The functions here work inside a session the :class:`~aurum.store.Store` opens; callers get
:class:`IngestRun` values, never ORM objects.
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from numbers import Integral, Real
from typing import Any, Literal, get_args, get_origin, get_type_hints

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.errors import NotFound, StoreError
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "ACTIVE_STATUSES",
    "RUN_STATUSES",
    "IngestRun",
    "IngestRunRecord",
    "RunStatus",
    "Viewer",
    "get_run",
    "list_runs",
    "stale_runs",
    "start_run",
    "update_run",
    "visible_run_ids",
]

RunStatus = Literal["running", "staged", "published", "failed", "duplicate"]
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
ACTIVE_STATUSES: tuple[RunStatus, ...] = ("running", "staged")


@dataclass(frozen=True)
class IngestRun:
    """One ingest run as recorded; timestamps are timezone-aware UTC."""

    run_id: str
    file: str
    sha256: str | None
    vendor: str | None
    asof: date | None
    status: RunStatus
    branch: str | None
    snapshot_id: int | None
    tag: str | None
    version: int | None
    rows: int | None
    quarantined: int | None
    price_cells: int | None
    published_cells: int | None
    quarantined_cells: int | None
    copy_cells: int | None
    dead_letter_cells: int | None
    parse_seconds: float | None
    publish_seconds: float | None
    error_code: str | None
    error_message: str | None
    gate_failures: list[str]
    started_at: datetime
    finished_at: datetime | None
    tenant_id: str | None = None  # who asked for the run (None: the platform, e.g. a watcher)
    requested_by: str | None = None
    request_id: str | None = None


class IngestRunRecord(Base):
    """The ``ingest_run`` table (created by migration 0001)."""

    __tablename__ = "ingest_run"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in RUN_STATUSES)), name="status"
        ),
        sa.Index("ix_ingest_run_vendor_asof", "vendor", "asof"),
        sa.Index("ix_ingest_run_status", "status"),
        sa.Index("ix_ingest_run_started_at", "started_at"),
        sa.Index("ix_ingest_run_sha256", "sha256"),
    )

    run_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    file: Mapped[str] = mapped_column(sa.Text)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    vendor: Mapped[str | None] = mapped_column(sa.String(64))
    asof: Mapped[date | None] = mapped_column(sa.Date)
    status: Mapped[str] = mapped_column(sa.String(16))
    branch: Mapped[str | None] = mapped_column(sa.String(255))
    snapshot_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    tag: Mapped[str | None] = mapped_column(sa.String(255))
    version: Mapped[int | None] = mapped_column(sa.Integer)
    rows: Mapped[int | None] = mapped_column(sa.BigInteger)
    quarantined: Mapped[int | None] = mapped_column(sa.BigInteger)
    price_cells: Mapped[int | None] = mapped_column(sa.BigInteger)
    published_cells: Mapped[int | None] = mapped_column(sa.BigInteger)
    quarantined_cells: Mapped[int | None] = mapped_column(sa.BigInteger)
    copy_cells: Mapped[int | None] = mapped_column(sa.BigInteger)
    dead_letter_cells: Mapped[int | None] = mapped_column(sa.BigInteger)
    parse_seconds: Mapped[float | None] = mapped_column(sa.Float)
    publish_seconds: Mapped[float | None] = mapped_column(sa.Float)
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    gate_failures: Mapped[list[str]] = mapped_column(sa.JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    tenant_id: Mapped[str | None] = mapped_column(sa.String(63))
    requested_by: Mapped[str | None] = mapped_column(sa.String(320))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))


_HINTS: Mapping[str, Any] = get_type_hints(IngestRun)
# Set by start_run and never changed afterwards.
_IMMUTABLE = frozenset({"run_id", "started_at"})


def start_run(
    session: Session, *, file: str, sha256: str | None, vendor: str | None, asof: date | None
) -> IngestRun:
    values = {"file": file, "sha256": sha256, "vendor": vendor, "asof": asof}
    record = IngestRunRecord(
        run_id=uuid.uuid4().hex,
        status="running",
        gate_failures=[],
        started_at=datetime.now(UTC),
        **{name: _coerce(name, value) for name, value in values.items()},
    )
    session.add(record)
    session.flush()
    return _to_run(record)


def update_run(session: Session, run_id: str, changes: Mapping[str, Any]) -> IngestRun:
    """Set ``changes`` (column name → value) on a run; every name and value is checked first."""
    immutable = sorted(_IMMUTABLE & changes.keys())
    if immutable:
        raise StoreError(
            "column_immutable", f"ingest runs cannot change {immutable}", columns=immutable
        )
    values = {name: _coerce(name, value) for name, value in changes.items()}
    record = session.get(IngestRunRecord, run_id, with_for_update=True)
    if record is None:
        raise NotFound("run_not_found", f"no ingest run {run_id!r}", run_id=run_id)
    for name, value in values.items():
        setattr(record, name, value)
    session.flush()
    return _to_run(record)


@dataclass(frozen=True)
class Viewer:
    """Whose view of the ingest log: a tenant sees the platform's runs (no tenant) and its own,
    of the vendors it is entitled to (``None``: every vendor) and of files of no known vendor."""

    tenant_id: str
    vendors: frozenset[str] | None = None

    def where(self) -> list[sa.ColumnElement[bool]]:
        conditions = [
            sa.or_(IngestRunRecord.tenant_id.is_(None), IngestRunRecord.tenant_id == self.tenant_id)
        ]
        if self.vendors is not None:
            conditions.append(
                sa.or_(IngestRunRecord.vendor.is_(None), IngestRunRecord.vendor.in_(self.vendors))
            )
        return conditions


def get_run(session: Session, run_id: str, viewer: Viewer | None = None) -> IngestRun:
    query = sa.select(IngestRunRecord).where(IngestRunRecord.run_id == run_id)
    if viewer is not None:
        query = query.where(*viewer.where())
    record = session.scalars(query).one_or_none()
    if record is None:  # another tenant's run is answered like one that never existed
        raise NotFound("run_not_found", f"no ingest run {run_id!r}", run_id=run_id)
    return _to_run(record)


def list_runs(
    session: Session,
    *,
    vendor: str | None = None,
    asof: date | None = None,
    status: str | None = None,
    sha256: str | None = None,
    limit: int = 100,
    viewer: Viewer | None = None,
) -> list[IngestRun]:
    """Runs matching every given filter (and visible to ``viewer``), newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise StoreError("limit_invalid", f"limit must be a positive integer, not {limit!r}")
    query = sa.select(IngestRunRecord)
    if viewer is not None:
        query = query.where(*viewer.where())
    if vendor is not None:
        query = query.where(IngestRunRecord.vendor == vendor)
    if asof is not None:
        query = query.where(IngestRunRecord.asof == _coerce("asof", asof))
    if status is not None:
        query = query.where(IngestRunRecord.status == _coerce("status", status))
    if sha256 is not None:
        query = query.where(IngestRunRecord.sha256 == sha256)
    query = query.order_by(IngestRunRecord.started_at.desc(), IngestRunRecord.run_id.desc())
    return [_to_run(record) for record in session.scalars(query.limit(limit))]


def visible_run_ids(session: Session, run_ids: Iterable[str], viewer: Viewer) -> set[str]:
    """Those of ``run_ids`` that ``viewer`` may see (unknown ids are not)."""
    wanted = sorted(set(run_ids))
    visible: set[str] = set()
    for start in range(0, len(wanted), 500):
        query = sa.select(IngestRunRecord.run_id).where(
            IngestRunRecord.run_id.in_(wanted[start : start + 500]), *viewer.where()
        )
        visible.update(session.scalars(query))
    return visible


def stale_runs(session: Session, *, older_than: timedelta) -> list[IngestRun]:
    """Runs still ``running`` or ``staged`` that started over ``older_than`` ago, oldest first."""
    cutoff = datetime.now(UTC) - older_than
    query = (
        sa.select(IngestRunRecord)
        .where(IngestRunRecord.status.in_(ACTIVE_STATUSES), IngestRunRecord.started_at < cutoff)
        .order_by(IngestRunRecord.started_at, IngestRunRecord.run_id)
    )
    return [_to_run(record) for record in session.scalars(query)]


def _to_run(record: IngestRunRecord) -> IngestRun:
    values = {field.name: getattr(record, field.name) for field in fields(IngestRun)}
    values["gate_failures"] = list(values["gate_failures"] or [])
    return IngestRun(**values)


def _coerce(name: str, value: Any) -> Any:
    """``value`` as column ``name`` stores it, or a :class:`StoreError` saying what is wrong."""
    hint = _HINTS.get(name)
    if hint is None:
        raise StoreError("column_unknown", f"ingest runs have no column {name!r}", column=name)
    options = get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if value is None:
        if type(None) in options:
            return None
        raise StoreError("value_invalid", f"{name} cannot be None", column=name)
    kind = next(option for option in options if option is not type(None))

    def invalid(expected: str) -> StoreError:
        return StoreError("value_invalid", f"{name} must be {expected}, not {value!r}", column=name)

    if get_origin(kind) is Literal:
        if value not in get_args(kind):
            raise StoreError(
                "status_invalid",
                f"{name} must be one of {list(get_args(kind))}, not {value!r}",
                column=name,
                value=str(value),
            )
        return value
    if kind is str:
        if not isinstance(value, str):
            raise invalid("text")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise invalid("an integer")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, Real):
            raise invalid("a number")
        return float(value)
    if kind is datetime:
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise invalid("a timezone-aware datetime")
        return value.astimezone(UTC)
    if kind is date:
        if isinstance(value, datetime) or not isinstance(value, date):
            raise invalid("a date")
        return value
    if get_origin(kind) is list:
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise invalid("a list of strings")
        return list(value)
    raise AssertionError(f"no rule for {name}: {kind!r}")  # a new IngestRun field needs one
