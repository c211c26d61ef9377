"""API reads, on the embedded and the cluster profile alike: a curve slice (JSON), a whole day
(CSV), strips, an as-of diff and an export give the same answers — the same bytes where the
answer has no snapshot id or timing in it. Each profile's answer is checked against fixed
expectations (EXPECTED.csv's counts and checksums, SHA-256s of the bodies, values recomputed
from the rows), never against the other profile's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import csv_rows, expected_row, ingested, mid_total, sha256

DAYS = ("EOD_EUGP_20250912_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx")
TTF = {"vendor": "EUGP", "asof": "2025-09-17", "location": "Dutch_TTF", "product": "gas"}
# SHA-256 of each answer's bytes (JSON: of its rows, canonically dumped), the same on both
# profiles; a change in what the API writes changes them (recompute with sha256(body)).
CURVE_ROWS = "d1a3749839e45ac4247080c910000a56a345315b9aec41499a5eeaa63ede054d"
DAY_CSV = "dc1296217b30f6d57947b4b3654540518f490660b047239af23651dca8cff901"
STRIPS_CSV = "4626137a65dac3be81652cae520d2ab04f0bde9c18cbfcb5d1e0d664ff26f84a"
DIFF_CSV = "43e7ba0bf2aefb371999f3f284c089cc2c51484ec745bbe7e572e1cffbc0a1f4"
EXPORT_CSV = "f584556a269c467f721569539810013d8a7f96a43e1f194a3c512bbc10f3cb0c"


@pytest.fixture(scope="module")
def published(tenants: Any, workbooks_dir: Path) -> list[dict[str, Any]]:
    summaries = ingested(tenants, *(workbooks_dir / day for day in DAYS))
    assert [s["status"] for s in summaries] == ["published", "published"]
    return summaries


@pytest.fixture(scope="module")
def read(tenants: Any, client: Any, published: Any) -> Any:
    """``read(path, **params)``: acme's analyst asks the API; the answer must be a 200."""

    def get(path: str, **params: Any) -> Any:
        answer = client.get(path, params=params, headers=tenants.auth("acme/aurum-analyst"))
        assert answer.status_code == 200, answer.text[:500]
        return answer

    return get


def canonical(rows: list[dict[str, Any]]) -> bytes:
    return json.dumps(rows, sort_keys=True).encode()


def test_a_curve_slice_is_the_same_rows_and_comes_again_from_the_cache(read, published):
    first = read("/v1/curves", **TTF)
    body = first.json()
    assert body["meta"]["snapshot_id"] == published[1]["snapshot_id"]
    assert (body["meta"]["count"], body["meta"]["has_more"]) == (151, False)
    assert sha256(canonical(body["data"])) == CURVE_ROWS
    months = {r["tenor_label"]: r["value"] for r in body["data"] if r["tenor_type"] == "MONTHLY"}
    assert months["2026-01"] == 33.904406122885895
    assert {r["vendor"] for r in body["data"]} == {"EUGP"}
    again = read("/v1/curves", **TTF)
    assert (first.headers["X-Aurum-Cache"], again.headers["X-Aurum-Cache"]) == ("miss", "hit")
    assert again.content == first.content


def test_a_whole_day_as_csv_is_the_workbooks_rows(read, expected):
    row = expected_row(expected, DAYS[1])
    answer = read("/v1/curves", vendor="EUGP", asof="2025-09-17", format="csv")
    assert answer.headers["content-type"].startswith("text/csv")
    rows = csv_rows(answer.content)
    assert len(rows) == int(row["canonical_rows"]) == 11483
    assert mid_total(rows) == float(row["sum_mid"])
    assert sha256(answer.content) == DAY_CSV


def test_strips_are_the_months_averaged(read):
    months = {r["tenor_label"]: r["value"] for r in read("/v1/curves", **TTF).json()["data"]}
    answer = read("/v1/curves/strips", **TTF, format="csv")
    assert sha256(answer.content) == STRIPS_CSV
    strips = {r["label"]: r for r in csv_rows(answer.content)}
    q1 = strips["Q1 2026"]
    assert (q1["weighting"], q1["months_present"], q1["complete"]) == ("days", "3", "True")
    by_days = (months["2026-01"] * 31 + months["2026-02"] * 28 + months["2026-03"] * 31) / 90
    assert float(q1["value"]) == pytest.approx(by_days, rel=1e-12)


def test_the_diff_of_two_days_is_every_tenor_s_change(read, expected):
    params = {"vendor": "EUGP", "asof_from": "2025-09-12", "asof_to": "2025-09-17"}
    meta = read("/v1/curves/diff", **params, limit=1).json()["meta"]
    assert (meta["tenors_changed"], meta["tenors_total"]) == (11478, 11483)
    assert (meta["curves_added"], meta["curves_removed"]) == ([], [])
    answer = read("/v1/curves/diff", **params, format="csv")
    assert sha256(answer.content) == DIFF_CSV
    rows = csv_rows(answer.content)
    assert len(rows) == int(expected_row(expected, DAYS[1])["canonical_rows"])
    assert sum(r["status"] == "changed" for r in rows) == 11478
    key = read("/v1/curves", **TTF, limit=1).json()["data"][0]["curve_key"]
    ttf = {r["tenor_label"]: r for r in rows if r["curve_key"] == key}
    before = read("/v1/curves", **{**TTF, "asof": "2025-09-12"}, month_from="2026-01",
                  month_to="2026-01").json()["data"]  # fmt: skip
    assert float(ttf["2026-01"]["value_from"]) == before[0]["value"]
    assert float(ttf["2026-01"]["value_to"]) == 33.904406122885895
    assert float(ttf["2026-01"]["change"]) == pytest.approx(33.904406122885895 - before[0]["value"])


def test_an_export_is_the_day_as_a_file(read, expected, published):
    row = expected_row(expected, DAYS[1])
    answer = read("/v1/exports/curve_observation", vendor="EUGP", asof="2025-09-17", format="csv")
    assert answer.headers["content-disposition"] == (
        'attachment; filename="curve_observation_EUGP.csv"')  # fmt: skip
    assert answer.headers["X-Aurum-Snapshot"] == str(published[1]["snapshot_id"])
    rows = csv_rows(answer.content)
    assert len(rows) == int(row["canonical_rows"]) and mid_total(rows) == float(row["sum_mid"])
    assert sha256(answer.content) == EXPORT_CSV
