"""File exports of one as-of day: CSV, Parquet or Excel, laid out for a drop folder.

``{out}/exports/{tenant}/asof=YYYY-MM-DD/curve_observation_{VENDOR|all}[_grid].{csv,parquet,xlsx}``;
the file is written beside its final name and renamed into place, so a reader never sees half of
it. A file holds every row of the day or is not written (``answer_too_large``): never a part.

CSV and Parquet are for programs: every column, in the API's order (as-of, vendor, curve, tenor).
Excel is for people, in one of two layouts:

* ``long`` (the default): one row per curve and tenor in the order a person reads a day in
  (vendor, then the identity fields from asset class to block, then the tenors: months in
  delivery order, then balance, quarters, seasons and calendars), with only the columns a person
  reads (identity, tenor, bid/ask/mid, currency and unit; an identity field empty in every row is
  left out). ``value`` is ``mid`` by contract, so it is not repeated.
* ``grid``: the vendor's own view, one sheet per vendor-day: tenors down, curves across (the
  identity fields and units in the header rows), the mid in each cell.

Both end with a ``provenance`` sheet: per curve and source sheet, the cells it occupies, its
hashes (``curve_key``, ``version_hash``, ``source_sha256``), the file, the published version
(tag) and the run that published it.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum.auth.access import PLATFORM, Access
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.domain.tenors import TenorType
from aurum.errors import AnswerTooLarge, NotAcceptable, QueryError, Unknown
from aurum.formats import Sheet, column_letter, write_csv, write_parquet, write_xlsx
from aurum.lake.versions import RUN_ID, latest_versions
from aurum.query.curves import COLUMNS, IDENTITY, CurveFilter, Curves
from aurum.query.engine import AsAt
from aurum.query.filters import Where, identity_clauses
from aurum.query.page import Page, page_of
from aurum.query.replica import TABLE

__all__ = ["EXPORT_FORMATS", "LAYOUTS", "export_day", "export_path"]

ExportFormat = Literal["csv", "parquet", "xlsx"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet", "xlsx")
Layout = Literal["long", "grid"]
LAYOUTS: tuple[Layout, ...] = ("long", "grid")
_VENDOR = re.compile(r"[A-Za-z0-9_]+")
# Excel's sheet limits: 1,048,576 rows, the header one of them (one as-of day of every vendor
# is ~40k rows), and 16,384 columns (a grid's curves).
XLSX_MAX_ROWS = 1_048_575
XLSX_MAX_COLUMNS = 16_384

# Tenors within a curve: months first, then strips from the shortest kind to the longest, each
# kind in delivery order.
_TENOR_KINDS = (
    TenorType.MONTHLY, TenorType.BALANCE, TenorType.QUARTER, TenorType.SEASON, TenorType.CALENDAR,
)  # fmt: skip
_TENOR_RANK = (
    "CASE tenor_type "
    + " ".join(f"WHEN '{kind.value}' THEN {rank}" for rank, kind in enumerate(_TENOR_KINDS))
    + f" ELSE {len(_TENOR_KINDS)} END"
)
_READING_ORDER = (
    f"vendor, {', '.join(IDENTITY)}, currency, per_unit, curve_key,"
    f" {_TENOR_RANK}, tenor_start, tenor_end, tenor_label"
)
# What a person reads, in this order; the provenance sheet has the rest.
_READ = (
    "asof_date", "vendor", *IDENTITY, "tenor_type", "tenor_label", "contract_month", "tenor_end",
    "bid", "ask", "mid", "currency", "per_unit",
)  # fmt: skip
_SOURCE = ("curve_key", "sheet_name", "source_file", "source_sha256", "version_hash", "_ingest_ts")
_TENOR = ("tenor_label", "tenor_type", "contract_month", "tenor_end")
_LONG_SHEET = "curve_observation"
_PROVENANCE_SHEET = "provenance"

Progress = Callable[[str], None]


def export_path(
    out: Path,
    asof: date,
    vendor: str | None,
    fmt: str,
    tenant: str = "default",
    layout: str = "long",
) -> Path:
    """Where the export of a day goes; ``vendor`` is a code (``[A-Za-z0-9_]+``), never a path."""
    if vendor is not None and not _VENDOR.fullmatch(vendor):
        raise QueryError("parameter_invalid", f"a vendor is a code of A-Z, 0-9 and _: {vendor!r}")
    suffix = "_grid" if layout == "grid" else ""
    name = f"curve_observation_{vendor.upper() if vendor else 'all'}{suffix}.{fmt}"
    return out / "exports" / tenant / f"asof={asof.isoformat()}" / name


def export_day(
    curves: Curves,
    asof: date,
    *,
    out: Path,
    fmt: ExportFormat = "parquet",
    layout: Layout = "long",
    vendor: str | None = None,
    tenant: str = "default",
    access: Access = PLATFORM,
    as_at: AsAt = None,
    snapshot_id: int | None = None,
    neutralised: bool = True,
    max_rows: int = 1_000_000,
    progress: Progress | None = None,
) -> tuple[Path, int, int]:
    """Write the day's rows (of the vendors ``access`` sees) under the tenant's
    folder; returns (path, rows, snapshot id). No rows: ``asof_unknown``; more than
    ``max_rows`` (or than an Excel sheet holds): ``answer_too_large``. ``neutralised``: CSV
    text that starts like a formula gets a ``'`` (``aurum.formats``); XLSX never has one.
    ``layout`` is the Excel layout (``grid``: XLSX only). ``progress`` is told each step."""
    if fmt not in EXPORT_FORMATS:
        raise NotAcceptable("format_unsupported", f"export format must be one of {EXPORT_FORMATS}")
    if layout not in LAYOUTS:
        raise QueryError("parameter_invalid", f"layout must be one of {', '.join(LAYOUTS)}")
    if layout == "grid" and fmt != "xlsx":
        raise QueryError(
            "parameter_invalid",
            "layout=grid is an Excel layout (tenors down, curves across): ask for format=xlsx;"
            " CSV and Parquet hold one row per curve and tenor",
            layout=layout,
            format=fmt,
        )
    tell = progress or (lambda _: None)
    who = vendor.upper() if vendor else "every vendor"
    tell(f"reading {who} as of {asof.isoformat()}")
    most = min(max_rows, XLSX_MAX_ROWS) if fmt == "xlsx" else max_rows
    where = CurveFilter(fields={"vendor": vendor} if vendor else {}, asof=asof, access=access)
    if fmt == "xlsx":
        page = _reading_rows(curves, where, as_at=as_at, snapshot_id=snapshot_id, most=most)
    else:
        page = curves.curves(
            where, as_at=as_at, snapshot_id=snapshot_id, columns=COLUMNS, limit=most
        )
    if page.has_more:
        raise AnswerTooLarge(
            "answer_too_large",
            f"{vendor or 'every vendor'} as of {asof.isoformat()} has more than {most:,} rows,"
            f" the most {'an Excel sheet' if most == XLSX_MAX_ROWS else 'an export'} holds:"
            " export one vendor at a time"
            + (
                ", or as CSV or Parquet"
                if fmt == "xlsx"
                else ", or raise AURUM_QUERY__MAX_FILE_ROWS"
            ),
            max_rows=most,
        )
    if not page.table.num_rows:
        raise Unknown(
            "asof_unknown",
            f"nothing published for {vendor or 'any vendor'} as of {asof.isoformat()}",
            asof=asof.isoformat(),
            vendor=vendor,
        )
    rows = page.table.num_rows
    path = export_path(out, asof, vendor, fmt, tenant, layout)
    path.parent.mkdir(parents=True, exist_ok=True)
    tell(f"writing {rows:,} rows of {who} as {fmt}" + (f" ({layout})" if fmt == "xlsx" else ""))
    scratch = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        if fmt == "parquet":
            write_parquet(page.table, scratch)
        elif fmt == "csv":
            write_csv(page.table, scratch, neutralised=neutralised)
        else:
            published = _published(curves, page.snapshot_id, asof, _vendors(page.table))
            write_xlsx(_workbook(page.table, layout, published), scratch)
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return path, rows, page.snapshot_id


def _reading_rows(
    curves: Curves, where: CurveFilter, *, as_at: AsAt, snapshot_id: int | None, most: int
) -> Page:
    """The day's rows in reading order, with the columns of both sheets."""
    started = time.perf_counter()
    pinned = curves.pin(as_at, snapshot_id)
    with curves.source(pinned, where) as session:
        clause = Where()
        identity_clauses(clause, where)
        clause.add("asof_date = ?", where.asof)
        rows = session.arrow(
            f"SELECT {', '.join(_READ + _SOURCE)} FROM {TABLE} WHERE {clause.sql()}"
            f" ORDER BY {_READING_ORDER} LIMIT ?",
            [*clause.params, most + 1],
        )
    return page_of(rows, pinned, most, started)


