"""``aurum``: the command line. It builds the settings and calls the services; nothing more.

Heavy imports (pandas, pyarrow, pandera) happen inside the commands that need them, so
``aurum --help`` answers at once.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from aurum._version import __version__
from aurum.config import Settings, describe_settings
from aurum.errors import AurumError

if TYPE_CHECKING:
    from aurum.ingest.pipeline import ParseResult
    from aurum.lake import Lake
    from aurum.store import Store

app = typer.Typer(
    name="aurum",
    help="Aurum: vendor EOD forward curves, ingested, versioned and served.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


class OutputFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


def _version(value: bool) -> None:
    if value:
        console.print(f"aurum {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Aurum command line."""


def _parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date in YYYY-MM-DD form") from None


@app.command()
def parse(
    files: Annotated[list[Path], typer.Argument(help="Workbooks to parse.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the output files.")],
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="File format of the row outputs.")
    ] = OutputFormat.parquet,
    as_json: Annotated[bool, typer.Option("--json", help="Print summaries as JSON.")] = False,
    vendor: Annotated[
        str | None, typer.Option(help="Vendor layout (PW, EUGP, RP) when the file name lacks it.")
    ] = None,
    asof: Annotated[
        str | None,
        typer.Option(help="As-of date YYYY-MM-DD, for files that carry none (checked if they do)."),
    ] = None,
) -> None:
    """Parse workbooks into canonical rows, quarantine and dead letters (no lake involved).

    Writes curve_observation, quarantine (parquet or csv), dead_letter.jsonl and
    parse_report.json to --out; prints one line per file. Exits 1 if any file was dead-lettered.
    """
    from aurum.ingest.pipeline import parse_workbook

    settings = Settings()
    given = _parse_date(asof)
    results: list[ParseResult] = []
    for path in files:
        result = parse_workbook(path, vendor=vendor, asof=given, settings=settings)
        results.append(result)
        if not as_json:
            _print_result(result)
    _write_outputs(results, out, fmt, neutralised=settings.files.neutralise_formulas)
    if as_json:
        print(json.dumps([r.summary() for r in results], indent=2))
    elif len(results) > 1:
        summaries = [r.summary() for r in results]
        console.print(
            f"{len(results)} files: {sum(s['rows'] for s in summaries):,} rows, "
            f"{sum(s['quarantined'] for s in summaries):,} quarantined, "
            f"{sum(s['dead_lettered'] for s in summaries)} dead-lettered; outputs in {out}",
            highlight=False,
        )
    if any(r.dead_letter for r in results):
        raise typer.Exit(code=1)


def _print_result(result: ParseResult) -> None:
    s = result.summary()
    letter = result.dead_letter
    line = (
        f"{s['file']}: vendor={s['vendor'] or '?'} asof={s['asof'] or '?'} curves={s['curves']} "
        f"rows={s['rows']} quarantined={s['quarantined']} dead_lettered={s['dead_lettered']} "
        f"seconds={s['seconds']:.3f}"
    )
    console.print(line, highlight=False, soft_wrap=True)
    console.print(f"  conservation: {result.conservation}", highlight=False, soft_wrap=True)
    if letter is not None:
        errors.print(
            f"  [red]dead letter[/red] {letter.error_code}: {letter.message}", soft_wrap=True
        )
    for notice in result.notices:
        where = f" [{notice.sheet}]" if notice.sheet else ""
        console.print(
            f"  warning {notice.code}{where}: {notice.message}", highlight=False, soft_wrap=True
        )
    for outcome in result.outcomes:
        if outcome.failed:
            console.print(
                f"  rule {outcome.rule} ({outcome.severity}): "
                f"{outcome.failed} of {outcome.checked}",
                highlight=False,
            )


