"""One run model: ``run`` replaces ``ingest_run`` and ``model_run``, with leases and a queue.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

Every existing row is carried over: an ingest run keeps its id, file (``subject``), content hash,
vendor and as-of (its partition of ``curve_observation``), status, version, tag, snapshot, errors
and timings, with its counts in ``result``; a model run keeps its id, tenant, kind, subject,
params, result and author. A run still ``running``/``staged`` gets a lease that expired 30
minutes after it started (the rule recovery applied before leases). Then the two old tables go.

On PostgreSQL ``run`` has row-level security: the platform's own work (``app.platform``) sees
every run; a tenant sees its own runs and the platform's runs of vendors it is entitled to (or of
no known vendor); a tenant writes only its own.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_STATUSES = ("queued", "running", "staged", "published", "duplicate", "failed", "cancelled")
_KINDS = ("ingest", "feed_load", "scenario_run", "valuation")
_COUNTS = (
    "rows", "quarantined", "price_cells", "published_cells", "quarantined_cells", "copy_cells",
    "dead_letter_cells", "parse_seconds", "publish_seconds",
)  # fmt: skip
_TENANT = "current_setting('app.current_tenant', true)"
_PLATFORM = "current_setting('app.platform', true) = 'on'"


def upgrade() -> None:
    run = op.create_table(
        "run",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=True),
        sa.Column("requested_by", sa.String(320), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("dataset", sa.String(63), nullable=True),
        sa.Column("partition", sa.JSON(), nullable=True),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("asof", sa.Date(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("tag", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("branch", sa.String(255), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("gate_failures", sa.JSON(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run")),
        sa.CheckConstraint(
            "status IN ({})".format(", ".join(f"'{s}'" for s in _STATUSES)),
            name=op.f("ck_run_status"),
        ),
        sa.CheckConstraint(
            "kind IN ({})".format(", ".join(f"'{k}'" for k in _KINDS)), name=op.f("ck_run_kind")
        ),
    )
    op.create_index("ix_run_vendor_asof", "run", ["vendor", "asof"])
    op.create_index("ix_run_status_lease", "run", ["status", "lease_expires_at"])
    op.create_index("ix_run_kind_status", "run", ["kind", "status"])
    op.create_index("ix_run_queued_at", "run", ["queued_at"])
    op.create_index("ix_run_sha256", "run", ["sha256"])
    op.create_index("ix_run_tenant_id", "run", ["tenant_id"])
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:  # the owner migrates: see every tenant's model runs while copying them
        op.execute("ALTER TABLE model_run NO FORCE ROW LEVEL SECURITY")
    rows = [_from_ingest(r._mapping) for r in bind.execute(sa.text("SELECT * FROM ingest_run"))]
    rows += [_from_model(r._mapping) for r in bind.execute(sa.text("SELECT * FROM model_run"))]
    if rows:
        op.bulk_insert(run, rows)
    op.drop_table("ingest_run")
    op.drop_table("model_run")
    if postgres:
        own = f"tenant_id = {_TENANT}"
        platform_runs = (
            f"tenant_id IS NULL AND (vendor IS NULL OR vendor IN"
            f" (SELECT e.vendor FROM entitlement e WHERE e.tenant_id = {_TENANT}))"
        )
        op.execute("ALTER TABLE run ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE run FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY run_visibility ON run USING ({_PLATFORM} OR {own} OR ({platform_runs}))"
            f" WITH CHECK ({_PLATFORM} OR {own})"
        )


def _aware(value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _day(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _from_ingest(row: object) -> dict[str, object]:
    r = dict(row)  # type: ignore[call-overload]
    started = _aware(r["started_at"])
    assert started is not None
    asof = _day(r["asof"])
    active = r["status"] in ("running", "staged")
    return {
        "run_id": r["run_id"], "kind": "ingest", "status": r["status"], "subject": r["file"],
        "tenant_id": r.get("tenant_id"), "requested_by": r.get("requested_by"),
        "request_id": r.get("request_id"),
        "dataset": "curve_observation" if r["vendor"] and asof else None,
        "partition": (
            {"vendor": r["vendor"], "asof_date": str(asof)} if r["vendor"] and asof else None
        ),
        "vendor": r["vendor"], "asof": asof, "sha256": r["sha256"], "params": {},
        "result": {name: r[name] for name in _COUNTS if r.get(name) is not None},
        "snapshot_id": r["snapshot_id"], "tag": r["tag"], "version": r["version"],
        "branch": r["branch"], "error_code": r["error_code"], "error_message": r["error_message"],
        "gate_failures": _json(r["gate_failures"]) or [], "queued_at": started,
        "started_at": started, "finished_at": _aware(r["finished_at"]),
        "heartbeat_at": started if active else None,
        "lease_owner": "before-leases" if active else None,
        "lease_expires_at": started + timedelta(minutes=30) if active else None,
        "attempts": 1,
    }  # fmt: skip


def _from_model(row: object) -> dict[str, object]:
    r = dict(row)  # type: ignore[call-overload]
    created = _aware(r["created_at"])
    kind = r["kind"] if r["kind"] in _KINDS else "scenario_run"
    status = r["status"] if r["status"] in _STATUSES else "queued"
    return {
        "run_id": r["id"], "kind": kind, "status": status, "subject": r.get("subject_id") or "",
        "tenant_id": r["tenant_id"], "requested_by": r["created_by"], "request_id": None,
        "dataset": None, "partition": None, "vendor": None, "asof": None, "sha256": None,
        "params": {**(_json(r["params"]) or {}), "name": r["name"]},
        "result": _json(r["result"]) if isinstance(_json(r["result"]), dict) else (
            {"value": _json(r["result"])} if r["result"] is not None else {}
        ),
        "snapshot_id": None, "tag": None, "version": None, "branch": None,
        "error_code": None, "error_message": None, "gate_failures": [], "queued_at": created,
        "started_at": None, "finished_at": _aware(r["finished_at"]), "heartbeat_at": None,
        "lease_owner": None, "lease_expires_at": None, "attempts": 0,
    }  # fmt: skip


def downgrade() -> None:
    """Back to the two tables: ingest runs to ``ingest_run``, the others to ``model_run`` (their
    leases and queue state are lost; a queued run comes back ``queued``)."""
    bind = op.get_bind()
    ingest = op.create_table(
        "ingest_run",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("asof", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("branch", sa.String(255), nullable=True),
        sa.Column("snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("tag", sa.String(255), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        *(sa.Column(name, sa.Float() if name.endswith("seconds") else sa.BigInteger(),
                    nullable=True) for name in _COUNTS),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("gate_failures", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(63), nullable=True),
        sa.Column("requested_by", sa.String(320), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_ingest_run")),
        sa.CheckConstraint(
            "status IN ('running', 'staged', 'published', 'failed', 'duplicate')",
            name=op.f("ck_ingest_run_status"),
        ),
    )  # fmt: skip
    for name, columns in (
        ("ix_ingest_run_vendor_asof", ["vendor", "asof"]), ("ix_ingest_run_status", ["status"]),
        ("ix_ingest_run_started_at", ["started_at"]), ("ix_ingest_run_sha256", ["sha256"]),
    ):  # fmt: skip
        op.create_index(name, "ingest_run", columns)
    model = op.create_table(
        "model_run",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_run")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.tenant_id"], name=op.f("fk_model_run_tenant_id_tenant")
        ),
    )
    op.create_index("ix_model_run_tenant_id", "model_run", ["tenant_id"])
    ingests, models = [], []
    for row in bind.execute(sa.text("SELECT * FROM run")):
        r = dict(row._mapping)
        result = _json(r["result"]) or {}
        if r["kind"] == "ingest":
            ingests.append({
                "run_id": r["run_id"], "file": r["subject"], "sha256": r["sha256"],
                "vendor": r["vendor"], "asof": _day(r["asof"]),
                "status": r["status"] if r["status"] in _STATUSES[1:6] else "failed",
                "branch": r["branch"], "snapshot_id": r["snapshot_id"], "tag": r["tag"],
                "version": r["version"], **{name: result.get(name) for name in _COUNTS},
                "error_code": r["error_code"], "error_message": r["error_message"],
                "gate_failures": _json(r["gate_failures"]) or [],
                "started_at": _aware(r["started_at"] or r["queued_at"]),
                "finished_at": _aware(r["finished_at"]), "tenant_id": r["tenant_id"],
                "requested_by": r["requested_by"], "request_id": r["request_id"],
            })  # fmt: skip
        elif r["tenant_id"] is not None:
            params = dict(_json(r["params"]) or {})
            queued = _aware(r["queued_at"])
            models.append({
                "id": r["run_id"], "tenant_id": r["tenant_id"],
                "name": params.pop("name", r["kind"]), "kind": r["kind"],
                "subject_id": r["subject"] or None, "status": r["status"], "params": params,
                "result": result or None, "finished_at": _aware(r["finished_at"]),
                "created_by": r["requested_by"] or "", "created_at": queued, "updated_at": queued,
            })  # fmt: skip
    if ingests:
        op.bulk_insert(ingest, ingests)
    if models:
        op.bulk_insert(model, models)
    op.drop_table("run")
    if bind.dialect.name == "postgresql":
        for statement in (
            "ALTER TABLE model_run ENABLE ROW LEVEL SECURITY",
            "ALTER TABLE model_run FORCE ROW LEVEL SECURITY",
            f"CREATE POLICY tenant_isolation ON model_run USING (tenant_id = {_TENANT})"
            f" WITH CHECK (tenant_id = {_TENANT})",
        ):
            op.execute(statement)