def _vendors(rows: pa.Table) -> list[str]:
    return [str(v) for v in pc.unique(rows["vendor"]).to_pylist()]


# vendor -> (the tag of the version read, the run that published it)
Published = dict[str, tuple[str | None, str | None]]


def _published(curves: Curves, snapshot_id: int, asof: date, vendors: Sequence[str]) -> Published:
    """Which published version of each vendor's day the snapshot holds, and its run."""
    scheme = CURVE_OBSERVATION.tags
    assert scheme is not None
    table = curves.table()
    newest = latest_versions(table, scheme, snapshot_id)
    found: Published = {}
    for vendor in vendors:
        version = newest.get((vendor, asof.isoformat()))
        if version is None:
            found[vendor] = (None, None)
            continue
        tag = scheme.tag({"vendor": vendor, "asof_date": asof}, version)
        ref = table.metadata.refs.get(tag)
        snapshot = table.snapshot_by_id(ref.snapshot_id) if ref else None
        found[vendor] = (tag, snapshot.summary.get(RUN_ID) if snapshot else None)
    return found


# -- Excel layouts ------------------------------------------------------------------------------


def _workbook(rows: pa.Table, layout: Layout, published: Published | None = None) -> list[Sheet]:
    """The sheets of an Excel export of ``rows`` (in reading order, with the columns of
    ``_READ`` and ``_SOURCE``): the ``long`` sheet or one ``grid`` sheet per vendor-day, then
    ``provenance``."""
    indexed = rows.append_column("_row", pa.array(np.arange(rows.num_rows)))
    sources = indexed.group_by(["vendor", *_SOURCE], use_threads=False).aggregate(
        [("_row", "min"), ("_row", "max"), ("_row", "count")]
    )
    if layout == "long":
        sheet = _long(rows)
        last = column_letter(sheet.table.num_columns - 1)
        cells = [
            f"{_LONG_SHEET}!A{first + 2}:{last}{final + 2}"
            for first, final in zip(
                sources["_row_min"].to_pylist(), sources["_row_max"].to_pylist(), strict=True
            )
        ]
        sheets = [sheet]
    else:
        sheets, cells = [], []
        spans = list(zip(
            sources["vendor"].to_pylist(), sources["_row_min"].to_pylist(),
            sources["_row_max"].to_pylist(), strict=True,
        ))  # fmt: skip
        # rows are in vendor order: each vendor's rows are one slice, as are its sources
        vendor_of_row = rows["vendor"].to_pylist()
        start = 0
        for vendor in _vendors(rows):
            count = vendor_of_row.count(vendor)
            grid, place = _grid(rows.slice(start, count))
            sheets.append(grid)
            cells += [place(a - start, b - start) for v, a, b in spans if v == vendor]
            start += count
    return [*sheets, _provenance(rows, sources, cells, published or {})]


