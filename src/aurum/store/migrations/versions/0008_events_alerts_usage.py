"""Events, webhooks, alerts and usage.

``outbox_event`` holds every state change's event, written in the change's own transaction;
``event_cursor`` where each platform consumer (the Kafka relay) has got to; ``webhook`` the
subscriptions with their own place; ``alert`` one row per condition; ``usage`` what each tenant
read, exported and uploaded by vendor and month. On PostgreSQL, row-level security shows a tenant
its own events, webhooks, alerts and usage, and the platform's events and alerts about vendors it
is entitled to (as the run table does).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

_TENANT = "current_setting('app.current_tenant', true)"
_PLATFORM = "current_setting('app.platform', true) = 'on'"


def _position() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "outbox_event",
        sa.Column("position", _position(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(32), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=True),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("position", name=op.f("pk_outbox_event")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_event_id")),
    )
    op.create_index("ix_outbox_event_tenant_id_position", "outbox_event", ["tenant_id", "position"])
    op.create_index("ix_outbox_event_type_position", "outbox_event", ["type", "position"])
    op.create_table(
        "event_cursor",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_cursor")),
    )
    op.create_table(
        "webhook",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("types", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("failed", sa.BigInteger(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook")),
    )
    op.create_index("ix_webhook_tenant_id", "webhook", ["tenant_id"])
    op.create_table(
        "alert",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("open_key", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("tenant_id", sa.String(63), nullable=True),
        sa.Column("vendor", sa.String(64), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_by", sa.String(320), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.UniqueConstraint("open_key", name=op.f("uq_alert_open_key")),
    )
    op.create_index("ix_alert_state_raised_at", "alert", ["state", "raised_at"])
    op.create_index("ix_alert_tenant_id", "alert", ["tenant_id"])
    op.create_table(
        "usage",
        sa.Column("tenant_id", sa.String(63), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("vendor", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", "vendor", "kind", name=op.f("pk_usage")),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    own = f"tenant_id = {_TENANT}"
    platform_rows = (
        f"tenant_id IS NULL AND (vendor IS NULL OR vendor IN"
        f" (SELECT e.vendor FROM entitlement e WHERE e.tenant_id = {_TENANT}))"
    )
    for table in ("outbox_event", "alert"):  # shared logs, like the run table
        _secure(table, f"{_PLATFORM} OR {own} OR ({platform_rows})", f"{_PLATFORM} OR {own}")
    _secure("webhook", f"{_PLATFORM} OR {own}", f"{_PLATFORM} OR {own}")
    _secure("usage", f"{_PLATFORM} OR {own}", f"{_PLATFORM} OR {own}")
    _secure("event_cursor", _PLATFORM, _PLATFORM)


def _secure(table: str, using: str, check: str) -> None:
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(f"CREATE POLICY {table}_visibility ON {table} USING ({using}) WITH CHECK ({check})")


def downgrade() -> None:
    for table in ("usage", "alert", "webhook", "event_cursor", "outbox_event"):
        op.drop_table(table)
