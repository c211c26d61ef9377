"""``aurum.Client`` against the real API in-process (a small lake of synthetic workbooks), and
against canned answers for what a real server should never send."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import aurum
from aurum.api import models
from aurum.api.app import create_app
from aurum.client import ApiError, Client
from aurum.config import Settings
from aurum.errors import AurumError
from aurum.ingest.runner import ingest_file
from aurum.query.curves import COLUMNS, CurveFilter
from aurum.synthetic import workbook_name, write_workbook

PW_DAYS = (date(2025, 9, 1), date(2025, 9, 2))
EUGP_DAY = date(2025, 9, 2)
# 6 PW curves x 3 months x 2 days = 48 rows: 7 pages of 7.
WINDOW = {"vendor": "PW", "tenor_type": "MONTHLY", "month_from": "2026-01", "month_to": "2026-03"}


@pytest.fixture(scope="module")
def settings(build_lake, synthetic_days) -> Settings:
    paths = [*synthetic_days("PW", PW_DAYS[0], 2), *synthetic_days("EUGP", EUGP_DAY, 1)]
    return build_lake("client", paths)


@pytest.fixture(scope="module")
def served(settings: Settings) -> Iterator[tuple[FastAPI, TestClient]]:
    app = create_app(settings)
    with TestClient(app) as http:
        yield app, http


@pytest.fixture
def client(served: tuple[FastAPI, TestClient]) -> Iterator[Client]:
    with Client("http://testserver", http=served[1]) as client:
        yield client


@pytest.fixture
def sent(served: tuple[FastAPI, TestClient]) -> Iterator[list[httpx.Request]]:
    """The requests the shared HTTP client sends during one test."""
    log: list[httpx.Request] = []
    hooks = served[1].event_hooks
    hooks["request"].append(log.append)
    yield log
    hooks["request"].remove(log.append)


def test_curves_are_the_services_rows(client: Client, served):
    app, _ = served
    frame = client.curves(vendor="pw", tenor_type=["MONTHLY"], asof=PW_DAYS[1])
    page = app.state.services.curves.curves(
        CurveFilter(fields={"vendor": "pw"}, tenor_types=("MONTHLY",), asof=PW_DAYS[1]),
        limit=100_000,
    )
    assert len(frame) == page.table.num_rows > 100
    pd.testing.assert_frame_equal(frame, page.table.to_pandas())
    assert set(frame["vendor"]) == {"PW"} and set(frame["asof_date"]) == {PW_DAYS[1]}
    assert client.last_meta is not None
    assert client.last_meta["snapshot_id"] == page.snapshot_id
    assert client.last_meta["has_more"] is False


def test_small_pages_give_every_row_once_in_order(client: Client, sent: list[httpx.Request]):
    whole = client.curves(**WINDOW, limit=1000, arrow=True)
    assert len(sent) == 1 and whole.num_rows == 48
    sent.clear()
    paged = client.curves(**WINDOW, limit=7, arrow=True)
    assert paged.equals(whole)
    keys = list(
        zip(*(paged[c].to_pylist() for c in ("asof_date", "curve_key", "tenor_label")), strict=True)
    )
    assert len(set(keys)) == 48
    assert len(sent) == 7
    assert [r.url.params.get("cursor") is None for r in sent] == [True] + [False] * 6
    for request in sent:  # every page repeats the filters
        params = request.url.params
        assert (params["vendor"], params["month_from"], params["format"]) == (
            "PW", "2026-01", "parquet",
        )  # fmt: skip
    assert client.last_meta is not None
    assert (client.last_meta["offset"], client.last_meta["count"]) == (42, 6)


def test_other_routes_page_the_same_way(client: Client):
    assert client.strips(vendor="PW", limit=100).equals(client.strips(vendor="PW"))
    assert client.metadata_curves(limit=3).equals(client.metadata_curves())
    assert client.diff(*PW_DAYS, vendor="PW", limit=100).equals(client.diff(*PW_DAYS, vendor="PW"))


def test_pages_keep_the_first_pages_snapshot(build_lake, synthetic_days, tmp_path: Path):
    """A day published while a call pages does not leak into its later pages."""
    # freshness 0: a publish by another writer is seen by the very next request
    settings = build_lake("client-pin", synthetic_days("PW", PW_DAYS[0], 1), api={"freshness_s": 0})
    app = create_app(settings)
    services = app.state.services
    later = write_workbook(tmp_path / workbook_name("PW", PW_DAYS[1]), vendor="PW", asof=PW_DAYS[1])
    published: list[str] = []

    def publish_once(response: httpx.Response) -> None:
        if not published:
            report = ingest_file(later, lake=services.lake, store=services.store, settings=settings)
            published.append(report.status)

    with TestClient(app) as http:
        http.event_hooks["response"].append(publish_once)
        client = Client("http://testserver", http=http)
        first = client.curves(vendor="PW", tenor_type="MONTHLY", limit=100)
        pinned = client.last_meta
        both = client.curves(vendor="PW", tenor_type="MONTHLY", limit=100)
    assert published == ["published"]
    assert len(first) > 100  # several pages: the day was published between them
    assert set(first["asof_date"]) == {PW_DAYS[0]}
    assert set(both["asof_date"]) == set(PW_DAYS)
    assert len(both) == 2 * len(first)
    assert pinned is not None and client.last_meta is not None
    assert pinned["snapshot_id"] != client.last_meta["snapshot_id"]


def test_arrow_keeps_the_types(client: Client):
    table = client.curves(**WINDOW, arrow=True)
    assert isinstance(table, pa.Table)
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("asof_date").type == pa.date32()
    assert table.schema.field("mid").type == pa.float64()
    assert table.schema.metadata is None  # the page's meta is client.last_meta, not the table's


def test_an_empty_answer_keeps_its_columns(client: Client):
    table = client.curves(vendor="PW", asof=date(2020, 1, 1), arrow=True)
    assert table.num_rows == 0
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("value").type == pa.float64()
    assert list(client.curves(vendor="nobody").columns) == list(COLUMNS)


def test_strips(client: Client):
    frame = client.strips(vendor="PW", kind=["calendar", "season"], convention="us")
    assert set(frame.columns) == set(models.StripRow.model_fields)
    assert set(frame["kind"]) == {"calendar", "season"}
    assert set(frame["asof_date"]) == {PW_DAYS[1]}  # asof defaults to latest
    assert set(frame["weighting"]) == {"hours"}  # power: block hours


def test_latest(client: Client):
    frame = client.latest(vendor="PW", tenor_type="MONTHLY")
    assert set(frame.columns) == set(models.LatestRow.model_fields)
    assert len(frame) > 0 and set(frame["age_days"]) == {0}
    assert client.last_meta is not None and client.last_meta["on"] == "2025-09-02"
    older = client.latest(vendor="PW", tenor_type="MONTHLY", on=PW_DAYS[0])
    assert set(older["asof_date"]) == {PW_DAYS[0]}


def test_diff(client: Client):
    frame = client.diff(PW_DAYS[0], "2025-09-02", vendor="PW")
    assert set(frame.columns) == set(models.DiffRow.model_fields)
    meta = client.last_meta
    assert meta is not None
    assert len(frame) == meta["tenors_total"] > 0
    assert (frame["status"] == "changed").sum() == meta["tenors_changed"]
    assert (meta["asof_from"], meta["asof_to"]) == ("2025-09-01", "2025-09-02")


def test_a_diff_of_every_curve_is_one_request(client: Client, served, sent):
    """A Parquet answer holds every row, so the diff of two days over all curves (more rows than
    a JSON page) comes in one request, equal to the service's answer."""
    app, _ = served
    table = client.diff(*PW_DAYS, arrow=True)
    assert len(sent) == 1
    assert {"limit", "cursor"}.isdisjoint(sent[0].url.params)
    page = app.state.services.curves.diff(CurveFilter(), *PW_DAYS, limit=1_000_000)
    assert table.num_rows == page.table.num_rows > app.state.services.settings.api.page_size
    assert table.to_pylist() == page.table.to_pylist()
    assert client.last_meta is not None and client.last_meta["has_more"] is False
    assert client.last_meta["tenors_total"] == table.num_rows


