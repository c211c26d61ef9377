"""PPA contract versions.

``ppa_contract_version`` keeps every version of a contract's terms as they were, so a valuation
names the exact terms it valued. Each existing contract gets its current terms as version 1
(terms saved before they were typed may not validate: valuing them says which field to fix).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TENANT = "current_setting('app.current_tenant', true)"


def upgrade() -> None:
    op.create_table(
        "ppa_contract_version",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("contract_id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("change", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ppa_contract_version")),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["ppa_contract.id"], ondelete="CASCADE",
            name=op.f("fk_ppa_contract_version_contract_id_ppa_contract"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.tenant_id"],
            name=op.f("fk_ppa_contract_version_tenant_id_tenant"),
        ),
        sa.UniqueConstraint(
            "contract_id", "version", name=op.f("uq_ppa_contract_version_contract_id_version")
        ),
    )
    op.create_index("ix_ppa_contract_version_tenant_id", "ppa_contract_version", ["tenant_id"])
    bind = op.get_bind()
    contracts = []
    # row-level security is forced on PostgreSQL: the owner too reads one tenant at a time
    tenants = (
        [t for (t,) in bind.execute(sa.text("SELECT tenant_id FROM tenant"))]
        if bind.dialect.name == "postgresql" else [None]
    )  # fmt: skip
    for tenant in tenants:
        if tenant is not None:
            chosen = sa.text("SELECT set_config('app.current_tenant', :t, true)")
            bind.execute(chosen, {"t": tenant})
        contracts += bind.execute(
            sa.text("SELECT id, tenant_id, name, spec, created_by FROM ppa_contract")
        ).fetchall()
    table = sa.table(
        "ppa_contract_version", *(sa.column(c) for c in (
            "id", "contract_id", "tenant_id", "version", "name", "change", "created_by",
            "created_at",
        )), sa.column("spec", sa.JSON()),
    )  # fmt: skip
    now = datetime.now(UTC)
    for id_, tenant, name, spec, by in contracts:
        bind.execute(table.insert().values(
            id=uuid.uuid4().hex, contract_id=id_, tenant_id=tenant, version=1, name=name,
            spec=json.loads(spec) if isinstance(spec, str) else spec,
            change="recorded by migration 0007", created_by=by, created_at=now,
        ))  # fmt: skip
    if bind.dialect.name == "postgresql":
        predicate = f"tenant_id = {_TENANT}"
        op.execute("ALTER TABLE ppa_contract_version ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE ppa_contract_version FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON ppa_contract_version"
            f" USING ({predicate}) WITH CHECK ({predicate})"
        )


def downgrade() -> None:
    op.drop_table("ppa_contract_version")