def _shown(rows: pa.Table, names: Sequence[str]) -> list[str]:
    """``names`` without the identity fields that are empty in every row."""
    return [n for n in names if n not in IDENTITY or rows[n].null_count < rows.num_rows]


def _long(rows: pa.Table) -> Sheet:
    return Sheet(_LONG_SHEET, rows.select(_shown(rows, _READ)))


def _grid(rows: pa.Table) -> tuple[Sheet, Callable[[int, int], str]]:
    """One vendor-day as the vendor lays it out: a row per tenor, a column per curve (in the
    rows' order), the mid in each cell; and where a curve's rows (first, last) land."""
    vendor, asof = rows["vendor"][0].as_py(), rows["asof_date"][0].as_py()
    name = f"{vendor} {asof.isoformat()}"
    keys = rows["curve_key"]
    curve_keys = pc.unique(keys)  # in order of first appearance: the reading order
    if len(curve_keys) + len(_TENOR) > XLSX_MAX_COLUMNS:
        raise AnswerTooLarge(
            "answer_too_large",
            f"{vendor} as of {asof.isoformat()} has {len(curve_keys):,} curves, more than an"
            " Excel sheet has columns: filter the curves, or use layout=long",
            max_columns=XLSX_MAX_COLUMNS - len(_TENOR),
        )
    curves = rows.take(pc.index_in(curve_keys, keys))  # each curve's first row
    tenor_of = pc.binary_join_element_wise(rows["tenor_type"], rows["tenor_label"], "\x1f")
    tenors = sorted(
        rows.group_by(["tenor_type", "tenor_label", "contract_month", "tenor_end"],
                      use_threads=False).aggregate([]).to_pylist(),
        key=_tenor_order,
    )  # fmt: skip
    tenor_keys = pa.array([f"{t['tenor_type']}\x1f{t['tenor_label']}" for t in tenors])
    down = np.asarray(pc.index_in(tenor_of, tenor_keys))
    across = np.asarray(pc.index_in(keys, curve_keys))
    mids = np.full((len(tenors), len(curve_keys)), np.nan)
    mids[down, across] = rows["mid"].to_numpy(zero_copy_only=False)
    columns = {
        "tenor_label": pa.array([t["tenor_label"] for t in tenors], pa.string()),
        "tenor_type": pa.array([t["tenor_type"] for t in tenors], pa.string()),
        "contract_month": pa.array([t["contract_month"] for t in tenors], pa.date32()),
        "tenor_end": pa.array([t["tenor_end"] for t in tenors], pa.date32()),
    }
    for i in range(len(curve_keys)):
        columns[f"curve{i}"] = pa.array(mids[:, i], mask=np.isnan(mids[:, i]))
    fields = _shown(curves, IDENTITY)
    blank = (None,) * (len(_TENOR) - 1)
    header = [(field, *blank, *_text(curves[field])) for field in fields]
    units = [f"{c or ''}/{u or ''}" for c, u in zip(
        curves["currency"].to_pylist(), curves["per_unit"].to_pylist(), strict=True)]  # fmt: skip
    header.append(("units", *blank, *units))
    header.append((*_TENOR, *(_curve_name(curve) for curve in curves.to_pylist())))
    top = len(header) + 1  # the first tenor's Excel row
    row_of = {key: i for i, key in enumerate(tenor_keys.to_pylist())}
    tenor_at = tenor_of.to_pylist()
    column_of = {key: i for i, key in enumerate(curve_keys.to_pylist())}
    key_at = keys.to_pylist()
    quoted = f"'{name}'"

    def place(first: int, last: int) -> str:
        letter = column_letter(len(_TENOR) + column_of[key_at[first]])
        low, high = sorted((row_of[tenor_at[first]], row_of[tenor_at[last]]))
        return f"{quoted}!{letter}{top + low}:{letter}{top + high}"

    sheet = Sheet(name, pa.table(columns), header=tuple(header), frozen_columns=1)
    return sheet, place


