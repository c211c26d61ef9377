"""The ``aurum`` command line, in-process through typer's runner, plus one real subprocess."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import aurum
from aurum.cli.main import app
from aurum.config import describe_settings

runner = CliRunner()
COMMANDS = [
    [], ["parse"], ["demo-data"], ["settings"], ["ingest"], ["backfill"], ["watch"], ["runs"],
    ["history"], ["sql"], ["maintenance"], ["export"], ["serve"], ["worker"], ["scenario"],
    ["scenario", "create"], ["scenario", "list"], ["scenario", "show"], ["scenario", "run"],
    ["catalog"], ["relay"], ["lineage"], ["alerts"], ["alerts", "check"],
]  # fmt: skip
SUMMARY_KEYS = {
    "file", "vendor", "asof", "curves", "rows", "rows_with_bidask", "quarantined",
    "dead_lettered", "price_cells", "sum_mid", "seconds",
}  # fmt: skip


def test_every_module_imports():
    names = [m.name for m in pkgutil.walk_packages(aurum.__path__, "aurum.")]
    assert "aurum.ingest.pipeline" in names and "aurum.cli.main" in names
    for name in names:
        importlib.import_module(name)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "aurum")
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_console_script_runs():
    script = Path(sys.executable).parent / "aurum"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == f"aurum {aurum.__version__}"


def test_parse_writes_outputs_and_prints_a_line_per_file(workbooks_dir, tmp_path):
    eugp = workbooks_dir / "EOD_EUGP_20250917_1430.xlsx"
    result = runner.invoke(app, ["parse", str(eugp), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (
        "EOD_EUGP_20250917_1430.xlsx: vendor=EUGP asof=2025-09-17 curves=83 rows=11483 "
        "quarantined=0 dead_lettered=0" in result.output
    )
    assert "18,731 price cells = 18,731 published" in result.output
    table = pq.read_table(tmp_path / "curve_observation.parquet")
    assert table.num_rows == 11_483
    assert table.schema.field("curve_key").metadata[b"doc"].startswith(b"SHA-256")
    assert pq.read_table(tmp_path / "quarantine.parquet").num_rows == 0
    assert (tmp_path / "dead_letter.jsonl").read_text() == ""
    report = json.loads((tmp_path / "parse_report.json").read_text())
    assert report[0]["conservation"]["holds"] is True


def test_parse_json_and_csv(workbooks_dir, tmp_path):
    files = [
        workbooks_dir / "EOD_EUGP_20250212_1430.xlsx",
        workbooks_dir / "EOD_RP_20250212_1430.xlsx",
    ]
    result = runner.invoke(
        app, ["parse", *map(str, files), "--out", str(tmp_path), "--format", "csv", "--json"]
    )
    assert result.exit_code == 0, result.output
    summaries = json.loads(result.stdout)
    assert [set(s) for s in summaries] == [SUMMARY_KEYS, SUMMARY_KEYS]
    assert [(s["rows"], s["curves"], s["sum_mid"]) for s in summaries] == [
        (11_483, 83, 631380.212),
        (26_980, 355, 4743894.328),
    ]
    assert pacsv.read_csv(tmp_path / "curve_observation.csv").num_rows == 11_483 + 26_980
    plain = runner.invoke(app, ["parse", *map(str, files), "--out", str(tmp_path / "plain")])
    assert "2 files: 38,463 rows, 0 quarantined, 0 dead-lettered" in plain.output


def test_parse_rejects_a_bad_option_value(tmp_path):
    result = runner.invoke(app, ["parse", "x.xlsx", "--out", str(tmp_path), "--asof", "17/09"])
    assert result.exit_code == 2
    assert "not a date in YYYY-MM-DD form" in result.output


def test_demo_data_writes_parseable_workbooks(tmp_path):
    result = runner.invoke(
        app, ["demo-data", "--days", "2", "--vendor", "PW", "--out", str(tmp_path), "--seed", "7"]
    )
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in tmp_path.glob("*.xlsx"))
    assert files == ["EOD_PW_20250901_1430.xlsx", "EOD_PW_20250902_1430.xlsx"]
    out = tmp_path / "parsed"
    parsed = runner.invoke(
        app, ["parse", *map(str, sorted(tmp_path.glob("*.xlsx"))), "--out", str(out), "--json"]
    )
    assert parsed.exit_code == 0, parsed.output
    assert all(s["rows"] > 0 and s["quarantined"] == 0 for s in json.loads(parsed.stdout))


def test_demo_data_names_an_unknown_fault(tmp_path):
    result = runner.invoke(app, ["demo-data", "--out", str(tmp_path), "--fault", "gremlins"])
    assert result.exit_code == 2
    assert "gremlins" in result.output


def test_settings_lists_every_setting():
    result = runner.invoke(app, ["settings", "--wide"])
    assert result.exit_code == 0
    for name, _, meaning in describe_settings():
        assert name in result.output and meaning in result.output


def test_settings_show_the_effective_values_and_the_home(tmp_path):
    """F7: `aurum settings` showed the defaults only, so nobody could tell which home was used;
    F1: its meaning column wrapped into 6-line cells."""
    home = tmp_path / "home"
    env = {
        "AURUM_HOME": str(home), "AURUM_GATES__JUMP": "fail",
        "AURUM_STORE__URL": "postgresql+psycopg://aurum:hunter2@db:5432/aurum",
    }  # fmt: skip
    result = runner.invoke(app, ["settings"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"home: {home} (AURUM_HOME); no lake there yet"  # whole, however long
    assert max(map(len, lines[1:])) <= 80
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.startswith("AURUM_")}
    assert len(rows) == len(describe_settings())
    assert len(lines) < len(rows) + 10  # one line each, but for a long value or two
    assert rows["AURUM_GATES__JUMP"] == ["set", "fail"]
    assert rows["AURUM_GATES__STALE_CURVE"] == ["default", "warn"]
    assert rows["AURUM_STORE__URL"][0] == "set"  # its value wraps: whole, over two lines
    assert "hunter2" not in result.output
    data = {d["variable"]: d for d in json.loads(runner.invoke(app, ["settings", "--json"],
                                                               env=env).stdout)}  # fmt: skip
    assert data["AURUM_HOME"]["value"] == str(home) and data["AURUM_HOME"]["set"] is True
    assert data["AURUM_STORE__URL"]["value"] == "postgresql+psycopg://aurum:***@db:5432/aurum"
    unset = runner.invoke(app, ["settings"], env={"AURUM_HOME": None})
    assert "(AURUM_HOME is not set)" in unset.output.splitlines()[0]


def test_tables_fit_80_columns_and_lines_never_wrap(capsys):
    """F1: tables were cut into `eod/EUGP/2…`, and an exported path broke over two lines."""
    from aurum.cli.output import TextOutput, fit

    long_path = "/a/very/long/folder/" * 8 + "curve_observation_EUGP.parquet"
    TextOutput().line(f"11,483 rows (snapshot 1) -> {long_path}")
    assert capsys.readouterr().out == f"11,483 rows (snapshot 1) -> {long_path}\n"
    TextOutput().rows(("short", "long", "last"), [("ok", "x" * 200, "y" * 100)])
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) == 80 and lines[1].startswith("ok    xxx")
    assert lines[1].split()[1].endswith("x…") and "".join(lines).count("y") == 100  # wrapped
    TextOutput(wide=True).rows(("short", "long"), [("ok", "x" * 200)])
    assert capsys.readouterr().out.splitlines()[1] == "ok    " + "x" * 200
    assert fit([8, 9, 6, 10, 27, 6], 64) == [8, 9, 6, 10, 20, 6]


def test_serve_logs_each_request_with_its_status_duration_and_request_id(
    caplog, monkeypatch, tmp_path
):
    """F11: `aurum serve` ran uvicorn with access_log=False and no way to turn it on."""
    from fastapi.testclient import TestClient

    from aurum.api.app import create_app
    from aurum.config import Settings

    caplog.set_level("INFO", logger="aurum.access")
    with TestClient(create_app(Settings(home=tmp_path / "home"))) as client:
        ok = client.get("/v1/metadata/vendors?format=json", headers={"X-Request-Id": "abc123"})
        assert ok.status_code == 200
        assert client.get("/nothing", headers={"X-Request-Id": "abc123"}).status_code == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "aurum.access"]
    assert [line.split()[:3] for line in lines] == [["GET", "/v1/metadata/vendors", "200"],
                                                   ["GET", "/nothing", "404"]]  # fmt: skip
    assert all(" ms request_id=abc123" in line for line in lines) and "format" not in lines[0]

    started = {}
    monkeypatch.setattr("uvicorn.run", lambda app, **kwargs: started.update(app=app, **kwargs))
    # serve sets the variable for its workers: the first setenv makes the test's undo clear it
    monkeypatch.setenv("AURUM_TELEMETRY__ACCESS_LOG", "true")
    for flag, logged in ((None, None), ("--no-access-log", "false")):
        monkeypatch.delenv("AURUM_TELEMETRY__ACCESS_LOG", raising=False)
        result = runner.invoke(app, ["serve", *([flag] if flag else [])])
        assert result.exit_code == 0, result.output
        assert started["app"] == "aurum.cli.serve:create_served_app" and started["factory"]
        assert os.environ.get("AURUM_TELEMETRY__ACCESS_LOG") == logged


def test_settings_are_read_once_per_invocation(tmp_path, monkeypatch):
    """Every command reads ``Settings()`` at most once, however many services it opens."""
    from aurum.config import Settings

    built: list[int] = []
    original = Settings.__init__

    def counting(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Settings, "__init__", counting)
    monkeypatch.setenv("AURUM_HOME", str(tmp_path / "home"))
    inbox = tmp_path / "inbox"
    assert (
        runner.invoke(
            app, ["demo-data", "--days", "1", "--vendor", "RP", "--out", str(inbox)]
        ).exit_code
        == 0
    )
    (workbook,) = inbox.glob("*.xlsx")
    day = workbook.stem.split("_")[2]
    commands = [
        ["ingest", str(inbox)],
        ["runs", "--limit", "3"],
        ["history", "--vendor", "RP", "--asof", f"{day[:4]}-{day[4:6]}-{day[6:]}"],
        ["sql", "SELECT count(*) AS n FROM curve_observation"],
        ["maintenance"],
        ["settings"],
        ["parse", str(workbook), "--out", str(tmp_path / "parsed")],
    ]
    counts = {}
    for command in commands:
        built.clear()
        result = runner.invoke(app, command)
        assert result.exit_code == 0, (command, result.output)
        counts[command[0]] = len(built)
    assert counts["ingest"] == counts["sql"] == 1  # the count sees every construction
    assert max(counts.values()) == 1, f"settings read more than once: {counts}"
