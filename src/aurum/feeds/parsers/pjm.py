"""PJM Data Miner 2 hourly LMP exports (``da_hrl_lmps``, ``rt_hrl_lmps`` as CSV).

Hour-beginning times in both UTC (``datetime_beginning_utc``) and EPT; the UTC column is the
truth (EPT repeats and skips an hour on DST days). ``total_lmp = system_energy_price +
congestion_price + marginal_loss_price``. Only rows with ``row_is_current`` True are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pyarrow.compute as pc

from aurum.feeds.lmp import FeedRows, PayloadError, assemble
from aurum.feeds.read import (
    day_column,
    dictionary,
    each,
    epoch,
    order,
    ranks,
    read_csv,
    text_column,
    time_column,
)

SOURCE = "PJM Data Miner 2 CSV"
ZONE = "America/New_York"
_TIME = "%m/%d/%Y %I:%M:%S %p"
_PARTS = {"lmp": "total_lmp", "energy": "system_energy_price", "congestion": "congestion_price",
          "loss": "marginal_loss_price"}  # fmt: skip


def _run(header: list[str]) -> str:
    return "da" if any(h.endswith("_da") for h in header) else "rt"


def _prices(header: list[str]) -> list[str]:
    return [f"{name}_{_run(header)}" for name in _PARTS.values()]


def _columns(header: list[str]) -> list[str]:
    return ["datetime_beginning_utc", "datetime_beginning_ept", "pnode_name", "type",
            *_prices(header), "row_is_current"]  # fmt: skip


def parse(payload: bytes) -> FeedRows:
    grid = read_csv(payload, SOURCE, columns=_columns, numbers=_prices)
    run = _run(grid.header)
    current, current_at = grid.distinct("row_is_current")
    is_current = np.array([v.strip().lower() == "true" for v in current], dtype=bool)
    kept = np.flatnonzero(is_current[current_at]) if current else current_at
    utc, utc_at = grid.distinct("datetime_beginning_utc")
    ept, ept_at = grid.distinct("datetime_beginning_ept")
    utc_at, ept_at = utc_at[kept], ept_at[kept]
    starts, bad = _times(utc, utc_at, lambda t: epoch(t.replace(tzinfo=UTC)))
    days, bad_ept = _times(ept, ept_at, datetime.toordinal)
    if bad is not None or bad_ept is not None:
        row = min(r for r in (bad, bad_ept) if r is not None)
        raise PayloadError(
            "time_invalid",
            f"{grid.where(int(kept[row]))}: {utc[utc_at[row]]!r} is not M/D/YYYY h:mm:ss AM",
        )
    nodes, node_at = dictionary(grid.columns["pnode_name"])  # (not stripped)
    types, type_at = dictionary(grid.columns["type"])
    lower = pc.utf8_lower(types)
    by = order(ranks(nodes)[node_at[kept]], starts[utc_at])
    rows = kept[by]
    start = starts[utc_at[by]]
    columns = {
        "iso": "PJM", "market_run": run.upper(),
        "node": text_column(nodes, node_at[rows]),
        "node_type": text_column(pc.if_else(pc.equal(lower, ""), None, lower), type_at[rows]),
        "interval_start_utc": time_column(start), "interval_end_utc": time_column(start + 3600),
        "market_tz": ZONE, "operating_day": day_column(days[ept_at[by]]),
        "hour_label": text_column(ept, ept_at[by]),
        **{part: grid.floats(f"{name}_{run}").take(rows) for part, name in _PARTS.items()},
        "units": "USD/MWh",
    }  # fmt: skip
    return FeedRows("lmp", assemble(len(rows), columns))


def _times(
    values: list[str], used: np.ndarray, value: Callable[[datetime], int]
) -> tuple[np.ndarray, int | None]:
    """Each distinct time read by ``_TIME`` and given to ``value``, and the first of the rows
    ``used`` whose time cannot be read."""
    out, bad = each(values, used, lambda text: value(datetime.strptime(text, _TIME)), 0)
    return np.array(out, dtype=np.int64), bad
