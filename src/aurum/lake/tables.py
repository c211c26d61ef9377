"""Aurum's Iceberg tables, defined once: schema (with column docs), partitioning, sort order.

``curve_observation`` is the published contract (``aurum.ingest.schema``); the side tables are
logs keyed by run: what was quarantined, which files were dead-lettered, every rule's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression

from aurum.ingest.schema import CURVE_OBSERVATION, QUARANTINE

__all__ = ["CURVE_OBSERVATION_TABLE", "TABLES", "TableDef", "all_of"]


def _field(name: str, kind: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, kind, nullable=nullable, metadata={"doc": doc})


_RUN = _field("run_id", pa.string(), "Ingest run that wrote the row (see `aurum runs`).", False)


@dataclass(frozen=True)
class TableDef:
    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    sort_by: tuple[str, ...]
    doc: str


CURVE_OBSERVATION_TABLE = TableDef(
    "curve_observation",
    CURVE_OBSERVATION,
    ("asof_date", "vendor"),
    ("curve_key", "tenor_label"),
    "One row per (curve, tenor, as-of): published only through write-audit-publish.",
)

TABLES: tuple[TableDef, ...] = (
    CURVE_OBSERVATION_TABLE,
    TableDef(
        "curve_observation_quarantine",
        QUARANTINE.append(_RUN),
        ("asof_date", "vendor"),
        ("curve_key", "tenor_label"),
        "Rows held back, with the reason and the cell they came from.",
    ),
    TableDef(
        "curve_dead_letter",
        pa.schema(
            [
                _RUN,
                _field("file", pa.string(), "File name as delivered.", False),
                _field("sha256", pa.string(), "SHA-256 of the file, when it could be read."),
                _field("vendor", pa.string(), "Vendor, when the file name tells it."),
                _field("error_code", pa.string(), "Stable error code.", False),
                _field("message", pa.string(), "What was wrong, for a person.", False),
                _field("diagnostics", pa.string(), "JSON facts that help fix the file.", False),
                _field("raw_path", pa.string(), "Where the raw file is archived."),
                _field("failed_at", pa.timestamp("us", tz="UTC"), "When it failed (UTC).", False),
            ]
        ),
        (),
        (),
        "Files that could not be ingested at all (aurum.ingest.error.v1).",
    ),
    TableDef(
        "qa_checks",
        pa.schema(
            [
                _RUN,
                _field("vendor", pa.string(), "Vendor of the run's file."),
                _field("asof_date", pa.date32(), "As-of date of the run's file."),
                _field("rule", pa.string(), "Rule or gate name.", False),
                _field("stage", pa.string(), "parse (row rules) or gate (day-over-day).", False),
                _field("severity", pa.string(), "quarantine, warn or fail.", False),
                _field("failed", pa.int64(), "Rows (or curves) failing it.", False),
                _field("checked", pa.int64(), "Rows (or curves) checked.", False),
                _field("sample_keys", pa.list_(pa.string()), "Up to five failing keys.", False),
                _field("checked_at", pa.timestamp("us", tz="UTC"), "When (UTC).", False),
            ]
        ),
        (),
        (),
        "Every rule's and gate's outcome in every run: the quality history.",
    ),
)


def all_of(conditions: Iterable[BooleanExpression]) -> BooleanExpression:
    """A scan filter that holds when every condition does (none: every row).

    >>> all_of([])
    AlwaysTrue()
    """
    expression: BooleanExpression = AlwaysTrue()
    for condition in conditions:
        expression = condition if isinstance(expression, AlwaysTrue) else And(expression, condition)
    return expression
