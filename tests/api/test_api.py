"""The REST API over a real lake: values, envelopes, pages, caching, formats and bad requests."""

from __future__ import annotations

import importlib.util
import io
import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.config import Settings
from aurum.query.curves import CurveFilter

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.json"


def spec_spot_values() -> list[tuple]:
    """The format spec §11 cells, as the ingest acceptance test lists them."""
    path = Path(__file__).resolve().parents[1] / "ingest" / "test_real_workbooks.py"
    spec = importlib.util.spec_from_file_location("real_workbooks", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.SPOT)


@pytest.fixture(scope="module")
def real(build_lake, workbooks_dir: Path):
    settings = build_lake("api-real", sorted(workbooks_dir.glob("EOD_*.xlsx")))
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def fresh(build_lake, synthetic_days):
    """An app over its own small lake (tests that publish into it)."""
    settings = build_lake("api-fresh", synthetic_days("EUGP", date(2025, 10, 1), 1))
    with TestClient(create_app(settings)) as client:
        yield client, settings


def german_base(client: TestClient) -> str:
    found = client.get(
        "/v1/metadata/curves", params={"location": "German", "block": "BASE", "product": "power"}
    ).json()["data"]
    assert len(found) == 1
    return found[0]["curve_key"]


@pytest.mark.parametrize(("name", "sheet", "identity", "tenor", "mid", "bidask"),
                         spec_spot_values())  # fmt: skip
def test_served_values_equal_the_spec_cells(real, name, sheet, identity, tenor, mid, bidask):
    vendor, day = (
        name.split("_")[1],
        date.fromisoformat(
            f"{name.split('_')[2][:4]}-{name.split('_')[2][4:6]}-{name.split('_')[2][6:]}"
        ),
    )
    params = {"vendor": vendor, "asof": day.isoformat(), **identity}
    if "product" not in identity:
        params["product"] = "spark_spread" if sheet == "Spark Spread" else None
    rows = real.get("/v1/curves", params={k: v for k, v in params.items() if v}).json()["data"]
    match = [r for r in rows if r["tenor_label"] == tenor]
    if "product" not in identity and sheet != "Spark Spread":
        match = [r for r in match if r["product"] != "spark_spread"]
    assert len(match) == 1, (name, tenor, identity)
    assert match[0]["mid"] == mid
    if bidask is not None:
        assert (match[0]["bid"], match[0]["ask"]) == bidask


def test_envelope_headers_and_request_id(real):
    key = german_base(real)
    response = real.get("/v1/curves", params={"curve_key": key, "asof": "2025-09-17"},
                        headers={"X-Request-ID": "trace-42"})  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"meta", "data"}
    assert body["meta"]["count"] == len(body["data"]) > 100
    assert response.headers["x-request-id"] == "trace-42"
    assert response.headers["x-aurum-snapshot"] == str(body["meta"]["snapshot_id"])
    assert response.headers["cache-control"] == "private, no-cache"
    assert real.get("/nope").headers["x-request-id"]
    assert real.get("/v1/curves", params={"foo": 1}).headers["x-request-id"]


