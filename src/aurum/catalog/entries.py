"""A catalog entry: a dataset's contract, the facts of its table as one caller may know them,
its lineage, and (for a search) the columns that matched.

Everything that describes the data comes from the contract (``Dataset.describe``: it is not
restated here); the facts come from the lake (``aurum.catalog.facts``), already scoped to the
caller. This module only puts them together, so it is pure and tested with values.

>>> from datetime import date
>>> from aurum.datasets.curves import CURVE_OBSERVATION
>>> facts = Facts(snapshot_id=7, rows=120, versions=3, partitions=2, snapshots=4,
...               freshness=(Freshness("RP", date(2025, 9, 16), 2),))
>>> found = Entry(CURVE_OBSERVATION, facts, upstream=(), downstream=()).describe()
>>> found["tag_scheme"]
{'prefix': 'eod', 'keys': ['vendor', 'asof_date'], 'pattern': 'eod/{vendor}/{asof_date}/v{n}'}
>>> found["facts"]["rows"], found["facts"]["freshness"], found["matched_columns"]
(120, [{'vendor': 'RP', 'newest': '2025-09-16', 'age_days': 2}], None)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aurum.catalog.lineage import Edge
from aurum.datasets import Dataset

__all__ = ["Entry", "Facts", "Freshness"]


@dataclass(frozen=True)
class Freshness:
    """A vendor's newest published ``order_by`` value (the as-of day) and its age in days."""

    vendor: str
    newest: date
    age_days: int


@dataclass(frozen=True)
class Facts:
    """What the lake says about a dataset at main's current snapshot, counted over the rows the
    caller may read (``counted_over``: the access policy's ``row_scope``, empty: every row).

    ``versions`` and ``partitions`` are the published versions (tags) and the partitions they
    name that the caller sees (``None``: an appended log has none); ``snapshots`` are main's
    states kept for time travel (``None`` when the caller's view is limited: main's history
    holds every tenant's and vendor's commits). ``last_published`` is the newest visible
    version's commit; for a log, its last append by any run, given when the caller sees any of
    its rows (``None``: nothing the caller sees)."""

    snapshot_id: int | None
    rows: int
    versions: int | None = None
    partitions: int | None = None
    snapshots: int | None = None
    last_published: datetime | None = None
    freshness: tuple[Freshness, ...] = ()
    counted_over: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def describe(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "rows": self.rows,
            "versions": self.versions,
            "partitions": self.partitions,
            "snapshots": self.snapshots,
            "last_published": self.last_published.isoformat() if self.last_published else None,
            "freshness": [
                {"vendor": f.vendor, "newest": f.newest.isoformat(), "age_days": f.age_days}
                for f in self.freshness
            ],
            "counted_over": {column: list(values) for column, values in self.counted_over},
        }


@dataclass(frozen=True)
class Entry:
    """One dataset in the catalog; ``matched_columns`` is ``None`` unless it answers a search."""

    dataset: Dataset
    facts: Facts
    upstream: tuple[Edge, ...]
    downstream: tuple[Edge, ...]
    matched_columns: tuple[str, ...] | None = field(default=None)

    @property
    def name(self) -> str:
        return self.dataset.name

    def describe(self) -> dict[str, Any]:
        """The entry as JSON-ready data: the contract's own description (``tag_scheme`` given
        as prefix, keys and pattern), then ``facts``, ``lineage`` and ``matched_columns``."""
        contract = self.dataset.describe()
        tags = self.dataset.tags
        return {
            **contract,
            "tag_scheme": (
                {"prefix": tags.prefix, "keys": list(tags.keys), "pattern": contract["tag_scheme"]}
                if tags
                else None
            ),
            "facts": self.facts.describe(),
            "lineage": {
                "upstream": [{"dataset": e.upstream, "kind": e.kind} for e in self.upstream],
                "downstream": [{"dataset": e.downstream, "kind": e.kind} for e in self.downstream],
            },
            "matched_columns": (
                None if self.matched_columns is None else list(self.matched_columns)
            ),
        }
