"""The valuation report a committee reads: one XLSX workbook per valuation.

Sheets, in order: ``summary`` (NPV, capture figures, legs, options, IRR, ensemble risk — each
with its unit and the conventions), ``cashflows`` (one row per month), ``sensitivities`` (by
calendar year and tenor bucket), ``energy`` (P50/P90/P99 by year), ``inputs`` (the contract
terms and version, the curves' snapshot and tags, the scenario run, the code version). Numbers
are numbers (formatted, never text), so the workbook recalculates and filters cleanly in Excel.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from aurum.formats import Sheet, write_xlsx
from aurum.store import Run

__all__ = ["write_report"]

_MONEY = "#,##0;[Red]-#,##0"
_PRICE = "#,##0.00"
_CASHFLOW_COLUMNS = (
    "month", "payment_date", "hours", "energy_mwh", "settled_energy_mwh", "strike",
    "baseload_price", "capture_price", "basis", "settlement", "certificates", "balancing",
    "cashflow", "discount_factor", "pv", "delta", "extrapolated", "cashflow_p5", "cashflow_p50",
    "cashflow_p95",
)  # fmt: skip


def write_report(run: Run, rows: pa.Table, path: Path) -> None:
    """The report of published valuation ``run`` with its monthly ``rows``, at ``path``."""
    result = run.result or {}
    summary = result.get("summary", {})
    inputs = result.get("inputs", {})
    currency = summary.get("currency", "")
    sheets = [
        _pairs("summary", _summary_lines(run, summary, currency)),
        Sheet(
            "cashflows", rows.select([c for c in _CASHFLOW_COLUMNS if c in rows.column_names]),
            frozen_columns=1,
            formats={**{c: _MONEY for c in ("settlement", "certificates", "balancing",
                                             "cashflow", "pv", "delta", "cashflow_p5",
                                             "cashflow_p50", "cashflow_p95")},
                     **{c: _PRICE for c in ("strike", "baseload_price", "capture_price",
                                            "basis")},
                     "energy_mwh": "#,##0.0", "settled_energy_mwh": "#,##0.0",
                     "discount_factor": "0.000000"},
        ),
        _pairs("sensitivities", _sensitivity_lines(summary.get("sensitivities") or {})),
        _pairs("energy", _energy_lines(summary.get("energy") or {})),
        _pairs("inputs", _input_lines(run, inputs)),
    ]
    write_xlsx(sheets, path)


def _pairs(name: str, lines: Iterator[tuple[str, Any, str]]) -> Sheet:
    """A sheet of (item, value, unit) lines; numbers stay numbers, the rest is text."""
    items, numbers, texts, units = [], [], [], []
    for item, value, unit in lines:
        items.append(item)
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        numbers.append(float(value) if is_number else None)
        texts.append(None if is_number or value is None else _text(value))
        units.append(unit)
    table = pa.table({
        "item": pa.array(items, pa.string()), "value": pa.array(numbers, pa.float64()),
        "text": pa.array(texts, pa.string()), "unit": pa.array(units, pa.string()),
    })  # fmt: skip
    return Sheet(name, table, formats={"value": "#,##0.######"})


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


def _summary_lines(
    run: Run, summary: Mapping[str, Any], currency: str
) -> Iterator[tuple[str, Any, str]]:
    yield "valuation", run.run_id, ""
    yield "status", run.status, ""
    yield "perspective", summary.get("perspective"), "whose gain is positive"
    yield "valuation date", summary.get("valuation_date"), ""
    yield "NPV", summary.get("npv"), currency
    for name in ("capture_price", "baseload_price", "reference_capture_price",
                 "profile_cost_per_mwh", "generation_weighted_basis"):  # fmt: skip
        yield name.replace("_", " "), summary.get(name), f"{currency}/MWh"
    yield "capture rate", summary.get("capture_rate"), "capture / baseload"
    yield "energy", summary.get("energy_mwh"), "MWh"
    yield "months valued", summary.get("months"), ""
    yield "negative hours", summary.get("negative_hours"), "h"
    for leg, figures in (summary.get("legs") or {}).items():
        yield f"{leg} (undiscounted)", figures.get("undiscounted"), currency
        yield f"{leg} (PV)", figures.get("pv"), currency
    if "irr" in summary:
        yield "upfront", summary.get("upfront"), currency
        yield "IRR", summary.get("irr"), "annual effective"
    options = summary.get("options")
    if options:
        for key in ("floor", "cap", "collar", "intrinsic", "time_value"):
            yield f"option {key.replace('_', ' ')}", options.get(key), currency
        yield "option volatility", options.get("volatility"), options.get("volatility_source")
        yield "option model", options.get("model"), ""
    ensemble = summary.get("ensemble")
    if ensemble:
        yield "paths", ensemble.get("paths"), ""
        for key, value in (ensemble.get("npv") or {}).items():
            yield f"NPV {key}", value, currency
        for year, figures in (ensemble.get("annual_cashflow") or {}).items():
            for key, value in figures.items():
                yield f"cashflow {year} {key}", value, currency
    for warning in summary.get("warnings") or ():
        yield "warning", warning, ""
    for key, value in (summary.get("conventions") or {}).items():
        yield f"convention: {key.replace('_', ' ')}", value, ""


def _sensitivity_lines(found: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    unit = found.get("unit", "")
    yield "total", found.get("total"), unit
    for year, value in (found.get("by_calendar_year") or {}).items():
        yield f"calendar {year}", value, unit
    for bucket, value in (found.get("by_tenor") or {}).items():
        yield f"tenor {bucket}", value, unit


def _energy_lines(found: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    yield "uncertainty", found.get("uncertainty_pct"), "% of P50 (one standard deviation)"
    for year, figures in (found.get("by_calendar_year") or {}).items():
        for key, value in figures.items():
            yield f"{year} {key.removesuffix('_mwh').upper()}", value, "MWh"


def _input_lines(run: Run, inputs: Mapping[str, Any]) -> Iterator[tuple[str, Any, str]]:
    for key, value in inputs.items():
        shown = _text(value) if isinstance(value, dict | list) else value
        yield key.replace("_", " "), shown, ""
    request = (run.params or {}).get("request", {})
    yield "request", _text(request), "as recorded: valuing it again gives the same numbers"
