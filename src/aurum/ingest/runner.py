"""Ingest one file: parse, archive, record what was rejected, write-audit-publish, log the run.

The composition roots (the CLI, the API, the watcher) build the ``Lake`` and the ``Store`` and
call :func:`ingest_file` with the caller's :class:`~aurum.auth.access.Access`. Every ingest is a
run of the one lifecycle (:mod:`aurum.runs`): ``running`` (leased, with a heartbeat), ``staged``
once its day sits on a branch, then ``published``, ``duplicate`` or ``failed`` (dead letter,
failed gate, or an error), recorded together with its audit entry in one store transaction.

**The duplicate rule** (one, for ``aurum ingest``, ``backfill``, ``watch`` and ``POST
/v1/ingest``): a file is a ``duplicate`` when its content (SHA-256 of the bytes) is already
published as a version of its vendor's as-of day, *any* version, not only the newest. Nothing
is published then, and the run records which version holds it. So re-sending v2's file after v3
does not publish a v4 that reverts v3, and a drop folder holding a day's original and its
correction publishes nothing again after a restart. A failed run's content is not a duplicate:
it is tried again.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from aurum._version import __version__
from aurum.auth.access import PLATFORM, Access
from aurum.config import Settings
from aurum.datasets.curves import CURVE_OBSERVATION, DEAD_LETTER, QA_CHECKS, QUARANTINE
from aurum.domain.quality import CheckOutcome
from aurum.errors import AurumError, Unavailable
from aurum.ingest.days import DayVersion, day_history, day_partition, publish_day
from aurum.ingest.pipeline import ParseResult, parse_workbook
from aurum.lake.archive import archive_path, archive_raw
from aurum.lake.catalog import Lake
from aurum.lake.commits import append_rows
from aurum.lake.publish import Publication, Stage
from aurum.lineage import shared_lineage
from aurum.runs import Runs
from aurum.store import Run, Store

__all__ = [
    "IngestReport", "IngestRun", "backfill", "fired_gates", "ingest_file", "ingest_fingerprint",
    "ingest_parsed", "published_version",
]  # fmt: skip

# What an ingest run keeps in its ``result``: the parse's counts and the timings.
_COUNTS = (
    "rows", "quarantined", "price_cells", "published_cells", "quarantined_cells", "copy_cells",
    "dead_letter_cells", "parse_seconds", "publish_seconds",
)  # fmt: skip


@dataclass(frozen=True)
class IngestReport:
    run_id: str
    status: str
    parse: ParseResult
    publication: Publication | None
    raw_path: str | None
    seconds: float
    error: str | None = None

    @property
    def duplicate_of(self) -> str | None:
        """The tag of the version that already holds this content (a duplicate only)."""
        if self.status != "duplicate" or self.publication is None:
            return None
        return _tag(self.parse.vendor, self.parse.asof, self.publication.version)

    @property
    def error_code(self) -> str | None:
        letter = self.parse.dead_letter
        return letter.error_code if letter is not None else self.error

    def summary(self) -> dict[str, Any]:
        publication = self.publication
        letter = self.parse.dead_letter
        return {
            **self.parse.summary(),
            "seconds": round(self.seconds, 4),
            "status": self.status,
            "snapshot_id": publication.snapshot_id if publication else None,
            "tag": publication.tag if publication else None,
            "version": publication.version if publication else None,
            "run_id": self.run_id,
            "duplicate_of": self.duplicate_of,
            "error_code": self.error_code,
            "error_message": letter.message if letter is not None else None,
            "gates": fired_gates(publication.checks if publication else ()),
            "branch": publication.branch if publication else None,
            "warnings": [
                {"code": n.code, "sheet": n.sheet, "message": n.message} for n in self.parse.notices
            ],
            "conservation": {
                **vars(self.parse.conservation),
                "holds": self.parse.conservation.holds,
            },
        }


def fired_gates(checks: Sequence[CheckOutcome]) -> list[dict[str, Any]]:
    """The gates that found something, as the run keeps them: ``fail`` ones blocked the
    publish, ``warn`` ones only report (with up to five sample keys each)."""
    return [
        {"rule": c.rule, "severity": c.severity, "failed": c.failed, "checked": c.checked,
         "sample_keys": list(c.sample_keys)}
        for c in checks if c.failed
    ]  # fmt: skip


def _tag(vendor: str | None, asof: date | None, version: int | None) -> str | None:
    scheme = CURVE_OBSERVATION.tags
    if scheme is None or vendor is None or asof is None or version is None:
        return None
    return scheme.tag(day_partition(vendor, asof), version)


@dataclass(frozen=True)
class IngestRun:
    """An ingest run as the ingest log shows it (``aurum runs``, ``/v1/ingest/runs``)."""

    run_id: str
    file: str
    sha256: str | None
    vendor: str | None
    asof: date | None
    status: str
    branch: str | None
    snapshot_id: int | None
    tag: str | None
    version: int | None
    rows: int | None
    quarantined: int | None
    price_cells: int | None
    published_cells: int | None
    quarantined_cells: int | None
    copy_cells: int | None
    dead_letter_cells: int | None
    parse_seconds: float | None
    publish_seconds: float | None
    error_code: str | None
    error_message: str | None
    gate_failures: list[str]
    started_at: datetime
    finished_at: datetime | None
    tenant_id: str | None = None
    requested_by: str | None = None
    request_id: str | None = None
    gates: list[dict[str, Any]] = field(default_factory=list)  # see fired_gates

    @classmethod
    def of(cls, run: Run) -> IngestRun:
        shared = {f.name for f in fields(cls)} & {f.name for f in fields(Run)} - {"started_at"}
        return cls(
            **{name: getattr(run, name) for name in shared},
            file=run.subject,
            started_at=run.started_at or run.queued_at,
            gates=list(run.result.get("gates") or []),
            **{name: run.result.get(name) for name in _COUNTS},
        )

    @property
    def duplicate_of(self) -> str | None:
        """The tag of the version that held this run's content (a duplicate only)."""
        return _tag(self.vendor, self.asof, self.version) if self.status == "duplicate" else None


