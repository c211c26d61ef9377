"""``scenario_run=`` on ``/v1/curves``, ``/strips`` and ``/diff`` over HTTP, with authentication,
on SQLite and on PostgreSQL (as a role row-level security binds).

The runs' rows are published straight to the lake and their run rows recorded in the store (no
scenario is computed), so every number is known: a tenant reads its own runs (JSON, CSV,
Parquet, the Python client); another tenant, an unknown id and a run of another kind are one
and the same 404, even right after the owner's answer was cached; a run not yet published is a
409; vendor entitlement applies to a run's rows as to vendor curves.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM, Access
from aurum.config import Settings
from aurum.datasets.scenarios import SCENARIO_OUTPUT
from aurum.lake.catalog import Lake
from aurum.lake.publish import publish
from aurum.runs import Runs
from aurum.store import Store

ASOF = date(2025, 9, 17)
MONTHS = (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
POWER = {"vendor": "PW", "curve_key": "PW:PJM:WEST:ON_PEAK", "asset_class": "power",
         "iso": "PJM", "location": "West", "block": "ON_PEAK", "product": "energy",
         "currency": "USD", "per_unit": "MWh"}  # fmt: skip
GAS = {"vendor": "EUGP", "curve_key": "EUGP:TTF", "asset_class": "gas", "region": "EU",
       "location": "TTF", "product": "gas", "currency": "EUR", "per_unit": "MWh"}  # fmt: skip
PRICES = {  # (base_value, value) per month
    "PW": ((50.0, 55.5), (48.0, 52.25), (40.0, 44.0)),
    "EUGP": ((30.0, 33.0), (29.0, 31.9), (25.0, 27.5)),
}
ENTITLED = {"acme": ["PW", "EUGP"], "bolt": ["PW", "EUGP"], "carl": ["PW"]}


def output_rows(run_id: str, tenant: str, *, bands: bool = True, bump: float = 0.0) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for identity in (POWER, GAS):
        for month, (base, value) in zip(MONTHS, PRICES[identity["vendor"]], strict=True):
            value += bump
            rows.append({
                **{c: None for c in SCENARIO_OUTPUT.schema.names}, **identity,
                "tenant_id": tenant, "run_id": run_id, "scenario_id": "sc", "scenario_version": 1,
                "asof_date": ASOF, "base_tag": f"eod/{identity['vendor']}/{ASOF}/v1",
                "tenor_type": "MONTHLY", "tenor_label": f"{month:%Y-%m}", "contract_month": month,
                "tenor_start": month, "tenor_end": month, "base_value": base, "value": value,
                "attribution": '{"gas": 1.0}', "attribution_method": "shapley",
                "code_version": "test", "seed": 7,
                **({"mean": value + 0.5, "p5": value - 4, "p50": value, "p95": value + 6,
                    "band_convention": "non_exceedance", "band_model": "factor"}
                   if bands else {}),
            })  # fmt: skip
    return pa.Table.from_pylist(rows, schema=SCENARIO_OUTPUT.schema)


class Caller:
    def __init__(self, client: TestClient, token: str) -> None:
        self.client, self.headers = client, {"Authorization": f"Bearer {token}"}

    def get(self, url: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.get(url, headers=headers, **kwargs)


@dataclass
class World:
    client: TestClient
    callers: dict[str, Caller]
    runs: dict[str, str]  # name -> run id


def _published_run(runs: Runs, lake: Lake, tenant: str, **shape: Any) -> str:
    """A scenario run of ``tenant`` whose output is in the lake, recorded published."""
    access = Access(tenant, actor=f"analyst@{tenant}")
    run = runs.enqueue(access, "scenario_run", subject="sc",
                       params={"scenario_id": "sc", "version": 1, "base_tags": {}})  # fmt: skip
    done = publish(lake, SCENARIO_OUTPUT, {"run_id": run.run_id},
                   output_rows(run.run_id, tenant, **shape), run_id=run.run_id,
                   content_sha256=run.run_id)  # fmt: skip
    assert done.status == "published"
    runs.finish(run, "published", action="scenario_run.finish", details={}, tag=done.tag,
                snapshot_id=done.snapshot_id, version=done.version)  # fmt: skip
    return run.run_id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory) -> Iterator[World]:
    home = Path(tmp_path_factory.mktemp("scenario-reads"))
    store: dict[str, Any] = {"url": f"sqlite:///{home / 'store.db'}"}
    if request.param == "postgresql":
        store = request.getfixturevalue("postgres_app_store")
    settings = Settings(
        home=home, store=store, auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    lake = Lake(settings)
    tokens, ids = {}, {}
    with Store.connect(settings) as opened:
        for tenant, vendors in ENTITLED.items():
            tenancy.create_tenant(opened, PLATFORM, tenant, tenant.title(), vendors)
            issued = tenancy.issue_key(opened, PLATFORM, tenant_id=tenant, role="aurum-analyst",
                                       name="analyst")  # fmt: skip
            tokens[tenant] = issued.token
        runs = Runs(opened)
        ids["a"] = _published_run(runs, lake, "acme")
        ids["b"] = _published_run(runs, lake, "acme", bands=False, bump=1.0)
        ids["bolt"] = _published_run(runs, lake, "bolt")
        ids["carl"] = _published_run(runs, lake, "carl")
        ids["queued"] = runs.enqueue(Access("acme"), "scenario_run", subject="sc",
                                     params={"scenario_id": "sc"}).run_id  # fmt: skip
        other = runs.start(Access("acme"), "ingest", subject="EOD_PW_20250917.xlsx")
        a_tag = f"scenario/{ids['a']}/v1"
        ids["ingest"] = runs.finish(other, "published", action="ingest", details={},
                                    tag=a_tag).run_id  # fmt: skip
    with TestClient(create_app(settings)) as client:
        callers = {tenant: Caller(client, token) for tenant, token in tokens.items()}
        yield World(client, callers, ids)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _unknown(answer: Any, run_id: str) -> None:
    assert answer.status_code == 404, answer.text
    body = answer.json()
    assert body["code"] == "scenario_run_unknown"
    assert body["detail"] == f"no scenario run {run_id!r}"


def test_a_tenant_reads_its_run_as_curve_rows_in_every_format(world):
    acme, run = world.callers["acme"], world.runs["a"]
    answer = acme.get("/v1/curves", params={"scenario_run": run})
    assert answer.status_code == 200, answer.text
    rows = answer.json()["data"]
    assert [(r["vendor"], r["tenor_label"], r["value"], r["base_value"]) for r in rows] == [
        ("EUGP", "2026-01", 33.0, 30.0), ("EUGP", "2026-02", 31.9, 29.0),
        ("EUGP", "2026-03", 27.5, 25.0), ("PW", "2026-01", 55.5, 50.0),
        ("PW", "2026-02", 52.25, 48.0), ("PW", "2026-03", 44.0, 40.0),
    ]  # fmt: skip
    power = rows[3]
    assert (power["mid"], power["bid"], power["ask"], power["price_type"]) == (55.5, None, None,
                                                                               "MID")  # fmt: skip
    assert (power["version_hash"], power["source_file"]) == (run, f"scenario:{run}")
    assert (power["mean"], power["p5"], power["p50"], power["p95"]) == (56.0, 51.5, 55.5, 61.5)
    assert power["band_convention"] == "non_exceedance" and power["asof_date"] == "2025-09-17"
    no_bands = world.callers["acme"].get("/v1/curves", params={"scenario_run": world.runs["b"]})
    assert {r["p50"] for r in no_bands.json()["data"]} == {None}
    assert [r["value"] for r in no_bands.json()["data"]][3:] == [56.5, 53.25, 45.0]

    text = acme.get("/v1/curves", params={"scenario_run": run, "format": "csv"})
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    table = _csv(text.text)
    assert len(table) == 6 and list(table[0])[-6:] == [
        "base_value", "mean", "p5", "p50", "p95", "band_convention"
    ]  # fmt: skip
    assert (table[3]["value"], table[3]["base_value"], table[3]["p95"]) == ("55.5", "50.0",
                                                                            "61.5")  # fmt: skip
    parquet = acme.get("/v1/curves", params={"scenario_run": run, "format": "parquet"})
    frame = pq.read_table(io.BytesIO(parquet.content))
    assert frame.num_rows == 6 and frame["base_value"].to_pylist()[3] == 50.0
    picked = acme.get("/v1/curves", params={"scenario_run": run, "fields": "curve_key,p95",
                                            "vendor": "PW", "month_from": "2026-03"})  # fmt: skip
    assert picked.json()["data"] == [{"curve_key": POWER["curve_key"], "p95": 50.0}]


def test_the_runs_base_asof_is_its_asof(world):
    acme, run = world.callers["acme"], world.runs["a"]

    def count(asof: str, **more: str) -> int:
        answer = acme.get("/v1/curves", params={"scenario_run": run, "asof": asof, **more})
        assert answer.status_code == 200, answer.text
        return len(answer.json()["data"])

    assert count("latest") == count("2025-09-17") == count("2025-09-01..2025-09-30") == 6
    assert count("latest", vendor="pw") == 3
    assert count("2025-09-16") == 0  # another as-of: the run has no rows there


def test_strips_of_a_run(world):
    acme, run = world.callers["acme"], world.runs["a"]
    answer = acme.get("/v1/curves/strips", params={"scenario_run": run, "kind": "quarter"})
    assert answer.status_code == 200, answer.text
    found = {r["vendor"]: r for r in answer.json()["data"]}
    assert found["PW"]["label"] == "Q1 2026" and found["PW"]["weighting"] == "hours"
    assert found["PW"]["value"] == pytest.approx((55.5 * 336 + 52.25 * 320 + 44.0 * 352) / 1008)
    assert found["EUGP"]["weighting"] == "days"
    assert found["EUGP"]["value"] == pytest.approx((33.0 * 31 + 31.9 * 28 + 27.5 * 31) / 90)
    assert found["PW"]["complete"] is True
    text = acme.get("/v1/curves/strips", params={"scenario_run": run, "kind": "quarter",
                                                 "format": "csv"}).text  # fmt: skip
    assert sorted(r["vendor"] for r in _csv(text)) == ["EUGP", "PW"]


def test_the_diff_of_a_run_is_its_base_against_its_scenario_and_of_two_runs(world):
    acme, run, other = world.callers["acme"], world.runs["a"], world.runs["b"]
    answer = acme.get("/v1/curves/diff", params={"scenario_run": run})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["meta"]["asof_from"] == f"base of scenario run {run}"
    assert body["meta"]["asof_to"] == f"scenario run {run}"
    assert [(r["value_from"], r["value_to"], r["change"], r["status"]) for r in body["data"]] == [
        (30.0, 33.0, 3.0, "changed"), (29.0, 31.9, 2.9, "changed"), (25.0, 27.5, 2.5, "changed"),
        (50.0, 55.5, 5.5, "changed"), (48.0, 52.25, 4.25, "changed"), (40.0, 44.0, 4.0, "changed"),
    ]  # fmt: skip
    assert body["data"][0]["change_pct"] == pytest.approx(10.0)
    text = acme.get("/v1/curves/diff", params={"scenario_run": run, "format": "csv"}).text
    assert [r["change"] for r in _csv(text)] == ["3.0", "2.9", "2.5", "5.5", "4.25", "4.0"]
    top = acme.get("/v1/curves/diff", params={"scenario_run": run, "sort": "abs_change",
                                              "top": 1}).json()["data"]  # fmt: skip
    assert [(r["vendor"], r["tenor_label"]) for r in top] == [("PW", "2026-01")]

    both = acme.get("/v1/curves/diff", params={"scenario_run": run, "against_run": other,
                                               "vendor": "PW"}).json()  # fmt: skip
    assert (both["meta"]["asof_from"], both["meta"]["asof_to"]) == (
        f"scenario run {run}", f"scenario run {other}"
    )  # fmt: skip
    assert [(r["value_from"], r["value_to"], r["change"]) for r in both["data"]] == [
        (55.5, 56.5, 1.0), (52.25, 53.25, 1.0), (44.0, 45.0, 1.0)
    ]  # fmt: skip


def test_contradictory_parameters_are_400(world):
    acme, run = world.callers["acme"], world.runs["a"]
    for path, params in (
        ("/v1/curves/diff", {"against_run": run}),
        ("/v1/curves/diff", {"scenario_run": run, "asof_from": "2025-09-16"}),
        ("/v1/curves", {"scenario_run": run, "as_at": "main"}),
        ("/v1/curves/strips", {"scenario_run": run, "as_at": "main"}),
    ):
        answer = acme.get(path, params=params)
        assert answer.status_code == 400, (path, params, answer.text)
        assert answer.json()["code"] == "filters_contradictory"


def test_another_tenants_run_an_unknown_id_and_another_kind_are_one_404(world):
    acme, bolt = world.callers["acme"], world.callers["bolt"]
    run = world.runs["a"]
    url = f"/v1/curves?scenario_run={run}&vendor=PW"
    first = acme.get(url)
    assert first.status_code == 200 and first.headers["X-Aurum-Cache"] == "miss"
    again = acme.get(url)
    assert again.status_code == 200 and again.headers["X-Aurum-Cache"] == "hit"  # cached
    assert again.content == first.content
    etag = first.headers["ETag"]
    # the same URL (and the owner's ETag) from another tenant: not the cached body, not a 304
    _unknown(bolt.get(url), run)
    _unknown(bolt.get(url, headers={"If-None-Match": etag}), run)
    for path in ("/v1/curves/strips", "/v1/curves/diff"):
        assert acme.get(f"{path}?scenario_run={run}").status_code == 200
        _unknown(bolt.get(f"{path}?scenario_run={run}"), run)
    # A's run as the second side of B's diff, and B's run as A's
    bolts = world.runs["bolt"]
    _unknown(bolt.get("/v1/curves/diff", params={"scenario_run": bolts, "against_run": run}), run)
    _unknown(acme.get("/v1/curves/diff", params={"scenario_run": run, "against_run": bolts}),
             bolts)  # fmt: skip
    assert bolt.get(f"/v1/curves?scenario_run={bolts}").json()["data"][0]["source_file"] == (
        f"scenario:{bolts}"
    )  # fmt: skip
    for missing in ("0123abc", "f" * 32, world.runs["ingest"]):
        for path in ("/v1/curves", "/v1/curves/strips", "/v1/curves/diff"):
            _unknown(acme.get(path, params={"scenario_run": missing}), missing)


def test_a_run_not_yet_published_is_409_with_its_status(world):
    acme, run = world.callers["acme"], world.runs["queued"]
    for path in ("/v1/curves", "/v1/curves/strips", "/v1/curves/diff"):
        answer = acme.get(path, params={"scenario_run": run})
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "scenario_run_not_ready"
        assert answer.json()["diagnostics"]["status"] == "queued"
    _unknown(world.callers["bolt"].get("/v1/curves", params={"scenario_run": run}), run)


def test_vendor_entitlement_applies_to_a_runs_rows_as_to_vendor_curves(world):
    carl, run = world.callers["carl"], world.runs["carl"]  # carl may read PW only
    rows = carl.get("/v1/curves", params={"scenario_run": run}).json()["data"]
    assert [(r["vendor"], r["value"]) for r in rows] == [("PW", 55.5), ("PW", 52.25),
                                                         ("PW", 44.0)]  # fmt: skip
    named = carl.get("/v1/curves", params={"scenario_run": run, "vendor": "EUGP"})
    base = carl.get("/v1/curves", params={"vendor": "EUGP"})
    assert named.status_code == base.status_code == 403
    assert named.json()["code"] == base.json()["code"] == "vendor_not_entitled"
    strips = carl.get("/v1/curves/strips", params={"scenario_run": run, "kind": "quarter"})
    assert {r["vendor"] for r in strips.json()["data"]} == {"PW"}
    diff = carl.get("/v1/curves/diff", params={"scenario_run": run}).json()
    assert {r["vendor"] for r in diff["data"]} == {"PW"} and len(diff["data"]) == 3
    csv_rows = _csv(carl.get("/v1/curves", params={"scenario_run": run, "format": "csv"}).text)
    assert {r["vendor"] for r in csv_rows} == {"PW"}


def test_the_python_client_passes_scenario_run_and_against_run(world):
    from aurum import Client

    acme, run, other = world.callers["acme"], world.runs["a"], world.runs["b"]
    token = acme.headers["Authorization"][7:]
    with Client("http://testserver", token=token, http=world.client) as aurum:
        rows = aurum.curves(scenario_run=run, vendor="PW")
        assert rows["value"].tolist() == [55.5, 52.25, 44.0]
        assert rows["base_value"].tolist() == [50.0, 48.0, 40.0]
        strips = aurum.strips(scenario_run=run, kind="quarter", vendor="PW")
        assert strips["value"].tolist() == pytest.approx([50856 / 1008])
        diff = aurum.diff(scenario_run=run, vendor="EUGP")
        assert diff["change"].tolist() == [3.0, 2.9, 2.5]
        assert aurum.last_meta is not None
        assert aurum.last_meta["asof_from"] == f"base of scenario run {run}"
        versus = aurum.diff(scenario_run=run, against_run=other, vendor="EUGP")
        assert versus["change"].tolist() == [1.0, 1.0, 1.0]
