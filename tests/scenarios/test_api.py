"""Scenarios over HTTP: a 422 naming the field, versions, a run on a worker whose curves come
back through /v1/curves, /strips and /diff, reuse, cancel, and another tenant seeing nothing,
through the cache too."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aurum.runs.worker import Worker

SPEC = {"base": {"vendors": ["EUGP"]}}
GAS_UP = {"type": "fuel_curve", "fuel": "gas", "mode": "relative", "value": 20}
CARBON = {"type": "carbon", "mode": "scaled", "value": 2}


def work(client: TestClient) -> None:
    """What `aurum worker` does, in this process: execute every queued run."""
    scenarios = client.app.state.services.scenarios  # type: ignore[attr-defined]
    worker = Worker(scenarios.runs, scenarios.lake, {"scenario_run": scenarios.execute})
    while worker.run_once() is not None:
        pass


def create(caller: Any, name: str, assumptions: list[dict[str, Any]]) -> dict[str, Any]:
    answer = caller.post("/v1/scenarios", json={"name": name, "spec": SPEC,
                                                "assumptions": assumptions})  # fmt: skip
    assert answer.status_code == 201, answer.text
    return answer.json()["data"][0]


def test_an_invalid_spec_is_a_422_naming_the_field(api):
    _, callers = api
    acme = callers["acme"]
    answer = acme.post("/v1/scenarios", json={"name": "bad", "spec": {"base": {"vendor": "X"}}})
    assert answer.status_code == 422 and answer.json()["code"] == "spec_invalid"
    assert answer.json()["diagnostics"]["field"].startswith("spec.base")
    scenario = create(acme, "typed", [])
    answer = acme.post(f"/v1/scenarios/{scenario['id']}/assumptions",
                       json={"name": "gas", "value": {"type": "fuel_curve", "mode": "replace",
                                                      "value": 3}})  # fmt: skip
    assert answer.status_code == 422
    assert answer.json()["diagnostics"]["field"] == "value.fuel_curve"
    assert "replace_with" in answer.json()["detail"]
    schema = acme.get("/v1/scenarios/schema").json()["data"][0]
    assert {"settings", "assumption"} <= set(schema)


def test_a_run_on_a_worker_comes_back_through_curves_strips_and_diff(api):
    client, callers = api
    acme = callers["acme"]
    scenario = create(acme, "gas and carbon", [{"name": "gas", "value": GAS_UP},
                                               {"name": "carbon", "value": CARBON}])  # fmt: skip
    assert scenario["version"] == 1
    queued = acme.post(f"/v1/scenarios/{scenario['id']}/run")
    assert queued.status_code == 202, queued.text
    run = queued.json()["data"][0]
    assert run["status"] == "queued" and run["base_tags"]["EUGP"].startswith("eod/EUGP/")
    early = acme.get("/v1/curves", params={"scenario_run": run["id"]})
    assert early.status_code == 409 and early.json()["code"] == "scenario_run_not_ready"
    work(client)
    done = acme.get(f"/v1/scenarios/{scenario['id']}/runs/{run['id']}").json()["data"][0]
    assert done["status"] == "published" and done["progress"]["stage"] == "published"
    again = acme.post(f"/v1/scenarios/{scenario['id']}/run")
    assert again.status_code == 200 and again.json()["data"][0]["reused"] is True

    german = {"scenario_run": run["id"], "location": "German", "block": "BASE", "limit": 1000}
    rows = acme.get("/v1/curves", params=german).json()["data"]
    assert len(rows) == 24 and all(r["value"] > r["base_value"] for r in rows)
    assert rows[0]["source_file"] == f"scenario:{run['id']}" and rows[0]["p50"] is None
    text = acme.get("/v1/curves", params={**german, "format": "csv"}).text
    assert len(list(csv.DictReader(io.StringIO(text)))) == 24
    strips = acme.get("/v1/curves/strips", params={**german, "kind": "calendar"}).json()["data"]
    assert strips and all(s["value"] > 0 and s["weighting"] == "hours" for s in strips)
    diff = acme.get("/v1/curves/diff", params={"scenario_run": run["id"], "location": "German",
                                                "block": "BASE"}).json()  # fmt: skip
    assert diff["meta"]["asof_from"].startswith("base of scenario run")
    for row in diff["data"]:
        match = next(r for r in rows if r["tenor_label"] == row["tenor_label"])
        assert row["value_to"] == pytest.approx(match["value"])
        assert row["value_from"] == pytest.approx(match["base_value"])
        assert row["status"] == "changed"
    outputs = acme.get(f"/v1/scenarios/{scenario['id']}/runs/{run['id']}/outputs",
                       params={"limit": 5}).json()  # fmt: skip
    assert len(outputs["data"]) == 5 and outputs["meta"]["has_more"]
    assert "gas" in outputs["data"][0]["attribution"]
    listed = acme.get("/v1/model-runs").json()["data"]
    assert run["id"] in {r["id"] for r in listed}


def test_cancel_a_queued_run_and_a_finished_one_is_409(api):
    _, callers = api
    acme = callers["acme"]
    scenario = create(acme, "to cancel", [{"name": "gas", "value": GAS_UP}])
    run = acme.post(f"/v1/scenarios/{scenario['id']}/run", json={"seed": 5}).json()["data"][0]
    cancelled = acme.post(f"/v1/scenarios/{scenario['id']}/runs/{run['id']}/cancel")
    assert cancelled.json()["data"][0]["status"] == "cancelled"
    again = acme.post(f"/v1/scenarios/{scenario['id']}/runs/{run['id']}/cancel")
    assert again.status_code == 409 and again.json()["code"] == "run_finished"


def test_another_tenant_sees_nothing_even_after_a_cached_answer(api):
    client, callers = api
    acme, bolt = callers["acme"], callers["bolt"]
    scenario = create(acme, "private", [{"name": "gas", "value": GAS_UP}])
    run = acme.post(f"/v1/scenarios/{scenario['id']}/run").json()["data"][0]
    work(client)
    url = f"/v1/curves?scenario_run={run['id']}&location=German"
    assert acme.get(url).status_code == 200  # now cached for acme
    for path in (url, f"/v1/curves/strips?scenario_run={run['id']}",
                 f"/v1/curves/diff?scenario_run={run['id']}"):  # fmt: skip
        answer = bolt.get(path)
        assert answer.status_code == 404 and answer.json()["code"] == "scenario_run_unknown"
    for path in (f"/v1/scenarios/{scenario['id']}", f"/v1/scenarios/{scenario['id']}/runs",
                 f"/v1/scenarios/{scenario['id']}/runs/{run['id']}",
                 f"/v1/scenarios/{scenario['id']}/runs/{run['id']}/outputs",
                 f"/v1/scenarios/{scenario['id']}/versions/1"):  # fmt: skip
        assert bolt.get(path).status_code == 404, path
    assert bolt.post(f"/v1/scenarios/{scenario['id']}/run").status_code == 404
    assert run["id"] not in {r["id"] for r in bolt.get("/v1/model-runs").json()["data"]}
    assert acme.get("/v1/curves?scenario_run=0123abc").json()["code"] == "scenario_run_unknown"


def test_the_python_client_reads_a_run_like_any_curve(api):
    from aurum import Client

    client, callers = api
    acme = callers["acme"]
    scenario = create(acme, "for the client", [{"name": "gas", "value": GAS_UP}])
    run = acme.post(f"/v1/scenarios/{scenario['id']}/run").json()["data"][0]
    work(client)
    with Client("http://testserver", token=acme.headers["Authorization"][7:], http=client) as aurum:
        rows = aurum.curves(scenario_run=run["id"], location="German", block="PEAK")
        assert len(rows) == 24 and {"base_value", "p50"} <= set(rows.columns)
        strips = aurum.strips(scenario_run=run["id"], location="German", kind="calendar")
        assert len(strips) >= 2
        diff = aurum.diff(scenario_run=run["id"], location="German")
        assert (diff["status"] == "changed").all()
        assert aurum.last_meta is not None and aurum.last_meta["asof_to"].startswith("scenario")
    outputs = acme.get(f"/v1/scenarios/{scenario['id']}/runs/{run['id']}/outputs",
                       params={"format": "csv", "limit": 1000})  # fmt: skip
    assert outputs.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(outputs.text)))) == 5 * 24


def test_one_curve_of_a_run_is_served_from_memory_as_the_query_would_answer(api):
    client, callers = api
    acme = callers["acme"]
    scenario = create(acme, "served", [{"name": "gas", "value": GAS_UP}])
    run = acme.post(f"/v1/scenarios/{scenario['id']}/run").json()["data"][0]
    work(client)
    german = {"scenario_run": run["id"], "location": "German", "block": "BASE"}
    key = acme.get("/v1/curves", params=german).json()["data"][0]["curve_key"]
    served = acme.get("/v1/curves", params={"scenario_run": run["id"], "curve_key": key})
    queried = acme.get("/v1/curves", params={"scenario_run": run["id"], "curve_key": key,
                                             "tenor_type": "MONTHLY"})  # fmt: skip
    assert served.status_code == queried.status_code == 200
    assert served.json()["data"] == queried.json()["data"] and len(served.json()["data"]) == 24
