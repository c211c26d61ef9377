"""Ingest one file: parse, archive, record what was rejected, write-audit-publish, log the run.

The composition roots (the CLI now; the API and orchestrators later) build the ``Lake`` and the
``Store`` and call :func:`ingest_file`. Every run leaves a row in the ingest log, whatever happens:
``published``, ``duplicate``, ``failed`` (dead letter, failed gate, or an error), and on the way
``running`` then ``staged``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
from pyiceberg.table.snapshots import Snapshot

from aurum.config import Settings
from aurum.datasets.curves import CURVE_OBSERVATION, DEAD_LETTER, QA_CHECKS, QUARANTINE
from aurum.domain.quality import CheckOutcome
from aurum.errors import AurumError, Unavailable
from aurum.ingest.days import day_partition, publish_day
from aurum.ingest.pipeline import ParseResult, parse_workbook
from aurum.lake.archive import archive_path, archive_raw
from aurum.lake.catalog import Lake
from aurum.lake.commits import append_rows
from aurum.lake.publish import Publication, Stage
from aurum.lake.versions import published_by
from aurum.store import Store

__all__ = [
    "IngestReport", "Recovered", "Requester", "backfill", "ingest_file", "ingest_parsed",
    "recover_abandoned",
]  # fmt: skip


@dataclass(frozen=True)
class IngestReport:
    run_id: str
    status: str
    parse: ParseResult
    publication: Publication | None
    raw_path: str | None
    seconds: float
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        publication = self.publication
        return {
            **self.parse.summary(),
            "seconds": round(self.seconds, 4),
            "status": self.status,
            "snapshot_id": publication.snapshot_id if publication else None,
            "tag": publication.tag if publication else None,
            "version": publication.version if publication else None,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class Requester:
    """Who asked for an ingest: recorded on the run and in the audit log."""

    actor: str = "aurum"  # "cli:<user>", "watcher", or an API principal "subject@tenant"
    tenant_id: str | None = None
    request_id: str | None = None


def ingest_file(
    path: Path | str,
    *,
    lake: Lake,
    store: Store,
    settings: Settings,
    vendor: str | None = None,
    asof: Any = None,
    pause: Callable[[Stage], None] | None = None,
    requester: Requester = Requester(),
) -> IngestReport:
    """Parse ``path`` and ingest it (see :func:`ingest_parsed`)."""
    result = parse_workbook(path, vendor=vendor, asof=asof, settings=settings)
    return ingest_parsed(
        Path(path), result, lake=lake, store=store, settings=settings, pause=pause,
        requester=requester,
    )  # fmt: skip


def ingest_parsed(
    path: Path,
    result: ParseResult,
    *,
    lake: Lake,
    store: Store,
    settings: Settings,
    pause: Callable[[Stage], None] | None = None,
    requester: Requester = Requester(),
) -> IngestReport:
    """Ingest an already parsed file: archive, record, write-audit-publish, log the run, and
    say who asked in the audit log."""
    report = _ingest(path, result, lake, store, settings, pause, requester)
    store.audit(
        "ingest", actor=requester.actor, tenant_id=requester.tenant_id, target=report.run_id,
        request_id=requester.request_id,
        details={
            "file": result.file, "status": report.status, "vendor": result.vendor,
            "asof": result.asof.isoformat() if result.asof else None,
            "version": report.publication.version if report.publication else None,
            "error": report.error,
        },
    )  # fmt: skip
    return report


def _ingest(
    path: Path,
    result: ParseResult,
    lake: Lake,
    store: Store,
    settings: Settings,
    pause: Callable[[Stage], None] | None,
    requester: Requester,
) -> IngestReport:
    started = time.perf_counter() - result.seconds
    run = store.start_run(
        file=result.file, sha256=result.sha256, vendor=result.vendor, asof=result.asof
    )
    if requester.tenant_id or requester.request_id or requester.actor != Requester.actor:
        run = store.update_run(
            run.run_id, tenant_id=requester.tenant_id, requested_by=requester.actor,
            request_id=requester.request_id,
        )  # fmt: skip
    counts = {
        "rows": result.observations.num_rows,
        "quarantined": result.quarantine.num_rows,
        "parse_seconds": result.seconds,
        **{k: v for k, v in vars(result.conservation).items()},
    }
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
        store.update_run(
            run.run_id, status="failed", error_code=letter.error_code,
            error_message=letter.message, finished_at=datetime.now(UTC), **counts,
        )  # fmt: skip
        return IngestReport(run.run_id, "failed", result, None, raw_path, _since(started))
    assert result.vendor is not None and result.asof is not None and result.sha256 is not None

    append_rows(
        lake.table(QUARANTINE.name),
        result.quarantine.append_column(
            QUARANTINE.schema.field("run_id"),
            pa.array([run.run_id] * result.quarantine.num_rows, pa.string()),
        ),
    )
    parse_checks = [("parse", o) for o in result.outcomes]

    def step(stage: Stage) -> None:
        if stage == "staged":
            store.update_run(run.run_id, status="staged")
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
        # so the run stays as it is and recovery asks the catalog later (recover_abandoned).
        raise
    except AurumError as exc:
        _record_checks(lake, run.run_id, result, parse_checks)
        store.update_run(
            run.run_id, status="failed", error_code=exc.code, error_message=exc.message,
            finished_at=datetime.now(UTC), **counts,
        )  # fmt: skip
        return IngestReport(run.run_id, "failed", result, None, raw_path, _since(started), exc.code)
    _record_checks(
        lake, run.run_id, result, parse_checks + [("gate", g) for g in publication.checks]
    )
    store.update_run(
        run.run_id,
        status=publication.status,
        snapshot_id=publication.snapshot_id,
        tag=publication.tag,
        version=publication.version,
        branch=publication.branch,
        gate_failures=list(publication.gate_failures),
        publish_seconds=time.perf_counter() - publish_started,
        finished_at=datetime.now(UTC),
        **counts,
    )
    return IngestReport(
        run.run_id, publication.status, result, publication, raw_path, _since(started)
    )


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
    requester: Requester = Requester(),
) -> list[IngestReport]:
    """Ingest many files: parsed in parallel processes, published one by one in as-of order
    (so day-over-day gates compare each day with the one before it)."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(path, settings, vendor) for path in paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parsed = list(pool.map(_parse_for_backfill, jobs, chunksize=2))
    order = sorted(
        range(len(paths)),
        key=lambda i: (parsed[i].asof or date.max, parsed[i].vendor or "", paths[i].name),
    )
    reports = []
    for i in order:
        report = ingest_parsed(
            paths[i], parsed[i], lake=lake, store=store, settings=settings, requester=requester
        )
        reports.append(report)
        if progress is not None:
            progress(report)
    return reports


