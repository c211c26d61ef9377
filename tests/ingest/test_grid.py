"""The reading seam on its own: containers it refuses, and the cells it marks."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from aurum.config import IngestSettings
from aurum.errors import WorkbookError
from aurum.ingest.grid import ExcelError, read_workbook


def test_a_zip_with_non_deflate_parts_is_refused_precisely(tmp_path: Path) -> None:
    path = tmp_path / "EOD_EUGP_20250917_1430.xlsx"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(WorkbookError) as raised:
        read_workbook(path, IngestSettings())
    assert raised.value.code == "file_corrupt"
    assert "compression method 12" in raised.value.message


def test_error_cells_are_marked_not_blank(write_xlsx) -> None:
    path = write_xlsx(
        "book.xlsx", {"S": [["a", ("#ERR", "#N/A"), 1.5], [None, ("#ERR", "#DIV/0!")]]}
    )
    sheet = read_workbook(path, IngestSettings()).sheets[0]
    assert sheet.rows[0][1] == ExcelError("#N/A") and sheet.rows[0][2] == 1.5
    assert sheet.cell(1, 1) == ExcelError("#DIV/0!")
    assert sheet.cell(5, 5) == ""  # outside the stored area
