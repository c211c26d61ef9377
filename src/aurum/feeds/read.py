"""Reading a payload's bytes: the one seam every feed parser reads CSV, JSON and XML through.

A CSV parser names the header's columns it needs and which of them are prices; ``read_csv``
reads the body with ``pyarrow.csv`` (text columns dictionary-encoded, so a parser works on the
few distinct times and names and ``take``s the results back to the rows) and turns every way the
bytes can be wrong into a ``PayloadError`` with a stable code: not UTF-8, an HTML page where
data belongs, a changed header, a truncated line, a non-number in a price column (naming the
line and the column). Lines are counted as ``csv`` counts records, the first being 1.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from aurum.feeds.lmp import PayloadError, header_index, number, strip_tags

__all__ = ["Grid", "checked", "load_json", "load_xml", "read_csv", "time_of"]

T = TypeVar("T")
_TEXT = pa.dictionary(pa.int32(), pa.string())
_BOM = b"\xef\xbb\xbf"


def checked(payload: bytes, source: str) -> bytes:
    """``payload`` without a BOM, once it is known to be UTF-8 text and not an HTML page."""
    if not payload.isascii():
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError:
            raise PayloadError(
                "payload_not_text", f"{source}: the payload is not UTF-8 text"
            ) from None
    payload = payload.removeprefix(_BOM)
    head = payload[:400].lstrip()[:200].lower()
    if head.startswith((b"<html", b"<!doctype html")):
        said = strip_tags(payload.decode("utf-8"))[:160]
        raise PayloadError("payload_html", f"{source}: an HTML page where data belongs: {said!r}")
    return payload


def load_json(payload: bytes, source: str) -> Any:
    """A JSON document; a payload cut short (or not JSON at all) is ``payload_truncated``."""
    body = checked(payload, source)
    try:
        return json.loads(body)
    except json.JSONDecodeError as error:
        raise PayloadError("payload_truncated", f"{source}: not JSON ({error})") from None


def load_xml(payload: bytes, source: str) -> ElementTree.Element:
    """An XML document's root. A DTD is refused (entity expansion is how XML bombs work); a
    document that is not well-formed is ``payload_truncated``."""
    if b"<!DOCTYPE" in payload[:2000] or b"<!ENTITY" in payload[:2000]:
        raise PayloadError("xml_entities", f"{source}: XML with a DTD is refused")
    try:
        return ElementTree.fromstring(payload)
    except ElementTree.ParseError as error:
        raise PayloadError(
            "payload_truncated", f"{source}: not well-formed XML ({error})"
        ) from None


def time_of(text: str, patterns: Sequence[str], where: str, shape: str) -> datetime:
    """``text`` (stripped) read by the first of ``patterns`` that fits; ``time_invalid`` naming
    ``shape`` when none does.

    >>> time_of(" 6/4/2026 1:00 ", ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"), "x", "M/D/YYYY H:MM")
    datetime.datetime(2026, 6, 4, 1, 0)
    """
    for pattern in patterns:
        try:
            return datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    raise PayloadError("time_invalid", f"{where}: {text!r} is not {shape}")


@dataclass(frozen=True)
class Grid:
    """A CSV payload's body as read: the wanted columns (text ones dictionary-encoded), the
    header, the records before it, and the body's bytes to name a row's line when one is bad."""

    source: str
    header: list[str]
    preamble: list[list[str]]  # the records before the header ([] for a blank line)
    columns: dict[str, pa.ChunkedArray]
    num_rows: int
    body: memoryview  # the bytes after the header
    header_line: int

    def distinct(self, name: str) -> tuple[list[str], np.ndarray]:
        """The distinct values of text column ``name`` and each row's index into them: for
        columns with few values (times, flags), worked out one by one in Python."""
        values, indices = dictionary(self.columns[name])
        return values.to_pylist(), indices

    def names(self, name: str) -> tuple[pa.Array, np.ndarray]:
        """The distinct values of text column ``name``, stripped, as an array (there may be
        as many as rows: nodes), and each row's index into them."""
        values, indices = dictionary(self.columns[name])
        return pc.utf8_trim_whitespace(values), indices

    def floats(self, name: str) -> pa.Array:
        return self.columns[name].combine_chunks()

    def line(self, row: int) -> int:
        """The line of data row ``row`` (0-based, as read: blank lines are not rows)."""
        width, seen = len(self.header), -1
        records = csv.reader(io.StringIO(bytes(self.body).decode("utf-8")))
        for line, record in enumerate(records, start=self.header_line + 1):
            if record and len(record) == width:
                seen += 1
                if seen == row:
                    return line
        return self.header_line + 1 + row

    def where(self, row: int) -> str:
        return f"{self.source} line {self.line(row)}"


def dictionary(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """A dictionary column's distinct values and each row's index into them."""
    unified = column.unify_dictionaries()
    if unified.num_chunks == 0:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.intp)
    values = unified.chunk(0).dictionary
    indices = [chunk.indices.to_numpy(zero_copy_only=False) for chunk in unified.chunks]
    return values, np.concatenate(indices).astype(np.intp, copy=False)


def each(
    values: Sequence[str], indices: np.ndarray, read: Callable[[str], T], default: T
) -> tuple[list[T], int | None]:
    """``read`` of each distinct value (``default`` where it refuses one with ``ValueError`` or
    ``PayloadError``), and the first row among ``indices`` (in file order) with a refused
    value, or None.

    >>> each(["1", "x", "2"], np.array([0, 2, 1]), int, 0)
    ([1, 0, 2], 2)
    """
    results: list[T] = []
    bad = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values):
        try:
            results.append(read(value))
        except (ValueError, PayloadError):
            results.append(default)
            bad[i] = True
    rows = np.flatnonzero(bad[indices]) if bad.any() else ()
    return results, int(rows[0]) if len(rows) else None


