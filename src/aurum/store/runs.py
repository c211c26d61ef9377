"""Runs: one row per ingest, feed load, scenario run or valuation, and the work queue they share.

A run moves through one lifecycle, defined here once::

    queued ──claim──▶ running ──▶ staged ──▶ published | duplicate | failed | cancelled
     │  ▲                │           │
     │  └──── retry ─────┴───────────┘     a crash or a dead worker, attempts left
     └──── cancel ──▶ cancelled            (running or staged: failed | cancelled too)

``queued`` runs wait for a worker (:func:`claim_queued`), none before its ``available_at`` (a
retry's backoff); a run that writes a dataset ends ``published`` (its version is in the lake) or
``duplicate`` (that content was already there). A run taken from the queue goes back to it when
its worker crashes or dies (``attempts`` counts the claims), and a running one asked to stop
keeps ``cancel_requested`` until its worker sees it; its worker reports ``progress`` meanwhile.
While a run is ``running`` or ``staged`` it holds a **lease**: its owner renews
``lease_expires_at`` with a heartbeat, and only a run whose lease has expired is taken over by
recovery (:func:`claim_expired`), atomically (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
single writer lock does the same), so two recovering processes never take the same run and a long
run is never taken for dead.

A run without a tenant is the platform's (the CLI, the watcher); which runs a caller sees is the
access policy's to say (``Access.sees``), and on PostgreSQL row-level security says it again.
Counts and timings that only some kinds have (an ingest's conservation report, a scenario's
paths) live in ``result``.

The functions here work inside a transaction (``Store.transaction``); callers get :class:`Run`
values, never ORM objects.
"""

from __future__ import annotations

import types
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from numbers import Integral
from typing import Any, Literal, get_args, get_origin, get_type_hints

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.errors import NotFound, StoreError
from aurum.store.base import Base, UTCDateTime

__all__ = [
    "ACTIVE_STATUSES", "FINAL_STATUSES", "RUN_KINDS", "RUN_STATUSES", "Run", "RunKind", "RunRecord",
    "RunStatus", "claim_expired", "claim_queued", "get_run", "heartbeat", "list_runs", "start_run",
    "update_run", "visible_run_ids",
]  # fmt: skip

RunKind = Literal["ingest", "feed_load", "scenario_run", "valuation"]
RunStatus = Literal[
    "queued", "running", "staged", "published", "duplicate", "failed", "cancelled"
]  # fmt: skip
RUN_KINDS: tuple[RunKind, ...] = get_args(RunKind)
RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
ACTIVE_STATUSES: tuple[RunStatus, ...] = ("running", "staged")
FINAL_STATUSES: tuple[RunStatus, ...] = ("published", "duplicate", "failed", "cancelled")


@dataclass(frozen=True)
class Run:
    """One run as recorded; timestamps are timezone-aware UTC."""

    run_id: str
    kind: RunKind
    status: RunStatus
    subject: str  # what it works on: a file name, a scenario id, a feed
    tenant_id: str | None  # None: the platform's (CLI, watcher)
    requested_by: str | None
    request_id: str | None
    dataset: str | None  # the dataset it writes
    partition: dict[str, Any] | None  # the partition it writes (dates as YYYY-MM-DD)
    vendor: str | None
    asof: date | None
    sha256: str | None
    params: dict[str, Any]
    result: dict[str, Any]
    snapshot_id: int | None
    tag: str | None
    version: int | None
    branch: str | None
    error_code: str | None
    error_message: str | None
    gate_failures: list[str]
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempts: int
    available_at: datetime | None = None  # a queued run is not claimed before (retry backoff)
    cancel_requested: bool = False  # its worker stops at the next checkpoint
    progress: dict[str, Any] | None = None  # what its worker reports: done, total, stage, at


class RunRecord(Base):
    """The ``run`` table (migration 0005; 0006 added ``available_at``, ``cancel_requested``,
    ``progress``)."""

    __tablename__ = "run"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in RUN_STATUSES)), name="status"
        ),
        sa.CheckConstraint(
            "kind IN ({})".format(", ".join(f"'{k}'" for k in RUN_KINDS)), name="kind"
        ),
        sa.Index("ix_run_vendor_asof", "vendor", "asof"),
        sa.Index("ix_run_status_lease", "status", "lease_expires_at"),
        sa.Index("ix_run_kind_status", "kind", "status"),
        sa.Index("ix_run_queued_at", "queued_at"),
        sa.Index("ix_run_sha256", "sha256"),
        sa.Index("ix_run_tenant_id", "tenant_id"),
    )

    run_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    subject: Mapped[str] = mapped_column(sa.Text)
    tenant_id: Mapped[str | None] = mapped_column(sa.String(63))
    requested_by: Mapped[str | None] = mapped_column(sa.String(320))
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    dataset: Mapped[str | None] = mapped_column(sa.String(63))
    partition: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    vendor: Mapped[str | None] = mapped_column(sa.String(64))
    asof: Mapped[date | None] = mapped_column(sa.Date)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    result: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    snapshot_id: Mapped[int | None] = mapped_column(sa.BigInteger)
    tag: Mapped[str | None] = mapped_column(sa.String(255))
    version: Mapped[int | None] = mapped_column(sa.Integer)
    branch: Mapped[str | None] = mapped_column(sa.String(255))
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_message: Mapped[str | None] = mapped_column(sa.Text)
    gate_failures: Mapped[list[str]] = mapped_column(sa.JSON)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer)
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, server_default=sa.false()
    )
    progress: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)