def test_cursor_pages_cover_every_row_once_and_stay_on_their_snapshot(fresh, synthetic_days):
    client, _settings = fresh
    whole = client.app.state.services.curves.curves(CurveFilter(), limit=10**6).table
    everything = [
        (day.isoformat(), key, label, mid)
        for day, key, label, mid in zip(*(whole[c].to_pylist() for c in (
            "asof_date", "curve_key", "tenor_label", "mid")), strict=True)
    ]  # fmt: skip
    rows, cursor, snapshots = [], None, set()
    while True:
        params = {"limit": 997, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/curves", params=params).json()
        rows += page["data"]
        snapshots.add(page["meta"]["snapshot_id"])
        if len(rows) == 997:  # publish another day between page 1 and page 2
            upload(client, synthetic_days("EUGP", date(2025, 10, 2), 1)[0])
        cursor = page["meta"]["next_cursor"]
        if not cursor:
            break
    assert len(snapshots) == 1
    assert [
        (r["asof_date"], r["curve_key"], r["tenor_label"], r["mid"]) for r in rows
    ] == everything
    after = client.get("/v1/curves", params={"limit": 1}).json()["meta"]["snapshot_id"]
    assert after not in snapshots  # new requests see the new day


def upload(client: TestClient, path: Path):
    with path.open("rb") as handle:
        return client.post("/v1/ingest", files={"file": (path.name, handle)})


def test_upload_publishes_reports_conservation_and_is_idempotent(fresh, synthetic_days, tmp_path):
    client, _ = fresh
    path = synthetic_days("EUGP", date(2025, 10, 3), 1)[0]
    first = upload(client, path)
    assert first.status_code == 201, first.text
    result = first.json()["data"][0]
    assert result["status"] == "published" and result["conservation"]["holds"]
    assert result["run"]["status"] == "published"
    days = client.get("/v1/metadata/asof-dates").json()["data"]
    assert {"vendor": "EUGP", "asof_date": "2025-10-03"}.items() <= {
        k: v for d in days if d["asof_date"] == "2025-10-03" for k, v in d.items()
    }.items()
    again = upload(client, path)
    assert again.status_code == 200 and again.json()["data"][0]["status"] == "duplicate"
    junk = tmp_path / "EOD_EUGP_20251006_1430.xlsx"
    junk.write_bytes(b"not a workbook")
    failed = upload(client, junk)
    assert failed.status_code == 422 and failed.json()["data"][0]["status"] == "failed"
    runs = client.get("/v1/ingest/runs", params={"limit": 3}).json()["data"]
    assert [r["status"] for r in runs] == ["failed", "duplicate", "published"]
    assert client.get("/v1/qa/checks", params={"run_id": result["run_id"]}).json()["data"]


def test_oversized_upload_is_413(build_lake, synthetic_days):
    settings = build_lake("api-small-upload", synthetic_days("EUGP", date(2025, 10, 1), 1),
                          api={"max_upload_mb": 0.01})  # fmt: skip
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/ingest", files={"file": ("x.xlsx", b"0" * 200_000)})
    assert response.status_code == 413
    assert response.json()["code"] == "upload_too_large"


def test_etag_304_and_cache(real):
    params = {"location": "French", "asof": "2025-09-17"}
    first = real.get("/v1/curves", params=params)
    again = real.get("/v1/curves", params=params)
    assert again.headers["x-aurum-cache"] == "hit" and again.content == first.content
    etag = first.headers["etag"]
    assert real.get("/v1/curves", params=params,
                    headers={"If-None-Match": etag}).status_code == 304  # fmt: skip
    fresh = real.get("/v1/curves", params=params, headers={"Cache-Control": "no-cache"})
    assert fresh.headers["x-aurum-cache"] == "miss"
    pinned = real.get("/v1/curves", params={**params, "as_at": "eod/EUGP/2025-09-17/v1"})
    assert "immutable" in pinned.headers["cache-control"]
    for moving in ("main", "2999-01-01T00:00:00+00:00"):  # move with main: never immutable
        answer = real.get("/v1/curves", params={**params, "as_at": moving})
        assert answer.status_code == 200 and answer.headers["cache-control"] == "private, no-cache"
    odd = real.get("/v1/curves", params={**params, "as_at": "²"})
    assert (odd.status_code, odd.json()["code"]) == (400, "as_at_invalid")  # was a 500


def test_gzip_csv_and_parquet(real):
    params = {"location": "French", "asof": "2025-09-17"}
    as_json = real.get("/v1/curves", params=params).json()["data"]
    zipped = real.get("/v1/curves", params=params, headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    csv_text = real.get("/v1/curves", params={**params, "format": "csv"}).text
    assert csv_text.splitlines()[0].startswith("asof_date,vendor,curve_key")
    assert len(csv_text.splitlines()) == len(as_json) + 1
    by_accept = real.get("/v1/curves", params=params,
                         headers={"Accept": "application/vnd.apache.parquet"})  # fmt: skip
    table = pq.read_table(io.BytesIO(by_accept.content))
    assert table.num_rows == len(as_json)
    assert json.loads(table.schema.metadata[b"aurum.meta"])["count"] == len(as_json)
    refused = real.get("/v1/curves", params=params, headers={"Accept": "image/png"})
    assert refused.status_code == 406
    assert refused.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/v1/curves", {"colour": "red"}, 400, "parameter_unknown"),
        ("/v1/curves", {"asof": "2025-02-30"}, 400, "parameter_invalid"),
        ("/v1/curves", {"asof": "yesterday"}, 400, "parameter_invalid"),
        ("/v1/curves", {"asof": "2025-09-17..2025-09-01"}, 400, "filters_contradictory"),
        ("/v1/curves", {"month_from": "2026-05", "month_to": "2026-01"}, 400,
         "filters_contradictory"),
        ("/v1/curves", {"month_from": "2026-13"}, 400, "parameter_invalid"),
        ("/v1/curves", {"limit": 0}, 400, "parameter_invalid"),
        ("/v1/curves", {"limit": "many"}, 400, "parameter_invalid"),
        ("/v1/curves", {"tenor_type": "WEEKLY"}, 400, "parameter_invalid"),
        ("/v1/curves", {"cursor": "not-a-cursor"}, 400, "cursor_invalid"),
        ("/v1/curves", {"fields": "value,password"}, 400, "fields_unknown"),
        ("/v1/curves", {"format": "xml"}, 400, "parameter_invalid"),
        ("/v1/curves", {"curve_key": "0" * 64}, 404, "curve_unknown"),
        ("/v1/curves", {"as_at": "eod/XX/2000-01-01/v9"}, 400, "as_at_invalid"),
        ("/v1/curves", {"as_at": "1999-01-01T00:00:00"}, 404, "as_at_unavailable"),
        ("/v1/curves", {"as_at": "12345"}, 404, "snapshot_unknown"),
        ("/v1/curves/diff", {"asof_from": "2025-09-17"}, 400, "parameter_invalid"),
        ("/v1/curves/diff", {"asof_from": "2025-09-17", "asof_to": "2025-09-17"}, 400,
         "filters_contradictory"),
        ("/v1/curves/strips", {"custom": "2026-05..2026-01"}, 400, "filters_contradictory"),
        ("/v1/curves/strips", {"custom": "2026"}, 400, "parameter_invalid"),
        ("/v1/curves/strips", {"custom": "2000-01..2030-01"}, 400, "parameter_invalid"),
        ("/v1/ingest/runs", {"status": "happy"}, 400, "parameter_invalid"),
        ("/v1/ingest/runs/nope", {}, 404, "run_not_found"),
        ("/v1/exports/curve_observation", {"asof": "1999-01-01"}, 404, "asof_unknown"),
        ("/nowhere", {}, 404, "not_found"),
    ],
)  # fmt: skip
def test_bad_requests_are_problems_with_stable_codes(real, path, params, status, code):
    response = real.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["request_id"]
    assert "Traceback" not in response.text


