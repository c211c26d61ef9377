"""The operational store: the one object the rest of Aurum uses to reach it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from aurum.errors import Conflict, StoreError
from aurum.store import ingest_log
from aurum.store.engine import create_engine, migrate, writer
from aurum.store.ingest_log import IngestRun

__all__ = ["Store"]


class Store:
    """Aurum's operational store on SQLite (default) or PostgreSQL, migrated to head on open.

    Every method runs in its own transaction and returns plain frozen values.

    >>> import tempfile
    >>> with (
    ...     tempfile.TemporaryDirectory() as home,
    ...     Store.open(f"sqlite:///{home}/state/store.db") as store,
    ... ):
    ...     run = store.start_run(file="PW_20250916.xlsx", sha256=None, vendor="PW", asof=None)
    ...     store.update_run(run.run_id, status="failed", error_code="file_corrupt").status
    'failed'
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._reads = sessionmaker(engine, expire_on_commit=False)
        self._writes = sessionmaker(writer(engine), expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to the store at ``url`` (see :func:`~aurum.store.engine.create_engine`)."""
        store = cls(create_engine(url))
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def migrate(self) -> None:
        """Apply every migration not yet applied (none: nothing happens)."""
        with self._errors():
            migrate(self._engine)

    # -- ingest runs ---------------------------------------------------------------------------

    def start_run(
        self, *, file: str, sha256: str | None, vendor: str | None, asof: date | None
    ) -> IngestRun:
        """Record a new ``running`` run with a fresh ``run_id``, started now (UTC)."""
        with self._session(write=True) as session:
            return ingest_log.start_run(session, file=file, sha256=sha256, vendor=vendor, asof=asof)

    def update_run(self, run_id: str, /, **changes: Any) -> IngestRun:
        """Change some of a run's columns; unknown names and bad values raise ``StoreError``."""
        with self._session(write=True) as session:
            return ingest_log.update_run(session, run_id, changes)

    def get_run(self, run_id: str) -> IngestRun:
        with self._session() as session:
            return ingest_log.get_run(session, run_id)

    def runs(
        self,
        *,
        vendor: str | None = None,
        asof: date | None = None,
        status: str | None = None,
        sha256: str | None = None,
        limit: int = 100,
    ) -> list[IngestRun]:
        """The newest ``limit`` runs matching every filter given, newest first."""
        with self._session() as session:
            return ingest_log.list_runs(
                session, vendor=vendor, asof=asof, status=status, sha256=sha256, limit=limit
            )

    def stale_runs(self, *, older_than: timedelta) -> list[IngestRun]:
        """Runs still ``running``/``staged`` that started more than ``older_than`` ago."""
        with self._session() as session:
            return ingest_log.stale_runs(session, older_than=older_than)

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _session(self, *, write: bool = False) -> Iterator[Session]:
        factory = self._writes if write else self._reads
        with self._errors(), factory.begin() as session:
            yield session

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Database failures surface as Aurum's store errors, with the driver's message."""
        try:
            yield
        except sa.exc.IntegrityError as exc:
            raise Conflict("store_conflict", _reason(exc)) from exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            url = self._engine.url.render_as_string(hide_password=True)
            raise StoreError(
                "store_unavailable", f"operational store at {url}: {_reason(exc)}"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError("store_failed", _reason(exc)) from exc


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig or exc).split())