_HINTS: Mapping[str, Any] = get_type_hints(Run)
# Set when the run is recorded and never changed afterwards.
_IMMUTABLE = frozenset({"run_id", "kind", "queued_at", "tenant_id", "requested_by"})


def start_run(
    session: Session,
    access: Access,
    kind: RunKind,
    *,
    subject: str,
    queued: bool = False,
    lease: tuple[str, timedelta] | None = None,
    request_id: str | None = None,
    **values: Any,
) -> Run:
    """Record a new run of ``access``'s tenant (or the platform's): ``running`` with a lease
    (owner, duration), or ``queued`` for a worker to claim."""
    now = datetime.now(UTC)
    owner, duration = lease if lease is not None else (None, None)
    if not queued and lease is None:
        raise StoreError("lease_missing", "a running run holds a lease: give its owner")
    defaults: dict[str, Any] = {"params": {}, "result": {}, "gate_failures": []}
    record = RunRecord(
        run_id=uuid.uuid4().hex, kind=_coerce("kind", kind),
        status="queued" if queued else "running", subject=subject,
        tenant_id=access.tenant_id, requested_by=access.actor, request_id=request_id,
        queued_at=now, started_at=None if queued else now,
        heartbeat_at=None if queued else now, lease_owner=owner,
        lease_expires_at=now + duration if duration else None, attempts=0 if queued else 1,
        **{**defaults, **{name: _coerce(name, value) for name, value in values.items()}},
    )  # fmt: skip
    session.add(record)
    session.flush()
    return _to_run(record)


def update_run(session: Session, access: Access, run_id: str, changes: Mapping[str, Any]) -> Run:
    """Set ``changes`` (column name -> value) on a run the caller may see; every name and value is
    checked first."""
    immutable = sorted(_IMMUTABLE & changes.keys())
    if immutable:
        raise StoreError("column_immutable", f"runs cannot change {immutable}", columns=immutable)
    values = {name: _coerce(name, value) for name, value in changes.items()}
    record = _record(session, access, run_id, lock=True)
    for name, value in values.items():
        setattr(record, name, value)
    session.flush()
    return _to_run(record)


def heartbeat(session: Session, run_id: str, owner: str, duration: timedelta) -> bool:
    """Renew the lease of an active run still held by ``owner``; ``False``: it is not (taken
    over after it expired, or finished)."""
    now = datetime.now(UTC)
    updated = session.execute(
        sa.update(RunRecord)
        .where(
            RunRecord.run_id == run_id,
            RunRecord.lease_owner == owner,
            RunRecord.status.in_(ACTIVE_STATUSES),
        )
        .values(heartbeat_at=now, lease_expires_at=now + duration)
    )
    return bool(updated.rowcount)  # type: ignore[attr-defined]


