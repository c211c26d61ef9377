"""PPA valuations over HTTP, on SQLite and PostgreSQL (row-level security binding): typed and
versioned contracts, a deterministic valuation on base curves, one on a scenario run and one on
its ensemble (queued, executed by a worker), re-runs giving the same numbers, the exports and
the committee's workbook, every bad input with its code, and another tenant seeing nothing.

The scenario lake (``conftest.py``) holds EUGP German BASE and PEAK for 24 months after each of
70 as-of days, so OFF_PEAK is derived from them and the ensemble calibrates on that history.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import numpy as np
import openpyxl
from fastapi.testclient import TestClient

from aurum.auth.access import Access
from aurum.client import Client
from aurum.runs.worker import Worker

SOLAR = [[0.0] * 6 + [0.1, 0.3, 0.5, 0.65, 0.75, 0.8, 0.8, 0.75, 0.65, 0.5, 0.3, 0.1] + [0.0] * 6
         for _ in range(12)]  # fmt: skip
TERMS: dict[str, Any] = {
    "hub": {"vendor": "EUGP", "location": "German"},
    "volume": {"type": "pay_as_produced", "capacity_mw": 40, "month_hour": SOLAR,
               "energy_uncertainty_pct": 7},
    "strike": {"type": "escalating", "price": 80, "escalation_pct": 2},
    "negative_prices": {"rule": "suspend_after", "hours": 3},
    "term": {"start": "2026-01", "end": "2027-06"},
}  # fmt: skip
DISCOUNT = {"rate": 0.06}


def work(client: TestClient) -> None:
    """What `aurum worker` does: execute every queued scenario run and valuation."""
    services = client.app.state.services  # type: ignore[attr-defined]
    worker = Worker(services.scenarios.runs, services.lake, {
        "scenario_run": services.scenarios.execute, "valuation": services.ppa.execute,
    })  # fmt: skip
    while worker.run_once() is not None:
        pass


def valuate(caller: Any, status: int = 201, **body: Any) -> dict[str, Any]:
    answer = caller.post("/v1/ppa/valuate", json={"discount": DISCOUNT, **body})
    assert answer.status_code == status, answer.text
    return answer.json()["data"][0] if status < 300 else answer.json()


def test_contracts_are_typed_and_versioned(api):
    _, callers = api
    acme = callers["acme"]
    bad = acme.post("/v1/ppa-contracts", json={"name": "bad", "spec": {
        **TERMS, "volume": {**TERMS["volume"], "month_hour": SOLAR[:11]}}})
    assert bad.status_code == 422
    assert bad.json()["code"] == "spec_invalid"
    assert bad.json()["diagnostics"]["field"].startswith("spec.volume.pay_as_produced")
    made = acme.post("/v1/ppa-contracts", json={"name": "solar", "spec": TERMS})
    assert made.status_code == 201, made.text
    contract = made.json()["data"][0]
    assert contract["version"] == 1
    changed = acme.patch(f"/v1/ppa-contracts/{contract['id']}",
                         json={"spec": {**TERMS, "strike": {"type": "fixed", "price": 70}}})
    assert changed.json()["data"][0]["version"] == 2
    versions = acme.get(f"/v1/ppa-contracts/{contract['id']}/versions").json()["data"]
    assert [v["version"] for v in versions] == [2, 1]
    first = acme.get(f"/v1/ppa-contracts/{contract['id']}/versions/1").json()["data"][0]
    assert first["spec"]["strike"]["type"] == "escalating"
    # valuing version 1 and version 2 gives their own strikes
    one = valuate(acme, contract_id=contract["id"], contract_version=1)
    two = valuate(acme, contract_id=contract["id"])
    assert one["contract_version"] == 1 and two["contract_version"] == 2
    assert one["cashflows"][0]["strike"] == 80 and two["cashflows"][0]["strike"] == 70
    # another tenant sees none of it
    bolt = callers["bolt"]
    assert bolt.get(f"/v1/ppa-contracts/{contract['id']}").status_code == 404
    assert bolt.get(f"/v1/ppa-contracts/{contract['id']}/versions").status_code == 404
    assert valuate(bolt, 404, contract_id=contract["id"])["code"] == "ppa_contract_unknown"
    assert bolt.get(f"/v1/ppa/valuations/{one['id']}").status_code == 404
    assert one["id"] not in {v["id"] for v in bolt.get("/v1/ppa/valuations").json()["data"]}
    assert one["id"] not in {r["id"] for r in bolt.get("/v1/model-runs").json()["data"]}
    assert one["id"] in {r["id"] for r in acme.get("/v1/model-runs").json()["data"]}


def test_a_valuation_on_base_curves_is_stored_exported_and_reproducible(api, scenario_lake):
    _, callers = api
    acme = callers["acme"]
    found = valuate(acme, terms=TERMS)
    summary, inputs = found["summary"], found["inputs"]
    assert found["status"] == "published"
    assert inputs["blocks"] == ["PEAK", "OFF_PEAK"] and inputs["derived_block"] == "OFF_PEAK"
    assert inputs["market"] == "DE" and inputs["currency"] == "EUR"
    assert len(found["cashflows"]) == 18
    assert np.isclose(summary["npv"], sum(r["pv"] for r in found["cashflows"]), rtol=1e-12)
    assert summary["conventions"]["day_count"] == "ACT/365F"
    assert 0.5 < summary["capture_rate"] < 2
    p90 = next(iter(summary["energy"]["by_calendar_year"].values()))
    assert np.isclose(p90["p90_mwh"], p90["p50_mwh"] * (1 - 1.2815515655446004 * 0.07))
    # the recorded request, valued again, gives identical numbers (it pins the snapshot)
    again = valuate(acme, **{k: v for k, v in found["request"].items() if k != "discount"})
    assert again["id"] != found["id"]
    assert again["summary"]["npv"] == summary["npv"]
    cash = [r["cashflow"] for r in found["cashflows"]]
    assert [r["cashflow"] for r in again["cashflows"]] == cash
    # exports: CSV of the monthly rows, the committee's workbook
    text = acme.get(f"/v1/ppa/valuations/{found['id']}/cashflows", params={"format": "csv"})
    assert text.status_code == 200
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert [r["month"] for r in rows][:2] == ["2026-01", "2026-02"]
    report = acme.get(f"/v1/ppa/valuations/{found['id']}/report.xlsx")
    assert report.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(report.content), read_only=True)
    assert book.sheetnames == ["summary", "cashflows", "sensitivities", "energy", "inputs"]
    lines = {row[0]: row[1] for row in book["summary"].iter_rows(min_row=2, values_only=True)}
    assert np.isclose(lines["NPV"], summary["npv"])  # a number, not text
    unstorable = acme.post("/v1/ppa/valuate", json={"terms": TERMS, "discount": DISCOUNT,
                                                     "note": 2**70})  # fmt: skip
    assert unstorable.status_code == 400  # refused before anything is stored
    listed = acme.get("/v1/ppa/valuations").json()["data"]
    assert found["id"] in {v["id"] for v in listed}


def test_bad_input_gets_its_code(api):
    _, callers = api
    acme = callers["acme"]
    beyond = {**TERMS, "term": {"start": "2026-01", "end": "2030-12"}}
    assert valuate(acme, 422, terms=beyond)["code"] == "term_beyond_curve"
    extrapolated = valuate(acme, terms=beyond, extrapolate="flat")
    assert extrapolated["summary"]["extrapolated_months"][0] == "2027-10"
    assert sum(r["extrapolated"] for r in extrapolated["cashflows"]) == 39
    usd = {**TERMS, "currency": "USD"}
    mismatch = valuate(acme, 422, terms=usd)
    assert mismatch["code"] == "units_mismatched" and mismatch["diagnostics"]["rate"] == "EURUSD"
    converted = valuate(acme, terms=usd, fx_rates={"EURUSD": 1.1})
    assert converted["summary"]["currency"] == "USD"
    collar = {**TERMS, "floor": 20, "cap": 150}
    assert valuate(acme, 422, terms=collar)["code"] == "volatility_missing"
    priced = valuate(acme, terms=collar, volatility=0.4)["summary"]["options"]
    assert priced["floor"] > 0 > priced["cap"] and priced["volatility_source"] == "request"
    overlapping = {**TERMS, "hub": {**TERMS["hub"], "blocks": ["PEAK", "BASE"]}}
    refused = valuate(acme, 422, terms=overlapping)
    assert refused["code"] == "blocks_incomplete" and "2 blocks" in refused["detail"]
    other = {**TERMS, "hub": {"vendor": "PW", "iso": "PJM"}}
    assert valuate(acme, 403, terms=other)["code"] == "vendor_not_entitled"
    wrong_hours = {**TERMS, "volume": {"type": "schedule", "hourly": [1.0] * 8759}}
    answer = valuate(acme, 422, terms=wrong_hours)
    assert answer["code"] == "spec_invalid" and "8760" in answer["detail"]
    negative = {**TERMS, "volume": {**TERMS["volume"], "capacity_mw": -1}}
    assert valuate(acme, 422, terms=negative)["diagnostics"]["field"].endswith("capacity_mw")
    listed = acme.get("/v1/ppa/valuations").json()["data"]
    failed = [v for v in listed if v["status"] != "published"]
    assert not failed  # bad input is refused before a run is recorded


def test_valuations_on_a_scenario_run_and_its_ensemble(api):
    client, callers = api
    acme = callers["acme"]
    spec = {"base": {"vendors": ["EUGP"]}, "seed": 11, "ensemble": {
        "paths": 300, "horizon_days": 20, "calibration_days": 60,
        "curves": {"location": "German"}}}  # fmt: skip
    shock = {"type": "shock", "filter": {"location": "German"}, "mode": "relative", "value": 10}
    made = acme.post("/v1/scenarios", json={"name": "german up", "spec": spec,
                                            "assumptions": [{"name": "up", "value": shock}]})
    assert made.status_code == 201, made.text
    scenario = made.json()["data"][0]["id"]
    run = acme.post(f"/v1/scenarios/{scenario}/run").json()["data"][0]
    work(client)
    base = valuate(acme, terms=TERMS)
    on_run = valuate(acme, terms=TERMS, curves={"scenario_run": run["id"]})
    assert on_run["inputs"]["scenario_run"] == run["id"]
    # prices 10 % up: the generator's settlement (K − P)·Q falls
    assert on_run["summary"]["npv"] < base["summary"]["npv"]
    # the collar's volatility comes from the run's calibration of the hub's own curve
    collar = valuate(acme, terms={**TERMS, "floor": 20, "cap": 200},
                     curves={"scenario_run": run["id"]})["summary"]["options"]  # fmt: skip
    assert collar["volatility_source"].startswith("calibration of EUGP German power")
    assert 0.05 < collar["volatility"] < 1.5
    queued = valuate(acme, 202, terms=TERMS, curves={"scenario_run": run["id"], "ensemble": True})
    assert queued["status"] == "queued"
    work(client)
    done = acme.get(f"/v1/ppa/valuations/{queued['id']}").json()["data"][0]
    assert done["status"] == "published", done["error_message"]
    ensemble = done["summary"]["ensemble"]
    npv = ensemble["npv"]
    assert ensemble["paths"] == 300
    assert npv["p5"] < npv["p50"] < npv["p95"]
    assert npv["var_95"] > 0 and npv["es_99"] >= npv["var_99"]
    assert "regenerated" in done["inputs"]["paths"]
    assert all(r["cashflow_p5"] <= r["cashflow_p95"] for r in done["cashflows"])
    assert any("ensemble.streams" in w for w in done["summary"]["warnings"])
    # the same request again: the same paths, the same numbers
    again = valuate(acme, 202, terms=TERMS, curves={"scenario_run": run["id"], "ensemble": True})
    work(client)
    redone = acme.get(f"/v1/ppa/valuations/{again['id']}").json()["data"][0]
    assert redone["summary"]["ensemble"]["npv"] == npv
    # stored paths give what regenerated ones do
    kept = acme.post("/v1/scenarios", json={
        "name": "german up kept", "spec": {**spec, "ensemble": {**spec["ensemble"],
                                                                 "store_paths": True}},
        "assumptions": [{"name": "up", "value": shock}]}).json()["data"][0]["id"]  # fmt: skip
    kept_run = acme.post(f"/v1/scenarios/{kept}/run").json()["data"][0]
    work(client)
    stored = valuate(acme, 202, terms=TERMS, curves={"scenario_run": kept_run["id"],
                                                      "ensemble": True})  # fmt: skip
    work(client)
    from_store = acme.get(f"/v1/ppa/valuations/{stored['id']}").json()["data"][0]
    assert "stored" in from_store["inputs"]["paths"]
    assert np.allclose(
        [from_store["summary"]["ensemble"]["npv"][k] for k in ("p5", "p50", "p95")],
        [npv[k] for k in ("p5", "p50", "p95")], rtol=1e-9,
    )
    # the client: a deterministic valuation and its rows
    with Client("http://testserver", token=acme.headers["Authorization"][7:], http=client) as sdk:
        answer = sdk.valuate(terms=TERMS, discount=DISCOUNT)
        assert answer["status"] == "published"
        frame = sdk.valuation_cashflows(answer["id"])
        assert len(frame) == 18 and np.isclose(frame["pv"].sum(), answer["summary"]["npv"])
        waited = sdk.valuate(terms=TERMS, discount=DISCOUNT, wait=False,
                             curves={"scenario_run": run["id"], "ensemble": True})
        assert waited["status"] == "queued"
    # another tenant cannot value on this tenant's run
    bolt = callers["bolt"]
    assert valuate(bolt, 404, terms=TERMS, curves={"scenario_run": run["id"]})["code"] == (
        "scenario_run_unknown"
    )


def test_market_streams_move_a_markets_blocks_together(api):
    client, callers = api
    acme = callers["acme"]
    services = client.app.state.services  # type: ignore[attr-defined]
    spec = {"base": {"vendors": ["EUGP"]}, "seed": 5, "ensemble": {
        "paths": 400, "horizon_days": 20, "calibration_days": 60,
        "curves": {"location": "German"}}}  # fmt: skip
    correlation = {}
    for streams in ("curve", "market"):
        made = acme.post("/v1/scenarios", json={
            "name": f"streams {streams}",
            "spec": {**spec, "ensemble": {**spec["ensemble"], "streams": streams}},
        })  # fmt: skip
        assert made.status_code == 201, made.text
        run = acme.post(f"/v1/scenarios/{made.json()['data'][0]['id']}/run").json()["data"][0]
        work(client)
        rows = acme.get(f"/v1/scenarios/{made.json()['data'][0]['id']}/runs/{run['id']}/outputs",
                        params={"limit": 1000}).json()["data"]  # fmt: skip
        keys = {r["block"]: r["curve_key"] for r in rows}
        found = services.scenarios.paths(Access("acme", actor="test"), run["id"],
                                         [keys["BASE"], keys["PEAK"]])  # fmt: skip
        base, peak = found.matrices[keys["BASE"]][:, 3], found.matrices[keys["PEAK"]][:, 3]
        correlation[streams] = float(np.corrcoef(np.log(base), np.log(peak))[0, 1])
        valued = valuate(acme, 202, terms=TERMS, curves={"scenario_run": run["id"],
                                                          "ensemble": True})  # fmt: skip
        work(client)
        summary = acme.get(f"/v1/ppa/valuations/{valued['id']}").json()["data"][0]["summary"]
        warned = any("ensemble.streams" in w for w in summary["warnings"])
        assert warned == (streams == "curve")
    assert abs(correlation["curve"]) < 0.3 < 0.9 < correlation["market"]
