"""The operational store (SQLite by default, PostgreSQL by URL): for now, the ingest log.

Its schema is owned by Alembic migrations in ``aurum/store/migrations``, applied to head by
:meth:`Store.open`. Tables are only ever changed by a new migration, never recreated.
"""

from aurum.store.ingest_log import RUN_STATUSES, IngestRun, RunStatus
from aurum.store.store import Store

__all__ = ["RUN_STATUSES", "IngestRun", "RunStatus", "Store"]
