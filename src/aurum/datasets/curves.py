"""The vendor-curve datasets: ``curve_observation`` (the published contract) and the logs beside
it (quarantine, dead letters, quality checks).

Prices (``value``, ``bid``, ``ask``, ``mid``) are in the row's own unit: ``currency`` per
``per_unit`` (EUR/MWh, GBp/therm, USD/REC ...), which is why their unit is stated that way.
"""

from __future__ import annotations

import pyarrow as pa

from aurum.datasets import Column, Dataset, TagScheme

__all__ = [
    "BUILTIN", "CURVE_OBSERVATION", "DEAD_LETTER", "QA_CHECKS", "QUARANTINE", "QUARANTINE_ROWS",
]  # fmt: skip

_STR = pa.string()
_DAY = pa.date32()
_UTC = pa.timestamp("us", tz="UTC")
_PRICE = "currency per per_unit (the row's)"
OWNER = "market-data"

_OBSERVATION = (
    Column("asof_date", _DAY, "Market date of the curve (the workbook's Date: cell).",
           required=True),
    Column("source_file", _STR, "Name of the delivered workbook file.", required=True),
    Column("sheet_name", _STR, "Sheet the mid came from (the BidAsk twin only fills bid/ask).",
           required=True),
    Column("asset_class", _STR,
           "power, gas, emissions, environmental, refined_products, biofuels or petrochemicals."),
    Column("iso", _STR, "Power market operator (PW), else null."),
    Column("region", _STR, "Vendor region code (EUGP Location row, RP unlabelled region row)."),
    Column("location", _STR, "Hub, area or delivery location."),
    Column("market", _STR, "Market, e.g. DA (PW), else null."),
    Column("product", _STR, "Product; EUGP: power, gas, emissions or spark_spread."),
    Column("block", _STR,
           "Delivery block (BASE, PEAK, ON_PEAK ...), null for gas hubs and allowances."),
    Column("spark_location", _STR, "Gas hub of a spark spread, else null."),
    Column("price_type", _STR, "Always MID: one row per curve and tenor, bid/ask alongside.",
           required=True),
    Column("units_raw", _STR, "Units exactly as written in the workbook, when it has them."),
    Column("currency", _STR, "ISO currency, or GBp for pence."),
    Column("per_unit", _STR, "Quantity unit of the price (MWh, therm, MMBtu, t, bbl, gal ...)."),
    Column("tenor_type", _STR, "MONTHLY, CALENDAR, SEASON, QUARTER, BALANCE or CUSTOM.",
           required=True),
    Column("contract_month", _DAY, "First delivery month (first day)."),
    Column("tenor_label", _STR, "YYYY-MM for months, else the vendor's strip label.",
           required=True),
    Column("value", pa.float64(), "The published price: equal to mid.", _PRICE),
    Column("bid", pa.float64(), "Bid from the BidAsk twin sheet, null when absent.", _PRICE),
    Column("ask", pa.float64(), "Ask from the BidAsk twin sheet, null when absent.", _PRICE),
    Column("mid", pa.float64(), "Mid from the Mid sheet, or (bid + ask) / 2 when it is missing.",
           _PRICE),
    Column("curve_key", _STR, "SHA-256 of the normalised curve identity.", required=True),
    Column("version_hash", _STR, "SHA-256 of file name, sheet, as-of and file content.",
           required=True),
    Column("_ingest_ts", _UTC, "When Aurum read the file.", "UTC", required=True),
    Column("vendor", _STR, "Vendor layout code: EUGP, RP or PW.", required=True),
    Column("tenor_start", _DAY, "First delivery month of the tenor (first day)."),
    Column("tenor_end", _DAY, "Last delivery month of the tenor (first day)."),
    Column("units_source", _STR, "Where units came from: workbook or reference."),
    Column("source_sha256", _STR, "SHA-256 of the workbook file.", required=True),
)  # fmt: skip
_RUN = Column("run_id", _STR, "Run that wrote the row (see `aurum runs`).", required=True)

