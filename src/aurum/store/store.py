"""The operational store: the one object the rest of Aurum uses to reach it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from aurum.config import Settings
from aurum.errors import Conflict, StoreError, Unavailable
from aurum.store import ingest_log, tenancy
from aurum.store.engine import create_engine, migrate, writer
from aurum.store.ingest_log import IngestRun, Viewer
from aurum.store.tenancy import (
    ApiKey,
    Assumption,
    AuditEntry,
    Document,
    DocumentKind,
    IssuedKey,
    ModelRun,
    Tenant,
)

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
        self._postgres = engine.dialect.name == "postgresql"

    @classmethod
    def open(cls, url: str, *, owner_url: str | None = None) -> Store:
        """Connect to the store at ``url`` (see :func:`~aurum.store.engine.create_engine`).

        With ``owner_url`` (PostgreSQL), migrations run as that role, which owns the tables, and
        the role of ``url`` is granted only the right to read and write rows: row-level security
        then applies to the application whatever a query forgets.
        """
        store = cls(create_engine(url))
        try:
            if owner_url:
                with Store(create_engine(owner_url)) as owner:
                    owner.migrate()
                    owner.grant(store.engine.url.username or "")
            else:
                store.migrate()
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def connect(cls, settings: Settings) -> Store:
        """The store ``settings`` name (``AURUM_STORE__URL``, ``__OWNER_URL``), migrated."""
        return cls.open(settings.store_url, owner_url=settings.store.owner_url)

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

    def get_run(self, run_id: str, *, viewer: Viewer | None = None) -> IngestRun:
        with self._session() as session:
            return ingest_log.get_run(session, run_id, viewer)

    def runs(
        self,
        *,
        vendor: str | None = None,
        asof: date | None = None,
        status: str | None = None,
        sha256: str | None = None,
        limit: int = 100,
        viewer: Viewer | None = None,
    ) -> list[IngestRun]:
        """The newest ``limit`` runs matching every filter given (and that ``viewer`` may
        see: see :class:`~aurum.store.ingest_log.Viewer`), newest first."""
        with self._session() as session:
            return ingest_log.list_runs(
                session, vendor=vendor, asof=asof, status=status, sha256=sha256, limit=limit,
                viewer=viewer,
            )  # fmt: skip

    def visible_run_ids(self, run_ids: Iterable[str], viewer: Viewer) -> set[str]:
        """Those of ``run_ids`` whose runs ``viewer`` may see (see ``Viewer``)."""
        with self._session() as session:
            return ingest_log.visible_run_ids(session, run_ids, viewer)

    def stale_runs(self, *, older_than: timedelta) -> list[IngestRun]:
        """Runs still ``running``/``staged`` that started more than ``older_than`` ago."""
        with self._session() as session:
            return ingest_log.stale_runs(session, older_than=older_than)

    def grant(self, role: str) -> None:
        """PostgreSQL: let ``role`` read and write the rows of the store's schema, not own it."""
        if not self._postgres or not role:
            return
        quote = self._engine.dialect.identifier_preparer.quote
        with self._errors(), self._engine.begin() as connection:
            schema = quote(connection.exec_driver_sql("SELECT current_schema()").scalar_one())
            for statement in (
                f"GRANT USAGE ON SCHEMA {schema} TO {quote(role)}",
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema}"
                f" TO {quote(role)}",
                f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {schema} TO {quote(role)}",
                # the schema's version is the owner's to change, by migrating
                f"REVOKE INSERT, UPDATE, DELETE ON {schema}.alembic_version FROM {quote(role)}",
            ):
                connection.exec_driver_sql(statement)

    def row_security(self) -> str:
        """How tenant rows are guarded here: ``rls`` (PostgreSQL policies bind this role, which
        owns nothing), ``rls-owner`` (they bind it, but as the tables' owner it could lift them:
        set AURUM_STORE__OWNER_URL), ``bypassed`` (a superuser or BYPASSRLS role: only the
        service layer scopes) or ``service`` (SQLite: the service layer scopes every query)."""
        if not self._postgres:
            return "service"
        with self._session() as session:
            bypass, owner = session.execute(
                sa.text(
                    "SELECT r.rolsuper OR r.rolbypassrls,"
                    " EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = current_schema()"
                    "   AND t.tablename = 'scenario' AND t.tableowner = current_user)"
                    " FROM pg_roles r WHERE r.rolname = current_user"
                )
            ).one()
        return "bypassed" if bypass else "rls-owner" if owner else "rls"

    # -- tenants, entitlements, keys -------------------------------------------------------------

    def create_tenant(self, tenant_id: str, name: str) -> Tenant:
        with self._session(write=True) as session:
            return tenancy.create_tenant(session, tenant_id, name)

    def tenant(self, tenant_id: str) -> Tenant:
        with self._session(tenant=tenant_id) as session:
            return tenancy.get_tenant(session, tenant_id)

    def tenants(self) -> list[Tenant]:
        with self._session() as session:
            ids = tenancy.list_tenants(session)
        return [self.tenant(tenant_id) for tenant_id in ids]

    def entitle(self, tenant_id: str, vendors: list[str], *, grant: bool = True) -> Tenant:
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.entitle(session, tenant_id, vendors, grant=grant)

    def create_key(
        self, *, tenant_id: str, role: str, name: str, created_by: str,
        expires_in: timedelta | None = None,
    ) -> IssuedKey:  # fmt: skip
        """A new API key; its token is in the answer and nowhere else."""
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.create_key(
                session, tenant_id=tenant_id, role=role, name=name, created_by=created_by,
                expires_in=expires_in,
            )  # fmt: skip

    def verify_key(self, token: str) -> ApiKey:
        """The key ``token`` is, if valid now (the transaction may see that prefix's row only)."""
        with self._session(key_prefix=tenancy.key_prefix(token)) as session:
            return tenancy.verify_key(session, token, datetime.now(UTC))

    def revoke_key(self, prefix: str, *, tenant_id: str | None = None) -> ApiKey:
        """Revoke a key of ``tenant_id`` (an API admin), or of whichever tenant (the CLI)."""
        if tenant_id is None:
            with self._session(key_prefix=prefix) as session:
                tenant_id = tenancy.key_tenant(session, prefix)
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.revoke_key(session, prefix, tenant_id)

    def api_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        """The keys of ``tenant_id``, or of every tenant."""
        tenants = [tenant_id] if tenant_id else [t.tenant_id for t in self.tenants()]
        found: list[ApiKey] = []
        for tenant in tenants:
            with self._session(tenant=tenant) as session:
                found += tenancy.list_keys(session, tenant)
        return found

    # -- tenant-owned objects ----------------------------------------------------------------------

    def create_document(
        self, kind: DocumentKind, tenant_id: str, *, name: str, description: str,
        spec: dict[str, Any], created_by: str,
    ) -> Document:  # fmt: skip
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.create_document(
                session, kind, tenant_id, name=name, description=description, spec=spec,
                created_by=created_by,
            )  # fmt: skip

    def document(self, kind: DocumentKind, tenant_id: str, id_: str) -> Document:
        with self._session(tenant=tenant_id) as session:
            return tenancy.get_document(session, kind, tenant_id, id_)

    def documents(
        self, kind: DocumentKind, tenant_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[Document]:
        with self._session(tenant=tenant_id) as session:
            return tenancy.list_documents(session, kind, tenant_id, limit=limit, offset=offset)

    def update_document(
        self, kind: DocumentKind, tenant_id: str, id_: str, changes: Mapping[str, Any]
    ) -> Document:
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.update_document(session, kind, tenant_id, id_, changes)

    def delete_document(self, kind: DocumentKind, tenant_id: str, id_: str) -> Document:
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.delete_document(session, kind, tenant_id, id_)

    def create_assumption(
        self, tenant_id: str, scenario_id: str, *, name: str, value: Any, created_by: str
    ) -> Assumption:
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.create_assumption(
                session, tenant_id, scenario_id, name=name, value=value, created_by=created_by
            )

    def assumptions(self, tenant_id: str, scenario_id: str) -> list[Assumption]:
        with self._session(tenant=tenant_id) as session:
            return tenancy.list_assumptions(session, tenant_id, scenario_id)

    def create_model_run(
        self, tenant_id: str, *, kind: str, subject_id: str | None, params: dict[str, Any],
        created_by: str,
    ) -> ModelRun:  # fmt: skip
        with self._session(write=True, tenant=tenant_id) as session:
            return tenancy.create_model_run(
                session, tenant_id, kind=kind, subject_id=subject_id, params=params,
                created_by=created_by,
            )  # fmt: skip

    def model_run(self, tenant_id: str, id_: str) -> ModelRun:
        with self._session(tenant=tenant_id) as session:
            return tenancy.get_model_run(session, tenant_id, id_)

    def model_runs(self, tenant_id: str, *, limit: int = 100, offset: int = 0) -> list[ModelRun]:
        with self._session(tenant=tenant_id) as session:
            return tenancy.list_model_runs(session, tenant_id, limit=limit, offset=offset)

    # -- audit log and instruments -----------------------------------------------------------------

    def audit(
        self, action: str, *, actor: str, tenant_id: str | None, target: str | None = None,
        request_id: str | None = None, details: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """Record who did what, for which tenant, in which request."""
        with self._session(write=True, tenant=tenant_id) as session:
            tenancy.audit(
                session, tenant_id=tenant_id, actor=actor, action=action, target=target,
                request_id=request_id, details=details,
            )  # fmt: skip

    def audit_log(
        self, tenant_id: str | None, *, action: str | None = None, since: datetime | None = None,
        before_id: int | None = None, limit: int = 100,
    ) -> list[AuditEntry]:  # fmt: skip
        with self._session(tenant=tenant_id) as session:
            return tenancy.list_audit(
                session, tenant_id, action=action, since=since, before_id=before_id, limit=limit
            )

    def instruments(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """The curves the lake holds, as last synced (identity, units, first/last as-of)."""
        with self._session() as session:
            return tenancy.list_instruments(session, vendor)

    def sync_instruments(self, rows: list[dict[str, Any]]) -> int:
        with self._session(write=True) as session:
            return tenancy.sync_instruments(session, rows)

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def _session(
        self, *, write: bool = False, tenant: str | None = None, key_prefix: str | None = None
    ) -> Iterator[Session]:
        """One transaction; with ``tenant``, PostgreSQL's row-level security sees that tenant
        (``app.current_tenant``, local to the transaction, so a pooled connection forgets it);
        with ``key_prefix``, that one API key row too (``app.key_prefix``)."""
        factory = self._writes if write else self._reads
        with self._errors(), factory.begin() as session:
            if self._postgres:
                session.execute(
                    sa.text(
                        "SELECT set_config('app.current_tenant', :tenant, true),"
                        " set_config('app.key_prefix', :prefix, true)"
                    ),
                    {"tenant": tenant or "", "prefix": key_prefix or ""},
                )
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
            raise Unavailable(
                "store_unavailable",
                f"operational store at {url}: {_reason(exc)}",
                dependency="the operational store",
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError("store_failed", _reason(exc)) from exc


def _reason(exc: sa.exc.SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return " ".join(str(orig or exc).split())
