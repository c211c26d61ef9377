"""NYISO zonal LBMP CSVs (``damlbmp_zone``, ``rtlbmp_zone``, 5-minute ``realtime_zone``).

``Time Stamp`` is the interval *beginning* in Eastern prevailing time, with no zone or DST flag:
on the fall-back day the 01:00 hour appears twice, the first being EDT and the second EST, so row
order decides; on the spring day 02:00 is absent. Quoted and unquoted variants, a leading empty
line, ``HH:MM`` or ``HH:MM:SS`` all occur.

NYISO publishes congestion with the opposite sign: ``LBMP = energy + losses − congestion``. The
canonical rows flip it (``congestion = −published``), so ``lmp = energy + congestion + loss``
holds as for every other ISO; energy is not published and is derived from that identity.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum.feeds.lmp import FeedRows, PayloadError, assemble, rounded
from aurum.feeds.read import (
    day_column,
    each,
    epoch,
    occurrences,
    order,
    ranks,
    read_csv,
    text_column,
    time_column,
    time_of,
)

SOURCE = "NYISO LBMP CSV"
ZONE = "America/New_York"
_TIMES = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
_SHAPE = "MM/DD/YYYY HH:MM[:SS]"
_COLUMNS = ["Time Stamp", "Name", "PTID", "LBMP ($/MWHr)", "Marginal Cost Losses ($/MWHr)",
            "Marginal Cost Congestion ($/MWHr)"]  # fmt: skip
_EXTERNAL = ("H Q", "NPX", "O H", "PJM")


def _time(text: str) -> datetime:
    return time_of(text, _TIMES, SOURCE, _SHAPE)


def parse(payload: bytes, market_run: str = "DA") -> FeedRows:
    grid = read_csv(payload, SOURCE, columns=_COLUMNS, numbers=_COLUMNS[3:])
    texts, text_at = grid.distinct("Time Stamp")
    parsed, bad = each(texts, text_at, _time, datetime(1970, 1, 1))
    if bad is not None:
        time_of(texts[text_at[bad]], _TIMES, grid.where(bad), _SHAPE)  # raises time_invalid
    stamps = sorted(set(parsed))
    steps = {b - a for a, b in pairwise(stamps)} - {timedelta(0)}
    length = min(steps) if steps and min(steps) < timedelta(hours=1) else timedelta(hours=1)
    place = {stamp: i for i, stamp in enumerate(stamps)}
    local_at = np.array([place[stamp] for stamp in parsed], dtype=np.int64)[text_at]
    nodes, name_at = grid.names("Name")
    node_rank = ranks(nodes)[name_at]
    fold = occurrences(node_rank * len(stamps) + local_at)
    if len(fold) and fold.max() > 1:  # the fall-back hour twice is EDT then EST; a third is not
        row = int(np.argmax(fold > 1))
        raise PayloadError(
            "interval_duplicated",
            f"{grid.where(row)}: {nodes[name_at[row]].as_py()} at {stamps[local_at[row]]}"
            " a third time",
        )
    tz = ZoneInfo(ZONE)
    starts = np.zeros((len(stamps), 2), dtype=np.int64)
    missing = np.zeros((len(stamps), 2), dtype=bool)
    for i, local in enumerate(stamps):
        for f in (0, 1):
            start = local.replace(tzinfo=tz, fold=f).astimezone(UTC)
            starts[i, f] = epoch(start)
            missing[i, f] = start.astimezone(tz).replace(tzinfo=None) != local
    nonexistent = missing[local_at, fold]
    if nonexistent.any():
        row = int(np.argmax(nonexistent))
        raise PayloadError(
            "time_nonexistent",
            f"{grid.where(row)}: {stamps[local_at[row]]} does not exist in {ZONE}",
        )
    start_at = starts[local_at, fold]
    rows = order(node_rank, start_at)
    start = start_at[rows]
    lbmp = grid.floats("LBMP ($/MWHr)").take(rows)
    loss = grid.floats("Marginal Cost Losses ($/MWHr)").take(rows)
    congestion = pc.subtract(0.0, grid.floats("Marginal Cost Congestion ($/MWHr)").take(rows))
    columns = {
        "iso": "NYISO", "market_run": market_run,
        "node": text_column(nodes, name_at[rows]),
        "node_type": text_column(
            pc.if_else(pc.is_in(nodes, pa.array(_EXTERNAL)), "external", "zone"), name_at[rows]
        ),
        "interval_start_utc": time_column(start),
        "interval_end_utc": time_column(start + int(length.total_seconds())),
        "market_tz": ZONE,
        "operating_day": day_column(
            np.array([s.toordinal() for s in stamps], dtype=np.int64)[local_at[rows]]
        ),
        "hour_label": text_column([t.strip() for t in texts], text_at[rows]),
        "lmp": lbmp, "congestion": congestion, "loss": loss,
        "energy": rounded(pc.subtract(pc.subtract(lbmp, loss), congestion), 6),
        "derived": "energy", "units": "USD/MWh",
    }  # fmt: skip
    return FeedRows("lmp", assemble(len(rows), columns))
