"""One page of an answer, as every query service returns it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

__all__ = ["Page", "page_of"]


@dataclass(frozen=True)
class Page:
    """One page of an answer, pinned to the snapshot it was read from."""

    table: pa.Table
    snapshot_id: int
    has_more: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


def page_of(rows: pa.Table, pinned: int, limit: int, started: float, **extra: Any) -> Page:
    """The first ``limit`` of ``rows`` (read with one more, so ``has_more`` is known)."""
    return Page(
        table=rows.slice(0, limit),
        snapshot_id=pinned,
        has_more=rows.num_rows > limit,
        seconds=time.perf_counter() - started,
        extra=extra,
    )
