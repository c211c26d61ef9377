"""The scenario service end to end on a real lake and store: typed specs and versions, a driver
run on the worker with its attribution, ensemble bands with calibration and backtest, run reuse,
bad input (each a clear error, nothing published), and tenants kept apart."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pyarrow.compute as pc
import pytest

from aurum.auth.access import PLATFORM, Access
from aurum.config import ScenarioLimits
from aurum.domain import drivers
from aurum.errors import Forbidden, NotFound, ScenarioError
from aurum.runs import Runs
from aurum.scenarios import ScenarioService
from aurum.store import Store

GERMAN_BASE = {"vendor": "EUGP", "location": "German", "block": "BASE"}
GAS_UP = {"type": "fuel_curve", "fuel": "gas", "mode": "relative", "value": 20}
CARBON_DOUBLE = {"type": "carbon", "mode": "scaled", "value": 2}
HR_UP = {"type": "heat_rate", "mode": "relative", "value": 5}
POWER_SHOCK = {"type": "shock", "filter": {"location": "German", "block": "PEAK"},
               "mode": "absolute", "value": 3}  # fmt: skip


@pytest.fixture
def service(scenario_lake, store: Store) -> ScenarioService:
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
        tx.create_tenant("beta", "Beta")
    return ScenarioService(store, scenario_lake.lake(), Runs(store, lease=timedelta(seconds=30)))


def acme(vendors: frozenset[str] | None = None) -> Access:
    return Access("acme", actor="user:a@acme", vendors=vendors)


def beta() -> Access:
    return Access("beta", actor="user:b@beta")


def run_on_worker(service: ScenarioService, run_id: str):
    from aurum.runs.worker import Worker

    worker = Worker(service.runs, service.lake, {"scenario_run": service.execute})
    done = worker.run_once()
    assert done is not None and done.run_id == run_id
    return done


def make(service, spec, assumptions=(), name="gas and carbon"):
    return service.create(acme(), name=name, description="", spec=spec,
                          assumptions=list(assumptions))  # fmt: skip


BASE = {"base": {"vendors": ["EUGP"]}}


# -- specs and versions ---------------------------------------------------------------------------


def test_an_invalid_assumption_is_a_422_naming_the_field(service):
    scenario = make(service, BASE)
    with pytest.raises(ScenarioError) as caught:
        service.add_assumption(acme(), scenario.id, name="bad",
                               value={"type": "shock", "mode": "sideways", "value": 1})  # fmt: skip
    assert caught.value.code == "spec_invalid" and caught.value.http_status == 422
    assert caught.value.diagnostics["field"] == "value.shock.mode"
    with pytest.raises(ScenarioError) as caught:
        make(service, {"base": {"vendors": []}}, name="empty")
    assert caught.value.diagnostics["field"] == "spec.base.vendors"


def test_every_change_is_a_new_version_and_old_ones_stay_readable(service):
    scenario = make(service, BASE)
    assert scenario.version == 1
    service.add_assumption(acme(), scenario.id, name="gas", value=GAS_UP)
    service.add_assumption(acme(), scenario.id, name="carbon", value=CARBON_DOUBLE)
    service.replace_assumption(acme(), scenario.id, "gas", value={**GAS_UP, "value": 10})
    service.remove_assumption(acme(), scenario.id, "carbon")
    changed = service.update(acme(), scenario.id, {"description": "smaller"})
    assert changed.version == 6
    first, third = service.version(acme(), scenario.id, 1), service.version(acme(), scenario.id, 3)
    assert first.spec["assumptions"] == [] and first.change == "created"
    assert [a["name"] for a in third.spec["assumptions"]] == ["gas", "carbon"]
    assert service.version(acme(), scenario.id).spec["assumptions"][0]["value"]["value"] == 10


# -- a driver run ---------------------------------------------------------------------------------


def test_a_driver_scenario_runs_on_a_worker_with_its_attribution(service, scenario_lake):
    scenario = make(service, BASE, [("gas", GAS_UP), ("carbon", CARBON_DOUBLE),
                                    ("heat rate", HR_UP), ("peak", POWER_SHOCK)])  # fmt: skip
    asked = service.request_run(acme(), scenario.id)
    assert not asked.reused and asked.run.status == "queued"
    done = run_on_worker(service, asked.run.run_id)
    assert done.status == "published", done.error_message
    assert done.tag == f"scenario/{done.run_id}/v1"
    assert done.params["base_tags"]["EUGP"].startswith("eod/EUGP/2025-09-17/v")
    rows = service.outputs(acme(), done).rows.to_pylist()
    german = [r for r in rows if r["location"] == "German" and r["block"] == "BASE"]
    assert len(german) == 24 and {r["scenario_version"] for r in rows} == {1}
    # the pass-through by hand, for one month: P + s * (MC' - MC)
    market = drivers.market_for_curve({**GERMAN_BASE, "asset_class": "power"})
    assert market is not None and market.name
    month = german[5]
    by = {(r["location"], r["tenor_label"]): r["base_value"] for r in rows}
    gas0 = by[("Dutch_TTF", month["tenor_label"])] / drivers.MMBTU_PER_MWH
    carbon0 = by[("EUA", month["tenor_label"])]
    hr0, ef, vom = market.heat_rate, market.emission_factor, market.vom
    mc0 = drivers.marginal_cost(heat_rate=hr0, gas=gas0, carbon=carbon0, emission_factor=ef,
                                vom=vom)  # fmt: skip
    mc1 = drivers.marginal_cost(heat_rate=hr0 * 1.05, gas=gas0 * 1.2, carbon=carbon0 * 2,
                                emission_factor=ef, vom=vom)  # fmt: skip
    expected = month["base_value"] + market.share_for("BASE") * (mc1 - mc0)
    assert month["value"] == pytest.approx(expected, rel=1e-12)
    shares = json.loads(month["attribution"])
    assert set(shares) == {"gas", "carbon", "heat rate", "peak"} and shares["peak"] == 0
    assert sum(shares.values()) == pytest.approx(month["value"] - month["base_value"], abs=1e-8)
    label = month["tenor_label"]
    peak = next(r for r in rows if r["block"] == "PEAK" and r["tenor_label"] == label)
    assert json.loads(peak["attribution"])["peak"] == pytest.approx(3.0)
    gas = next(r for r in rows if r["location"] == "Dutch_TTF")
    assert gas["value"] == gas["base_value"]  # a driver change moves power, not the gas curve
    assert done.result["curves"] == 5 and done.result["markets"] == [market.name]


def test_the_same_request_reuses_the_run_and_another_seed_does_not(service):
    scenario = make(service, BASE, [("gas", GAS_UP)])
    first = service.request_run(acme(), scenario.id)
    again = service.request_run(acme(), scenario.id)
    assert again.reused and again.run.run_id == first.run.run_id
    other = service.request_run(acme(), scenario.id, seed=99)
    assert not other.reused and other.run.run_id != first.run.run_id
    service.add_assumption(acme(), scenario.id, name="carbon", value=CARBON_DOUBLE)
    assert not service.request_run(acme(), scenario.id).reused  # a new version


# -- ensembles ------------------------------------------------------------------------------------


ENSEMBLE = {"base": {"vendors": ["EUGP"]},
            "ensemble": {"model": "factor", "paths": 2000, "horizon_days": 10,
                         "calibration_days": 60, "curves": {"location": "German"}}}  # fmt: skip


def test_an_ensemble_run_has_ordered_bands_a_calibration_and_a_backtest(service):
    scenario = make(service, ENSEMBLE, [("gas", GAS_UP)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert done.status == "published", done.error_message
    rows = service.outputs(acme(), done).rows.to_pylist()
    banded = [r for r in rows if r["p50"] is not None]
    assert {r["location"] for r in banded} == {"German"} and len(banded) == 48
    for row in banded:
        assert row["p5"] < row["p50"] < row["p95"]
        assert row["mean"] == pytest.approx(row["value"], rel=0.03)  # a martingale around it
        assert row["band_convention"].startswith("non-exceedance")
    report = done.result
    assert set(report["calibration"]) == {"EUGP German power BASE", "EUGP German power PEAK"}
    fit = report["calibration"]["EUGP German power BASE"]
    assert fit["model"] == "lognormal" and fit["days"] >= 40 and fit["fit"]["r2"] > 0
    backtest = report["backtest"]["power|power|EUR/MWh"]
    assert backtest["total"] > 0 and 0.6 < backtest["share"] <= 1.0
    # reproducible: the same seed again gives the same bands (a new version, same numbers)
    service.update(acme(), scenario.id, {"description": "again"})
    again = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert [r["p95"] for r in service.outputs(acme(), again).rows.to_pylist()] == [
        r["p95"] for r in rows
    ]


def test_history_too_short_fails_the_run_and_publishes_nothing(service, scenario_lake):
    early = scenario_lake.days[9]
    spec = {**ENSEMBLE, "base": {"vendors": ["EUGP"], "asof": early.isoformat()}}
    scenario = make(service, spec, [("gas", GAS_UP)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert (done.status, done.error_code) == ("failed", "history_too_short")
    assert "German" in (done.error_message or "") and done.tag is None
    assert done.attempts == 1  # a bad request is not retried


def test_an_ensemble_over_the_memory_budget_is_refused_before_it_runs(service):
    service.limits = ScenarioLimits(memory_mb=1)
    scenario = make(service, {**ENSEMBLE, "ensemble": {**ENSEMBLE["ensemble"], "paths": 50_000}})
    with pytest.raises(ScenarioError) as caught:
        service.request_run(acme(), scenario.id)
    assert caught.value.code == "memory_budget_exceeded"
    assert service.runs_of(acme(), scenario.id) == []


# -- bad input ------------------------------------------------------------------------------------


def test_a_filter_that_matches_nothing_fails_with_its_code(service):
    nothing = {"type": "shock", "filter": {"location": "Atlantis"}, "mode": "relative",
               "value": 5}  # fmt: skip
    scenario = make(service, BASE, [("nowhere", nothing)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert (done.status, done.error_code) == ("failed", "filter_matches_nothing")
    assert "nowhere" in (done.error_message or "")


def test_a_replacement_in_another_currency_needs_a_rate(service):
    usd = {"type": "fuel_curve", "fuel": "gas", "mode": "replace",
           "replace_with": {"vendor": "EUGP", "location": "Dutch_TTF_USDMMBTU"}}  # fmt: skip
    scenario = make(service, BASE, [("usd gas", usd)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert (done.status, done.error_code) == ("failed", "units_mismatched")
    assert "EURUSD" in (done.error_message or "")
    rated = make(service, {**BASE, "fx_rates": {"EURUSD": 1.1}}, [("usd gas", usd)], name="fx")
    done = run_on_worker(service, service.request_run(acme(), rated.id).run.run_id)
    assert done.status == "published", done.error_message


def test_an_unentitled_vendor_is_refused(service):
    scenario = make(service, BASE, [("gas", GAS_UP)])
    with pytest.raises(Forbidden) as caught:
        service.request_run(acme(frozenset({"RP"})), scenario.id)
    assert caught.value.code == "vendor_not_entitled"


# -- tenants --------------------------------------------------------------------------------------


def test_another_tenant_sees_no_scenario_run_or_output(service):
    scenario = make(service, BASE, [("gas", GAS_UP)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    for attempt in (
        lambda: service.version(beta(), scenario.id),
        lambda: service.runs_of(beta(), scenario.id),
        lambda: service.run(beta(), scenario.id, done.run_id),
        lambda: service.request_run(beta(), scenario.id),
        lambda: service.add_assumption(beta(), scenario.id, name="x", value=GAS_UP),
    ):
        with pytest.raises(NotFound):
            attempt()
    assert service.outputs(beta(), done).rows.num_rows == 0  # even holding the run record
    assert np.isfinite(service.outputs(acme(), done).rows.column("value").to_numpy()).all()


def test_other_base_tags_are_another_run(service, monkeypatch):
    scenario = make(service, BASE, [("gas", GAS_UP)])
    first = service.request_run(acme(), scenario.id)
    tags = dict(first.run.params["base_tags"])
    monkeypatch.setattr(service, "_base_tags", lambda *a: {**tags, "EUGP": tags["EUGP"] + "0"})
    assert not service.request_run(acme(), scenario.id).reused  # a day re-published: v10


def test_paths_are_kept_on_request_within_their_budget(service):
    spec = {**ENSEMBLE, "ensemble": {**ENSEMBLE["ensemble"], "paths": 200, "store_paths": True,
                                     "curves": {"location": "German", "block": "BASE"}}}
    scenario = make(service, spec, [("gas", GAS_UP)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert done.status == "published" and done.result["paths_stored"] == 200 * 24
    paths = service.lake.table("scenario_path").scan().to_arrow()
    mine = paths.filter(pc.equal(paths["run_id"], done.run_id))
    assert mine.num_rows == 200 * 24 and set(mine["tenant_id"].to_pylist()) == {"acme"}
    service.limits = ScenarioLimits(max_stored_paths=1000)
    again = make(service, spec, [("gas", GAS_UP)], name="too many")
    done = run_on_worker(service, service.request_run(acme(), again.id).run.run_id)
    assert (done.status, done.error_code) == ("failed", "paths_too_large")


def test_shocks_each_price_takes_the_first_matching_shock(service, scenario_lake):
    front = {"type": "shock", "filter": {"location": "German", "tenor_to": "2026-03"},
             "mode": "absolute", "value": 10}  # fmt: skip
    every = {"type": "shock", "filter": {"location": "German"}, "mode": "scaled", "value": 2}
    twist = {"type": "shock", "filter": {"location": "Dutch_TTF"}, "mode": "relative",
             "value": 0, "shape": "twist", "value_end": 23}  # fmt: skip
    scenario = make(service, BASE, [("front", front), ("every", every), ("twist", twist)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert done.status == "published", done.error_message
    rows = service.outputs(acme(), done).rows.to_pylist()
    for row in rows:  # the twisted gas also passes through to German power: its share
        if row["location"] == "German" and row["product"] == "power":
            shares = json.loads(row["attribution"])
            shocked = row["value"] - row["base_value"] - shares["twist"]
            if row["tenor_label"] <= "2026-03":  # +10 wins; Shapley splits the precedence
                assert shocked == pytest.approx(10.0)
                assert shares["front"] + shares["every"] == pytest.approx(10.0)
            else:
                assert shocked == pytest.approx(row["base_value"])  # x 2
                assert shares["front"] == 0
    gas = [r for r in rows if r["location"] == "Dutch_TTF"]
    assert gas[0]["value"] == pytest.approx(gas[0]["base_value"])
    assert gas[-1]["value"] == pytest.approx(gas[-1]["base_value"] * 1.23)


def test_non_finite_numbers_and_overflowing_shocks_are_refused(service):
    scenario = make(service, BASE)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ScenarioError) as caught:
            shock = {"type": "shock", "mode": "absolute", "value": bad}
            service.add_assumption(acme(), scenario.id, name="x", value=shock)
        assert caught.value.code == "spec_invalid"
    huge = {"type": "shock", "filter": {"location": "German"}, "mode": "scaled", "value": 1e308}
    with pytest.raises(ScenarioError) as caught:
        make(service, BASE, [("huge", huge)], name="huge")
    assert caught.value.code == "spec_invalid" and caught.value.diagnostics["field"] == (
        "value.shock.value"
    )


def test_too_many_players_for_shapley_is_refused_when_asked(service):
    many = [(f"s{i}", {"type": "shock", "mode": "relative", "value": i}) for i in range(13)]
    scenario = make(service, BASE, many, name="many")
    with pytest.raises(ScenarioError) as caught:
        service.request_run(acme(), scenario.id)
    assert caught.value.code == "attribution_too_large"
    service.update(acme(), scenario.id, {"spec": {**BASE, "attribution": "one_at_a_time"}})
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert done.status == "published", done.error_message
    row = service.outputs(acme(), done).rows.to_pylist()[0]
    assert "residual" in json.loads(row["attribution"])


def test_a_driver_the_run_cannot_read_is_an_error_not_a_zero(service):
    spec = {**BASE, "markets": {"DE": {"gas": {"vendor": "EUGP", "location": "Nowhere"}}}}
    scenario = make(service, spec, [("gas", GAS_UP)])
    done = run_on_worker(service, service.request_run(acme(), scenario.id).run.run_id)
    assert (done.status, done.error_code) == ("failed", "driver_missing")
    assert "DE" in (done.error_message or "")


def test_a_published_run_stays_published_whatever_happens_after(service, monkeypatch):
    from aurum.runs.worker import Cancelled, Worker

    scenario = make(service, BASE, [("gas", GAS_UP)])
    run_id = service.request_run(acme(), scenario.id).run.run_id
    finish = service.runs.finish
    calls = []

    def failing_finish(*args, **kwargs):  # the store fails once, after the output committed
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("store went away")
        return finish(*args, **kwargs)

    monkeypatch.setattr(service.runs, "finish", failing_finish)
    done = Worker(service.runs, service.lake, {"scenario_run": service.execute}).run_once()
    assert done is not None and done.run_id == run_id and done.status == "published"
    assert done.tag == f"scenario/{run_id}/v1" and done.attempts == 1  # not run again

    def late_cancel(run, progress):  # published, then a cancel arrives
        service.execute(run, progress)
        raise Cancelled(run.run_id)

    monkeypatch.setattr(service.runs, "finish", finish)
    other = make(service, BASE, [("gas", GAS_UP)], name="late cancel")
    service.request_run(acme(), other.id)
    done = Worker(service.runs, service.lake, {"scenario_run": late_cancel}).run_once()
    assert done is not None and done.status == "published"
