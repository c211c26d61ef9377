"""The operational store: the one object the rest of Aurum uses to reach it.

Everything happens in a **transaction** that names whose access it runs with::

    with store.transaction(access) as tx:       # one unit of work: all of it commits, or none
        run = tx.update_run(run_id, status="published", ...)
        tx.audit("ingest", target=run.run_id, details=...)

``access`` (``aurum.auth.access.Access``) scopes every read and write to what that caller may
see; on PostgreSQL the transaction also tells row-level security (``app.current_tenant``, and
``app.platform`` for the platform's own work), local to the transaction so a pooled connection
forgets it. Read-only work passes ``write=False`` (on SQLite it then takes no write lock).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from aurum.auth.access import Access
from aurum.auth.keys import key_prefix
from aurum.config import Settings
from aurum.errors import Conflict, NotFound, StoreError, Unavailable
from aurum.store import (
    alerts,
    audit,
    documents,
    instruments,
    keys,
    outbox,
    runs,
    stats,
    tenants,
    usage,
    webhooks,
)
from aurum.store.alerts import Alert
from aurum.store.audit import AuditEntry
from aurum.store.documents import (
    Assumption,
    ContractVersion,
    Document,
    DocumentKind,
    ScenarioVersion,
)
from aurum.store.engine import create_engine, migrate, writer
from aurum.store.keys import ApiKey, IssuedKey
from aurum.store.outbox import Event
from aurum.store.runs import Run, RunKind
from aurum.store.stats import StoreStats
from aurum.store.tenants import Tenant
from aurum.store.usage import UsageKey, UsageRow
from aurum.store.webhooks import Webhook

__all__ = ["Store", "Tx"]


class Store:
    """Aurum's operational store on SQLite (default) or PostgreSQL, migrated to head on open.

    >>> import tempfile
    >>> from datetime import timedelta
    >>> with (
    ...     tempfile.TemporaryDirectory() as home,
    ...     Store.open(f"sqlite:///{home}/state/store.db") as store,
    ...     store.transaction(Access.platform()) as tx,
    ... ):
    ...     run = tx.start_run("ingest", subject="PW_20250916.xlsx", lease=("me", timedelta(60)))
    ...     tx.update_run(run.run_id, status="failed", error_code="file_corrupt").status
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

    @contextmanager
    def transaction(self, access: Access, *, write: bool = True) -> Iterator[Tx]:
        """One unit of work with ``access``: it commits when the block ends, or rolls back."""
        factory = self._writes if write else self._reads
        with self._errors(), factory.begin() as session:
            if self._postgres:
                session.execute(
                    sa.text(
                        "SELECT set_config('app.current_tenant', :tenant, true),"
                        " set_config('app.platform', :platform, true),"
                        " set_config('app.key_prefix', '', true)"
                    ),
                    {"tenant": access.tenant_id or "", "platform": _on(access.is_platform)},
                )
            yield Tx(session, access, postgres=self._postgres)

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
        with self._errors(), self._reads.begin() as session:
            bypass, owner = session.execute(
                sa.text(
                    "SELECT r.rolsuper OR r.rolbypassrls,"
                    " EXISTS (SELECT 1 FROM pg_tables t WHERE t.schemaname = current_schema()"
                    "   AND t.tablename = 'scenario' AND t.tableowner = current_user)"
                    " FROM pg_roles r WHERE r.rolname = current_user"
                )
            ).one()
        return "bypassed" if bypass else "rls-owner" if owner else "rls"

    # -- plumbing ------------------------------------------------------------------------------

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


def _on(flag: bool) -> str:
    return "on" if flag else ""


