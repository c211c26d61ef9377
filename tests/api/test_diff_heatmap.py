"""``/v1/curves/diff/heatmap``: the diff summed up per curve family and delivery year, checked
against the same sums made here from every row of ``/v1/curves/diff``."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date

import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.domain.identity import curve_family

DIFF = "asof_from=2025-09-15&asof_to=2025-09-16"


@pytest.fixture(scope="module")
def client(build_lake, synthetic_days):
    settings = build_lake("diff-heatmap", synthetic_days("PW", date(2025, 9, 15), 2))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def test_each_cell_is_the_sum_of_its_diff_rows(client: TestClient):
    rows = client.get(f"/v1/curves/diff?vendor=PW&{DIFF}&limit=10000").json()["data"]
    months = {
        (r["curve_key"], r["tenor_label"]): r["tenor_start"]
        for r in client.get("/v1/curves?vendor=PW&asof=2025-09-16&limit=10000").json()["data"]
    }
    cells: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in rows:
        family = curve_family(r["asset_class"], r["product"], r["currency"], r["per_unit"])
        cells[family, int(months[r["curve_key"], r["tenor_label"]][:4])].append(r)
    answer = client.get(f"/v1/curves/diff/heatmap?vendor=PW&{DIFF}&limit=10000").json()
    assert len(answer["data"]) == len(cells) > 3
    for cell in answer["data"]:
        mine = cells[cell["family"], cell["year"]]
        assert cell["tenors"] == len(mine)
        assert cell["changed"] == sum(r["status"] == "changed" for r in mine)
        pcts = [r["change_pct"] for r in mine if r["change_pct"] is not None]
        assert cell["mean_change_pct"] == pytest.approx(statistics.fmean(pcts))
        biggest = max(mine, key=lambda r: abs(r["change_pct"] or 0))
        assert cell["max_abs_change_pct"] == pytest.approx(abs(biggest["change_pct"]))
        assert cell["top_change_pct"] == pytest.approx(biggest["change_pct"])
        assert any(
            r["curve_key"] == cell["top_curve_key"] and r["tenor_label"] == cell["top_tenor_label"]
            for r in mine
        )


def test_bad_requests_say_what_is_wrong(client: TestClient):
    for query, code in (
        ("vendor=PW", 422),  # both dates are required
        ("asof_from=2025-09-15&asof_to=2025-09-15", 400),
        ("asof_from=2025-13-01&asof_to=2025-09-16", 400),
        (f"{DIFF}&sort=z", 400),
    ):
        answer = client.get(f"/v1/curves/diff/heatmap?{query}")
        assert answer.status_code in (code, 400, 422), (query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
