"""NOAA GHCN-Daily: Climate Data Online "Daily Summaries" CSV and the CDO v2 API JSON (``data``
answers; a ``stations`` answer is station metadata, recognised, not observations).

Values stay in GHCND's raw units, named in ``units`` (PRCP tenths of mm, TMAX/TMIN tenths of
°C, SNOW/SNWD mm, AWND/WSF* tenths of m/s, WDF* degrees; WT* weather-type flags ``1``); ``-9999``
is missing. ``DATE`` is a local standard day, no time.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from aurum.feeds.lmp import FeedRows, PayloadError, text_of
from aurum.feeds.read import load_json
from aurum.feeds.series import series_table

SOURCE = "NOAA GHCND"
UNITS = {"PRCP": "0.1 mm", "SNOW": "mm", "SNWD": "mm", "TMAX": "0.1 degC", "TMIN": "0.1 degC",
         "TAVG": "0.1 degC", "AWND": "0.1 m/s", "WSF2": "0.1 m/s", "WSF5": "0.1 m/s",
         "WDF2": "degrees", "WDF5": "degrees", "FMTM": "hhmm"}  # fmt: skip


def parse_csv(payload: bytes) -> FeedRows:
    rows = [row for row in csv.reader(io.StringIO(text_of(payload, SOURCE))) if row]
    if not rows or rows[0][:3] != ["STATION", "STATION_NAME", "DATE"]:
        raise PayloadError(
            "header_changed", f"{SOURCE}: a Daily Summaries CSV starts STATION,STATION_NAME,DATE"
        )
    header = rows[0]
    records = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise PayloadError(
                "payload_truncated", f"{SOURCE} line {line}: {len(row)} fields, not {len(header)}"
            )
        try:
            day = datetime.strptime(row[2], "%Y%m%d").date()
        except ValueError:
            raise PayloadError(
                "time_invalid", f"{SOURCE} line {line}: {row[2]!r} is not YYYYMMDD"
            ) from None
        for name, text in zip(header[3:], row[3:], strict=True):
            value = None if text.strip() in ("", "-9999") else float(text)
            unit = UNITS.get(name, "flag" if name.startswith("WT") else None)
            records.append(
                {
                    "source": "NOAA",
                    "series_id": f"{row[0]}:{name}",
                    "period": day,
                    "value": value,
                    "units": unit,
                }
            )
    return FeedRows("series_observation", series_table(records))


def parse_v2(payload: bytes) -> FeedRows:
    document = load_json(payload, SOURCE)
    results = document.get("results", [])
    if results and "datatype" not in results[0] and "elevation" in results[0]:
        return FeedRows(
            "station_metadata",
            series_table([]),
            [f"{SOURCE}: {len(results)} stations, not observations"],
        )
    if not results:
        return FeedRows("empty", series_table([]), [f"{SOURCE}: no results"])
    records = [{
        "source": "NOAA", "series_id": f"{r['station']}:{r['datatype']}",
        "period": date.fromisoformat(r["date"][:10]),
        "value": None if r.get("value") in (None, -9999) else float(r["value"]),
        "units": UNITS.get(r["datatype"]),
    } for r in results]  # fmt: skip
    return FeedRows("series_observation", series_table(records))
