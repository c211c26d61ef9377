"""SPP day-ahead LMP by settlement location (``DA-LMP-SL-*.csv``), both header styles.

``Interval`` is the hour *ending* in Central prevailing time (HE24 written as the next day's
00:00); ``GMTIntervalEnd`` the UTC end, which is the truth. ``LMP = MEC + MCC + MLC``. The newer
files have a ``BAA`` column; older ones do not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow.compute as pc

from aurum.feeds.lmp import FeedRows, assemble
from aurum.feeds.read import (
    day_column,
    each,
    epoch,
    order,
    ranks,
    read_csv,
    text_column,
    time_column,
    time_of,
)

SOURCE = "SPP DA-LMP-SL CSV"
ZONE = "America/Chicago"
_TIMES = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")
_SHAPE = "MM/DD/YYYY HH:MM[:SS]"
_HOUR = timedelta(hours=1)
_PARTS = {"lmp": "LMP", "energy": "MEC", "congestion": "MCC", "loss": "MLC"}


def _time(text: str) -> datetime:
    return time_of(text, _TIMES, SOURCE, _SHAPE)


def parse(payload: bytes, market_run: str = "DA") -> FeedRows:
    grid = read_csv(
        payload,
        SOURCE,
        columns=["Interval", "GMTIntervalEnd", "Settlement Location", "LMP", "MLC", "MCC", "MEC"],
        numbers=list(_PARTS.values()),
    )
    gmt, gmt_at = grid.distinct("GMTIntervalEnd")
    local, local_at = grid.distinct("Interval")
    ends, bad = each(gmt, gmt_at, lambda t: epoch(_time(t).replace(tzinfo=UTC)), 0)
    days, bad_local = each(local, local_at, lambda t: (_time(t) - _HOUR).toordinal(), 0)
    if bad is not None or bad_local is not None:
        row = min(r for r in (bad, bad_local) if r is not None)
        for text in (gmt[gmt_at[row]], local[local_at[row]]):  # raises time_invalid, naming
            time_of(text, _TIMES, grid.where(row), _SHAPE)  # the line
    ends, days = np.array(ends, dtype=np.int64), np.array(days, dtype=np.int64)
    nodes, name_at = grid.names("Settlement Location")
    rows = order(ranks(nodes)[name_at], ends[gmt_at])
    end = ends[gmt_at[rows]]
    columns = {
        "iso": "SPP", "market_run": market_run,
        "node": text_column(nodes, name_at[rows]),
        "node_type": text_column(
            pc.if_else(pc.ends_with(nodes, "_HUB"), "hub", "settlement_location"), name_at[rows]
        ),
        "interval_start_utc": time_column(end - 3600), "interval_end_utc": time_column(end),
        "market_tz": ZONE, "operating_day": day_column(days[local_at[rows]]),
        "hour_label": text_column([t.strip() for t in local], local_at[rows]),
        **{part: grid.floats(name).take(rows) for part, name in _PARTS.items()},
        "units": "USD/MWh",
    }  # fmt: skip
    return FeedRows("lmp", assemble(len(rows), columns))
