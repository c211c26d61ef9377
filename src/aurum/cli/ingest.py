"""``aurum ingest``, ``aurum backfill`` and ``aurum watch``: workbooks into the lake, as runs of
the platform by ``cli:<user>`` (or ``watcher``). Each first settles the runs whose lease expired."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aurum.cli.files import parse_date
from aurum.cli.output import Output, errors

if TYPE_CHECKING:
    from aurum.ingest.runner import IngestReport

__all__ = ["backfill", "ingest", "watch"]


def _workbooks(inputs: list[Path]) -> list[Path]:
    """Files as given, and the .xlsx files of given folders (sorted: as-of order by name)."""
    found: list[Path] = []
    for item in inputs:
        found.extend(sorted(item.glob("*.xlsx")) if item.is_dir() else [item])
    return found


def _show_report(output: Output, report: IngestReport) -> None:
    s = report.summary()
    output.line(
        f"{s['file']}: {s['status']} vendor={s['vendor'] or '?'} asof={s['asof'] or '?'}"
        f" rows={s['rows']} quarantined={s['quarantined']}"
        + (f" tag={s['tag']}" if s["tag"] else "")
        + f" seconds={s['seconds']:.3f}"
    )
    if report.parse.dead_letter is not None:
        letter = report.parse.dead_letter
        output.note(f"  dead letter {letter.error_code}: {letter.message}")
    if report.publication is not None and report.publication.gate_failures:
        failed = ", ".join(report.publication.gate_failures)
        output.note(f"  failed gate(s): {failed}; staged on {report.publication.branch}")


def ingest(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Workbooks or folders of workbooks.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print summaries as JSON.")] = False,
    vendor: Annotated[str | None, typer.Option(help="Vendor layout, if not in the names.")] = None,
) -> None:
    """Ingest workbooks into the lake: parse, archive, gate, then publish each day atomically.

    One line per file with its status: published (with its tag), duplicate (identical content
    already published), or failed (dead letter, failed gate). Exits 1 if any file failed.
    """
    from rich.progress import Progress

    from aurum.ingest.runner import ingest_file

    context, output = ctx.obj, ctx.obj.output(as_json)
    files = _workbooks(inputs)
    context.recover(output)
    reports = []
    with Progress(console=errors, transient=True, disable=as_json or len(files) < 3) as progress:
        task = progress.add_task("Ingesting", total=len(files))
        for path in files:
            report = ingest_file(
                path, lake=context.lake, store=context.store, settings=context.settings,
                vendor=vendor, access=context.access,
            )  # fmt: skip
            reports.append(report)
            progress.advance(task)
            _show_report(output, report)
    output.data([r.summary() for r in reports])
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(code=1)


def backfill(
    ctx: typer.Context,
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
    from rich.progress import Progress

    from aurum.ingest.runner import backfill as run_backfill

    context, output = ctx.obj, ctx.obj.output(as_json)
    first, last = parse_date(start) or date.min, parse_date(end) or date.max

    def in_range(path: Path) -> bool:
        found = re.search(r"_(\d{8})_", path.name)
        if found is None:  # no date in the name: only when no range was asked for
            return start is None and end is None
        day = datetime.strptime(found.group(1), "%Y%m%d").date()
        return first <= day <= last

    candidates = _workbooks([folder])
    files = [p for p in candidates if in_range(p)]
    if len(files) < len(candidates):
        output.note(f"{len(candidates) - len(files)} file(s) outside --start/--end, not ingested")
    context.recover(output)
    started = datetime.now(UTC)
    with Progress(console=errors, transient=True, disable=as_json) as progress:
        task = progress.add_task("Backfilling", total=len(files))
        reports = run_backfill(
            files, lake=context.lake, store=context.store, settings=context.settings,
            workers=workers, progress=lambda _: progress.advance(task), access=context.access,
        )  # fmt: skip
    output.data([r.summary() for r in reports])
    statuses = [r.status for r in reports]
    seconds = (datetime.now(UTC) - started).total_seconds()
    output.line(
        f"{len(files)} files in {seconds:.1f} s: "
        + ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    )
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(code=1)


def watch(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="The drop folder to watch.")],
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 5.0,
    settle: Annotated[
        int, typer.Option(min=1, help="Polls a file must stay unchanged to count as complete.")
    ] = 2,
    once: Annotated[bool, typer.Option(help="Poll until nothing is pending, then stop.")] = False,
) -> None:
    """Ingest each new, complete workbook dropped into FOLDER, once (also across restarts)."""
    from aurum.ingest.watch import Watcher

    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder")
    context, output = ctx.obj, ctx.obj.output()

    def show(report: IngestReport) -> None:
        s = report.summary()
        output.line(f"{s['file']}: {s['status']}" + (f" {s['tag']}" if s["tag"] else ""))

    context.recover(output)
    watcher = Watcher(folder, context.lake, context.store, context.settings, settle=settle,
                      on_report=show)  # fmt: skip
    output.note(f"watching {folder} every {interval:g} s (Ctrl-C stops)")
    try:
        if once:
            for _ in range(settle + 1):  # long enough for every file to settle
                watcher.poll()
                time.sleep(interval)
        else:
            watcher.run(interval=interval)
    except KeyboardInterrupt:
        output.note("stopped")
