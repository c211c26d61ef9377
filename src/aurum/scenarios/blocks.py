"""A large ensemble drawn as path blocks that workers share through the queue.

A scenario run whose ensemble has more paths than ``AURUM_SCENARIOS__PATHS_PER_BLOCK`` is
executed in three moves, each a claim from the run table (the queue):

1. **plan** — the run reads its base, evaluates its assumptions with their attribution,
   calibrates and backtests every banded curve (:func:`aurum.scenarios.bands.plan_bands`),
   writes the plan (:func:`write_plan`) and its output rows without bands (:func:`write_rows`)
   to the run's scratch folder in the warehouse, and fans out into one child run per path
   block (:meth:`aurum.runs.Runs.fan_out`), waiting on the queue;
2. **blocks** — any worker claims a block, reads the plan, draws paths ``[start, stop)`` of
   every curve (:meth:`~aurum.scenarios.bands.BandPlan.simulate`: a block's random streams
   depend only on the seed, the curve and the path index, never on the split) and writes them
   to a file of its own (:func:`write_block`); the last block to end wakes the run;
3. **combine** — the run, claimed again, reads each curve's paths from every block in path
   order (:func:`read_curves`), bands them as one matrix, fills its rows' bands and publishes
   exactly as a run in one piece does, then removes its scratch folder.

The scratch folder is ``{warehouse}/scratch/{namespace}/scenario_run/{run_id}/``: on the
warehouse's own storage (a local folder or S3, where no folder marker is ever written), so
workers on other machines read what a worker wrote, and never backed up (it is not in the
lake's metadata or the raw archive). Every file is written once under a name of its own (a
block retried after its worker died writes another file, and its record says which), so a
worker taken for dead that still writes can never damage a file another reads.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

from aurum.domain import ensembles
from aurum.errors import ScenarioError
from aurum.lake.catalog import Lake
from aurum.lake.maintenance import delete_files
from aurum.scenarios.bands import BandPlan, CurvePlan
from aurum.scenarios.compute import History

__all__ = [
    "BLOCK_FORMAT", "last_written", "read_curves", "read_plan", "read_rows", "remove",
    "scratch_dir", "scratch_runs", "write_block", "write_plan", "write_rows",
]  # fmt: skip

BLOCK_FORMAT = 1
"""The version of the scratch files' layout: a block or plan of another is refused."""
_CELL_COLUMNS = ("_grid_row", "_grid_month")
_VALUE = pa.schema([("value", pa.float64())])


def scratch_dir(lake: Lake, run_id: str) -> str:
    """Where run ``run_id`` keeps its plan and its blocks' paths while they are drawn."""
    return f"{_scratch_root(lake)}/{run_id}"


def _scratch_root(lake: Lake) -> str:
    """The scratch folders of this lake's runs: under its namespace, apart from another
    installation's on the same warehouse."""
    return f"{lake.warehouse}/scratch/{lake.namespace}/scenario_run"


# -- the plan ----------------------------------------------------------------------------------


def write_plan(lake: Lake, run_id: str, plan: BandPlan) -> str:
    """Write ``plan`` (one row per banded curve, the rest in the schema's metadata); its
    location."""
    historical = plan.model == "historical"
    curves = plan.curves
    columns = {
        "row": pa.array([c.row for c in curves], pa.int64()),
        "vendor": pa.array([c.vendor for c in curves], pa.string()),
        "curve_key": pa.array([c.key for c in curves], pa.string()),
        "name": pa.array([c.name for c in curves], pa.string()),
        "cells": pa.array([c.cells.tolist() for c in curves], pa.list_(pa.bool_())),
        "stream": pa.array([list(c.stream) for c in curves], pa.list_(pa.int64())),
        "forward": pa.array([c.forward.tolist() for c in curves], pa.list_(pa.float64())),
        "taus": pa.array([c.taus.tolist() for c in curves], pa.list_(pa.float64())),
        "ahead": pa.array([c.ahead.tolist() for c in curves], pa.list_(pa.int64())),
        "calibration_model": pa.array([c.calibration.model for c in curves], pa.string()),
        **{
            name: pa.array([float(getattr(c.calibration, name)) for c in curves], pa.float64())
            for name in ("kappa", "sigma_short", "sigma_long", "rho")
        },
        # the historical model resamples the history itself; the factor model needs none
        "history_dates": pa.array(
            [list(c.history.dates) if historical else [] for c in curves], pa.list_(pa.date32())
        ),
        "history_values": pa.array(
            [c.history.values.tolist() if historical else [] for c in curves],
            pa.list_(pa.list_(pa.float64())),
        ),
    }
    about = {
        "format": BLOCK_FORMAT, "model": plan.model, "paths": plan.paths,
        "horizon_days": plan.horizon_days, "store_paths": plan.store_paths,
        "shape": list(plan.shape), "labels": list(plan.labels), "report": plan.report,
    }  # fmt: skip
    table = pa.table(columns).replace_schema_metadata({"aurum.plan": json.dumps(about)})
    return _write(lake, f"{scratch_dir(lake, run_id)}/plan-{_unique()}.arrow", [table])


