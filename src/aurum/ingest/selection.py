"""Which files are workbooks to ingest: one rule for ``aurum ingest``, ``backfill`` and ``watch``.

A workbook is a file whose name ends in ``.xlsx`` in any case (``.XLSX``, ``.Xlsx``). Never
taken, and always said why: Excel's lock files (``~$name.xlsx``, there while a workbook is open),
hidden files (``.name``) and files still being written (``*.tmp``, ``*.part``, ``*.partial``,
``*.crdownload``). A folder gives its own workbooks, in name order (as-of order for vendor names);
its subfolders only when ``recursive``. A file named on the command line is taken whatever its
suffix (the reader then says what it is, e.g. a legacy ``.xls``), unless it is a lock, hidden or
temporary file.

>>> skip_reason(Path("~$EOD_EUGP_20250218_1430.xlsx"))
'an Excel lock file (the workbook is open in Excel)'
>>> skip_reason(Path("EOD_EUGP_20250212_1430.XLSX")) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aurum.errors import Unknown

__all__ = ["Selection", "Skipped", "select_workbooks", "skip_reason"]

_TEMPORARY = (".tmp", ".part", ".partial", ".crdownload")


@dataclass(frozen=True)
class Skipped:
    """A file (or folder) left alone, and why."""

    path: Path
    reason: str


@dataclass
class Selection:
    files: list[Path] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Folders that gave no workbook at all, with how many subfolders were not searched.
    empty: list[tuple[Path, int]] = field(default_factory=list)
    # Subfolders not searched (no ``recursive``), of folders that did give workbooks.
    unsearched: int = 0


def skip_reason(path: Path, *, named: bool = False) -> str | None:
    """Why ``path`` is not a workbook to ingest, or ``None`` when it is one. ``named``: the
    caller named this file itself (any suffix is then taken)."""
    name = path.name
    if name.startswith("~$"):
        return "an Excel lock file (the workbook is open in Excel)"
    if name.startswith("."):
        return "a hidden file"
    if name.lower().endswith(_TEMPORARY):
        return "a temporary file (still being written)"
    if not named and path.suffix.lower() != ".xlsx":
        return "not an .xlsx file"
    return None


def select_workbooks(paths: Iterable[Path], *, recursive: bool = False) -> Selection:
    """The workbooks of ``paths`` (files and folders), what was skipped and why. A path that does
    not exist is an error (nothing is recorded for it), not a dead letter."""
    paths = list(paths)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise Unknown(
            "path_not_found", f"no such file or folder: {', '.join(missing)}", paths=missing
        )
    selection = Selection()
    for path in paths:
        if not path.is_dir():
            _take(selection, path, named=True)
            continue
        found = _folder(selection, path, recursive)
        subfolders = 0 if recursive else sum(1 for p in path.iterdir() if _visible_folder(p))
        if not found:
            selection.empty.append((path, subfolders))
        else:
            selection.unsearched += subfolders
    return selection


def _folder(selection: Selection, folder: Path, recursive: bool) -> int:
    entries = folder.rglob("*") if recursive else folder.iterdir()
    taken = []
    for entry in entries:
        relative = entry.relative_to(folder).parts
        if any(part.startswith(".") for part in relative[:-1]):
            continue  # inside a hidden folder (.git, .Trash): not a drop
        if entry.is_dir():
            continue
        if entry.is_file():
            taken.append(entry)
    before = len(selection.files)
    # name order first: as-of order across subfolders for vendor file names
    for entry in sorted(taken, key=lambda p: (p.name.lower(), str(p))):
        _take(selection, entry, named=False)
    return len(selection.files) - before


def _take(selection: Selection, path: Path, *, named: bool) -> None:
    reason = skip_reason(path, named=named)
    if reason is None:
        selection.files.append(path)
    else:
        selection.skipped.append(Skipped(path, reason))


def _visible_folder(path: Path) -> bool:
    return path.is_dir() and not path.name.startswith(".")