def _write_outputs(
    results: list[ParseResult], out: Path, fmt: OutputFormat, *, neutralised: bool
) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from aurum.datasets.curves import CURVE_OBSERVATION, QUARANTINE_ROWS
    from aurum.formats import write_csv

    out.mkdir(parents=True, exist_ok=True)
    for name, schema, tables in (
        ("curve_observation", CURVE_OBSERVATION.schema, [r.observations for r in results]),
        ("quarantine", QUARANTINE_ROWS, [r.quarantine for r in results]),
    ):
        table = pa.concat_tables(tables) if tables else schema.empty_table()
        if fmt is OutputFormat.parquet:
            pq.write_table(table, out / f"{name}.parquet")
        else:
            write_csv(table, out / f"{name}.csv", neutralised=neutralised)
    with (out / "dead_letter.jsonl").open("w", encoding="utf-8") as handle:
        for result in results:
            if result.dead_letter is not None:
                handle.write(result.dead_letter.to_json() + "\n")
    report = [
        {
            **r.summary(),
            "conservation": {**r.conservation.__dict__, "holds": r.conservation.holds},
            "warnings": [n.__dict__ for n in r.notices],
            "rules": [o.__dict__ for o in r.outcomes],
        }
        for r in results
    ]
    (out / "parse_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")


@app.command("demo-data")
def demo_data(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Folder for the generated workbooks [default: $AURUM_HOME/inbox]."
        ),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=400, help="Business days to generate.")] = 3,
    seed: Annotated[int, typer.Option(help="Random seed: equal seeds give equal files.")] = 0,
    start: Annotated[str, typer.Option(help="First as-of date, YYYY-MM-DD.")] = "2025-09-01",
    vendor: Annotated[
        list[str] | None, typer.Option(help="Vendor(s) to generate (default: PW, EUGP, RP).")
    ] = None,
    fault: Annotated[
        list[str] | None, typer.Option(help="Named fault(s) to inject, for testing.")
    ] = None,
) -> None:
    """Write realistic synthetic vendor workbooks (all three layouts) for demos and tests."""
    from rich.progress import Progress

    from aurum.synthetic import write_demo_workbooks

    first = _parse_date(start)
    assert first is not None
    out = out or Settings().home / "inbox"
    vendors = [v.upper() for v in (vendor or ["PW", "EUGP", "RP"])]
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("Writing workbooks", total=days * len(vendors))
        try:
            written = write_demo_workbooks(
                out,
                days=days,
                seed=seed,
                start=first,
                vendors=vendors,
                faults=fault or (),
                progress=lambda _: progress.advance(task),
            )
        except ValueError as exc:
            errors.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(code=2) from None
    console.print(f"wrote {len(written)} workbooks to {out}", highlight=False)


def _recover(lake: Lake, store: Store, settings: Settings) -> None:
    """Close the runs a crash left open (see ``aurum.ingest.runner.recover_abandoned``)."""
    from aurum.ingest.runner import recover_abandoned

    older_than = timedelta(seconds=settings.ingest.abandoned_after_s)
    recovered = recover_abandoned(lake, store, older_than=older_than)
    published = sum(r.status == "published" for r in recovered)
    if published:
        errors.print(f"recorded {published} abandoned run(s) as published: the catalog has them")
    if len(recovered) > published:
        errors.print(
            f"closed {len(recovered) - published} abandoned run(s) as failed and dropped their"
            " staged branches"
        )


def _workbooks(inputs: list[Path]) -> list[Path]:
    """Files as given, and the .xlsx files of given folders (sorted: as-of order by name)."""
    found: list[Path] = []
    for item in inputs:
        found.extend(sorted(item.glob("*.xlsx")) if item.is_dir() else [item])
    return found


