"""Usage: what each tenant read, exported and uploaded, by vendor and month.

Vendors' licences ask who downloaded what. Counting every request into the store would put a
write on every read, so the API counts in memory and adds its counts here now and then
(:func:`add_usage`: an increment, so several processes add up); the report sums the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.auth.access import Access
from aurum.store.base import Base

__all__ = ["UsageKey", "UsageKind", "UsageRecord", "UsageRow", "add_usage", "usage_report"]

UsageKind = Literal["read", "export", "upload"]


@dataclass(frozen=True)
class UsageKey:
    tenant_id: str
    month: str  # YYYY-MM
    vendor: str  # "" for answers of no one vendor
    kind: UsageKind


@dataclass(frozen=True)
class UsageRow:
    tenant_id: str
    month: str
    vendor: str
    kind: str
    requests: int
    rows: int


class UsageRecord(Base):
    """The ``usage`` table (migration 0008)."""

    __tablename__ = "usage"

    tenant_id: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7), primary_key=True)
    vendor: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    requests: Mapped[int] = mapped_column(sa.BigInteger)
    rows: Mapped[int] = mapped_column(sa.BigInteger)


def add_usage(session: Session, counts: Mapping[UsageKey, tuple[int, int]]) -> None:
    """Add (requests, rows) to each key's counters (an upsert per key)."""
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for key, (requests, rows) in counts.items():
        statement = insert(UsageRecord).values(
            tenant_id=key.tenant_id, month=key.month, vendor=key.vendor[:64], kind=key.kind,
            requests=requests, rows=rows,
        )  # fmt: skip
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["tenant_id", "month", "vendor", "kind"],
                set_={
                    "requests": UsageRecord.requests + statement.excluded.requests,
                    "rows": UsageRecord.rows + statement.excluded.rows,
                },
            )
        )


def usage_report(
    session: Session, access: Access, *, tenant_id: str | None = None,
    since: str | None = None, until: str | None = None,
) -> list[UsageRow]:  # fmt: skip
    """The usage rows ``access`` may see (a tenant its own; the platform any, or ``tenant_id``'s),
    months from ``since`` to ``until`` (YYYY-MM, inclusive), by month, vendor and kind."""
    query = sa.select(UsageRecord).where(access.owns(UsageRecord.tenant_id))
    if tenant_id is not None:
        query = query.where(UsageRecord.tenant_id == tenant_id)
    if since is not None:
        query = query.where(UsageRecord.month >= since)
    if until is not None:
        query = query.where(UsageRecord.month <= until)
    query = query.order_by(
        UsageRecord.tenant_id, UsageRecord.month, UsageRecord.vendor, UsageRecord.kind
    )
    return [
        UsageRow(r.tenant_id, r.month, r.vendor, r.kind, r.requests, r.rows)
        for r in session.scalars(query)
    ]
