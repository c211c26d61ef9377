"""The Changes page on the real EUGP workbooks of 2025-09-12 and -17: movers equal the API's,
added/removed counts equal its meta, the heat map's largest cells equal /diff/heatmap, and a
mover opens the explorer with the earlier as-of overlaid."""

from __future__ import annotations

from typing import Any

from .conftest import Watched, get_json

DIFF = "vendor=EUGP&asof_from=2025-09-12&asof_to=2025-09-17"


def _cells(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("+", ""))


def test_the_last_two_as_ofs_with_the_apis_movers_and_heat_map(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=EUGP")
    page.wait_for_selector("#heatmap[data-drawn]")
    assert page.input_value("select[name=from]") == "2025-09-12"
    assert page.input_value("select[name=to]") == "2025-09-17"
    api = get_json(f"{dashboard}/v1/curves/diff?{DIFF}&sort=pct_change&top=10&per=asset_class")
    shown = _cells(page, "#movers")
    assert len(shown) == len(api["data"])
    for cells, row in zip(shown, api["data"], strict=True):
        assert cells[0] == row["asset_class"] and cells[2] == row["tenor_label"]
        assert _number(cells[4]) == round(row["value_to"], 4)
        assert _number(cells[6]) == round(row["change_pct"], 2)
    assert {c[0] for c in shown} == {r["asset_class"] for r in api["data"]}
    kpis = page.locator(".kpi .value").all_text_contents()
    meta = api["meta"]
    assert kpis[0] == f"{meta['tenors_changed']:,} of {meta['tenors_total']:,}"
    assert kpis[1:] == [str(len(meta["curves_added"])), str(len(meta["curves_removed"]))]
    heat = get_json(f"{dashboard}/v1/curves/diff/heatmap?{DIFF}&limit=10000")["data"]
    largest = max(heat, key=lambda c: c["max_abs_change_pct"] or 0)
    first = _cells(page, "#heat-table")[0]
    assert first[1] == str(largest["year"])
    assert _number(first[4]) == round(largest["top_change_pct"], 2)


def test_a_mover_opens_the_curve_with_the_earlier_as_of(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=EUGP&sort=abs_change")
    top = get_json(f"{dashboard}/v1/curves/diff?{DIFF}&sort=abs_change&top=10&per=asset_class")
    page.focus("#movers tbody tr >> nth=0")
    watched.after(lambda: page.keyboard.press("Enter"))
    assert "/ui/curves?" in page.url and "overlay=2025-09-12" in page.url
    assert f"curve={top['data'][0]['curve_key']}" in page.url
    page.wait_for_selector("#curve-chart[data-drawn]")


def test_state_round_trips_and_one_day_says_so(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=RP&sort=z&asset_class=biofuels")
    assert page.input_value("select[name=sort]") == "z"
    assert {c[0] for c in _cells(page, "#movers")} == {"biofuels"}
    watched.after(lambda: page.select_option("select[name=vendor]", "PW"))
    assert "vendor=PW" in page.url
    page = watched.goto(f"{dashboard}/ui/changes?vendor=PW&to=2025-09-15")
    assert "PW has no as-of before 2025-09-15: nothing to compare with." in page.inner_text("main")
