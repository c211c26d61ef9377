"""A run's output rows: which curves it reports, the ``scenario_output`` table with bands and
attribution, its content hash, and the audit it passes before it is published."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from aurum._version import code_version
from aurum.datasets.scenarios import SCENARIO_OUTPUT
from aurum.domain.identity import IDENTITY_FIELDS
from aurum.domain.quality import CheckOutcome
from aurum.errors import ScenarioError
from aurum.scenarios import bands
from aurum.scenarios.compute import CurveGrid
from aurum.scenarios.specs import ScenarioSettings
from aurum.store import Run
from aurum.store.documents import ScenarioVersion

__all__ = [
    "audit_output", "base_table", "content_sha256", "output_mask", "output_table", "with_bands",
]  # fmt: skip


def output_mask(grid: CurveGrid, vendors: set[str], settings: ScenarioSettings) -> np.ndarray:
    mask = np.array([str(c.get("vendor") or "").upper() in vendors for c in grid.curves])
    if settings.base.curves is not None:
        mask &= grid.matching(settings.base.curves)
    if not mask.any():
        raise ScenarioError(
            "filter_matches_nothing", "no curve of the base vendors matches base.curves"
        )
    return mask


_BAND_COLUMNS = ("mean", "p5", "p50", "p95", "band_convention", "band_model", "seed")


def output_table(
    run: Run, found: ScenarioVersion, grid: CurveGrid, values: np.ndarray,
    shares: Mapping[str, np.ndarray], residual: np.ndarray | None, output: np.ndarray,
    ensemble: bands.Bands | None, seed: int,
    settings: ScenarioSettings, stack_sources: Mapping[int, str],
) -> pa.Table:  # fmt: skip
    """The run's ``scenario_output`` rows: :func:`base_table`, then :func:`with_bands`."""
    rows, cells = base_table(
        run, found, grid, values, shares, residual, output, settings, stack_sources
    )
    return with_bands(rows, cells, ensemble, seed)


def base_table(
    run: Run, found: ScenarioVersion, grid: CurveGrid, values: np.ndarray,
    shares: Mapping[str, np.ndarray], residual: np.ndarray | None, output: np.ndarray,
    settings: ScenarioSettings, stack_sources: Mapping[int, str],
) -> tuple[pa.Table, np.ndarray]:  # fmt: skip
    """The output rows without their bands (those columns null), and each row's grid cell
    (row, month) to put its band in: what a run split into path blocks keeps while its blocks
    are drawn."""
    columns: dict[str, list[Any]] = {name: [] for name in SCENARIO_OUTPUT.column_names}
    cells: list[tuple[int, int]] = []
    version = code_version()
    for row in np.flatnonzero(output):
        curve = grid.curves[int(row)]
        for m, month in enumerate(grid.months):
            base = grid.values[row, m]
            if np.isnan(base):
                continue
            cells.append((int(row), m))
            attribution = {name: _round(share[row, m]) for name, share in shares.items()}
            if residual is not None:
                attribution["residual"] = _round(residual[row, m])
            columns["tenant_id"].append(run.tenant_id or "")
            columns["run_id"].append(run.run_id)
            columns["scenario_id"].append(found.scenario_id)
            columns["scenario_version"].append(found.version)
            columns["asof_date"].append(curve["asof_date"])
            columns["vendor"].append(curve["vendor"])
            columns["base_tag"].append(curve["base_tag"])
            for name in ("curve_key", *IDENTITY_FIELDS, "currency", "per_unit"):
                columns[name].append(curve.get(name))  # fmt: skip
            columns["tenor_type"].append("MONTHLY")
            columns["tenor_label"].append(month.strftime("%Y-%m"))
            columns["contract_month"].append(month)
            columns["tenor_start"].append(month)
            columns["tenor_end"].append(month)
            columns["base_value"].append(float(base))
            columns["value"].append(float(values[row, m]))
            for name in _BAND_COLUMNS:
                columns[name].append(None)
            columns["attribution"].append(json.dumps(attribution) if shares else None)
            columns["attribution_method"].append(settings.attribution if shares else None)
            columns["stack_source"].append(stack_sources.get(int(row)))
            columns["code_version"].append(version)
    table = pa.table(columns, schema=SCENARIO_OUTPUT.schema)
    return table, np.array(cells, dtype=np.int64).reshape(-1, 2)


def with_bands(
    rows: pa.Table, cells: np.ndarray, ensemble: bands.Bands | None, seed: int
) -> pa.Table:
    """``rows`` (:func:`base_table`) with each row's band from its grid cell ``cells[i]``, and
    the run's seed on every row when it has an ensemble."""
    if len(cells) != rows.num_rows:
        raise ValueError(f"{len(cells)} grid cells for {rows.num_rows} output rows")
    columns: dict[str, list[Any]] = {name: [] for name in _BAND_COLUMNS}
    for row, m in cells.tolist():
        band = ensemble.at(row, m) if ensemble is not None else None
        for name in ("mean", "p5", "p50", "p95"):
            columns[name].append(band[name] if band else None)
        columns["band_convention"].append(ensemble.convention if band else None)
        columns["band_model"].append(ensemble.model if band else None)
        columns["seed"].append(seed if ensemble is not None else None)
    schema = SCENARIO_OUTPUT.schema
    for name, values in columns.items():
        index = schema.get_field_index(name)
        rows = rows.set_column(
            index, schema.field(index), pa.array(values, schema.field(index).type)
        )
    return rows


def _round(value: float) -> float:
    return float(round(float(value), 10))


def content_sha256(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def audit_output(rows: pa.Table, previous: pa.Table | None) -> list[CheckOutcome]:
    """A run's output before it is published: every value finite, bands in order (a run has
    no previous publication to compare with: ``previous`` is always None)."""
    values = rows.column("value").to_numpy(zero_copy_only=False).astype(float)
    bad = int((~np.isfinite(values)).sum())
    p5 = rows.column("p5").to_numpy(zero_copy_only=False).astype(float)
    p50 = rows.column("p50").to_numpy(zero_copy_only=False).astype(float)
    p95 = rows.column("p95").to_numpy(zero_copy_only=False).astype(float)
    with np.errstate(invalid="ignore"):
        disordered = int(((p5 > p50 + 1e-9) | (p50 > p95 + 1e-9)).sum())
    return [
        CheckOutcome("value_finite", "fail", bad, rows.num_rows),
        CheckOutcome("bands_ordered", "fail", disordered, rows.num_rows),
    ]
