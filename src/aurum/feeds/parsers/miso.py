"""MISO day-ahead ex-post LMPs (``YYYYMMDD_da_expost_lmp.csv``): a preamble, then one row per
(node, value: LMP, MCC or MLC) with 24 hour-ending columns.

MISO's hours are **Eastern Standard Time all year** (no DST: always HE1–HE24), so an hour ending
``h`` is ``day 00:00 EST + h`` hours. The marginal energy component is not published: it is
derived as ``LMP − MCC − MLC``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, timezone

from aurum.feeds.lmp import FeedRows, PayloadError, number, table, text_of

SOURCE = "MISO DA ex-post LMP CSV"
EST = timezone(timedelta(hours=-5), "EST")


def parse(payload: bytes, market_run: str = "DA") -> FeedRows:
    lines = list(csv.reader(io.StringIO(text_of(payload, SOURCE))))
    try:
        day = datetime.strptime(lines[1][0].strip(), "%m/%d/%Y").date()
    except (IndexError, ValueError):
        raise PayloadError(
            "header_changed", f"{SOURCE}: line 2 is not the market day MM/DD/YYYY"
        ) from None
    heads = [i for i, row in enumerate(lines) if row[:3] == ["Node", "Type", "Value"]]
    if not heads:
        raise PayloadError("header_changed", f"{SOURCE}: no 'Node,Type,Value,HE 1..HE 24' header")
    header = lines[heads[0]]
    hours = [c for c in header[3:] if c.strip()]
    if hours != [f"HE {h}" for h in range(1, 25)]:
        raise PayloadError(
            "hours_invalid",
            f"{SOURCE}: the hours are {hours[:3]}…{hours[-2:]}, not HE 1..HE 24"
            " (MISO is EST all year)",
        )
    values: dict[tuple[str, int], dict[str, float | None]] = {}
    types: dict[str, str] = {}
    for line, row in enumerate(lines[heads[0] + 1 :], start=heads[0] + 2):
        if not row or not row[0].strip():
            continue
        where = f"{SOURCE} line {line}"
        if len(row) < 27:
            raise PayloadError("payload_truncated", f"{where}: {len(row)} fields, not 27")
        node, kind, value = row[0].strip(), row[1].strip(), row[2].strip()
        if value not in ("LMP", "MCC", "MLC"):
            raise PayloadError("value_unknown", f"{where}: value {value!r} is not LMP, MCC or MLC")
        types[node] = kind.lower()
        for hour in range(1, 25):
            values.setdefault((node, hour), {})[value] = number(row[2 + hour], where)
    midnight = datetime(day.year, day.month, day.day, tzinfo=EST)
    records = []
    for (node, hour), got in values.items():
        lmp, mcc, mlc = got.get("LMP"), got.get("MCC"), got.get("MLC")
        start = (midnight + timedelta(hours=hour - 1)).astimezone(UTC)
        energy = None if None in (lmp, mcc, mlc) else round(lmp - mcc - mlc, 6)  # type: ignore[operator]
        records.append({
            "iso": "MISO", "market_run": market_run, "node": node, "node_type": types[node],
            "interval_start_utc": start, "interval_end_utc": start + timedelta(hours=1),
            "market_tz": "EST", "operating_day": day, "hour_label": f"HE {hour}",
            "lmp": lmp, "energy": energy, "congestion": mcc, "loss": mlc,
            "derived": "energy", "units": "USD/MWh",
        })  # fmt: skip
    return FeedRows("lmp", table(records))
