"""``format=xlsx`` on reads: every matching row on a ``data`` sheet (numbers as numbers, dates as
dates), the answer's facts on ``about``; by ``Accept`` too; whole or refused like CSV."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.config import Settings

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
def client(build_lake, synthetic_days):
    settings = build_lake("xlsx-answers", synthetic_days("PW", date(2025, 9, 15), 2))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _sheets(body: bytes) -> dict[str, list[tuple]]:
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book}


def test_a_read_as_a_workbook_holds_the_json_rows(client: TestClient):
    query = "/v1/curves?vendor=PW&iso=PJM&asof=2025-09-16"
    rows = client.get(query + "&limit=10000").json()["data"]
    answer = client.get(query + "&format=xlsx")
    assert answer.status_code == 200 and answer.headers["content-type"] == XLSX
    sheets = _sheets(answer.content)
    header, *cells = sheets["data"]
    assert len(cells) == len(rows) > 100
    for row, cell in zip(rows, cells, strict=True):
        got = dict(zip(header, cell, strict=True))
        assert got["value"] == row["value"] and isinstance(got["value"], float)
        assert got["asof_date"] == datetime(2025, 9, 16)  # a date cell, not text
        assert got["curve_key"] == row["curve_key"]
    about = dict(sheets["about"][1:])
    assert about["snapshot_id"] == answer.headers["x-aurum-snapshot"]
    assert about["count"] == str(len(rows))


def test_accept_asks_for_a_workbook_and_a_file_is_whole_or_refused(client: TestClient):
    by_accept = client.get("/v1/metadata/vendors", headers={"Accept": XLSX})
    assert by_accept.headers["content-type"] == XLSX
    assert [r[0] for r in _sheets(by_accept.content)["data"][1:]] == ["PW"]
    small = Settings(home=client.app.state.services.settings.home, query={"max_file_rows": 10})
    with TestClient(create_app(small)) as capped:
        refused = capped.get("/v1/curves?vendor=PW&format=xlsx")
        assert refused.status_code == 422 and refused.json()["code"] == "answer_too_large"
    bad = client.get("/v1/curves?vendor=PW&format=xls")
    assert bad.status_code in (400, 406, 422)
