"""``aurum feeds``: public feed payloads into the lake — load files, collect from the sources,
list the formats and the loads.

``aurum feeds load FILE...`` reads each file's format from its name (or ``--format``, with
``--param name=value`` for what the format needs), parses it with Aurum's own parser, checks it
and publishes it (``aurum.feeds.service``); a re-load publishes nothing. One line per file; a
file that fails says why and the others still load (exit 2 if any failed).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aurum.cli.ingest import _progress
from aurum.errors import AurumError, RequestError

if TYPE_CHECKING:
    from aurum.cli.context import Context

__all__ = ["feeds"]

feeds = typer.Typer(
    help="Public feeds (ISO prices, EIA, FRED, NOAA, ECB): load files, collect, list.",
    no_args_is_help=True,
)
_FORMAT = "The payload format (`aurum feeds list --formats`); default: from the file name."
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@feeds.command("load")
def load(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Payload files (or folders of them).")],
    format: Annotated[str | None, typer.Option("--format", help=_FORMAT)] = None,
    param: Annotated[list[str] | None, typer.Option("--param", help="name=value the format "
                                                    "needs (e.g. node=CT, series_id=GDP).")] = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Parse, check and publish feed payloads; each load is a run (see `aurum feeds list`)."""
    context: Context = ctx.obj
    from aurum.feeds.readers import parse_params

    params = parse_params(param)
    files = sorted(
        {f for p in paths for f in ([p] if p.is_file() else p.rglob("*")) if f.is_file()}
    )
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise RequestError("file_missing", f"no such file or folder: {missing[0]}")
    output = context.output(as_json)
    service = context.feeds
    summaries, failed = [], 0
    with _progress(as_json or len(files) < 2) as progress:
        task = progress.add_task("Loading", total=len(files))
        for path in files:
            try:
                done = service.load(context.access, path.read_bytes(), name=path.name,
                                    format=format, params=params)  # fmt: skip
                summary = done.summary()
                warned = [c["rule"] for c in summary["checks"] if c["failed"]]
                output.line(
                    f"{escape(path.name)}: {summary['status']} {summary['kind']}"
                    f" rows={summary['rows']} partitions={summary['partitions']}"
                    f" published={summary['published']}"
                    + (f" warnings={','.join(sorted(set(warned)))}" if warned else "")
                )  # fmt: skip
            except AurumError as exc:
                failed += 1
                summary = {"file": path.name, "status": "failed", "error": exc.code,
                           "message": str(exc)}  # fmt: skip
                output.line(f"{escape(path.name)}: failed {exc.code}: {escape(str(exc))}")
            summaries.append(summary)
            progress.advance(task)
    if as_json:
        output.rows((), [], data=summaries)
    if failed:
        raise typer.Exit(2)


@feeds.command("collect")
def collect_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source (see `aurum feeds sources`).")],
    since: Annotated[str | None, typer.Option(help="First day, YYYY-MM-DD (default: the day "
                                              "after the watermark).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (default: yesterday, UTC).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="Fetch from this base URL "
                                                 "instead (a mirror).")] = None,
    as_json: JsonOption = False,
) -> None:  # fmt: skip
    """Fetch a source's days after its watermark (or from --since) and load each; the
    watermark moves past a day only once it is loaded (exit 2 at a day that failed)."""
    from datetime import UTC, date, datetime, timedelta

    from aurum.cli.files import parse_date
    from aurum.feeds.collector import Fetcher, collect, source
    from aurum.feeds.watermarks import StoreWatermarks

    context: Context = ctx.obj
    spec = source(name)
    last = parse_date(until) or datetime.now(UTC).date() - timedelta(days=1)
    first: date | None = parse_date(since)
    service = context.feeds
    output = context.output(as_json)

    def load(payload: bytes, file: str, format: str, params: dict[str, str]) -> object:
        return service.load(context.access, payload, name=file, format=format, params=params)

    fetcher = Fetcher()
    try:
        report = collect(spec, fetcher=fetcher, load=load, watermarks=StoreWatermarks(
            context.store), until=last, since=first, base=base_url)  # fmt: skip
    finally:
        fetcher.close()
    output.rows(
        ("day", "status", "detail"),
        [(d.day.isoformat(), d.status, escape(d.detail)) for d in report.days],
        data={"source": report.source, "retries": report.retries,
              "days": [{"day": d.day.isoformat(), "status": d.status, "detail": d.detail}
                       for d in report.days]},
    )  # fmt: skip
    if not report.days and not as_json:
        output.note(f"{name}: nothing to collect (its watermark is at or past {last})")
    if report.failed is not None:
        raise typer.Exit(2)


@feeds.command("sources")
def sources_(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The sources `aurum feeds collect` fetches, their formats, keys and watermarks."""
    from aurum.feeds.collector import sources
    from aurum.feeds.watermarks import StoreWatermarks

    context: Context = ctx.obj
    marks = StoreWatermarks(context.store)
    found = list(sources().values())
    output = context.output(as_json)
    output.rows(
        ("source", "format", "key", "watermark", "what"),
        [(s.name, s.format, s.secret or "", str(marks.get(s.name) or ""), s.doc) for s in found],
        data=[{"source": s.name, "format": s.format, "secret": s.secret, "doc": s.doc,
               "documented": s.documented, "watermark": str(marks.get(s.name) or "")}
              for s in found],
    )  # fmt: skip


@feeds.command("list")
def list_(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Loads to show.")] = 20,
    formats: Annotated[bool, typer.Option("--formats", help="List the formats instead.")] = False,
    as_json: JsonOption = False,
) -> None:
    """The latest loads (or, with --formats, every payload format and its parameters)."""
    context: Context = ctx.obj
    output = context.output(as_json)
    if formats:
        from aurum.feeds.readers import describe

        found = describe()
        output.rows(
            ("format", "parameters", "what"),
            [(f["format"], ", ".join([*f["required"], *(f"[{o}]" for o in f["optional"])]),
              f["doc"]) for f in found],
            data=found,
        )  # fmt: skip
        return
    runs = context.feeds.runs_of(context.access, limit=limit)
    output.rows(
        ("run", "status", "file", "format", "kind", "rows", "published", "error"),
        [
            (r.run_id[:8], r.status, escape(r.subject), r.params.get("format", ""),
             r.result.get("kind", ""), r.result.get("rows", ""),
             sum(p.get("status") == "published" for p in r.result.get("partitions", [])),
             r.error_code or "")
            for r in runs
        ],
        data=[{"run_id": r.run_id, "status": r.status, "file": r.subject, "params": r.params,
               "result": r.result, "error_code": r.error_code} for r in runs],
    )  # fmt: skip
    if not runs and not as_json:
        output.note("no feed loads yet: `aurum feeds load FILE`")