def test_an_answer_over_the_file_limit_comes_in_pages_of_it(settings: Settings, served):
    """The server refuses a file over AURUM_QUERY__MAX_FILE_ROWS (answer_too_large, with the
    limit): the client then reads it in pages of that limit, one snapshot throughout."""
    small = settings.model_copy(
        update={"query": settings.query.model_copy(update={"max_file_rows": 20})}
    )
    log: list[httpx.Request] = []
    with TestClient(create_app(small)) as http:
        http.event_hooks["request"].append(log.append)
        client = Client("http://testserver", http=http)
        with pytest.raises(ApiError) as caught:  # a page size of its own is kept
            client.curves(**WINDOW, limit=30)
        assert (caught.value.code, caught.value.status) == ("answer_too_large", 422)
        log.clear()
        table = client.curves(**WINDOW, arrow=True)
        assert [r.url.params.get("limit") for r in log] == [None, "20", "20", "20"]
    assert table.num_rows == 48
    assert table.equals(Client("http://testserver", http=served[1]).curves(**WINDOW, arrow=True))


def test_metadata(client: Client, settings: Settings):
    curves = client.metadata_curves(vendor="eugp")
    assert set(curves.columns) == set(models.CurveInfo.model_fields)
    assert len(curves) > 0 and set(curves["vendor"]) == {"EUGP"}
    assert set(curves["last_asof"]) == {EUGP_DAY}
    found = client.metadata_curves(q="PW power")
    assert 0 < len(found) < len(client.metadata_curves())

    days = client.asof_dates()
    assert set(days.columns) == set(models.AsofDate.model_fields)
    assert list(zip(days["vendor"], days["asof_date"], days["version"], strict=True)) == [
        ("EUGP", EUGP_DAY, 1), ("PW", PW_DAYS[0], 1), ("PW", PW_DAYS[1], 1),
    ]  # fmt: skip
    assert list(client.asof_dates("pw")["asof_date"]) == list(PW_DAYS)

    vendors = client.vendors(arrow=True)
    assert set(vendors.column_names) == set(models.Vendor.model_fields)
    assert vendors["vendor"].to_pylist() == ["EUGP", "PW"]
    assert vendors["rows"].to_pylist() == [
        days[days["vendor"] == v]["rows"].sum() for v in ("EUGP", "PW")
    ]


