"""FRED series observations: the API's JSON (``series/observations``, including ALFRED's
``output_type=4`` first releases with a real-time window per observation) and fredgraph CSV.

Values are strings; a missing one is ``"."`` in JSON and an empty cell in CSV (null either way).
``date`` is the period's start (the week's end for weekly series). ``realtime_start`` and
``realtime_end`` say when a value was the published one: the vintage, the as-at axis.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from aurum.feeds.lmp import FeedRows, PayloadError, text_of
from aurum.feeds.read import load_json
from aurum.feeds.series import series_table

SOURCE = "FRED"


def parse(payload: bytes, series_id: str) -> FeedRows:
    if payload.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{"):
        return _json(load_json(payload, SOURCE), series_id)
    return _csv(text_of(payload, SOURCE), series_id)


def _value(text: str | None, where: str) -> float | None:
    if text is None or text.strip() in ("", "."):
        return None
    try:
        return float(text)
    except ValueError:
        raise PayloadError("payload_invalid", f"{where}: {text!r} is not a number") from None


def _json(document: Any, series_id: str) -> FeedRows:
    if "error_code" in document or "observations" not in document:
        message = document.get("error_message", "no observations")
        raise PayloadError("payload_error", f"{SOURCE}: the answer is an error: {message}")
    records = []
    for observation in document["observations"]:
        where = f"{SOURCE} {series_id} {observation.get('date')}"
        records.append({
            "source": "FRED", "series_id": series_id,
            "period": date.fromisoformat(observation["date"]),
            "value": _value(observation.get("value"), where),
            "units": document.get("units"),
            "realtime_start": _day(observation.get("realtime_start")),
            "realtime_end": _day(observation.get("realtime_end")),
        })  # fmt: skip
    if (
        len(records) != document.get("count", len(records))
        and document.get("offset", 0) == 0
        and len(records) < document.get("limit", 0)
    ):
        raise PayloadError(
            "payload_truncated",
            f"{SOURCE}: {len(records)} observations, the answer says {document['count']}",
        )
    return FeedRows("series_observation", series_table(records))


def _day(text: str | None) -> date | None:
    if not text or text.startswith("9999"):
        return None  # 9999-12-31: still the published value
    return date.fromisoformat(text)


def _csv(text: str, series_id: str) -> FeedRows:
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if not rows or rows[0][0] not in ("observation_date", "DATE"):
        raise PayloadError(
            "header_changed", f"{SOURCE}: a fredgraph CSV starts with observation_date"
        )
    if series_id not in rows[0]:
        raise PayloadError(
            "header_changed", f"{SOURCE}: no column {series_id} (it has {rows[0][1:]})"
        )
    column = rows[0].index(series_id)
    records = [{
        "source": "FRED", "series_id": series_id, "period": date.fromisoformat(row[0]),
        "value": _value(row[column] if column < len(row) else None, f"{SOURCE} {row[0]}"),
    } for row in rows[1:]]  # fmt: skip
    return FeedRows("series_observation", series_table(records))
