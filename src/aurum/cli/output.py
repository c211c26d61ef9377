"""How ``aurum`` prints: one class for people (text, tables that fit the terminal) and one for
programs (JSON on stdout). Commands hand over data; the output decides how it looks.

Notes and warnings go to stderr in both, so stdout stays parseable JSON with ``--json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

__all__ = ["JsonOutput", "Output", "TextOutput", "console", "errors"]

console = Console()
errors = Console(stderr=True)


class Output(Protocol):
    def line(self, text: str) -> None:
        """A line of the command's answer (text mode only)."""

    def note(self, text: str) -> None:
        """Something a person should know, on stderr."""

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
        """A table: rows of values under ``columns``."""

    def data(self, value: Any) -> None:
        """The command's answer as data (JSON mode only)."""


class TextOutput:
    """For people: lines and tables."""

    def line(self, text: str) -> None:
        console.print(text, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        errors.print(text, highlight=False, soft_wrap=True)

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
        view = Table(*columns, title=title or None, box=None)
        for column in view.columns[:-1]:  # the last column wraps: the table fits the terminal
            column.no_wrap = True
        for row in rows:
            view.add_row(*("" if v is None else str(v) for v in row))
        console.print(view)

    def data(self, value: Any) -> None:
        return None


class JsonOutput:
    """For programs: the answer as JSON on stdout, nothing else there."""

    def line(self, text: str) -> None:
        return None

    def note(self, text: str) -> None:
        errors.print(text, highlight=False, soft_wrap=True)

    def rows(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
        self.data([dict(zip(columns, row, strict=True)) for row in rows])

    def data(self, value: Any) -> None:
        print(json.dumps(value, indent=2, default=str))
