"""ISO-NE SMD hourly data (a load zone's sheet of ``YYYY_smd_hourly.xlsx``, as CSV).

``Hr_End`` is the hour *ending* in Eastern prevailing time, as a zero-padded string: on the
spring day there is no ``02`` (23 hours), on the fall-back day the repeated hour is ``02X``
(25 hours: ``01, 02, 02X, 03 …``). Each row holds the day-ahead and the real-time prices:
``LMP = EC + CC + MLC``. A label missing from a day is a gap (a warning), not an error.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from aurum.feeds.lmp import (
    FeedRows,
    PayloadError,
    header_index,
    local_hours,
    number,
    table,
    text_of,
)

SOURCE = "ISO-NE SMD hourly CSV"
ZONE = "America/New_York"


def labels(hours: int) -> list[str]:
    """The hour-ending labels of a day of ``hours`` hours."""
    plain = [f"{h:02d}" for h in range(1, 25)]
    if hours == 23:
        return [label for label in plain if label != "02"]
    if hours == 25:
        return ["01", "02", "02X", *plain[2:]]
    return plain


def parse(payload: bytes, node: str) -> FeedRows:
    reader = csv.reader(io.StringIO(text_of(payload, SOURCE)))
    header = next(reader, None)
    if not header:
        raise PayloadError("payload_empty", f"{SOURCE}: no header")
    runs = {
        "DA": ("DA_LMP", "DA_EC", "DA_CC", "DA_MLC"),
        "RT": ("RT_LMP", "RT_EC", "RT_CC", "RT_MLC"),
    }
    at = header_index(header, ["Date", "Hr_End", *runs["DA"], *runs["RT"]], SOURCE)
    by_day: dict[date, dict[str, list[str]]] = {}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            day = date.fromisoformat(row[at["Date"]].strip())
        except ValueError:
            raise PayloadError(
                "time_invalid", f"{SOURCE} line {line}: {row[at['Date']]!r} is not a date"
            ) from None
        label = row[at["Hr_End"]].strip()
        if label in by_day.setdefault(day, {}):
            raise PayloadError(
                "interval_duplicated", f"{SOURCE} line {line}: {day} hour {label} twice"
            )
        by_day[day][label] = row
    records, warnings = [], []
    for day, rows in sorted(by_day.items()):
        hours = local_hours(day, ZONE)
        expected = labels(len(hours))
        unknown = sorted(set(rows) - set(expected))
        if unknown:
            raise PayloadError(
                "hours_invalid",
                f"{SOURCE}: {day} has {len(hours)} hours in {ZONE}, not hours {', '.join(unknown)}",
            )
        gaps = [label for label in expected if label not in rows]
        if gaps:
            warnings.append(f"gap: {node} {day} has no hour ending {', '.join(gaps)}")
        for label, (start, end) in zip(expected, hours, strict=True):
            if label not in rows:
                continue
            row = rows[label]
            where = f"{SOURCE} {day} {label}"
            for run, (lmp, ec, cc, mlc) in runs.items():
                records.append({
                    "iso": "ISONE", "market_run": run, "node": node, "node_type": "zone",
                    "interval_start_utc": start, "interval_end_utc": end, "market_tz": ZONE,
                    "operating_day": day, "hour_label": label,
                    "lmp": number(row[at[lmp]], where), "energy": number(row[at[ec]], where),
                    "congestion": number(row[at[cc]], where), "loss": number(row[at[mlc]], where),
                    "units": "USD/MWh",
                })  # fmt: skip
    return FeedRows("lmp", table(records), warnings)
