"""Canonical rows of the other public feeds: observations of a series (FRED, EIA, NOAA), and
foreign-exchange reference rates (ECB).

A series observation has its period (a date: the period's start, or the week's end for weekly
FRED series), its value (null where the source says missing: FRED's ``"."``, NOAA's ``-9999``)
and, where the source versions its data (FRED/ALFRED vintages), the real-time window in which
that value was the published one: the as-at axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

__all__ = ["FX_SCHEMA", "SERIES_SCHEMA", "fx_table", "series_table"]

SERIES_SCHEMA = pa.schema([
    pa.field("source", pa.string(), nullable=False),
    pa.field("series_id", pa.string(), nullable=False),
    pa.field("period", pa.date32(), nullable=False),
    pa.field("interval_start_utc", pa.timestamp("s", tz="UTC")),  # sub-daily series only
    pa.field("interval_end_utc", pa.timestamp("s", tz="UTC")),
    pa.field("value", pa.float64()),
    pa.field("units", pa.string()),
    pa.field("realtime_start", pa.date32()),
    pa.field("realtime_end", pa.date32()),
])  # fmt: skip
FX_SCHEMA = pa.schema([
    pa.field("rate_date", pa.date32(), nullable=False),
    pa.field("base", pa.string(), nullable=False),
    pa.field("currency", pa.string(), nullable=False),
    pa.field("rate", pa.float64(), nullable=False),  # units of currency per 1 base
    pa.field("source", pa.string(), nullable=False),
])  # fmt: skip


def series_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    ordered = sorted(
        records, key=lambda r: (r["series_id"], r["period"], r.get("realtime_start") or r["period"])
    )
    return pa.table(
        {n: [r.get(n) for r in ordered] for n in SERIES_SCHEMA.names}, schema=SERIES_SCHEMA
    )


def fx_table(records: Sequence[dict[str, Any]]) -> pa.Table:
    ordered = sorted(records, key=lambda r: (r["rate_date"], r["currency"]))
    return pa.table({n: [r.get(n) for r in ordered] for n in FX_SCHEMA.names}, schema=FX_SCHEMA)
