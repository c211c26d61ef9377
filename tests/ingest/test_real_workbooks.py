"""Acceptance on the real vendor workbooks in ../shared/workbooks (format spec §5.1, §11)."""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from aurum.ingest.pipeline import ParseResult, parse_workbook


@cache
def _parsed(path: Path) -> tuple[ParseResult, pd.DataFrame]:
    result = parse_workbook(path)
    return result, result.observations.to_pandas()


def parsed(workbooks_dir: Path, name: str) -> tuple[ParseResult, pd.DataFrame]:
    return _parsed(workbooks_dir / name)


def one(frame: pd.DataFrame, **where: object) -> pd.Series:
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column].isna() if value is None else frame[column] == value
    rows = frame[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]


def test_every_workbook_matches_expected_csv(workbooks_dir, expected):
    assert len(expected) >= 10
    for row in expected:
        result, frame = parsed(workbooks_dir, row["file"])
        summary = result.summary()
        assert result.dead_letter is None, row["file"]
        assert (summary["vendor"], summary["asof"]) == (row["vendor"], row["asof"])
        assert summary["rows"] == int(row["canonical_rows"]), row["file"]
        assert summary["curves"] == int(row["distinct_curves"]), row["file"]
        assert summary["rows_with_bidask"] == int(row["rows_with_bidask"]), row["file"]
        assert f"{summary['sum_mid']:.3f}" == row["sum_mid"], row["file"]
        assert summary["price_cells"] == int(row["price_cells"]), row["file"]
        assert summary["quarantined"] == 0, row["file"]
        assert result.conservation.holds
        region_cells = int(row["region_sheet_cells"])
        published = int(row["canonical_rows"]) + int(row["rows_with_bidask"])
        assert result.conservation.published_cells == published
        # Verified copies: the region sheets, plus RP's duplicated Singapore column (mid + bid/ask).
        assert result.conservation.copy_cells == region_cells + (152 if region_cells else 0)
        assert not [o for o in result.outcomes if o.severity == "quarantine" and o.failed]
        assert frame["mid"].equals(frame["value"])
        assert frame.duplicated(["curve_key", "tenor_label"]).sum() == 0


def test_conservation_equation_of_the_issue(workbooks_dir):
    result, _ = parsed(workbooks_dir, "EOD_RP_20250917_1430.xlsx")
    c = result.conservation
    assert (c.price_cells, c.published_cells, c.copy_cells) == (81_709, 27_816 * 2, 25_925 + 152)


