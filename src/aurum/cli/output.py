"""How ``aurum`` prints: one class for people (text, tables that fit the terminal) and one for
programs (JSON on stdout). Commands hand over data; the output decides how it looks.

Notes and warnings go to stderr in both, so stdout stays parseable JSON with ``--json``. Tables
fit the terminal (80 columns when it is not one): the widest columns are narrowed first, their
cells cut short with ``…``, but the last column's cells wrap; ``wide`` tables are printed whole,
however wide. Lines are never hard-wrapped, so a path in one
pastes as one.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

__all__ = ["JsonOutput", "Output", "TextOutput", "console", "errors", "fit"]

console = Console()
_LAST_AT_LEAST = 15  # characters a table's last (wrapping) column keeps in a narrow terminal
errors = Console(stderr=True)


def fit(widths: Sequence[int], total: int, *, least: int = 3) -> list[int]:
    """Column widths that fit ``total`` characters with one space between columns: the widest
    columns are cut first, to one level, so the short columns stay whole.

    >>> fit([8, 9, 27, 30], 60)
    [8, 9, 20, 20]
    >>> fit([8, 9], 80)
    [8, 9]
    """
    widths = list(widths)
    room = total - (len(widths) - 1)
    if sum(widths) <= room:
        return widths
    level = max(widths)
    while level > least and sum(min(w, level) for w in widths) > room:
        level -= 1
    fitted = [min(w, level) for w in widths]
    spare = room - sum(fitted)
    for i, width in enumerate(widths):  # what the level leaves over, left to right
        if spare > 0 and width > level:
            fitted[i] += 1
            spare -= 1
    return fitted


def _print(view: Table, *, width: int | None = None) -> None:
    """A table on stdout; into a file or a pipe without the spaces that pad its lines."""
    target = console if width is None else Console(width=width, highlight=False)
    if target.is_terminal:
        target.print(view)
        return
    with target.capture() as captured:
        target.print(view)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))


class Output(Protocol):
    def line(self, text: str) -> None:
        """A line of the command's answer (text mode only)."""

    def note(self, text: str) -> None:
        """Something a person should know, on stderr."""

    def rows(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        title: str = "",
        *,
        data: Any = None,
    ) -> None:
        """A table: rows of values under ``columns`` (``data``: what JSON prints instead)."""

    def data(self, value: Any) -> None:
        """The command's answer as data (JSON mode only)."""


class TextOutput:
    """For people: lines and tables."""

    def __init__(self, *, wide: bool = False) -> None:
        self.wide = wide

    def line(self, text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        errors.print(text, highlight=False, soft_wrap=True)

    def rows(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        title: str = "",
        *,
        data: Any = None,
    ) -> None:
        cells = [["" if v is None else str(v) for v in row] for row in rows]
        view = Table(*columns, title=title or None, box=None, collapse_padding=True,
                     pad_edge=False, highlight=False)  # fmt: skip
        for row in cells:
            view.add_row(*row)
        widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
        if self.wide:  # whole, however wide: a console as wide as the table
            _print(view, width=max(sum(widths) + len(widths), 20))
            return
        # The last column wraps: it keeps a little room, the others are fitted (cut) first.
        kept = min(widths[-1], _LAST_AT_LEAST)
        fitted = fit(widths[:-1], console.width - kept - 1) if len(widths) > 1 else []
        last = min(widths[-1], max(kept, console.width - sum(fitted) - len(fitted)))
        for column, width in zip(view.columns, [*fitted, last], strict=True):
            column.width, column.no_wrap, column.overflow = width, True, "ellipsis"
        view.columns[-1].no_wrap, view.columns[-1].overflow = False, "fold"
        _print(view)

    def data(self, value: Any) -> None:
        return None


class JsonOutput:
    """For programs: the answer as JSON on stdout, nothing else there."""

    def line(self, text: str) -> None:
        return None

    def note(self, text: str) -> None:
        errors.print(text, highlight=False, soft_wrap=True)

    def rows(
        self,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        title: str = "",
        *,
        data: Any = None,
    ) -> None:
        if data is None:
            data = [dict(zip(columns, row, strict=True)) for row in rows]
        self.data(data)

    def data(self, value: Any) -> None:
        print(json.dumps(value, indent=2, default=str))
