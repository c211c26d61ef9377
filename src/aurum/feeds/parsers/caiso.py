"""CAISO OASIS ``PRC_LMP`` as CSV (``resultformat=6``), and what else OASIS answers.

One row per (node, interval, component): ``LMP_TYPE`` LMP, MCE (energy), MCC (congestion), MCL
(loss) and, in newer files, MGHG (greenhouse gas); the price is in the column named ``MW``.
Rows are not sorted. ``INTERVALSTARTTIME_GMT``/``INTERVALENDTIME_GMT`` are UTC; ``OPR_DT`` and
``OPR_HR`` (hour ending 1..24, 23/25 on DST days) the Pacific operating day and hour. A file
named for one day may hold parts of two operating days (the request's window was UTC).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum.feeds.lmp import FeedRows, PayloadError, assemble, strip_tags
from aurum.feeds.read import (
    day_column,
    each,
    epoch,
    load_xml,
    occurrences,
    ranks,
    read_csv,
    single_member,
    text_column,
    time_column,
)

SOURCE = "CAISO OASIS PRC_LMP CSV"
ZONE = "America/Los_Angeles"
_PARTS = {"LMP": "lmp", "MCE": "energy", "MCC": "congestion", "MCL": "loss", "MGHG": "ghg"}
_RUNS = {"DAM": "DA", "RTM": "RT", "HASP": "RT", "RTPD": "RT"}
_ORDER = {code: i for i, code in enumerate(_PARTS)}
_COLUMNS = ["INTERVALSTARTTIME_GMT", "INTERVALENDTIME_GMT", "OPR_DT", "OPR_HR", "NODE",
            "MARKET_RUN_ID", "LMP_TYPE", "MW"]  # fmt: skip


def classify(payload: bytes) -> str | None:
    """What an OASIS answer is when it is not prices: ``http_429`` (the acceptable-use page),
    ``invalid_request`` (``INVALID_REQUEST.xml``), ``load_forecast`` (``SLD_FCST``); None for
    anything else."""
    text = payload[:4000].decode("utf-8", "replace")
    if "Acceptable Use Policy Violation" in text:
        return "http_429"
    if "INVALID_REQUEST" in text or "ERR_CODE>" in text:  # (with or without a namespace prefix)
        return "invalid_request"
    if "<REPORT>SLD_FCST</REPORT>" in text or "SYS_FCST" in text:
        return "load_forecast"
    return None


def parse_report_xml(payload: bytes) -> FeedRows:
    """An OASIS XML report that is not prices (``SLD_FCST``: the load forecast) as series
    observations: one series per (data item, resource), the interval from its GMT times."""
    from aurum.feeds.series import series_table

    root = load_xml(payload, SOURCE)
    ns = "{http://www.caiso.com/soa/OASISReport_v1.xsd}"
    report = root.findtext(f".//{ns}REPORT") or "?"
    units = root.findtext(f".//{ns}UOM")
    records = []
    for item in root.iter(f"{ns}REPORT_DATA"):
        fields = {child.tag.removeprefix(ns): (child.text or "") for child in item}
        text = fields.get
        start = datetime.fromisoformat(text("INTERVAL_START_GMT", ""))
        series = f"{report}:{text('DATA_ITEM', '')}:{text('RESOURCE_NAME', '')}"
        records.append({
            "source": "CAISO", "series_id": series,
            "period": date.fromisoformat(text("OPR_DATE", "")), "interval_start_utc": start,
            "interval_end_utc": datetime.fromisoformat(text("INTERVAL_END_GMT", "")),
            "value": float(text("VALUE", "")), "units": units,
        })  # fmt: skip
    return FeedRows(
        "load_forecast" if report == "SLD_FCST" else report.lower(), series_table(records)
    )


def parse(payload: bytes) -> FeedRows:
    if payload[:2] == b"PK":  # OASIS SingleZip: the CSV, or INVALID_REQUEST.xml, in a zip
        payload = single_member(payload, SOURCE, (".csv", ".xml"))
    kind = classify(payload)
    if kind is not None:
        raise PayloadError(
            f"payload_{kind}",
            f"{SOURCE}: the answer is {kind.replace('_', ' ')}: {_said(payload)!r}",
        )
    grid = read_csv(payload, SOURCE, columns=_COLUMNS, numbers=["MW"])
    types, type_at = grid.distinct("LMP_TYPE")
    parts = [_ORDER.get(t.strip(), -1) for t in types]
    part_at = np.array(parts, dtype=np.int64)[type_at] if types else type_at
    if len(part_at) and part_at.min() < 0:
        row = int(np.argmax(part_at < 0))
        raise PayloadError("value_unknown", f"{grid.where(row)}: LMP_TYPE {types[type_at[row]]!r}")
    texts, start_at = grid.distinct("INTERVALSTARTTIME_GMT")
    starts, bad = each(texts, start_at, _instant, 0)
    end_texts, end_at = grid.distinct("INTERVALENDTIME_GMT")
    ends, bad_end = each(end_texts, end_at, _instant, 0)
    if bad is not None or bad_end is not None:
        row = min(r for r in (bad, bad_end) if r is not None)
        raise PayloadError(
            "time_invalid", f"{grid.where(row)}: {texts[start_at[row]]!r} is not an ISO time"
        )
    days, day_at = grid.distinct("OPR_DT")
    opr_days, bad = each(days, day_at, lambda text: date.fromisoformat(text).toordinal(), 0)
    if bad is not None:
        raise PayloadError(
            "time_invalid", f"{grid.where(bad)}: OPR_DT {days[day_at[bad]]!r} is not a date"
        )
    starts, ends = np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)
    ordinals = np.array(opr_days, dtype=np.int64)
    nodes, name_at = grid.names("NODE")
    runs_text, run_at = grid.distinct("MARKET_RUN_ID")
    runs = pa.array([_RUNS.get(r.strip(), r.strip()) for r in runs_text], pa.string())
    start_rank = np.unique(starts, return_inverse=True)[1].reshape(-1)[start_at]
    key = (ranks(nodes)[name_at] * len(runs) + ranks(runs)[run_at]) * (len(starts) + 1)
    groups, group_at, firsts = _groups(key + start_rank)
    cells = group_at * len(_PARTS) + part_at
    if len(cells) and np.bincount(cells).max() > 1:
        row = int(np.argmax(occurrences(cells) > 0))
        at = datetime.fromtimestamp(int(starts[start_at[row]]), UTC)
        part = list(_PARTS.values())[part_at[row]]
        raise PayloadError(
            "interval_duplicated",
            f"{grid.where(row)}: {nodes[name_at[row]].as_py()} {at} {part} twice",
        )
    mw = grid.floats("MW")
    values = mw.to_numpy(zero_copy_only=False).astype(np.float64)
    valid = mw.is_valid().to_numpy(zero_copy_only=False)
    columns: dict[str, pa.Array | str] = {}
    for p, part in enumerate(_PARTS.values()):
        rows = np.flatnonzero(part_at == p)
        out = np.full(groups, np.nan)
        present = np.zeros(groups, dtype=bool)
        out[group_at[rows]] = values[rows]
        present[group_at[rows]] = valid[rows]
        columns[part] = pa.array(out, pa.float64(), mask=~present)
    start = starts[start_at[firsts]]
    hours, hour_at = grid.distinct("OPR_HR")
    columns |= {
        "iso": "CAISO", "market_run": text_column(runs, run_at[firsts]),
        "node": text_column(nodes, name_at[firsts]),
        "node_type": text_column(_node_types(nodes), name_at[firsts]),
        "interval_start_utc": time_column(start),
        "interval_end_utc": time_column(ends[end_at[firsts]]),
        "market_tz": ZONE, "operating_day": day_column(ordinals[day_at[firsts]]),
        "hour_label": text_column(hours, hour_at[firsts]),
        "units": "USD/MWh",
    }  # fmt: skip
    return FeedRows("lmp", assemble(groups, columns))


def _groups(keys: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The rows grouped by key (non-negative): how many groups, each row's group (numbered in
    key order) and each group's first row. Keys are few (node x run x hour), so they index
    arrays directly; sorting the rows is the fallback."""
    n = len(keys)
    if n == 0:
        return 0, keys, keys
    span = int(keys.max()) + 1
    if span > 4 * n + (1 << 20):
        unique, firsts, group_at = np.unique(keys, return_index=True, return_inverse=True)
        return len(unique), group_at.reshape(-1), firsts
    used = np.bincount(keys, minlength=span) > 0
    first = np.full(span, n, dtype=np.int64)
    np.minimum.at(first, keys, np.arange(n))
    return int(used.sum()), (np.cumsum(used) - 1)[keys], first[used]


def _instant(text: str) -> int:
    """An ISO time in seconds since 1970 (without an offset: UTC)."""
    moment = datetime.fromisoformat(text)
    return epoch(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def _said(payload: bytes) -> str:
    return strip_tags(payload[:300].decode("utf-8", "replace"))


def _node_types(nodes: pa.Array) -> pa.Array:
    hub, aggregate = pc.starts_with(nodes, "TH_"), pc.starts_with(nodes, "DLAP_")
    return pc.if_else(hub, "trading_hub", pc.if_else(aggregate, "load_aggregation_point", "node"))
