"""``aurum ingest``, ``aurum backfill`` and ``aurum watch``: workbooks into the lake, as runs of
the platform by ``cli:<user>`` (or ``watcher``). Each first settles the runs whose lease expired."""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aurum.cli.files import parse_date, show_details
from aurum.cli.output import Output, errors

if TYPE_CHECKING:
    from rich.progress import Progress

    from aurum.ingest.runner import IngestReport

__all__ = ["backfill", "ingest", "watch"]


def _select(output: Output, inputs: list[Path], recursive: bool) -> list[Path]:
    """The workbooks of ``inputs`` (see :mod:`aurum.ingest.selection`), saying what was left out
    and why. A path that does not exist is an error here, before any run is recorded."""
    from aurum.ingest.selection import select_workbooks

    selection = select_workbooks(inputs, recursive=recursive)
    for skipped in selection.skipped:
        output.note(f"skipped {skipped.path}: {skipped.reason}")
    for folder, subfolders in selection.empty:
        inside = f"; {subfolders} subfolder(s) not searched: pass --recursive" if subfolders else ""
        output.note(f"warning: no .xlsx workbook in {folder}{inside}")
    if selection.unsearched:
        output.note(
            f"warning: {selection.unsearched} subfolder(s) not searched: pass --recursive to"
            " ingest their workbooks too"
        )
    return selection.files


def _progress(hidden: bool) -> Progress:
    """A progress bar on stderr, for a person watching a terminal (not ``hidden``, as with
    --json); gone when done."""
    from rich.progress import Progress

    return Progress(console=errors, transient=True, disable=hidden or not errors.is_terminal)


def _show_report(output: Output, report: IngestReport) -> None:
    s = report.summary()
    status = f"duplicate of {s['duplicate_of']}" if s["duplicate_of"] else s["status"]
    output.line(
        f"{s['file']}: {status} vendor={s['vendor'] or '?'} asof={s['asof'] or '?'}"
        f" rows={s['rows']} quarantined={s['quarantined']}"
        + (f" tag={s['tag']}" if s["tag"] else "")
        + f" seconds={s['seconds']:.3f}"
    )
    show_details(output, report.parse)
    for gate in s["gates"]:
        output.line(f"  gate {_gate(gate)}")
    if report.publication is not None and report.publication.gate_failures:
        failed = ", ".join(report.publication.gate_failures)
        output.note(f"  failed gate(s): {failed}; staged on {report.publication.branch}")
    if report.error is not None and report.parse.dead_letter is None:
        output.note(f"  error {report.error}: see `aurum runs --wide`")


def _gate(gate: dict[str, Any]) -> str:
    """``jump (warn): 3 of 11,210: <sample keys>``"""
    keys = ", ".join(gate["sample_keys"])
    return f"{gate['rule']} ({gate['severity']}): {gate['failed']:,} of {gate['checked']:,}" + (
        f": {keys}" if keys else ""
    )


def ingest(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Workbooks or folders of workbooks.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print summaries as JSON.")] = False,
    vendor: Annotated[str | None, typer.Option(help="Vendor layout, if not in the names.")] = None,
    asof: Annotated[
        str | None,
        typer.Option(help="As-of date YYYY-MM-DD, for files that carry none (checked if they do)."),
    ] = None,
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Also the workbooks in subfolders.")
    ] = False,
) -> None:
    """Ingest workbooks into the lake: parse, archive, gate, then publish each day atomically.

    One line per file with its status: published (with its tag), duplicate (its content is
    already published as a version of that day: nothing changes), or failed (dead letter,
    failed gate); then where its price cells went, its warnings and the gates that fired. A
    folder gives its .xlsx files (any case), not its subfolders' (--recursive), never Excel lock
    (~$*), hidden or temporary files. Exits 1 if any file failed, 2 if a path does not exist.
    """
    from aurum.ingest.runner import ingest_file

    context, output = ctx.obj, ctx.obj.output(as_json)
    day = parse_date(asof)
    files = _select(output, inputs, recursive)
    context.recover(output)
    reports = []
    with _progress(as_json or len(files) < 2) as progress:
        task = progress.add_task("Ingesting", total=len(files))
        for path in files:
            report = ingest_file(
                path, lake=context.lake, store=context.store, settings=context.settings,
                vendor=vendor, asof=day, access=context.access,
            )  # fmt: skip
            reports.append(report)
            progress.advance(task)
            _show_report(output, report)
    output.data([r.summary() for r in reports])
    if len(reports) > 1:
        output.line(_tally(len(files), [r.status for r in reports]))
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(code=1)


