"""Tenants, their credentials and entitlements, tenant-owned objects, instruments, the audit log.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

``ingest_run`` is migrated in place: it gains who asked for the run (tenant, actor, request id).

On PostgreSQL every tenant-owned table gets row-level security keyed on the per-transaction
setting ``app.current_tenant`` (set by the store at the start of each scoped transaction), and
FORCE ROW LEVEL SECURITY so the policies hold even for the tables' owner; only superusers and
BYPASSRLS roles pass them, so the application must not connect as one. ``audit_log`` rows with
no tenant (platform events such as ingests) are visible to every tenant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Tables whose rows belong to one tenant: scoped in the service layer and, on PostgreSQL, by RLS.
# ``api_key`` gets its own policy in 0004: a key is looked up before its tenant is known.
TENANT_TABLES = (
    "entitlement", "curve_def", "scenario", "assumption", "model_run", "ppa_contract",
)  # fmt: skip
_CURRENT = "current_setting('app.current_tenant', true)"


def _owned(name: str, *columns: sa.Column[object], **kwargs: object) -> None:
    """A tenant-owned document table: id, tenant, name, description, spec, who and when."""
    op.create_table(
        name,
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        *columns,
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.tenant_id"], name=op.f(f"fk_{name}_tenant_id_tenant")
        ),
        **kwargs,
    )
    op.create_index(f"ix_{name}_tenant_id", name, ["tenant_id"])


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant")),
    )
    op.create_table(
        "entitlement",
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "vendor", name=op.f("pk_entitlement")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.tenant_id"], name=op.f("fk_entitlement_tenant_id_tenant")
        ),
    )
    op.create_table(
        "api_key",
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("prefix", name=op.f("pk_api_key")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.tenant_id"], name=op.f("fk_api_key_tenant_id_tenant")
        ),
    )
    op.create_index("ix_api_key_tenant_id", "api_key", ["tenant_id"])
    op.create_table(
        "instrument",
        sa.Column("curve_key", sa.String(64), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("identity", sa.JSON(), nullable=False),
        sa.Column("price_type", sa.String(64), nullable=True),
        sa.Column("currency", sa.String(16), nullable=True),
        sa.Column("per_unit", sa.String(32), nullable=True),
        sa.Column("units_raw", sa.String(200), nullable=True),
        sa.Column("first_asof", sa.Date(), nullable=True),
        sa.Column("last_asof", sa.Date(), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("curve_key", name=op.f("pk_instrument")),
    )
    op.create_index("ix_instrument_vendor", "instrument", ["vendor"])
    _owned(
        "curve_def",
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_curve_def_tenant_id_name")),
    )
    _owned(
        "scenario",
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_scenario_tenant_id_name")),
    )
    _owned(
        "assumption",
        sa.Column("scenario_id", sa.String(32), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["scenario.id"],
            ondelete="CASCADE",
            name=op.f("fk_assumption_scenario_id_scenario"),
        ),
        sa.UniqueConstraint("scenario_id", "name", name=op.f("uq_assumption_scenario_id_name")),
    )
    _owned(
        "ppa_contract",
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_ppa_contract_tenant_id_name")),
    )
    _owned(
        "model_run",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject_id", sa.String(32), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=True),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(500), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_tenant_id_at", "audit_log", ["tenant_id", "at"])
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    with op.batch_alter_table("ingest_run") as batch:
        batch.add_column(sa.Column("tenant_id", sa.String(63), nullable=True))
        batch.add_column(sa.Column("requested_by", sa.String(320), nullable=True))
        batch.add_column(sa.Column("request_id", sa.String(64), nullable=True))

    if op.get_bind().dialect.name == "postgresql":
        for table in TENANT_TABLES:
            _isolate(table, f"tenant_id = {_CURRENT}")
        _isolate("audit_log", f"tenant_id IS NULL OR tenant_id = {_CURRENT}")


def _isolate(table: str, predicate: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING ({predicate}) WITH CHECK ({predicate})"
    )


def downgrade() -> None:
    with op.batch_alter_table("ingest_run") as batch:
        batch.drop_column("request_id")
        batch.drop_column("requested_by")
        batch.drop_column("tenant_id")
    for table in (
        "audit_log", "model_run", "ppa_contract", "assumption", "scenario", "curve_def",
        "instrument", "api_key", "entitlement", "tenant",
    ):  # fmt: skip
        op.drop_table(table)
