"""Scenario runs on workers: retry times, cancel requests and progress on ``run``; scenario
versions; assumption order.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

``run`` gains ``available_at`` (a queued run is not claimed before it: a retry's backoff),
``cancel_requested`` (a running run's worker stops at its next checkpoint) and ``progress``
(what a worker reports while it works). ``scenario_version`` keeps every version of a scenario
as it was (its settings and typed assumptions), so a run names the exact version it ran;
``assumption.position`` orders a scenario's assumptions (the first matching shock wins).
Existing assumptions get positions in their name order, as they were listed before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

_TENANT = "current_setting('app.current_tenant', true)"


def upgrade() -> None:
    with op.batch_alter_table("run") as batch:
        batch.add_column(sa.Column("available_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("progress", sa.JSON(), nullable=True))
    with op.batch_alter_table("assumption") as batch:
        batch.add_column(sa.Column("position", sa.Integer(), nullable=True))
    bind = op.get_bind()
    ordered = bind.execute(
        sa.text("SELECT id FROM assumption ORDER BY scenario_id, name")
    ).fetchall()
    for position, (id_,) in enumerate(ordered):
        bind.execute(
            sa.text("UPDATE assumption SET position = :p WHERE id = :id"),
            {"p": position, "id": id_},
        )
    op.create_table(
        "scenario_version",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("scenario_id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("change", sa.String(200), nullable=False),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scenario_version")),
        sa.ForeignKeyConstraint(
            ["scenario_id"],
            ["scenario.id"],
            ondelete="CASCADE",
            name=op.f("fk_scenario_version_scenario_id_scenario"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.tenant_id"], name=op.f("fk_scenario_version_tenant_id_tenant")
        ),
        sa.UniqueConstraint(
            "scenario_id", "version", name=op.f("uq_scenario_version_scenario_id_version")
        ),
    )
    op.create_index("ix_scenario_version_tenant_id", "scenario_version", ["tenant_id"])
    if bind.dialect.name == "postgresql":
        predicate = f"tenant_id = {_TENANT}"
        op.execute("ALTER TABLE scenario_version ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE scenario_version FORCE ROW LEVEL SECURITY")
        op.execute(
            "CREATE POLICY tenant_isolation ON scenario_version"
            f" USING ({predicate}) WITH CHECK ({predicate})"
        )


def downgrade() -> None:
    op.drop_table("scenario_version")
    with op.batch_alter_table("assumption") as batch:
        batch.drop_column("position")
    with op.batch_alter_table("run") as batch:
        batch.drop_column("progress")
        batch.drop_column("cancel_requested")
        batch.drop_column("available_at")