@app.command()
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="Workbooks or folders of workbooks.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print summaries as JSON.")] = False,
    vendor: Annotated[str | None, typer.Option(help="Vendor layout, if not in the names.")] = None,
) -> None:
    """Ingest workbooks into the lake: parse, archive, gate, then publish each day atomically.

    One line per file with its status: published (with its tag), duplicate (identical content
    already published), or failed (dead letter, failed gate). Exits 1 if any file failed.
    """
    from rich.progress import Progress

    from aurum.ingest.runner import Requester, ingest_file
    from aurum.lake import Lake
    from aurum.store import Store

    settings = Settings()
    files = _workbooks(inputs)
    lake, store = Lake(settings), Store.connect(settings)
    _recover(lake, store, settings)
    reports = []
    with Progress(console=errors, transient=True, disable=as_json or len(files) < 3) as progress:
        task = progress.add_task("Ingesting", total=len(files))
        for path in files:
            report = ingest_file(
                path, lake=lake, store=store, settings=settings, vendor=vendor,
                requester=Requester(actor=_cli_actor()),
            )  # fmt: skip
            reports.append(report)
            progress.advance(task)
            if not as_json:
                s = report.summary()
                console.print(
                    f"{s['file']}: {s['status']} vendor={s['vendor'] or '?'}"
                    f" asof={s['asof'] or '?'}"
                    f" rows={s['rows']} quarantined={s['quarantined']}"
                    + (f" tag={s['tag']}" if s["tag"] else "")
                    + f" seconds={s['seconds']:.3f}",
                    highlight=False,
                    soft_wrap=True,
                )
                if report.parse.dead_letter is not None:
                    letter = report.parse.dead_letter
                    errors.print(
                        f"  dead letter {letter.error_code}: {letter.message}", soft_wrap=True
                    )
                if report.publication is not None and report.publication.gate_failures:
                    failed = ", ".join(report.publication.gate_failures)
                    errors.print(
                        f"  failed gate(s): {failed}; staged on {report.publication.branch}"
                    )
    store.close()
    if as_json:
        print(json.dumps([r.summary() for r in reports], indent=2, default=str))
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(code=1)


@app.command()
def backfill(
    folder: Annotated[Path, typer.Argument(help="Folder of vendor workbooks.")],
    start: Annotated[
        str | None, typer.Option(help="First as-of (file-name date), YYYY-MM-DD.")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="Last as-of (file-name date), YYYY-MM-DD.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Parsing processes.")] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print summaries as JSON.")] = False,
) -> None:
    """Ingest a folder of history: parse in parallel, publish in as-of order."""
    import re

    from rich.progress import Progress

    from aurum.ingest.runner import backfill as run_backfill
    from aurum.lake import Lake
    from aurum.store import Store

    first, last = _parse_date(start) or date.min, _parse_date(end) or date.max

    def in_range(path: Path) -> bool:
        found = re.search(r"_(\d{8})_", path.name)
        if found is None:  # no date in the name: only when no range was asked for
            return start is None and end is None
        day = datetime.strptime(found.group(1), "%Y%m%d").date()
        return first <= day <= last

    candidates = _workbooks([folder])
    files = [p for p in candidates if in_range(p)]
    if len(files) < len(candidates) and not as_json:
        errors.print(f"{len(candidates) - len(files)} file(s) outside --start/--end, not ingested")
    from aurum.ingest.runner import Requester

    settings = Settings()
    lake, store = Lake(settings), Store.connect(settings)
    _recover(lake, store, settings)
    started = datetime.now(UTC)
    with Progress(console=errors, transient=True, disable=as_json) as progress:
        task = progress.add_task("Backfilling", total=len(files))
        reports = run_backfill(
            files, lake=lake, store=store, settings=settings, workers=workers,
            progress=lambda _: progress.advance(task), requester=Requester(actor=_cli_actor()),
        )  # fmt: skip
    store.close()
    if as_json:
        print(json.dumps([r.summary() for r in reports], indent=2, default=str))
    else:
        statuses = [r.status for r in reports]
        seconds = (datetime.now(UTC) - started).total_seconds()
        console.print(
            f"{len(files)} files in {seconds:.1f} s: "
            + ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses))),
            highlight=False,
        )
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(code=1)


@app.command()
def watch(
    folder: Annotated[Path, typer.Argument(help="The drop folder to watch.")],
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 5.0,
    settle: Annotated[
        int, typer.Option(min=1, help="Polls a file must stay unchanged to count as complete.")
    ] = 2,
    once: Annotated[bool, typer.Option(help="Poll until nothing is pending, then stop.")] = False,
) -> None:
    """Ingest each new, complete workbook dropped into FOLDER, once (also across restarts)."""
    import time

    from aurum.ingest.watch import Watcher
    from aurum.lake import Lake
    from aurum.store import Store

    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder")
    settings = Settings()

    def show(report: object) -> None:
        s = report.summary()  # type: ignore[attr-defined]
        console.print(
            f"{s['file']}: {s['status']}" + (f" {s['tag']}" if s["tag"] else ""), highlight=False
        )

    with Store.connect(settings) as store:
        lake = Lake(settings)
        _recover(lake, store, settings)
        watcher = Watcher(folder, lake, store, settings, settle=settle, on_report=show)
        errors.print(f"watching {folder} every {interval:g} s (Ctrl-C stops)")
        try:
            if once:
                for _ in range(settle + 1):  # long enough for every file to settle
                    watcher.poll()
                    time.sleep(interval)
            else:
                watcher.run(interval=interval)
        except KeyboardInterrupt:
            errors.print("stopped")


