"""Every table Aurum keeps, as data: one contract per dataset, and nothing else restates them.

A :class:`Dataset` says what a table holds (its columns, each with a doc and, where a number has
one, a unit), how it is laid out (partition columns, sort order), how its versions are published
and named (a :class:`TagScheme`; ``None`` for an appended log), who owns it, how long its rows
and its time-travel snapshots are kept, and whether its rows belong to one tenant each. The lake
creates and evolves tables from contracts, write-audit-publish tags by them, maintenance applies
their retention, ``/v1/datasets`` serves them and ``aurum.catalog`` describes them, with their
lineage (``derived_from``).

The built-in contracts are in :mod:`aurum.datasets.curves`; a feature that adds a table adds a
contract (``scenario_output``, ``ppa_valuation``, ``iso_lmp`` ...), and a test may define its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from typing import Any

import pyarrow as pa

__all__ = ["Column", "Dataset", "Retention", "TagScheme"]

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_BRANCH_JUNK = re.compile(r"[^A-Za-z0-9_.]+")


@dataclass(frozen=True)
class Column:
    """One column: its Arrow type, what it means (``doc``) and, for a quantity, its unit."""

    name: str
    type: pa.DataType
    doc: str
    unit: str | None = None
    required: bool = False

    @property
    def field(self) -> pa.Field:
        metadata = {"doc": self.doc} | ({"unit": self.unit} if self.unit else {})
        return pa.field(self.name, self.type, nullable=not self.required, metadata=metadata)


@dataclass(frozen=True)
class TagScheme:
    """How published versions of a partition are named: ``{prefix}/{key values}/v{n}``, the
    values in ``keys`` order; the write-audit-publish branch of a run is named alike.

    >>> scheme = TagScheme("eod", ("vendor", "asof_date"))
    >>> scheme.tag({"asof_date": date(2025, 9, 17), "vendor": "RP"}, 2)
    'eod/RP/2025-09-17/v2'
    >>> scheme.parse("eod/RP/2025-09-17/v2"), scheme.parse("eod/RP/v2"), scheme.parse("main")
    (({'vendor': 'RP', 'asof_date': '2025-09-17'}, 2), None, None)
    >>> scheme.branch({"vendor": "RP", "asof_date": date(2025, 9, 17)}, "ab12")
    'eod_rp_20250917_ab12'
    >>> scheme.branch({"vendor": "RP", "asof_date": "2025-09-17"}, "ab12")  # as a run records it
    'eod_rp_20250917_ab12'

    A value holding ``/`` (an EIA series id) is written ``%2F`` so the tag still parses:

    >>> series = TagScheme("series", ("source", "series_id"))
    >>> series.tag({"source": "EIA", "series_id": "v2/rto:PACW:D"}, 1)
    'series/EIA/v2%2Frto:PACW:D/v1'
    >>> series.parse("series/EIA/v2%2Frto:PACW:D/v1")
    ({'source': 'EIA', 'series_id': 'v2/rto:PACW:D'}, 1)
    >>> series.branch({"source": "EIA", "series_id": "v2/rto:PACW:D"}, "ab12")
    'series_eia_v2_rto_pacw_d_ab12'
    """

    prefix: str
    keys: tuple[str, ...]

    def tag(self, partition: Mapping[str, Any], version: int) -> str:
        return f"{self.tag_prefix(partition)}{version}"

    def tag_prefix(self, partition: Mapping[str, Any]) -> str:
        """Every version's tag of ``partition`` starts with this (and ends with its number)."""
        values = "/".join(_escaped(_text(partition[key])) for key in self.keys)
        return f"{self.prefix}/{values}/v"

    def parse(self, name: str) -> tuple[dict[str, str], int] | None:
        """The partition (values as text) and version a tag names; ``None``: not one of ours."""
        parts = name.split("/")
        if len(parts) != len(self.keys) + 2 or parts[0] != self.prefix:
            return None
        version = parts[-1]
        if not (version.startswith("v") and version[1:].isdigit()):
            return None
        values = (part.replace("%2F", "/").replace("%25", "%") for part in parts[1:-1])
        return dict(zip(self.keys, values, strict=True)), int(version[1:])

    def branch(self, partition: Mapping[str, Any], run_id: str) -> str:
        """The write-audit-publish branch a run stages ``partition`` on."""
        values = "_".join(
            _BRANCH_JUNK.sub("_", _text(partition[key]).replace("-", "")).lower()
            for key in self.keys
        )
        return f"{self.prefix}_{values}_{run_id}"


