"""``aurum catalog [WORDS]...``: the data catalog from the shell, through the API's service.

With no argument, every dataset in a table that fits 80 columns (dataset, owner, rows, last
published day, freshness per vendor); with words, the datasets they all match, and which columns
matched; with a dataset's name, that dataset: its contract, facts, lineage and every column
with its type, doc and unit. ``--json`` prints the entries as ``/v1/catalog/datasets`` does.
The shell acts as the platform (``Context.access``), so it counts every tenant's rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aurum.cli.output import Output

if TYPE_CHECKING:
    from aurum.catalog import Entry, Facts

__all__ = ["catalog"]


def catalog(
    ctx: typer.Context,
    words: Annotated[
        list[str] | None,
        typer.Argument(help="A dataset's name (its entry), or words that must all match."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Datasets: contracts, rows, versions, freshness and lineage; search by words."""
    from aurum.catalog import Catalog

    context, output = ctx.obj, ctx.obj.output(as_json)
    service = Catalog(context.lake)
    query = " ".join(words or ())
    if query in context.lake.datasets:
        _show(output, service.entry(query, context.access))
        return
    found = service.entries(context.access, query)
    if query and not found:
        output.note(f"no dataset matches {query!r} (every word must, in a name, doc or column)")
        output.data([])
        return
    output.rows(
        ("dataset", "owner", "rows", "published", "freshness"),
        [(e.name, e.dataset.owner, f"{e.facts.rows:,}", _day(e.facts), _ages(e.facts))
         for e in found],
        data=[e.describe() for e in found],
    )  # fmt: skip
    matched = [e for e in found if e.matched_columns]
    if matched:
        output.line("columns matched:")
    for e in matched:
        output.line(f"  {e.name}: {', '.join(e.matched_columns or ())}")


def _show(output: Output, entry: Entry) -> None:
    """One dataset: what it is, its facts and lineage, then its columns."""
    dataset, facts, described = entry.dataset, entry.facts, entry.describe()
    output.line(f"{dataset.name}: {escape(dataset.doc)}")
    layout = ", ".join(dataset.partition_by) or "nothing"
    output.line(f"  owner {dataset.owner}; partitioned by {layout}; sorted by"
                f" {', '.join(dataset.sort_by) or 'nothing'}")  # fmt: skip
    rows = f"  {facts.rows:,} rows at snapshot {facts.snapshot_id or '(none yet)'}"
    if facts.snapshots is not None:
        rows += f", {facts.snapshots} snapshot(s) of main kept"
    if facts.counted_over:
        rows += " (counted over " + "; ".join(
            f"{column} in {', '.join(values) or 'nothing'}" for column, values in facts.counted_over
        ) + ")"  # fmt: skip
    output.line(rows)
    if (scheme := described["tag_scheme"]) is not None:
        output.line(f"  {facts.versions} version(s) of {facts.partitions} partition(s), tagged"
                    f" {scheme['pattern']}; last published {_time(facts)}")  # fmt: skip
    else:
        output.line(f"  an appended log (no versions); last written {_time(facts)}")
    for vendor in facts.freshness:
        output.line(f"  {vendor.vendor}: newest as-of {vendor.newest} ({vendor.age_days} days)")
    kept = dataset.retain_rows
    output.line(
        f"  rows kept {f'{kept.days:g} days by {kept.column}' if kept else 'for ever'};"
        f" untagged snapshots {dataset.retain_snapshots_days:g} days"
        + ("; rows belong to a tenant each" if dataset.tenant_owned else "")
        + (f"; read through {escape(dataset.served_by)}" if dataset.served_by else "")
    )
    if entry.upstream:
        output.line("  upstream: " + ", ".join(f"{e.upstream} ({e.kind})" for e in entry.upstream))
    if entry.downstream:
        output.line(
            "  downstream: " + ", ".join(f"{e.downstream} ({e.kind})" for e in entry.downstream)
        )
    output.rows(  # (escaped: an Arrow type's and a unit's brackets are not markup)
        ("column", "type", escape("description [unit]")),
        [(c.name + ("" if c.required else "?"), escape(str(c.type)),
          escape(c.doc + (f" [{c.unit}]" if c.unit else ""))) for c in dataset.columns],
        data=described,
    )  # fmt: skip
    output.line("a ? after a column: it may be null")


def _day(facts: Facts) -> str:
    return f"{facts.last_published:%Y-%m-%d}" if facts.last_published else ""


def _time(facts: Facts) -> str:
    return f"{facts.last_published:%Y-%m-%d %H:%M} UTC" if facts.last_published else "never"


def _ages(facts: Facts) -> str:
    """Each vendor's newest as-of, as its age: ``EUGP 2d, RP 1d``."""
    return ", ".join(f"{f.vendor} {f.age_days}d" for f in facts.freshness)
