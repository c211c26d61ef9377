"""What the contract modules share besides fixtures: reading the CLI's and the API's answers, and
the workbooks a vendor might send (a corrected re-delivery, a damaged file, a bad cell)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import openpyxl

MID_SHEET, BIDASK_SHEET = "Fixed Prices - Mid", "Fixed Prices - BidAsk"
# The corrected re-delivery's cells and how far each moves (mid, bid and ask alike).
MOVES = {"C20": 0.5, "D30": 2.5, "E40": 1.5}


def expected_row(expected: list[dict[str, str]], name: str) -> dict[str, str]:
    """The workbook's row of ``EXPECTED.csv``."""
    return next(row for row in expected if row["file"] == name)


def ingested(installation: Any, *paths: Path) -> list[dict[str, Any]]:
    """``aurum ingest --json PATHS``: each file's summary (exit 1 is a file that failed)."""
    done = installation.cli("ingest", "--json", *(str(p) for p in paths))
    assert done.exit_code in (0, 1), done.output
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def corrected(source: Path, folder: Path) -> Path:
    """The vendor's correction of ``source`` (same name): each of ``MOVES`` moved."""
    target = folder / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    book = openpyxl.load_workbook(target)
    for cell, move in MOVES.items():
        book[MID_SHEET][cell].value += move
        bid, ask = (float(x) for x in book[BIDASK_SHEET][cell].value.split("/"))
        book[BIDASK_SHEET][cell].value = f"{bid + move:.3f}   /   {ask + move:.3f}"
    book.save(target)
    return target


def with_text_price(source: Path, folder: Path, cell: str) -> Path:
    """``source`` with one mid cell holding text instead of a price."""
    target = folder / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    book = openpyxl.load_workbook(target)
    book[MID_SHEET][cell].value = "n/a"
    book.save(target)
    return target


def truncated(source: Path, target: Path) -> Path:
    """The first half of ``source``'s bytes (a transfer cut short), as ``target``."""
    data = source.read_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data[: len(data) // 2])
    return target


def csv_rows(body: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))


def mid_total(rows: list[dict[str, str]]) -> float:
    """The sum of the rows' mids, rounded as EXPECTED.csv's ``sum_mid``."""
    return round(sum(float(r["mid"]) for r in rows if r["mid"]), 3)


def sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


_MAINTAINED = re.compile(
    r"^(?P<table>\w+): (?P<compacted>\d+) partition\(s\) compacted, (?P<expired>\d+) snapshot\(s\)"
    r" expired, (?P<past>\d+) row\(s\) past retention, (?P<orphans>\d+) orphan file\(s\) deleted",
    re.MULTILINE,
)


def maintained(output: str) -> dict[str, tuple[int, int, int]]:
    """``aurum maintenance``'s lines: table -> (partitions compacted, snapshots expired, orphan
    files deleted)."""
    return {
        m["table"]: (int(m["compacted"]), int(m["expired"]), int(m["orphans"]))
        for m in _MAINTAINED.finditer(output)
    }