@dataclass(frozen=True)
class Recovered:
    """A run found abandoned, and what it turned out to be."""

    run_id: str
    status: str  # "published": the catalog has its version; "failed": it never committed
    tag: str | None = None


def recover_abandoned(lake: Lake, store: Store, *, older_than: timedelta) -> list[Recovered]:
    """Close runs that died mid-way (still ``running``/``staged`` after ``older_than``).

    The catalog commit of a publish and the store's record of it are two databases: a run killed
    (or cut off from the store) between the two has published its day. So the catalog decides:
    a run whose id is in the summary of one of the day's tagged versions is recorded
    ``published`` with that version; any other is marked failed and the branch it staged on is
    dropped (main needs no repair: a publish is one commit). Branches of runs stopped by a
    failed gate are kept for inspection (their run is ``failed``, so never stale).
    """
    table = lake.table(CURVE_OBSERVATION.name)
    scheme = CURVE_OBSERVATION.tags
    assert scheme is not None
    recovered = []
    for run in store.stale_runs(older_than=older_than):
        day = day_partition(run.vendor, run.asof) if run.vendor and run.asof else None
        found = published_by(table, scheme, day, run.run_id) if day else None
        if found is not None:
            version, snapshot = found
            tag = scheme.tag(day or {}, version)
            store.update_run(
                run.run_id, status="published", snapshot_id=snapshot.snapshot_id, tag=tag,
                version=version, branch=None, rows=_summary_int(snapshot, "added-records"),
                finished_at=datetime.now(UTC),
            )  # fmt: skip
            recovered.append(Recovered(run.run_id, "published", tag))
        else:
            if day is not None:
                branch = scheme.branch(day, run.run_id)
                if branch in table.metadata.refs:
                    table.manage_snapshots().remove_branch(branch).commit()
                    table.refresh()
            store.update_run(
                run.run_id, status="failed", error_code="abandoned",
                error_message="the run stopped before it published; its staged branch was dropped",
                finished_at=datetime.now(UTC),
            )  # fmt: skip
            recovered.append(Recovered(run.run_id, "failed"))
        store.audit(
            "ingest.recovered", actor="aurum:recovery", tenant_id=run.tenant_id,
            target=run.run_id, details={"status": recovered[-1].status, "file": run.file},
        )  # fmt: skip
    return recovered


def _summary_int(snapshot: Snapshot, name: str) -> int | None:
    value = snapshot.summary.get(name)
    return int(value) if value is not None and value.isdigit() else None
