"""Where did this number come from: the lineage journal, read back and asked about.

:func:`read_journal` reads ``AURUM_HOME/lineage/events.jsonl`` into runs (a line that is not an
event, such as a line a crashed writer tore, is skipped and counted, never fatal). Then:

- :func:`run_lineage` — one run, by Aurum's run id (32 hex digits, or a unique prefix of at
  least 8) or its OpenLineage UUID: its events, the versions it read (a file and its SHA-256,
  curves at a tag or snapshot), the versions it wrote, its code version and status;
- :func:`dataset_lineage` — a dataset by name, or one version by its tag
  (``eod/EUGP/2025-09-16/v2``): the runs that wrote it, newest first, each with what it read
  and its code, and the runs that read it.

:func:`lineage_of` takes any of those and answers the right one; what names nothing is a
:class:`~aurum.errors.NotFound` with a code, as is a home without a journal.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aurum.errors import NotFound

__all__ = [
    "DatasetLineage", "Journal", "RunLineage", "Version", "dataset_lineage", "lineage_of",
    "read_journal", "run_lineage",
]  # fmt: skip

_HEX = re.compile(r"^[0-9a-f]{8,32}$")
_ENDS = ("COMPLETE", "FAIL", "ABORT")


@dataclass(frozen=True)
class Version:
    """A dataset at one version, as a run read or wrote it."""

    namespace: str
    name: str
    version: str | None = None  # the spec's datasetVersion: a snapshot id, or a tag
    snapshot_id: int | None = None
    tag: str | None = None
    rows: int | None = None  # rows written (outputs)
    sha256: str | None = None  # a file's content hash (an ingest's input)
    raw_archive: str | None = None
    status: str | None = None  # published | duplicate (outputs)
    as_at: str | None = None  # a read pinned by time

    @property
    def label(self) -> str:
        """How a person names it: the tag, else the snapshot, else the time it was read at."""
        if self.tag:
            return self.tag
        if self.snapshot_id is not None:
            return f"snapshot {self.snapshot_id}"
        if self.as_at:
            return f"as at {self.as_at}"
        return self.version or ""

    @classmethod
    def of(cls, dataset: Mapping[str, Any]) -> Version:
        facets = dataset.get("facets") or {}
        out = dataset.get("outputFacets") or {}
        ours = facets.get("aurum_version") or {}
        file = facets.get("aurum_file") or {}
        return cls(
            namespace=str(dataset.get("namespace")), name=str(dataset.get("name")),
            version=(facets.get("version") or {}).get("datasetVersion"),
            snapshot_id=ours.get("snapshotId"), tag=ours.get("tag"),
            rows=(out.get("outputStatistics") or {}).get("rowCount"),
            sha256=file.get("sha256"), raw_archive=file.get("rawArchive"),
            status=ours.get("status"), as_at=ours.get("asAt"),
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class RunLineage:
    """One run as its events tell it (the last event's say wins)."""

    run_uuid: str
    run_id: str  # Aurum's id (the aurum_run facet), else the UUID's hex
    job: str
    state: str  # the last event's type: START (still running, or died), COMPLETE, FAIL, ABORT
    status: str | None  # Aurum's status at the last event
    subject: str | None
    events: tuple[tuple[str, str], ...]  # (eventType, eventTime), in time order
    inputs: tuple[Version, ...]
    outputs: tuple[Version, ...]
    code_version: str | None
    error: str | None
    tenant_id: str | None = None

    @property
    def last_at(self) -> datetime:
        """When its last event happened (its end, once it has ended)."""
        return _when(self.events[-1][1])

    def describe(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "run_uuid": self.run_uuid, "job": self.job,
            "state": self.state, "status": self.status, "subject": self.subject,
            "tenant_id": self.tenant_id, "code_version": self.code_version, "error": self.error,
            "events": [{"type": t, "time": at} for t, at in self.events],
            "inputs": [v.describe() for v in self.inputs],
            "outputs": [v.describe() for v in self.outputs],
        }  # fmt: skip


@dataclass(frozen=True)
class DatasetLineage:
    """A dataset (or one version of it, by tag): the runs that wrote it and those that read it,
    newest first."""

    name: str
    tag: str | None
    written_by: tuple[RunLineage, ...]
    read_by: tuple[RunLineage, ...]

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name, "tag": self.tag,
            "written_by": [r.describe() for r in self.written_by],
            "read_by": [r.describe() for r in self.read_by],
        }  # fmt: skip


@dataclass(frozen=True)
class Journal:
    """Every run the journal holds, by OpenLineage run id, and how many lines were skipped."""

    path: Path
    runs: Mapping[str, RunLineage]
    skipped: int = 0
    skipped_lines: tuple[int, ...] = ()  # the first few, 1-based


def read_journal(path: Path) -> Journal:
    """The journal at ``path``, read into runs (a missing journal: ``lineage_missing``)."""
    if not path.is_file():
        raise NotFound(
            "lineage_missing",
            f"no lineage journal at {path}: runs record their lineage there as they start and"
            " finish (has anything run in this AURUM_HOME?)",
            path=str(path),
        )  # fmt: skip
    events: dict[str, list[dict[str, Any]]] = {}
    skipped: list[int] = []
    for number, event in _lines(path):
        if event is None:
            skipped.append(number)
            continue
        events.setdefault(str(uuid.UUID(event["run"]["runId"])), []).append(event)
    runs = {run_id: _run(run_id, found) for run_id, found in events.items()}
    return Journal(path, runs, len(skipped), tuple(skipped[:5]))


