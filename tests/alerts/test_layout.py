"""A workbook's layout fingerprint (the parser's) and the drift between two of a vendor's files,
on the generator's workbooks and on the real ones."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from aurum.alerts import rules
from aurum.ingest.pipeline import parse_workbook
from aurum.synthetic import workbook_name, write_workbook

DAY = date(2025, 9, 16)


def parsed(folder: Path, vendor: str, **kw: object):
    path = write_workbook(folder / workbook_name(vendor, DAY), vendor=vendor, asof=DAY, **kw)
    return parse_workbook(path)


def test_the_fingerprint_lists_every_sheet_and_its_curve_columns_in_order(tmp_path):
    result = parsed(tmp_path, "EUGP", faults={"extra_sheet", "duplicate_identical"})
    layout = result.layout
    assert list(layout) == [
        "Fixed Prices - Mid", "Strips - Mid", "Fixed Prices - BidAsk", "Strips - BidAsk",
        "Spark Spread", "Notes",
    ]  # fmt: skip
    assert layout["Notes"] == []  # a sheet the layout does not know: there, with no curves
    mid = layout["Fixed Prices - Mid"]
    columns = [column for column, _ in mid]
    assert columns[:6] == [2, 3, 4, 5, 7, 8]  # curve 3's identical copy in column G: once
    assert columns == sorted(columns) and len({key for _, key in mid}) == len(mid) == 48
    published = {k[:16] for k in result.observations.column("curve_key").to_pylist()}
    assert {key for _, key in mid} <= published  # the keys rows carry, shortened
    assert all(len(key) == 16 for sheet in layout.values() for _, key in sheet)


def test_a_dead_letter_has_no_fingerprint(tmp_path):
    assert parsed(tmp_path, "EUGP", faults={"date_not_date"}).layout is None


def test_an_rp_fingerprint_covers_its_view_sheets(tmp_path):
    """Region sheets are verified copies (no rows of their own), yet part of the layout."""
    layout = parsed(tmp_path, "RP").layout
    assert {sheet: len(curves) for sheet, curves in layout.items()} == {
        "Fixed Prices - Mid": 366, "Seasonal Blocks - Mid": 366, "Fixed Prices - BidAsk": 366,
        "Seasonal Blocks - BidAsk": 366, "North America": 154, "Europe": 143, "Asia": 56,
        "Renewables - LNG": 71,
    }  # fmt: skip


@pytest.fixture(scope="module")
def real(workbooks_dir: Path) -> dict[str, dict]:
    names = ["RP_20250212", "RP_20250218", "RP_20250917", "EUGP_20250212", "EUGP_20250917"]
    return {n: parse_workbook(workbooks_dir / f"EOD_{n}_1430.xlsx").layout for n in names}


def test_the_rp_insertions_of_february_are_eleven_new_curves_not_three_hundred_moves(real):
    """Format spec §3.3: on 2025-02-18 eleven curves were inserted in the middle of RP's
    sheets, shifting every column to their right; nothing was removed or reordered."""
    spec = rules.layout_drift(
        "RP", "2025-02-18", "r2", real["RP_20250212"], real["RP_20250218"], previous_run="r1"
    )
    assert spec is not None and spec.key == "layout_drift|RP|r2"
    details = spec.details
    assert details["counts"] == {"added": 56, "removed": 0, "moved": 0}
    assert details["sheets_added"] == details["sheets_removed"] == []
    positions = [67, 68, 77, 79, 80, 115, 355, 356, 363, 364, 365]  # 0-based curve positions
    letters = ["BR", "BS", "CB", "CD", "CE", "DN", "MT", "MU", "NB", "NC", "ND"]
    assert [c + 2 for c in positions] == [69, 70, 79, 81, 82, 117, 357, 358, 365, 366, 367]
    for sheet in ("Fixed Prices - Mid", "Seasonal Blocks - Mid", "Fixed Prices - BidAsk",
                  "Seasonal Blocks - BidAsk"):  # fmt: skip
        assert [c["column"] for c in details["curves_added"][sheet]] == letters
    # and the region sheets: North America 148 -> 154, Europe 142 -> 143, Renewables 66 -> 71
    assert {s: len(c) for s, c in details["curves_added"].items()} == {
        "Fixed Prices - Mid": 11, "Seasonal Blocks - Mid": 11, "Fixed Prices - BidAsk": 11,
        "Seasonal Blocks - BidAsk": 11, "North America": 6, "Europe": 1, "Renewables - LNG": 5,
    }  # fmt: skip


def test_files_of_one_layout_show_no_drift(real):
    assert rules.layout_drift("RP", "d", "r", real["RP_20250218"], real["RP_20250917"],
                              previous_run="p") is None  # fmt: skip
    assert rules.layout_drift("EUGP", "d", "r", real["EUGP_20250212"], real["EUGP_20250917"],
                              previous_run="p") is None  # fmt: skip


def test_the_fingerprint_of_the_biggest_real_workbook_stays_small(real):
    """What an ingest run keeps in ``result["layout"]``: about 47 KB of JSON for RP's 1,888
    sheet curves, 5.5 KB for EUGP's 227, so it is kept as plain lists (no digest needed)."""
    sizes = {n: len(json.dumps(layout, separators=(",", ":"))) for n, layout in real.items()}
    assert sum(len(c) for c in real["RP_20250917"].values()) == 1888
    assert sizes["RP_20250917"] < 50_000 and sizes["EUGP_20250917"] < 6_000


def test_a_fingerprint_of_another_shape_is_not_compared():
    keys_only = {"Fixed Prices - Mid": ["3f2a8c1e9b7d6a5f", "9c1e2b3a4d5e6f70"]}
    current = {"Fixed Prices - Mid": [[2, "9c1e2b3a4d5e6f70"]]}
    assert rules.layout_drift("PW", "d", "r", keys_only, current, previous_run="p") is None
