"""Authentication, roles, entitlements, tenant isolation, rate limits and the audit log over HTTP.

The isolation suite runs on SQLite and on the local PostgreSQL, where the app connects as a role
that owns nothing, so row-level security is in force.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api import security
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM, Access
from aurum.auth.principal import ADMIN, ANALYST
from aurum.config import Settings
from aurum.errors import ConfigError
from aurum.store import Store
from aurum.store.keys import ApiKey
from aurum.store.tenants import Tenant

DAY = date(2025, 10, 1)
DOCUMENT_PATHS = ("/v1/scenarios", "/v1/ppa-contracts", "/v1/curve-defs")
# Scenario settings and PPA terms are typed (aurum.scenarios.specs, aurum.ppa.terms); a curve
# definition's spec is free JSON.
PPA = {
    "hub": {"vendor": "PW", "iso": "PJM"}, "volume": {"type": "baseload", "mw": 50},
    "strike": {"type": "fixed", "price": 40}, "term": {"start": "2026-01", "end": "2026-12"},
}  # fmt: skip
SPECS: dict[str, dict[str, object]] = {
    "/v1/scenarios": {"base": {"vendors": ["PW"]}}, "/v1/ppa-contracts": PPA,
}
SHOCK = {"type": "shock", "mode": "relative", "value": 10}


@pytest.fixture(scope="module")
def lake_paths(synthetic_days) -> list[Path]:
    return [*synthetic_days("PW", DAY, 1), *synthetic_days("RP", DAY, 1)]


def _tenants(settings: Settings) -> dict[str, str]:
    """Tenants acme (PW) and bolt (RP), and a key per (tenant, role): name -> token."""
    tokens: dict[str, str] = {}
    with Store.connect(settings) as store:
        for tenant, vendor in (("acme", "PW"), ("bolt", "RP")):
            tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), [vendor])
            for role in ("aurum-admin", "aurum-ops", "aurum-analyst"):
                issued = tenancy.issue_key(store, PLATFORM, tenant_id=tenant, role=role, name=role)
                tokens[f"{tenant}/{role.removeprefix('aurum-')}"] = issued.token
    return tokens


class Caller:
    """A TestClient that sends one credential."""

    def __init__(self, client: TestClient, token: str | None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            headers = {**self.headers, **kwargs.pop("headers", {})}
            return getattr(self.client, method)(*args, headers=headers, **kwargs)

        return call


@pytest.fixture(scope="module")
def secured(build_lake, lake_paths) -> Iterator[tuple[TestClient, dict[str, str], Settings]]:
    settings = build_lake(
        "auth", lake_paths, auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    tokens = _tenants(settings)
    with TestClient(create_app(settings)) as client:
        yield client, tokens, settings


def as_(secured: Any, who: str | None) -> Caller:
    client, tokens, _ = secured
    return Caller(client, tokens[who] if who else None)


# -- every route needs credentials ---------------------------------------------------------------


def _operations(client: TestClient, token: str) -> list[tuple[str, str, dict[str, Any]]]:
    assert client.get("/openapi.json").status_code == 401  # described to callers only
    assert client.get("/docs").status_code == 404
    spec = client.get("/openapi.json", headers={"Authorization": f"Bearer {token}"}).json()
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def test_every_route_but_health_requires_authentication(secured):
    client, tokens, _ = secured
    operations = _operations(client, tokens["acme/analyst"])
    assert len(operations) > 25
    for method, path, operation in operations:
        if path == "/health":
            assert "security" not in operation
            assert client.get(path).status_code == 200
            continue
        assert operation.get("security") == [{"bearer": []}], (method, path)
        assert operation.get("x-aurum-roles"), (method, path)
        url = path.replace("{object_id}", "x").replace("{run_id}", "x").replace("{prefix}", "x")
        response = client.request(method.upper(), url)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_route_without_declared_roles_stops_the_app():
    from fastapi import APIRouter

    from aurum.api.routes import curves

    stray = APIRouter()
    stray.add_api_route("/v1/stray", lambda: {"leak": True})
    with pytest.raises(RuntimeError, match="/v1/stray"):
        security.check_routes([curves.router, stray])
    twice = APIRouter(dependencies=[security.requires(ANALYST)])
    twice.add_api_route("/v1/twice", lambda: {}, dependencies=[security.requires(ADMIN)])
    with pytest.raises(RuntimeError, match="/v1/twice"):
        security.check_routes([twice])


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        ("aurum_deadbeef_" + "A" * 43, "key_invalid"),
        ("aurum_short", "key_invalid"),
        ("not-a-jwt", "token_unsupported"),
        ("' OR 1=1 --", "token_unsupported"),
    ],
)
def test_bad_credentials_are_401(secured, credential, code):
    client, _, _ = secured
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {credential}"})
    assert response.status_code == 401 and response.json()["code"] == code
    assert credential not in response.text
    basic = client.get("/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401


def test_a_revoked_key_is_refused_at_once(secured):
    client, _, settings = secured
    with Store.connect(settings) as store:
        issued = tenancy.issue_key(
            store, PLATFORM, tenant_id="acme", role="aurum-analyst", name="x"
        )
    me = Caller(client, issued.token)
    assert me.get("/v1/me").json()["tenant_id"] == "acme"
    admin = as_(secured, "acme/admin")
    assert admin.delete(f"/v1/admin/keys/{issued.key.prefix}").status_code == 200
    refused = me.get("/v1/me")
    assert refused.status_code == 401 and refused.json()["code"] == "key_revoked"
    # another tenant's admin cannot even see that key
    other = as_(secured, "bolt/admin").delete(f"/v1/admin/keys/{issued.key.prefix}")
    assert other.status_code == 404


# -- roles and entitlements ----------------------------------------------------------------------


def test_a_cached_key_is_refused_once_it_expires(secured):
    import time
    from datetime import timedelta

    from aurum.auth.principal import Authenticator
    from aurum.config import AuthSettings
    from aurum.errors import AuthError

    _, _, settings = secured
    with Store.connect(settings) as store:
        issued = tenancy.issue_key(store, PLATFORM, tenant_id="acme", role="aurum-ops",
                                   name="short", expires_in=timedelta(seconds=1))  # fmt: skip

        def key(token: str) -> ApiKey:
            with store.transaction(PLATFORM, write=False) as tx:
                return tx.verify_key(token)

        def tenant(tenant_id: str) -> Tenant:
            with store.transaction(PLATFORM, write=False) as tx:
                return tx.tenant(tenant_id)

        auth = Authenticator(AuthSettings(mode="on", cache_s=60), keys=key, tenants=tenant)
        assert auth.authenticate(issued.token).actor == f"key:{issued.key.prefix}@acme"
        assert auth.peek(issued.token) is not None
        time.sleep(1.1)
        assert auth.peek(issued.token) is None
        with pytest.raises(AuthError) as error:
            auth.authenticate(issued.token)
        assert error.value.code == "key_expired"


def test_roles_gate_routes(secured):
    analyst, ops, admin = (as_(secured, f"acme/{r}") for r in ("analyst", "ops", "admin"))
    assert analyst.get("/v1/curves", params={"limit": 1}).status_code == 200
    assert ops.get("/v1/curves", params={"limit": 1}).status_code == 200
    refused = analyst.get("/v1/ingest/runs")
    assert refused.status_code == 403 and refused.json()["code"] == "role_missing"
    assert analyst.post("/v1/ingest", files={"file": ("x.xlsx", b"x")}).status_code == 403
    assert ops.get("/v1/ingest/runs").status_code == 200
    assert ops.get("/v1/admin/audit").status_code == 403
    assert ops.post("/v1/scenarios", json={"name": "s"}).status_code == 403
    assert admin.get("/v1/admin/audit").status_code == 200
    assert admin.get("/ready").status_code == 200
    assert analyst.get("/metrics").status_code == 403
    me = admin.get("/v1/me").json()
    assert me["roles"] == ["aurum-admin"] and me["vendors"] == ["PW"]


def test_curves_are_readable_only_for_entitled_vendors(secured):
    acme = as_(secured, "acme/analyst")
    rows = acme.get("/v1/curves", params={"limit": 10000}).json()["data"]
    assert rows and {r["vendor"] for r in rows} == {"PW"}
    assert [v["vendor"] for v in acme.get("/v1/metadata/vendors").json()["data"]] == ["PW"]
    dates = acme.get("/v1/metadata/asof-dates").json()["data"]
    assert {d["vendor"] for d in dates} == {"PW"}
    curves = acme.get("/v1/metadata/curves", params={"limit": 10000}).json()["data"]
    assert {c["vendor"] for c in curves} == {"PW"}
    refused = acme.get("/v1/curves", params={"vendor": "RP"})
    assert refused.status_code == 403 and refused.json()["code"] == "vendor_not_entitled"
    assert acme.get("/v1/metadata/asof-dates", params={"vendor": "rp"}).status_code == 403
    export_rp = {"asof": DAY.isoformat(), "vendor": "RP"}
    assert acme.get("/v1/exports/curve_observation", params=export_rp).status_code == 403
    bolt = as_(secured, "bolt/analyst")
    rp_key = bolt.get("/v1/metadata/curves", params={"limit": 1}).json()["data"][0]["curve_key"]
    hidden = acme.get("/v1/curves", params={"curve_key": rp_key})
    assert hidden.status_code == 404 and hidden.json()["code"] == "curve_unknown"
    for path in ("/v1/curves/latest", "/v1/curves/strips"):
        assert {r["vendor"] for r in acme.get(path, params={"limit": 10000}).json()["data"]} \
            <= {"PW"}  # fmt: skip
    export = acme.get(
        "/v1/exports/curve_observation", params={"asof": DAY.isoformat(), "format": "csv"}
    )
    assert export.status_code == 200
    assert {row["vendor"] for row in csv.DictReader(io.StringIO(export.text))} == {"PW"}


def test_answers_of_different_entitlements_never_share_a_cache_entry(secured):
    acme, bolt = as_(secured, "acme/analyst"), as_(secured, "bolt/analyst")
    first = acme.get("/v1/metadata/vendors")
    second = bolt.get("/v1/metadata/vendors", headers={"If-None-Match": first.headers["etag"]})
    assert second.status_code == 200 and second.json()["data"][0]["vendor"] == "RP"


# -- tenant isolation of every tenant-owned endpoint ---------------------------------------------


def _owned_ids(caller: Caller) -> dict[str, str]:
    ids = {}
    for path in DOCUMENT_PATHS:
        spec = SPECS.get(path, {"a": 1})
        created = caller.post(path, json={"name": f"x-{uuid.uuid4().hex[:6]}", "spec": spec})
        assert created.status_code == 201, created.text
        ids[path] = created.json()["data"][0]["id"]
    assumption = caller.post(f"/v1/scenarios/{ids['/v1/scenarios']}/assumptions",
                             json={"name": "gas", "value": SHOCK})  # fmt: skip
    assert assumption.status_code == 201
    return ids


def _isolation(client: TestClient, tokens: dict[str, str], settings: Settings) -> None:
    acme = Caller(client, tokens["acme/analyst"])
    bolt = Caller(client, tokens["bolt/analyst"])
    theirs = _owned_ids(acme)
    with Store.connect(settings) as store, store.transaction(Access("acme", actor="ann")) as tx:
        run = tx.start_run("scenario_run", subject="s", queued=True)
    attempts = [
        ("get", f"/v1/model-runs/{run.run_id}", None),
        ("get", f"/v1/scenarios/{theirs['/v1/scenarios']}/assumptions", None),
        ("post", f"/v1/scenarios/{theirs['/v1/scenarios']}/assumptions",
         {"name": "planted", "value": SHOCK}),
    ]  # fmt: skip
    for path, object_id in theirs.items():
        attempts += [
            ("get", f"{path}/{object_id}", None),
            ("patch", f"{path}/{object_id}", {"name": "stolen"}),
            ("delete", f"{path}/{object_id}", None),
        ]
    for method, url, body in attempts:
        response = bolt.request(method.upper(), url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["code"].endswith("_unknown")
    for path in (*DOCUMENT_PATHS, "/v1/model-runs"):
        assert bolt.get(path).json()["data"] == [], path
        assert len(acme.get(path).json()["data"]) >= 1, path
    for path, object_id in theirs.items():  # untouched
        spec = acme.get(f"{path}/{object_id}").json()["data"][0]["spec"]
        if path == "/v1/scenarios":
            assert spec["base"]["vendors"] == ["PW"]
        elif path == "/v1/ppa-contracts":
            assert spec["hub"]["vendor"] == "PW"
        else:
            assert spec.get("a") == 1


def test_a_tenant_cannot_reach_another_tenants_objects(secured):
    _isolation(*secured)


@pytest.fixture
def postgres_settings(postgres_app_store, build_lake, lake_paths) -> Settings:
    """The app on PostgreSQL as a role that owns nothing (so RLS binds it)."""
    return build_lake(
        "auth-pg", lake_paths, auth={"mode": "on", "cache_s": 0}, store=postgres_app_store
    )


def test_tenant_isolation_on_postgresql_with_row_level_security(postgres_settings):
    tokens = _tenants(postgres_settings)
    with TestClient(create_app(postgres_settings)) as client:
        ready = Caller(client, tokens["acme/ops"]).get("/ready").json()
        assert ready["checks"]["row_security"]["value"] == "rls"
        _isolation(client, tokens, postgres_settings)


# -- objects, audit, rate limits, bodies ---------------------------------------------------------


def test_documents_crud_and_bad_bodies(secured):
    acme = as_(secured, "acme/analyst")
    created = acme.post("/v1/ppa-contracts", json={"name": "Solar 1", "spec": PPA})
    assert created.status_code == 201
    doc = created.json()["data"][0]
    assert doc["created_by"].startswith("key:") and doc["tenant_id"] == "acme"
    assert acme.post("/v1/ppa-contracts", json={"name": "Solar 1", "spec": PPA}).status_code == 409
    untyped = acme.post("/v1/ppa-contracts", json={"name": "Solar 2", "spec": {"mw": 50}})
    assert untyped.status_code == 422 and untyped.json()["code"] == "spec_invalid"
    wider = {**PPA, "volume": {"type": "baseload", "mw": 60}}
    changed = acme.patch(f"/v1/ppa-contracts/{doc['id']}", json={"spec": wider})
    assert changed.json()["data"][0]["spec"]["volume"]["mw"] == 60
    assert changed.json()["data"][0]["version"] == 2
    for body in ({}, {"name": ""}, {"name": "x", "extra": 1}, {"name": "a\x00b"},
                 {"name": "x" * 201}, {"name": "big", "spec": {"x": "y" * 300_000}}):  # fmt: skip
        response = acme.post("/v1/ppa-contracts", json=body)
        assert response.status_code == 400, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert acme.patch(f"/v1/ppa-contracts/{doc['id']}", json={"name": None}).status_code == 400
    assert acme.delete(f"/v1/ppa-contracts/{doc['id']}").status_code == 204
    assert acme.get(f"/v1/ppa-contracts/{doc['id']}").status_code == 404
    sneaky = acme.get("/v1/scenarios/' OR '1'='1")
    assert sneaky.status_code == 404


HOSTILE = ("' OR '1'='1", "x'; DROP TABLE scenario; --", "%", "../../etc/passwd", "é\u202e", "1e9")


@pytest.mark.parametrize("text", HOSTILE)
def test_injection_in_every_tenant_object_parameter(secured, text):
    acme = as_(secured, "acme/analyst")
    for path in (*DOCUMENT_PATHS, "/v1/model-runs"):
        assert acme.get(f"{path}/{text}").status_code in (404, 405), path
        assert acme.get(path, params={"limit": text}).status_code == 400
    body = {"name": f"n {text} {uuid.uuid4().hex[:4]}", "description": text, "spec": {text: text}}
    created = acme.post("/v1/curve-defs", json=body)
    assert created.status_code == 201
    found = acme.get(f"/v1/curve-defs/{created.json()['data'][0]['id']}").json()["data"][0]
    assert found["description"] == text and found["spec"] == {text: text}
    hub = {**PPA, "hub": {"vendor": "PW", "location": text}}
    contract = acme.post("/v1/ppa-contracts", json={**body, "spec": hub})
    assert contract.status_code == 201, contract.text
    found = acme.get(f"/v1/ppa-contracts/{contract.json()['data'][0]['id']}").json()["data"][0]
    assert found["description"] == text and found["spec"]["hub"]["location"] == text
    scenario = acme.post("/v1/scenarios", json={**body, "spec": SPECS["/v1/scenarios"]})
    assert scenario.status_code == 201
    sid = scenario.json()["data"][0]["id"]
    assert acme.get(f"/v1/scenarios/{sid}").json()["data"][0]["description"] == text
    typed = {"type": "shock", "filter": {"location": text}, "mode": "absolute", "value": 1}
    added = acme.post(f"/v1/scenarios/{sid}/assumptions", json={"name": text, "value": typed})
    assert added.status_code == 201
    assert acme.get(f"/v1/scenarios/{sid}/assumptions").json()["data"][0]["name"] == text
    if text.isascii():  # an API key's tenant is the key's: the header is moot
        assert acme.get("/v1/me", headers={"X-Aurum-Tenant": text}).status_code == 200
    admin = as_(secured, "acme/admin")
    assert admin.get("/v1/admin/audit", params={"action": text}).json()["data"] == []
    assert admin.delete(f"/v1/admin/keys/{text}").status_code in (400, 404, 405)


def test_the_audit_log_records_who_did_what_in_which_request(secured):
    admin, analyst = as_(secured, "acme/admin"), as_(secured, "acme/analyst")
    created = admin.post("/v1/admin/keys", json={"role": "aurum-analyst", "name": "bot"},
                         headers={"X-Request-ID": "req-key-1"})  # fmt: skip
    assert created.status_code == 201
    prefix = created.json()["data"][0]["prefix"]
    assert created.json()["data"][0]["token"].startswith(f"aurum_{prefix}_")
    assert prefix in [k["prefix"] for k in admin.get("/v1/admin/keys").json()["data"]]
    assert "token" not in admin.get("/v1/admin/keys").json()["data"][0]
    analyst.post("/v1/scenarios", json={"name": "audit-me", "spec": SPECS["/v1/scenarios"]},
                 headers={"X-Request-ID": "req-s-1"})  # fmt: skip
    analyst.get("/v1/exports/curve_observation", params={"asof": DAY.isoformat()})
    admin.delete(f"/v1/admin/keys/{prefix}")
    entries = admin.get("/v1/admin/audit", params={"limit": 50}).json()["data"]
    by_action = {(e["action"], e["request_id"]): e for e in entries}
    key = by_action[("key.create", "req-key-1")]
    assert key["tenant_id"] == "acme" and key["actor"].endswith("@acme") and key["target"] == prefix
    assert ("scenario.create", "req-s-1") in by_action
    assert {"export", "key.revoke"} <= {e["action"] for e in entries}
    assert all(e["tenant_id"] in ("acme", None) for e in entries)
    bolt = as_(secured, "bolt/admin").get("/v1/admin/audit").json()["data"]
    assert all(e["tenant_id"] in ("bolt", None) for e in bolt)
    # the platform's ingests are shown only for the vendors a tenant is entitled to
    ingests = admin.get("/v1/admin/audit", params={"action": "ingest"}).json()["data"]
    assert ingests and {e["details"]["vendor"] for e in ingests if e["tenant_id"] is None} == {"PW"}
    assert admin.get("/v1/admin/audit", params={"since": "yesterday"}).status_code == 400


def test_a_burst_over_the_rate_limit_is_429_with_retry_after(build_lake, lake_paths):
    settings = build_lake("auth-rate", lake_paths[:1], auth={"mode": "on"},
                          rate_limit={"per_s": 0.5, "burst": 3})  # fmt: skip
    tokens = _tenants(settings)
    with TestClient(create_app(settings)) as client:
        acme, bolt = Caller(client, tokens["acme/analyst"]), Caller(client, tokens["bolt/analyst"])
        statuses = [acme.get("/v1/me").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        limited = acme.get("/v1/me")
        assert limited.json()["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert bolt.get("/v1/me").status_code == 200  # buckets are per key


def test_workers_share_one_bucket_in_redis(build_lake, lake_paths, redis_url):
    """Two apps (two workers, or two hosts) on one Redis: the burst is shared, not doubled."""
    settings = build_lake(
        "auth-redis", lake_paths[:1], auth={"mode": "on"},
        rate_limit={"per_s": 0.1, "burst": 4, "url": redis_url},
    )  # fmt: skip
    tokens = _tenants(settings)
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        assert one.app.state.services.limiter.name == "redis"
        first, second = Caller(one, tokens["acme/ops"]), Caller(two, tokens["acme/ops"])
        statuses = [caller.get("/v1/me").status_code for caller in (first, second) * 3]
        assert statuses == [200, 200, 200, 200, 429, 429]
        assert int(second.get("/v1/me").headers["retry-after"]) >= 1


def test_an_oversized_body_is_413_before_authentication(secured):
    client, _, settings = secured
    size = int(settings.api.max_upload_mb * 1024 * 1024) + 128 * 1024
    response = client.post("/v1/ingest", content=b"x" * 16,
                           headers={"Content-Length": str(size)})  # fmt: skip
    assert response.status_code == 413


def test_instruments_are_synced_from_the_curves(build_lake, lake_paths):
    import time

    settings = build_lake("instruments", lake_paths)
    with TestClient(create_app(settings)) as client:
        keys = {
            c["curve_key"] for c in client.get("/v1/metadata/curves?limit=10000").json()["data"]
        }
        store = client.app.state.services.store
        deadline = time.monotonic() + 30

        def instruments(vendor: str | None = None) -> list[dict[str, Any]]:
            with store.transaction(PLATFORM, write=False) as tx:
                return tx.instruments(vendor)

        while {i["curve_key"] for i in instruments()} != keys:
            assert time.monotonic() < deadline, "instruments were not synced"
            time.sleep(0.2)
        pw = instruments("PW")
        assert pw and all(i["identity"]["iso"] for i in pw) and pw[0]["last_asof"] == DAY


def test_the_ingest_log_and_quality_history_are_scoped(secured, synthetic_days):
    acme, bolt = as_(secured, "acme/ops"), as_(secured, "bolt/ops")
    upload = synthetic_days("RP", date(2025, 10, 8), 1)[0]
    with upload.open("rb") as handle:
        posted = bolt.post("/v1/ingest", files={"file": (upload.name, handle)})
    assert posted.status_code == 201, posted.text
    run = posted.json()["data"][0]["run"]
    assert (run["tenant_id"], run["requested_by"]) == ("bolt", run["requested_by"])
    assert bolt.get(f"/v1/ingest/runs/{run['run_id']}").status_code == 200
    hidden = acme.get(f"/v1/ingest/runs/{run['run_id']}")
    assert hidden.status_code == 404 and hidden.json()["code"] == "run_not_found"
    acme_runs = acme.get("/v1/ingest/runs").json()["data"]
    assert acme_runs and {r["vendor"] for r in acme_runs} == {"PW"}  # platform runs, entitled
    assert all(r["tenant_id"] in (None, "acme") for r in acme_runs)
    assert run["run_id"] in {r["run_id"] for r in bolt.get("/v1/ingest/runs").json()["data"]}
    checks = acme.get("/v1/qa/checks").json()["data"]
    assert checks and {c["vendor"] for c in checks} == {"PW"}
    assert acme.get("/v1/qa/checks", params={"vendor": "RP"}).status_code == 403
    with upload.open("rb") as handle:  # acme may not publish RP curves into the shared lake
        refused = acme.post("/v1/ingest", files={"file": (upload.name, handle)})
    assert refused.status_code == 403 and refused.json()["code"] == "vendor_not_entitled"


def test_no_credential_is_refused_before_the_body_is_read(secured):
    client, tokens, _ = secured
    anonymous = client.post("/v1/scenarios", content=b"{" * 500_000,
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    acme = Caller(client, tokens["acme/analyst"])
    big = acme.post("/v1/scenarios", content=b"{" * 2_000_000,
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert big.status_code == 413 and big.json()["code"] == "upload_too_large"
    nan = acme.post("/v1/scenarios", content=b'{"name": "nan", "spec": {"x": NaN}}',
                    headers={"Content-Type": "application/json"})  # fmt: skip
    assert nan.status_code == 400


# -- dev mode ------------------------------------------------------------------------------------


def test_dev_mode_refuses_a_non_loopback_address(build_lake, lake_paths):
    settings = build_lake("auth-dev", lake_paths[:1])
    exposed = settings.model_copy(
        update={"api": settings.api.model_copy(update={"host": "0.0.0.0"})}
    )
    with pytest.raises(ConfigError) as error:
        create_app(exposed)
    assert error.value.code == "dev_mode_exposed"
    with TestClient(create_app(settings)) as client:  # loopback: open, as the dev admin
        me = client.get("/v1/me").json()
        assert (me["subject"], me["tenant_id"], me["via"]) == ("dev", "default", "dev")
    for host in ("127.0.0.1.nip.io", "127.evil.com", "localhost.evil.com", "0.0.0.0", "::"):
        bound = settings.model_copy(update={"api": settings.api.model_copy(update={"host": host})})
        with pytest.raises(ConfigError):
            create_app(bound)
    app = create_app(settings)  # started by hand on another interface: each request is checked
    with TestClient(app, base_url="http://10.1.2.3:8095") as exposed:
        refused = exposed.get("/v1/me")
        assert refused.status_code == 403 and refused.json()["code"] == "dev_mode_exposed"
    with TestClient(app, base_url="http://127.0.0.1:8095") as local:
        assert local.get("/v1/me").status_code == 200


# -- OIDC bearer tokens over HTTP (a local JWKS endpoint serves the provider's keys) -------------

ISSUER, AUDIENCE = "https://idp.example.test/", "aurum"


@pytest.fixture(scope="module")
def oidc(build_lake, lake_paths, server, rsa_key, ec_key) -> Iterator[TestClient]:
    server.document = {
        "keys": [server.public_jwk(rsa_key, "rsa-1"), server.public_jwk(ec_key, "ec-1")]
    }
    server.body, server.status, server.delay_s, server.gate = None, 200, 0.0, None
    settings = build_lake(
        "auth-oidc", lake_paths,
        auth={"mode": "on", "oidc_issuer": ISSUER, "oidc_audience": AUDIENCE,
              "oidc_jwks_url": server.url},
    )  # fmt: skip
    _tenants(settings)
    with TestClient(create_app(settings)) as client:
        yield client


def token(key: Any, kid: str = "rsa-1", alg: str = "RS256", **claims: Any) -> str:
    import time

    import jwt

    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "alice", "iat": now, "exp": now + 300,
               "groups": ["aurum-analyst", "tenant-acme"], **claims}  # fmt: skip
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def me(client: TestClient, bearer: str, **headers: str) -> Any:
    return client.get("/v1/me", headers={"Authorization": f"Bearer {bearer}", **headers})


def test_a_valid_token_maps_groups_to_roles_and_tenant(oidc, rsa_key, ec_key):
    answer = me(oidc, token(rsa_key)).json()
    assert (answer["subject"], answer["tenant_id"], answer["via"]) == ("alice", "acme", "jwt")
    assert answer["roles"] == ["aurum-analyst"] and answer["vendors"] == ["PW"]
    es = me(oidc, token(ec_key, "ec-1", "ES256", tenant="bolt", groups=["aurum-ops"])).json()
    assert (es["tenant_id"], es["roles"]) == ("bolt", ["aurum-ops"])
    bearer = {"Authorization": f"Bearer {token(rsa_key)}"}
    rows = oidc.get("/v1/curves", params={"limit": 5}, headers=bearer).json()["data"]
    assert rows and {r["vendor"] for r in rows} == {"PW"}


def test_tenant_membership(oidc, rsa_key):
    both = token(rsa_key, groups=["aurum-analyst", "tenant-acme", "tenant-bolt"])
    assert me(oidc, both).json()["code"] == "tenant_ambiguous"
    assert me(oidc, both, **{"X-Aurum-Tenant": "bolt"}).json()["tenant_id"] == "bolt"
    assert me(oidc, token(rsa_key), **{"X-Aurum-Tenant": "bolt"}).status_code == 403
    unknown = me(oidc, token(rsa_key, groups=["aurum-analyst", "tenant-ghost"]))
    assert unknown.status_code == 403 and unknown.json()["code"] == "tenant_unknown"
    nobody = me(oidc, token(rsa_key, groups=["aurum-analyst"]))
    assert nobody.status_code == 403 and nobody.json()["code"] == "tenant_missing"
    no_role = me(oidc, token(rsa_key, groups=["tenant-acme", "staff"]))
    assert no_role.status_code == 403 and no_role.json()["code"] == "role_missing"


def _b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key(rsa_key: Any) -> str:
    """The classic RS/HS confusion: HMAC-signed with the provider's public key PEM."""
    import hashlib
    import hmac
    import json
    import time

    from cryptography.hazmat.primitives import serialization

    pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    now = int(time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = _b64(json.dumps({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": now + 60,
                               "groups": ["aurum-admin", "tenant-acme"]}).encode())  # fmt: skip
    signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _alg_none() -> str:
    header = _b64(b'{"alg":"none","typ":"JWT"}')
    payload = _b64(
        f'{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"mallory","exp":9999999999,'
        '"groups":["aurum-admin","tenant-acme"]}'.encode()
    )
    return f"{header}.{payload}."


ATTACKS: list[tuple[str, Any, str]] = [
    ("forged signature", lambda key, other: token(other), "token_invalid"),
    ("expired", lambda key, _: token(key, exp=1_600_000_000, iat=1_599_999_000), "token_expired"),
    ("wrong audience", lambda key, _: token(key, aud="someone-else"), "token_invalid"),
    ("wrong issuer", lambda key, _: token(key, iss="https://evil.example/"), "token_invalid"),
    ("alg none", lambda key, _: _alg_none(), "token_invalid"),
    ("HS256 keyed with the public key", lambda key, _: _hs256_with_public_key(key),
     "token_invalid"),
    ("unknown kid", lambda key, _: token(key, kid="rsa-404"), "token_key_unknown"),
]  # fmt: skip


@pytest.fixture(scope="module")
def other_key() -> Any:
    """A key the provider never published (same kid as its own: a forgery)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize(("attack", "forge", "code"), ATTACKS, ids=[a[0] for a in ATTACKS])
def test_forged_or_invalid_tokens_are_401(oidc, rsa_key, other_key, attack, forge, code):
    bearer = forge(rsa_key, other_key)
    response = me(oidc, bearer)
    assert response.status_code == 401, (attack, response.text)
    assert response.json()["code"] == code
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert bearer not in response.text
