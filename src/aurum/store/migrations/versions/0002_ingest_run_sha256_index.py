"""Find runs by file content: the drop-folder watcher asks whether a SHA-256 was ingested.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_ingest_run_sha256", "ingest_run", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_ingest_run_sha256", table_name="ingest_run")
