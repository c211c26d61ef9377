"""The public feeds' datasets: ISO prices, the ISOs' node registry, series observations (EIA,
FRED, NOAA) and foreign-exchange reference rates (ECB).

Each is written by a feed load (a run of kind ``feed_load``) through write-audit-publish, a
partition per source and day (or group of series published together — a NOAA station's
datatypes, one commit rather than twenty — or year of rates). A payload brings *some* of a
partition's rows, so a load merges them onto the partition as it is (``aurum.lake.publish``'s
``merge``): a re-load is a duplicate, a corrected value is the next version, and every version
stays readable by its tag (``lmp/PJM/2025-05-01/v2``).
"""

from __future__ import annotations

import pyarrow as pa

from aurum.datasets import Column, Dataset, TagScheme

__all__ = ["FEED_DATASETS", "FX_RATE", "ISO_LMP", "ISO_NODE", "MERGE_KEYS", "SERIES_OBSERVATION"]

_STR = pa.string()
_F64 = pa.float64()
_UTC = pa.timestamp("s", tz="UTC")
_PRICE = "USD/MWh"
_OWNER = "feeds"

ISO_LMP = Dataset(
    name="iso_lmp",
    doc="Locational marginal prices of the US ISOs by node, market run and interval, with their "
    "components in one sign convention: lmp = energy + congestion + loss (+ ghg).",
    owner=_OWNER,
    columns=(
        Column("iso", _STR, "The ISO (PJM, CAISO, ERCOT, MISO, NYISO, ISONE, SPP).", required=True),
        Column("operating_day", pa.date32(), "The market's operating day (its own time zone; "
               "MISO's files are EST all year).", required=True),
        Column("market_run", _STR, "DA (day-ahead) or RT (real-time).", required=True),
        Column("node", _STR, "Node, zone or hub as the ISO names it.", required=True),
        Column("node_type", _STR, "What the node is (hub, zone, load_zone, gen, ...), as the "
               "source says."),
        Column("interval_start_utc", _UTC, "Start of the interval (UTC).", required=True),
        Column("interval_end_utc", _UTC, "End of the interval (UTC).", required=True),
        Column("market_tz", _STR, "The market's time zone (IANA).", required=True),
        Column("hour_label", _STR, "The source's own label of the interval (HE 3, 02X, ...)."),
        Column("lmp", _F64, "Locational marginal price.", _PRICE),
        Column("energy", _F64, "Energy component.", _PRICE),
        Column("congestion", _F64, "Congestion component (NYISO's sign flipped to this one).",
               _PRICE),
        Column("loss", _F64, "Marginal loss component.", _PRICE),
        Column("ghg", _F64, "Greenhouse-gas component (CAISO MGHG), else null.", _PRICE),
        Column("derived", _STR, "Components derived from the identity, not published."),
        Column("units", _STR, "Units of the prices.", required=True),
        Column("source_format", _STR, "The payload format the row was parsed from.",
               required=True),
    ),
    partition_by=("iso", "operating_day"),
    sort_by=("market_run", "node", "interval_start_utc"),
    tags=TagScheme("lmp", ("iso", "operating_day")),
    order_by="operating_day",
    retain_snapshots_days=30.0,
)  # fmt: skip

ISO_NODE = Dataset(
    name="iso_node",
    doc="The ISOs' nodes, zones and hubs seen in their price feeds: a versioned registry.",
    owner=_OWNER,
    columns=(
        Column("iso", _STR, "The ISO.", required=True),
        Column("node", _STR, "Node id as the ISO's prices name it.", required=True),
        Column("name", _STR, "Display name (the id where the source gives no other)."),
        Column("node_type", _STR, "hub, zone, load_zone, gen, ... as the source names it."),
        Column("zone", _STR, "The zone the node is in, where known."),
        Column("hub", _STR, "The hub the node belongs to, where known."),
        Column("market_tz", _STR, "The market's time zone (IANA).", required=True),
        Column("first_day", pa.date32(), "First operating day with a price loaded."),
    ),
    partition_by=("iso",),
    sort_by=("node",),
    tags=TagScheme("nodes", ("iso",)),
    derived_from=("iso_lmp",),
)  # fmt: skip

SERIES_OBSERVATION = Dataset(
    name="series_observation",
    doc="Observations of public series (EIA, FRED, NOAA): a value per period, with FRED's "
    "vintages as the real-time window in which each value was the published one.",
    owner=_OWNER,
    columns=(
        Column("source", _STR, "EIA, FRED or NOAA.", required=True),
        Column("series_id", _STR, "The series as the source names it.", required=True),
        Column("series_group", _STR, "What the series is published with (the partition): a NOAA "
               "station's datatypes, an EIA route and respondent's series; a FRED series alone."),
        Column("period", pa.date32(), "The period's date (its start; a weekly FRED series: the "
               "week's end).", required=True),
        Column("interval_start_utc", _UTC, "Start of an hourly period (UTC), else null."),
        Column("interval_end_utc", _UTC, "End of an hourly period (UTC), else null."),
        Column("value", _F64, "The value (null where the source says missing)."),
        Column("units", _STR, "Units as the source states them."),
        Column("realtime_start", pa.date32(), "First day this value was the published one "
               "(FRED vintages), else null."),
        Column("realtime_end", pa.date32(), "Last day it was (9999-12-31: still is)."),
    ),
    partition_by=("source", "series_group"),
    sort_by=("series_id", "period", "interval_start_utc", "realtime_start"),
    tags=TagScheme("series", ("source", "series_group")),
    retain_snapshots_days=30.0,
)  # fmt: skip

FX_RATE = Dataset(
    name="fx_rate",
    doc="Foreign-exchange reference rates: units of a currency per one unit of the base, per "
    "day (the ECB's euro rates, published on TARGET business days).",
    owner=_OWNER,
    columns=(
        Column("source", _STR, "Who publishes the rate (ECB).", required=True),
        Column("year", pa.int32(), "The rate's year (the partition).", required=True),
        Column("rate_date", pa.date32(), "Day the rate is for.", required=True),
        Column("base", _STR, "Base currency (EUR for the ECB).", required=True),
        Column("currency", _STR, "Quoted currency (ISO 4217).", required=True),
        Column("rate", _F64, "Units of currency per one base.", required=True),
    ),
    partition_by=("source", "year"),
    sort_by=("rate_date", "currency"),
    tags=TagScheme("fx", ("source", "year")),
    order_by="year",
)  # fmt: skip

FEED_DATASETS: tuple[Dataset, ...] = (ISO_LMP, ISO_NODE, SERIES_OBSERVATION, FX_RATE)

# What identifies a row within its partition: a load's row replaces the partition's row with
# the same key (a correction), and adds the others.
MERGE_KEYS: dict[str, tuple[str, ...]] = {
    ISO_LMP.name: ("market_run", "node", "interval_start_utc"),
    ISO_NODE.name: ("node",),
    SERIES_OBSERVATION.name: ("series_id", "period", "interval_start_utc", "realtime_start"),
    FX_RATE.name: ("rate_date", "base", "currency"),
}
