"""Scenarios and tenancy, on the embedded and the cluster profile alike: a deterministic shock
(German base power +5 EUR/MWh on a real EUGP day), created and run with ``aurum scenario`` for
tenant acme, is published as curves that ``/v1/curves``, ``/strips`` and ``/diff`` read with
``scenario_run=``; its output event is acme's; and tenant bolt, entitled to the same vendor,
cannot see the scenario, its run or its curves (one 404)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from .helpers import ingested

SHOCK = {
    "name": "german base +5",
    "description": "German base power up 5 EUR/MWh; peak as it is",
    "spec": {"base": {"vendors": ["EUGP"], "asof": "2025-09-17",
                      "curves": {"location": "German", "product": "power"}}},
    "assumptions": [{"name": "+5 EUR/MWh", "value": {
        "type": "shock", "mode": "absolute", "value": 5, "filter": {"block": "BASE"}}}],
}  # fmt: skip
MONTHS = 121  # monthly tenors of each German power curve on 2025-09-17


@pytest.fixture(scope="module")
def run(tenants: Any, workbooks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The shock, created and run by acme through the CLI: (scenario id, the run's summary)."""
    (day,) = ingested(tenants, workbooks_dir / "EOD_EUGP_20250917_1430.xlsx")
    assert day["status"] == "published"
    spec = tmp_path_factory.mktemp("scenario") / "shock.json"
    spec.write_text(json.dumps(SHOCK), encoding="utf-8")
    made = tenants.cli("scenario", "create", str(spec), "--tenant", "acme", "--json")
    assert made.exit_code == 0, made.output
    scenario = json.loads(made.stdout)
    assert (scenario["name"], scenario["version"]) == ("german base +5", 1)
    ran = tenants.cli("scenario", "run", scenario["id"], "--tenant", "acme", "--json")
    assert ran.exit_code == 0, ran.output
    return scenario["id"], json.loads(ran.stdout)


def test_a_shock_is_published_and_read_as_curves(run, tenants, client):
    scenario, summary = run
    run_id = summary["run_id"]
    assert (summary["status"], summary["tag"], summary["version"]) == (
        "published", f"scenario/{run_id}/v1", 1)  # fmt: skip
    assert summary["base_tags"] == {"EUGP": "eod/EUGP/2025-09-17/v1"}
    assert (summary["result"]["curves"], summary["result"]["rows"]) == (2, 2 * MONTHS)

    acme = tenants.auth("acme/aurum-analyst")
    shown = client.get(f"/v1/scenarios/{scenario}/runs/{run_id}", headers=acme)
    assert shown.status_code == 200, shown.text
    assert shown.json()["data"][0]["status"] == "published"

    rows = client.get("/v1/curves", params={"scenario_run": run_id}, headers=acme).json()["data"]
    assert len(rows) == 2 * MONTHS
    assert {(r["location"], r["block"], r["tenor_type"]) for r in rows} == {
        ("German", "BASE", "MONTHLY"), ("German", "PEAK", "MONTHLY")}  # fmt: skip
    assert {r["source_file"] for r in rows} == {f"scenario:{run_id}"}
    shifted = {b: [r["value"] - r["base_value"] for r in rows if r["block"] == b]
               for b in ("BASE", "PEAK")}  # fmt: skip
    assert shifted["BASE"] == pytest.approx([5.0] * MONTHS, abs=1e-9)
    assert shifted["PEAK"] == [0.0] * MONTHS
    # the base values are the published day's
    base = client.get("/v1/curves", params={"vendor": "EUGP", "asof": "2025-09-17",
                      "location": "German", "product": "power", "block": "BASE",
                      "tenor_type": "MONTHLY"}, headers=acme).json()["data"]  # fmt: skip
    assert [r["value"] for r in base] == [r["base_value"] for r in rows if r["block"] == "BASE"]

    diff = client.get("/v1/curves/diff", params={"scenario_run": run_id}, headers=acme).json()
    assert (diff["meta"]["tenors_changed"], diff["meta"]["tenors_total"]) == (MONTHS, 2 * MONTHS)
    assert diff["meta"]["asof_to"] == f"scenario run {run_id}"
    strips = client.get("/v1/curves/strips", params={"scenario_run": run_id, "kind": "quarter"},
                        headers=acme).json()["data"]  # fmt: skip
    q1 = {r["block"]: r["value"] for r in strips if r["label"] == "Q1 2026"}
    base_q1 = client.get("/v1/curves/strips", params={
        "vendor": "EUGP", "asof": "2025-09-17", "location": "German", "product": "power",
        "kind": "quarter"}, headers=acme).json()["data"]  # fmt: skip
    before = {r["block"]: r["value"] for r in base_q1 if r["label"] == "Q1 2026"}
    assert q1["BASE"] == pytest.approx(before["BASE"] + 5.0, abs=1e-9)
    assert q1["PEAK"] == pytest.approx(before["PEAK"], abs=1e-12)


def test_the_run_s_output_event_is_its_tenant_s(run, tenants, client):
    scenario, summary = run
    page = client.get("/v1/events", params={"after": 0, "types": "scenario.output"},
                      headers=tenants.auth("acme/aurum-analyst")).json()  # fmt: skip
    assert [(e["tenant_id"], e["run_id"], e["key"]) for e in page["data"]] == [
        ("acme", summary["run_id"], f"scenario|{scenario}")]  # fmt: skip
    assert {k: page["data"][0]["data"][k] for k in ("tag", "rows", "dataset")} == {
        "tag": summary["tag"], "rows": 2 * MONTHS, "dataset": "scenario_output"}  # fmt: skip
    theirs = client.get("/v1/events", params={"after": 0, "types": "scenario.output"},
                        headers=tenants.auth("bolt/aurum-analyst")).json()  # fmt: skip
    assert theirs["data"] == []


def test_another_tenant_cannot_see_the_scenario(run, tenants, client):
    scenario, summary = run
    run_id = summary["run_id"]
    acme, bolt = tenants.auth("acme/aurum-analyst"), tenants.auth("bolt/aurum-analyst")
    for path, code in (
        (f"/v1/scenarios/{scenario}", "scenario_unknown"),
        (f"/v1/scenarios/{scenario}/runs/{run_id}", "scenario_run_unknown"),
        (f"/v1/curves?scenario_run={run_id}", "scenario_run_unknown"),
        (f"/v1/curves/diff?scenario_run={run_id}", "scenario_run_unknown"),
    ):
        assert client.get(path, headers=acme).status_code == 200, path
        answer = client.get(path, headers=bolt)  # right after acme's answer was cached
        assert (answer.status_code, answer.json()["code"]) == (404, code), path
    assert client.get("/v1/scenarios", headers=bolt).json()["data"] == []
    assert [s["id"] for s in client.get("/v1/scenarios", headers=acme).json()["data"]] == [
        scenario]  # fmt: skip
    listed = tenants.cli("scenario", "list", "--tenant", "bolt", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
