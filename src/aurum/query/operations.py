"""The operator's reads: what ingestion held back, what failed, how the quality rules went day by
day, the versions of one as-of day and what changed between two of them, and which of the files
a vendor owes have come.

The logs (``curve_observation_quarantine``, ``curve_dead_letter``, ``qa_checks``) are shared by
every tenant, like the ingest log they belong to: a caller sees the rows of the runs it may see
(``Access.sees``: the platform's and its own tenant's, of vendors it is entitled to), asked of
the store once per read, and a vendor's rows only when entitled to it (``Access.row_scope``,
pushed into the scan). Each log read is pinned to one snapshot of its table and paged in a total
order, so pages never overlap. A day's versions are curves, every entitled tenant's alike.

What a vendor owes comes from its schedule (:mod:`aurum.domain.schedule`); what arrived, from the
ingest runs in the store; whether a version is published, from the lake's tags, so a day another
tenant's upload published is not reported missing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import (
    AlwaysFalse,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
)
from pyiceberg.table import Table

from aurum.auth.access import Access
from aurum.datasets import Dataset
from aurum.datasets.curves import CURVE_OBSERVATION, DEAD_LETTER, QA_CHECKS, QUARANTINE
from aurum.domain import schedule
from aurum.errors import QueryError, Unavailable, Unknown
from aurum.lake.catalog import Lake
from aurum.lake.expressions import all_of, partition_filter
from aurum.lake.versions import latest_versions
from aurum.query.datasets import NO_SNAPSHOT, Datasets
from aurum.query.engine import AsAt, Session, connect
from aurum.query.filters import IDENTITY
from aurum.query.page import Page, page_of
from aurum.store import Run, Store

__all__ = [
    "DEAD_LETTER_COLUMNS", "DIFF_STATUSES", "FILE_STATES", "GATE_COLUMNS", "MAX_DAYS", "NOISE",
    "QUARANTINE_COLUMNS", "DayFiles", "Operations", "PublishedVersion", "ReceivedFile",
    "known_vendor",
]  # fmt: skip

# What a quarantined row shows: where it came from, why it was held back, what it would have been.
QUARANTINE_COLUMNS = (
    "asof_date", "vendor", "run_id", "source_file", "sheet_name", "source_cell",
    "quarantine_reason", "raw_mid", "raw_bidask", "curve_key", *IDENTITY, "tenor_type",
    "tenor_label", "mid", "bid", "ask", "currency", "per_unit", "_ingest_ts",
)  # fmt: skip
DEAD_LETTER_COLUMNS = tuple(DEAD_LETTER.column_names)
# One rule's outcome on one day: the day's latest run's, and how many runs checked it.
GATE_COLUMNS = (
    "asof_date", "vendor", "stage", "rule", "severity", "failed", "checked", "sample_keys",
    "run_id", "checked_at", "runs", "runs_failed",
)  # fmt: skip
DIFF_STATUSES = ("changed", "added", "removed", "unchanged")
# What became of a vendor's as-of day (see DayFiles).
FILE_STATES = ("published", "in_progress", "failed", "missing", "pending")
# The longest range of as-of days a file-arrival read covers (one store lookup per day).
MAX_DAYS = 366

_SCHEME = CURVE_OBSERVATION.tags
assert _SCHEME is not None
_ACTIVE = frozenset({"queued", "running", "staged"})


class PublishedVersion(Protocol):
    """One published version of a vendor's day, as ``aurum.ingest.days.day_history`` lists
    them (the layer above this one knows how a day is tagged and passes them in)."""

    @property
    def version(self) -> int: ...
    @property
    def tag(self) -> str: ...
    @property
    def snapshot_id(self) -> int: ...
    @property
    def published_at(self) -> datetime: ...
    @property
    def run_id(self) -> str: ...
    @property
    def sha256(self) -> str: ...


@dataclass(frozen=True)
class ReceivedFile:
    """One delivery of a vendor's day: its ingest run and what became of it."""

    run_id: str
    file: str
    status: str
    sha256: str | None
    version: int | None
    tag: str | None
    error_code: str | None
    received_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class DayFiles:
    """A vendor's as-of day: whether a file was owed, by when, and what arrived.

    ``state``: ``published`` (a version is in the lake), ``in_progress`` (a run is under way),
    ``failed`` (files came, none published), ``missing`` (none came, the cut-off has passed),
    ``pending`` (none yet, before the cut-off). ``overdue``: owed, past the cut-off and not
    published, the condition a ``file_missing`` alert is raised on."""

    vendor: str
    asof_date: date
    expected: bool
    cutoff_at: datetime
    cutoff_passed: bool
    state: str
    overdue: bool
    version: int | None
    tag: str | None
    received_at: datetime | None
    late: bool | None
    files: list[ReceivedFile] = field(default_factory=list)