def claim_expired(
    session: Session, owner: str, duration: timedelta, *, limit: int = 100
) -> list[Run]:
    """Take the active runs whose lease has expired, oldest first: each is claimed by exactly
    one caller (rows another transaction holds are skipped, not waited for)."""
    now = datetime.now(UTC)
    query = (
        sa.select(RunRecord)
        .where(RunRecord.status.in_(ACTIVE_STATUSES), RunRecord.lease_expires_at < now)
        .order_by(RunRecord.lease_expires_at, RunRecord.run_id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return _claim(session, query, owner, now + duration)


def claim_queued(
    session: Session, kinds: Sequence[RunKind], owner: str, duration: timedelta,
    *, run_id: str | None = None,
) -> Run | None:  # fmt: skip
    """Take the oldest queued run of ``kinds`` (or that run) whose time has come, for a worker:
    it becomes ``running``, leased."""
    now = datetime.now(UTC)
    query = (
        sa.select(RunRecord)
        .where(
            RunRecord.status == "queued",
            RunRecord.kind.in_(list(kinds)),
            sa.or_(RunRecord.available_at.is_(None), RunRecord.available_at <= now),
            *([RunRecord.run_id == run_id] if run_id is not None else []),
        )
        .order_by(RunRecord.queued_at, RunRecord.run_id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    claimed = _claim(session, query, owner, now + duration, start=True)
    return claimed[0] if claimed else None


def _claim(
    session: Session, query: sa.Select[tuple[RunRecord]], owner: str, until: datetime,
    *, start: bool = False,
) -> list[Run]:  # fmt: skip
    now = datetime.now(UTC)
    claimed = []
    for record in session.scalars(query):
        record.lease_owner, record.lease_expires_at, record.heartbeat_at = owner, until, now
        if start:
            record.status, record.started_at = "running", now
            record.attempts += 1
        claimed.append(record)
    session.flush()
    return [_to_run(record) for record in claimed]


def get_run(session: Session, access: Access, run_id: str) -> Run:
    return _to_run(_record(session, access, run_id))


def list_runs(
    session: Session,
    access: Access,
    *,
    kind: str | Sequence[str] | None = None,
    vendor: str | None = None,
    asof: date | None = None,
    status: str | None = None,
    sha256: str | None = None,
    subject: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Run]:
    """Runs matching every given filter (and that ``access`` sees), newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise StoreError("limit_invalid", f"limit must be a positive integer, not {limit!r}")
    query = sa.select(RunRecord).where(access.sees(RunRecord.tenant_id, RunRecord.vendor))
    if kind is not None:
        kinds = [kind] if isinstance(kind, str) else list(kind)
        query = query.where(RunRecord.kind.in_([_coerce("kind", k) for k in kinds]))
    if vendor is not None:
        query = query.where(RunRecord.vendor == vendor)
    if asof is not None:
        query = query.where(RunRecord.asof == _coerce("asof", asof))
    if status is not None:
        query = query.where(RunRecord.status == _coerce("status", status))
    if sha256 is not None:
        query = query.where(RunRecord.sha256 == sha256)
    if subject is not None:
        query = query.where(RunRecord.subject == subject)
    query = query.order_by(RunRecord.queued_at.desc(), RunRecord.run_id.desc())
    return [_to_run(record) for record in session.scalars(query.limit(limit).offset(offset))]


def visible_run_ids(session: Session, access: Access, run_ids: Iterable[str]) -> set[str]:
    """Those of ``run_ids`` that ``access`` may see (unknown ids are not)."""
    wanted = sorted(set(run_ids))
    visible: set[str] = set()
    for start in range(0, len(wanted), 500):
        query = sa.select(RunRecord.run_id).where(
            RunRecord.run_id.in_(wanted[start : start + 500]),
            access.sees(RunRecord.tenant_id, RunRecord.vendor),
        )
        visible.update(session.scalars(query))
    return visible


def _record(session: Session, access: Access, run_id: str, *, lock: bool = False) -> RunRecord:
    query = sa.select(RunRecord).where(
        RunRecord.run_id == run_id, access.sees(RunRecord.tenant_id, RunRecord.vendor)
    )
    record = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if record is None:  # another tenant's run is answered like one that never existed
        raise NotFound("run_not_found", f"no run {run_id!r}", run_id=run_id)
    return record


def _to_run(record: RunRecord) -> Run:
    values = {field.name: getattr(record, field.name) for field in fields(Run)}
    values["gate_failures"] = list(values["gate_failures"] or [])
    values["params"] = dict(values["params"] or {})
    values["result"] = dict(values["result"] or {})
    values["partition"] = dict(values["partition"]) if values["partition"] else None
    values["progress"] = dict(values["progress"]) if values["progress"] else None
    values["cancel_requested"] = bool(values["cancel_requested"])
    return Run(**values)


def _coerce(name: str, value: Any) -> Any:
    """``value`` as column ``name`` stores it, or a :class:`StoreError` saying what is wrong."""
    hint = _HINTS.get(name)
    if hint is None:
        raise StoreError("column_unknown", f"runs have no column {name!r}", column=name)
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
                f"{name}_invalid",
                f"{name} must be one of {list(get_args(kind))}, not {value!r}",
                column=name,
                value=str(value),
            )
        return value
    if kind is str:
        if not isinstance(value, str):
            raise invalid("text")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise invalid("true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise invalid("an integer")
        return int(value)
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
    if get_origin(kind) is dict:
        if not isinstance(value, Mapping):
            raise invalid("a mapping")
        return {str(k): v.isoformat() if isinstance(v, date) else v for k, v in value.items()}
    raise AssertionError(f"no rule for {name}: {kind!r}")  # a new Run field needs one
