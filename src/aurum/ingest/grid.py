"""The one place Aurum opens a workbook: bytes in, grids of typed cell values out.

Everything upstream of the parser is here: container checks (empty, not a zip, truncated, legacy
``.xls``, ``.xlsb``, encrypted), XML parts declaring a DTD (XML bombs, XXE), zip-bomb bounds
measured on the *actual* decompressed bytes (a zip's declared sizes can lie), a cell-count cap,
and error cells. python-calamine reads values fast but returns ``''`` for error cells such as
``#N/A``; a price cell holding ``#N/A`` must be counted and quarantined, never mistaken for a
blank, so sheets whose XML contains error cells get a second, rare pass with openpyxl that marks
them as :class:`ExcelError`.

Positions are absolute and 0-based: ``sheet.rows[4][1]`` is cell B5.
"""

from __future__ import annotations

import hashlib
import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import python_calamine

from aurum.config import IngestSettings
from aurum.errors import WorkbookError
from aurum.formats import column_letter

__all__ = ["Cell", "ExcelError", "Sheet", "Workbook", "column_letter", "read_workbook"]

_ZIP_MAGIC = b"PK\x03\x04"
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ENCRYPTED_STREAM = "EncryptedPackage".encode("utf-16-le")
_CHUNK = 1 << 20
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")  # a zip local file header (APPNOTE 4.3.7)
_TEXT_PARTS = (".xml", ".rels", ".vml")
# A DTD sits in an XML part's prolog, before its root element; OOXML parts never have one.
_DTD = b"<!DOCTYPE"
_PROLOG = 64 * 1024


@dataclass(frozen=True, slots=True)
class ExcelError:
    """An Excel error cell (``#N/A``, ``#DIV/0!`` ...): never a number, never a blank."""

    code: str

    def __str__(self) -> str:
        return self.code


Cell = float | int | str | bool | date | datetime | time | timedelta | ExcelError


@dataclass(frozen=True)
class Sheet:
    name: str
    rows: list[list[Cell]]

    @property
    def n_rows(self) -> int:
        return len(self.rows)

    @property
    def n_cols(self) -> int:
        return max((len(r) for r in self.rows), default=0)

    def cell(self, row: int, col: int) -> Cell:
        """The value at a 0-based (row, col); ``''`` outside the stored area."""
        if row < len(self.rows):
            values = self.rows[row]
            if col < len(values):
                return values[col]
        return ""


@dataclass(frozen=True)
class Workbook:
    name: str
    sha256: str
    size_bytes: int
    sheets: tuple[Sheet, ...]
    notes: tuple[str, ...] = field(default=())

    def sheet(self, name: str) -> Sheet | None:
        return next((s for s in self.sheets if s.name == name), None)


