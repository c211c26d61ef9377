"""ERCOT: the public API's JSON (``api.ercot.com/api/public-reports/...``: positional ``data``
rows in ``fields`` order) and the MIS SCED LMP CSV (``LMPSROSNODENP6788``); an empty API answer
and an MIS document listing are recognised, not parsed as prices.

Times are Central prevailing. API settlement point prices (NP6-905) are 15-minute intervals:
``deliveryHour`` is the hour *ending* 1..24 and ``deliveryInterval`` 1..4 its quarter; on the
fall-back day the repeated hour carries ``DSTFlag`` true (its second pass, CST). Day-ahead
prices (NP4-190) have ``hourEnding`` ``"01:00"``…``"24:00"``. ERCOT prices are settlement
point prices: ``lmp`` with no published components.

SCED runs are irregular (about every 5 minutes, at the second the run ended). An interval starts
at its run's ``SCEDTimestamp`` and ends at the next run's timestamp in the same payload; the last
run of a payload ends 5 minutes later (the nominal SCED period), which ``derived`` says.
``RepeatedHourFlag`` Y marks the fall-back hour's second pass.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from aurum.feeds.lmp import FeedRows, PayloadError, header_index, number, table, text_of

SOURCE = "ERCOT"
ZONE = "America/Chicago"
_TZ = ZoneInfo(ZONE)
SCED_PERIOD = timedelta(minutes=5)


def classify(payload: bytes) -> str | None:
    """``empty`` (an API answer with no records: the API holds days from 2023-12-11 only),
    ``document_listing`` (an MIS report listing, not data), or None."""
    head = payload[:400].decode("utf-8", "replace")
    if "ListDocsByRptTypeRes" in head:
        return "document_listing"
    if '"totalRecords":0' in head.replace(" ", ""):
        return "empty"
    return None


def _local(day: date, minutes: int, repeated: bool, where: str) -> datetime:
    naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minutes)
    start = naive.replace(tzinfo=_TZ, fold=1 if repeated else 0).astimezone(UTC)
    if start.astimezone(_TZ).replace(tzinfo=None) != naive:
        raise PayloadError("time_nonexistent", f"{where}: {naive} does not exist in {ZONE}")
    return start


def parse_api(payload: bytes) -> FeedRows:
    kind = classify(payload)
    if kind is not None:
        return FeedRows(kind, table([]), [f"{SOURCE}: the answer is {kind.replace('_', ' ')}"])
    try:
        document = json.loads(text_of(payload, SOURCE))
    except json.JSONDecodeError as error:
        raise PayloadError("payload_truncated", f"{SOURCE}: not JSON ({error})") from None
    names = [f["name"] for f in document.get("fields", [])]
    meta = document.get("_meta", {})
    rows = document.get("data", [])
    if (
        meta.get("totalRecords") is not None
        and meta.get("totalPages") == 1
        and len(rows) != meta["totalRecords"]
    ):
        raise PayloadError(
            "payload_truncated",
            f"{SOURCE}: {len(rows)} rows, the answer says {meta['totalRecords']}",
        )
    at = {name: i for i, name in enumerate(names)}
    price = "settlementPointPrice"
    if price not in at or "deliveryDate" not in at or "settlementPoint" not in at:
        raise PayloadError(
            "header_changed", f"{SOURCE}: fields {names} lack the settlement point price"
        )
    quarter = "deliveryInterval" in at
    records = []
    for i, row in enumerate(rows):
        where = f"{SOURCE} row {i + 1}"
        if len(row) != len(names):
            raise PayloadError("payload_truncated", f"{where}: {len(row)} values, not {len(names)}")
        day = date.fromisoformat(row[at["deliveryDate"]])
        repeated = bool(row[at["DSTFlag"]]) if "DSTFlag" in at else False
        if quarter:
            hour, part = int(row[at["deliveryHour"]]), int(row[at["deliveryInterval"]])
            minutes, length, label = (
                (hour - 1) * 60 + (part - 1) * 15,
                timedelta(minutes=15),
                f"HE{hour:02d} Q{part}",
            )
        else:
            label = str(row[at["hourEnding"]])
            minutes, length = (int(label.split(":")[0]) - 1) * 60, timedelta(hours=1)
        start = _local(day, minutes, repeated, where)
        point = str(row[at["settlementPoint"]])
        records.append(
            _record(
                point,
                row[at.get("settlementPointType", -1)] if "settlementPointType" in at else None,
                start,
                start + length,
                day,
                label,
                float(row[at[price]]),
                "RT" if quarter else "DA",
            )
        )
    return FeedRows("lmp", table(records))


def _record(
    point: str, kind: Any, start: datetime, end: datetime, day: date, label: str,
    price: float | None, run: str, derived: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    node_type = {"LZ": "load_zone", "HU": "hub", "HB": "hub", "RN": "resource_node"}.get(
        str(kind or point[:2]), "settlement_point"
    )
    return {
        "iso": "ERCOT", "market_run": run, "node": point, "node_type": node_type,
        "interval_start_utc": start, "interval_end_utc": end, "market_tz": ZONE,
        "operating_day": day, "hour_label": label, "lmp": price, "derived": derived,
        "units": "USD/MWh",
    }  # fmt: skip


def parse_sced(payload: bytes) -> FeedRows:
    reader = csv.reader(io.StringIO(text_of(payload, SOURCE)))
    header = next(reader, None)
    if not header:
        raise PayloadError("payload_empty", f"{SOURCE} SCED: no header")
    at = header_index(
        header, ["SCEDTimestamp", "RepeatedHourFlag", "SettlementPoint", "LMP"], SOURCE
    )
    parsed = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        where = f"{SOURCE} SCED line {line}"
        if len(row) != len(header):
            raise PayloadError(
                "payload_truncated", f"{where}: {len(row)} fields, not {len(header)}"
            )
        try:
            naive = datetime.strptime(row[at["SCEDTimestamp"]].strip(), "%m/%d/%Y %H:%M:%S")
        except ValueError:
            raise PayloadError(
                "time_invalid", f"{where}: {row[at['SCEDTimestamp']]!r} is not MM/DD/YYYY HH:MM:SS"
            ) from None
        repeated = row[at["RepeatedHourFlag"]].strip() == "Y"
        start = naive.replace(tzinfo=_TZ, fold=1 if repeated else 0).astimezone(UTC)
        parsed.append(
            (row[at["SettlementPoint"]].strip(), start, naive, number(row[at["LMP"]], where))
        )
    runs = sorted({start for _, start, _, _ in parsed})
    following = dict(pairwise(runs))
    records = []
    for point, start, naive, price in parsed:
        end = following.get(start, start + SCED_PERIOD)
        derived = None if start in following else "interval_end"
        label = naive.strftime("%H:%M:%S")
        records.append(_record(point, None, start, end, naive.date(), label, price, "RT", derived))
    return FeedRows("lmp", table(records))
