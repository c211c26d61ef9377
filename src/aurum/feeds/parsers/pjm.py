"""PJM Data Miner 2 hourly LMP exports (``da_hrl_lmps``, ``rt_hrl_lmps`` as CSV).

Hour-beginning times in both UTC (``datetime_beginning_utc``) and EPT; the UTC column is the
truth (EPT repeats and skips an hour on DST days). ``total_lmp = system_energy_price +
congestion_price + marginal_loss_price``. Only rows with ``row_is_current`` True are kept.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from aurum.feeds.lmp import FeedRows, PayloadError, header_index, number, table, text_of

SOURCE = "PJM Data Miner 2 CSV"
ZONE = "America/New_York"
_TIME = "%m/%d/%Y %I:%M:%S %p"


def parse(payload: bytes) -> FeedRows:
    reader = csv.reader(io.StringIO(text_of(payload, SOURCE)))
    header = next(reader, None)
    if not header:
        raise PayloadError("payload_empty", f"{SOURCE}: no header")
    run = "da" if any(h.endswith("_da") for h in header) else "rt"
    at = header_index(header, [
        "datetime_beginning_utc", "datetime_beginning_ept", "pnode_name", "type",
        f"system_energy_price_{run}", f"total_lmp_{run}", f"congestion_price_{run}",
        f"marginal_loss_price_{run}", "row_is_current",
    ], SOURCE)  # fmt: skip
    records = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise PayloadError(
                "payload_truncated", f"{SOURCE} line {line}: {len(row)} fields, not {len(header)}"
            )
        if row[at["row_is_current"]].strip().lower() != "true":
            continue
        where = f"{SOURCE} line {line}"
        try:
            start = datetime.strptime(row[at["datetime_beginning_utc"]], _TIME).replace(tzinfo=UTC)
            local = datetime.strptime(row[at["datetime_beginning_ept"]], _TIME)
        except ValueError:
            raise PayloadError(
                "time_invalid",
                f"{where}: {row[at['datetime_beginning_utc']]!r} is not M/D/YYYY h:mm:ss AM",
            ) from None
        records.append({
            "iso": "PJM", "market_run": run.upper(), "node": row[at["pnode_name"]],
            "node_type": row[at["type"]].lower() or None,
            "interval_start_utc": start, "interval_end_utc": start + timedelta(hours=1),
            "market_tz": ZONE, "operating_day": local.date(),
            "hour_label": row[at["datetime_beginning_ept"]],
            "lmp": number(row[at[f"total_lmp_{run}"]], where),
            "energy": number(row[at[f"system_energy_price_{run}"]], where),
            "congestion": number(row[at[f"congestion_price_{run}"]], where),
            "loss": number(row[at[f"marginal_loss_price_{run}"]], where),
            "units": "USD/MWh",
        })  # fmt: skip
    return FeedRows("lmp", table(records))
