"""Shared fixtures: the real vendor workbooks beside the checkout, and small workbook builders."""

from __future__ import annotations

import csv
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """URL of a database created for this session on the local PostgreSQL, dropped afterwards.

    Without the server the tests skip with a message, unless ``CI`` is set: then they fail.
    """
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    name = f"aurum_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        message = f"PostgreSQL at {POSTGRES} is not reachable: {' '.join(str(exc.orig).split())}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI is set: the PostgreSQL tests must run)")
        pytest.skip(message)
    yield f"{POSTGRES}/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


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


@pytest.fixture(scope="session")
def build_lake(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Any]:
    """``build_lake(name, paths)``: a lake under a fresh home with ``paths`` ingested (backfill),
    returned as its ``Settings``; the serving replica is built on first read."""
    from aurum.config import Settings
    from aurum.ingest.runner import backfill
    from aurum.lake.catalog import Lake
    from aurum.store import Store

    def build(name: str, paths: Sequence[Path], **overrides: Any) -> Settings:
        settings = Settings(home=tmp_path_factory.mktemp(name), **overrides)
        with Store.open(settings.store_url) as store:
            reports = backfill(list(paths), lake=Lake(settings), store=store, settings=settings)
        assert {r.status for r in reports} <= {"published", "duplicate"}, [
            (r.parse.file, r.status, r.error) for r in reports
        ]
        return settings

    return build


@pytest.fixture(scope="session")
def synthetic_days(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., list[Path]]:
    """``synthetic_days(vendor, first, n)``: the generator's workbooks for n business days."""
    from datetime import date

    from aurum.synthetic import business_days, workbook_name, write_workbook

    folder = tmp_path_factory.mktemp("synthetic")

    def write(vendor: str, first: date, days: int) -> list[Path]:
        return [
            path if (path := folder / workbook_name(vendor, day)).exists()
            else write_workbook(path, vendor=vendor, asof=day)
            for day in business_days(first, days)
        ]  # fmt: skip

    return write
