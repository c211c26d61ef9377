"""EIA: the API v2 JSON (``/v2/electricity/rto/...``: hourly demand, fuel mix) and the
"Wholesale Electricity Market Data" CSV layout in which EIA re-publishes ISO prices.

API v2 hourly ``period`` is UTC ``YYYY-MM-DDTHH``; EIA-930 labels an hour by its **end**, so an
observation covers ``period − 1 h`` to ``period``. ``total`` and ``value`` are strings; a page
shorter than ``total`` is refused as truncated (page with ``offset``).

The wholesale CSV has three lines of preamble, then UTC interval-*ending* timestamps beside local
ones (which repeat on the fall-back day: only the UTC column is monotonic) and, per hub, LMP,
congestion, energy and loss columns. A local day with fewer intervals than its hours is a gap,
warned about, not an error (EIA's ISO-NE file lacks 2023-11-04 HE21).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from aurum.feeds.lmp import FeedRows, PayloadError, local_hours, number, table, text_of
from aurum.feeds.series import series_table

SOURCE = "EIA"
_ZONES = {"Eastern Time": "America/New_York", "Pacific Time": "America/Los_Angeles",
          "Central Time": "America/Chicago", "Eastern Standard Time": "EST"}  # fmt: skip
_PART = re.compile(r"^(?P<hub>.+?) (?:LMP|\((?P<part>Congestion|Energy|Loss)\))$")


def parse_v2(payload: bytes) -> FeedRows:
    try:
        document = json.loads(text_of(payload, SOURCE))
    except json.JSONDecodeError as error:
        raise PayloadError("payload_truncated", f"{SOURCE}: not JSON ({error})") from None
    response = document.get("response")
    if not isinstance(response, dict) or "data" not in response:
        raise PayloadError("payload_error", f"{SOURCE}: no response.data: {str(document)[:200]}")
    rows = response["data"]
    if int(response.get("total", len(rows))) != len(rows) and not document.get("request", {}).get(
        "params", {}
    ).get("offset"):
        raise PayloadError(
            "payload_truncated",
            f"{SOURCE}: {len(rows)} rows of {response['total']}: page with offset",
        )
    hourly = response.get("frequency") == "hourly"
    route = document.get("request", {}).get("command", "").strip("/").replace("/data", "")
    records = []
    for row in rows:
        kind = row.get("type") or row.get("fueltype")
        series = f"{route}:{row.get('respondent')}:{kind}"
        value = None if row.get("value") in (None, "") else float(row["value"])
        if hourly:
            end = datetime.strptime(row["period"], "%Y-%m-%dT%H").replace(tzinfo=UTC)
            start = end - timedelta(hours=1)
            records.append(
                {
                    "source": "EIA",
                    "series_id": series,
                    "period": start.date(),
                    "interval_start_utc": start,
                    "interval_end_utc": end,
                    "value": value,
                    "units": row.get("value-units"),
                }
            )
        else:
            records.append(
                {
                    "source": "EIA",
                    "series_id": series,
                    "value": value,
                    "period": date.fromisoformat(row["period"][:10]),
                    "units": row.get("value-units"),
                }
            )
    return FeedRows("series_observation", series_table(records))


def parse_wholesale(payload: bytes, iso: str) -> FeedRows:
    lines = list(csv.reader(io.StringIO(text_of(payload, SOURCE))))
    heads = [i for i, row in enumerate(lines) if row and row[0].startswith("UTC Timestamp")]
    if not heads:
        raise PayloadError(
            "header_changed", f"{SOURCE} wholesale: no 'UTC Timestamp (Interval Ending)' header"
        )
    header = lines[heads[0]]
    zone = next((z for label, z in _ZONES.items() if label in header[1]), None)
    if zone is None:
        raise PayloadError(
            "header_changed", f"{SOURCE} wholesale: unknown local time in {header[1]!r}"
        )
    hubs: dict[str, dict[str, int]] = {}
    for i, name in enumerate(header[5:], start=5):
        match = _PART.match(name.strip())
        if match:
            hubs.setdefault(match["hub"], {})[(match["part"] or "LMP").lower()] = i
    body = [row for row in lines[heads[0] + 1 :] if row]
    ends = sorted({datetime.strptime(r[0], "%Y-%m-%d %H:%M:%S") for r in body})
    steps = [b - a for a, b in pairwise(ends) if b > a]
    length = min(steps) if steps else timedelta(hours=1)
    records, per_day = [], Counter()
    for line, row in enumerate(body, start=heads[0] + 2):
        where = f"{SOURCE} wholesale line {line}"
        if len(row) != len(header):
            raise PayloadError(
                "payload_truncated", f"{where}: {len(row)} fields, not {len(header)}"
            )
        end = datetime.strptime(row[0], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        day = date.fromisoformat(row[3])
        per_day[day] += 1
        for hub, at in hubs.items():
            records.append({
                "iso": iso, "market_run": "RT", "node": hub, "node_type": "hub",
                "interval_start_utc": end - length, "interval_end_utc": end, "market_tz": zone,
                "operating_day": day, "hour_label": row[4],
                "lmp": number(row[at["lmp"]], where) if "lmp" in at else None,
                "energy": number(row[at["energy"]], where) if "energy" in at else None,
                "congestion": number(row[at["congestion"]], where) if "congestion" in at else None,
                "loss": number(row[at["loss"]], where) if "loss" in at else None,
                "units": "USD/MWh",
            })  # fmt: skip
    warnings = []
    per_hour = timedelta(hours=1) // length
    for day, count in sorted(per_day.items()):
        expected = len(local_hours(day, zone)) * per_hour
        if count < expected:
            warnings.append(f"gap: {iso} {day} has {count} of its {expected} intervals")
    return FeedRows("lmp", table(records), warnings)
