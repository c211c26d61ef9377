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

import csv
import io
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from aurum.feeds.lmp import FeedRows, PayloadError, header_index, number, table, text_of

SOURCE = "NYISO LBMP CSV"
ZONE = "America/New_York"
_TIMES = ("%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S")
_COLUMNS = ["Time Stamp", "Name", "PTID", "LBMP ($/MWHr)", "Marginal Cost Losses ($/MWHr)",
            "Marginal Cost Congestion ($/MWHr)"]  # fmt: skip


def _local(text: str, where: str) -> datetime:
    for pattern in _TIMES:
        try:
            return datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    raise PayloadError("time_invalid", f"{where}: {text!r} is not MM/DD/YYYY HH:MM[:SS]")


def parse(payload: bytes, market_run: str = "DA") -> FeedRows:
    lines = [row for row in csv.reader(io.StringIO(text_of(payload, SOURCE))) if row]
    if not lines:
        raise PayloadError("payload_empty", f"{SOURCE}: no header")
    header, rows = lines[0], lines[1:]
    at = header_index(header, _COLUMNS, SOURCE)
    stamps = sorted({_local(r[at["Time Stamp"]], SOURCE) for r in rows})
    steps = {b - a for a, b in pairwise(stamps)} - {timedelta(0)}
    length = min(steps) if steps and min(steps) < timedelta(hours=1) else timedelta(hours=1)
    tz = ZoneInfo(ZONE)
    seen: Counter[tuple[str, datetime]] = Counter()
    records = []
    for line, row in enumerate(rows, start=2):
        where = f"{SOURCE} row {line}"
        if len(row) != len(header):
            raise PayloadError(
                "payload_truncated", f"{where}: {len(row)} fields, not {len(header)}"
            )
        local = _local(row[at["Time Stamp"]], where)
        name = row[at["Name"]].strip()
        fold = seen[name, local]  # 0 the first time (EDT on the fall-back day), 1 the second
        seen[name, local] += 1
        if fold > 1:
            raise PayloadError("interval_duplicated", f"{where}: {name} at {local} a third time")
        start = local.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if start.astimezone(tz).replace(tzinfo=None) != local:
            raise PayloadError("time_nonexistent", f"{where}: {local} does not exist in {ZONE}")
        lbmp = number(row[at["LBMP ($/MWHr)"]], where)
        loss = number(row[at["Marginal Cost Losses ($/MWHr)"]], where)
        published = number(row[at["Marginal Cost Congestion ($/MWHr)"]], where)
        congestion = None if published is None else 0.0 - published  # (never -0.0)
        energy = None if None in (lbmp, loss, congestion) else round(lbmp - loss - congestion, 6)  # type: ignore[operator]
        records.append({
            "iso": "NYISO", "market_run": market_run, "node": name,
            "node_type": "zone" if name not in ("H Q", "NPX", "O H", "PJM") else "external",
            "interval_start_utc": start, "interval_end_utc": start + length,
            "market_tz": ZONE, "operating_day": local.date(),
            "hour_label": row[at["Time Stamp"]].strip(),
            "lmp": lbmp, "energy": energy, "congestion": congestion, "loss": loss,
            "derived": "energy", "units": "USD/MWh",
        })  # fmt: skip
    return FeedRows("lmp", table(records))
