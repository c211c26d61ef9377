"""The scenario datasets: ``scenario_output`` (a run's curves, with bands and attribution) and
``scenario_path`` (a run's simulated paths, kept only when asked for, within a size budget).

A scenario run's curves keep the identity, tenor and units of the base curve they came from
(same ``curve_key``), so ``/v1/curves``, ``/strips`` and ``/diff`` read them with
``scenario_run=`` like any vendor curve. Both are tenant-owned: a tenant reads its own runs only.
Each run publishes its own partition (``run_id``), tagged ``scenario/{run_id}/v{n}``.
"""

from __future__ import annotations

import pyarrow as pa

from aurum.datasets import Column, Dataset, TagScheme

__all__ = ["BAND_COLUMNS", "SCENARIO_DATASETS", "SCENARIO_OUTPUT", "SCENARIO_PATH"]

_STR = pa.string()
_DAY = pa.date32()
_F64 = pa.float64()
_PRICE = "currency per per_unit (the row's)"
OWNER = "scenarios"

_RUN = Column("run_id", _STR, "Scenario run that wrote the row.", required=True)
_TENANT = Column("tenant_id", _STR, "Tenant that owns the run.", required=True)
BAND_COLUMNS = ("mean", "p5", "p50", "p95")

SCENARIO_OUTPUT = Dataset(
    name="scenario_output",
    doc="One row per curve and tenor of a scenario run: base value, scenario value, ensemble "
    "bands and the attribution of the driver delta to each assumption.",
    owner=OWNER,
    columns=(
        _TENANT,
        _RUN,
        Column("scenario_id", _STR, "Scenario the run ran.", required=True),
        Column("scenario_version", pa.int64(), "Version of the scenario the run ran.",
               required=True),
        Column("asof_date", _DAY, "As-of date of the base curve.", required=True),
        Column("vendor", _STR, "Vendor of the base curve.", required=True),
        Column("base_tag", _STR, "Vendor-day tag of the base curve (eod/{vendor}/{date}/v{n}).",
               required=True),
        Column("curve_key", _STR, "The base curve's key: a scenario curve keeps its identity.",
               required=True),
        Column("asset_class", _STR, "As the base curve."),
        Column("iso", _STR, "As the base curve."),
        Column("region", _STR, "As the base curve."),
        Column("location", _STR, "As the base curve."),
        Column("market", _STR, "As the base curve."),
        Column("product", _STR, "As the base curve."),
        Column("block", _STR, "As the base curve."),
        Column("spark_location", _STR, "As the base curve."),
        Column("currency", _STR, "ISO currency, or GBp for pence."),
        Column("per_unit", _STR, "Quantity unit of the price."),
        Column("tenor_type", _STR, "MONTHLY, CALENDAR, SEASON, QUARTER, BALANCE or CUSTOM.",
               required=True),
        Column("tenor_label", _STR, "YYYY-MM for months, else the vendor's strip label.",
               required=True),
        Column("contract_month", _DAY, "First delivery month (first day)."),
        Column("tenor_start", _DAY, "First delivery month of the tenor (first day)."),
        Column("tenor_end", _DAY, "Last delivery month of the tenor (first day)."),
        Column("base_value", _F64, "The base curve's price.", _PRICE),
        Column("value", _F64, "The scenario's price: base plus every assumption's effect.",
               _PRICE),
        Column("mean", _F64, "Mean of the ensemble at the horizon (null: no ensemble).", _PRICE),
        Column("p5", _F64, "5th percentile (non-exceedance) of the ensemble.", _PRICE),
        Column("p50", _F64, "Median of the ensemble.", _PRICE),
        Column("p95", _F64, "95th percentile (non-exceedance) of the ensemble.", _PRICE),
        Column("band_convention", _STR, "How the bands are defined (null: no ensemble)."),
        Column("band_model", _STR, "factor (calibrated two-factor model) or historical."),
        Column("attribution", _STR,
               "JSON object: each assumption's share of value - base_value (sums to it).",
               _PRICE),
        Column("attribution_method", _STR, "shapley (exact) or one_at_a_time (with residual)."),
        Column("stack_source", _STR,
               "The merit-order stack a load or fleet assumption moved price along, and its "
               "provenance (the shipped stacks are illustrative)."),
        Column("code_version", _STR, "Aurum version and git commit that computed the row.",
               required=True),
        Column("seed", pa.int64(), "Seed of the ensemble's random streams."),
    ),
    partition_by=("run_id",),
    sort_by=("curve_key", "tenor_start", "tenor_label"),
    tags=TagScheme("scenario", ("run_id",)),
    tenant_owned=True,
    derived_from=("curve_observation",),
)  # fmt: skip

SCENARIO_PATH = Dataset(
    name="scenario_path",
    doc="Simulated horizon values of a scenario run, path by path (kept on request).",
    owner=OWNER,
    columns=(
        _TENANT,
        _RUN,
        Column("vendor", _STR, "Vendor of the base curve.", required=True),
        Column("curve_key", _STR, "The base curve's key.", required=True),
        Column("tenor_label", _STR, "The tenor.", required=True),
        Column("path", pa.int32(), "Path number, from 0.", required=True),
        Column("value", _F64, "The simulated value at the horizon.", _PRICE, required=True),
    ),
    partition_by=("run_id",),
    sort_by=("curve_key", "tenor_label", "path"),
    tags=TagScheme("scenario_paths", ("run_id",)),
    tenant_owned=True,
    serve_rows=False,  # millions of rows, and only a published run's are meaningful
    served_by="aurum.scenarios (a valuation reads a run's paths)",
    derived_from=("curve_observation",),
)

SCENARIO_DATASETS: tuple[Dataset, ...] = (SCENARIO_OUTPUT, SCENARIO_PATH)
