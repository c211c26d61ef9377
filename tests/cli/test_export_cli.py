"""``aurum export --layout`` and ``aurum sql --format csv`` on nested columns (B2)."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import openpyxl
import pytest
from typer.testing import CliRunner

from aurum.cli.main import app
from aurum.config import Settings

DAY = date(2025, 10, 1)
runner = CliRunner()


@pytest.fixture(scope="module")
def settings(build_lake, synthetic_days) -> Settings:
    return build_lake("cli-export-layout", synthetic_days("PW", DAY, 1))


@pytest.fixture
def home(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AURUM_HOME", str(settings.home))
    return settings


def test_export_writes_the_grid_layout(home, tmp_path):
    args = ["export", "--asof", DAY.isoformat(), "--vendor", "PW", "--format", "xlsx",
            "--out", str(tmp_path)]  # fmt: skip
    grid = runner.invoke(app, [*args, "--layout", "grid"])
    assert grid.exit_code == 0, grid.output
    path = tmp_path / "exports" / "default" / f"asof={DAY}" / "curve_observation_PW_grid.xlsx"
    assert f"-> {path}" in grid.stdout
    assert openpyxl.load_workbook(path, read_only=True).sheetnames == [f"PW {DAY}", "provenance"]
    long = runner.invoke(app, args)  # long is the default
    assert long.exit_code == 0, long.output
    names = openpyxl.load_workbook(path.with_name("curve_observation_PW.xlsx"), read_only=True)
    assert names.sheetnames == ["curve_observation", "provenance"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--format", "csv", "--layout", "grid"], "format=xlsx"),
        (["--format", "xlsx", "--layout", "wide"], "layout must be one of long, grid"),
    ],
)
def test_export_refuses_a_layout_it_cannot_write(home, tmp_path, extra, message):
    result = runner.invoke(app, ["export", "--asof", DAY.isoformat(), "--out", str(tmp_path),
                                 *extra])  # fmt: skip
    assert result.exit_code == 2 and "parameter_invalid" in result.output
    assert message in result.output
    assert not list(tmp_path.rglob("curve_observation_*"))


def test_sql_csv_writes_list_columns(home):
    """B2: a list column (qa_checks.sample_keys) crashed the CSV writer."""
    result = runner.invoke(
        app, ["sql", "--format", "csv", "SELECT sample_keys FROM qa_checks LIMIT 1"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["sample_keys"] and len(rows) == 2
    assert isinstance(json.loads(rows[1][0]), list)


def test_sql_csv_writes_every_nested_type_as_json_text_and_neutralises_text(home):
    statement = (
        "SELECT ['=a|b', NULL] AS l, [[1, 2], [3]] AS ll, {'hub': '=x', 'n': 1} AS s,"
        " MAP {'k': 1} AS m, [{'a': 1}] AS ls, '=1+1' AS t, -1.5 AS n"
    )
    result = runner.invoke(app, ["sql", "--format", "csv", statement])
    assert result.exit_code == 0, result.output
    header, row = csv.reader(io.StringIO(result.stdout))
    assert header == ["l", "ll", "s", "m", "ls", "t", "n"]
    assert row == [
        '["=a|b",null]', "[[1,2],[3]]", '{"hub":"=x","n":1}', '{"k":1}', '[{"a":1}]', "'=1+1",
        "-1.5",
    ]  # fmt: skip
