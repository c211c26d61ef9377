"""The catalog service: every dataset of a lake as an entry, for one caller, searchable.

The entries are generated, never written: the contracts say what each dataset is and where it
comes from, the lake's metadata how much of it there is and how fresh it is. The facts of a
table are remembered per table state (its metadata file: every commit writes a new one), caller
scope and day, so asking again costs one catalog lookup per dataset until something is
published.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime

from aurum.auth.access import Access
from aurum.catalog.entries import Entry, Facts
from aurum.catalog.facts import Scope, read_facts, scope_of
from aurum.catalog.lineage import Edge, downstream, lineage_edges, upstream
from aurum.catalog.search import matched_columns, words
from aurum.datasets import Dataset
from aurum.lake.catalog import Lake

__all__ = ["Catalog"]


def _utc_today() -> date:
    return datetime.now(UTC).date()


class Catalog:
    """The data catalog of one lake (its built-in datasets and any the lake was given)."""

    def __init__(
        self, lake: Lake, *, today: Callable[[], date] = _utc_today, remembered: int = 512
    ) -> None:
        """``today``: the day freshness ages count to (UTC); ``remembered``: how many tables'
        facts are kept before the memory starts again."""
        self.lake = lake
        self.today = today
        self.remembered = remembered
        self._facts: dict[tuple[str, Scope, date], Facts] = {}
        self._lock = threading.Lock()

    def entries(self, access: Access, query: str | None = None) -> list[Entry]:
        """Every dataset, by name, or those every word of ``query`` matches (in its name, doc,
        column names or column docs), each saying which columns matched."""
        wanted = words(query)
        datasets = [self.lake.datasets[name] for name in sorted(self.lake.datasets)]
        edges = lineage_edges(datasets)
        found = []
        for dataset in datasets:
            matched = matched_columns(dataset, wanted)
            if matched is not None:
                found.append(self._entry(dataset, access, edges, matched if wanted else None))
        return found

    def entry(self, name: str, access: Access) -> Entry:
        """``name``'s entry (404 ``dataset_unknown`` for any other name)."""
        dataset = self.lake.dataset(name)
        return self._entry(dataset, access, lineage_edges(self.lake.datasets.values()), None)

    def facts(self, dataset: Dataset, access: Access) -> Facts:
        """``dataset``'s facts at main's current snapshot, over the rows ``access`` may read."""
        table = self.lake.current(dataset.name)
        scope = scope_of(dataset, access)
        today = self.today()
        key = (table.metadata_location, scope, today)
        found = self._facts.get(key)
        if found is None:
            found = read_facts(table, dataset, scope, today=today)
            with self._lock:
                if len(self._facts) >= self.remembered:
                    self._facts.clear()
                self._facts[key] = found
        return found

    def _entry(
        self,
        dataset: Dataset,
        access: Access,
        edges: tuple[Edge, ...],
        matched: tuple[str, ...] | None,
    ) -> Entry:
        return Entry(
            dataset,
            self.facts(dataset, access),
            upstream=upstream(edges, dataset.name),
            downstream=downstream(edges, dataset.name),
            matched_columns=matched,
        )
