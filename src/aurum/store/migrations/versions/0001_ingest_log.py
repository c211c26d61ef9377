"""The ingest log: one row per ingest run.

Revision ID: 0001
Revises:
Create Date: 2025-09-18

Migrations are history: this file spells the table out instead of importing the models, so it
keeps creating the same table whatever the models become.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
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
        sa.Column("rows", sa.BigInteger(), nullable=True),
        sa.Column("quarantined", sa.BigInteger(), nullable=True),
        sa.Column("price_cells", sa.BigInteger(), nullable=True),
        sa.Column("published_cells", sa.BigInteger(), nullable=True),
        sa.Column("quarantined_cells", sa.BigInteger(), nullable=True),
        sa.Column("copy_cells", sa.BigInteger(), nullable=True),
        sa.Column("dead_letter_cells", sa.BigInteger(), nullable=True),
        sa.Column("parse_seconds", sa.Float(), nullable=True),
        sa.Column("publish_seconds", sa.Float(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("gate_failures", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_ingest_run")),
        sa.CheckConstraint(
            "status IN ('running', 'staged', 'published', 'failed', 'duplicate')",
            name=op.f("ck_ingest_run_status"),
        ),
    )
    op.create_index("ix_ingest_run_vendor_asof", "ingest_run", ["vendor", "asof"])
    op.create_index("ix_ingest_run_status", "ingest_run", ["status"])
    op.create_index("ix_ingest_run_started_at", "ingest_run", ["started_at"])


def downgrade() -> None:
    op.drop_table("ingest_run")