@app.command()
def maintenance(
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
    """Compact small files, expire old snapshots (tagged versions are kept), delete orphans."""
    from aurum.lake import Lake
    from aurum.lake.maintenance import maintain

    reports = maintain(
        Lake(Settings()),
        retain=timedelta(days=retain_days) if retain_days is not None else None,
        orphan_age=timedelta(hours=orphan_age_hours),
        compact_min_files=compact_min_files,
    )
    for r in reports:
        console.print(
            f"{r.table}: {r.partitions_compacted} partition(s) compacted, "
            f"{r.snapshots_expired} snapshot(s) expired, {r.rows_expired} row(s) past retention,"
            f" {r.orphans_deleted} orphan file(s) deleted ({r.bytes_freed:,} bytes)",
            highlight=False,
        )


@app.command()
def runs(
    vendor: Annotated[str | None, typer.Option(help="Only this vendor.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most runs shown.")] = 50,
) -> None:
    """The ingest log, newest first."""
    from aurum.store import Store

    with Store.connect(Settings()) as store:
        found = store.runs(vendor=vendor.upper() if vendor else None, status=status, limit=limit)
    view = Table("started (UTC)", "status", "as-of", "rows", "tag, or error", box=None)
    for column in view.columns:
        column.no_wrap = True
    for run in found:
        view.add_row(
            run.started_at.strftime("%m-%d %H:%M:%S"), run.status, str(run.asof or "?"),
            "" if run.rows is None else f"{run.rows:,}",
            run.tag or run.error_code or (run.vendor or ""),
        )  # fmt: skip
    console.print(view)


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


@app.command()
def sql(
    statement: Annotated[str, typer.Argument(help="One SQL statement (DuckDB dialect).")],
    as_at: Annotated[
        str | None,
        typer.Option("--as-at", help="Read as of a time (ISO), a snapshot id or a tag."),
    ] = None,
    fmt: Annotated[SqlFormat, typer.Option("--format", help="Output format.")] = SqlFormat.table,
    out: Annotated[Path | None, typer.Option(help="Write to this file (parquet needs it).")] = None,
    max_rows: Annotated[int, typer.Option(min=1, help="Most rows returned.")] = 10_000,
) -> None:
    """Query the lake with SQL; the tables curve_observation, curve_observation_quarantine,
    curve_dead_letter and qa_checks are views pinned to one snapshot."""
    import pyarrow.parquet as pq

    from aurum.errors import AurumError
    from aurum.formats import write_csv
    from aurum.lake import Lake
    from aurum.query import Query

    settings = Settings()
    try:
        result = Query(Lake(settings), max_rows=max_rows).sql(statement, as_at=as_at)
    except AurumError as exc:
        errors.print(f"[red]error[/red] {exc.code}: {exc.message}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    table = result.table
    if fmt is SqlFormat.parquet:
        if out is None:
            raise typer.BadParameter("--format parquet needs --out FILE")
        pq.write_table(table, out)
    elif fmt is SqlFormat.csv:
        write_csv(table, out or sys.stdout.buffer, neutralised=settings.files.neutralise_formulas)
    elif fmt is SqlFormat.json:
        text = json.dumps(table.to_pylist(), default=str, indent=2)
        if out:
            out.write_text(text + "\n")
        else:
            print(text)
    else:
        view = Table(*table.column_names)
        for row in table.to_pylist():
            view.add_row(*("" if v is None else str(v) for v in row.values()))
        console.print(view)
    if result.truncated:
        errors.print(f"(truncated to {max_rows:,} rows; raise --max-rows for more)")


@app.command()
def history(
    vendor: Annotated[str, typer.Option(help="Vendor code: PW, EUGP or RP.")],
    asof: Annotated[str, typer.Option(help="As-of date YYYY-MM-DD.")],
) -> None:
    """Every published version of one vendor's as-of day, oldest first."""
    from aurum.datasets.curves import CURVE_OBSERVATION
    from aurum.ingest.days import day_partition
    from aurum.lake import Lake
    from aurum.lake.versions import RUN_ID, SHA256, versions

    day = _parse_date(asof)
    assert day is not None
    table = Lake(Settings()).table("curve_observation")
    scheme, partition = CURVE_OBSERVATION.tags, day_partition(vendor.upper(), day)
    assert scheme is not None
    published = versions(table, scheme, partition)
    if not published:
        errors.print(f"no published version of {vendor.upper()} {day}")
        raise typer.Exit(code=1)
    view = Table("version", "tag", "snapshot id", "published at (UTC)", "run id", "file sha256")
    for number, snapshot_id in sorted(published.items()):
        snapshot = table.snapshot_by_id(snapshot_id)
        assert snapshot is not None
        summary = snapshot.summary
        when = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC)
        view.add_row(
            str(number), scheme.tag(partition, number), str(snapshot_id),
            when.isoformat(timespec="seconds"), summary.get(RUN_ID, ""),
            summary.get(SHA256, "")[:16],
        )  # fmt: skip
    console.print(view)


class ExportFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    xlsx = "xlsx"


@app.command()
def export(
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
    from aurum.errors import AurumError
    from aurum.lake import Lake
    from aurum.query.curves import Curves
    from aurum.query.exports import export_day
    from aurum.query.replica import Replicas

    day = _parse_date(asof)
    assert day is not None
    settings = Settings()
    try:
        lake = Lake(settings)
        curves = Curves(lake, Replicas(lake, settings.home / "serving"))
        path, rows, snapshot = export_day(
            curves, day, out=out, fmt=fmt.value, vendor=vendor, as_at=as_at,
            neutralised=settings.files.neutralise_formulas,
        )  # fmt: skip
    except AurumError as exc:
        errors.print(f"[red]error[/red] {exc.code}: {exc.message}", soft_wrap=True)
        raise typer.Exit(code=1) from None
    console.print(f"{rows:,} rows (snapshot {snapshot}) -> {path}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address (default AURUM_API__HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default AURUM_API__PORT).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default AURUM_API__WORKERS).")
    ] = None,
) -> None:
    """Serve the REST API (OpenAPI at /docs) with uvicorn."""
    import uvicorn

    from aurum.api.app import check_dev_mode

    settings = Settings()
    host = host or settings.api.host
    check_dev_mode(settings.auth.mode, host)  # raises: dev mode is loopback only
    os.environ["AURUM_API__HOST"] = host  # the workers' create_app checks the same address
    uvicorn.run(
        "aurum.api.app:create_app",
        factory=True,
        host=host,
        port=port or settings.api.port,
        workers=workers or settings.api.workers,
        log_level="info",
        access_log=False,
    )


