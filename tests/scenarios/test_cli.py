"""``aurum scenario create|list|show|run`` and ``aurum worker`` on the scenario lake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aurum.cli.main import app

runner = CliRunner()
EXAMPLE = {
    "name": "cli gas",
    "description": "gas +20 %",
    "spec": {"base": {"vendors": ["EUGP"]}},
    "assumptions": [{"name": "gas", "value": {"type": "fuel_curve", "mode": "relative",
                                               "value": 20}}],
}  # fmt: skip


@pytest.fixture
def env(scenario_lake, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AURUM_HOME", str(scenario_lake.settings.home))
    monkeypatch.setenv("AURUM_STORE__URL", f"sqlite:///{tmp_path / 'store.db'}")
    spec = tmp_path / "gas.json"
    spec.write_text(json.dumps(EXAMPLE), encoding="utf-8")
    return spec


def test_create_run_show_and_list(env):
    created = runner.invoke(app, ["scenario", "create", str(env)])
    assert created.exit_code == 0, created.output
    assert "'cli gas' version 1" in created.output
    ran = runner.invoke(app, ["scenario", "run", "cli gas", "--json"])
    assert ran.exit_code == 0, ran.output
    run = json.loads(ran.stdout)
    assert run["status"] == "published" and run["tag"].startswith("scenario/")
    again = runner.invoke(app, ["scenario", "run", "cli gas"])
    assert again.exit_code == 0 and "reused run" in again.output
    shown = runner.invoke(app, ["scenario", "show", "cli gas"])
    assert shown.exit_code == 0 and "gas" in shown.output and run["run_id"][:12] in shown.output
    listed = runner.invoke(app, ["scenario", "list", "--json"])
    assert [s["name"] for s in json.loads(listed.stdout)] == ["cli gas"]


def test_queued_runs_wait_for_the_worker(env):
    assert runner.invoke(app, ["scenario", "create", str(env)]).exit_code == 0
    queued = runner.invoke(app, ["scenario", "run", "cli gas", "--queue"])
    assert queued.exit_code == 0 and "queued run" in queued.output
    worked = runner.invoke(app, ["worker", "--once"])
    assert worked.exit_code == 0, worked.output
    shown = json.loads(runner.invoke(app, ["scenario", "show", "cli gas", "--json"]).stdout)
    assert [r["status"] for r in shown["runs"]] == ["published"]


def test_bad_input_is_one_line_and_exit_2(env, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({**EXAMPLE, "spec": {"base": {"vendors": "EUGP"}}}))
    result = runner.invoke(app, ["scenario", "create", str(broken)])
    assert result.exit_code == 2 and "spec_invalid: spec.base.vendors" in result.output
    missing = runner.invoke(app, ["scenario", "run", "nothing like it"])
    assert missing.exit_code == 2 and "scenario_unknown" in missing.output
    not_json = tmp_path / "x.json"
    not_json.write_text("{")
    result = runner.invoke(app, ["scenario", "create", str(not_json)])
    assert result.exit_code == 2 and "file_invalid" in result.output
