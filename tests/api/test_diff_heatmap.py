"""``/v1/curves/diff/heatmap``: the diff summed up per curve family and delivery year, checked
against the same sums made here from every row of ``/v1/curves/diff``; its filters, its refusals
and the caller's vendor entitlements."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM
from aurum.domain.identity import curve_family
from aurum.store import Store

DAYS = {"asof_from": "2025-09-15", "asof_to": "2025-09-16"}


@pytest.fixture(scope="module")
def lake(build_lake, synthetic_days) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    """PW and RP on two days, authentication on: tenant acme may read PW, bolt RP, both both."""
    first = date(2025, 9, 15)
    paths = [*synthetic_days("PW", first, 2), *synthetic_days("RP", first, 2)]
    settings = build_lake(
        "diff-heatmap", paths, auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    headers = {}
    with Store.connect(settings) as store:
        for tenant, vendors in (("acme", ["PW"]), ("bolt", ["RP"]), ("both", ["PW", "RP"])):
            tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), vendors)
            issued = tenancy.issue_key(
                store, PLATFORM, tenant_id=tenant, role="aurum-analyst", name="analyst"
            )
            headers[tenant] = {"Authorization": f"Bearer {issued.token}"}
    with TestClient(create_app(settings)) as client:
        yield client, headers


def _get(lake: Any, who: str, path: str, **params: Any) -> Any:
    client, headers = lake
    return client.get(path, params=params, headers=headers[who])


def _expected(lake: Any, who: str, **filters: Any) -> dict[tuple[str, int], list[dict]]:
    """The cells made here: every /diff row by its family (the domain's) and delivery year (of
    the tenor's first day, read from /v1/curves of either day)."""
    rows = _get(lake, who, "/v1/curves/diff", **DAYS, **filters, limit=100000).json()["data"]
    starts = {}
    for day in DAYS.values():
        answer = _get(lake, who, "/v1/curves", asof=day, **filters, limit=100000).json()["data"]
        starts.update({(r["curve_key"], r["tenor_label"]): r["tenor_start"] for r in answer})
    cells: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for r in rows:
        start = starts[r["curve_key"], r["tenor_label"]]
        if start is None:
            continue
        family = curve_family(r["asset_class"], r["product"], r["currency"], r["per_unit"])
        cells[family, int(start[:4])].append(r)
    return cells


def _check(answer: list[dict], cells: dict[tuple[str, int], list[dict]]) -> None:
    assert {(c["family"], c["year"]) for c in answer} == set(cells)
    for cell in answer:
        mine = cells[cell["family"], cell["year"]]
        assert cell["tenors"] == len(mine)
        assert cell["changed"] == sum(r["status"] == "changed" for r in mine)
        changes = [r["change"] for r in mine if r["change"] is not None]
        assert cell["mean_change"] == pytest.approx(statistics.fmean(changes))
        pcts = [r["change_pct"] for r in mine if r["change_pct"] is not None]
        assert cell["mean_change_pct"] == pytest.approx(statistics.fmean(pcts))
        biggest = max(mine, key=lambda r: abs(r["change_pct"] or 0))
        assert cell["max_abs_change_pct"] == pytest.approx(abs(biggest["change_pct"]))
        assert cell["top_change_pct"] == pytest.approx(biggest["change_pct"])
        assert (cell["top_curve_key"], cell["top_tenor_label"]) in {
            (r["curve_key"], r["tenor_label"])
            for r in mine
            if r["change_pct"] is not None and abs(r["change_pct"]) == cell["max_abs_change_pct"]
        }
        first = mine[0]
        assert (cell["asset_class"], cell["product"], cell["currency"], cell["per_unit"]) == (
            first["asset_class"], first["product"], first["currency"], first["per_unit"],
        )  # fmt: skip


def test_each_cell_is_the_sum_of_its_diff_rows(lake):
    answer = _get(lake, "acme", "/v1/curves/diff/heatmap", vendor="PW", **DAYS, limit=10000)
    assert answer.status_code == 200
    body = answer.json()
    assert len(body["data"]) > 3 and body["meta"]["snapshot_id"]
    assert body["meta"]["asof_from"] == DAYS["asof_from"]
    _check(body["data"], _expected(lake, "acme", vendor="PW"))


def test_filters_narrow_the_cells_as_they_narrow_the_diff(lake):
    gas = _get(lake, "both", "/v1/curves/diff/heatmap", vendor="RP", asset_class="gas",
                 **DAYS, limit=10000).json()["data"]  # fmt: skip
    assert gas and {c["asset_class"] for c in gas} == {"gas"}
    _check(gas, _expected(lake, "both", vendor="RP", asset_class="gas"))
    # pages: the same cells in the same order
    whole = _get(lake, "both", "/v1/curves/diff/heatmap", **DAYS, limit=10000).json()["data"]
    first = _get(lake, "both", "/v1/curves/diff/heatmap", **DAYS, limit=5).json()
    second = _get(lake, "both", "/v1/curves/diff/heatmap", **DAYS, limit=5,
                  cursor=first["meta"]["next_cursor"]).json()  # fmt: skip
    assert first["data"] + second["data"] == whole[:10]


def test_a_tenant_sees_the_cells_of_its_vendors_only(lake):
    everything = _get(lake, "both", "/v1/curves/diff/heatmap", **DAYS, limit=10000).json()
    acme = _get(lake, "acme", "/v1/curves/diff/heatmap", **DAYS, limit=10000).json()["data"]
    bolt = _get(lake, "bolt", "/v1/curves/diff/heatmap", **DAYS, limit=10000).json()["data"]
    assert acme and bolt
    assert acme == _get(lake, "acme", "/v1/curves/diff/heatmap", vendor="PW", **DAYS,
                        limit=10000).json()["data"]  # fmt: skip
    assert acme != bolt and sum(c["tenors"] for c in acme) + sum(c["tenors"] for c in bolt) == sum(
        c["tenors"] for c in everything["data"]
    )
    refused = _get(lake, "acme", "/v1/curves/diff/heatmap", vendor="RP", **DAYS)
    assert refused.status_code == 403 and refused.json()["code"] == "vendor_not_entitled"
    client, _ = lake
    assert client.get("/v1/curves/diff/heatmap", params=DAYS).status_code == 401


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"asof_from": "2025-09-15"}, "parameter_invalid"),  # both dates are required
        ({"asof_from": "2025-09-15", "asof_to": "2025-09-15"}, "filters_contradictory"),
        ({"asof_from": "2025-13-01", "asof_to": "2025-09-16"}, "parameter_invalid"),
        ({**DAYS, "asof": "2025-09-16"}, "parameter_unknown"),  # two dates, not one
        ({**DAYS, "sort": "z"}, "parameter_unknown"),  # movers are /diff's
        ({**DAYS, "limit": "0"}, "parameter_invalid"),
    ],
)
def test_bad_requests_say_what_is_wrong(lake, query: dict[str, str], code: str):
    answer = _get(lake, "acme", "/v1/curves/diff/heatmap", **query)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == code