def ingest_fingerprint(settings: Settings) -> str:
    """What, besides the file, decides an ingest's outcome: the reading limits, the gates and
    the code (its layouts and rules). The watcher retries a failed file when this changed.

    >>> len(ingest_fingerprint(Settings(home="demo-home")))
    16
    """
    decisive = {
        "ingest": settings.ingest.model_dump(mode="json"),
        "gates": settings.gates.model_dump(mode="json"),
        "aurum": __version__,
    }
    return hashlib.sha256(json.dumps(decisive, sort_keys=True).encode()).hexdigest()[:16]


def published_version(lake: Lake, vendor: str, asof: date, sha256: str) -> DayVersion | None:
    """The version of the vendor's day that holds this content, if one does: the duplicate rule
    (see the module docstring)."""
    for version in day_history(lake.table(CURVE_OBSERVATION.name), vendor, asof):
        if version.sha256 == sha256:
            return version
    return None


def ingest_file(
    path: Path | str,
    *,
    lake: Lake,
    store: Store,
    settings: Settings,
    vendor: str | None = None,
    asof: Any = None,
    pause: Callable[[str], None] | None = None,
    access: Access = PLATFORM,
    request_id: str | None = None,
) -> IngestReport:
    """Parse ``path`` and ingest it (see :func:`ingest_parsed`)."""
    result = parse_workbook(path, vendor=vendor, asof=asof, settings=settings)
    return ingest_parsed(
        Path(path), result, lake=lake, store=store, settings=settings, pause=pause,
        access=access, request_id=request_id,
    )  # fmt: skip


