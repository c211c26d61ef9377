"""MISO day-ahead ex-post LMPs (``YYYYMMDD_da_expost_lmp.csv``): a preamble, then one row per
(node, value: LMP, MCC or MLC) with 24 hour-ending columns.

MISO's hours are **Eastern Standard Time all year** (no DST: always HE1–HE24), so an hour ending
``h`` is ``day 00:00 EST + h`` hours. The marginal energy component is not published: it is
derived as ``LMP − MCC − MLC``.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum.feeds.lmp import FeedRows, PayloadError, assemble, rounded
from aurum.feeds.read import day_column, epoch, ranks, read_csv, text_column, time_column

SOURCE = "MISO DA ex-post LMP CSV"
EST = timezone(timedelta(hours=-5), "EST")
_HOURS = [f"HE {h}" for h in range(1, 25)]
_VALUES = ("LMP", "MCC", "MLC")


def _columns(header: list[str]) -> list[str]:
    hours = [c for c in header[3:] if c.strip()]
    if hours != _HOURS:
        raise PayloadError(
            "hours_invalid",
            f"{SOURCE}: the hours are {hours[:3]}…{hours[-2:]}, not HE 1..HE 24"
            " (MISO is EST all year)",
        )
    return ["Node", "Type", "Value", *_HOURS]


def parse(payload: bytes, market_run: str = "DA") -> FeedRows:
    grid = read_csv(
        payload, SOURCE, columns=_columns, numbers=_HOURS,
        is_header=lambda record: record[:3] == ["Node", "Type", "Value"],
        skip_row=lambda text: not text.split(",", 1)[0].strip(),
        shape="Node,Type,Value,HE 1..HE 24",
    )  # fmt: skip
    try:
        day = datetime.strptime(grid.preamble[1][0].strip(), "%m/%d/%Y").date()
    except (IndexError, ValueError):
        raise PayloadError(
            "header_changed", f"{SOURCE}: line 2 is not the market day MM/DD/YYYY"
        ) from None
    nodes, name_at = grid.names("Node")
    kept = np.flatnonzero(pc.not_equal(nodes, "").to_numpy(zero_copy_only=False)[name_at])
    values, value_at = grid.distinct("Value")
    codes = np.array([_code(v.strip()) for v in values], dtype=np.int64)
    unknown = np.flatnonzero(codes[value_at[kept]] < 0) if len(kept) else kept
    if len(unknown):
        row = int(kept[unknown[0]])
        raise PayloadError(
            "value_unknown",
            f"{grid.where(row)}: value {values[value_at[row]].strip()!r} is not LMP, MCC or MLC",
        )
    used, node_of = np.unique(ranks(nodes)[name_at[kept]], return_inverse=True)
    node_of = node_of.reshape(-1)
    named = nodes.take(pa.array(name_at[kept][np.unique(node_of, return_index=True)[1]]))
    last = np.full((len(used), len(_VALUES)), -1, dtype=np.int64)  # a repeated row wins
    np.maximum.at(last, (node_of, codes[value_at[kept]]), kept)
    kinds, kind_at = grid.names("Type")
    last_row = np.full(len(named), -1, dtype=np.int64)
    np.maximum.at(last_row, node_of, kept)
    matrix = np.column_stack([_values(grid.floats(h)) for h in _HOURS])
    valid = np.column_stack([grid.floats(h).is_valid().to_numpy(zero_copy_only=False)
                             for h in _HOURS])  # fmt: skip
    parts = {}
    for code, name in enumerate(_VALUES):
        rows = last[:, code]
        got = matrix[rows].reshape(-1)
        missing = ((rows < 0)[:, None] | ~valid[rows]).reshape(-1)
        parts[name] = (got, missing)
    (lmp, no_lmp), (mcc, no_mcc), (mlc, no_mlc) = parts.values()
    energy = rounded(pa.array(lmp - mcc - mlc, mask=no_lmp | no_mcc | no_mlc), 6)
    midnight = epoch(datetime(day.year, day.month, day.day, tzinfo=EST))
    start = np.tile(midnight + 3600 * np.arange(24, dtype=np.int64), len(named))
    each = np.repeat(np.arange(len(named)), 24)
    columns = {
        "iso": "MISO", "market_run": market_run,
        "node": text_column(named, each),
        "node_type": text_column(pc.utf8_lower(kinds), kind_at[last_row[each]]),
        "interval_start_utc": time_column(start), "interval_end_utc": time_column(start + 3600),
        "market_tz": "EST",
        "operating_day": day_column(np.full(len(each), day.toordinal(), dtype=np.int64)),
        "hour_label": text_column(_HOURS, np.tile(np.arange(24), len(named))),
        "lmp": pa.array(lmp, mask=no_lmp), "energy": energy,
        "congestion": pa.array(mcc, mask=no_mcc), "loss": pa.array(mlc, mask=no_mlc),
        "derived": "energy", "units": "USD/MWh",
    }  # fmt: skip
    return FeedRows("lmp", assemble(len(each), columns))


def _code(value: str) -> int:
    return _VALUES.index(value) if value in _VALUES else -1


def _values(column: pa.Array) -> np.ndarray:
    values: np.ndarray = column.to_numpy(zero_copy_only=False).astype(np.float64)
    return values
