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

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum.feeds.lmp import FeedRows, PayloadError, assemble, table
from aurum.feeds.read import (
    day_column,
    each,
    epoch,
    load_json,
    order,
    ranks,
    read_csv,
    text_column,
    time_column,
)

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
    document = load_json(payload, SOURCE)
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
    return {
        "iso": "ERCOT", "market_run": run, "node": point, "node_type": _node_type(kind, point),
        "interval_start_utc": start, "interval_end_utc": end, "market_tz": ZONE,
        "operating_day": day, "hour_label": label, "lmp": price, "derived": derived,
        "units": "USD/MWh",
    }  # fmt: skip


def _node_type(kind: Any, point: str) -> str:
    return {"LZ": "load_zone", "HU": "hub", "HB": "hub", "RN": "resource_node"}.get(
        str(kind or point[:2]), "settlement_point"
    )


def _node_types(points: pa.Array) -> pa.Array:
    """``_node_type`` of each point (no type given: its first two letters decide)."""
    prefixes = ["LZ", "HU", "HB", "RN"]
    at = pc.index_in(pc.utf8_slice_codeunits(points, 0, 2), pa.array(prefixes))
    known = pa.array([_node_type(p, "") for p in prefixes])
    return pc.if_else(pc.is_null(at), "settlement_point", pc.take(known, at))


def _sced_time(text: str) -> datetime:
    return datetime.strptime(text.strip(), "%m/%d/%Y %H:%M:%S")


def parse_sced(payload: bytes) -> FeedRows:
    grid = read_csv(
        payload, f"{SOURCE} SCED",
        columns=["SCEDTimestamp", "RepeatedHourFlag", "SettlementPoint", "LMP"], numbers=["LMP"],
    )  # fmt: skip
    texts, text_at = grid.distinct("SCEDTimestamp")
    naive, bad = each(texts, text_at, _sced_time, datetime(1970, 1, 1))
    if bad is not None:
        text = texts[text_at[bad]]
        raise PayloadError(
            "time_invalid", f"{grid.where(bad)}: {text!r} is not MM/DD/YYYY HH:MM:SS"
        )
    flags, flag_at = grid.distinct("RepeatedHourFlag")
    fold_at = np.array([flag.strip() == "Y" for flag in flags], dtype=np.int64)[flag_at]
    starts = np.array(
        [[epoch(t.replace(tzinfo=_TZ, fold=f).astimezone(UTC)) for f in (0, 1)] for t in naive],
        dtype=np.int64,
    ).reshape(-1, 2)
    start_at = starts[text_at, fold_at]
    runs = np.unique(start_at)
    following = np.r_[runs[1:], runs[-1:] + int(SCED_PERIOD.total_seconds())]
    end_at = following[np.searchsorted(runs, start_at)]
    points, name_at = grid.names("SettlementPoint")
    rows = order(ranks(points)[name_at], start_at)
    last = start_at[rows] == runs[-1] if len(runs) else start_at[rows] > 0
    columns = {
        "iso": "ERCOT", "market_run": "RT",
        "node": text_column(points, name_at[rows]),
        "node_type": text_column(_node_types(points), name_at[rows]),
        "interval_start_utc": time_column(start_at[rows]),
        "interval_end_utc": time_column(end_at[rows]), "market_tz": ZONE,
        "operating_day": day_column(
            np.array([t.toordinal() for t in naive], dtype=np.int64)[text_at[rows]]
        ),
        "hour_label": text_column([t.strftime("%H:%M:%S") for t in naive], text_at[rows]),
        "lmp": grid.floats("LMP").take(rows),
        "derived": pc.if_else(pa.array(last), "interval_end", None), "units": "USD/MWh",
    }  # fmt: skip
    return FeedRows("lmp", assemble(len(rows), columns))
