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

import re
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa

from aurum.feeds.lmp import FeedRows, PayloadError, assemble, local_hours
from aurum.feeds.read import day_column, each, epoch, load_json, read_csv, text_column, time_column
from aurum.feeds.series import series_table

SOURCE = "EIA"
_ZONES = {"Eastern Time": "America/New_York", "Pacific Time": "America/Los_Angeles",
          "Central Time": "America/Chicago", "Eastern Standard Time": "EST"}  # fmt: skip
_PART = re.compile(r"^(?P<hub>.+?) (?:LMP|\((?P<part>Congestion|Energy|Loss)\))$")


def parse_v2(payload: bytes) -> FeedRows:
    document = load_json(payload, SOURCE)
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


def _utc(text: str) -> int:
    return epoch(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC))


def parse_wholesale(payload: bytes, iso: str) -> FeedRows:
    source = f"{SOURCE} wholesale"
    hubs: dict[str, dict[str, str]] = {}

    def columns(header: list[str]) -> list[str]:
        for name in header[5:]:
            match = _PART.match(name.strip())
            if match:
                hubs.setdefault(match["hub"], {})[(match["part"] or "LMP").lower()] = name
        return [header[0], header[3], header[4], *prices(header)]

    def prices(header: list[str]) -> list[str]:
        return [name for parts in hubs.values() for name in parts.values()]

    grid = read_csv(
        payload, source, columns=columns, numbers=prices,
        is_header=lambda record: bool(record) and record[0].startswith("UTC Timestamp"),
        shape="UTC Timestamp (Interval Ending)",
    )  # fmt: skip
    header = grid.header
    zone = next((z for label, z in _ZONES.items() if label in header[1]), None)
    if zone is None:
        raise PayloadError("header_changed", f"{source}: unknown local time in {header[1]!r}")
    texts, text_at = grid.distinct(header[0])
    utc, bad = each(texts, text_at, _utc, 0)
    if bad is not None:
        text = texts[text_at[bad]]
        raise PayloadError(
            "time_invalid", f"{grid.where(bad)}: {text!r} is not YYYY-MM-DD HH:MM:SS"
        )
    dates, date_at = grid.distinct(header[3])
    days_, bad = each(dates, date_at, lambda text: date.fromisoformat(text).toordinal(), 0)
    if bad is not None:
        text = dates[date_at[bad]]
        raise PayloadError("time_invalid", f"{grid.where(bad)}: {text!r} is not a date")
    ends, ordinals = np.array(utc, dtype=np.int64), np.array(days_, dtype=np.int64)
    distinct_ends = np.unique(ends[np.unique(text_at)])
    steps = np.diff(distinct_ends)
    length = int(steps.min()) if len(steps) else 3600
    end_at = ends[text_at]
    rows = np.argsort(end_at, kind="stable")
    labels, label_at = grid.distinct(header[4])
    n = len(rows)
    columns_: dict[str, pa.Array | str] = {
        "iso": iso, "market_run": "RT",
        "node": text_column(sorted(hubs), np.repeat(np.arange(len(hubs)), n)),
        "node_type": "hub",
        "interval_start_utc": time_column(np.tile(end_at[rows] - length, len(hubs))),
        "interval_end_utc": time_column(np.tile(end_at[rows], len(hubs))),
        "market_tz": zone, "operating_day": day_column(np.tile(ordinals[date_at[rows]], len(hubs))),
        "hour_label": text_column(labels, np.tile(label_at[rows], len(hubs))),
        "units": "USD/MWh",
    }  # fmt: skip
    for part in ("lmp", "energy", "congestion", "loss"):
        columns_[part] = pa.concat_arrays(
            [
                grid.floats(hubs[hub][part]).take(rows)
                if part in hubs[hub]
                else pa.nulls(n, pa.float64())
                for hub in sorted(hubs)
            ]
            or [pa.nulls(0, pa.float64())]
        )
    warnings = []
    per_hour = 3600 // length
    days, per_day = np.unique(ordinals[date_at], return_counts=True)
    for ordinal, count in zip(days.tolist(), per_day.tolist(), strict=True):
        day = date.fromordinal(ordinal)
        expected = len(local_hours(day, zone)) * per_hour
        if count < expected:
            warnings.append(f"gap: {iso} {day} has {count} of its {expected} intervals")
    return FeedRows("lmp", assemble(n * len(hubs), columns_), warnings)
