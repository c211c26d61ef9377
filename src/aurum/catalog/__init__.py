"""The data catalog: every dataset Aurum keeps, described for the people who look for data.

An entry is generated from the dataset's contract (``aurum.datasets``: columns with their docs
and units, partitioning, sort order, tag scheme, owner, retention, tenant ownership, lineage
through ``derived_from``) and from facts read from the lake's metadata (rows, published versions,
last publish, freshness per vendor). Nothing is written by hand, so the catalog cannot drift from
the tables.

The catalog is readable by every role of a tenant (it describes data; it is not the data), but
its facts are the caller's: counts and versions over the rows the access policy lets it read,
freshness of its entitled vendors only (``aurum.catalog.facts``).

Modules: ``lineage`` and ``search`` (pure, over contracts), ``entries`` (pure: an entry from a
contract and facts), ``facts`` (reads a table's metadata), ``service`` (:class:`Catalog`, what
``/v1/catalog`` and ``aurum catalog`` call).
"""

from aurum.catalog.entries import Entry, Facts, Freshness
from aurum.catalog.lineage import Edge
from aurum.catalog.service import Catalog

__all__ = ["Catalog", "Edge", "Entry", "Facts", "Freshness"]
