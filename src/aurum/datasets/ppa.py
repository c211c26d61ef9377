"""The ``ppa_valuation`` dataset: one row per month of a PPA valuation — volumes, prices, the
legs of the settlement, discounting and sensitivities — with the versions of every input.

Tenant-owned; each valuation publishes its own partition (``run_id``), tagged
``ppa/{run_id}/v{n}``. The valuation's summary (NPV, capture figures, options, energy
P-values, risk) is its run's ``result`` (``/v1/ppa/valuations/{id}``).
"""

from __future__ import annotations

import pyarrow as pa

from aurum.datasets import Column, Dataset, TagScheme

__all__ = ["PPA_DATASETS", "PPA_VALUATION"]

_STR = pa.string()
_F64 = pa.float64()
_MONEY = "the valuation's currency"
_PRICE = "the valuation's currency per MWh"

PPA_VALUATION = Dataset(
    name="ppa_valuation",
    doc="One row per month of a PPA valuation: energy, prices, settlement legs, discounting, "
    "sensitivities, and the versions of the contract and curves it used.",
    owner="ppa",
    columns=(
        Column("tenant_id", _STR, "Tenant that owns the valuation.", required=True),
        Column("run_id", _STR, "The valuation (its run).", required=True),
        Column("contract_id", _STR, "Stored contract valued (null: inline terms)."),
        Column("contract_version", pa.int64(), "Version of the contract's terms valued."),
        Column("month", _STR, "Delivery month, YYYY-MM.", required=True),
        Column("payment_date", pa.date32(), "Month end plus the payment lag.", required=True),
        Column("hours", pa.int64(), "Delivery hours in the month (local time, DST counted).",
               "h"),
        Column("energy_mwh", _F64, "Expected energy after curtailment.", "MWh"),
        Column("settled_energy_mwh", _F64, "Energy in hours that settle (negative-price clause).",
               "MWh"),
        Column("strike", _F64, "The month's strike (escalated or indexed).", _PRICE),
        Column("baseload_price", _F64, "Average hub price over every hour of the month.", _PRICE),
        Column("capture_price", _F64, "Σ P·Q / Σ Q at the hub.", _PRICE),
        Column("basis", _F64, "Generation-weighted node minus hub.", _PRICE),
        Column("settlement", _F64, "Σ (K − P_ref)·Q under the clauses, to the side valued.",
               _MONEY),
        Column("certificates", _F64, "Certificate leg, to the side valued.", _MONEY),
        Column("balancing", _F64, "Balancing cost (borne by the generator).", _MONEY),
        Column("cashflow", _F64, "Sum of the legs, to the side valued.", _MONEY),
        Column("discount_factor", _F64, "(1 + r)^(−t), t ACT/365F to the payment date."),
        Column("pv", _F64, "cashflow × discount_factor.", _MONEY),
        Column("delta", _F64, "PV change per +1 on the month's forward (every block).",
               "currency per (currency/MWh)"),
        Column("delta_by_block", _STR, "JSON: PV change per +1 on each block's forward."),
        Column("residual", _STR,
               "JSON: quoted minus implied price of each overlapping block (BASE/ATC)."),
        Column("extrapolated", pa.bool_(), "The month is beyond the curve (extrapolate)."),
        Column("cashflow_p5", _F64, "5th percentile of the cashflow over the ensemble.", _MONEY),
        Column("cashflow_p50", _F64, "Median cashflow over the ensemble.", _MONEY),
        Column("cashflow_p95", _F64, "95th percentile of the cashflow over the ensemble.",
               _MONEY),
        Column("currency", _STR, "Currency of every amount in the row.", required=True),
        Column("perspective", _STR, "generator or offtaker: whose gain is positive.",
               required=True),
        Column("inputs", _STR, "JSON: the contract version, curve snapshot and vendor-day tags,"
               " scenario run and code version behind the row.", required=True),
        Column("code_version", _STR, "Aurum version and git commit.", required=True),
    ),
    partition_by=("run_id",),
    sort_by=("month",),
    tags=TagScheme("ppa", ("run_id",)),
    tenant_owned=True,
    derived_from=("curve_observation", "scenario_output", "scenario_path"),
)  # fmt: skip

PPA_DATASETS: tuple[Dataset, ...] = (PPA_VALUATION,)
