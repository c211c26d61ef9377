"""SPP day-ahead LMP by settlement location (``DA-LMP-SL-*.csv``), both header styles.

``Interval`` is the hour *ending* in Central prevailing time (HE24 written as the next day's
00:00); ``GMTIntervalEnd`` the UTC end, which is the truth. ``LMP = MEC + MCC + MLC``. The newer
files have a ``BAA`` column; older ones do not.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from aurum.feeds.lmp import FeedRows, PayloadError, header_index, number, table, text_of

SOURCE = "SPP DA-LMP-SL CSV"
ZONE = "America/Chicago"
_TIMES = ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M")


def _time(text: str, where: str) -> datetime:
    for pattern in _TIMES:
        try:
            return datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
    raise PayloadError("time_invalid", f"{where}: {text!r} is not MM/DD/YYYY HH:MM[:SS]")


def parse(payload: bytes, market_run: str = "DA") -> FeedRows:
    reader = csv.reader(io.StringIO(text_of(payload, SOURCE)))
    header = next(reader, None)
    if not header:
        raise PayloadError("payload_empty", f"{SOURCE}: no header")
    at = header_index(
        header,
        ["Interval", "GMTIntervalEnd", "Settlement Location", "LMP", "MLC", "MCC", "MEC"],
        SOURCE,
    )
    records = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        where = f"{SOURCE} line {line}"
        if len(row) != len(header):
            raise PayloadError(
                "payload_truncated", f"{where}: {len(row)} fields, not {len(header)}"
            )
        end = _time(row[at["GMTIntervalEnd"]], where).replace(tzinfo=UTC)
        local_end = _time(row[at["Interval"]], where)
        node = row[at["Settlement Location"]].strip()
        records.append({
            "iso": "SPP", "market_run": market_run, "node": node,
            "node_type": "hub" if node.endswith("_HUB") else "settlement_location",
            "interval_start_utc": end - timedelta(hours=1), "interval_end_utc": end,
            "market_tz": ZONE, "operating_day": (local_end - timedelta(hours=1)).date(),
            "hour_label": row[at["Interval"]].strip(),
            "lmp": number(row[at["LMP"]], where), "energy": number(row[at["MEC"]], where),
            "congestion": number(row[at["MCC"]], where), "loss": number(row[at["MLC"]], where),
            "units": "USD/MWh",
        })  # fmt: skip
    return FeedRows("lmp", table(records))