def test_a_cursor_of_another_query_is_refused(real):
    page = real.get("/v1/curves", params={"location": "French", "limit": 5}).json()
    foreign = real.get("/v1/curves", params={"location": "German", "limit": 5,
                                             "cursor": page["meta"]["next_cursor"]})  # fmt: skip
    assert foreign.status_code == 400 and foreign.json()["code"] == "cursor_foreign"


def test_over_large_limits_are_capped_not_refused(real):
    meta = real.get("/v1/curves", params={"limit": 10**9}).json()["meta"]
    assert meta["limit"] == Settings().api.max_page_size and meta["limit_capped"]


def test_unknown_curve_is_404_but_no_match_is_an_empty_list(real):
    empty = real.get("/v1/curves", params={"location": "Atlantis"})
    assert empty.status_code == 200 and empty.json()["data"] == []


def test_strips_latest_diff_and_metadata_over_http(real):
    key = german_base(real)
    strips = real.get("/v1/curves/strips", params={"curve_key": key, "asof": "2025-09-17"})
    assert {s["kind"] for s in strips.json()["data"]} == {"calendar", "quarter", "season"}
    latest = real.get("/v1/curves/latest", params={"curve_key": key}).json()
    assert latest["meta"]["on"] == "2025-09-17"
    diff = real.get("/v1/curves/diff", params={"curve_key": key, "asof_from": "2025-09-12",
                                               "asof_to": "2025-09-17"}).json()  # fmt: skip
    assert diff["data"] and diff["meta"]["curves_added"] == []
    vendors = real.get("/v1/metadata/vendors").json()["data"]
    assert [v["vendor"] for v in vendors] == ["EUGP", "RP"]


def test_exports_over_http(real):
    response = real.get(
        "/v1/exports/curve_observation",
        params={"asof": "2025-09-17", "vendor": "EUGP", "format": "parquet"},
    )
    assert response.status_code == 200
    assert pq.read_table(io.BytesIO(response.content)).num_rows == 11_483
    csv_file = real.get(
        "/v1/exports/curve_observation",
        params={"asof": "2025-09-17", "vendor": "EUGP", "format": "csv"},
    )
    assert len(csv_file.text.splitlines()) == 11_484


def test_health_ready_metrics(real):
    assert real.get("/health").json()["status"] == "ok"
    ready = real.get("/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["replica"]["ok"]
    metrics = real.get("/metrics").text
    assert "aurum_http_requests_total" in metrics and "aurum_http_request_seconds" in metrics


def test_checked_in_openapi_matches_the_app(real):
    """Regenerate with: python -m aurum.api.openapi > openapi.json"""
    assert json.loads(OPENAPI.read_text()) == real.app.openapi()


def test_a_served_slice_answers_as_the_query_does(real):
    """One curve at one as-of in JSON comes from the served slice; Parquet runs the query."""
    key = german_base(real)
    params = {"vendor": "EUGP", "curve_key": key, "asof": "2025-09-17"}
    served = real.get("/v1/curves", params=params, headers={"Cache-Control": "no-cache"})
    queried = real.get("/v1/curves", params={**params, "format": "parquet"},
                       headers={"Cache-Control": "no-cache"})  # fmt: skip
    table = pq.read_table(io.BytesIO(queried.content))
    expected = [
        {k: v.isoformat() if isinstance(v, date) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]
    body = served.json()
    assert body["data"] == expected and body["meta"]["count"] == len(expected) > 10
    assert body["meta"]["has_more"] is False and body["meta"]["next_cursor"] is None
    replicas = real.app.state.services.curves.replicas
    assert replicas.slices(int(served.headers["x-aurum-snapshot"]), date(2025, 9, 17), key)
