"""The curve explorer in Chromium, on the real EUGP and RP workbooks: the table and the chart's
tooltip show the workbook's values, overlays and strips are labelled, downloads are the rows shown,
the state is in the URL, and the search works by keyboard."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import openpyxl

from .conftest import Watched, get_json, serving

GERMAN_BASE = {"vendor": "EUGP", "location": "German", "product": "power", "block": "BASE"}


def _curve(base: str, **identity: str) -> dict[str, Any]:
    query = "&".join(f"{k}={v}" for k, v in identity.items())
    (curve,) = get_json(f"{base}/v1/metadata/curves?{query}")["data"]
    return curve


def _rows(base: str, key: str, asof: str) -> list[dict[str, Any]]:
    return get_json(f"{base}/v1/curves?curve_key={key}&asof={asof}&limit=2000")["data"]


def _cell_texts(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))"
    )


def _exact(page: Any, selector: str) -> list[list[str | None]]:
    """Each cell's full value (its title: the table shows 2 to 4 decimals)."""
    return page.eval_on_selector_all(
        f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.title || null))"
    )


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_the_root_opens_the_explorer_with_a_curve_drawn(dashboard: str, watched: Watched):
    page = watched.goto(dashboard + "/")
    assert page.url.startswith(dashboard + "/ui/curves?curve=")
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert page.locator("#curve-list tbody tr").count() > 10
    assert page.locator("#curve-table tbody tr").count() > 12
    assert page.get_attribute("nav a[data-page=curves]", "aria-current") == "page"
    assert "dev · default · all vendors" in page.inner_text("#who")


def test_the_table_and_the_tooltip_show_the_workbooks_values(dashboard: str, watched: Watched):
    curve = _curve(dashboard, **GERMAN_BASE)
    rows = _rows(dashboard, curve["curve_key"], "2025-09-17")
    monthly = [r for r in rows if r["tenor_type"] == "MONTHLY"]
    page = watched.goto(f"{dashboard}/ui/curves?curve={curve['curve_key']}&asof=2025-09-17")
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert page.inner_text("#curve-title") == "EUGP · EU · German · power · BASE"
    table = {r[0]: r for r in _cell_texts(page, "#curve-table")}
    titles = {
        t[0]: e
        for t, e in zip(
            _cell_texts(page, "#curve-table"), _exact(page, "#curve-table"), strict=True
        )
    }
    assert len(table) == len(rows)
    for row in rows:
        shown, full = table[row["tenor_label"]], titles[row["tenor_label"]]
        assert _number(shown[4]) == round(row["value"], 4), (row, shown)
        assert float(full[4]) == row["value"]  # the workbook's value, to the last digit
        if row["bid"] is not None:
            assert float(full[3]) == row["bid"]
    # hover the chart at a month: the tooltip says that month's mid
    box = page.locator("#curve-chart").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    tip = page.wait_for_selector(".tip .head", state="visible")
    month = tip.text_content()
    (expected,) = [r["value"] for r in monthly if r["contract_month"].startswith(month)]
    values = page.locator(".tip .row .v").all_text_contents()
    assert any(_number(v) == round(expected, 4) for v in values), (month, values, expected)


def test_overlays_and_strips_are_labelled_and_in_the_url(dashboard: str, watched: Watched):
    curve = _curve(dashboard, **GERMAN_BASE)
    page = watched.goto(f"{dashboard}/ui/curves?curve={curve['curve_key']}&asof=2025-09-17")
    watched.click("#overlay-2025-09-12")
    assert "overlay=2025-09-12" in page.url
    headers = page.locator("#curve-table thead th").all_text_contents()
    assert headers[-2:] == ["Mid 2025-09-12", "Change since 2025-09-12"]
    before = {
        r["tenor_label"]: r["value"] for r in _rows(dashboard, curve["curve_key"], "2025-09-12")
    }
    for cells in _cell_texts(page, "#curve-table")[:20]:
        if cells[0] in before and before[cells[0]] is not None:
            assert _number(cells[6]) == round(before[cells[0]], 4)
    strips = _cell_texts(page, "#strip-table")
    assert {s[1] for s in strips} == {"derived"}
    labels = {s[0] for s in strips}
    assert "Cal 2026" in labels or any(label.startswith("Cal") for label in labels), labels
    # the same view from its URL alone
    shared = page.url
    again = watched.goto(shared)
    assert again.locator("#overlay-2025-09-12").is_checked()
    watched.after(lambda: page.select_option("#f-strips", "both"))
    # (a string predicate would be evaluated with eval, which the page's CSP refuses)
    page.wait_for_url(lambda url: "strips=both" in url)
    sources = {s[1] for s in _cell_texts(page, "#strip-table")}
    assert sources == {"derived", "vendor"}, sources