def read_csv(
    payload: bytes,
    source: str,
    *,
    columns: Sequence[str] | Callable[[list[str]], Sequence[str]],
    numbers: Sequence[str] | Callable[[list[str]], Sequence[str]] = (),
    is_header: Callable[[list[str]], bool] = bool,
    skip_row: Callable[[str], bool] | None = None,
    shape: str | None = None,
) -> Grid:
    """Read the CSV in ``payload``: its header is the first record ``is_header`` accepts (the
    first non-blank one by default) and must name every one of ``columns`` (compared without
    case, spaces or ``_``); ``numbers`` are read as float64 (an empty cell is null), the other
    columns as text. A row ``skip_row`` accepts (given its text) is dropped when its field
    count differs from the header's, instead of being refused as truncated. Without a header
    the payload is ``payload_empty``, or ``header_changed`` naming the ``shape`` expected.
    ``columns`` and ``numbers`` may be functions of the header (PJM's prices are ``*_da`` or
    ``*_rt``, EIA's are a column per hub).

    >>> grid = read_csv(b"t,node,p\\n1,A,2.5\\n1,B,\\n", "x", columns=["node", "p"], numbers=["p"])
    >>> grid.distinct("node"), grid.floats("p").to_pylist()
    ((['A', 'B'], array([0, 1])), [2.5, None])
    """
    body = checked(payload, source)
    header, preamble, offset = _header(body, source, is_header, shape)
    if callable(columns):
        columns = columns(header)
    if callable(numbers):
        numbers = numbers(header)
    at = header_index(header, columns, source)
    rest = memoryview(body)[offset:]  # (not a copy)
    names = [str(i) for i in range(len(header))]
    grid = Grid(source, header, preamble, {}, 0, rest, len(preamble) + 1)
    if not rest or (bytes(rest[:4096]).isspace() and bytes(rest).isspace()):
        empty = {
            name: pa.chunked_array([], pa.float64() if name in numbers else _TEXT)
            for name in columns
        }
        return Grid(source, header, preamble, empty, 0, rest, len(preamble) + 1)

    def handle(row: Any) -> str:
        return "skip" if skip_row is not None and skip_row(row.text) else "error"

    def read(number_type: pa.DataType) -> pa.Table:
        types = {str(at[name]): (number_type if name in numbers else _TEXT) for name in columns}
        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(rest)),
            read_options=pacsv.ReadOptions(column_names=names),
            parse_options=pacsv.ParseOptions(invalid_row_handler=handle if skip_row else None),
            convert_options=pacsv.ConvertOptions(
                include_columns=list(types), column_types=types, null_values=[""],
                strings_can_be_null=False,
            ),
        )  # fmt: skip

    try:
        read_ = read(pa.float64())
    except pa.ArrowInvalid as error:
        _diagnose(grid, [at[name] for name in numbers], skip_row)
        try:  # a blank cell padded with spaces: pyarrow refuses it, the feeds mean "missing"
            read_ = read(_TEXT)
        except pa.ArrowInvalid:
            raise PayloadError("payload_invalid", f"{source}: {error}") from None
        read_ = _padded_numbers(read_, [str(at[name]) for name in numbers], source)
    found = {name: read_.column(str(at[name])) for name in columns}
    return Grid(source, header, preamble, found, read_.num_rows, rest, len(preamble) + 1)


def _header(
    body: bytes, source: str, is_header: Callable[[list[str]], bool], shape: str | None
) -> tuple[list[str], list[list[str]], int]:
    """The header record, the records before it and the offset of the line after it."""
    preamble: list[list[str]] = []
    offset = 0
    while offset < len(body):
        end = body.find(b"\n", offset)
        end = len(body) if end < 0 else end + 1
        record = next(csv.reader([body[offset:end].decode("utf-8").rstrip("\r\n")]), [])
        offset = end
        if is_header(record):
            return record, preamble, offset
        preamble.append(record)
    if shape is not None:
        raise PayloadError("header_changed", f"{source}: no {shape!r} header")
    raise PayloadError("payload_empty", f"{source}: no header")