def read_plan(lake: Lake, location: str) -> BandPlan:
    """The plan :func:`write_plan` wrote at ``location``, as it was (floats bit for bit)."""
    table = _read(lake, location).read_all()
    about = _metadata(table.schema, "aurum.plan", location)
    curves = []
    for item in table.to_pylist():
        calibration = ensembles.Calibration(
            model=item["calibration_model"], kappa=item["kappa"],
            sigma_short=item["sigma_short"], sigma_long=item["sigma_long"], rho=item["rho"],
            days=0, first=None, last=None, tenors=0, fit={},
        )  # fmt: skip
        values = item["history_values"]
        history = History(
            tuple(item["history_dates"]),
            np.array(values, dtype=np.float64) if values else np.empty((0, 0)),
        )
        curves.append(CurvePlan(
            row=item["row"], vendor=item["vendor"], key=item["curve_key"], name=item["name"],
            cells=np.array(item["cells"], dtype=bool), stream=tuple(item["stream"]),
            forward=np.array(item["forward"], dtype=np.float64),
            taus=np.array(item["taus"], dtype=np.float64),
            ahead=np.array(item["ahead"], dtype=np.int64), calibration=calibration,
            history=history,
        ))  # fmt: skip
    return BandPlan(
        model=about["model"], paths=int(about["paths"]), horizon_days=int(about["horizon_days"]),
        store_paths=bool(about["store_paths"]), shape=(about["shape"][0], about["shape"][1]),
        labels=tuple(about["labels"]), curves=tuple(curves), report=about["report"],
    )  # fmt: skip


# -- the output rows, without bands --------------------------------------------------------------


def write_rows(lake: Lake, run_id: str, rows: pa.Table, cells: np.ndarray) -> str:
    """Write the run's output rows without bands and each row's grid cell; the location."""
    table = rows.append_column(_CELL_COLUMNS[0], pa.array(cells[:, 0], pa.int64()))
    table = table.append_column(_CELL_COLUMNS[1], pa.array(cells[:, 1], pa.int64()))
    return _write(lake, f"{scratch_dir(lake, run_id)}/rows-{_unique()}.arrow", [table])


def read_rows(lake: Lake, location: str) -> tuple[pa.Table, np.ndarray]:
    """The rows and cells :func:`write_rows` wrote."""
    table = _read(lake, location).read_all()
    cells = np.column_stack(
        [table.column(name).to_numpy().astype(np.int64) for name in _CELL_COLUMNS]
    ).reshape(-1, 2)
    return table.drop_columns(list(_CELL_COLUMNS)), cells


# -- the blocks' paths ---------------------------------------------------------------------------