def test_downloads_are_the_rows_shown(dashboard: str, watched: Watched, tmp_path: Path):
    curve = _curve(dashboard, **GERMAN_BASE)
    rows = _rows(dashboard, curve["curve_key"], "2025-09-17")
    page = watched.goto(f"{dashboard}/ui/curves?curve={curve['curve_key']}&asof=2025-09-17")
    with page.expect_download() as got:
        page.click("#download-csv")
    path = tmp_path / got.value.suggested_filename
    got.value.save_as(path)
    assert path.name == "EUGP-EU-German-power-BASE-2025-09-17.csv"
    read = list(csv.DictReader(io.StringIO(path.read_text())))
    assert [float(r["value"]) for r in read] == [r["value"] for r in rows]
    with page.expect_download() as got:
        page.click("#download-xlsx")
    book = tmp_path / "shown.xlsx"
    got.value.save_as(book)
    sheet = openpyxl.load_workbook(book)["data"]
    header = [c.value for c in sheet[1]]
    values = [row[header.index("value")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert values == [r["value"] for r in rows]


def test_searching_by_keyboard(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/curves")
    page.focus("#q")
    page.keyboard.type("Dutch_TTF")
    watched.after(lambda: page.keyboard.press("Enter"))
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert "q=Dutch_TTF" in page.url
    names = page.locator("#curve-list tbody tr td:nth-child(2)").all_text_contents()
    assert names and all("Dutch_TTF" in n for n in names), names
    # Tab reaches a result link; Enter opens it
    page.focus("#curve-list a >> nth=1")
    watched.after(lambda: page.keyboard.press("Enter"))
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert names[1] in page.inner_text("#curve-title")


def test_an_unknown_curve_says_what_to_do(dashboard: str, watched: Watched):
    watched.allowed.append("status of 404")  # the browser logs the API's 404
    page = watched.goto(f"{dashboard}/ui/curves?curve={'0' * 64}")
    assert "No such curve here." in page.inner_text("#curve-view")


def test_an_empty_lake_says_how_to_fill_it(watched: Watched, tmp_path: Path):
    with serving(tmp_path / "empty") as base:
        page = watched.goto(base + "/ui/curves")
        text = page.inner_text("#curve-view")
    assert "No curves to show yet." in text and "aurum ingest FOLDER" in text


def test_any_identity_field_narrows_the_search(dashboard: str, watched: Watched):
    page = watched.goto(f"{dashboard}/ui/curves")
    page.click("details summary")
    page.fill("#f-iso", "PJM")
    page.fill("#f-block", "ON_PEAK")
    watched.after(lambda: page.press("#f-block", "Enter"))
    assert "iso=PJM" in page.url and "block=ON_PEAK" in page.url
    expected = get_json(f"{dashboard}/v1/metadata/curves?iso=PJM&block=ON_PEAK")["data"]
    names = page.locator("#curve-list tbody tr td:nth-child(2)").all_text_contents()
    assert len(names) == len(expected) > 0 and all("PJM" in n and "ON_PEAK" in n for n in names)


def test_with_an_overlay_the_download_holds_every_as_of_shown(
    dashboard: str, watched: Watched, tmp_path: Path
):
    curve = _curve(dashboard, **GERMAN_BASE)
    key = curve["curve_key"]
    page = watched.goto(f"{dashboard}/ui/curves?curve={key}&asof=2025-09-17&overlay=2025-09-12")
    assert "2025-09-12 to 2025-09-17" in page.inner_text("#download-csv")
    with page.expect_download() as got:
        page.click("#download-csv")
    path = tmp_path / "both.csv"
    got.value.save_as(path)
    read = list(csv.DictReader(io.StringIO(path.read_text())))
    both = _rows(dashboard, key, "2025-09-12") + _rows(dashboard, key, "2025-09-17")
    assert sorted((r["asof_date"], r["tenor_label"]) for r in read) == sorted(
        (r["asof_date"], r["tenor_label"]) for r in both
    )


def test_a_mapped_power_curve_shows_its_node_s_realised_months(dashboard: str, watched: Watched):
    curve = _curve(dashboard, vendor="PW", iso="PJM", location="West", block="ON_PEAK")
    key = curve["curve_key"]
    realised = get_json(f"{dashboard}/v1/iso/realised/monthly?curve_key={key}"
                        "&month_from=2024-09&month_to=2034-09")  # fmt: skip
    assert [r["month"] for r in realised["data"]] == ["2025-09"]
    page = watched.goto(f"{dashboard}/ui/curves?curve={key}&asof=2025-09-17")
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert _cell_texts(page, "#realised-table") == [
        ["2025-09", page.inner_text("#realised-table tbody td:nth-child(2)"), "336"]
    ]
    (exact,) = _exact(page, "#realised-table")
    assert float(exact[1]) == realised["data"][0]["lmp"]
    # hover the chart's first month (September 2025, the as-of month): the tooltip names the
    # realised series and its value beside the forward's
    box = page.locator("#curve-chart").bounding_box()
    page.mouse.move(box["x"] + 66, box["y"] + box["height"] * 0.5)
    page.wait_for_selector(".tip .head", state="visible")
    rows = dict(zip(page.locator(".tip .row > span:first-child").all_text_contents(),
                    page.locator(".tip .row .v").all_text_contents(), strict=True))  # fmt: skip
    assert _number(rows["realised WESTERN HUB DA ON_PEAK"]) == round(realised["data"][0]["lmp"], 4)
    assert "WESTERN HUB day-ahead prices averaged over the month's ON_PEAK hours" in (
        page.inner_text("#realised-table caption")
    )


def test_a_curve_without_a_node_shows_no_realised_prices(dashboard: str, watched: Watched):
    curve = _curve(dashboard, **GERMAN_BASE)
    page = watched.goto(f"{dashboard}/ui/curves?curve={curve['curve_key']}&asof=2025-09-17")
    page.wait_for_selector("#curve-chart[data-drawn]")
    assert page.locator("#realised-table").count() == 0
