"""File exports of one as-of day: CSV, Parquet or Excel, laid out for a drop folder.

``{out}/exports/{tenant}/asof=YYYY-MM-DD/curve_observation_{VENDOR|all}.{csv,parquet,xlsx}``; the
file is written beside its final name and renamed into place, so a reader never sees half of it.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from aurum.auth.access import PLATFORM, Access
from aurum.errors import NotAcceptable, QueryError, Unknown
from aurum.formats import write_csv, write_xlsx
from aurum.query.curves import COLUMNS, CurveFilter, Curves
from aurum.query.engine import AsAt

__all__ = ["EXPORT_FORMATS", "export_day", "export_path"]

ExportFormat = Literal["csv", "parquet", "xlsx"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet", "xlsx")
_VENDOR = re.compile(r"[A-Za-z0-9_]+")
_MAX_ROWS = 2_000_000  # one as-of day of every vendor is ~40k rows; Excel's sheet limit is 1M


def export_path(
    out: Path, asof: date, vendor: str | None, fmt: str, tenant: str = "default"
) -> Path:
    """Where the export of a day goes; ``vendor`` is a code (``[A-Za-z0-9_]+``), never a path."""
    if vendor is not None and not _VENDOR.fullmatch(vendor):
        raise QueryError("parameter_invalid", f"a vendor is a code of A-Z, 0-9 and _: {vendor!r}")
    name = f"curve_observation_{vendor.upper() if vendor else 'all'}.{fmt}"
    return out / "exports" / tenant / f"asof={asof.isoformat()}" / name


def export_day(
    curves: Curves,
    asof: date,
    *,
    out: Path,
    fmt: ExportFormat = "parquet",
    vendor: str | None = None,
    tenant: str = "default",
    access: Access = PLATFORM,
    as_at: AsAt = None,
    snapshot_id: int | None = None,
    neutralised: bool = True,
) -> tuple[Path, int, int]:
    """Write the day's rows (of the vendors ``access`` sees) under the tenant's
    folder; returns (path, rows, snapshot id). No rows: ``asof_unknown``. ``neutralised``: CSV
    text that starts like a formula gets a ``'`` (``aurum.formats``); XLSX never has one."""
    if fmt not in EXPORT_FORMATS:
        raise NotAcceptable("format_unsupported", f"export format must be one of {EXPORT_FORMATS}")
    page = curves.curves(
        CurveFilter(fields={"vendor": vendor} if vendor else {}, asof=asof, access=access),
        as_at=as_at,
        snapshot_id=snapshot_id,
        columns=COLUMNS,
        limit=_MAX_ROWS,
    )
    if not page.table.num_rows:
        raise Unknown(
            "asof_unknown",
            f"nothing published for {vendor or 'any vendor'} as of {asof.isoformat()}",
            asof=asof.isoformat(),
            vendor=vendor,
        )
    path = export_path(out, asof, vendor, fmt, tenant)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _write(page.table, scratch, fmt, neutralised)
        os.replace(scratch, path)
    finally:
        scratch.unlink(missing_ok=True)
    return path, page.table.num_rows, page.snapshot_id


def _write(table: pa.Table, path: Path, fmt: ExportFormat, neutralised: bool) -> None:
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
    elif fmt == "csv":
        write_csv(table, path, neutralised=neutralised)
    else:
        write_xlsx(table, path, sheet="curve_observation")