@pytest.mark.parametrize(
    ("filters", "code", "fragment"),
    [
        ({"vendr": "PW"}, "parameter_unknown", "'vendr'"),
        ({"month_from": "2026"}, "parameter_invalid", "month_from"),
        ({"tenor_type": "WEEKLY"}, "parameter_invalid", "tenor_type"),
        ({"month_from": "2026-03", "month_to": "2026-01"}, "filters_contradictory", "after"),
    ],
)
def test_a_bad_parameter_is_a_400(client: Client, filters: dict[str, Any], code, fragment):
    with pytest.raises(ApiError) as caught:
        client.curves(**filters)
    error = caught.value
    assert isinstance(error, AurumError)
    assert (error.code, error.status) == (code, 400)
    assert fragment in error.detail and error.request_id
    assert str(error).endswith(f"(HTTP 400 {code}, request {error.request_id})")


def test_an_unknown_curve_is_a_404(client: Client):
    with pytest.raises(ApiError) as caught:
        client.curves(curve_key=["no-such-curve"])
    assert (caught.value.code, caught.value.status) == ("curve_unknown", 404)
    assert caught.value.diagnostics["curve_keys"] == ["no-such-curve"]


def test_the_client_chooses_format_and_cursor(client: Client):
    with pytest.raises(TypeError, match="'format'"):
        client.curves(format="json")


def test_too_many_pages_is_an_error(served):
    client = Client("http://testserver", http=served[1], max_pages=2)
    with pytest.raises(ApiError) as caught:
        client.curves(**WINDOW, limit=7)
    assert caught.value.code == "page_limit_exceeded" and caught.value.status is None


