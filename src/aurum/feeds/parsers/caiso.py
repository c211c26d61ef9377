"""CAISO OASIS ``PRC_LMP`` as CSV (``resultformat=6``), and what else OASIS answers.

One row per (node, interval, component): ``LMP_TYPE`` LMP, MCE (energy), MCC (congestion), MCL
(loss) and, in newer files, MGHG (greenhouse gas); the price is in the column named ``MW``.
Rows are not sorted. ``INTERVALSTARTTIME_GMT``/``INTERVALENDTIME_GMT`` are UTC; ``OPR_DT`` and
``OPR_HR`` (hour ending 1..24, 23/25 on DST days) the Pacific operating day and hour. A file
named for one day may hold parts of two operating days (the request's window was UTC).
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

from aurum.feeds.lmp import FeedRows, PayloadError, header_index, number, strip_tags, table, text_of

SOURCE = "CAISO OASIS PRC_LMP CSV"
ZONE = "America/Los_Angeles"
_PARTS = {"LMP": "lmp", "MCE": "energy", "MCC": "congestion", "MCL": "loss", "MGHG": "ghg"}
_RUNS = {"DAM": "DA", "RTM": "RT", "HASP": "RT", "RTPD": "RT"}


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
    from xml.etree import ElementTree

    from aurum.feeds.series import series_table

    if b"<!DOCTYPE" in payload[:2000] or b"<!ENTITY" in payload[:2000]:
        raise PayloadError("xml_entities", f"{SOURCE}: XML with a DTD is refused")
    try:
        root = ElementTree.fromstring(payload)
    except ElementTree.ParseError as error:
        raise PayloadError(
            "payload_truncated", f"{SOURCE}: not well-formed XML ({error})"
        ) from None
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
    kind = classify(payload)
    if kind is not None:
        raise PayloadError(
            f"payload_{kind}",
            f"{SOURCE}: the answer is {kind.replace('_', ' ')}: {_said(payload)!r}",
        )
    reader = csv.reader(io.StringIO(text_of(payload, SOURCE)))
    header = next(reader, None)
    if not header:
        raise PayloadError("payload_empty", f"{SOURCE}: no header")
    at = header_index(
        header,
        [
            "INTERVALSTARTTIME_GMT",
            "INTERVALENDTIME_GMT",
            "OPR_DT",
            "OPR_HR",
            "NODE",
            "MARKET_RUN_ID",
            "LMP_TYPE",
            "MW",
        ],
        SOURCE,
    )
    found: dict[tuple[str, str, datetime], dict[str, object]] = {}
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        where = f"{SOURCE} line {line}"
        if len(row) != len(header):
            raise PayloadError(
                "payload_truncated", f"{where}: {len(row)} fields, not {len(header)}"
            )
        part = _PARTS.get(row[at["LMP_TYPE"]].strip())
        if part is None:
            raise PayloadError("value_unknown", f"{where}: LMP_TYPE {row[at['LMP_TYPE']]!r}")
        try:
            start = datetime.fromisoformat(row[at["INTERVALSTARTTIME_GMT"]])
            end = datetime.fromisoformat(row[at["INTERVALENDTIME_GMT"]])
        except ValueError:
            raise PayloadError(
                "time_invalid", f"{where}: {row[at['INTERVALSTARTTIME_GMT']]!r} is not an ISO time"
            ) from None
        node = row[at["NODE"]].strip()
        run = _RUNS.get(row[at["MARKET_RUN_ID"]].strip(), row[at["MARKET_RUN_ID"]].strip())
        record = found.setdefault((node, run, start), {
            "iso": "CAISO", "market_run": run, "node": node,
            "node_type": _node_type(node),
            "interval_start_utc": start, "interval_end_utc": end, "market_tz": ZONE,
            "operating_day": date.fromisoformat(row[at["OPR_DT"]]), "hour_label": row[at["OPR_HR"]],
            "units": "USD/MWh",
        })  # fmt: skip
        if part in record:
            raise PayloadError("interval_duplicated", f"{where}: {node} {start} {part} twice")
        record[part] = number(row[at["MW"]], where)
    return FeedRows("lmp", table(list(found.values())))


def _said(payload: bytes) -> str:
    return strip_tags(payload[:300].decode("utf-8", "replace"))


def _node_type(node: str) -> str:
    if node.startswith("TH_"):
        return "trading_hub"
    return "load_aggregation_point" if node.startswith("DLAP_") else "node"