CURVE_OBSERVATION = Dataset(
    name="curve_observation",
    doc="One row per (curve, tenor, as-of): published only through write-audit-publish.",
    owner=OWNER,
    columns=_OBSERVATION,
    partition_by=("asof_date", "vendor"),
    sort_by=("curve_key", "tenor_label"),
    tags=TagScheme("eod", ("vendor", "asof_date")),
    order_by="asof_date",
    serve_rows=False,
    served_by="/v1/curves",
)

QUARANTINE = Dataset(
    name="curve_observation_quarantine",
    doc="Rows held back, with the reason and the cell they came from.",
    owner=OWNER,
    columns=(
        *(
            Column(c.name, c.type, c.doc, c.unit, required=False)
            if c.name in ("tenor_label", "tenor_type")
            else c
            for c in _OBSERVATION
        ),
        Column(
            "quarantine_reason",
            _STR,
            "Why the row was not published (';'-joined rules).",
            required=True,
        ),
        Column(
            "source_cell",
            _STR,
            "Where the price cell is, e.g. 'Fixed Prices - Mid'!D13.",
            required=True,
        ),
        Column("raw_mid", _STR, "The Mid cell as read, when the row has one."),
        Column("raw_bidask", _STR, "The BidAsk cell as read, when the row has one."),
        _RUN,
    ),
    partition_by=("asof_date", "vendor"),
    sort_by=("curve_key", "tenor_label"),
    serve_rows=False,
    served_by="/v1/ingest (runs, quality checks)",
    derived_from=("curve_observation",),  # written by its ingest
)
# What a parse quarantines: the quarantine table's columns before a run id is given to them.
QUARANTINE_ROWS = QUARANTINE.schema.remove(QUARANTINE.schema.get_field_index("run_id"))

DEAD_LETTER = Dataset(
    name="curve_dead_letter",
    doc="Files that could not be ingested at all (aurum.ingest.error.v1).",
    owner=OWNER,
    columns=(
        _RUN,
        Column("file", _STR, "File name as delivered.", required=True),
        Column("sha256", _STR, "SHA-256 of the file, when it could be read."),
        Column("vendor", _STR, "Vendor, when the file name tells it."),
        Column("error_code", _STR, "Stable error code.", required=True),
        Column("message", _STR, "What was wrong, for a person.", required=True),
        Column("diagnostics", _STR, "JSON facts that help fix the file.", required=True),
        Column("raw_path", _STR, "Where the raw file is archived."),
        Column("failed_at", _UTC, "When it failed.", "UTC", required=True),
    ),
    serve_rows=False,
    served_by="/v1/ingest (runs, quality checks)",
    derived_from=("curve_observation",),  # written by its ingest
)

QA_CHECKS = Dataset(
    name="qa_checks",
    doc="Every rule's and gate's outcome in every run: the quality history.",
    owner=OWNER,
    columns=(
        _RUN,
        Column("vendor", _STR, "Vendor of the run's file."),
        Column("asof_date", _DAY, "As-of date of the run's file."),
        Column("rule", _STR, "Rule or gate name.", required=True),
        Column("stage", _STR, "parse (row rules) or gate (day-over-day).", required=True),
        Column("severity", _STR, "quarantine, warn or fail.", required=True),
        Column("failed", pa.int64(), "Rows (or curves) failing it.", "rows", required=True),
        Column("checked", pa.int64(), "Rows (or curves) checked.", "rows", required=True),
        Column(
            "sample_keys",
            pa.list_(_STR),
            "Up to five failing keys; gates name curves (jumps as `name @ tenor`, worst first).",
            required=True,
        ),
        Column("checked_at", _UTC, "When.", "UTC", required=True),
    ),
    serve_rows=False,
    served_by="/v1/ingest (runs, quality checks)",
    derived_from=("curve_observation",),  # written by its ingest
)

BUILTIN: tuple[Dataset, ...] = (CURVE_OBSERVATION, QUARANTINE, DEAD_LETTER, QA_CHECKS)
