"""What the store knows that operators chart: run outcomes, ingest counts and timings, queue
depth, freshness, consumer lag, open alerts — aggregated in SQL so a scrape reads a few rows.

Every figure is derived from the records themselves, not from counters a process keeps, so
``/metrics`` of any API process shows the ingests of the CLI, the watcher and the other processes
too, and nothing is lost when a process restarts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from aurum.auth.access import Access
from aurum.store.alerts import AlertRecord
from aurum.store.outbox import EventCursorRecord, newest_position
from aurum.store.runs import ACTIVE_STATUSES, FINAL_STATUSES, RunRecord
from aurum.store.webhooks import WebhookRecord

__all__ = ["StoreStats", "store_stats"]


@dataclass(frozen=True)
class StoreStats:
    outcomes: dict[tuple[str, str], int]  # (kind, final status) -> runs
    queued: dict[str, int]  # kind -> queued runs
    active: dict[str, int]  # kind -> running or staged runs
    rows: dict[tuple[str, str], tuple[int, int]]  # (vendor, status) -> (rows, quarantined)
    durations: list[tuple[str, float]]  # (vendor, seconds) of each finished ingest
    gate_failures: dict[tuple[str, str], int]  # (vendor, rule) -> failed ingests
    newest_asof: dict[str, tuple[date, datetime]]  # vendor -> (newest as-of, when published)
    newest_event: int
    cursors: dict[str, int]  # consumer -> position
    webhooks: list[tuple[str, int, int, int]]  # (id, position, delivered, failed)
    alerts_open: dict[str, int] = field(default_factory=dict)  # kind -> open or acknowledged


def store_stats(session: Session, access: Access) -> StoreStats:
    """The figures of the records ``access`` sees: the platform's are every tenant's; a tenant's
    are its own runs and the platform's ingests of its vendors, its webhooks, its alerts."""
    run = RunRecord
    sees = access.sees(run.tenant_id, run.vendor)
    outcomes = {
        (kind, status): n
        for kind, status, n in session.execute(
            sa.select(run.kind, run.status, sa.func.count())
            .where(sees, run.status.in_(FINAL_STATUSES))
            .group_by(run.kind, run.status)
        )
    }
    queued = _count_by_kind(session, sees, ("queued",))
    active = _count_by_kind(session, sees, ACTIVE_STATUSES)
    ingest = (sees, run.kind == "ingest", run.status.in_(FINAL_STATUSES), run.vendor.is_not(None))
    rows = {
        (vendor, status): (int(r or 0), int(q or 0))
        for vendor, status, r, q in session.execute(
            sa.select(
                run.vendor, run.status, sa.func.sum(run.result["rows"].as_integer()),
                sa.func.sum(run.result["quarantined"].as_integer()),
            ).where(*ingest).group_by(run.vendor, run.status)
        )
    }  # fmt: skip
    durations = [
        (vendor, (end - start).total_seconds())
        for vendor, start, end in session.execute(
            sa.select(run.vendor, run.started_at, run.finished_at).where(
                *ingest, run.started_at.is_not(None), run.finished_at.is_not(None)
            )
        )
    ]
    failures: dict[tuple[str, str], int] = {}
    for vendor, rules in session.execute(
        sa.select(run.vendor, run.gate_failures).where(*ingest, run.status == "failed")
    ):
        for rule in rules or ():
            failures[vendor, rule] = failures.get((vendor, rule), 0) + 1
    newest = {
        vendor: (asof, at)
        for vendor, asof, at in session.execute(
            sa.select(run.vendor, sa.func.max(run.asof), sa.func.max(run.finished_at))
            .where(*ingest, run.status == "published")
            .group_by(run.vendor)
        )
    }
    return StoreStats(
        outcomes=outcomes, queued=queued, active=active, rows=rows, durations=durations,
        gate_failures=failures, newest_asof=newest,
        newest_event=newest_position(session, access),
        cursors=(
            {c.name: c.position for c in session.scalars(sa.select(EventCursorRecord))}
            if access.is_platform else {}
        ),
        webhooks=[
            (w.id, w.position, w.delivered, w.failed)
            for w in session.scalars(sa.select(WebhookRecord).where(
                WebhookRecord.active, access.owns(WebhookRecord.tenant_id)
            ))
        ],
        alerts_open=dict(
            session.execute(  # type: ignore[arg-type]
                sa.select(AlertRecord.kind, sa.func.count())
                .where(
                    AlertRecord.state != "resolved",
                    access.sees(AlertRecord.tenant_id, AlertRecord.vendor),
                )
                .group_by(AlertRecord.kind)
            ).all()
        ),
    )  # fmt: skip


def _count_by_kind(
    session: Session, sees: sa.ColumnElement[bool], statuses: tuple[str, ...]
) -> dict[str, int]:
    query = (
        sa.select(RunRecord.kind, sa.func.count())
        .where(sees, RunRecord.status.in_(statuses))
        .group_by(RunRecord.kind)
    )
    return {kind: n for kind, n in session.execute(query)}
