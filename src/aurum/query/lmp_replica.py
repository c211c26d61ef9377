"""The ISO prices read model: a snapshot's ``iso_lmp`` rows in memory, sorted and indexed by
(ISO, market run, node), so a node's month is a slice, not an Iceberg scan of thirty files.

A snapshot is immutable, so its rows never go stale: the replica of the newest snapshots read
is kept (:data:`KEEP`, least recently used first out) and built on the first read of a new one
(one scan; the next reads cost microseconds). A table larger than ``max_rows`` is not held in
memory: its reads scan Iceberg with the filters pushed down, as before (``None`` here).

>>> rows = pa.table({"iso": ["PJM"] * 3, "market_run": ["DA"] * 3, "node": ["B", "A", "A"],
...                  "operating_day": [date(2025, 5, d) for d in (1, 2, 1)],
...                  "interval_start_utc": [3, 2, 1]})
>>> replica = Indexed.of(rows)
>>> replica.rows("PJM", "DA", ["A"], date(2025, 5, 1), date(2025, 5, 1))["interval_start_utc"]
<pyarrow.lib.ChunkedArray object at ...>
[
  [
    1
  ]
]
>>> replica.rows("PJM", "DA", [], date(2025, 5, 1), date(2025, 5, 2)).num_rows
3
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aurum.formats import json_rows

__all__ = ["KEEP", "Indexed", "LmpReplicas"]

KEEP = 2  # snapshots held: the newest and the one before (a read pinned by a cursor)
CHUNKS = 20_000  # node-days of JSON kept per snapshot (~24-300 rows each)
_ORDER = ("iso", "market_run", "node", "interval_start_utc")


@dataclass(frozen=True)
class Indexed:
    """One snapshot's rows sorted by (iso, market run, node, interval), with where each
    (iso, market run, node) starts and how many rows it has."""

    table: pa.Table
    index: dict[tuple[str, str, str], tuple[int, int]]
    # JSON of a node's day (its rows, given columns), made on first use: a month is 30 joins
    _chunks: OrderedDict[tuple[object, ...], bytes] = field(default_factory=OrderedDict)
    _days: dict[tuple[str, str, str], list[tuple[date, int, int]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def of(cls, rows: pa.Table) -> Indexed:
        table = rows.sort_by([(c, "ascending") for c in _ORDER]).combine_chunks()
        index: dict[tuple[str, str, str], tuple[int, int]] = {}
        keys = zip(*(table[c].to_pylist() for c in _ORDER[:3]), strict=True)
        for at, key in enumerate(keys):
            start, count = index.get(key, (at, 0))
            index[key] = (start, count + 1)
        return cls(table, index)

    def rows(
        self, iso: str, market_run: str, nodes: Sequence[str], first: date, last: date
    ) -> pa.Table:
        """The rows of ``nodes`` (every node of the ISO when empty) on ``first``..``last``."""
        wanted = (
            [(iso, market_run, node) for node in nodes]
            if nodes
            else sorted(k for k in self.index if k[0] == iso and k[1] == market_run)
        )
        parts = [self.table.slice(*self.index[k]) for k in wanted if k in self.index]
        if not parts:
            return self.table.slice(0, 0)
        found = pa.concat_tables(parts)
        days = found["operating_day"]
        inside = pc.and_(pc.greater_equal(days, pa.scalar(first, days.type)),
                         pc.less_equal(days, pa.scalar(last, days.type)))  # fmt: skip
        return found.filter(inside)

    def json(
        self, iso: str, market_run: str, nodes: Sequence[str], first: date, last: date,
        columns: Sequence[str],
    ) -> tuple[bytes, int]:  # fmt: skip
        """``rows(...)`` in node then interval order, ``columns`` only, as the JSON array
        ``orjson.dumps(json_rows(...))`` would make (and the row count), joined from each
        node-day's JSON, made once per snapshot."""
        keys = sorted(
            {(iso, market_run, node) for node in nodes}
            if nodes
            else {k for k in self.index if k[0] == iso and k[1] == market_run}
        )
        parts, total = [], 0
        for key in keys:
            for day, start, count in self._days_of(key):
                if first <= day <= last:
                    parts.append(self._chunk(key, day, start, count, tuple(columns)))
                    total += count
        return b"[" + b",".join(parts) + b"]", total

    def _days_of(self, key: tuple[str, str, str]) -> list[tuple[date, int, int]]:
        found = self._days.get(key)
        if found is None:
            found = []
            if key in self.index:
                start, count = self.index[key]
                days = self.table["operating_day"].slice(start, count).to_pylist()
                for at, day in enumerate(days, start=start):
                    if found and found[-1][0] == day:
                        found[-1] = (day, found[-1][1], found[-1][2] + 1)
                    else:
                        found.append((day, at, 1))
            self._days[key] = found
        return found

    def _chunk(
        self, key: tuple[str, str, str], day: date, start: int, count: int,
        columns: tuple[str, ...],
    ) -> bytes:  # fmt: skip
        name = (*key, day, columns)
        with self._lock:
            found = self._chunks.get(name)
            if found is not None:
                self._chunks.move_to_end(name)
                return found
        rows = self.table.slice(start, count).select(list(columns))
        found = orjson.dumps(json_rows(rows), option=orjson.OPT_NON_STR_KEYS)[1:-1]
        with self._lock:
            self._chunks[name] = found
            while len(self._chunks) > CHUNKS:
                self._chunks.popitem(last=False)
        return found


class LmpReplicas:
    """The :class:`Indexed` rows of the last :data:`KEEP` snapshots read, built on demand."""

    def __init__(self, max_rows: int = 5_000_000) -> None:
        self.max_rows = max_rows
        self._held: OrderedDict[int, Indexed | None] = OrderedDict()
        self._lock = threading.Lock()
        self._building: dict[int, threading.Lock] = {}

    def get(
        self, snapshot_id: int, rows_of: Callable[[], int], scan: Callable[[], pa.Table]
    ) -> Indexed | None:
        """The snapshot's replica (``None``: the table has more than ``max_rows`` rows, as
        ``rows_of`` counts them from the metadata, and is read by scans instead)."""
        with self._lock:
            if snapshot_id in self._held:
                self._held.move_to_end(snapshot_id)
                return self._held[snapshot_id]
            building = self._building.setdefault(snapshot_id, threading.Lock())
        with building:  # one build per snapshot, however many requests wait for it
            with self._lock:
                if snapshot_id in self._held:
                    return self._held[snapshot_id]
            built = Indexed.of(scan()) if rows_of() <= self.max_rows else None
            with self._lock:
                self._held[snapshot_id] = built
                while len(self._held) > KEEP:
                    self._held.popitem(last=False)
                self._building.pop(snapshot_id, None)
            return built
