"""The PPA page on a solar contract valued on base curves, on a scenario run and on its
ensemble: the figures, the monthly rows, base against scenario and the NPV distribution are the
API's; the cashflows download is the valuation's rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl

from .conftest import Ensembles, Watched, get_json


def _valuation(base: str, valuation: str) -> dict[str, Any]:
    return get_json(f"{base}/v1/ppa/valuations/{valuation}")["data"][0]


def _cells(page: Any, selector: str, exact: bool = True) -> list[list[str]]:
    pick = "c.title || c.textContent" if exact else "c.textContent"
    return page.eval_on_selector_all(
        f"{selector} tbody tr", f"rows => rows.map(r => [...r.cells].map(c => {pick}))"
    )


def test_figures_and_monthly_rows_are_the_apis(ensembles: Ensembles, watched: Watched):
    base = ensembles.base
    one = _valuation(base, ensembles.valuation)
    page = watched.goto(f"{base}/ui/ppa?valuation={ensembles.valuation}")
    page.wait_for_selector("#cashflow-chart[data-drawn]")
    kpis = page.locator("#ppa-kpis .value").all_text_contents()
    summary = one["summary"]
    assert kpis[0] == f"{summary['npv']:,.0f} {summary['currency']}"
    assert kpis[2] == f"{summary['capture_rate'] * 100:,.1f} %"
    rows = _cells(page, "#cashflow-table")
    assert [r[0] for r in rows] == [c["month"] for c in one["cashflows"]]
    for cells, flow in zip(rows, one["cashflows"], strict=True):
        assert float(cells[6]) == flow["cashflow"] and float(cells[8]) == flow["pv"]
    # a bar's tooltip: the month's cashflow
    box = page.locator("#cashflow-chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    month = page.wait_for_selector(".tip .head", state="visible").text_content()
    (flow,) = [c for c in one["cashflows"] if c["month"] == month]
    shown = page.locator(".tip .row").all_text_contents()
    assert any(s.startswith("cashflow") and s.endswith(f"{flow['cashflow']:,.0f}") for s in shown)


def test_base_against_the_scenario(ensembles: Ensembles, watched: Watched):
    base = ensembles.base
    page = watched.goto(f"{base}/ui/ppa?valuation={ensembles.valuation}")
    watched.after(lambda: page.select_option("#f-compare", ensembles.on_run))
    assert f"compare={ensembles.on_run}" in page.url
    npv = page.locator("#ppa-compare tbody tr").first
    cells = npv.locator("td").evaluate_all("cells => cells.map(c => c.title || c.textContent)")
    a = _valuation(base, ensembles.valuation)["summary"]["npv"]
    b = _valuation(base, ensembles.on_run)["summary"]["npv"]
    assert [float(c) for c in cells[1:]] == [a, b, b - a]
    assert b < a  # prices 10 % up: the generator's fixed-price settlement is worth less


def test_an_ensembles_npv_distribution(ensembles: Ensembles, watched: Watched, tmp_path: Path):
    base = ensembles.base
    done = _valuation(base, ensembles.ensemble)
    page = watched.goto(f"{base}/ui/ppa?valuation={ensembles.ensemble}")
    page.wait_for_selector("#npv-chart[data-drawn]")
    figures = {r[0]: float(r[1]) for r in _cells(page, "#npv-figures")}
    npv = done["summary"]["ensemble"]["npv"]
    assert figures["P5"] == npv["p5"] and figures["P50"] == npv["p50"]
    assert figures["P95"] == npv["p95"] and figures["VaR 95 %"] == npv["var_95"]
    assert f"over {done['summary']['ensemble']['paths']} paths" in page.inner_text("#ppa-view")
    # the histogram is over every path
    counts = done["summary"]["ensemble"]["npv_histogram"]["counts"]
    assert sum(counts) == done["summary"]["ensemble"]["paths"]
    with page.expect_download() as got:
        page.click("#download-cashflows")
    path = tmp_path / "flows.csv"
    got.value.save_as(path)
    read = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [float(r["cashflow_p5"]) for r in read] == [c["cashflow_p5"] for c in done["cashflows"]]
    with page.expect_download() as got:
        page.click("#download-report")
    report = tmp_path / "report.xlsx"
    got.value.save_as(report)
    assert len(openpyxl.load_workbook(report).sheetnames) >= 3  # the committee's workbook


def test_no_valuations_says_how_to_make_one(watched: Watched, tmp_path: Path):
    from .conftest import serving

    with serving(tmp_path / "empty") as base:
        page = watched.goto(base + "/ui/ppa")
        assert "No valuations yet." in page.inner_text("main")
        assert "aurum ppa value" in page.inner_text("main")
