"""The generic parser on small in-memory grids, through the reading seam's types."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

import pandas as pd
import pytest

from aurum.ingest.grid import ExcelError, Sheet, Workbook
from aurum.ingest.pipeline import ParseResult, parse_grid, parse_workbook

ASOF = date(2025, 9, 17)
EUGP = "EOD_EUGP_20250917_1430.xlsx"
MONTHS = [date(2025, 9, 1), date(2025, 10, 1)]


def eod_sheet(
    name: str,
    labels: Sequence[tuple[str, Sequence[Any]]],
    header: str | None,
    tenors: Sequence[Any],
    values: Sequence[Sequence[Any]],
    *,
    top: int = 4,
    asof: Any = ASOF,
) -> Sheet:
    """An EOD grid: ``top`` blank rows, Date:, label rows in column B, header, blank, data."""
    rows: list[list[Any]] = [[] for _ in range(top)]
    rows.append(["Date:", asof])
    rows.extend(["", label, *cells] for label, cells in labels)
    if header is not None:
        rows.append(["", "", *[header] * len(labels[0][1])])
        rows.append([])
    rows.extend(["", tenor, *cells] for tenor, cells in zip(tenors, values, strict=True))
    width = max(len(r) for r in rows)
    return Sheet(name, [[*r, *[""] * (width - len(r))] for r in rows])


EUGP_LABELS = [
    ("Location", ["EU", "EU", "EE"]),
    ("Product", ["German", "German", "Czech"]),
    ("PEAK", ["NA", "BASE", "NA"]),
]
MID = [[30.0, 80.0, 25.0], [31.0, 81.0, 26.0]]
BIDASK = [
    ["29.9 / 30.1", "79.9 / 80.1", "24.9 / 25.1"],
    ["30.9 / 31.1", "80.9 / 81.1", "25.9 / 26.1"],
]
STRIPS = ["Calendar 2026", "", "Summer 2026"]


def eugp_workbook(**overrides: Sheet | None) -> Workbook:
    sheets = {
        "Fixed Prices - Mid": eod_sheet("Fixed Prices - Mid", EUGP_LABELS, "Mid", MONTHS, MID),
        "Fixed Prices - BidAsk": eod_sheet(
            "Fixed Prices - BidAsk", EUGP_LABELS, "Bid   /   Ask", MONTHS, BIDASK
        ),
        "Strips - Mid": eod_sheet(
            "Strips - Mid", EUGP_LABELS, "Mid", STRIPS, [[1.0, 2.0, 3.0], ["", "", ""], [4, 5, 6]]
        ),
        "Strips - BidAsk": eod_sheet(
            "Strips - BidAsk",
            EUGP_LABELS,
            "Bid / Ask",
            STRIPS,
            [["0.9/1.1", "1.9/2.1", "2.9/3.1"], ["", "", ""], ["3.9/4.1", "4.9/5.1", "5.9/6.1"]],
        ),
        "Spark Spread": eod_sheet(
            "Spark Spread",
            [
                *EUGP_LABELS[:2],
                ("PEAK", ["BASE", "Peak", "BASE"]),
                ("Spark Location", ["German"] * 3),
            ],
            "Mid",
            MONTHS,
            [[-1.0, 2.0, 3.0], [-4.0, 5.0, 6.0]],
        ),
    }
    sheets.update(overrides)
    chosen = tuple(sheet for sheet in sheets.values() if sheet is not None)
    return Workbook(name=EUGP, sha256="0" * 64, size_bytes=0, sheets=chosen)


def frame(result: ParseResult) -> pd.DataFrame:
    assert result.dead_letter is None, result.dead_letter
    assert result.conservation.holds, result.conservation
    return result.observations.to_pandas()


def quarantine(result: ParseResult) -> pd.DataFrame:
    return result.quarantine.to_pandas()


def test_eugp_grid_becomes_merged_canonical_rows():
    result = parse_grid(eugp_workbook())
    rows = frame(result)
    assert len(rows) == 3 * 2 + 3 * 2 + 3 * 2  # monthly, strips (separator skipped), sparks
    assert result.conservation.price_cells == 6 * 5
    gas = rows[(rows.location == "German") & (rows["product"] == "gas")]
    assert gas["block"].isna().all() and set(gas["asset_class"]) == {"gas"}
    power = rows[(rows.location == "German") & (rows["product"] == "power")]
    assert set(power["block"]) == {"BASE"}
    assert gas["curve_key"].iloc[0] != power["curve_key"].iloc[0]
    oct_power = power[power.tenor_label == "2025-10"].iloc[0]
    assert (oct_power["mid"], oct_power["bid"], oct_power["ask"]) == (81.0, 80.9, 81.1)
    sparks = rows[rows["product"] == "spark_spread"]
    assert set(sparks["block"]) == {"BASE", "PEAK"}  # "Peak" upper-cased
    assert sparks["bid"].isna().all()
    assert set(sparks["curve_key"]).isdisjoint(power["curve_key"])
    strips = rows[rows.tenor_type != "MONTHLY"]
    assert set(strips["tenor_label"]) == {"Calendar 2026", "Summer 2026"}


def test_bidask_twin_is_joined_by_identity_not_by_column_position():
    shuffled = [(label, cells[::-1]) for label, cells in EUGP_LABELS]
    reversed_bidask = [row[::-1] for row in BIDASK]
    sheet = eod_sheet("Fixed Prices - BidAsk", shuffled, "Bid / Ask", MONTHS, reversed_bidask)
    rows = frame(parse_grid(eugp_workbook(**{"Fixed Prices - BidAsk": sheet})))
    czech = rows[(rows.location == "Czech") & (rows.tenor_label == "2025-09")].iloc[0]
    assert (czech["mid"], czech["bid"], czech["ask"]) == (25.0, 24.9, 25.1)


def test_labels_are_found_wherever_they_are():
    moved = eod_sheet("Fixed Prices - Mid", EUGP_LABELS, "Mid", MONTHS, MID, top=1)
    rows = frame(parse_grid(eugp_workbook(**{"Fixed Prices - Mid": moved})))
    assert len(rows) == 18 and rows["bid"].notna().sum() == 12


def test_missing_twin_gives_mid_only_rows_and_a_warning():
    result = parse_grid(eugp_workbook(**{"Fixed Prices - BidAsk": None}))
    rows = frame(result)
    assert rows[rows.sheet_name == "Fixed Prices - Mid"]["bid"].isna().all()
    assert [n.code for n in result.notices] == ["twin_missing"]


def test_missing_mid_sheet_takes_mid_from_bid_and_ask():
    result = parse_grid(eugp_workbook(**{"Fixed Prices - Mid": None}))
    rows = frame(result)
    monthly = rows[rows.tenor_type == "MONTHLY"]
    monthly = monthly[monthly["product"] != "spark_spread"]
    assert set(monthly["sheet_name"]) == {"Fixed Prices - BidAsk"}
    assert all(math.isclose(r.mid, (r.bid + r.ask) / 2) for r in monthly.itertuples())
    assert "mid_sheet_missing" in [n.code for n in result.notices]


def test_bad_cells_are_quarantined_with_their_reason_and_place():
    mid = [[30.0, "n/a", 25.0], [ExcelError("#N/A"), 81.0, True]]
    bidask = [["29.9 / 30.1", "79.9 / 80.1", "bad"], ["31.1 / 30.9", "80.9 / 81.1", "25.9 / 26.1"]]
    result = parse_grid(
        eugp_workbook(
            **{
                "Fixed Prices - Mid": eod_sheet(
                    "Fixed Prices - Mid", EUGP_LABELS, "Mid", MONTHS, mid
                ),
                "Fixed Prices - BidAsk": eod_sheet(
                    "Fixed Prices - BidAsk", EUGP_LABELS, "Bid / Ask", MONTHS, bidask
                ),
            }
        )
    )
    q = quarantine(result).set_index("source_cell")
    assert q.loc["'Fixed Prices - Mid'!D11", "quarantine_reason"] == "mid_not_numeric"
    assert q.loc["'Fixed Prices - Mid'!D11", "raw_mid"] == "n/a"
    assert q.loc["'Fixed Prices - Mid'!C12", "quarantine_reason"] == "mid_error_cell"
    assert q.loc["'Fixed Prices - Mid'!C12", "raw_bidask"] == "31.1 / 30.9"
    assert q.loc["'Fixed Prices - Mid'!E12", "quarantine_reason"] == "mid_not_numeric"  # a bool
    assert q.loc["'Fixed Prices - Mid'!E11", "quarantine_reason"] == "bidask_unparseable"
    assert len(q) == 4
    assert result.conservation.quarantined_cells == 8
    assert len(frame(result)) == 18 - 4


def test_rule_failures_are_quarantined():
    bidask = [
        ["30.1 / 29.9", "79.9 / 80.1", "24.9 / 25.1"],
        ["30.9 / 31.1", "80.0 / 80.2", "25.9 / 26.1"],
    ]
    sheet = eod_sheet("Fixed Prices - BidAsk", EUGP_LABELS, "Bid / Ask", MONTHS, bidask)
    result = parse_grid(eugp_workbook(**{"Fixed Prices - BidAsk": sheet}))
    reasons = dict(
        zip(quarantine(result)["source_cell"], quarantine(result)["quarantine_reason"], strict=True)
    )
    assert reasons == {
        "'Fixed Prices - Mid'!C11": "bid_gt_ask;mid_outside_range",
        "'Fixed Prices - Mid'!D12": "mid_outside_range;mid_outside_bidask",
    }
    failed = {o.rule: o.failed for o in result.outcomes}
    assert (failed["bid_gt_ask"], failed["mid_outside_bidask"], failed["duplicate_key"]) == (
        1,
        1,
        0,
    )


def test_identical_duplicate_columns_collapse_and_different_ones_are_quarantined():
    labels = [(label, [*cells, cells[1]]) for label, cells in EUGP_LABELS]
    same = eod_sheet("Fixed Prices - Mid", labels, "Mid", MONTHS, [[*r, r[1]] for r in MID])
    result = parse_grid(eugp_workbook(**{"Fixed Prices - Mid": same}))
    assert len(frame(result)) == 18 and result.conservation.copy_cells == 2
    differ = eod_sheet("Fixed Prices - Mid", labels, "Mid", MONTHS, [[*r, r[1] + 1] for r in MID])
    result = parse_grid(eugp_workbook(**{"Fixed Prices - Mid": differ}))
    q = quarantine(result)
    conflict = q[q.quarantine_reason == "duplicate_identity_conflict"]
    # both Mid copies (2 tenors each) and the BidAsk cells of that identity
    assert len(conflict) == 2 * 2 + 2
    assert sorted(conflict["mid"].dropna()) == [80.0, 81.0, 81.0, 82.0]
    assert len(frame(result)) == 18 - 2
    assert "duplicate_identity_conflict" in [n.code for n in result.notices]


def test_prices_without_tenor_or_identity_are_quarantined_not_lost():
    sheet = eod_sheet(
        "Fixed Prices - Mid", EUGP_LABELS, "Mid", [*MONTHS, ""], [*MID, [1.0, "", ""]]
    )
    sheet.rows[10].append(99.0)  # a price right of the last curve column, no Product above it
    result = parse_grid(eugp_workbook(**{"Fixed Prices - Mid": sheet}))
    q = quarantine(result).set_index("source_cell")
    assert q.loc["'Fixed Prices - Mid'!C13", "quarantine_reason"] == "tenor_missing"
    assert q.loc["'Fixed Prices - Mid'!F11", "quarantine_reason"] == "identity_missing"
    assert frame(result).shape[0] == 18


def test_blank_required_identity_cell_quarantines_the_curve():
    labels = [EUGP_LABELS[0], EUGP_LABELS[1], ("PEAK", ["NA", "", "NA"])]
    mid = eod_sheet("Fixed Prices - Mid", labels, "Mid", MONTHS, MID)
    bidask = eod_sheet("Fixed Prices - BidAsk", labels, "Bid / Ask", MONTHS, BIDASK)
    result = parse_grid(
        eugp_workbook(**{"Fixed Prices - Mid": mid, "Fixed Prices - BidAsk": bidask})
    )
    q = quarantine(result)
    assert set(q["quarantine_reason"]) == {"identity_missing"} and len(q) == 2


@pytest.mark.parametrize(
    ("sheet", "code"),
    [
        (eod_sheet("Fixed Prices - Mid", EUGP_LABELS, "Bid / Ask", MONTHS, MID), "header_mismatch"),
        (eod_sheet("Fixed Prices - Mid", EUGP_LABELS, None, MONTHS, MID), "header_missing"),
        (eod_sheet("Fixed Prices - Mid", EUGP_LABELS[:1], "Mid", MONTHS, MID), "labels_missing"),
        (eod_sheet("Fixed Prices - Mid", EUGP_LABELS, "Mid", MONTHS, MID, asof=date(2025, 9, 18)),
         "asof_inconsistent"),
        (eod_sheet("Fixed Prices - Mid", EUGP_LABELS, "Mid", MONTHS, MID, asof="soon"),
         "asof_invalid"),
    ],
)  # fmt: skip
def test_layout_problems_dead_letter_the_file(sheet, code):
    result = parse_grid(eugp_workbook(**{"Fixed Prices - Mid": sheet}))
    assert result.dead_letter is not None and result.dead_letter.error_code == code
    assert result.observations.num_rows == 0 and result.quarantine.num_rows == 0
    assert result.dead_letter.vendor == "EUGP"


def test_as_of_accepts_serials_and_text_dates():
    for value in (45917, "09-17-25", "2025-09-17", "9/17/2025"):
        sheets = {
            name: Sheet(s.name, [*s.rows[:4], ["Date:", value], *s.rows[5:]])
            for name, s in ((s.name, s) for s in eugp_workbook().sheets)
        }
        assert parse_grid(eugp_workbook(**sheets)).asof == ASOF, value


RP_LABELS = [("", ["US", "AP", "AP"]), ("Location", ["Gulf Coast", "Singapore", "Singapore"]),
             ("Product", ["LNG", "Gasoil", "Jet"])]  # fmt: skip


def rp_workbook(europe: Sheet) -> Workbook:
    mid = [[7.5, 80.0, 81.0], [7.6, 80.5, 81.5]]
    seasonal = [[7.55, 80.25, 81.25]]
    sheets = (
        eod_sheet("Fixed Prices - Mid", RP_LABELS, "Mid", MONTHS, mid),
        eod_sheet("Seasonal Blocks - Mid", RP_LABELS, "Mid", ["Calendar 2025"], seasonal),
        europe,
    )
    return Workbook("EOD_RP_20250917_1430.xlsx", "0" * 64, 0, sheets)


def test_rp_region_row_and_view_sheets():
    view = [
        ("", ["", ""]),
        ("Location", ["Singapore", "Singapore"]),
        ("Product", ["Jet", "Gasoil"]),
    ]
    good = eod_sheet("Asia", view, "Mid", MONTHS, [[81.0, 80.0], [81.5, 80.5]])
    result = parse_grid(rp_workbook(good))
    rows = frame(result)
    assert set(rows["region"]) == {"US", "AP"} and len(rows) == 3 * 3
    assert result.conservation.copy_cells == 4 and result.quarantine.num_rows == 0
    bad = eod_sheet("Asia", view, "Mid", MONTHS, [[81.0, 80.0], [81.5, 99.0]])
    result = parse_grid(rp_workbook(bad))
    q = quarantine(result)
    assert q[["sheet_name", "source_cell", "quarantine_reason", "mid"]].values.tolist() == [
        ["Asia", "'Asia'!D12", "copy_mismatch", 99.0]
    ]
    assert len(frame(result)) == 9 and result.conservation.copy_cells == 3


def test_pw_eod_grid_style_keeps_units_in_the_identity():
    labels = [("ISO", ["PJM", "PJM"]), ("Market", ["DA", "DA"]), ("Hours", ["ON_PEAK", "ON_PEAK"]),
              ("Location", ["West", "West"]), ("Product", ["power", "power"]),
              ("Units", ["USD/MWh", "$ - MWh"])]  # fmt: skip
    sheets = (
        eod_sheet("Fixed Prices - Mid", labels, "Mid", MONTHS, [[46.75, 46.0], [47.0, 46.5]]),
        eod_sheet("Strips - Mid", labels, "Mid", ["Q1 2026"], [[50.0, 49.0]]),
    )
    result = parse_grid(Workbook("EOD_PW_20250917_1430.xlsx", "0" * 64, 0, sheets))
    rows = frame(result)
    # "USD/MWh" and "$ - MWh" are the same units: one identity twice -> a duplicate conflict
    assert rows.empty and set(quarantine(result)["quarantine_reason"]) == {
        "duplicate_identity_conflict"
    }


def test_pw_synthetic_example_gives_the_six_rows_of_the_spec(workbooks_dir):
    path = workbooks_dir / "pw_synthetic_example.xlsx"
    missing = parse_workbook(path, vendor="PW")
    assert missing.dead_letter is not None and missing.dead_letter.error_code == "asof_missing"

    result = parse_workbook(path, vendor="PW", asof=date(2025, 1, 2))
    rows = frame(result)
    got = sorted(
        (r.sheet_name, r.tenor_label, r.currency, r.per_unit, r.mid,
         None if pd.isna(r.bid) else r.bid, None if pd.isna(r.ask) else r.ask,
         None if pd.isna(r.block) else r.block, r.tenor_type)
        for r in rows.itertuples()
    )  # fmt: skip
    assert got == sorted(
        [
            ("Fixed Prices - Mid", "2025-01", "CAD", "MWh", 45.5, 45.0, 46.0, "ON_PEAK", "MONTHLY"),
            ("Fixed Prices - Mid", "2025-01", "USD", "MWh", 47.0, 46.5, 47.5, "ON_PEAK", "MONTHLY"),
            ("Fixed Prices - Mid", "2025-02", "CAD", "MWh", 46.1, 46.0, 47.5, "ON_PEAK", "MONTHLY"),
            ("Fixed Prices - Mid", "2025-02", "USD", "MWh", 47.8, None, None, "ON_PEAK", "MONTHLY"),
            ("Strips - Mid", "Bal 2025", "USD", "MWh", 52.5, None, None, None, "BALANCE"),
            ("Strips - Mid", "Q1 2025", "USD", "MWh", 53.2, None, None, None, "QUARTER"),
        ]
    )
    assert set(rows["iso"]) == {"PJM"} and set(rows["market"]) == {"DA"}  # filled from the left
    monthly = rows[rows.sheet_name == "Fixed Prices - Mid"]
    assert set(monthly["spark_location"]) == {"AECO HUB"}
    assert rows[rows.sheet_name == "Strips - Mid"]["spark_location"].isna().all()  # no such row
    assert set(rows["units_source"]) == {"workbook"}
    assert rows["curve_key"].nunique() == 3  # CAD and USD columns, and the block-less strip curve
    assert {n.code for n in result.notices} == {"twin_missing"}
    # 46.1 is not the midpoint of 46.0 / 47.5: a warning for PW, not a reason to quarantine
    assert {(o.rule, o.severity, o.failed) for o in result.outcomes if o.failed} == {
        ("mid_outside_bidask", "warn", 1)
    }