def run_lineage(journal: Journal, target: str) -> RunLineage:
    """The run ``target`` names: an Aurum run id, a unique prefix of one (8+ hex digits), or
    an OpenLineage run UUID."""
    wanted = target.strip().lower()
    try:
        key = str(uuid.UUID(wanted))
    except ValueError:
        key = None
    if key is not None and key in journal.runs:
        return journal.runs[key]
    if _HEX.match(wanted):
        found = [r for r in journal.runs.values() if r.run_id.startswith(wanted)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise NotFound(
                "run_ambiguous",
                f"{len(found)} runs' ids start with {target!r}: give more of the id",
                matches=sorted(r.run_id for r in found)[:5],
            )  # fmt: skip
    raise NotFound("lineage_unknown", f"no run {target!r} in the lineage journal", target=target)


def dataset_lineage(journal: Journal, target: str, *, limit: int = 20) -> DatasetLineage:
    """The runs that wrote dataset ``target`` (or, for a tag, that version) and those that
    read it, newest first, at most ``limit`` of each."""
    tag = target if "/" in target else None

    def names(version: Version) -> bool:
        return version.tag == target if tag else version.name == target

    runs = sorted(journal.runs.values(), key=lambda r: r.last_at, reverse=True)
    wrote = [r for r in runs if r.state == "COMPLETE" and any(map(names, r.outputs))]
    read = [r for r in runs if r.state != "START" and any(map(names, r.inputs))]
    if not wrote and not read:
        what = f"version {target!r}" if tag else f"dataset {target!r}"
        raise NotFound(
            "lineage_unknown",
            f"no run in the lineage journal wrote or read {what}",
            target=target,
        )
    name = next(v.name for r in [*wrote, *read] for v in (*r.outputs, *r.inputs) if names(v))
    return DatasetLineage(name, tag, tuple(wrote[:limit]), tuple(read[:limit]))


def lineage_of(
    path: Path, target: str, *, limit: int = 20
) -> tuple[Journal, RunLineage | DatasetLineage]:
    """``target`` answered from the journal at ``path``: a :class:`RunLineage` for a run id,
    a :class:`DatasetLineage` for a dataset's name or a tag."""
    journal = read_journal(path)
    if not target.strip():
        raise NotFound("lineage_unknown", "name a run id, a dataset or a tag", target=target)
    try:
        return journal, run_lineage(journal, target)
    except NotFound as exc:
        if exc.code == "run_ambiguous":
            raise
    try:
        return journal, dataset_lineage(journal, target, limit=limit)
    except NotFound:
        if not _HEX.match(target.strip().lower()) and not _is_uuid(target):
            raise
    raise NotFound(
        "lineage_unknown", f"no run or dataset {target!r} in the lineage journal", target=target
    )


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text.strip())
    except ValueError:
        return False
    return True


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Each line's event, or ``None`` for a line that is not one."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                yield number, None
                continue
            yield number, event if _is_event(event) else None


def _is_event(event: Any) -> bool:
    """Whether ``event`` has what a run event must (the spec's required fields)."""
    if not isinstance(event, dict):
        return False
    run, job = event.get("run"), event.get("job")
    if not (
        isinstance(event.get("eventType"), str)
        and isinstance(run, dict) and isinstance(job, dict) and isinstance(job.get("name"), str)
        and all(isinstance(d, dict) for d in (*_list(event, "inputs"), *_list(event, "outputs")))
    ):  # fmt: skip
        return False
    try:
        uuid.UUID(str(run.get("runId")))
        _when(event.get("eventTime"))
    except (TypeError, ValueError):
        return False
    return True


def _when(text: Any) -> datetime:
    """An event's time, comparable (a time without a zone is taken as UTC)."""
    if not isinstance(text, str):
        raise TypeError("eventTime is not text")
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _list(event: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = event.get(key) or []
    return value if isinstance(value, list) else [None]


def _run(run_uuid: str, events: list[dict[str, Any]]) -> RunLineage:
    events.sort(key=lambda e: (_when(e["eventTime"]), e["eventType"] in _ENDS))
    last = events[-1]
    run_facets = [e["run"].get("facets") or {} for e in events]
    ours = next((f["aurum_run"] for f in reversed(run_facets) if "aurum_run" in f), {})
    engine = next((f["processing_engine"] for f in reversed(run_facets)
                   if "processing_engine" in f), {})  # fmt: skip
    error = (last["run"].get("facets") or {}).get("errorMessage") or {}
    # the end knows the versions; a run that never ended still shows what it started on
    inputs = next((e["inputs"] for e in reversed(events) if e.get("inputs")), [])
    outputs = next((e["outputs"] for e in reversed(events) if e.get("outputs")), [])
    return RunLineage(
        run_uuid=run_uuid, run_id=str(ours.get("runId") or uuid.UUID(run_uuid).hex),
        job=str(last["job"]["name"]), state=str(last["eventType"]), status=ours.get("status"),
        subject=ours.get("subject"), tenant_id=ours.get("tenantId"),
        events=tuple((str(e["eventType"]), str(e["eventTime"])) for e in events),
        inputs=tuple(Version.of(d) for d in inputs), outputs=tuple(Version.of(d) for d in outputs),
        code_version=engine.get("version"), error=error.get("message"),
    )  # fmt: skip
