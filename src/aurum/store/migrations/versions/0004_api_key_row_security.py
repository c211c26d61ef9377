"""Row-level security for API keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

A key is looked up by its prefix before its tenant is known (that is how a request is
authenticated), so the policy shows a key row to its own tenant (``app.current_tenant``) and to
a transaction that names that very prefix (``app.key_prefix``, set by the store only around
that lookup); writes need the tenant. Like 0003's policies it is forced for the owner too.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

_TENANT = "tenant_id = current_setting('app.current_tenant', true)"
_PREFIX = "prefix = current_setting('app.key_prefix', true)"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE api_key ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE api_key FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON api_key USING ({_TENANT} OR {_PREFIX})"
        f" WITH CHECK ({_TENANT})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP POLICY tenant_isolation ON api_key")
    op.execute("ALTER TABLE api_key NO FORCE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE api_key DISABLE ROW LEVEL SECURITY")