def _tally(files: int, statuses: list[str], what: str = "file(s)") -> str:
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    return f"{files} {what}: {counts or 'nothing ingested'}"


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
    recursive: Annotated[
        bool, typer.Option("--recursive", "-r", help="Also the workbooks in subfolders.")
    ] = False,
) -> None:
    """Ingest a folder of history: parse in parallel, publish in as-of order.

    Prints each failed file with its reason, then one line for all. The same files are taken
    as by `aurum ingest`; exits 1 if any file failed."""
    from aurum.ingest.runner import backfill as run_backfill

    context, output = ctx.obj, ctx.obj.output(as_json)
    first, last = parse_date(start) or date.min, parse_date(end) or date.max

    def in_range(path: Path) -> bool:
        found = re.search(r"_(\d{8})_", path.name)
        if found is None:  # no date in the name: only when no range was asked for
            return start is None and end is None
        day = datetime.strptime(found.group(1), "%Y%m%d").date()
        return first <= day <= last

    candidates = _select(output, [folder], recursive)
    files = [p for p in candidates if in_range(p)]
    if len(files) < len(candidates):
        output.note(f"{len(candidates) - len(files)} file(s) outside --start/--end, not ingested")
    context.recover(output)
    started = datetime.now(UTC)

    with _progress(as_json) as progress:
        parsing = progress.add_task("Parsing", total=len(files))
        publishing = progress.add_task("Publishing", total=len(files))

        def ingested(report: IngestReport) -> None:
            progress.advance(publishing)
            if report.status == "failed":
                _show_report(output, report)

        reports = run_backfill(
            files, lake=context.lake, store=context.store, settings=context.settings,
            workers=workers, progress=ingested, access=context.access,
            parsed_one=lambda _: progress.advance(parsing),
        )  # fmt: skip
    output.data([r.summary() for r in reports])
    seconds = (datetime.now(UTC) - started).total_seconds()
    output.line(f"{_tally(len(files), [r.status for r in reports])} in {seconds:.1f} s")
    if any(r.status == "failed" for r in reports):
        raise typer.Exit(code=1)


def watch(
    ctx: typer.Context,
    folder: Annotated[Path, typer.Argument(help="The drop folder to watch.")],
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 5.0,
    settle: Annotated[
        int, typer.Option(min=1, help="Polls a file must stay unchanged to count as complete.")
    ] = 2,
    once: Annotated[
        bool, typer.Option(help="Poll until no file is left to settle, then stop.")
    ] = False,
) -> None:
    """Ingest each new, complete workbook dropped into FOLDER, and say what became of every file.

    A line per file: published, duplicate, failed (with the reason), or skipped (with the
    reason: already published, an Excel lock file, not .xlsx ...). Content already published
    is not ingested again (also across restarts, and under another name). A file that failed is
    tried again once it changes, or once the settings deciding the outcome do (the gates, the
    reading limits, the Aurum version). With --once: exits 1 if a file is failed (now, or
    before and unchanged), else 0.
    """
    from aurum.ingest.watch import Seen, Skipped, Watcher

    if not folder.is_dir():
        raise typer.BadParameter(f"{folder} is not a folder")
    context, output = ctx.obj, ctx.obj.output()
    outcomes: list[str] = []

    def reported(report: IngestReport) -> None:
        outcomes.append(report.status)
        _show_report(output, report)

    def skipped(item: Skipped | Seen) -> None:
        outcome = item.status if isinstance(item, Seen) else "skipped"
        if outcome == "published":
            outcome = "skipped"
        outcomes.append(outcome)
        label = "failed" if outcome == "failed" else "skipped"
        output.line(f"{item.path.name}: {label}, {item.reason}")

    context.recover(output)
    watcher = Watcher(folder, context.lake, context.store, context.settings, settle=settle,
                      on_report=reported, on_skip=skipped)  # fmt: skip
    if once:
        output.note(f"checking {folder}: a poll every {interval:g} s until every file settled")
        watcher.poll()
        while watcher.pending:
            time.sleep(interval)
            watcher.poll()
        if not outcomes:
            output.note(f"warning: {folder} is empty")
        output.line(_tally(len(outcomes), outcomes, "in the folder"))
        if "failed" in outcomes:
            raise typer.Exit(code=1)
        return
    output.note(f"watching {folder} every {interval:g} s (Ctrl-C stops)")
    try:
        watcher.run(interval=interval)
    except KeyboardInterrupt:
        output.note("stopped")
