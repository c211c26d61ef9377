"""Canonical interval rows of locational marginal prices, and what every parser shares.

One row per (node, market run, interval): ``interval_start_utc`` and ``interval_end_utc`` (UTC),
the market's time zone and the source's own hour label, the node with its type, the market run
(``DA`` or ``RT``), the LMP and its components in **one sign convention**:
``lmp = energy + congestion + loss (+ ghg, CAISO's MGHG)`` (NYISO publishes congestion with the
opposite sign; its
parser flips it). A component the source does not publish but the identity gives (MISO's and
NYISO's energy) is derived and flagged in ``derived``. Prices in ``units`` (``USD/MWh``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from aurum.errors import PayloadError

__all__ = [
    "LMP_SCHEMA", "FeedRows", "PayloadError", "assemble", "check_identity", "local_hours", "table",
]  # fmt: skip

LMP_SCHEMA = pa.schema([
    pa.field("iso", pa.string(), nullable=False),
    pa.field("market_run", pa.string(), nullable=False),
    pa.field("node", pa.string(), nullable=False),
    pa.field("node_type", pa.string()),
    pa.field("interval_start_utc", pa.timestamp("s", tz="UTC"), nullable=False),
    pa.field("interval_end_utc", pa.timestamp("s", tz="UTC"), nullable=False),
    pa.field("market_tz", pa.string(), nullable=False),
    pa.field("operating_day", pa.date32()),
    pa.field("hour_label", pa.string()),
    pa.field("lmp", pa.float64()),
    pa.field("energy", pa.float64()),
    pa.field("congestion", pa.float64()),
    pa.field("loss", pa.float64()),
    pa.field("ghg", pa.float64()),  # CAISO's greenhouse-gas component (MGHG), else null
    pa.field("derived", pa.string()),
    pa.field("units", pa.string(), nullable=False),
])  # fmt: skip
COLUMNS = LMP_SCHEMA.names


@dataclass
class FeedRows:
    """A parse: canonical rows, warnings (a gap in the source is one, not an error), and what
    the payload was (``kind``: ``lmp``, or a code for a payload that is not prices)."""

    kind: str
    rows: pa.Table
    warnings: list[str] = field(default_factory=list)


def table(records: Sequence[dict[str, Any]]) -> pa.Table:
    """``records`` (dicts with LMP_SCHEMA's names) as a table, sorted by node, run and time."""
    ordered = sorted(records, key=lambda r: (r["node"], r["market_run"], r["interval_start_utc"]))
    columns = {name: [r.get(name) for r in ordered] for name in COLUMNS}
    return pa.table(columns, schema=LMP_SCHEMA)


def assemble(num_rows: int, columns: Mapping[str, pa.Array | str]) -> pa.Table:
    """A table of LMP_SCHEMA from whole columns, already in ``table``'s order: a ``str`` is
    that value on every row, a column not given is null."""
    arrays = []
    for field_ in LMP_SCHEMA:
        given = columns.get(field_.name)
        if given is None:
            arrays.append(pa.nulls(num_rows, field_.type))
        elif isinstance(given, str):
            arrays.append(pa.repeat(given, num_rows))
        else:
            arrays.append(given.cast(field_.type))
    return pa.Table.from_arrays(arrays, schema=LMP_SCHEMA)


def rounded(values: pa.Array, digits: int) -> pa.Array:
    """``round(v, digits)`` of each value, exactly as Python rounds (to the nearest decimal of
    the value's exact binary value, ties to even), nulls kept. ``pyarrow.compute.round`` scales
    by ``10**digits`` and can land one unit in the last place away (50.089999999999996 for
    50.09); here the scaled value decides only where it is clearly off a tie, and Python
    rounds the few that are not.

    >>> rounded(pa.array([50.09, 2.675, None]), 2).to_pylist()
    [50.09, 2.67, None]
    """
    x = values.to_numpy(zero_copy_only=False).astype(np.float64)
    scale = 10.0**digits
    with np.errstate(invalid="ignore", over="ignore"):  # inf and nan go to Python below
        scaled = x * scale
        out = np.rint(scaled) / scale
        # x * scale is within half an ulp of the exact product: off a tie by more, rint is right
        tie = np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) <= np.abs(scaled) * 2.0**-50 + 1e-9
    unsure = np.flatnonzero((tie | ~(np.abs(scaled) < 2.0**52)) & ~np.isnan(x))
    for i in unsure:
        out[i] = round(float(x[i]), digits)
    return pa.array(out, pa.float64(), mask=values.is_null().to_numpy(zero_copy_only=False))


def local_hours(day: date, zone: str) -> list[tuple[datetime, datetime]]:
    """The UTC (start, end) of each hour of ``day`` in ``zone``: 23, 24 or 25 of them."""
    tz = ZoneInfo(zone)
    start = datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=tz).astimezone(UTC)
    hours = []
    at = start
    while at < end:
        hours.append((at, at + timedelta(hours=1)))
        at += timedelta(hours=1)
    return hours


def check_identity(rows: pa.Table, tolerance: float = 0.011) -> list[str]:
    """Rows where ``lmp`` differs from ``energy + congestion + loss`` by more than
    ``tolerance`` (the sources round each figure to 2 to 6 decimals), as messages."""
    bad = []
    for r in rows.to_pylist():
        parts = (r["energy"], r["congestion"], r["loss"])
        if r["lmp"] is None or any(p is None for p in parts):
            continue
        if abs(r["lmp"] - sum(parts) - (r["ghg"] or 0.0)) > tolerance:
            bad.append(f"{r['node']} {r['interval_start_utc']}: {r['lmp']} != {sum(parts)}")
    return bad


def number(text: str, where: str) -> float | None:
    """A price cell: ``''`` is missing; ``.92`` and ``-.94`` and space-padded are numbers."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise PayloadError("payload_invalid", f"{where}: {text!r} is not a number") from None


def text_of(payload: bytes, source: str) -> str:
    """A text payload: UTF-8 (a BOM dropped); an HTML page where data belongs is refused with
    what it says."""
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PayloadError("payload_not_text", f"{source}: the payload is not UTF-8 text") from None
    head = text.lstrip()[:200].lower()
    if head.startswith(("<html", "<!doctype html")):
        raise PayloadError(
            "payload_html", f"{source}: an HTML page where data belongs: {strip_tags(text)[:160]!r}"
        )
    return text


def strip_tags(text: str) -> str:
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def header_index(header: Sequence[str], wanted: Sequence[str], source: str) -> dict[str, int]:
    """Where each of ``wanted`` is in ``header`` (compared without case, spaces or ``_``)."""

    def key(name: str) -> str:
        return name.strip().strip('"').lower().replace(" ", "").replace("_", "")

    found = {key(name): i for i, name in enumerate(header)}
    missing = [name for name in wanted if key(name) not in found]
    if missing:
        raise PayloadError(
            "header_changed",
            f"{source}: the header lacks {', '.join(missing)} (it has: {', '.join(header)[:300]})",
            missing=missing,
        )
    return {name: found[key(name)] for name in wanted}