def ingest_parsed(
    path: Path,
    result: ParseResult,
    *,
    lake: Lake,
    store: Store,
    settings: Settings,
    pause: Callable[[str], None] | None = None,
    access: Access = PLATFORM,
    request_id: str | None = None,
) -> IngestReport:
    """Ingest an already parsed file as a run of ``access``'s tenant (the platform's by
    default): archive, record, write-audit-publish, and end the run with its audit entry.

    ``pause`` is called at each stage of the publish (``branched``, ``staged``, ``audited``,
    ``published``) and once the run's end is recorded but not yet committed
    (``run_recorded``): fault-injection tests stop a process there."""
    runs = Runs(store, lease=settings.runs.lease, lineage=shared_lineage(settings))
    partition = day_partition(result.vendor, result.asof) if result.vendor and result.asof else None
    run = runs.start(
        access, "ingest", subject=result.file, request_id=request_id, sha256=result.sha256,
        vendor=result.vendor, asof=result.asof, partition=partition,
        dataset=CURVE_OBSERVATION.name if partition else None,
    )  # fmt: skip
    with runs.held(run):
        outcome = _ingest(path, result, run, lake, runs, settings, pause)
    report, changes = outcome
    details = {
        "file": result.file, "status": report.status, "vendor": result.vendor,
        "asof": result.asof.isoformat() if result.asof else None,
        "version": report.publication.version if report.publication else None,
        "error": report.error,
    }  # fmt: skip
    counts = {
        "rows": result.observations.num_rows, "quarantined": result.quarantine.num_rows,
        "parse_seconds": result.seconds, **vars(result.conservation),
    }  # fmt: skip
    if result.layout is not None:  # what layout drift alerts compare with the next file
        counts["layout"] = result.layout
    runs.finish(
        run, report.status, action="ingest", details=details, pause=pause,  # type: ignore[arg-type]
        result={**counts, "raw_path": report.raw_path, **changes.pop("result", {})}, **changes,
    )  # fmt: skip
    return report


def _ingest(
    path: Path,
    result: ParseResult,
    run: Run,
    lake: Lake,
    runs: Runs,
    settings: Settings,
    pause: Callable[[str], None] | None,
) -> tuple[IngestReport, dict[str, Any]]:
    """The work of the run: its report, and what its record's end changes."""
    started = time.perf_counter() - result.seconds
    raw_path = _archive(lake, path, result)
    if result.dead_letter is not None:
        letter = result.dead_letter
        append_rows(
            lake.table(DEAD_LETTER.name),
            pa.Table.from_pylist(
                [
                    {
                        "run_id": run.run_id,
                        "file": letter.file,
                        "sha256": letter.sha256,
                        "vendor": letter.vendor,
                        "error_code": letter.error_code,
                        "message": letter.message,
                        "diagnostics": json.dumps(letter.diagnostics, default=str),
                        "raw_path": raw_path,
                        "failed_at": datetime.fromisoformat(letter.failed_at),
                    }
                ],
                schema=DEAD_LETTER.schema,
            ),
        )
        report = IngestReport(run.run_id, "failed", result, None, raw_path, _since(started))
        # the same file with the same settings fails the same way: the watcher leaves it be
        return report, {
            "error_code": letter.error_code, "error_message": letter.message,
            "result": {"fingerprint": ingest_fingerprint(settings)},
        }  # fmt: skip
    assert result.vendor is not None and result.asof is not None and result.sha256 is not None

    append_rows(
        lake.table(QUARANTINE.name),
        result.quarantine.append_column(
            QUARANTINE.schema.field("run_id"),
            pa.array([run.run_id] * result.quarantine.num_rows, pa.string()),
        ),
    )
    parse_checks = [("parse", o) for o in result.outcomes]
    held = published_version(lake, result.vendor, result.asof, result.sha256)
    if held is not None:  # the duplicate rule: nothing to publish
        _record_checks(lake, run.run_id, result, parse_checks)
        publication = Publication("duplicate", held.version, held.snapshot_id, None, None)
        report = IngestReport(
            run.run_id, "duplicate", result, publication, raw_path, _since(started)
        )
        return report, {"snapshot_id": held.snapshot_id, "version": held.version}
    scheme = CURVE_OBSERVATION.tags
    assert scheme is not None and run.partition is not None

    def step(stage: Stage) -> None:
        if stage == "staged":  # the branch is recorded: recovery drops it if the run dies
            runs.stage(run, branch=scheme.branch(run.partition or {}, run.run_id))
        if pause is not None:
            pause(stage)

    publish_started = time.perf_counter()
    try:
        publication = publish_day(
            lake, result.observations, vendor=result.vendor, asof=result.asof,
            sha256=result.sha256, run_id=run.run_id, gates=settings.gates, pause=step,
        )  # fmt: skip
    except Unavailable:
        # The catalog (or the store) stopped answering: whether the commit happened is unknown,
        # so the run stays as it is and recovery asks the catalog once its lease expires.
        raise
    except AurumError as exc:
        _record_checks(lake, run.run_id, result, parse_checks)
        report = IngestReport(
            run.run_id, "failed", result, None, raw_path, _since(started), exc.code
        )
        return report, {"error_code": exc.code, "error_message": exc.message}
    _record_checks(
        lake, run.run_id, result, parse_checks + [("gate", g) for g in publication.checks]
    )
    report = IngestReport(
        run.run_id, publication.status, result, publication, raw_path, _since(started)
    )
    kept: dict[str, Any] = {
        "publish_seconds": time.perf_counter() - publish_started,
        "gates": fired_gates(publication.checks),
    }
    if publication.gate_failures:
        kept["fingerprint"] = ingest_fingerprint(settings)
    return report, {
        "snapshot_id": publication.snapshot_id,
        "tag": publication.tag,
        "version": publication.version,
        "branch": publication.branch,
        "gate_failures": list(publication.gate_failures),
        "result": kept,
    }