class Tx:
    """One transaction of the store, scoped to ``access``: every operation the store has.

    Runs (:mod:`aurum.store.runs`), tenants, keys, documents, the audit log and instruments;
    each method reads and writes only what ``access`` may (see ``aurum.auth.access``).
    """

    def __init__(self, session: Session, access: Access, *, postgres: bool) -> None:
        self.session = session
        self.access = access
        self._postgres = postgres

    # -- runs ----------------------------------------------------------------------------------

    def start_run(
        self, kind: RunKind, *, subject: str, queued: bool = False,
        lease: tuple[str, timedelta] | None = None, request_id: str | None = None,
        **values: Any,
    ) -> Run:  # fmt: skip
        """A new run of ``access``'s tenant: ``running`` under ``lease`` (owner, duration), or
        ``queued`` for a worker (see :mod:`aurum.store.runs`)."""
        return runs.start_run(
            self.session, self.access, kind, subject=subject, queued=queued, lease=lease,
            request_id=request_id, **values,
        )  # fmt: skip

    def update_run(self, run_id: str, /, **changes: Any) -> Run:
        """Change some of a run's columns; unknown names and bad values raise ``StoreError``."""
        return runs.update_run(self.session, self.access, run_id, changes)

    def get_run(self, run_id: str) -> Run:
        return runs.get_run(self.session, self.access, run_id)

    def runs(
        self, *, kind: str | Sequence[str] | None = None, vendor: str | None = None,
        asof: date | None = None, status: str | None = None, sha256: str | None = None,
        subject: str | None = None, limit: int = 100, offset: int = 0,
    ) -> list[Run]:  # fmt: skip
        """The runs matching every filter given (that ``access`` sees), newest first."""
        return runs.list_runs(
            self.session, self.access, kind=kind, vendor=vendor, asof=asof, status=status,
            sha256=sha256, subject=subject, limit=limit, offset=offset,
        )  # fmt: skip

    def visible_run_ids(self, run_ids: Iterable[str]) -> set[str]:
        return runs.visible_run_ids(self.session, self.access, run_ids)

    def heartbeat(self, run_id: str, owner: str, duration: timedelta) -> bool:
        return runs.heartbeat(self.session, run_id, owner, duration)

    def claim_expired(self, owner: str, duration: timedelta, *, limit: int = 100) -> list[Run]:
        """The platform takes over runs whose lease expired (each by one caller only)."""
        self._platform_only("claim_expired")
        return runs.claim_expired(self.session, owner, duration, limit=limit)

    def claim_queued(
        self, kinds: Sequence[RunKind], owner: str, duration: timedelta, *,
        run_id: str | None = None,
    ) -> Run | None:  # fmt: skip
        """A worker takes the oldest queued run of ``kinds`` whose time has come (or that one)."""
        self._platform_only("claim_queued")
        return runs.claim_queued(self.session, kinds, owner, duration, run_id=run_id)

    # -- tenants, entitlements, keys -------------------------------------------------------------

    def create_tenant(self, tenant_id: str, name: str) -> Tenant:
        return tenants.create_tenant(self.session, tenant_id, name)

    def tenant(self, tenant_id: str) -> Tenant:
        self._see_tenant(tenant_id)
        return tenants.get_tenant(self.session, tenant_id)

    def tenants(self) -> list[str]:
        return tenants.list_tenants(self.session)

    def entitle(self, tenant_id: str, vendors: list[str], *, grant: bool = True) -> Tenant:
        self._see_tenant(tenant_id)
        return tenants.entitle(self.session, tenant_id, vendors, grant=grant)

    def create_key(
        self, *, tenant_id: str, role: str, name: str, expires_in: timedelta | None = None
    ) -> IssuedKey:
        """A new API key, made by ``access``'s actor; its token is in the answer and nowhere
        else."""
        self._see_tenant(tenant_id)
        return keys.create_key(
            self.session, tenant_id=tenant_id, role=role, name=name,
            created_by=self.access.actor, expires_in=expires_in,
        )  # fmt: skip

    def verify_key(self, token: str) -> ApiKey:
        """The key ``token`` is, if valid now (the transaction may see that prefix's row only)."""
        if self._postgres:
            self.session.execute(
                sa.text("SELECT set_config('app.key_prefix', :prefix, true)"),
                {"prefix": key_prefix(token)},
            )
        return keys.verify_key(self.session, token, datetime.now(UTC))

    def key_tenant(self, prefix: str) -> str:
        """The tenant of a key, by its prefix (for the platform's CLI)."""
        if self._postgres:
            self.session.execute(
                sa.text("SELECT set_config('app.key_prefix', :prefix, true)"), {"prefix": prefix}
            )
        return keys.key_tenant(self.session, prefix)

    def revoke_key(self, prefix: str) -> ApiKey:
        return keys.revoke_key(self.session, self.access, prefix)

    def api_keys(self) -> list[ApiKey]:
        return keys.list_keys(self.session, self.access)

    # -- tenant-owned documents --------------------------------------------------------------------

    def create_document(
        self, kind: DocumentKind, *, name: str, description: str, spec: dict[str, Any],
        assumptions: Sequence[tuple[str, Any]] = (),
    ) -> Document:  # fmt: skip
        return documents.create_document(
            self.session, self.access, kind, name=name, description=description, spec=spec,
            assumptions=assumptions,
        )  # fmt: skip

    def document(self, kind: DocumentKind, id_: str) -> Document:
        return documents.get_document(self.session, self.access, kind, id_)

    def documents(self, kind: DocumentKind, *, limit: int = 100, offset: int = 0) -> list[Document]:
        return documents.list_documents(self.session, self.access, kind, limit=limit, offset=offset)

    def update_document(self, kind: DocumentKind, id_: str, changes: Mapping[str, Any]) -> Document:
        return documents.update_document(self.session, self.access, kind, id_, changes)

    def delete_document(self, kind: DocumentKind, id_: str) -> Document:
        return documents.delete_document(self.session, self.access, kind, id_)

    def create_assumption(self, scenario_id: str, *, name: str, value: Any) -> Assumption:
        return documents.create_assumption(
            self.session, self.access, scenario_id, name=name, value=value
        )

    def assumptions(self, scenario_id: str) -> list[Assumption]:
        return documents.list_assumptions(self.session, self.access, scenario_id)

    def update_assumption(self, scenario_id: str, name: str, *, value: Any) -> Assumption:
        return documents.update_assumption(
            self.session, self.access, scenario_id, name, value=value
        )

    def delete_assumption(self, scenario_id: str, name: str) -> Assumption:
        return documents.delete_assumption(self.session, self.access, scenario_id, name)

    def scenario_version(self, scenario_id: str, version: int | None = None) -> ScenarioVersion:
        """A scenario as it was at ``version`` (default: as it is now)."""
        return documents.scenario_version(self.session, self.access, scenario_id, version)

    def scenario_versions(
        self, scenario_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[ScenarioVersion]:
        return documents.list_scenario_versions(
            self.session, self.access, scenario_id, limit=limit, offset=offset
        )

    def contract_version(self, contract_id: str, version: int | None = None) -> ContractVersion:
        """A PPA contract's terms as they were at ``version`` (default: as they are now)."""
        return documents.contract_version(self.session, self.access, contract_id, version)

    def contract_versions(
        self, contract_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[ContractVersion]:
        return documents.list_contract_versions(
            self.session, self.access, contract_id, limit=limit, offset=offset
        )

    # -- the audit log and instruments ---------------------------------------------------------

    def audit(
        self, action: str, *, target: str | None = None, request_id: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """Record that ``access``'s actor did ``action``, for its tenant, in this transaction."""
        audit.record_audit(
            self.session, self.access, action, target=target, request_id=request_id,
            details=details,
        )  # fmt: skip

    def audit_log(
        self, *, action: str | None = None, since: datetime | None = None,
        before_id: int | None = None, limit: int = 100,
    ) -> list[AuditEntry]:  # fmt: skip
        return audit.list_audit(
            self.session, self.access, action=action, since=since, before_id=before_id,
            limit=limit,
        )  # fmt: skip

    def instruments(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """The curves the lake holds, as last synced (identity, units, first/last as-of)."""
        return instruments.list_instruments(self.session, vendor)

    def sync_instruments(self, rows: list[dict[str, Any]]) -> int:
        return instruments.sync_instruments(self.session, rows)

    # -- events, webhooks, alerts, usage ---------------------------------------------------------

    def emit(
        self, type_: str, *, key: str, payload: Mapping[str, Any], vendor: str | None = None,
        run_id: str | None = None, tenant_id: str | None = None,
    ) -> Event:  # fmt: skip
        """Add an event to the outbox; it commits with this transaction (see ``store.outbox``)."""
        if tenant_id is not None and not self.access.acts_for(tenant_id):
            raise StoreError("tenant_forbidden", "a tenant emits its own events only")
        return outbox.emit(
            self.session, self.access, type_, key=key, payload=payload, vendor=vendor,
            run_id=run_id, tenant_id=tenant_id,
        )  # fmt: skip

    def events(
        self, *, after: int = 0, types: Sequence[str] | None = None, limit: int = 100
    ) -> list[Event]:
        """The events after position ``after`` that ``access`` sees, oldest first."""
        return outbox.list_events(self.session, self.access, after=after, types=types, limit=limit)

    def newest_event(self) -> int:
        """The position of the newest event ``access`` sees (0: none)."""
        return outbox.newest_position(self.session, self.access)

    def cursor(self, name: str) -> int:
        self._platform_only("cursor")
        return outbox.cursor_position(self.session, name)

    def move_cursor(self, name: str, position: int) -> None:
        self._platform_only("move_cursor")
        outbox.move_cursor(self.session, name, position)

    def create_webhook(self, *, name: str, url: str, types: Sequence[str], start: int) -> Webhook:
        return webhooks.create_webhook(
            self.session, self.access, name=name, url=url, types=types, start=start
        )

    def webhook(self, webhook_id: str) -> Webhook:
        return webhooks.get_webhook(self.session, self.access, webhook_id)

    def webhooks(self) -> list[Webhook]:
        return webhooks.list_webhooks(self.session, self.access)

    def delete_webhook(self, webhook_id: str) -> None:
        webhooks.delete_webhook(self.session, self.access, webhook_id)

    def due_webhooks(self, now: datetime) -> list[Webhook]:
        self._platform_only("due_webhooks")
        return webhooks.due_webhooks(self.session, now)

    def claim_webhook(self, webhook_id: str, now: datetime, until: datetime) -> bool:
        self._platform_only("claim_webhook")
        return webhooks.claim_webhook(self.session, webhook_id, now, until)

    def record_delivery(self, webhook_id: str, **outcome: Any) -> Webhook:
        self._platform_only("record_delivery")
        return webhooks.record_attempt(self.session, webhook_id, **outcome)

    def raise_alert(self, **alert_: Any) -> tuple[Alert, bool]:
        """The unresolved alert of a condition and whether it is new (see ``store.alerts``)."""
        self._platform_only("raise_alert")
        return alerts.raise_alert(self.session, **alert_)

    def open_alert(self, key: str) -> Alert | None:
        """The unresolved alert of condition ``key`` (the platform's check)."""
        self._platform_only("open_alert")
        return alerts.open_alert(self.session, key)

    def lock_alert(self, alert_id: str) -> Alert:
        """The alert as it is now, locked for this transaction (the platform's passes)."""
        self._platform_only("lock_alert")
        return alerts.lock_alert(self.session, alert_id)

    def alert(self, alert_id: str) -> Alert:
        return alerts.get_alert(self.session, self.access, alert_id)

    def alerts(
        self, *, state: str | None = None, kind: str | None = None, limit: int = 100
    ) -> list[Alert]:
        return alerts.list_alerts(self.session, self.access, state=state, kind=kind, limit=limit)

    def acknowledge_alert(self, alert_id: str) -> Alert:
        return alerts.acknowledge_alert(self.session, self.access, alert_id)

    def resolve_alert(self, alert_id: str) -> Alert:
        return alerts.resolve_alert(self.session, self.access, alert_id)

    def add_usage(self, counts: Mapping[UsageKey, tuple[int, int]]) -> None:
        self._platform_only("add_usage")
        usage.add_usage(self.session, counts)

    def usage(
        self, *, tenant_id: str | None = None, since: str | None = None, until: str | None = None
    ) -> list[UsageRow]:
        return usage.usage_report(
            self.session, self.access, tenant_id=tenant_id, since=since, until=until
        )

    def stats(self) -> StoreStats:
        """Run outcomes, ingest counts, queue depth, freshness, lag: what ``/metrics`` shows
        (of the records ``access`` sees)."""
        return stats.store_stats(self.session, self.access)

    # -- scope checks ----------------------------------------------------------------------------

    def _platform_only(self, what: str) -> None:
        if not self.access.is_platform:
            raise StoreError("platform_only", f"{what} is the platform's to do, not a tenant's")

    def _see_tenant(self, tenant_id: str) -> None:
        """A tenant acts on itself only; the platform on any tenant, whose rows row-level
        security then shows to this transaction."""
        if self.access.is_platform:
            if self._postgres:
                self.session.execute(
                    sa.text("SELECT set_config('app.current_tenant', :tenant, true)"),
                    {"tenant": tenant_id},
                )
        elif not self.access.acts_for(tenant_id):
            raise NotFound("tenant_unknown", f"no tenant {tenant_id!r}")
