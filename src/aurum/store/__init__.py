"""The operational store (SQLite by default, PostgreSQL by URL): runs and the work queue,
tenants, API keys, tenant-owned documents, instruments and the audit log.

Its schema is owned by Alembic migrations in ``aurum/store/migrations``, applied to head by
:meth:`Store.open`. Tables are only ever changed by a new migration, never recreated. All work
happens in a transaction scoped to a caller's access: ``with store.transaction(access) as tx``.
"""

from aurum.store.runs import RUN_KINDS, RUN_STATUSES, Run, RunKind, RunStatus
from aurum.store.store import Store, Tx

__all__ = ["RUN_KINDS", "RUN_STATUSES", "Run", "RunKind", "RunStatus", "Store", "Tx"]