def test_an_unreachable_server():
    with Client("http://127.0.0.1:9", timeout=5) as client, pytest.raises(ApiError) as caught:
        client.vendors()
    error = caught.value
    assert (error.code, error.status) == ("api_unreachable", None)
    assert "http://127.0.0.1:9" in str(error)
    assert error.__cause__ is None and error.__suppress_context__  # no httpx traceback


def test_a_base_url_needs_a_scheme():
    with pytest.raises(ApiError, match="http"):
        Client("localhost:8000")


# -- canned answers ---------------------------------------------------------------------------


def parquet(table: pa.Table, meta: dict[str, Any]) -> httpx.Response:
    sink = io.BytesIO()
    pq.write_table(table.replace_schema_metadata({"aurum.meta": json.dumps(meta)}), sink)
    return httpx.Response(
        200, content=sink.getvalue(), headers={"content-type": "application/vnd.apache.parquet"}
    )


def canned(answer: Callable[[httpx.Request], httpx.Response], **kwargs: Any) -> Client:
    return Client("http://aurum.test", http=httpx.Client(transport=httpx.MockTransport(answer)),
                  **kwargs)  # fmt: skip


def test_the_token_and_the_query_as_sent():
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return parquet(pa.table({"x": [1]}), {"has_more": False, "snapshot_id": 5})

    client = canned(answer, token="s3cret")
    client.strips(
        vendor="PW", region=None, kind=["calendar", "quarter"], custom=[("2026-01", "2026-06")],
        asof=(date(2025, 9, 1), date(2025, 9, 2)), lookback=True,
    )  # fmt: skip
    (request,) = seen
    assert request.headers["authorization"] == "Bearer s3cret"
    assert request.url.path == "/v1/curves/strips"
    assert list(request.url.params.multi_items()) == [
        ("vendor", "PW"), ("kind", "calendar"), ("kind", "quarter"),
        ("custom", "2026-01..2026-06"), ("asof", "2025-09-01..2025-09-02"),
        ("lookback", "true"), ("format", "parquet"),
    ]  # fmt: skip
    assert client.last_meta == {"has_more": False, "snapshot_id": 5}
    canned(answer).vendors()
    assert "authorization" not in seen[-1].headers


@pytest.mark.parametrize(
    ("response", "code", "status"),
    [
        (httpx.Response(502, text="<html>Bad Gateway</html>"), "api_error", 502),
        (httpx.Response(200, json={"meta": {}, "data": []}), "api_response_invalid", 200),
        (
            httpx.Response(
                200,
                content=b"not parquet",
                headers={"content-type": "application/vnd.apache.parquet"},
            ),
            "api_response_invalid",
            200,
        ),
        (parquet(pa.table({"x": [1]}), {"has_more": True}), "api_response_invalid", 200),
    ],
    ids=["proxy-error", "json", "broken-parquet", "more-without-cursor"],
)
def test_answers_a_real_server_never_sends(response: httpx.Response, code: str, status: int):
    with pytest.raises(ApiError) as caught:
        canned(lambda request: response).curves()
    assert (caught.value.code, caught.value.status) == (code, status)


def test_the_cursor_of_the_header_is_followed():
    pages = [pa.table({"x": [1, 2]}), pa.table({"x": [3]})]

    def answer(request: httpx.Request) -> httpx.Response:
        index = int(request.url.params.get("cursor", "0"))
        response = parquet(pages[index], {"has_more": index == 0})
        if index == 0:
            response.headers["x-aurum-next-cursor"] = "1"
        return response

    assert canned(answer).curves(arrow=True)["x"].to_pylist() == [1, 2, 3]


def test_client_is_public_and_closes_only_its_own_http():
    assert aurum.Client is Client
    with Client("http://aurum.test") as owned:
        pass
    assert owned._http.is_closed
    http = httpx.Client()
    with Client("http://aurum.test", http=http):
        pass
    assert not http.is_closed
    http.close()