def _since(started: float) -> float:
    return time.perf_counter() - started


def _archive(lake: Lake, path: Path, result: ParseResult) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None  # nothing to keep: the dead letter says why
    readable = result.dead_letter is None
    location = archive_path(
        lake.warehouse,
        result.sha256 or "unknown",
        vendor=result.vendor if readable else None,
        asof=result.asof if readable else None,
        suffix=".xlsx" if readable else (path.suffix or ".bin"),
    )
    return archive_raw(lake.io, location, data)


def _record_checks(
    lake: Lake, run_id: str, result: ParseResult, outcomes: list[tuple[str, CheckOutcome]]
) -> None:
    """Every rule's and gate's outcome of a run, in one append."""
    now = datetime.now(UTC)
    append_rows(
        lake.table(QA_CHECKS.name),
        pa.Table.from_pylist(
            [
                {
                    "run_id": run_id,
                    "vendor": result.vendor,
                    "asof_date": result.asof,
                    "rule": o.rule,
                    "stage": stage,
                    "severity": o.severity,
                    "failed": o.failed,
                    "checked": o.checked,
                    "sample_keys": list(o.sample_keys),
                    "checked_at": now,
                }
                for stage, o in outcomes
            ],
            schema=QA_CHECKS.schema,
        ),
    )


def _parse_for_backfill(job: tuple[Path, Settings, str | None]) -> ParseResult:
    path, settings, vendor = job
    return parse_workbook(path, vendor=vendor, settings=settings)


def backfill(
    paths: list[Path],
    *,
    lake: Lake,
    store: Store,
    settings: Settings,
    vendor: str | None = None,
    workers: int = 2,
    progress: Callable[[IngestReport], None] | None = None,
    parsed_one: Callable[[ParseResult], None] | None = None,
    access: Access = PLATFORM,
) -> list[IngestReport]:
    """Ingest many files: parsed in parallel processes, published one by one in as-of order
    (so day-over-day gates compare each day with the one before it). ``parsed_one`` is called
    as each file is parsed, ``progress`` as each is ingested."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(path, settings, vendor) for path in paths]
    parsed: list[ParseResult] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for one in pool.map(_parse_for_backfill, jobs, chunksize=2):
            parsed.append(one)
            if parsed_one is not None:
                parsed_one(one)
    order = sorted(
        range(len(paths)),
        key=lambda i: (parsed[i].asof or date.max, parsed[i].vendor or "", paths[i].name),
    )
    reports = []
    for i in order:
        report = ingest_parsed(
            paths[i], parsed[i], lake=lake, store=store, settings=settings, access=access
        )
        reports.append(report)
        if progress is not None:
            progress(report)
    return reports