def write_block(
    lake: Lake, run_id: str, plan: BandPlan, *, index: int, start: int, stop: int,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> tuple[str, int]:  # fmt: skip
    """Draw paths ``[start, stop)`` of every curve of ``plan`` and write them, one record batch
    per curve (its ``(paths, tenors)`` matrix, row by row), curve by curve so one curve's
    block is held at a time; the file's location and size in bytes."""
    about = {"format": BLOCK_FORMAT, "index": index, "start": start, "stop": stop,
             "numerics": ensembles.numerics_fingerprint()}  # fmt: skip
    schema = _VALUE.with_metadata({"aurum.block": json.dumps(about)})
    location = f"{scratch_dir(lake, run_id)}/block-{index:04d}-{_unique()}.arrow"

    def batches() -> Iterator[pa.RecordBatch]:
        for done, curve in enumerate(plan.curves):
            matrix = plan.simulate(curve, start, stop)
            yield pa.record_batch([pa.array(matrix.reshape(-1))], schema=schema)
            progress(done + 1, len(plan.curves))

    _write(lake, location, batches(), schema=schema)
    filesystem, path = lake.filesystem(location)
    return location, int(filesystem.get_file_info(path).size or 0)


def read_curves(
    lake: Lake, plan: BandPlan, blocks: Sequence[Mapping[str, Any]]
) -> Iterator[tuple[CurvePlan, list[np.ndarray]]]:
    """Each curve of ``plan`` with its blocks' matrices in path order, read curve by curve.
    ``blocks``: each block's ``file``, ``start`` and ``stop`` as its run recorded them, in
    path order; they must cover the run's paths exactly once."""
    edges = [(int(b["start"]), int(b["stop"])) for b in blocks]
    if not edges or edges[0][0] != 0 or edges[-1][1] != plan.paths or any(
        a[1] != b[0] for a, b in itertools.pairwise(edges)
    ):  # fmt: skip
        raise ScenarioError(
            "path_blocks_incomplete",
            f"the path blocks {edges} do not cover the run's {plan.paths:,} paths once",
        )
    readers = []
    for block, (start, stop) in zip(blocks, edges, strict=True):
        reader = _read(lake, str(block["file"]))
        about = _metadata(reader.schema, "aurum.block", str(block["file"]))
        if (about["start"], about["stop"]) != (start, stop) or (
            reader.num_record_batches != len(plan.curves)
        ):  # fmt: skip
            raise ScenarioError(
                "path_block_damaged",
                f"path block file {block['file']} holds paths [{about['start']},"
                f" {about['stop']}) in {reader.num_record_batches} curves; its run recorded"
                f" [{start}, {stop}) of {len(plan.curves)}",
            )  # fmt: skip
        readers.append(reader)
    for index, curve in enumerate(plan.curves):
        width = int(curve.cells.sum())
        parts = []
        for reader, (start, stop) in zip(readers, edges, strict=True):
            values = reader.get_batch(index).column(0).to_numpy()
            if values.size != (stop - start) * width:
                raise ScenarioError(
                    "path_block_damaged",
                    f"{curve.name}: {values.size} values in paths [{start}, {stop}), expected"
                    f" {(stop - start) * width}",
                )  # fmt: skip
            parts.append(values.reshape(stop - start, width))
        yield curve, parts


def scratch_runs(lake: Lake) -> list[str]:
    """The runs that have a scratch folder, by id."""
    filesystem, path = lake.filesystem(_scratch_root(lake))
    listing = filesystem.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(info.base_name for info in listing if info.type == pafs.FileType.Directory)


def last_written(lake: Lake, run_id: str) -> datetime | None:
    """When a file of run ``run_id``'s scratch folder was last written (``None``: no file)."""
    _, files = _scratch_files(lake, run_id)
    times = [f.mtime for f in files if f.mtime is not None]
    return max((t if t.tzinfo else t.replace(tzinfo=UTC) for t in times), default=None)


def _scratch_files(lake: Lake, run_id: str) -> tuple[pafs.FileSystem, list[pafs.FileInfo]]:
    """The files of run ``run_id``'s scratch folder (none when it has none)."""
    filesystem, path = lake.filesystem(scratch_dir(lake, run_id))
    listing = filesystem.get_file_info(pafs.FileSelector(path, recursive=True,
                                                         allow_not_found=True))  # fmt: skip
    return filesystem, [info for info in listing if info.type == pafs.FileType.File]


def remove(lake: Lake, run_id: str) -> None:
    """Remove the run's scratch folder (nothing when it has none). On S3 its files go through
    DeleteObjects (:func:`aurum.lake.maintenance.delete_files`): Arrow's ``delete_dir`` leaves
    a folder marker behind, which S3-compatible servers such as rclone's refuse."""
    filesystem, path = lake.filesystem(scratch_dir(lake, run_id))
    if isinstance(filesystem, pafs.LocalFileSystem):
        with contextlib.suppress(FileNotFoundError):  # none, or removed meanwhile by a sweep
            filesystem.delete_dir(path)
        return
    _, files = _scratch_files(lake, run_id)
    if files:
        delete_files([f"s3://{info.path}" for info in files], lake.io_properties)


# -- helpers ------------------------------------------------------------------------------------


def _unique() -> str:
    return uuid.uuid4().hex[:12]


def _write(lake: Lake, location: str, parts: Any, *, schema: pa.Schema | None = None) -> str:
    """Write tables or record batches as one Arrow IPC file at ``location``."""
    filesystem, path = lake.filesystem(location)
    if isinstance(filesystem, pafs.LocalFileSystem):  # S3 has no folders: no marker is made
        filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as sink:
        writer: pa.ipc.RecordBatchFileWriter | None = None
        try:
            for part in parts:
                if writer is None:
                    writer = pa.ipc.new_file(sink, schema or part.schema)
                if isinstance(part, pa.Table):
                    writer.write_table(part)
                else:
                    writer.write_batch(part)
            if writer is None:
                writer = pa.ipc.new_file(sink, schema or _VALUE)
        finally:
            if writer is not None:
                writer.close()
    return location


def _read(lake: Lake, location: str) -> pa.ipc.RecordBatchFileReader:
    filesystem, path = lake.filesystem(location)
    try:
        return pa.ipc.open_file(filesystem.open_input_file(path))
    except FileNotFoundError:
        raise ScenarioError(
            "path_block_missing", f"the split run's scratch file {location} is gone",
        ) from None  # fmt: skip
    except pa.ArrowInvalid as exc:
        raise ScenarioError(
            "path_block_damaged", f"the split run's scratch file {location} is damaged: {exc}"
        ) from None


def _metadata(schema: pa.Schema, key: str, location: str) -> dict[str, Any]:
    raw = (schema.metadata or {}).get(key.encode())
    about = json.loads(raw) if raw else None
    if not isinstance(about, dict) or about.get("format") != BLOCK_FORMAT:
        raise ScenarioError(
            "path_block_damaged",
            f"{location} is not a scratch file of this version (format {BLOCK_FORMAT})",
        )
    return about
