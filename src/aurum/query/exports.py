"""File exports of one as-of day: CSV, Parquet or Excel, laid out for a drop folder.

``{out}/exports/{tenant}/asof=YYYY-MM-DD/curve_observation_{VENDOR|all}.{csv,parquet,xlsx}``; the
file is written beside its final name and renamed into place, so a reader never sees half of it.
A file holds every row of the day or is not written (``answer_too_large``): never a part.
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Literal

import pyarrow as pa

from aurum.auth.access import PLATFORM, Access
from aurum.errors import AnswerTooLarge, NotAcceptable, QueryError, Unknown
from aurum.formats import write_csv, write_parquet, write_xlsx
from aurum.query.curves import COLUMNS, CurveFilter, Curves
from aurum.query.engine import AsAt

__all__ = ["EXPORT_FORMATS", "export_day", "export_path"]

ExportFormat = Literal["csv", "parquet", "xlsx"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "parquet", "xlsx")
_VENDOR = re.compile(r"[A-Za-z0-9_]+")
# Excel's sheet limit is 1,048,576 rows, the header one of them; one as-of day of every vendor
# is ~40k rows.
XLSX_MAX_ROWS = 1_048_575


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
    max_rows: int = 1_000_000,
) -> tuple[Path, int, int]:
    """Write the day's rows (of the vendors ``access`` sees) under the tenant's
    folder; returns (path, rows, snapshot id). No rows: ``asof_unknown``; more than
    ``max_rows`` (or than an Excel sheet holds): ``answer_too_large``. ``neutralised``: CSV
    text that starts like a formula gets a ``'`` (``aurum.formats``); XLSX never has one."""
    if fmt not in EXPORT_FORMATS:
        raise NotAcceptable("format_unsupported", f"export format must be one of {EXPORT_FORMATS}")
    most = min(max_rows, XLSX_MAX_ROWS) if fmt == "xlsx" else max_rows
    page = curves.curves(
        CurveFilter(fields={"vendor": vendor} if vendor else {}, asof=asof, access=access),
        as_at=as_at,
        snapshot_id=snapshot_id,
        columns=COLUMNS,
        limit=most,
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
        write_parquet(table, path)
    elif fmt == "csv":
        write_csv(table, path, neutralised=neutralised)
    else:
        write_xlsx(table, path, sheet="curve_observation")
