"""Tenants, keys, entitlements, tenant-owned objects and the audit log, on SQLite and PostgreSQL;
and on PostgreSQL, row-level security proven with a deliberately unscoped query."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from aurum.errors import AuthError, Conflict, NotFound, StoreError
from aurum.store import Store
from aurum.store.tenancy import DOCUMENT_KINDS


@pytest.fixture
def two_tenants(store: Store) -> Store:
    store.create_tenant("acme", "Acme Energy")
    store.create_tenant("bolt", "Bolt Trading")
    store.entitle("acme", ["PW", "EUGP"])
    store.entitle("bolt", ["RP"])
    return store


def test_tenants_and_entitlements(two_tenants: Store):
    store = two_tenants
    assert store.tenant("acme").vendors == ("EUGP", "PW")
    assert store.entitle("acme", ["PW"], grant=False).vendors == ("EUGP",)
    assert [t.tenant_id for t in store.tenants()] == ["acme", "bolt"]
    with pytest.raises(Conflict):
        store.create_tenant("acme", "again")
    with pytest.raises(NotFound):
        store.tenant("nobody")
    for bad in ("", "Acme", "a b", "-x", "x" * 64, "a'; DROP TABLE tenant; --"):
        with pytest.raises(StoreError) as error:
            store.create_tenant(bad, "bad")
        assert error.value.code == "tenant_id_invalid"


def test_api_keys_are_shown_once_stored_hashed_and_revocable(two_tenants: Store):
    store = two_tenants
    issued = store.create_key(tenant_id="acme", role="aurum-analyst", name="ci", created_by="t")
    assert issued.token.startswith(f"aurum_{issued.key.prefix}_")
    with store.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT * FROM api_key")).mappings().one()
    assert issued.token.split("_", 2)[2] not in str(dict(stored))  # only the hash is kept
    assert store.verify_key(issued.token).tenant_id == "acme"
    forged = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    for bad, code in ((forged, "key_invalid"), ("aurum_x", "key_invalid"), ("", "key_invalid")):
        with pytest.raises(AuthError) as error:
            store.verify_key(bad)
        assert error.value.code == code and issued.token not in str(error.value)
    with pytest.raises(NotFound):  # another tenant cannot revoke it
        store.revoke_key(issued.key.prefix, tenant_id="bolt")
    store.revoke_key(issued.key.prefix, tenant_id="acme")
    with pytest.raises(AuthError) as error:
        store.verify_key(issued.token)
    assert error.value.code == "key_revoked"
    expired = store.create_key(
        tenant_id="bolt", role="aurum-ops", name="x", created_by="t",
        expires_in=timedelta(microseconds=1),
    )  # fmt: skip
    with pytest.raises(AuthError) as error:
        store.verify_key(expired.token)
    assert error.value.code == "key_expired"
    with pytest.raises(StoreError):
        store.create_key(tenant_id="acme", role="root", name="x", created_by="t")


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_another_tenants_objects_are_not_found(two_tenants: Store, kind):
    store = two_tenants
    mine = store.create_document(
        kind, "acme", name="base", description="", spec={"x": 1}, created_by="ann"
    )
    theirs = store.create_document(
        kind, "bolt", name="base", description="", spec={"y": 2}, created_by="bob"
    )  # the same name in another tenant is fine
    assert [d.id for d in store.documents(kind, "acme")] == [mine.id]
    for call in (
        lambda: store.document(kind, "acme", theirs.id),
        lambda: store.update_document(kind, "acme", theirs.id, {"name": "mine now"}),
        lambda: store.delete_document(kind, "acme", theirs.id),
    ):
        with pytest.raises(NotFound) as error:
            call()
        assert error.value.code == f"{kind}_unknown"
    assert store.document(kind, "bolt", theirs.id).spec == {"y": 2}
    with pytest.raises(Conflict):
        store.create_document(kind, "acme", name="base", description="", spec={}, created_by="a")
    assert store.update_document(kind, "acme", mine.id, {"spec": {"x": 3}}).spec == {"x": 3}
    store.delete_document(kind, "acme", mine.id)
    assert store.documents(kind, "acme") == []


def test_assumptions_and_model_runs_are_scoped(two_tenants: Store):
    store = two_tenants
    scenario = store.create_document(
        "scenario", "acme", name="s", description="", spec={}, created_by="ann"
    )
    store.create_assumption("acme", scenario.id, name="gas", value=0.1, created_by="ann")
    with pytest.raises(NotFound):
        store.create_assumption("bolt", scenario.id, name="gas2", value=1, created_by="bob")
    with pytest.raises(NotFound):
        store.assumptions("bolt", scenario.id)
    run = store.create_model_run(
        "acme", kind="scenario", subject_id=scenario.id, params={}, created_by="ann"
    )
    assert store.model_run("acme", run.id).status == "queued"
    with pytest.raises(NotFound):
        store.model_run("bolt", run.id)
    assert store.model_runs("bolt") == []
    store.delete_document("scenario", "acme", scenario.id)  # its assumptions go with it
    with store.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM assumption")).scalar() == 0


def test_audit_log_is_per_tenant_plus_platform(two_tenants: Store):
    store = two_tenants
    store.audit("ingest", actor="watcher", tenant_id=None, target="run1")
    store.audit("key.create", actor="ann@acme", tenant_id="acme", target="k1", request_id="r1")
    store.audit("key.create", actor="bob@bolt", tenant_id="bolt", target="k2")
    acme = store.audit_log("acme")
    assert [(e.action, e.target) for e in acme] == [("key.create", "k1"), ("ingest", "run1")]
    assert acme[0].request_id == "r1" and acme[0].actor == "ann@acme"
    assert [e.target for e in store.audit_log("acme", action="ingest")] == ["run1"]
    assert [e.target for e in store.audit_log("acme", before_id=acme[0].id)] == ["run1"]


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
    with Store.open(_as_role(store_url, app_role), owner_url=store_url) as store:
        assert store.row_security() == "rls"
        store.create_tenant("acme", "Acme")
        store.create_tenant("bolt", "Bolt")
        for tenant in ("acme", "bolt"):
            for kind in DOCUMENT_KINDS:
                store.create_document(
                    kind, tenant, name=f"{tenant}-{kind}", description="", spec={},
                    created_by=tenant,
                )  # fmt: skip
        store.entitle("bolt", ["RP"])
        keys = {t: store.create_key(tenant_id=t, role="aurum-ops", name="k", created_by="t")
                for t in ("acme", "bolt")}  # fmt: skip
        engine = store.engine
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT set_config('app.current_tenant', 'acme', true)"))
            for table in ("scenario", "ppa_contract", "curve_def", "entitlement", "api_key"):
                tenants = connection.execute(sa.text(f"SELECT tenant_id FROM {table}")).scalars()
                assert set(tenants) <= {"acme"}, table
            assert connection.execute(sa.text("SELECT count(*) FROM scenario")).scalar() == 1
            with pytest.raises(sa.exc.ProgrammingError, match="row-level security"):
                connection.execute(
                    sa.text(
                        "INSERT INTO scenario (id, tenant_id, name, description, spec,"
                        " created_by, created_at, updated_at) VALUES ('x', 'bolt', 'planted', '',"
                        " '{}', 'mallory', now(), now())"
                    )
                )
        with engine.begin() as connection:  # no tenant set: no rows at all
            assert connection.execute(sa.text("SELECT count(*) FROM scenario")).scalar() == 0
            assert connection.execute(sa.text("SELECT count(*) FROM api_key")).scalar() == 0
            assert connection.execute(sa.text("UPDATE scenario SET name = 'x'")).rowcount == 0
        # keys are still found by their prefix, listed per tenant and revoked from the CLI
        assert store.verify_key(keys["bolt"].token).tenant_id == "bolt"
        assert {k.tenant_id for k in store.api_keys()} == {"acme", "bolt"}
        assert store.revoke_key(keys["bolt"].key.prefix).revoked_at is not None
        # the app role owns nothing: it cannot lift RLS, nor move the schema's version
        for statement in (
            "ALTER TABLE scenario DISABLE ROW LEVEL SECURITY",
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
