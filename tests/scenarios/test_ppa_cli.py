"""``aurum ppa create|list|value`` on the scenario lake: a readable summary, the report, JSON,
and errors that say what to do."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from aurum.cli.main import app

runner = CliRunner()
CONTRACT = {
    "name": "cli solar",
    "spec": {
        "hub": {"vendor": "EUGP", "location": "German"},
        "volume": {"type": "baseload", "mw": 5},
        "strike": {"type": "fixed", "price": 85},
        "term": {"start": "2026-01", "end": "2028-12"},
    },
}


@pytest.fixture
def env(scenario_lake, tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("AURUM_HOME", str(scenario_lake.settings.home))
    monkeypatch.setenv("AURUM_STORE__URL", f"sqlite:///{tmp_path / 'store.db'}")
    spec = tmp_path / "contract.json"
    spec.write_text(json.dumps(CONTRACT), encoding="utf-8")
    return spec


def test_create_list_and_value_with_a_report(env, tmp_path):
    created = runner.invoke(app, ["ppa", "create", str(env)])
    assert created.exit_code == 0, created.output
    assert "'cli solar' version 1" in created.output
    listed = runner.invoke(app, ["ppa", "list"])
    assert "cli solar" in listed.output
    beyond = runner.invoke(app, ["ppa", "value", "cli solar", "--rate", "0.05"])
    assert beyond.exit_code != 0
    assert "term_beyond_curve" in beyond.output and "extrapolate" in beyond.output
    report = tmp_path / "report.xlsx"
    valued = runner.invoke(app, ["ppa", "value", "cli solar", "--rate", "0.05", "--extrapolate",
                                 "flat", "--report", str(report)])  # fmt: skip
    assert valued.exit_code == 0, valued.output
    assert "NPV" in valued.output and "DE PEAK/OFF_PEAK" in valued.output
    assert "extrapolated: 15 months from 2027-10" in valued.output
    shown = [line for line in valued.output.splitlines() if str(tmp_path) not in line]
    assert max(len(line) for line in shown) <= 80, shown  # a terminal's width
    assert openpyxl.load_workbook(report, read_only=True).sheetnames[0] == "summary"
    as_json = runner.invoke(app, ["ppa", "value", "cli solar", "--rate", "0.05",
                                  "--extrapolate", "flat", "--json"])  # fmt: skip
    summary = json.loads(as_json.stdout)["summary"]
    assert summary["months"] == 36 and summary["currency"] == "EUR"


def test_errors_say_what_to_do(env):
    assert "--rate" in runner.invoke(app, ["ppa", "value", "anything"]).output
    unknown = runner.invoke(app, ["ppa", "value", "nope", "--rate", "0.05"])
    assert unknown.exit_code != 0 and "aurum ppa list" in unknown.output