def read_workbook(path: Path, limits: IngestSettings, *, name: str | None = None) -> Workbook:
    """Read every sheet of an ``.xlsx`` file, or raise :class:`WorkbookError` with a code."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > limits.max_file_mb * 2**20:
            raise WorkbookError(
                "file_too_large",
                f"{size:,} bytes is more than the {limits.max_file_mb:g} MiB limit",
                size_bytes=size,
            )
        data = path.read_bytes()
    except OSError as exc:
        raise WorkbookError("file_unreadable", f"cannot read {path}: {exc.strerror}") from None
    return read_workbook_bytes(data, limits, name=name or path.name)


def read_workbook_bytes(data: bytes, limits: IngestSettings, *, name: str) -> Workbook:
    sha = hashlib.sha256(data).hexdigest()
    _check_container(data)
    error_members = _scan_zip(data, limits)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [_read_sheet(book, sheet_name, limits) for sheet_name in book.sheet_names]
    except python_calamine.PasswordError:
        raise WorkbookError("file_encrypted", "the workbook is password-protected") from None
    except python_calamine.CalamineError as exc:
        if "entity" in str(exc).lower():  # a DTD the prolog check did not see: calamine refuses
            raise WorkbookError(
                "xml_entities", f"the workbook's XML uses entities it does not define: {exc}"
            ) from None
        raise WorkbookError("file_corrupt", f"the workbook cannot be read: {exc}") from None
    _check_cell_budget(sheets, limits)
    notes: list[str] = []
    if error_members:
        sheets = _mark_error_cells(data, sheets)
        notes.append("error cells present")
    return Workbook(
        name=name, sha256=sha, size_bytes=len(data), sheets=tuple(sheets), notes=tuple(notes)
    )


def _check_container(data: bytes) -> None:
    if not data:
        raise WorkbookError("file_empty", "the file is empty (0 bytes)")
    if data.startswith(_OLE2_MAGIC):
        if _ENCRYPTED_STREAM in data:
            raise WorkbookError(
                "file_encrypted", "the workbook is encrypted (password-protected OOXML)"
            )
        raise WorkbookError("format_xls", "this is a legacy .xls (BIFF) workbook; save it as .xlsx")
    if not data.startswith(_ZIP_MAGIC):
        head = data[:64].lstrip()
        looks = (
            "a PDF document" if head.startswith(b"%PDF-")
            else "text or HTML" if head[:1] in (b"<", b"{") or head.isascii()
            else "binary data"
        )  # fmt: skip
        raise WorkbookError(
            "not_xlsx", f"not an .xlsx workbook (no zip signature; looks like {looks})"
        )


def _scan_zip(data: bytes, limits: IngestSettings) -> set[str]:
    """Bound the real decompressed size and find the sheet members holding error cells."""
    max_total = int(limits.max_uncompressed_mb * 2**20)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        if "xl/workbook.bin" in names:
            raise WorkbookError("format_xlsb", "this is a binary .xlsb workbook; save it as .xlsx")
        if "xl/workbook.xml" not in names:
            raise WorkbookError(
                "not_xlsx", "a zip file, but not an Excel workbook (no xl/workbook.xml)"
            )
        total = 0
        error_members: set[str] = set()
        for info in archive.infolist():
            if (
                info.compress_size
                and info.file_size / info.compress_size > limits.max_compression_ratio
            ):
                raise _bomb(f"{info.filename} expands {info.file_size / info.compress_size:.0f}x")
            if not info.filename.endswith(_TEXT_PARTS):
                continue  # images and other binary parts: no reader inflates them
            scan = info.filename.startswith("xl/worksheets/")
            tail = b""
            produced = 0
            for chunk in _inflate(data, info):
                if not produced and _DTD in chunk[:_PROLOG]:
                    raise WorkbookError(
                        "xml_entities",
                        f"{info.filename} declares a DTD (entity expansion or external entities:"
                        " an XML bomb or XXE); an .xlsx never does",
                        member=info.filename,
                    )
                produced += len(chunk)
                total += len(chunk)
                if produced > info.file_size:  # a zip's sizes are claims: hold it to its own
                    raise WorkbookError(
                        "file_corrupt",
                        f"{info.filename} holds more than the {info.file_size:,} bytes it declares",
                    )
                if total > max_total:
                    raise _bomb(f"more than {limits.max_uncompressed_mb:g} MiB uncompressed")
                if scan and b't="e"' in tail + chunk:
                    error_members.add(info.filename)
                tail = chunk[-8:]
            if produced != info.file_size:
                raise WorkbookError(
                    "file_corrupt",
                    f"{info.filename} holds {produced:,} bytes but declares {info.file_size:,}",
                )
        return error_members
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:  # zipfile's own
        raise WorkbookError("file_corrupt", f"damaged or truncated workbook: {exc}") from None


def _inflate(data: bytes, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """A member's bytes, decompressed at most ``_CHUNK`` at a time straight from the archive.

    This is zipfile's own reading minus its per-member file objects and CRC (calamine checks
    CRCs when it reads); what matters here is counting the bytes really produced.
    """
    start = info.header_offset
    header = data[start : start + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or header[:4] != _ZIP_MAGIC:
        raise zipfile.BadZipFile(f"bad local header for {info.filename}")
    name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
    begin = start + _LOCAL_HEADER.size + name_length + extra_length
    raw = memoryview(data)[begin : begin + info.compress_size]
    if info.compress_type == zipfile.ZIP_STORED:
        for offset in range(0, len(raw), _CHUNK):
            yield bytes(raw[offset : offset + _CHUNK])
        return
    if info.compress_type != zipfile.ZIP_DEFLATED:
        raise WorkbookError(
            "file_corrupt",
            f"{info.filename} uses zip compression method {info.compress_type}; "
            "an .xlsx uses deflate",
        )
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    pending: bytes | memoryview = raw
    while not inflater.eof:
        chunk = inflater.decompress(pending, _CHUNK)
        pending = inflater.unconsumed_tail
        if not chunk and not pending:
            raise zipfile.BadZipFile(f"{info.filename} is truncated")
        yield chunk


def _bomb(detail: str) -> WorkbookError:
    return WorkbookError("zip_bomb", f"refusing to decompress: {detail}")


def _read_sheet(
    book: python_calamine.CalamineWorkbook, sheet_name: str, limits: IngestSettings
) -> Sheet:
    handle = book.get_sheet_by_name(sheet_name)
    end = handle.end
    if end is not None and (end[0] + 1) * (end[1] + 1) > limits.max_cells:
        raise _too_many(f"sheet {sheet_name!r}", (end[0] + 1) * (end[1] + 1), limits)
    return Sheet(sheet_name, handle.to_python(skip_empty_area=False))


def _check_cell_budget(sheets: list[Sheet], limits: IngestSettings) -> None:
    total = sum(len(row) for s in sheets for row in s.rows)
    if total > limits.max_cells:
        raise _too_many("the workbook", total, limits)


def _too_many(where: str, cells: int, limits: IngestSettings) -> WorkbookError:
    return WorkbookError(
        "too_many_cells",
        f"{where} holds {cells:,} cells, more than the {limits.max_cells:,} limit",
        cells=cells,
    )


def _mark_error_cells(data: bytes, sheets: list[Sheet]) -> list[Sheet]:
    """Replace the ``''`` calamine gives for error cells with :class:`ExcelError` values."""
    import openpyxl  # rare path only: error cells never occur in healthy vendor files

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    marked = []
    for sheet in sheets:
        rows = sheet.rows
        for row in book[sheet.name].iter_rows():
            for cell in row:
                if getattr(cell, "data_type", None) == "e" and cell.row is not None:
                    r, c = cell.row - 1, cell.column - 1
                    while len(rows) <= r:
                        rows.append([])
                    while len(rows[r]) <= c:
                        rows[r].append("")
                    rows[r][c] = ExcelError(str(cell.value))
        marked.append(Sheet(sheet.name, rows))
    book.close()
    return marked
