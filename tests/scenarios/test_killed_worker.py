"""A worker killed mid-run (a real process, SIGKILL): the run is retried and its output is never
duplicated; killed after its output was committed, the run is recorded published, not rerun."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from aurum.auth.access import PLATFORM, Access
from aurum.config import Settings
from aurum.runs import Runs
from aurum.runs.worker import Worker
from aurum.scenarios import ScenarioService
from aurum.store import Store

SCRIPT = Path(__file__).with_name("killable_worker.py")
ACME = Access("acme", actor="user:a@acme")
SPEC = {"base": {"vendors": ["EUGP"]}}
GAS_UP = {"type": "fuel_curve", "fuel": "gas", "mode": "relative", "value": 20}


def kill_when_hanging(args: list[str]) -> None:
    process = subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("hanging"):
                break
        else:
            pytest.fail(f"the worker ended before it hung (exit {process.wait()})")
    finally:
        process.kill()  # SIGKILL: no cleanup, no finally
        process.wait(10)


@pytest.mark.parametrize("mode", ["before_publish", "after_publish"])
def test_a_killed_worker_is_recovered_without_duplicated_output(scenario_lake, tmp_path, mode):
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    settings = Settings(home=scenario_lake.settings.home, store={"url": store_url})
    store = Store.connect(settings)
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
    runs = Runs(store, lease=timedelta(seconds=1), backoff=timedelta(0))
    service = ScenarioService(store, scenario_lake.lake(), runs)
    scenario = service.create(ACME, name="killed", description="", spec=SPEC,
                              assumptions=[("gas", GAS_UP)])  # fmt: skip
    run_id = service.request_run(ACME, scenario.id).run.run_id

    kill_when_hanging([str(settings.home), store_url, mode])
    time.sleep(1.5)  # the lease runs out
    recovered = runs.recover(scenario_lake.lake())
    assert [r.run_id for r in recovered] == [run_id]
    table = scenario_lake.lake().table("scenario_output")
    tags = [name for name in table.metadata.refs if name.startswith(f"scenario/{run_id}/")]
    if mode == "after_publish":
        assert recovered[0].status == "published" and tags == [f"scenario/{run_id}/v1"]
        assert Worker(runs, service.lake, {"scenario_run": service.execute}).run_once() is None
    else:
        assert recovered[0].status == "queued" and tags == []
        done = Worker(runs, service.lake, {"scenario_run": service.execute},
                      backoff=timedelta(0)).run_once()  # fmt: skip
        assert done is not None and done.run_id == run_id and done.status == "published"
        assert done.attempts == 2 and done.result["errors"][0]["code"] == "abandoned"
    table = scenario_lake.lake().table("scenario_output")
    assert [n for n in table.metadata.refs if n.startswith(f"scenario/{run_id}/")] == [
        f"scenario/{run_id}/v1"
    ]
    with store.transaction(PLATFORM, write=False) as tx:
        final = tx.get_run(run_id)
    assert final.status == "published"
    rows = service.outputs(ACME, final).rows
    assert rows.num_rows == 5 * 24  # five curves x 24 months, once
    store.close()
