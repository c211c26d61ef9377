"""``aurum lineage RUN|DATASET|TAG``: where did this number come from, from the shell.

It reads the lineage journal of the home (``AURUM_HOME/lineage/events.jsonl``, which every run
appends to) and answers one of three questions:

- a **run** (its id, a unique prefix of 8+ hex digits, or its OpenLineage UUID): its events,
  what it read (a file and its SHA-256, curves at a tag or snapshot), what it wrote at which
  version and how many rows, its code version and, if it failed, why;
- a **dataset** (``curve_observation``) or a delivered **file** by name: the runs that wrote
  it, newest first, each with what it came from and its code, then the runs that read it;
- a **version** by its tag (``eod/EUGP/2025-09-16/v2``): the run that published it (and any
  that found the same content already there), and the runs that read it.

The answer is short labelled lines that fit 80 columns (a hash or a path is never cut: it
pastes whole); ``--json`` prints it as data. Lines of the journal that are not events are
skipped and counted (a note on stderr), never fatal.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from aurum.lineage import DatasetLineage, RunLineage, Version

__all__ = ["lineage"]


def lineage(
    ctx: typer.Context,
    target: Annotated[
        str, typer.Argument(help="A run id, a dataset or file name, or a version's tag.")
    ],
    limit: Annotated[int, typer.Option(min=1, help="At most this many runs in each list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Where a run's or a dataset's numbers came from: inputs, versions, code."""
    from aurum.lineage import RunLineage, journal_path, lineage_of

    context, output = ctx.obj, ctx.obj.output(as_json)
    journal, answer = lineage_of(journal_path(context.settings), target, limit=limit)
    if journal.skipped:
        lines = ", ".join(map(str, journal.skipped_lines))
        more = " ..." if journal.skipped > len(journal.skipped_lines) else ""
        output.note(
            f"skipped {journal.skipped} line(s) of {journal.path} that are not lineage events"
            f" (line {lines}{more})"
        )
    output.data(answer.describe())
    shown = _run(answer) if isinstance(answer, RunLineage) else _dataset(answer)
    for line in shown:
        output.line(line)


def _run(run: RunLineage) -> Iterator[str]:
    yield f"run {run.run_id} ({run.job}): {run.status or run.state.lower()}"
    yield _label("events", ", ".join(f"{kind} {_time(at)}" for kind, at in run.events))
    yield _label("code", run.code_version or "unknown")
    if run.subject and not any(v.name == run.subject for v in run.inputs):
        yield _label("subject", run.subject)
    for version in run.inputs:
        yield from _version("read", version)
    for version in run.outputs:
        yield from _version("wrote", version)
    if run.error:
        yield _label("error", run.error)


def _dataset(found: DatasetLineage) -> Iterator[str]:
    what = found.tag or found.name
    yield (
        f"{what}: written by {len(found.written_by)} run(s), read by {len(found.read_by)},"
        " newest first"
    )
    for run in found.written_by:
        yield ""
        yield f"wrote    {_time(run.events[-1][1])}  run {run.run_id[:12]}  {run.job}"
        for version in run.outputs:
            if _names(version, found):
                yield from _version("", version)
        for version in run.inputs:
            yield from _version("from", version)
        yield _label("code", run.code_version or "unknown")
    for run in found.read_by:
        yield ""
        status = run.status or run.state.lower()
        yield f"read by  {_time(run.events[-1][1])}  run {run.run_id[:12]}  {run.job}: {status}"
        for version in run.inputs:
            if _names(version, found):
                yield from _version("", version)
        for version in run.outputs:
            yield from _version("wrote", version)
        yield _label("code", run.code_version or "unknown")


def _names(version: Version, found: DatasetLineage) -> bool:
    return version.tag == found.tag if found.tag else version.name == found.name


def _version(verb: str, version: Version) -> Iterator[str]:
    """A dataset or file at its version: its name and version, then what else is known."""
    kind = " (file)" if version.sha256 else ""
    yield _label(verb, f"{version.name}{kind} {version.label}".rstrip())
    detail = []
    if version.snapshot_id is not None and version.tag:
        detail.append(f"snapshot {version.snapshot_id}")
    if version.status == "duplicate":
        detail.append("a duplicate: nothing written")
    elif version.rows is not None:
        detail.append(f"{version.rows:,} rows")
    if detail:
        yield _label("", ", ".join(detail))
    if version.sha256:
        yield _label("", f"sha256 {version.sha256}")
    if version.raw_archive:  # a path pastes whole: on a line of its own
        yield _label("", "archived at")
        yield _label("", version.raw_archive)


def _label(label: str, text: str) -> str:
    return f"{label:<8} {text}"


def _time(text: str) -> str:
    """An event time as a person reads it: UTC to the second."""
    try:
        return f"{datetime.fromisoformat(text).astimezone(UTC):%Y-%m-%d %H:%M:%S}"
    except ValueError:
        return text
