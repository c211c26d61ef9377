"""``aurum catalog [WORDS]... [--json]`` on the catalog lake, in-process through typer's runner.

Until ``aurum.cli.main`` registers the command, it runs in a group built as main's is (one
``Context`` per invocation, closed at the end)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import typer
from typer.testing import CliRunner

from aurum.cli.catalog import catalog
from aurum.cli.context import Context
from aurum.lake import Lake

from .conftest import FIRST, CatalogLake

runner = CliRunner()
app = typer.Typer()


@app.callback()
def _group(ctx: typer.Context) -> None:
    context = Context(ctx.invoked_subcommand)
    ctx.obj = context
    ctx.call_on_close(context.close)


app.command("catalog")(catalog)


@pytest.fixture
def cli(catalog_lake: CatalogLake, monkeypatch) -> CatalogLake:
    monkeypatch.setenv("AURUM_HOME", str(catalog_lake.settings.home))
    monkeypatch.setenv("COLUMNS", "80")
    return catalog_lake


def run(*args: str) -> str:
    done = runner.invoke(app, ["catalog", *args])
    assert done.exit_code == 0, done.output
    return done.stdout


def test_the_table_fits_80_columns_and_says_rows_and_freshness(cli):
    table = Lake(cli.settings).current("curve_observation")
    rows = table.scan(selected_fields=("vendor",)).to_arrow().num_rows
    out = run()
    assert max(map(len, out.splitlines())) <= 80
    assert out.splitlines()[0].split() == ["dataset", "owner", "rows", "published", "freshness"]
    curves = next(line for line in out.splitlines() if line.startswith("curve_observation "))
    age = (datetime.now(UTC).date() - FIRST).days
    assert f"{rows:,}" in curves and f"EUGP {age}d" in curves and "RP " in curves
    assert "curve_observation_quarantine" in out  # the longest name, whole


def test_json_is_the_entries_of_the_platform(cli):
    entries = json.loads(run("--json"))
    by_name = {e["name"]: e for e in entries}
    assert list(by_name) == sorted(by_name)
    assert by_name["scenario_output"]["facts"]["rows"] == 5 + 3  # every tenant's
    assert by_name["scenario_output"]["facts"]["versions"] == 3
    assert by_name["curve_observation"]["facts"]["counted_over"] == {}
    assert by_name["curve_observation"]["facts"]["snapshots"] == 1 + 3  # the empty start, 3 days


def test_a_search_names_the_columns_it_matched(cli):
    out = run("mid")
    assert "columns matched:" in out
    assert "  curve_observation: sheet_name, price_type, value, mid" in out.splitlines()
    assert "qa_checks" not in out
    found = json.loads(run("mid", "--json"))
    assert [e["name"] for e in found] == ["curve_observation", "curve_observation_quarantine"]
    both = json.loads(run("mid", "quarantine", "--json"))  # words, unquoted
    assert [e["name"] for e in both] == ["curve_observation_quarantine"]
    none = runner.invoke(app, ["catalog", "zzz", "--json"])
    assert none.exit_code == 0 and json.loads(none.stdout) == []


def test_a_name_shows_the_dataset_and_its_columns(cli):
    out = run("curve_observation")
    assert out.startswith("curve_observation: One row per (curve, tenor, as-of)")
    assert "tagged eod/{vendor}/{asof_date}/v{n}" in out
    assert f"EUGP: newest as-of {FIRST}" in out
    assert "downstream: curve_dead_letter (log)" in out
    columns = [line for line in out.splitlines() if line.startswith(("mid?", "_ingest_ts "))]
    assert "double" in columns[0] and "Mid from the Mid sheet" in columns[0]
    assert "timestamp[us, tz=UTC]" in columns[1] and "[UTC]" in columns[1]  # brackets kept
    shown = json.loads(run("scenario_output", "--json"))
    assert shown["name"] == "scenario_output" and shown["facts"]["rows"] == 8
    assert shown["lineage"]["upstream"] == [{"dataset": "curve_observation", "kind": "derived"}]