def _tenor_order(tenor: dict[str, Any]) -> tuple[Any, ...]:
    kind = tenor["tenor_type"]
    rank = next((i for i, k in enumerate(_TENOR_KINDS) if k.value == kind), len(_TENOR_KINDS))
    start, end = tenor["contract_month"], tenor["tenor_end"]  # contract_month: the first month
    return (rank, start is None, start or date.min, end is None, end or date.min,
            tenor["tenor_label"])  # fmt: skip


def _text(column: pa.ChunkedArray) -> list[str | None]:
    return [None if v is None else str(v) for v in column.to_pylist()]


def _curve_name(curve: dict[str, Any]) -> str:
    """A curve as a person names it: its identity fields past asset class and region.

    >>> _curve_name({"asset_class": "power", "region": "EU", "location": "German",
    ...              "product": "power", "block": "BASE", "iso": None})
    'German power BASE'
    """
    return " ".join(
        str(curve[f]) for f in IDENTITY if f not in ("asset_class", "region") and curve.get(f)
    )


def _provenance(
    rows: pa.Table, sources: pa.Table, cells: Sequence[str], published: Published
) -> Sheet:
    """Per curve and source sheet: where its cells are, its hashes, file, version and run."""
    first = rows.take(sources["_row_min"])
    identity = _shown(first, IDENTITY)
    vendors = first["vendor"].to_pylist()
    table = pa.table(
        {
            "vendor": first["vendor"],
            **{name: first[name] for name in identity},
            "currency": first["currency"],
            "per_unit": first["per_unit"],
            "cells": pa.array(cells, pa.string()),
            "rows": sources["_row_count"],
            "sheet_name": first["sheet_name"],
            "source_file": first["source_file"],
            "version": pa.array([published.get(v, (None, None))[0] for v in vendors], pa.string()),
            "run_id": pa.array([published.get(v, (None, None))[1] for v in vendors], pa.string()),
            "curve_key": first["curve_key"],
            "version_hash": first["version_hash"],
            "source_sha256": first["source_sha256"],
            "ingested_at_utc": first["_ingest_ts"],
        }
    )
    return Sheet(_PROVENANCE_SHEET, table)
