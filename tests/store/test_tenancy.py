"""Tenants, keys, entitlements, tenant-owned objects and the audit log, on SQLite and PostgreSQL;
and on PostgreSQL, row-level security proven with a deliberately unscoped query (runs too)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from aurum import tenancy
from aurum.auth.access import Access
from aurum.errors import AuthError, Conflict, NotFound, StoreError
from aurum.store import Store
from aurum.store.documents import DOCUMENT_KINDS

PLATFORM = Access.platform("tests")
ACME, BOLT = Access("acme", actor="ann@acme"), Access("bolt", actor="bob@bolt")


@pytest.fixture
def two_tenants(store: Store) -> Store:
    tenancy.create_tenant(store, PLATFORM, "acme", "Acme Energy", ["PW", "EUGP"])
    tenancy.create_tenant(store, PLATFORM, "bolt", "Bolt Trading", ["RP"])
    return store


def test_tenants_and_entitlements(two_tenants: Store):
    store = two_tenants
    with store.transaction(PLATFORM) as tx:
        assert tx.tenant("acme").vendors == ("EUGP", "PW")
        assert tx.entitle("acme", ["PW"], grant=False).vendors == ("EUGP",)
        assert tx.tenants() == ["acme", "bolt"]
    with pytest.raises(Conflict), store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "again")
    with pytest.raises(NotFound), store.transaction(PLATFORM) as tx:
        tx.tenant("nobody")
    with pytest.raises(NotFound), store.transaction(ACME) as tx:
        tx.entitle("bolt", ["PW"])  # a tenant acts on itself only
    for bad in ("", "Acme", "a b", "-x", "x" * 64, "a'; DROP TABLE tenant; --"):
        with pytest.raises(StoreError) as error, store.transaction(PLATFORM) as tx:
            tx.create_tenant(bad, "bad")
        assert error.value.code == "tenant_id_invalid"


def test_api_keys_are_shown_once_stored_hashed_and_revocable(two_tenants: Store):
    store = two_tenants
    issued = tenancy.issue_key(store, PLATFORM, tenant_id="acme", role="aurum-analyst", name="ci")
    assert issued.token.startswith(f"aurum_{issued.key.prefix}_")
    assert issued.key.created_by == "tests"
    with store.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT * FROM api_key")).mappings().one()
    assert issued.token.split("_", 2)[2] not in str(dict(stored))  # only the hash is kept

    def verify(token: str) -> object:
        with store.transaction(PLATFORM, write=False) as tx:
            return tx.verify_key(token)

    assert verify(issued.token).tenant_id == "acme"  # type: ignore[attr-defined]
    forged = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    for bad, code in ((forged, "key_invalid"), ("aurum_x", "key_invalid"), ("", "key_invalid")):
        with pytest.raises(AuthError) as error:
            verify(bad)
        assert error.value.code == code and issued.token not in str(error.value)
    with pytest.raises(NotFound):  # another tenant cannot revoke it
        tenancy.revoke_key(store, BOLT, issued.key.prefix)
    tenancy.revoke_key(store, ACME, issued.key.prefix)
    with pytest.raises(AuthError) as error:
        verify(issued.token)
    assert error.value.code == "key_revoked"
    expired = tenancy.issue_key(store, BOLT, tenant_id="bolt", role="aurum-ops", name="x",
                                expires_in=timedelta(microseconds=1))  # fmt: skip
    with pytest.raises(AuthError) as error:
        verify(expired.token)
    assert error.value.code == "key_expired"
    with pytest.raises(StoreError):
        tenancy.issue_key(store, ACME, tenant_id="acme", role="root", name="x")
    with pytest.raises(NotFound):
        tenancy.issue_key(store, ACME, tenant_id="bolt", role="aurum-ops", name="x")
    with store.transaction(ACME, write=False) as tx:
        assert [k.prefix for k in tx.api_keys()] == [issued.key.prefix]
    with store.transaction(PLATFORM, write=False) as tx:
        audit = [(e.action, e.tenant_id, e.actor) for e in tx.audit_log(action="key.create")]
    assert audit == [("key.create", "bolt", "bob@bolt"), ("key.create", "acme", "tests")]


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_another_tenants_objects_are_not_found(two_tenants: Store, kind):
    store = two_tenants
    with store.transaction(ACME) as tx:
        mine = tx.create_document(kind, name="base", description="", spec={"x": 1})
    with store.transaction(BOLT) as tx:  # the same name in another tenant is fine
        theirs = tx.create_document(kind, name="base", description="", spec={"y": 2})
    assert (mine.created_by, mine.tenant_id) == ("ann@acme", "acme")
    with store.transaction(ACME, write=False) as tx:
        assert [d.id for d in tx.documents(kind)] == [mine.id]
    for call in (
        lambda tx: tx.document(kind, theirs.id),
        lambda tx: tx.update_document(kind, theirs.id, {"name": "mine now"}),
        lambda tx: tx.delete_document(kind, theirs.id),
    ):
        with pytest.raises(NotFound) as error, store.transaction(ACME) as tx:
            call(tx)
        assert error.value.code == f"{kind}_unknown"
    with store.transaction(BOLT, write=False) as tx:
        assert tx.document(kind, theirs.id).spec == {"y": 2}
    with pytest.raises(Conflict), store.transaction(ACME) as tx:
        tx.create_document(kind, name="base", description="", spec={})
    with store.transaction(ACME) as tx:
        assert tx.update_document(kind, mine.id, {"spec": {"x": 3}}).spec == {"x": 3}
        tx.delete_document(kind, mine.id)
        assert tx.documents(kind) == []
    with pytest.raises(Exception) as error, store.transaction(PLATFORM) as tx:
        tx.create_document(kind, name="orphan", description="", spec={})
    assert getattr(error.value, "code", "") == "tenant_required"


def test_assumptions_are_scoped(two_tenants: Store):
    store = two_tenants
    with store.transaction(ACME) as tx:
        scenario = tx.create_document("scenario", name="s", description="", spec={})
        tx.create_assumption(scenario.id, name="gas", value=0.1)
    with pytest.raises(NotFound), store.transaction(BOLT) as tx:
        tx.create_assumption(scenario.id, name="gas2", value=1)
    with pytest.raises(NotFound), store.transaction(BOLT) as tx:
        tx.assumptions(scenario.id)
    with store.transaction(ACME) as tx:
        assert [a.name for a in tx.assumptions(scenario.id)] == ["gas"]
        tx.delete_document("scenario", scenario.id)  # its assumptions go with it
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM assumption")).scalar() == 0


def test_audit_log_is_per_tenant_plus_platform(two_tenants: Store):
    store = two_tenants
    with store.transaction(Access.platform("watcher")) as tx:
        tx.audit("ingest", target="run1", details={"vendor": "PW"})
        tx.audit("ingest", target="run2", details={"vendor": "RP"})
    with store.transaction(ACME) as tx:
        tx.audit("key.create", target="k1", request_id="r1")
    with store.transaction(BOLT) as tx:
        tx.audit("key.create", target="k2")
    acme = Access("acme", vendors=frozenset({"PW", "EUGP"}), actor="ann@acme")
    with store.transaction(acme, write=False) as tx:
        entries = tx.audit_log()
        assert [(e.action, e.target) for e in entries] == [
            ("key.create", "k1"), ("ingest", "run1"), ("tenant.create", "acme"),
        ]  # fmt: skip
        assert entries[0].request_id == "r1" and entries[0].actor == "ann@acme"
        assert [e.target for e in tx.audit_log(action="ingest")] == ["run1"]  # not RP's
        assert [e.target for e in tx.audit_log(before_id=entries[0].id)] == ["run1", "acme"]


# -- PostgreSQL row-level security -----------------------------------------------------------


@pytest.fixture
def app_role(postgres_database: str) -> Iterator[str]:
    """A login role that is neither superuser nor owner: what the application connects as."""
    role = f"aurum_app_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOBYPASSRLS'))
    yield role
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP OWNED BY "{role}"'))
        connection.execute(sa.text(f'DROP ROLE "{role}"'))
    admin.dispose()


def _as_role(owner_url: str, role: str) -> str:
    return sa.make_url(owner_url).set(username=role).render_as_string(hide_password=False)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_row_level_security_hides_other_tenants_from_an_unscoped_query(store_url, app_role):
    """Tenant A's transaction runs ``SELECT * FROM scenario`` with no WHERE: none of B's rows."""
    lease = ("me", timedelta(seconds=60))
    with Store.open(_as_role(store_url, app_role), owner_url=store_url) as store:
        assert store.row_security() == "rls"
        tenancy.create_tenant(store, PLATFORM, "acme", "Acme", ["PW"])
        tenancy.create_tenant(store, PLATFORM, "bolt", "Bolt", ["RP"])
        keys = {}
        for tenant, access in (("acme", ACME), ("bolt", BOLT)):
            with store.transaction(access) as tx:
                for kind in DOCUMENT_KINDS:
                    tx.create_document(kind, name=f"{tenant}-{kind}", description="", spec={})
                tx.start_run("ingest", subject=f"{tenant}.xlsx", lease=lease, vendor="RP")
            keys[tenant] = tenancy.issue_key(store, PLATFORM, tenant_id=tenant, role="aurum-ops",
                                             name="k")  # fmt: skip
        with store.transaction(PLATFORM) as tx:  # the platform's runs, of PW and of RP
            tx.start_run("ingest", subject="pw.xlsx", lease=lease, vendor="PW")
            tx.start_run("ingest", subject="rp.xlsx", lease=lease, vendor="RP")
        engine = store.engine
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT set_config('app.current_tenant', 'acme', true)"))
            for table in ("scenario", "ppa_contract", "curve_def", "entitlement", "api_key"):
                tenants = connection.execute(sa.text(f"SELECT tenant_id FROM {table}")).scalars()
                assert set(tenants) <= {"acme"}, table
            assert connection.execute(sa.text("SELECT count(*) FROM scenario")).scalar() == 1
            # runs: acme's own, and the platform's of the vendors acme is entitled to (PW)
            subjects = connection.execute(sa.text("SELECT subject FROM run")).scalars()
            assert sorted(subjects) == ["acme.xlsx", "pw.xlsx"]
            with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
                connection.execute(
                    sa.text(
                        "INSERT INTO scenario (id, tenant_id, name, description, spec,"
                        " created_by, created_at, updated_at) VALUES ('x', 'bolt', 'planted', '',"
                        " '{}', 'mallory', now(), now())"
                    )
                )
        with engine.begin() as connection:  # no tenant set: no tenant's rows at all
            assert connection.execute(sa.text("SELECT count(*) FROM scenario")).scalar() == 0
            assert connection.execute(sa.text("SELECT count(*) FROM api_key")).scalar() == 0
            assert connection.execute(sa.text("UPDATE scenario SET name = 'x'")).rowcount == 0
            assert connection.execute(sa.text("SELECT count(*) FROM run")).scalar() == 0
        # keys are still found by their prefix, and revoked from the CLI (the platform)
        with store.transaction(PLATFORM, write=False) as tx:
            assert tx.verify_key(keys["bolt"].token).tenant_id == "bolt"
            assert len(tx.runs()) == 4  # the platform sees every run
        assert tenancy.revoke_key(store, PLATFORM, keys["bolt"].key.prefix).revoked_at
        # the app role owns nothing: it cannot lift RLS, nor move the schema's version
        for statement in (
            "ALTER TABLE scenario DISABLE ROW LEVEL SECURITY",
            "ALTER TABLE run DISABLE ROW LEVEL SECURITY",
            "UPDATE alembic_version SET version_num = '0001'",
        ):
            with engine.begin() as connection, pytest.raises(sa.exc.ProgrammingError):
                connection.execute(sa.text(statement))


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_superuser_connection_is_reported_as_bypassing(store: Store):
    assert store.row_security() == "bypassed"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_sqlite_scopes_in_the_service_layer(store: Store):
    assert store.row_security() == "service"