def known_vendor(vendor: str) -> str:
    """``vendor``'s code, for a vendor Aurum keeps a schedule for (404 ``vendor_unknown``)."""
    try:
        return schedule.schedule(vendor).vendor
    except schedule.UnknownVendor as exc:
        raise Unknown("vendor_unknown", str(exc), known=list(exc.known)) from None


class Operations:
    """The operator's reads of one lake and store, each log read pinned to one snapshot."""

    def __init__(self, lake: Lake, store: Store, *, timeout_s: float = 30.0) -> None:
        self.lake = lake
        self.store = store
        self.timeout_s = timeout_s
        self._datasets = Datasets(lake, timeout_s=timeout_s)

    def pin(self, name: str, as_at: AsAt = None, snapshot_id: int | None = None) -> int:
        """The snapshot of log ``name`` a read pins: a cursor's, or main's (0: still empty)."""
        return self._datasets.pin(name, as_at, snapshot_id)

    # -- the logs ---------------------------------------------------------------------------

    def quarantine(
        self,
        access: Access,
        *,
        snapshot_id: int,
        vendor: str | None = None,
        asof: date | tuple[date, date] | None = None,
        run_id: str | None = None,
        reason: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """Quarantined rows, newest as-of first: the cell each came from, its raw text, the
        rules it failed (``reason``: one of them) and what it would have been."""
        started = time.perf_counter()
        access.require_vendor(vendor)
        conditions = [*_equal(vendor=vendor, run_id=run_id), *_days("asof_date", asof)]
        with self._log(QUARANTINE, access, snapshot_id, conditions, by_vendor=True) as session:
            where, params = "TRUE", []
            if reason:
                where, params = "list_contains(string_split(quarantine_reason, ';'), ?)", [reason]
            rows = session.arrow(
                f"SELECT {_names(QUARANTINE_COLUMNS)} FROM log WHERE {where}"
                " ORDER BY asof_date DESC, vendor, _ingest_ts DESC, run_id, sheet_name,"
                " curve_key, tenor_label, source_cell LIMIT ? OFFSET ?",
                [*params, limit + 1, offset],
            )
        return page_of(rows, snapshot_id, limit, started)

    def dead_letters(
        self,
        access: Access,
        *,
        snapshot_id: int,
        vendor: str | None = None,
        failed: tuple[date, date] | None = None,
        run_id: str | None = None,
        error_code: str | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """Files that could not be ingested at all, newest first; ``failed``: the UTC days
        they failed on. A dead letter may name no vendor (its file name told none): it is seen
        with its run, like the ingest log's entries."""
        started = time.perf_counter()
        access.require_vendor(vendor)
        conditions = list(_equal(vendor=vendor, run_id=run_id, error_code=error_code))
        with self._log(DEAD_LETTER, access, snapshot_id, conditions, by_vendor=False) as session:
            where, params = "TRUE", []
            if failed is not None:
                first = datetime.combine(failed[0], datetime.min.time(), UTC)
                after = datetime.combine(failed[1], datetime.min.time(), UTC) + timedelta(days=1)
                where, params = "failed_at >= ? AND failed_at < ?", [first, after]
            rows = session.arrow(
                f"SELECT {_names(DEAD_LETTER_COLUMNS)} FROM log WHERE {where}"
                " ORDER BY failed_at DESC, run_id, file LIMIT ? OFFSET ?",
                [*params, limit + 1, offset],
            )
        return page_of(rows, snapshot_id, limit, started)

    def gates(
        self,
        access: Access,
        *,
        snapshot_id: int,
        vendor: str | None = None,
        asof: tuple[date, date] | None = None,
        rule: str | None = None,
        stage: str | None = None,
        failed_only: bool = False,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """Every rule's and gate's outcome per vendor and as-of day, oldest day first: a time
        series. A day ingested more than once (a correction, a retry) shows its latest run's
        outcome, with ``runs`` (how many checked it) and ``runs_failed`` (how many of those
        found something); ``failed_only`` keeps the days whose latest outcome found something."""
        started = time.perf_counter()
        access.require_vendor(vendor)
        conditions = [*_equal(vendor=vendor, rule=rule, stage=stage), *_days("asof_date", asof)]
        with self._log(QA_CHECKS, access, snapshot_id, conditions, by_vendor=True) as session:
            window = "PARTITION BY vendor, asof_date, stage, rule"
            rows = session.arrow(
                f"SELECT {_names(GATE_COLUMNS)} FROM ("
                f" SELECT *, row_number() OVER ({window} ORDER BY checked_at DESC, run_id DESC)"
                f" AS nth, count(*) OVER ({window}) AS runs,"
                f" sum(CAST(failed > 0 AS INTEGER)) OVER ({window})::BIGINT AS runs_failed"
                " FROM log)"
                f" WHERE nth = 1{' AND failed > 0' if failed_only else ''}"
                " ORDER BY asof_date, vendor, stage, rule LIMIT ? OFFSET ?",
                [limit + 1, offset],
            )
        return page_of(rows, snapshot_id, limit, started)

    @contextmanager
    def _log(
        self,
        dataset: Dataset,
        access: Access,
        snapshot_id: int,
        conditions: list[BooleanExpression],
        *,
        by_vendor: bool,
    ) -> Iterator[Session]:
        """A session (one read, under the time limit) where ``log`` holds the rows of
        ``dataset`` at ``snapshot_id`` matching ``conditions`` that ``access`` may see."""
        connection = connect()
        try:
            session = Session(connection, timeout_s=self.timeout_s)  # the deadline starts now
            scope = access.row_scope(tenant_owned=False, vendor_column=by_vendor)
            visible = [In(c, values) if values else AlwaysFalse() for c, values in scope]
            rows = self._scan(dataset, snapshot_id, all_of([*conditions, *visible]))
            session.check()
            session.register("log", self._of_visible_runs(access, rows))
            yield session
        finally:
            connection.close()

    def _scan(self, dataset: Dataset, snapshot_id: int, row_filter: BooleanExpression) -> pa.Table:
        if snapshot_id == NO_SNAPSHOT:
            return dataset.schema.empty_table()
        try:
            table = self.lake.current(dataset.name)
            return table.scan(row_filter=row_filter, snapshot_id=snapshot_id).to_arrow()
        except (OSError, ValueError) as exc:
            raise Unavailable(
                "lake_unreadable",
                f"cannot read {dataset.name} at snapshot {snapshot_id}: {exc}",
                dependency="the lake",
            ) from None

    def _of_visible_runs(self, access: Access, rows: pa.Table) -> pa.Table:
        """The rows written by runs ``access`` may see (the platform: every row, even of a run
        the store no longer holds)."""
        if access.is_platform or not rows.num_rows:
            return rows
        with self.store.transaction(access, write=False) as tx:
            seen = tx.visible_run_ids(pc.unique(rows.column("run_id")).to_pylist())
        return rows.filter(pc.is_in(rows.column("run_id"), pa.array(sorted(seen), pa.string())))

    # -- a day's versions ---------------------------------------------------------------------

    def versions(
        self, access: Access, vendor: str, asof: date, history: Sequence[PublishedVersion]
    ) -> list[dict[str, Any]]:
        """Every published version of a vendor's day, oldest first: its tag, snapshot, the run
        and content that made it, and the file and rows it holds (404 ``day_unknown`` when the
        day has none)."""
        access.require_vendor(vendor)
        _require_versions(vendor, asof, history)
        newest = max(v.version for v in history)
        table = self.lake.current(CURVE_OBSERVATION.name)
        found = []
        for version in sorted(history, key=lambda v: v.version):
            rows = self._day(vendor, asof, version.snapshot_id, ("source_file",), table)
            files = sorted(set(rows.column("source_file").to_pylist()))
            found.append(
                {
                    "version": version.version, "tag": version.tag,
                    "snapshot_id": version.snapshot_id, "published_at": version.published_at,
                    "run_id": version.run_id, "sha256": version.sha256,
                    "file": files[0] if len(files) == 1 else ", ".join(files) or None,
                    "rows": rows.num_rows, "current": version.version == newest,
                }
            )  # fmt: skip
        return found

    def version_diff(
        self,
        access: Access,
        vendor: str,
        asof: date,
        history: Sequence[PublishedVersion],
        *,
        first: int | None = None,
        second: int | None = None,
        statuses: Sequence[str] = ("changed", "added", "removed"),
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """What changed from version ``first`` to version ``second`` of a vendor's day (by
        default the one before the newest, and the newest), tenor by tenor (curve key and tenor
        label): ``added``, ``removed``, ``changed`` (its mid, bid or ask moved by more than
        float noise, :data:`NOISE`) or ``unchanged``; the biggest changes of the mid first.
        ``extra`` counts every status."""
        started = time.perf_counter()
        older, newer = self.diff_versions(access, vendor, asof, history, first, second)
        unknown = sorted(set(statuses) - set(DIFF_STATUSES))
        if unknown or not statuses:
            raise QueryError(
                "parameter_invalid", f"status must be among {', '.join(DIFF_STATUSES)}"
            )
        table = self.lake.current(CURVE_OBSERVATION.name)
        sides = {
            name: self._day(vendor, asof, version.snapshot_id, _DIFF_SIDE, table)
            for name, version in (("version_from", older), ("version_to", newer))
        }
        connection = connect()
        try:
            session = Session(connection, timeout_s=self.timeout_s)
            for name, rows in sides.items():
                session.register(name, rows)
            wanted = ", ".join("?" * len(statuses))
            rows = session.arrow(
                f"{_DIFF} SELECT * EXCLUDE (tenor_start) FROM paired WHERE status IN ({wanted})"
                " ORDER BY abs(change) DESC NULLS LAST, status, curve_key, tenor_start,"
                " tenor_label LIMIT ? OFFSET ?",
                [*statuses, limit + 1, offset],
            )
            counts = dict(session.rows(f"{_DIFF} SELECT status, count(*) FROM paired GROUP BY 1"))
        finally:
            connection.close()
        return page_of(
            rows, newer.snapshot_id, limit, started,
            vendor=vendor, asof_date=asof.isoformat(),
            version_from=older.version, version_to=newer.version,
            tag_from=older.tag, tag_to=newer.tag,
            **{status: counts.get(status, 0) for status in DIFF_STATUSES},
        )  # fmt: skip

    @staticmethod
    def diff_versions(
        access: Access,
        vendor: str,
        asof: date,
        history: Sequence[PublishedVersion],
        first: int | None = None,
        second: int | None = None,
    ) -> tuple[PublishedVersion, PublishedVersion]:
        """The two versions a diff compares: ``first`` and ``second``, by default the one
        before the newest and the newest (404 ``version_unknown`` for a version the day does
        not have, 400 for the same one twice)."""
        access.require_vendor(vendor)
        _require_versions(vendor, asof, history)
        by_number = {v.version: v for v in history}
        second = max(by_number) if second is None else second
        first = second - 1 if first is None else first
        for number in (first, second):
            if number not in by_number:
                raise Unknown(
                    "version_unknown",
                    f"{vendor} {asof} has no version {number}"
                    f" (its versions: {', '.join(map(str, sorted(by_number)))})",
                    versions=sorted(by_number),
                )
        if first == second:
            raise QueryError("filters_contradictory", "a diff needs two different versions")
        return by_number[first], by_number[second]

    @staticmethod
    def _day(
        vendor: str, asof: date, snapshot_id: int, columns: tuple[str, ...], table: Table
    ) -> pa.Table:
        """The rows of a vendor's day at a (published) snapshot."""
        try:
            return table.scan(
                row_filter=partition_filter({"vendor": vendor, "asof_date": asof}),
                selected_fields=columns,
                snapshot_id=snapshot_id,
            ).to_arrow()
        except (OSError, ValueError) as exc:
            raise Unavailable(
                "lake_unreadable",
                f"cannot read {vendor} {asof} at snapshot {snapshot_id}: {exc}",
                dependency="the lake",
            ) from None

    # -- expected and received files ------------------------------------------------------------

    def files(
        self,
        access: Access,
        vendors: Sequence[str],
        start: date,
        end: date,
        *,
        now: datetime,
        file_day: Callable[[str], date | None] | None = None,
    ) -> list[DayFiles]:
        """Each vendor's as-of days from ``start`` to ``end`` that it owed a file for (its
        business days) or that a file came for, with the files (ingest runs) and the state at
        ``now``. ``file_day`` tells the as-of day of a file name: it places a file that failed
        before its as-of date was read (a corrupt workbook)."""
        if start > end:
            raise QueryError(
                "filters_contradictory", f"the range starts ({start}) after it ends ({end})"
            )
        if (end - start).days >= MAX_DAYS:
            raise QueryError(
                "range_too_long", f"at most {MAX_DAYS} days at once, not {(end - start).days + 1}"
            )
        for vendor in vendors:
            access.require_vendor(vendor)
        published = self._published_days()
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        found: list[DayFiles] = []
        with self.store.transaction(access, write=False) as tx:
            for vendor in sorted(set(vendors)):
                owed = {f.asof: f for f in schedule.expected_asofs(vendor, start, end)}
                runs: dict[date, list[Run]] = {
                    day: tx.runs(kind="ingest", vendor=vendor, asof=day, limit=100) for day in days
                }
                if file_day is not None:  # failed before its as-of date was known
                    for run in tx.runs(kind="ingest", vendor=vendor, status="failed", limit=1000):
                        day = file_day(run.subject) if run.asof is None else None
                        if day is not None and start <= day <= end:
                            runs[day].append(run)
                for day in days:
                    if day in owed or runs[day]:
                        version = published.get((vendor, day.isoformat()))
                        found.append(_day_files(vendor, day, day in owed, runs[day], version, now))
        return found

    def _published_days(self) -> dict[tuple[str, ...], int]:
        """The newest published version of every (vendor, as-of day) on main now."""
        table = self.lake.current(CURVE_OBSERVATION.name)
        main = table.metadata.refs.get("main")
        return {} if main is None else latest_versions(table, _SCHEME, main.snapshot_id)


def _day_files(
    vendor: str, day: date, expected: bool, runs: list[Run], version: int | None, now: datetime
) -> DayFiles:
    due = schedule.schedule(vendor).cutoff_at(day)
    files = sorted(map(_received, runs), key=lambda f: (f.received_at, f.run_id))
    passed = now >= due
    if version is not None:
        state = "published"
    elif any(f.status in _ACTIVE for f in files):
        state = "in_progress"
    elif files:
        state = "failed"
    else:
        state = "missing" if passed else "pending"
    received = files[0].received_at if files else None
    return DayFiles(
        vendor=vendor, asof_date=day, expected=expected, cutoff_at=due, cutoff_passed=passed,
        state=state, overdue=expected and passed and version is None, version=version,
        tag=_SCHEME.tag({"vendor": vendor, "asof_date": day}, version) if version else None,
        received_at=received, late=None if received is None else received > due, files=files,
    )  # fmt: skip


def _received(run: Run) -> ReceivedFile:
    return ReceivedFile(
        run_id=run.run_id, file=run.subject, status=run.status, sha256=run.sha256,
        version=run.version, tag=run.tag, error_code=run.error_code,
        received_at=run.started_at or run.queued_at, finished_at=run.finished_at,
    )  # fmt: skip


def _require_versions(vendor: str, asof: date, history: Sequence[PublishedVersion]) -> None:
    if not history:
        raise Unknown("day_unknown", f"{vendor} has published no version of {asof}")


def _equal(**values: str | None) -> Iterator[BooleanExpression]:
    """Equality conditions for the values given (a vendor compared by its code)."""
    for column, value in values.items():
        if value:
            yield EqualTo(column, value.upper() if column == "vendor" else value)


def _days(column: str, days: date | tuple[date, date] | None) -> list[BooleanExpression]:
    if isinstance(days, tuple):
        if days[0] > days[1]:
            raise QueryError(
                "filters_contradictory", f"the range starts ({days[0]}) after it ends ({days[1]})"
            )
        return [
            GreaterThanOrEqual(column, days[0].isoformat()),
            LessThanOrEqual(column, days[1].isoformat()),
        ]
    return [] if days is None else [EqualTo(column, days.isoformat())]


def _names(columns: Sequence[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


# What each side of a version diff reads of the day, and the pairing of the two sides.
_DIFF_SIDE = (
    "curve_key", "tenor_label", *IDENTITY, "currency", "per_unit", "tenor_type", "tenor_start",
    "mid", "bid", "ask",
)  # fmt: skip
# Prices closer than this (relative) are the same price: a workbook saved again by another
# program may write a double's last digit differently (76.90096670474270 as ...4274); a
# correction moves a price by a tick (0.001) or more.
NOISE = 1e-9


def _moved(price: str) -> str:
    a, b = f"a.{price}", f"b.{price}"
    return (
        f"({a} IS DISTINCT FROM {b} AND ({a} IS NULL OR {b} IS NULL"
        f" OR abs({b} - {a}) > {NOISE} * greatest(abs({a}), abs({b}), 1)))"
    )


_PICK = ", ".join(
    f"coalesce(b.{c}, a.{c}) AS {c}"
    for c in ("curve_key", "tenor_label", *IDENTITY, "currency", "per_unit", "tenor_type")
)
_DIFF = f"""
    WITH paired AS (
        SELECT {_PICK}, coalesce(b.tenor_start, a.tenor_start) AS tenor_start,
               a.mid AS mid_from, b.mid AS mid_to,
               round(b.mid - a.mid, 10) AS change,
               CASE WHEN a.mid <> 0 THEN (b.mid - a.mid) / abs(a.mid) * 100 END AS change_pct,
               a.bid AS bid_from, b.bid AS bid_to, a.ask AS ask_from, b.ask AS ask_to,
               CASE WHEN a.curve_key IS NULL THEN 'added'
                    WHEN b.curve_key IS NULL THEN 'removed'
                    WHEN {_moved("mid")} OR {_moved("bid")} OR {_moved("ask")} THEN 'changed'
                    ELSE 'unchanged' END AS status
        FROM version_from a FULL OUTER JOIN version_to b USING (curve_key, tenor_label)
    )
"""
