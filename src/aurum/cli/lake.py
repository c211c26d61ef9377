"""``aurum sql``, ``history``, ``runs``, ``export`` and ``maintenance``: reading and keeping the
lake."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aurum.cli.files import parse_date

__all__ = ["export", "history", "maintenance", "runs", "sql"]


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


def sql(
    ctx: typer.Context,
    statement: Annotated[str, typer.Argument(help="One SQL statement (DuckDB dialect).")],
    as_at: Annotated[
        str | None,
        typer.Option("--as-at", help="Read as of a time (ISO), a snapshot id or a tag."),
    ] = None,
    fmt: Annotated[SqlFormat, typer.Option("--format", help="Output format.")] = SqlFormat.table,
    out: Annotated[Path | None, typer.Option(help="Write to this file (parquet needs it).")] = None,
    max_rows: Annotated[
        int, typer.Option(min=1, help="Most rows shown (table, json); csv and parquet get all.")
    ] = 10_000,
) -> None:
    """Query the lake with SQL; the tables curve_observation, curve_observation_quarantine,
    curve_dead_letter and qa_checks are views pinned to one snapshot. CSV and Parquet hold
    every row the statement returns, written as DuckDB produces them."""
    import json

    from aurum.formats import write_csv, write_parquet
    from aurum.query import Query

    context = ctx.obj
    output = context.output(fmt is SqlFormat.json and out is None)
    if fmt is SqlFormat.parquet and out is None:
        raise typer.BadParameter("--format parquet needs --out FILE")
    query = Query(context.lake, max_rows=max_rows, timeout_s=context.settings.query.timeout_s)
    if fmt in (SqlFormat.csv, SqlFormat.parquet):
        with query.stream(statement, as_at=as_at) as (reader, _):
            if fmt is SqlFormat.parquet:
                assert out is not None
                write_parquet(reader, out)
            else:
                neutralised = context.settings.files.neutralise_formulas
                write_csv(reader, out or sys.stdout.buffer, neutralised=neutralised)
        return
    result = query.sql(statement, as_at=as_at)
    table = result.table
    if fmt is SqlFormat.json and out is not None:
        out.write_text(json.dumps(table.to_pylist(), default=str, indent=2) + "\n")
    else:
        output.rows(table.column_names, [list(row.values()) for row in table.to_pylist()])
    if result.truncated:
        output.note(f"(truncated to {max_rows:,} rows; raise --max-rows for more)")


def history(
    ctx: typer.Context,
    vendor: Annotated[str, typer.Option(help="Vendor code: PW, EUGP or RP.")],
    asof: Annotated[str, typer.Option(help="As-of date YYYY-MM-DD.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Every published version of one vendor's as-of day, oldest first."""
    from aurum.datasets.curves import CURVE_OBSERVATION
    from aurum.ingest.days import day_history

    context, output = ctx.obj, ctx.obj.output(as_json)
    day = parse_date(asof)
    assert day is not None
    versions = day_history(context.lake.table(CURVE_OBSERVATION.name), vendor.upper(), day)
    if not versions:
        output.note(f"no published version of {vendor.upper()} {day}")
        raise typer.Exit(code=1)
    output.rows(
        ("version", "tag", "snapshot id", "published at (UTC)", "run id", "file sha256"),
        [
            (v.version, v.tag, v.snapshot_id, v.published_at.isoformat(timespec="seconds"),
             v.run_id, v.sha256[:16])
            for v in versions
        ],
    )  # fmt: skip


def runs(
    ctx: typer.Context,
    vendor: Annotated[str | None, typer.Option(help="Only this vendor.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most runs shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """The ingest log, newest first."""
    from aurum.ingest.history import ingest_runs

    context, output = ctx.obj, ctx.obj.output(as_json)
    found = ingest_runs(
        context.store, context.access, vendor=vendor.upper() if vendor else None, status=status,
        limit=limit,
    )  # fmt: skip
    output.rows(
        ("started (UTC)", "status", "as-of", "rows", "tag, or error"),
        [
            (run.started_at.strftime("%m-%d %H:%M:%S"), run.status, run.asof or "?",
             "" if run.rows is None else f"{run.rows:,}",
             run.tag or run.error_code or (run.vendor or ""))
            for run in found
        ],
    )  # fmt: skip


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    xlsx = "xlsx"


def export(
    ctx: typer.Context,
    asof: Annotated[str, typer.Option(help="As-of date YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option("--out", help="Folder the exports/ tree goes under.")],
    vendor: Annotated[str | None, typer.Option(help="One vendor (default: all).")] = None,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="File format.")] = (
        ExportFormat.parquet
    ),
    as_at: Annotated[
        str | None, typer.Option("--as-at", help="Read as at a time, snapshot id or tag.")
    ] = None,
) -> None:
    """Write one as-of day to OUT/exports/default/asof=YYYY-MM-DD/ as CSV, Parquet or Excel."""
    from aurum.query.curves import Curves
    from aurum.query.exports import export_day
    from aurum.query.replica import Replicas

    context = ctx.obj
    day = parse_date(asof)
    assert day is not None
    lake = context.lake
    settings = context.settings
    curves = Curves(
        lake, Replicas(lake, settings.home / "serving"), timeout_s=settings.query.timeout_s
    )
    path, rows, snapshot = export_day(
        curves, day, out=out, fmt=fmt.value, vendor=vendor, as_at=as_at,
        neutralised=settings.files.neutralise_formulas, max_rows=settings.query.max_file_rows,
    )  # fmt: skip
    context.output().line(f"{rows:,} rows (snapshot {snapshot}) -> {path}")


def maintenance(
    ctx: typer.Context,
    retain_days: Annotated[
        float | None,
        typer.Option(min=0, help="Keep untagged snapshots this many days (default: per dataset)."),
    ] = None,
    orphan_age_hours: Annotated[
        float, typer.Option(min=0, help="Delete unreferenced files older than this.")
    ] = 24,
    compact_min_files: Annotated[
        int, typer.Option(min=2, help="Rewrite a partition once it has this many files.")
    ] = 8,
) -> None:
    """Compact small files, apply each dataset's retention, expire old snapshots (tagged
    versions are kept), delete orphans."""
    from datetime import timedelta

    from aurum.lake.maintenance import maintain

    context, output = ctx.obj, ctx.obj.output()
    reports = maintain(
        context.lake,
        retain=timedelta(days=retain_days) if retain_days is not None else None,
        orphan_age=timedelta(hours=orphan_age_hours),
        compact_min_files=compact_min_files,
    )
    for r in reports:
        output.line(
            f"{r.table}: {r.partitions_compacted} partition(s) compacted, "
            f"{r.snapshots_expired} snapshot(s) expired, {r.rows_expired} row(s) past retention,"
            f" {r.orphans_deleted} orphan file(s) deleted ({r.bytes_freed:,} bytes)"
        )
