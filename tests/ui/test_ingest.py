"""The Ingest and quality page on a home with a quarantined cell, a corrected re-delivery (a
second version of a day) and a corrupt file: the files grid, a run's conservation equation, the
quarantine reason and cell, what changed between the two versions and the dead letter's reason
are the API's."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from aurum.synthetic import workbook_name, write_workbook

from .conftest import AURUM, Watched, get_json, serving

FIRST, SECOND, THIRD = date(2025, 9, 15), date(2025, 9, 16), date(2025, 9, 17)
PAGE = "/ui/ingest?vendor=PW&from=2025-09-10&to=2025-09-19"


def _ingest(home: Path, folder: Path) -> None:
    """``aurum ingest`` (it exits non-zero when a file is dead-lettered: that is expected here)."""
    subprocess.run([str(AURUM), "ingest", str(folder)], env={**os.environ, "AURUM_HOME": str(home)},
                   capture_output=True, timeout=300, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def operated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("operated")
    home, first, second = root / "home", root / "first", root / "second"
    write_workbook(first / workbook_name("PW", FIRST), vendor="PW", asof=FIRST)
    write_workbook(
        first / workbook_name("PW", SECOND), vendor="PW", asof=SECOND, faults=["text_price"]
    )
    (first / workbook_name("PW", THIRD)).write_bytes(b"PK\x03\x04 this is not a workbook")
    _ingest(home, first)
    # the vendor corrects 2025-09-16: other prices, a second version of the day
    write_workbook(second / workbook_name("PW", SECOND), vendor="PW", asof=SECOND, seed=1)
    _ingest(home, second)
    with serving(home) as base:
        yield base


def _cells(page: Any, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(
        f"{selector} tbody tr",
        "rows => rows.map(r => [...r.cells].map(c => c.title || c.textContent))",
    )


def test_files_runs_and_the_conservation_equation(operated: str, watched: Watched):
    page = watched.goto(operated + PAGE)
    grid = page.inner_text("#files-grid")
    assert "v1" in grid and "v2" in grid  # 09-15 published once, 09-16 corrected
    runs = get_json(f"{operated}/v1/ingest/runs?vendor=PW")["data"]
    shown = _cells(page, "#run-table")
    assert [r[0] for r in shown] == [r["file"] for r in runs]
    quarantined = next(r for r in runs if r["quarantined"])
    watched.after(lambda: page.click(f"#run-table tbody tr >> nth={runs.index(quarantined)}"))
    assert f"run={quarantined['run_id']}" in page.url
    equation = page.inner_text("#conservation")
    assert equation.startswith(f"{quarantined['price_cells']:,} price cells = ")
    assert f"{quarantined['quarantined_cells']:,} quarantined" in equation and equation.endswith(
        "✓"
    )
    assert (
        quarantined["published_cells"] + quarantined["quarantined_cells"]
        + quarantined["copy_cells"] + quarantined["dead_letter_cells"]
    ) == quarantined["price_cells"]  # fmt: skip
    # its quarantined cells, with the reason and the sheet cell
    api = get_json(f"{operated}/v1/operations/quarantine?run_id={quarantined['run_id']}")["data"]
    rows = _cells(page, "#quarantine-table")
    assert len(rows) == len(api) >= 1
    assert rows[0][0] == api[0]["quarantine_reason"] and rows[0][3] == api[0]["source_cell"]
    assert rows[0][6] == "n/a"  # the vendor's text where a price belongs


def test_what_changed_between_the_versions_and_the_dead_letter(operated: str, watched: Watched):
    page = watched.goto(operated + PAGE + "&day=2025-09-16")
    assert page.input_value("#f-day") == "2025-09-16"
    versions = _cells(page, "#version-table")
    assert [v[0] for v in versions] == ["1", "2"] or [v[0] for v in versions] == ["2", "1"]
    api = get_json(f"{operated}/v1/operations/days/PW/2025-09-16/diff?from=1&to=2&limit=5000")
    shown = _cells(page, "#version-diff")
    assert len(shown) == len(api["data"]) > 0
    first = api["data"][0]
    assert shown[0][4] == first["tenor_label"] and float(shown[0][6]) == first["mid_to"]
    meta = api["meta"]
    assert page.inner_text("#version-counts").startswith(f"{meta['changed']:,} tenors changed")
    letters = get_json(f"{operated}/v1/operations/dead-letters?vendor=PW")["data"]
    rows = _cells(page, "#dead-letter-table")
    assert len(rows) == len(letters) == 1
    assert rows[0][0] == letters[0]["error_code"] and rows[0][3] == workbook_name("PW", THIRD)


def test_a_day_with_one_version_says_nothing_changed(operated: str, watched: Watched):
    page = watched.goto(
        operated + "/ui/ingest?vendor=PW&from=2025-09-10&to=2025-09-19&day=2025-09-15"
    )
    assert "has one version: nothing changed" in page.inner_text("#versions")