def _diagnose(grid: Grid, numbers: Sequence[int], skip_row: Callable[[str], bool] | None) -> None:
    """Name the first bad line of a body pyarrow refused: a wrong field count (a truncated
    payload) or a price that is not a number."""
    width = len(grid.header)
    text = bytes(grid.body).decode("utf-8")
    records = csv.reader(io.StringIO(text))
    for line, record in enumerate(records, start=grid.header_line + 1):
        if not record:
            continue
        where = f"{grid.source} line {line}"
        if len(record) != width:
            if skip_row is not None and skip_row(",".join(record)):
                continue
            raise PayloadError("payload_truncated", f"{where}: {len(record)} fields, not {width}")
        for i in numbers:
            number(record[i], f"{where}, {grid.header[i].strip()}")


def _padded_numbers(read: pa.Table, numbers: Sequence[str], source: str) -> pa.Table:
    for name in numbers:
        text = pc.utf8_trim_whitespace(read.column(name).cast(pa.string()))
        blank = pc.equal(text, "")
        try:
            values = pc.if_else(blank, None, text).cast(pa.float64())
        except pa.ArrowInvalid as error:
            raise PayloadError("payload_invalid", f"{source}: {error}") from None
        read = read.set_column(read.schema.get_field_index(name), name, values)
    return read


# Columns from distinct values: a parser works out each distinct time or name once, in Python
# (exactly as a row loop would), and ``take``s the answers back to every row.


def epoch(at: datetime) -> int:
    """Seconds since 1970 of an aware time."""
    return int(at.timestamp())


def text_column(values: pa.Array | Sequence[str | None], indices: np.ndarray) -> pa.Array:
    """``values[i]`` for each ``i`` of ``indices``."""
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.string())
    return values.take(pa.array(indices))


def time_column(seconds: np.ndarray) -> pa.Array:
    return pa.array(seconds.astype(np.int64, copy=False), pa.timestamp("s", tz="UTC"))


def day_column(ordinals: np.ndarray) -> pa.Array:
    """Dates from ``date.toordinal()`` values."""
    return pa.array((ordinals - _EPOCH_ORDINAL).astype(np.int32), pa.date32())


_EPOCH_ORDINAL = datetime(1970, 1, 1).toordinal()


def ranks(values: pa.Array) -> np.ndarray:
    """Each value's place among ``values`` sorted as ``sorted`` sorts str (by code point;
    equal values have one place).

    >>> ranks(pa.array(["b", "a", "b"])).tolist()
    [1, 0, 1]
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    dense = pc.rank(values, sort_keys="ascending", tiebreaker="dense")
    places: np.ndarray = dense.to_numpy().astype(np.int64) - 1
    return places


def order(*keys: np.ndarray) -> np.ndarray:
    """The stable order of rows by ``keys`` (non-negative integers, the first the most
    significant): what ``lmp.table``'s sort gives, as row indices."""
    if len(keys[0]) == 0:
        return np.zeros(0, dtype=np.intp)
    spans = [int(key.max()) - int(key.min()) + 1 for key in keys]
    if np.prod(np.array(spans, dtype=np.float64)) >= 2.0**62:
        return np.lexsort(keys[::-1])
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for key, span in zip(keys, spans, strict=True):
        combined = combined * span + (key - int(key.min()))
    return np.argsort(combined, kind="stable")


def occurrences(keys: np.ndarray) -> np.ndarray:
    """For each row, how many earlier rows have its key (0 for the first).

    >>> occurrences(np.array([7, 3, 7, 7])).tolist()
    [0, 0, 1, 2]
    """
    by = np.argsort(keys, kind="stable")
    ordered = keys[by]
    starts = np.r_[0, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1] if len(keys) else by
    within = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    out = np.empty(len(keys), dtype=np.int64)
    out[by] = within
    return out


MAX_UNZIPPED = 256 * 1024 * 1024


def single_member(payload: bytes, source: str, suffixes: tuple[str, ...]) -> bytes:
    """The one member of a zipped answer (OASIS ``SingleZip``, the ECB history) whose name ends
    with one of ``suffixes``; a broken zip, several candidates or one that unzips past
    :data:`MAX_UNZIPPED` (a zip bomb) are refused with the reason."""
    import zipfile

    try:
        archive = zipfile.ZipFile(io.BytesIO(payload))
    except zipfile.BadZipFile:
        raise PayloadError("payload_truncated", f"{source}: a broken zip") from None
    members = [m for m in archive.infolist() if m.filename.lower().endswith(suffixes)]
    if len(members) != 1:
        raise PayloadError(
            "payload_invalid", f"{source}: the zip holds {len(members)} data files, not one"
        )
    if members[0].file_size > MAX_UNZIPPED:
        raise PayloadError(
            "payload_too_large",
            f"{source}: {members[0].filename} unzips to {members[0].file_size:,} bytes",
        )
    return archive.read(members[0])
