"""``aurum parse`` and ``aurum demo-data``: workbooks to files, no lake involved."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aurum.cli.output import Output

if TYPE_CHECKING:
    from aurum.ingest.pipeline import ParseResult

__all__ = ["demo_data", "parse", "parse_date", "show_details"]


class OutputFormat(StrEnum):
    parquet = "parquet"
    csv = "csv"


def parse_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date in YYYY-MM-DD form") from None


def parse(
    ctx: typer.Context,
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

    context = ctx.obj
    settings = context.settings
    output = context.output(as_json)
    given = parse_date(asof)
    results: list[ParseResult] = []
    for path in files:
        result = parse_workbook(path, vendor=vendor, asof=given, settings=settings)
        results.append(result)
        _show_result(output, result)
    _write_outputs(results, out, fmt, neutralised=settings.files.neutralise_formulas)
    output.data([r.summary() for r in results])
    if len(results) > 1:
        summaries = [r.summary() for r in results]
        output.line(
            f"{len(results)} files: {sum(s['rows'] for s in summaries):,} rows, "
            f"{sum(s['quarantined'] for s in summaries):,} quarantined, "
            f"{sum(s['dead_lettered'] for s in summaries)} dead-lettered; outputs in {out}"
        )
    if any(r.dead_letter for r in results):
        raise typer.Exit(code=1)


def _show_result(output: Output, result: ParseResult) -> None:
    s = result.summary()
    output.line(
        f"{s['file']}: vendor={s['vendor'] or '?'} asof={s['asof'] or '?'} curves={s['curves']} "
        f"rows={s['rows']} quarantined={s['quarantined']} dead_lettered={s['dead_lettered']} "
        f"seconds={s['seconds']:.3f}"
    )
    show_details(output, result)


def show_details(output: Output, result: ParseResult) -> None:
    """What ``parse`` and ``ingest`` print under a file's line: where every price cell went,
    why the file was refused, the layout's warnings and the row rules that held rows back."""
    output.line(f"  conservation: {result.conservation}")
    letter = result.dead_letter
    if letter is not None:
        output.note(f"  dead letter {letter.error_code}: {letter.message}")
    for notice in result.notices:
        where = f" [{notice.sheet}]" if notice.sheet else ""
        output.line(f"  warning {notice.code}{where}: {notice.message}")
    for outcome in result.outcomes:
        if outcome.failed:
            output.line(
                f"  rule {outcome.rule} ({outcome.severity}): {outcome.failed} of {outcome.checked}"
            )


def _write_outputs(
    results: list[ParseResult], out: Path, fmt: OutputFormat, *, neutralised: bool
) -> None:
    import json

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


def demo_data(
    ctx: typer.Context,
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
    feeds_out: Annotated[
        Path | None,
        typer.Option(
            "--feeds-out", help="Also write synthetic feed payloads here (PJM day-ahead hub "
            "prices for the as-of months, ECB rates), for `aurum feeds load`.",
        ),
    ] = None,
) -> None:  # fmt: skip
    """Write realistic synthetic vendor workbooks (all three layouts) for demos and tests."""
    from rich.progress import Progress

    from aurum.cli.output import errors
    from aurum.synthetic import write_demo_workbooks

    first = parse_date(start)
    assert first is not None
    output = ctx.obj.output()
    if out is None:
        ctx.obj.check_home()
        out = ctx.obj.settings.home / "inbox"
    vendors = [v.upper() for v in (vendor or ["PW", "EUGP", "RP"])]
    with Progress(console=errors, transient=True) as progress:
        task = progress.add_task("Writing workbooks", total=days * len(vendors))
        try:
            written = write_demo_workbooks(
                out, days=days, seed=seed, start=first, vendors=vendors, faults=fault or (),
                progress=lambda _: progress.advance(task),
            )  # fmt: skip
        except ValueError as exc:
            output.note(f"error: {exc}")
            raise typer.Exit(code=2) from None
    output.line(f"wrote {len(written)} workbooks to {out}")
    if feeds_out is not None:
        from aurum.feeds.demo import write_demo_feeds
        from aurum.synthetic import business_days

        asofs = business_days(first, days)
        files = write_demo_feeds(feeds_out, first=asofs[0], last=asofs[-1], seed=seed)
        output.line(f"wrote {len(files)} feed payloads to {feeds_out}")
