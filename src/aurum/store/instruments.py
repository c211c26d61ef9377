"""Instruments: one row per curve the lake holds (synced from the curve identities)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from aurum.store.base import Base, UTCDateTime

__all__ = ["InstrumentRecord", "list_instruments", "sync_instruments"]


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
