"""``aurum sql``, ``history``, ``runs``, ``export`` and ``maintenance``: reading and keeping the
lake."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aurum.cli.files import parse_date

if TYPE_CHECKING:
    from aurum.ingest.runner import IngestRun

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
    wide: Annotated[bool, typer.Option("--wide", help="Every column, uncut.")] = False,
) -> None:
    """Every published version of one vendor's as-of day, oldest first (read one with
    `aurum sql --as-at TAG`)."""
    from dataclasses import asdict

    from aurum.datasets.curves import CURVE_OBSERVATION
    from aurum.ingest.days import day_history

    context, output = ctx.obj, ctx.obj.output(as_json, wide=wide)
    day = parse_date(asof)
    assert day is not None
    versions = day_history(context.lake.table(CURVE_OBSERVATION.name), vendor.upper(), day)
    if not versions:
        output.note(f"no published version of {vendor.upper()} {day}")
        raise typer.Exit(code=1)
    if wide:
        columns: tuple[str, ...] = (
            "version", "tag", "snapshot id", "published at (UTC)", "run id", "sha256"
        )  # fmt: skip
        rows: list[tuple[Any, ...]] = [
            (v.version, v.tag, v.snapshot_id, f"{v.published_at:%Y-%m-%d %H:%M:%S}", v.run_id,
             v.sha256)
            for v in versions
        ]  # fmt: skip
    else:
        prefix = versions[-1].tag.rsplit("/", 1)[0]
        output.line(f"tags {prefix}/v<version>; read one with `aurum sql --as-at TAG`")
        columns = ("version", "published at (UTC)", "snapshot id", "run", "sha256")
        rows = [
            (f"v{v.version}", f"{v.published_at:%Y-%m-%d %H:%M:%S}", v.snapshot_id,
             v.run_id[:8], v.sha256[:12])
            for v in versions
        ]  # fmt: skip
    output.rows(columns, rows, data=[asdict(v) for v in versions])


def runs(
    ctx: typer.Context,
    vendor: Annotated[str | None, typer.Option(help="Only this vendor.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most runs shown.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Every column, uncut: times, tags, messages, gates.")
    ] = False,
) -> None:
    """The ingest log, newest first: run, status, vendor, as-of, file, rows, why.

    "why" is the version a published run made (and the gates that warned), the version a
    duplicate's content already is, or what failed: the dead letter's code or the gates."""
    from dataclasses import asdict

    from aurum.ingest.history import ingest_runs

    context, output = ctx.obj, ctx.obj.output(as_json, wide=wide)
    found = ingest_runs(
        context.store, context.access, vendor=vendor.upper() if vendor else None, status=status,
        limit=limit,
    )  # fmt: skip
    data = [
        {**asdict(run), "duplicate_of": run.duplicate_of, "why": _why(run, wide=True)}
        for run in found
    ]
    if wide:
        output.rows(
            ("run id", "started (UTC)", "seconds", "by", "status", "vendor", "as-of", "file",
             "rows", "quarantined", "why"),
            [
                (run.run_id, f"{run.started_at:%Y-%m-%d %H:%M:%S}", _seconds(run),
                 run.requested_by, run.status, run.vendor, run.asof, run.file, _count(run.rows),
                 _count(run.quarantined), _why(run, wide=True))
                for run in found
            ],
            data=data,
        )  # fmt: skip
        return
    output.rows(
        ("run", "status", "vendor", "as-of", "file", "rows", "why"),
        [
            (run.run_id[:8], run.status, run.vendor or "?", run.asof or "?", run.file,
             _count(run.rows), _why(run, wide=False))
            for run in found
        ],
        data=data,
    )  # fmt: skip


def _count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _seconds(run: IngestRun) -> str:
    if run.finished_at is None:
        return ""
    return f"{(run.finished_at - run.started_at).total_seconds():.1f}"


def _why(run: IngestRun, *, wide: bool) -> str:
    """Why the run ended as it did, in a few words (``wide``: in full)."""
    warned = [g for g in run.gates if g.get("severity") != "fail"]
    failed = [g for g in run.gates if g.get("severity") == "fail"]
    if run.status == "published":
        version = (run.tag or "") if wide else f"v{run.version}"
        if not warned:
            return version
        if not wide:  # --wide names them all, with their counts and sample keys
            return f"{version}; warn: {warned[0]['rule']}" if len(warned) == 1 else (
                f"{version}; {len(warned)} warnings"
            )  # fmt: skip
        return f"{version}; warned: {'; '.join(map(_gate_text, warned))}"
    if run.status == "duplicate":
        return f"duplicate of {run.duplicate_of if wide else f'v{run.version}'}"
    if run.status == "failed":
        if run.gate_failures and not run.error_code:
            if not wide:
                return f"gate: {', '.join(run.gate_failures)}"
            shown = "; ".join(map(_gate_text, failed)) or ", ".join(run.gate_failures)
            return f"failed gate(s): {shown}; staged on {run.branch}"
        if wide and run.error_message:
            return f"{run.error_code}: {run.error_message}"
        return run.error_code or ""
    return (run.branch or "") if wide else ""


def _gate_text(gate: dict[str, Any]) -> str:
    keys = ", ".join(gate.get("sample_keys") or ())
    return f"{gate['rule']} {gate['failed']:,} of {gate['checked']:,}" + (
        f" ({keys})" if keys else ""
    )


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
    layout: Annotated[
        str,
        typer.Option(
            help="Excel layout: long (a row per curve and tenor) or grid (tenors down, curves"
            " across, one sheet per vendor-day).",
            metavar="<long|grid>",
        ),
    ] = "long",
    as_at: Annotated[
        str | None, typer.Option("--as-at", help="Read as at a time, snapshot id or tag.")
    ] = None,
) -> None:
    """Write one as-of day to OUT/exports/default/asof=YYYY-MM-DD/ as CSV, Parquet or Excel
    (laid out for people: sorted by identity and tenor, styled header, frozen panes, filters,
    provenance on a second sheet)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from aurum.cli.output import errors
    from aurum.lineage import shared_lineage
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
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task("Exporting", total=None)
        path, rows, snapshot = export_day(
            curves, day, out=out, fmt=fmt.value, layout=layout.lower(), vendor=vendor,
            as_at=as_at, neutralised=settings.files.neutralise_formulas,
            max_rows=settings.query.max_file_rows,
            progress=lambda step: progress.update(task, description=step.capitalize()),
        )  # fmt: skip
    shared_lineage(settings).exported(
        file=path.name, snapshot_id=snapshot, asof=day, vendor=vendor, rows=rows,
        tenant_id=None, actor=context.access.actor,
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

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from aurum.cli.output import errors
    from aurum.lake.maintenance import maintain

    context, output = ctx.obj, ctx.obj.output()
    lake = context.lake
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
        console=errors, transient=True, disable=not errors.is_terminal,
    ) as progress:  # fmt: skip
        progress.add_task(f"Maintaining {len(lake.datasets)} tables", total=None)
        reports = maintain(
            lake,
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