SPOT = [  # file, sheet, identity, tenor, mid, (bid, ask)
    ("EOD_EUGP_20250212_1430.xlsx", "Fixed Prices - Mid",
     dict(region="EU", location="Dutch_TTF", block=None, product="gas"),
     "2025-03", 56.073815135702944, (55.899, 56.249)),
    ("EOD_EUGP_20250212_1430.xlsx", "Fixed Prices - Mid",
     dict(region="UK", location="Great_Britian", block="PEAK", product="power"),
     "2035-02", 91.42048567267206, None),
    ("EOD_EUGP_20250212_1430.xlsx", "Strips - Mid",
     dict(region="EU", location="German", block="BASE", product="power"),
     "Winter 2026", 120.365, (119.968, 120.762)),
    ("EOD_EUGP_20250212_1430.xlsx", "Strips - Mid",
     dict(region="UK", location="UKA", block=None, product="emissions"),
     "Calendar 2034", 65.535, None),
    ("EOD_EUGP_20250212_1430.xlsx", "Spark Spread",
     dict(region="UK", location="Great_Britian", block="PEAK", spark_location="NBP"),
     "2025-02", 23.673903717969793, None),
    ("EOD_EUGP_20250212_1430.xlsx", "Fixed Prices - Mid",
     dict(region="EE", location="Czech", block=None, product="gas"),
     "2025-02", 49.7809612899969, None),
    ("EOD_EUGP_20250212_1430.xlsx", "Fixed Prices - Mid",
     dict(region="EE", location="Czech", block="BASE", product="power"),
     "2025-02", 162.01357625258606, None),
    ("EOD_EUGP_20250912_1430.xlsx", "Spark Spread",
     dict(region="EU", location="Austrian", block="BASE", spark_location="Austrian_CEGH"),
     "2025-09", 25.81827660034004, None),
    ("EOD_EUGP_20250917_1430.xlsx", "Fixed Prices - Mid",
     dict(region="EU", location="EUA", block=None, product="emissions"),
     "2025-12", 76.9009667047427, (76.654, 77.148)),
    ("EOD_EUGP_20250917_1430.xlsx", "Strips - Mid",
     dict(region="EU", location="French", block="PEAK", product="power"),
     "Summer 2025", 50.24, None),
    ("EOD_EUGP_20250917_1430.xlsx", "Strips - Mid",
     dict(region="EU", location="French", block="PEAK", product="power"),
     "Winter 2035", 94.662, None),
    ("EOD_EUGP_20250917_1430.xlsx", "Spark Spread",
     dict(region="EE", location="Poland", block="PEAK", spark_location="Czech"),
     "2035-09", 33.63643025846706, None),
    ("EOD_RP_20250212_1430.xlsx", "Fixed Prices - Mid",
     dict(region="US", location="East Coast", product="Maryland Solar Renewable Energy Credit"),
     "2025-02", 59.10201952635633, (59.086, 59.119)),
    ("EOD_RP_20250212_1430.xlsx", "Seasonal Blocks - Mid",
     dict(region="US", location="West Coast", product="California Carbon Allowance Current"),
     "Calendar 2029", -1.847, None),
    ("EOD_RP_20250212_1430.xlsx", "Fixed Prices - Mid",
     dict(region="AP", location="Singapore",
          product="Marine Fuel 0.5% FOB Singapore vs Brent 1st Line"),
     "2030-02", 8.1221312735479, None),
    ("EOD_RP_20250212_1430.xlsx", "Fixed Prices - Mid",
     dict(region="US", location="Midwest", product="CHI ULSD vs. NY ULSD"),
     "2025-05", -0.007874999999999997, None),
    ("EOD_RP_20250912_1430.xlsx", "Seasonal Blocks - Mid",
     dict(region="US", location="East Coast",
          product="Maryland Compliance Renewable Energy Credit Tier 1"),
     "Calendar 2025", 25.267, (25.237, 25.297)),
    ("EOD_RP_20250917_1430.xlsx", "Fixed Prices - Mid",
     dict(region="US", location="West Coast", product="Washington Carbon Allow Current"),
     "2025-09", 0.7875000000000001, (0.771, 0.804)),
    ("EOD_RP_20250917_1430.xlsx", "Seasonal Blocks - Mid",
     dict(region="US", location="Gulf Coast", product="LNG"),
     "Winter 2030", 7.816, (7.733, 7.899)),
    ("EOD_RP_20250917_1430.xlsx", "Fixed Prices - Mid",
     dict(region="AP", location="Western India", product="WIM LNG"),
     "2030-09", 8.88232865873078, None),
    ("EOD_RP_20250917_1430.xlsx", "Fixed Prices - Mid",
     dict(region="EU", location="Rotterdam", product="Gasoil 1st Line"),
     "2026-01", 593.0636626343721, None),
]  # fmt: skip


@pytest.mark.parametrize(("name", "sheet", "identity", "tenor", "mid", "bidask"), SPOT)
def test_spot_values_of_the_format_spec(workbooks_dir, name, sheet, identity, tenor, mid, bidask):
    _, frame = parsed(workbooks_dir, name)
    row = one(frame, sheet_name=sheet, tenor_label=tenor, **identity)
    assert row["mid"] == mid  # exact: the cell's double, untouched
    if bidask is not None:
        assert (row["bid"], row["ask"]) == bidask


def test_duplicated_singapore_column_is_one_curve(workbooks_dir):
    _, frame = parsed(workbooks_dir, "EOD_RP_20250212_1430.xlsx")
    rows = frame[frame["product"] == "Marine Fuel 0.5% FOB Singapore vs Brent 1st Line"]
    assert len(rows) == 61 + 15
    assert rows["curve_key"].nunique() == 1


