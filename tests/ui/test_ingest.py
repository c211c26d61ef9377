"""The Ingest and quality page on a home with a quarantined cell, a corrected re-delivery (a
second version of a day), a corrupt file (a dead letter) and a day the jump gate blocked (an
open alert): the files grid, a run's conservation equation, the quarantine reason and cell, the
gates over time, what changed between the two versions, the dead letter's reason and the open
alerts are the API's. On the shared lake (clean publishes only) the empty states say so."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aurum.synthetic import workbook_name, write_workbook

from .conftest import AURUM, Watched, get_json, run, serving

FIRST, SECOND, THIRD, FOURTH = (date(2025, 9, d) for d in (15, 16, 17, 18))
RANGE = "vendor=PW&from=2025-09-10&to=2025-09-19"
PAGE = f"/ui/ingest?{RANGE}"
JUMPY = {"AURUM_GATES__JUMP": "fail", "AURUM_GATES__JUMP_Z": "0.01"}  # every move is a jump


def _ingest(home: Path, folder: Path, **env: str) -> None:
    """``aurum ingest`` (it exits non-zero when a file fails: that is expected here)."""
    subprocess.run([str(AURUM), "ingest", str(folder)],
                   env={**os.environ, "AURUM_HOME": str(home), **env},
                   capture_output=True, timeout=300, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("operated")
    home, first, second, third = root / "home", root / "first", root / "second", root / "third"
    write_workbook(first / workbook_name("PW", FIRST), vendor="PW", asof=FIRST)
    write_workbook(
        first / workbook_name("PW", SECOND), vendor="PW", asof=SECOND, faults=["text_price"]
    )
    (first / workbook_name("PW", THIRD)).write_bytes(b"PK\x03\x04 this is not a workbook")
    _ingest(home, first)
    # the vendor corrects 2025-09-16: other prices, a second version of the day
    write_workbook(second / workbook_name("PW", SECOND), vendor="PW", asof=SECOND, seed=1)
    _ingest(home, second)
    # 2025-09-18 with the jump gate set to fail: staged, not published; an alert
    write_workbook(third / workbook_name("PW", FOURTH), vendor="PW", asof=FOURTH)
    _ingest(home, third, **JUMPY)
    run("alerts", "check", home=home)
    with serving(home) as base:
        yield base


def _cells(page: Any, selector: str) -> list[list[str]]:
    """Each row's cells: a numeric cell's exact value (its title), else its text."""
    return page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.title || c.textContent))",
    )


def _open_run(watched: Watched, page: Any, runs: list[dict], chosen: dict) -> None:
    """Open ``chosen`` from the runs table by keyboard: focus its row, press Enter."""
    row = page.locator("#run-table tbody tr").nth(runs.index(chosen))
    row.focus()
    watched.after(lambda: page.keyboard.press("Enter"))
    assert f"run={chosen['run_id']}" in page.url


def test_the_files_grid_is_the_schedules(operated: str, watched: Watched):
    page = watched.goto(operated + PAGE)
    api = get_json(f"{operated}/v1/operations/files?{RANGE}")
    for day in api["data"]:
        cell = page.locator(f"#files-grid td[data-day='{day['asof_date']}']")
        assert cell.get_attribute("data-state") == day["state"]
        shown = cell.inner_text()
        assert shown.startswith(f"v{day['version']}" if day["version"] else day["state"]), shown
    states = {d["asof_date"]: d["state"] for d in api["data"]}
    assert states["2025-09-15"] == "published" and states["2025-09-19"] == "missing"  # owed
    assert states["2025-09-17"] == states["2025-09-18"] == "failed"
    labels = page.locator("#files .kpi .label").all_text_contents()
    kpis = dict(zip(labels, page.locator("#files .kpi .value").all_text_contents(), strict=True))
    meta = api["meta"]
    assert kpis["Missing"] == str(meta["states"]["missing"]) and kpis["Overdue"] == str(
        meta["overdue"]
    )
    # a published day opens its versions; a failed one, the run that failed
    watched.click("#files-grid td[data-day='2025-09-16'] a")
    assert "day=2025-09-16" in page.url and page.url.endswith("#versions")
    assert page.input_value("#f-day") == "2025-09-16"
    watched.click("#files-grid td[data-day='2025-09-17'] a")
    assert page.inner_text("#run-detail h3").startswith(workbook_name("PW", THIRD))


def test_a_runs_conservation_equation_and_its_quarantined_cells(operated: str, watched: Watched):
    page = watched.goto(operated + PAGE)
    runs = get_json(f"{operated}/v1/ingest/runs?vendor=PW")["data"]
    shown = _cells(page, "#run-table")
    assert [r[0] for r in shown] == [r["file"] for r in runs]
    quarantined = next(r for r in runs if r["quarantined"])
    _open_run(watched, page, runs, quarantined)
    equation = page.inner_text("#conservation")
    assert equation.startswith(f"{quarantined['price_cells']:,} price cells = ")
    assert f"{quarantined['published_cells']:,} published" in equation
    assert f"{quarantined['quarantined_cells']:,} quarantined" in equation
    assert equation.endswith("✓")
    assert (
        quarantined["published_cells"] + quarantined["quarantined_cells"]
        + quarantined["copy_cells"] + quarantined["dead_letter_cells"]
    ) == quarantined["price_cells"]  # fmt: skip
    # its quarantined cells, with the reason, the sheet cell and the vendor's text
    api = get_json(f"{operated}/v1/operations/quarantine?run_id={quarantined['run_id']}")["data"]
    rows = _cells(page, "#quarantine-table")
    assert len(rows) == len(api) >= 1
    assert rows[0][0] == api[0]["quarantine_reason"] and rows[0][3] == api[0]["source_cell"]
    assert rows[0][6] == api[0]["raw_mid"] == "n/a"  # text where a price belongs
    assert f"{api[0]['quarantine_reason']}: {len(api)}" in page.inner_text("#quarantine-reasons")


def test_a_gate_that_blocked_a_publish_over_time_and_its_alert(operated: str, watched: Watched):
    page = watched.goto(operated + PAGE)
    runs = get_json(f"{operated}/v1/ingest/runs?vendor=PW")["data"]
    blocked = next(r for r in runs if r["gate_failures"])
    assert blocked["status"] == "failed" and blocked["gate_failures"] == ["jump"]
    _open_run(watched, page, runs, blocked)
    assert "The gates blocked this publish: jump." in page.inner_text("#run-detail")
    equation = page.inner_text("#conservation")
    assert f"{blocked['published_cells']:,} staged (held by the gates)" in equation
    assert equation.endswith("✓")
    gates = _cells(page, "#run-gates")
    assert [[g[0], g[1], g[2], g[3]] for g in gates] == [
        [g["rule"], g["severity"], str(g["failed"]), str(g["checked"])] for g in blocked["gates"]
    ]
    # over time: the chart is drawn, the table lists what each day's latest run found
    page.wait_for_selector("#gates-chart[data-drawn]")
    outcomes = get_json(f"{operated}/v1/operations/gates?{RANGE}&limit=1000")["data"]
    found = [g for g in outcomes if g["failed"] or g["runs_failed"]]
    table = _cells(page, "#gates-table")
    assert [(t[0], t[3], t[5], t[6]) for t in table] == [
        (g["asof_date"], g["rule"], str(g["failed"]), str(g["checked"])) for g in found
    ]
    jump = next(t for t in table if t[3] == "jump")
    assert jump[0] == "2025-09-18" and jump[5] == str(blocked["gates"][0]["failed"])
    # the alert it raised, with the others open
    alerts = get_json(f"{operated}/v1/observability/alerts?state=open&limit=100")["data"]
    shown = _cells(page, "#alert-table")
    assert sorted(a[3] for a in shown) == sorted(a["summary"] for a in alerts)
    gate = next(a for a in shown if a[1] == "gate_failure")
    assert gate[0] == "critical" and "2025-09-18" in gate[3] and "jump" in gate[3]


def test_what_changed_between_the_versions_and_the_dead_letter(operated: str, watched: Watched):
    page = watched.goto(operated + PAGE + "&day=2025-09-16")
    assert page.input_value("#f-day") == "2025-09-16"
    versions = get_json(f"{operated}/v1/operations/days/PW/2025-09-16/versions")["data"]
    shown = _cells(page, "#version-table")
    assert [(v[0], v[1], v[3]) for v in shown] == [
        (str(v["version"]), v["tag"], str(v["rows"])) for v in versions
    ]
    api = get_json(f"{operated}/v1/operations/days/PW/2025-09-16/diff?from=1&to=2&limit=5000")
    diff = _cells(page, "#version-diff")
    assert len(diff) == len(api["data"]) > 0
    for cells, row in zip(diff[:20], api["data"], strict=False):
        assert (cells[0], cells[4]) == (row["status"], row["tenor_label"])
        assert float(cells[5]) == row["mid_from"] and float(cells[6]) == row["mid_to"]
        assert float(cells[7]) == row["change"]
    meta = api["meta"]
    assert page.inner_text("#version-counts").startswith(f"{meta['changed']:,} tenors changed")
    letters = get_json(f"{operated}/v1/operations/dead-letters?vendor=PW")["data"]
    rows = _cells(page, "#dead-letter-table")
    assert len(rows) == len(letters) == 1
    assert rows[0][0] == letters[0]["error_code"] == "file_corrupt"
    assert rows[0][1] == letters[0]["message"] and rows[0][3] == workbook_name("PW", THIRD)


def test_a_day_with_one_version_says_nothing_changed(operated: str, watched: Watched):
    page = watched.goto(operated + PAGE + "&day=2025-09-15")
    assert "has one version: nothing changed" in page.inner_text("#versions")


def test_clean_publishes_say_there_is_nothing_wrong(dashboard: str, watched: Watched):
    """The shared lake: every file published, no dead letter; the empty states say so."""
    scope = "vendor=EUGP&from=2025-09-08&to=2025-09-19"
    page = watched.goto(f"{dashboard}/ui/ingest?{scope}")
    assert get_json(f"{dashboard}/v1/operations/dead-letters?vendor=EUGP")["data"] == []
    assert "No dead letters: every file was read." in page.inner_text("#dead-letters")
    files = get_json(f"{dashboard}/v1/operations/files?{scope}")["data"]
    for day in files:
        cell = page.locator(f"#files-grid td[data-day='{day['asof_date']}']")
        assert cell.get_attribute("data-state") == day["state"]
    states = {d["asof_date"]: d["state"] for d in files}
    assert states["2025-09-12"] == states["2025-09-17"] == "published"
    assert states["2025-09-15"] == "missing"  # owed, never delivered to this lake
    quarantined = get_json(f"{dashboard}/v1/operations/quarantine?vendor=EUGP&limit=500")["data"]
    if quarantined:
        assert len(_cells(page, "#quarantine-table")) == len(quarantined)
    else:
        assert "Nothing quarantined" in page.inner_text("#quarantine")
