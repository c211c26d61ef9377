"""Shared fixtures: the real vendor workbooks beside the checkout, and small workbook builders."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def workbooks_dir() -> Path:
    """``../shared/workbooks``: required in CI, skipped with a message elsewhere when absent."""
    folder = SHARED / "workbooks"
    if not (folder / "EXPECTED.csv").is_file():
        message = f"real vendor workbooks not found at {folder}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI=true: they must be there)")
        pytest.skip(f"{message}; put the shared folder beside the checkout to run these tests")
    return folder


@pytest.fixture(scope="session")
def expected(workbooks_dir: Path) -> list[dict[str, str]]:
    with (workbooks_dir / "EXPECTED.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


Rows = Sequence[Sequence[Any]]


@pytest.fixture
def write_xlsx(tmp_path: Path) -> Callable[..., Path]:
    """Write a workbook from ``{sheet name: rows}``; a value ``("#ERR", code)`` is an error cell."""
    import openpyxl

    def write(name: str, sheets: dict[str, Rows]) -> Path:
        book = openpyxl.Workbook()
        book.remove(book.active)
        for title, rows in sheets.items():
            sheet = book.create_sheet(title)
            for r, row in enumerate(rows, start=1):
                for c, value in enumerate(row, start=1):
                    if value is None or value == "":
                        continue
                    cell = sheet.cell(row=r, column=c)
                    if isinstance(value, tuple) and value[0] == "#ERR":
                        cell.value = value[1]
                        cell.data_type = "e"
                    else:
                        cell.value = value
        path = tmp_path / name
        book.save(path)
        return path

    return write