def test_identity_keys_units_and_versions(workbooks_dir):
    _, frame = parsed(workbooks_dir, "EOD_EUGP_20250917_1430.xlsx")
    german = one(frame, sheet_name="Fixed Prices - Mid", location="German", block="BASE",
                 tenor_label="2025-10")  # fmt: skip
    assert german["curve_key"] == "e62ae9cee76bc5d14d234b193f8e4521dd978a465b64e7d9c59e10b1f58c4920"
    strips = frame[(frame["location"] == "German") & (frame["product"] == "power")]
    strips = strips[strips["block"] == "BASE"]
    assert strips["curve_key"].nunique() == 1  # monthly, strips, Mid and BidAsk: one curve

    def units(**where: object) -> tuple[str, str, str]:
        row = frame[(frame[list(where)] == pd.Series(where)).all(axis=1)].iloc[0]
        return row["currency"], row["per_unit"], row["units_source"]

    assert units(location="NBP", product="gas") == ("GBp", "therm", "reference")
    assert units(location="Dutch_TTF_USDMMBTU") == ("USD", "MMBtu", "reference")
    assert units(location="EUA") == ("EUR", "t", "reference")
    assert units(location="UKA") == ("GBP", "t", "reference")
    assert units(location="Great_Britian", product="power") == ("GBP", "MWh", "reference")
    assert units(location="Great_Britian", product="spark_spread") == ("GBP", "MWh", "reference")
    assert units(location="German", product="power") == ("EUR", "MWh", "reference")
    assert set(frame["asset_class"]) == {"gas", "power", "emissions"}

    digest = hashlib.sha256((workbooks_dir / "EOD_EUGP_20250917_1430.xlsx").read_bytes())
    assert set(frame["source_sha256"]) == {digest.hexdigest()}
    versions = frame.groupby("sheet_name")["version_hash"].nunique()
    assert versions.eq(1).all() and frame["version_hash"].nunique() == 3


@pytest.mark.parametrize(
    "name",
    ["EOD_EUGP_20250212_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx",
     "EOD_RP_20250212_1430.xlsx", "EOD_RP_20250917_1430.xlsx"],
)  # fmt: skip
def test_strip_windows_reproduce_the_vendors_strips(workbooks_dir, name):
    """Each delivered strip is the mean of its remaining monthly mids (spec §4.2): this checks
    every strip row's tenor_start/tenor_end on real data."""
    result, frame = parsed(workbooks_dir, name)
    asof_month = date(result.asof.year, result.asof.month, 1)
    monthly = frame[frame["tenor_type"] == "MONTHLY"]
    mids: dict[str, dict[date, float]] = defaultdict(dict)
    for key, month, mid in zip(
        monthly["curve_key"], monthly["tenor_start"], monthly["mid"], strict=True
    ):
        mids[key][month] = mid
    strips = frame[frame["tenor_type"].isin(["CALENDAR", "SEASON"])]
    assert len(strips) > 0
    for key, start, end, mid in zip(
        strips["curve_key"], strips["tenor_start"], strips["tenor_end"], strips["mid"], strict=True
    ):
        months = [m for m in mids[key] if max(start, asof_month) <= m <= end]
        assert months, (key, start, end)
        assert math.isclose(
            sum(mids[key][m] for m in months) / len(months), mid, abs_tol=5e-4 + 1e-9
        )


def test_summer_and_winter_windows(workbooks_dir):
    _, frame = parsed(workbooks_dir, "EOD_EUGP_20250917_1430.xlsx")
    summer = frame[frame["tenor_label"] == "Summer 2025"].iloc[0]
    winter = frame[frame["tenor_label"] == "Winter 2035"].iloc[0]
    assert (summer["tenor_type"], summer["tenor_start"], summer["tenor_end"]) == (
        "SEASON", date(2025, 4, 1), date(2025, 10, 1))  # fmt: skip
    assert (winter["tenor_start"], winter["tenor_end"]) == (date(2034, 11, 1), date(2035, 3, 1))
    assert summer["contract_month"] == summer["tenor_start"]
