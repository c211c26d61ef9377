"""The published contract of ``market.curve_observation`` and its quarantine twin, defined once.

Each field carries its documentation in the Arrow field metadata (``doc``), so Parquet files and,
later, the Iceberg tables describe themselves.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["CANONICAL_COLUMNS", "CURVE_OBSERVATION", "QUARANTINE"]


def _field(name: str, kind: pa.DataType, doc: str, nullable: bool = True) -> pa.Field:
    return pa.field(name, kind, nullable=nullable, metadata={"doc": doc})


_STR = pa.string()
_FIELDS = [
    _field(
        "asof_date", pa.date32(), "Market date of the curve (the workbook's Date: cell).", False
    ),
    _field("source_file", _STR, "Name of the delivered workbook file.", False),
    _field(
        "sheet_name", _STR, "Sheet the mid came from (the BidAsk twin only fills bid/ask).", False
    ),
    _field(
        "asset_class",
        _STR,
        "power, gas, emissions, environmental, refined_products, biofuels or petrochemicals.",
    ),
    _field("iso", _STR, "Power market operator (PW), else null."),
    _field("region", _STR, "Vendor region code (EUGP Location row, RP unlabelled region row)."),
    _field("location", _STR, "Hub, area or delivery location."),
    _field("market", _STR, "Market, e.g. DA (PW), else null."),
    _field("product", _STR, "Product; EUGP: power, gas, emissions or spark_spread."),
    _field(
        "block", _STR, "Delivery block (BASE, PEAK, ON_PEAK ...), null for gas hubs and allowances."
    ),
    _field("spark_location", _STR, "Gas hub of a spark spread, else null."),
    _field(
        "price_type", _STR, "Always MID: one row per curve and tenor, bid/ask alongside.", False
    ),
    _field("units_raw", _STR, "Units exactly as written in the workbook, when it has them."),
    _field("currency", _STR, "ISO currency, or GBp for pence."),
    _field("per_unit", _STR, "Quantity unit of the price (MWh, therm, MMBtu, t, bbl, gal ...)."),
    _field("tenor_type", _STR, "MONTHLY, CALENDAR, SEASON, QUARTER, BALANCE or CUSTOM.", False),
    _field("contract_month", pa.date32(), "First delivery month (first day)."),
    _field("tenor_label", _STR, "YYYY-MM for months, else the vendor's strip label.", False),
    _field("value", pa.float64(), "The published price: equal to mid."),
    _field("bid", pa.float64(), "Bid from the BidAsk twin sheet, null when absent."),
    _field("ask", pa.float64(), "Ask from the BidAsk twin sheet, null when absent."),
    _field("mid", pa.float64(), "Mid from the Mid sheet, or (bid + ask) / 2 when it is missing."),
    _field("curve_key", _STR, "SHA-256 of the normalised curve identity.", False),
    _field("version_hash", _STR, "SHA-256 of file name, sheet, as-of and file content.", False),
    _field("_ingest_ts", pa.timestamp("us", tz="UTC"), "When Aurum read the file (UTC).", False),
    _field("vendor", _STR, "Vendor layout code: EUGP, RP or PW.", False),
    _field("tenor_start", pa.date32(), "First delivery month of the tenor (first day)."),
    _field("tenor_end", pa.date32(), "Last delivery month of the tenor (first day)."),
    _field("units_source", _STR, "Where units came from: workbook or reference."),
    _field("source_sha256", _STR, "SHA-256 of the workbook file.", False),
]

CURVE_OBSERVATION = pa.schema(_FIELDS)
CANONICAL_COLUMNS = tuple(CURVE_OBSERVATION.names)

QUARANTINE = pa.schema(
    [f.with_nullable(True) if f.name in {"tenor_label", "tenor_type"} else f for f in _FIELDS]
    + [
        _field(
            "quarantine_reason", _STR, "Why the row was not published (';'-joined rules).", False
        ),
        _field(
            "source_cell", _STR, "Where the price cell is, e.g. 'Fixed Prices - Mid'!D13.", False
        ),
        _field("raw_mid", _STR, "The Mid cell as read, when the row has one."),
        _field("raw_bidask", _STR, "The BidAsk cell as read, when the row has one."),
    ]
)
