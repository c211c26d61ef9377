"""Reads over HTTP have a time limit, and a file answer is complete or refused, never cut."""

from __future__ import annotations

import csv
import io
from datetime import date

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.config import Settings
from aurum.query.curves import CurveFilter

DAY = date(2025, 10, 1)
NO_CACHE = {"Cache-Control": "no-cache"}


@pytest.fixture(scope="module")
def lake(build_lake, synthetic_days) -> Settings:
    return build_lake("api-reads", synthetic_days("EUGP", DAY, 2))


def client(settings: Settings, **overrides: object) -> TestClient:
    return TestClient(create_app(settings.model_copy(update=overrides)))


def rows_of(response) -> int:
    if response.headers["content-type"].startswith("text/csv"):
        return len(list(csv.reader(io.StringIO(response.text)))) - 1
    return int(pq.read_table(io.BytesIO(response.content)).num_rows)


def test_a_read_over_the_time_limit_answers_503(lake: Settings):
    """The limit bounds the whole read: here it is spent before DuckDB runs a statement."""
    slow = lake.query.model_copy(update={"timeout_s": 1e-9})
    with client(lake, query=slow) as api:
        for path, params in (
            ("/v1/curves", {"vendor": "EUGP", "asof": DAY.isoformat()}),
            ("/v1/curves/strips", {"vendor": "EUGP", "asof": DAY.isoformat()}),
            ("/v1/metadata/curves", {}),
        ):
            answer = api.get(path, params=params, headers=NO_CACHE)
            assert answer.status_code == 503, (path, answer.text)
            problem = answer.json()
            assert problem["code"] == "query_timeout" and "time limit" in problem["detail"]
            assert answer.headers["Retry-After"].isdigit()


def test_file_answers_hold_every_row_json_pages_do_not(lake: Settings):
    paging = lake.api.model_copy(update={"page_size": 50, "max_page_size": 100})
    with client(lake, api=paging) as api:
        params = {"vendor": "EUGP"}
        page = api.get("/v1/curves", params=params).json()
        total = api.app.state.services.curves.curves(CurveFilter(), limit=10**7).rows
        assert page["meta"]["count"] == 50 and page["meta"]["has_more"] and total > 1000
        for fmt in ("csv", "parquet"):
            whole = api.get("/v1/curves", params={**params, "format": fmt}, headers=NO_CACHE)
            assert whole.status_code == 200 and rows_of(whole) == total, fmt
            assert "link" not in whole.headers
        # a file the request itself pages (limit=) is a page, and says where the next one is
        asked = api.get("/v1/curves", params={**params, "format": "csv", "limit": 10})
        assert rows_of(asked) == 10 and "x-aurum-next-cursor" in asked.headers


def test_a_file_answer_over_the_row_limit_is_refused_not_cut(lake: Settings):
    small = lake.query.model_copy(update={"max_file_rows": 100})
    with client(lake, query=small) as api:
        for fmt in ("csv", "parquet"):
            refused = api.get("/v1/curves", params={"vendor": "EUGP", "format": fmt})
            assert refused.status_code == 422, refused.text
            assert refused.json()["code"] == "answer_too_large"
            assert "limit=" in refused.json()["detail"]
        # a limit above what a file holds is refused too, even once a page of exactly that
        # many rows is in the cache; within it, a page as asked
        page = api.get("/v1/curves", params={"vendor": "EUGP", "format": "csv", "limit": 100})
        assert page.status_code == 200 and rows_of(page) == 100
        over = api.get("/v1/curves", params={"vendor": "EUGP", "format": "csv", "limit": 500})
        assert over.status_code == 422
        within = api.get("/v1/curves", params={"vendor": "EUGP", "format": "csv", "limit": 99})
        assert within.status_code == 200 and rows_of(within) == 99
        # JSON pages are capped as always, never refused
        assert api.get("/v1/curves", params={"vendor": "EUGP"}).status_code == 200
        # an export is one whole day or nothing
        for fmt in ("csv", "parquet", "xlsx"):
            export = api.get(
                "/v1/exports/curve_observation", params={"asof": DAY.isoformat(), "format": fmt}
            )
            assert export.status_code == 422 and export.json()["code"] == "answer_too_large"
        files = list((lake.home / "exports-cache").rglob("*.*"))
        assert not [f for f in files if f.suffix in (".csv", ".parquet", ".xlsx")]


def test_json_by_curve_key_alone_is_answered_from_the_served_slices(lake: Settings):
    """Vendor given or not, one curve at one as-of never reaches DuckDB."""
    with client(lake) as api:
        curves = api.app.state.services.curves
        key = api.get("/v1/metadata/curves", params={"limit": 1}).json()["data"][0]["curve_key"]
        params = {"curve_key": key, "asof": DAY.isoformat()}
        expected = api.get("/v1/curves", params={**params, "format": "parquet"})
        queried = curves.curves

        def no_query(*args: object, **kwargs: object) -> object:
            raise AssertionError("the query ran")

        curves.curves = no_query
        try:
            for extra in ({}, {"vendor": "EUGP"}, {"vendor": "eugp"}):
                served = api.get("/v1/curves", params={**params, **extra}, headers=NO_CACHE)
                assert served.status_code == 200, served.text
                assert served.json()["meta"]["count"] == rows_of(expected) > 10
        finally:
            curves.curves = queried
