"""Alembic's environment for the operational store.

Aurum runs it from :func:`aurum.store.engine.migrate`, which passes a connection already holding
the migration lock in ``config.attributes["connection"]``. Developers can also drive it with the
``alembic`` command (``-x url=...`` or ``sqlalchemy.url``), e.g. to write the next revision.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from aurum.store import audit, documents, instruments, keys, runs, tenants  # noqa: F401
from aurum.store.base import Base
from aurum.store.engine import create_engine, migration_transaction


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying
        compare_type=True,
    )
    # Inside the caller's transaction this is a no-op: the caller commits, or rolls back, all.
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("give the store's URL: alembic -x url=sqlite:///path/store.db ...")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url)
    try:
        with migration_transaction(engine) as locked:
            run(locked)
    finally:
        engine.dispose()


# Alembic executes this file as module "env_py"; a plain import (pytest's doctest collection)
# must not try to migrate anything.
if __name__ == "env_py":
    main()