@dataclass(frozen=True)
class Retention:
    """Rows whose ``column`` (a date or timestamp) is older than ``days`` are deleted by
    maintenance."""

    column: str
    days: float


@dataclass(frozen=True)
class Dataset:
    """The contract of one table (see the module docstring)."""

    name: str
    doc: str
    owner: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()
    # How published versions are tagged; None: an appended log (no versions, no gates).
    tags: TagScheme | None = None
    # The partition column that orders publications in time: an audit compares a publication
    # with the one before it in this order (the same other partition values).
    order_by: str | None = None
    retain_rows: Retention | None = None
    retain_snapshots_days: float = 7.0  # untagged snapshots stay readable (by time) this long
    tenant_owned: bool = False  # rows carry tenant_id: each tenant reads its own only
    # Whether /v1/datasets/{name}/rows serves its rows; if not, ``served_by`` says where they
    # are read (curves through /v1/curves, with its read model; the operational logs through
    # /v1/ingest, which applies the run log's visibility rules).
    serve_rows: bool = True
    served_by: str | None = None
    # Lineage: the datasets this one's rows are computed from or, for a log, the dataset whose
    # ingest writes it. The catalog reads these edges in both directions.
    derived_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        problems = []
        if not _NAME.match(self.name):
            problems.append(f"name {self.name!r} is not a lowercase identifier")
        if len(set(names)) != len(names):
            problems.append("a column is named twice")
        for group, wanted in (("partition_by", self.partition_by), ("sort_by", self.sort_by)):
            problems += [f"{group} names no column {n!r}" for n in wanted if n not in names]
        if self.tags is not None and set(self.tags.keys) != set(self.partition_by):
            problems.append("the tag scheme must name exactly the partition columns")
        if self.order_by is not None and self.order_by not in self.partition_by:
            problems.append("order_by must be a partition column")
        if self.tenant_owned and "tenant_id" not in names:
            problems.append("a tenant-owned dataset needs a tenant_id column")
        if self.retain_rows is not None and self.retain_rows.column not in names:
            problems.append(f"retain_rows names no column {self.retain_rows.column!r}")
        if self.name in self.derived_from or not all(map(_NAME.match, self.derived_from)):
            problems.append("derived_from must name other datasets")
        if problems:
            raise ValueError(f"dataset {self.name}: {'; '.join(problems)}")

    @cached_property
    def schema(self) -> pa.Schema:
        return pa.schema([column.field for column in self.columns])

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def published(self) -> bool:
        """Written by write-audit-publish, with versions (else appended as a log)."""
        return self.tags is not None

    def describe(self) -> dict[str, Any]:
        """The contract as JSON-ready data (``/v1/metadata/datasets``, the catalog)."""
        return {
            "name": self.name,
            "doc": self.doc,
            "owner": self.owner,
            "columns": [
                {
                    "name": c.name,
                    "type": str(c.type),
                    "doc": c.doc,
                    "unit": c.unit,
                    "required": c.required,
                }
                for c in self.columns
            ],
            "partition_by": list(self.partition_by),
            "sort_by": list(self.sort_by),
            "tag_scheme": (
                self.tags.tag_prefix({k: f"{{{k}}}" for k in self.tags.keys}) + "{n}"
                if self.tags
                else None
            ),
            "order_by": self.order_by,
            "retain_rows": (
                {"column": self.retain_rows.column, "days": self.retain_rows.days}
                if self.retain_rows
                else None
            ),
            "retain_snapshots_days": self.retain_snapshots_days,
            "tenant_owned": self.tenant_owned,
            "rows_served": self.serve_rows,
            "served_by": self.served_by,
            "derived_from": list(self.derived_from),
        }


def _escaped(text: str) -> str:
    return text.replace("%", "%25").replace("/", "%2F")


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
