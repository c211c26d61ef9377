"""PJM Data Miner 2 JSON API answers (``{links, items, searchSpecification, totalRows}``).

``items`` carry UTC hour-beginning times without an offset (``datetime_beginning_utc``). An
hourly LMP feed (``total_lmp_*``) gives LMP rows; ``da_marginal_value`` is **not** an LMP: it is
the shadow price of each (monitored facility, contingency) constraint per hour, returned as
series observations (``kind`` ``marginal_value``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from aurum.feeds.lmp import FeedRows, PayloadError
from aurum.feeds.read import load_json
from aurum.feeds.series import series_table

SOURCE = "PJM Data Miner 2 JSON"


def parse(payload: bytes) -> FeedRows:
    document = load_json(payload, SOURCE)
    items = document.get("items")
    if not isinstance(items, list):
        raise PayloadError("payload_error", f"{SOURCE}: no items: {str(document)[:200]}")
    if document.get("totalRows") is not None and document["totalRows"] > len(items):
        raise PayloadError(
            "payload_truncated",
            f"{SOURCE}: {len(items)} items of {document['totalRows']}: page with startRow",
        )
    if items and "shadow_price" in items[0]:
        records = []
        for item in items:
            start = datetime.fromisoformat(item["datetime_beginning_utc"]).replace(tzinfo=UTC)
            end = datetime.fromisoformat(item["datetime_ending_utc"]).replace(tzinfo=UTC)
            constraint = (
                f"{item['monitored_facility'].strip()}|{item['contingency_facility'].strip()}"
            )
            records.append({
                "source": "PJM", "period": start.date(),
                "interval_start_utc": start, "interval_end_utc": end,
                "series_id": f"da_marginal_value:{constraint}",
                "value": item["shadow_price"], "units": "USD/MWh",
            })  # fmt: skip
        return FeedRows("marginal_value", series_table(records))
    raise PayloadError(
        "payload_unknown",
        f"{SOURCE}: items with fields {sorted(items[0]) if items else []}"
        " are not a feed Aurum reads yet",
    )