tenants = typer.Typer(help="Tenants and their vendor entitlements.", no_args_is_help=True)
keys = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)
app.add_typer(tenants, name="tenants")
app.add_typer(keys, name="keys")


def _cli_actor() -> str:
    import getpass

    return f"cli:{getpass.getuser()}"


@tenants.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(help="Lowercase letters, digits, dashes.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    vendor: Annotated[
        list[str] | None, typer.Option("--vendor", help="Entitle to a vendor (repeatable).")
    ] = None,
) -> None:
    """Create a tenant, optionally entitled to vendors' curves."""
    from aurum.store import Store

    with Store.connect(Settings()) as store:
        store.create_tenant(tenant_id, name or tenant_id)
        tenant = store.entitle(tenant_id, [v.upper() for v in vendor or []])
        store.audit("tenant.create", actor=_cli_actor(), tenant_id=tenant_id,
                    details={"vendors": list(tenant.vendors)})  # fmt: skip
    console.print(f"tenant {tenant.tenant_id} entitled to {', '.join(tenant.vendors) or 'none'}")


@tenants.command("entitle")
def tenants_entitle(
    tenant_id: str,
    vendor: Annotated[list[str], typer.Option("--vendor", help="Vendor (repeatable).")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Withdraw instead of grant.")] = False,
) -> None:
    """Grant (or with --revoke withdraw) a tenant's right to read vendors' curves."""
    from aurum.store import Store

    with Store.connect(Settings()) as store:
        tenant = store.entitle(tenant_id, [v.upper() for v in vendor], grant=not revoke)
        store.audit("tenant.entitle", actor=_cli_actor(), tenant_id=tenant_id,
                    details={"vendors": list(tenant.vendors)})  # fmt: skip
    console.print(f"tenant {tenant.tenant_id} entitled to {', '.join(tenant.vendors) or 'none'}")


@tenants.command("list")
def tenants_list() -> None:
    """Tenants and their entitlements."""
    from aurum.store import Store

    with Store.connect(Settings()) as store:
        for tenant in store.tenants():
            state = "active" if tenant.active else "inactive"
            console.print(f"{tenant.tenant_id}\t{state}\t{','.join(tenant.vendors)}")


@keys.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The key's tenant.")],
    role: Annotated[str, typer.Option(help="aurum-admin, aurum-ops or aurum-analyst.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    expires_days: Annotated[int | None, typer.Option(min=1, help="Days until it expires.")] = None,
) -> None:
    """Issue an API key. It is printed once, here; only its hash is kept."""
    from aurum.store import Store

    with Store.connect(Settings()) as store:
        issued = store.create_key(
            tenant_id=tenant, role=role, name=name, created_by=_cli_actor(),
            expires_in=timedelta(days=expires_days) if expires_days else None,
        )  # fmt: skip
        store.audit("key.create", actor=_cli_actor(), tenant_id=tenant, target=issued.key.prefix,
                    details={"role": role, "name": name})  # fmt: skip
    errors.print(f"API key {issued.key.prefix} ({role}, tenant {tenant}); shown once:")
    print(issued.token)


@keys.command("revoke")
def keys_revoke(prefix: Annotated[str, typer.Argument(help="The key's prefix.")]) -> None:
    """Revoke an API key (running servers drop it within AURUM_AUTH__CACHE_S)."""
    from aurum.store import Store

    with Store.connect(Settings()) as store:
        key = store.revoke_key(prefix)
        store.audit("key.revoke", actor=_cli_actor(), tenant_id=key.tenant_id, target=prefix)
    console.print(f"revoked {key.prefix} (tenant {key.tenant_id}, {key.role})")


@keys.command("list")
def keys_list(tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None) -> None:
    """API keys (prefixes, never the keys)."""
    from aurum.store import Store

    with Store.connect(Settings()) as store:
        for key in store.api_keys(tenant):
            state = "revoked" if key.revoked_at else "active"
            expires = key.expires_at.isoformat() if key.expires_at else "never"
            console.print(f"{key.prefix}\t{key.tenant_id}\t{key.role}\t{state}\t{expires}")


@app.command("settings")
def show_settings() -> None:
    """List every setting: environment variable, default and meaning."""
    table = Table(title="Aurum settings")
    table.add_column("environment variable", no_wrap=True)
    table.add_column("default", no_wrap=True)
    table.add_column("meaning")
    for name, default, help_text in describe_settings():
        table.add_row(name, default, help_text)
    console.print(table)


def main() -> None:
    """Console-script entry point.

    It ends the process with ``os._exit`` once the command has returned: finalising pandas,
    pyarrow and pandera at interpreter exit costs ~0.2 s (measured), a fifth of a whole
    ``aurum parse``, and by then every output file is written and closed.
    """
    try:
        app()
        code = 0
    except AurumError as exc:  # e.g. settings that cannot work: one line, never a traceback
        errors.print(f"[red]error[/red] {exc.code}: {exc.message}", soft_wrap=True, highlight=False)
        code = 2
    except ValidationError as exc:  # a setting's value: where and why, never the value itself
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem["loc"])
            errors.print(f"[red]error[/red] settings_invalid: {where}: {problem['msg']}",
                         soft_wrap=True, highlight=False)  # fmt: skip
        code = 2
    except SystemExit as exc:
        if isinstance(exc.code, str):
            errors.print(exc.code)
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
