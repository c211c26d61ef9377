"""The Changes page on the real EUGP and RP workbooks of 2025-09-12 and -17: movers equal the
API's, per asset class; added/removed counts equal its meta; the heat map's cells (hovered, and
in the table beside it) equal /diff/heatmap; a mover opens the explorer with the earlier as-of
overlaid and the explorer links back; the state lives in the URL; a day with nothing before it,
or a link to a day not published, says what to do."""

from __future__ import annotations

from typing import Any

from .conftest import Watched, get_json

DIFF = "vendor=EUGP&asof_from=2025-09-12&asof_to=2025-09-17"


def _cells(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def _number(text: str) -> float:
    return float(text.replace(",", "").replace("+", "").replace("%", "").strip())


def test_the_last_two_as_ofs_with_the_apis_movers_and_heat_map(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=EUGP")
    page.wait_for_selector("#heatmap[data-drawn]")
    dates = [
        d["asof_date"] for d in get_json(f"{dashboard}/v1/metadata/asof-dates?vendor=EUGP")["data"]
    ]
    assert dates[-2:] == ["2025-09-12", "2025-09-17"]
    assert page.input_value("select[name=from]") == "2025-09-12"
    assert page.input_value("select[name=to]") == "2025-09-17"
    api = get_json(f"{dashboard}/v1/curves/diff?{DIFF}&sort=pct_change&top=10&per=asset_class")
    shown = _cells(page, "#movers")
    assert len(shown) == len(api["data"])
    for cells, row in zip(shown, api["data"], strict=True):
        assert cells[0] == row["asset_class"] and cells[2] == row["tenor_label"]
        assert _number(cells[4]) == round(row["value_to"], 4)
        assert _number(cells[6]) == round(row["change_pct"], 2)
    # per asset class: each class's own top ten, in the API's order
    classes = [c[0] for c in shown]
    assert len(set(classes)) > 1 and all(classes.count(a) <= 10 for a in set(classes))
    assert classes == sorted(classes, key=classes.index)  # grouped, not interleaved
    kpis = page.locator(".kpi .value").all_text_contents()
    meta = api["meta"]
    assert kpis[0] == f"{meta['tenors_changed']:,} of {meta['tenors_total']:,}"
    assert kpis[1:] == [str(len(meta["curves_added"])), str(len(meta["curves_removed"]))]
    heat = get_json(f"{dashboard}/v1/curves/diff/heatmap?{DIFF}&limit=10000")["data"]
    largest = max(heat, key=lambda c: c["max_abs_change_pct"] or 0)
    first = _cells(page, "#heat-table")[0]
    assert first[1] == str(largest["year"]) and int(first[2]) == largest["tenors"]
    assert _number(first[3]) == round(largest["mean_change_pct"], 2)
    assert _number(first[4]) == round(largest["top_change_pct"], 2)
    assert first[5].endswith(largest["top_tenor_label"])
    _hover_a_cell(page, heat, largest)


def _hover_a_cell(page: Any, heat: list[dict], cell: dict) -> None:
    """Hover `cell` in the heat map: its tooltip shows the API's mean and largest move."""
    _point_at(page, heat, cell)
    tip = page.wait_for_selector(".tip .head")
    text = page.inner_text(".tip")
    assert tip.inner_text().endswith(f"· {cell['year']}")
    assert f"{cell['mean_change_pct']:+,.2f} %" in text
    assert f"{cell['top_change_pct']:+,.2f} % ({cell['top_tenor_label']})" in text
    assert f"{cell['changed']} of {cell['tenors']}" in text


def _point_at(page: Any, heat: list[dict], cell: dict) -> None:
    """Move the mouse to the middle of `cell` in the heat map."""
    families = sorted({c["family"] for c in heat})
    years = sorted({c["year"] for c in heat})
    page.locator("#heatmap").scroll_into_view_if_needed()
    box = page.locator("#heatmap").bounding_box()
    left, right, top, bottom = 260, 80, 10, 40  # the page's grid
    width = (box["width"] - left - right) / len(years)
    height = (box["height"] - top - bottom) / len(families)
    page.mouse.move(
        box["x"] + left + (years.index(cell["year"]) + 0.5) * width,
        box["y"] + top + (families.index(cell["family"]) + 0.5) * height,
    )


def test_a_heat_map_cell_opens_the_curve_that_moved_most_in_it(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=EUGP&asset_class=gas")
    page.wait_for_selector("#heatmap[data-drawn]")
    heat = get_json(f"{dashboard}/v1/curves/diff/heatmap?{DIFF}&asset_class=gas")["data"]
    cell = heat[len(heat) // 2]
    _point_at(page, heat, cell)
    watched.after(lambda: page.mouse.down() or page.mouse.up())
    assert "/ui/curves?" in page.url and f"curve={cell['top_curve_key']}" in page.url
    assert "asof=2025-09-17" in page.url and "overlay=2025-09-12" in page.url
    page.wait_for_selector("#curve-chart[data-drawn]")


def test_a_mover_opens_the_curve_with_the_earlier_as_of(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=EUGP&sort=abs_change")
    top = get_json(f"{dashboard}/v1/curves/diff?{DIFF}&sort=abs_change&top=10&per=asset_class")
    assert _number(_cells(page, "#movers")[0][5]) == round(top["data"][0]["change"], 4)
    page.focus("#movers tbody tr >> nth=0")
    watched.after(lambda: page.keyboard.press("Enter"))
    assert "/ui/curves?" in page.url and "overlay=2025-09-12" in page.url
    assert "asof=2025-09-17" in page.url
    assert f"curve={top['data'][0]['curve_key']}" in page.url
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert page.locator("#curve-table th", has_text="Change since 2025-09-12").count() == 1
    # and the explorer links back to this day's changes
    watched.click("text=what moved on this day")
    assert "/ui/changes?" in page.url and "to=2025-09-17" in page.url
    assert page.input_value("select[name=from]") == "2025-09-12"
    assert page.input_value("select[name=vendor]") == "EUGP"


def test_state_round_trips_and_one_day_says_so(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=RP&sort=z&asset_class=biofuels")
    assert page.input_value("select[name=sort]") == "z"
    rp = "vendor=RP&asof_from=2025-09-12&asof_to=2025-09-17&asset_class=biofuels"
    api = get_json(f"{dashboard}/v1/curves/diff?{rp}&sort=z&top=10&per=asset_class")["data"]
    shown = _cells(page, "#movers")
    assert {c[0] for c in shown} == {"biofuels"}
    assert [c[2] for c in shown] == [r["tenor_label"] for r in api]
    watched.after(lambda: page.select_option("select[name=sort]", "abs_change"))
    assert "sort=abs_change" in page.url and "asset_class=biofuels" in page.url
    page.reload()
    watched.ready()
    assert page.input_value("select[name=sort]") == "abs_change"
    assert page.input_value("select[name=asset_class]") == "biofuels"
    watched.after(lambda: page.select_option("select[name=vendor]", "PW"))
    assert "vendor=PW" in page.url
    page = watched.goto(f"{dashboard}/ui/changes?vendor=PW&to=2025-09-15")
    assert "PW has no as-of before 2025-09-15: nothing to compare with." in page.inner_text("main")
    assert "Pick a later" in page.inner_text("main")


def test_a_link_to_a_day_not_published_says_what_is_shown(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/changes?vendor=eugp&from=2025-09-01&to=2025-09-17")
    note = page.inner_text(".notice.warn")
    assert "EUGP published nothing as of 2025-09-01 before 2025-09-17" in note
    assert "Showing EUGP 2025-09-12 → 2025-09-17 instead" in note
    page.wait_for_selector("#heatmap[data-drawn]")
    assert page.input_value("select[name=from]") == "2025-09-12"
