"""Curves people use: slices, latest values, as-of diffs, strips and metadata.

Every call reads one snapshot of ``curve_observation``: main's current one by default, or what
``as_at`` (a time, a snapshot id or a tag) resolves to, or the snapshot a session pinned. It reads
from the serving replica of that snapshot when there is one (``aurum.query.replica``) and
otherwise from an Iceberg scan with the filters pushed down; both expose the same relations
(``curve_observation``, ``replica_partition``, ``curve``), so each query is written once. Every
read is one ``aurum.query.engine.Session``, under the time limit.

One question has its own read model, the served slices (:meth:`Curves.slice`,
``aurum.query.served``): one curve at one as-of with every column, as the API's JSON.

The diff and its heat map are written in ``aurum.query.diffs``, the strips' tables and SQL in
``aurum.query.strip_rules``; this module pins, opens the session and builds the filter.

All SQL is parameterised: filter values never become SQL text (``aurum.query.filters``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from typing import Any, Literal

import pyarrow as pa
from pyiceberg.table import Table

from aurum.auth.access import PLATFORM, Access
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.errors import Gone, QueryError, Unknown
from aurum.lake.catalog import Lake
from aurum.lake.versions import latest_versions
from aurum.query import diffs, strip_rules
from aurum.query.engine import AsAt, Session, connect, readable_snapshots, resolve_snapshot
from aurum.query.filters import (
    FILTER_FIELDS,
    IDENTITY,
    CurveFilter,
    Where,
    escape_like,
    iceberg_filter,
    identity_clauses,
    scope,
)
from aurum.query.fx import Conversion, refuse_without_currency
from aurum.query.page import Page, page_of
from aurum.query.replica import CURVE_SUMMARY, TABLE, BuildReport, Replicas
from aurum.query.served import ServedSlice
from aurum.query.strip_rules import StripRequest
from aurum.telemetry import span

__all__ = [
    "COLUMNS", "FILTER_FIELDS", "IDENTITY", "CurveFilter", "Curves", "Page", "ServedSlice",
    "StripRequest",
]  # fmt: skip

# What a curve row carries over the API, in this order (lineage columns included).
COLUMNS = (
    "asof_date", "vendor", "curve_key", *IDENTITY, "price_type", "units_raw", "currency",
    "per_unit", "tenor_type", "tenor_label", "contract_month", "tenor_start", "tenor_end",
    "value", "bid", "ask", "mid", "version_hash", "source_file",
)  # fmt: skip
_ORDER = "asof_date, vendor, curve_key, tenor_start, tenor_label"
_FX_KEYS = ("curve_key", "asof_date", "currency")  # what converting a row reads
_STRIPS = StripRequest()  # calendar, quarter and season, derived
_SCHEME = CURVE_OBSERVATION.tags
assert _SCHEME is not None


class Curves:
    """Query services over ``curve_observation``, each answer pinned to one snapshot."""

    columns: tuple[str, ...] = COLUMNS  # what a row may hold (a scenario's adds its bands)

    def __init__(
        self,
        lake: Lake,
        replicas: Replicas | None,
        *,
        freshness_s: float = 0.0,
        timeout_s: float = 30.0,
    ) -> None:
        """``replicas=None`` reads every answer straight from Iceberg (slower, same rows);
        ``timeout_s`` bounds each read (``query_timeout``)."""
        self.lake = lake
        self.replicas = replicas
        self.freshness_s = freshness_s
        self.timeout_s = timeout_s
        self._seen: tuple[float, Table] | None = None
        self._build_lock = threading.Lock()

    # -- pinning ----------------------------------------------------------------------------

    def table(self) -> Table:
        """``curve_observation`` now (or as seen within the last ``freshness_s`` seconds)."""
        seen = self._seen
        now = time.monotonic()
        if seen is not None and now - seen[0] < self.freshness_s:
            return seen[1]
        table = self.lake.current(TABLE)
        self._seen = (now, table)
        return table

    def pin(self, as_at: AsAt = None, snapshot_id: int | None = None) -> int:
        """The snapshot an answer reads: a cursor's, what ``as_at`` resolves to, or main's."""
        with span("query.pin"):
            return self._pin(as_at, snapshot_id)

    def _pin(self, as_at: AsAt, snapshot_id: int | None) -> int:
        table = self.table()
        if snapshot_id is not None:
            if snapshot_id not in readable_snapshots(table):
                raise Gone(
                    "cursor_expired",
                    f"snapshot {snapshot_id} of this session is no longer kept; start again",
                )
            return snapshot_id
        pinned = resolve_snapshot(table, as_at)
        replicas = self.replicas
        current = pinned == table.metadata.refs["main"].snapshot_id
        if replicas and current and not replicas.has(pinned):
            with self._build_lock:  # one thread builds; the others then find it
                replicas.ensure(table)
        return pinned

    def refresh(self) -> BuildReport | None:
        """Build the replica of main's current snapshot now (after a publish, or on a timer)."""
        self._seen = None
        table = self.table()
        if self.replicas is None:
            return None
        with self._build_lock:
            return self.replicas.ensure(table)

    @contextmanager
    def source(self, snapshot_id: int, pushdown: CurveFilter) -> Iterator[Session]:
        """A session (one read, under the time limit) where ``curve_observation``,
        ``replica_partition`` and ``curve`` are the snapshot's: the replica's tables, or an
        Iceberg scan narrowed by ``pushdown``."""
        replicas = self.replicas
        session = replicas.session(snapshot_id, timeout_s=self.timeout_s) if replicas else None
        if session is not None:
            yield session
            return
        table = self.table()
        connection = connect()
        try:
            session = Session(connection, timeout_s=self.timeout_s)
            index = _partition_index(table, snapshot_id)
            session.register("replica_partition", index)
            with span("lake.scan", table=TABLE, snapshot_id=snapshot_id):
                rows = table.scan(
                    row_filter=iceberg_filter(pushdown, index),
                    snapshot_id=snapshot_id,
                ).to_arrow()
            session.register(TABLE, rows)
            session.run(f"CREATE VIEW curve AS {CURVE_SUMMARY}")
            yield session
        finally:
            connection.close()

    # -- services ---------------------------------------------------------------------------

    def curves(
        self,
        where: CurveFilter,
        *,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        columns: Sequence[str] | None = None,
        limit: int = 1000,
        offset: int = 0,
        fx: Conversion | None = None,
    ) -> Page:
        """Rows matching ``where``, ordered by (as-of, vendor, curve, tenor); ``columns``
        default to every column a row holds (``self.columns``). With ``fx``: prices in its
        currency (see :meth:`_convert`)."""
        started = time.perf_counter()
        columns = tuple(columns or self.columns)
        unknown = sorted(set(columns) - set(self.columns))
        if unknown:
            raise QueryError("fields_unknown", f"no such fields: {', '.join(unknown)}")
        # a conversion needs each row's currency and as-of (dropped again if not asked for)
        selected = (*columns, *(c for c in _FX_KEYS if c not in columns)) if fx else columns
        pinned = self.pin(as_at, snapshot_id)
        with self.source(pinned, where) as session:
            clause = self._where(session, where)
            if fx is not None:
                self._require_currency(session, clause)
            rows = session.arrow(
                f"SELECT {', '.join(selected)} FROM {TABLE} WHERE {clause.sql()}"
                f" ORDER BY {_ORDER} LIMIT ? OFFSET ?",
                [*clause.params, limit + 1, offset],
            )
            if not rows.num_rows and where.curve_keys and offset == 0:
                self._require_curves(session, where.curve_keys, where.access)
        if fx is None:
            return page_of(rows, pinned, limit, started)
        more = rows.num_rows > limit
        converted, stated = self._convert(rows.slice(0, limit), fx)
        page = page_of(converted.select(list(columns)), pinned, limit, started, fx=stated)
        return replace(page, has_more=more)

    def slice(
        self,
        where: CurveFilter,
        *,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        columns: Sequence[str] = COLUMNS,
        limit: int = 1000,
        offset: int = 0,
    ) -> ServedSlice | None:
        """The answer of :meth:`curves` from the served-slice read model, as the API's JSON,
        when the question has its shape: one curve key at one as-of date, with or without
        ``vendor``, every column, the whole answer within ``limit``. ``None``: ask
        :meth:`curves` (any other shape, a snapshot without a replica, nothing found)."""
        started = time.perf_counter()
        if (
            self.replicas is None
            or offset
            or tuple(columns) != COLUMNS
            or not set(where.fields) <= {"vendor"}
            or len(where.curve_keys) != 1
            or where.tenor_types
            or where.month_from
            or where.month_to
            or not isinstance(where.asof, date)
        ):
            return None
        pinned = self.pin(as_at, snapshot_id)
        vendor = where.vendor.upper() if where.vendor else None
        found = [
            (rows, body)
            for seller, rows, body in self.replicas.slices(pinned, where.asof, where.curve_keys[0])
            if (vendor is None or seller == vendor) and where.access.may_read(seller)
        ]
        total = sum(rows for rows, _ in found)
        if not found or total > limit:
            return None
        # vendor order is the query's order (as-of, vendor, curve, tenor): arrays join as is
        body = (
            found[0][1] if len(found) == 1 else b"[" + b",".join(b[1:-1] for _, b in found) + b"]"
        )
        return ServedSlice(pinned, total, body, time.perf_counter() - started)

    def latest(
        self,
        where: CurveFilter,
        *,
        on: date | None = None,
        lookback_days: int = 31,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """The last good value of every curve and tenor on or before ``on`` (default: the newest
        as-of), looking back at most ``lookback_days``; delivered tenors only (not yet ended)."""
        started = time.perf_counter()
        pinned = self.pin(as_at, snapshot_id)
        with self.source(pinned, where) as session:
            visible = Where()
            scope(visible, where.access)
            if where.vendor:
                visible.add("vendor = ?", where.vendor.upper())
            newest = (
                on
                or session.rows(
                    f"SELECT max(asof_date) FROM replica_partition WHERE {visible.sql()}",
                    visible.params,
                )[0][0]
            )
            if newest is None:  # nothing published: the same query, answering no rows
                where = CurveFilter(fields={"vendor": "\x00"})
                newest = date(1970, 1, 1)
            try:
                window = replace(where, asof=(newest - timedelta(days=lookback_days), newest))
            except OverflowError:
                raise QueryError(
                    "parameter_invalid", f"{lookback_days} days before {newest} is not a date"
                ) from None
            clause = self._where(session, window)
            clause.add("value IS NOT NULL")
            clause.add("(tenor_end IS NULL OR tenor_end >= date_trunc('month', ?::DATE))", newest)
            rows = session.arrow(
                f"SELECT {', '.join(COLUMNS)}, (?::DATE - asof_date) AS age_days FROM {TABLE}"
                f" WHERE {clause.sql()}"
                " QUALIFY row_number() OVER"
                " (PARTITION BY curve_key, tenor_label ORDER BY asof_date DESC) = 1"
                " ORDER BY vendor, curve_key, tenor_start, tenor_label LIMIT ? OFFSET ?",
                [newest, *clause.params, limit + 1, offset],
            )
        return page_of(rows, pinned, limit, started, on=newest.isoformat())

    def diff(
        self,
        where: CurveFilter,
        first: date,
        second: date,
        *,
        sort: diffs.Sort | None = None,
        top: int | None = None,
        per: Literal["asset_class"] | None = None,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        limit: int = 1000,
        offset: int = 0,
        fx: Conversion | None = None,
    ) -> Page:
        """Each curve and tenor at as-of ``first`` against ``second``: absolute and % change,
        the robust z-score of the change within its curve family
        (:func:`aurum.domain.identity.curve_family`: median and MAD of the family's changes),
        status changed/unchanged/added/removed; curves added and removed listed apart.

        ``change`` is rounded to the decimals of the two values (86.433 → 87.209 is 0.776, not
        0.7759999999999962). ``sort`` orders by the size of the change (largest first);
        ``top`` keeps the first ``top`` rows of that order, ``per="asset_class"`` the first
        ``top`` of each asset class: what moved most.

        With ``fx``: each side in its currency at the rate of its own as-of, the change, %
        change, z-scores and order computed from the converted values (the change unrounded:
        it is exactly converted B minus converted A); ``meta.fx`` states both sides' rates.
        """
        started = time.perf_counter()
        _check_days(where, first, second)
        if top is not None and sort is None:
            raise QueryError(
                "filters_contradictory", "top needs sort (abs_change, pct_change or z)"
            )
        if per is not None and top is None:
            raise QueryError("filters_contradictory", "per needs top: how many of each")
        with self._two_days(where, first, second, as_at, snapshot_id) as (pinned, session, clause):
            rows, meta = diffs.diff_rows(
                session, clause, (first, second), sort=sort, top=top, per=per, limit=limit,
                offset=offset, fx=fx,
            )  # fmt: skip
        return page_of(
            rows, pinned, limit, started, asof_from=first.isoformat(),
            asof_to=second.isoformat(), **meta,
        )  # fmt: skip

    def diff_heatmap(
        self,
        where: CurveFilter,
        first: date,
        second: date,
        *,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        limit: int = 1000,
        offset: int = 0,
        fx: Conversion | None = None,
    ) -> Page:
        """The diff of ``first`` against ``second`` summed up per (curve family, delivery year):
        tenors compared and changed, mean change and mean % change, the largest |% change| and
        the curve and tenor that made it (of equal moves, the greatest curve key and tenor
        label: the same answer every time). A family is
        :func:`aurum.domain.identity.curve_family` (asset class, product, units), the same one
        the diff's z-scores use; the year is that of the tenor's first delivery day, for every
        tenor type (a month, a quarter, a season, a calendar year); tenors without a delivery
        start are left out. Tenors added or removed count in ``tenors`` but have no change.
        Means are compensated sums rounded to 10 decimals, so equal requests answer equal
        bytes (and ETags) however DuckDB splits the work. With ``fx``: of the converted diff
        (:meth:`diff`)."""
        started = time.perf_counter()
        with self._two_days(where, first, second, as_at, snapshot_id) as (pinned, session, clause):
            rows, stated = diffs.heatmap_rows(
                session, clause, (first, second), limit=limit, offset=offset, fx=fx
            )
        return page_of(
            rows, pinned, limit, started, asof_from=first.isoformat(), asof_to=second.isoformat(),
            **stated,
        )  # fmt: skip

    def strips(
        self,
        where: CurveFilter,
        request: StripRequest = _STRIPS,
        *,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        limit: int = 1000,
        offset: int = 0,
        fx: Conversion | None = None,
    ) -> Page:
        """Calendar, quarter, season and custom strips: derived from the monthly rows, the
        vendor's own quoted strips, or both (``request.source``), each row with its ``source``,
        ``weighting`` and units.

        Derived strips are power hour-weighted by the market's block hours, gas day-weighted,
        anything else a simple mean (or the weighting asked for), priced by
        :func:`aurum.domain.strips.price_strip`'s arithmetic done in SQL over every curve at
        once. A strip whose delivery has started by the as-of day is a balance strip
        (:func:`aurum.domain.strips.balance`: ``Bal Cal 2025`` from the month after the as-of
        month, or from the day after the as-of day with ``include_current_month``).
        ``months_expected`` counts the strip's months on the curve; ``complete`` is whether all
        of them are present. The vendor's strips are its own numbers (simple means of the
        months it prices, the as-of month included), under its own labels.

        With ``fx``: each strip's value times the rate of its currency at its as-of (a strip
        and its months share both, so it is the strip of the converted months).
        """
        started = time.perf_counter()
        if where.tenor_types and where.tenor_types != ("MONTHLY",):
            raise QueryError("filters_contradictory", "strips are derived from MONTHLY rows only")
        pinned = self.pin(as_at, snapshot_id)
        parts: list[str] = []
        params: list[Any] = []
        with self.source(pinned, where) as session:
            if fx is not None:
                self._require_currency(session, self._where(session, where))
            try:
                if request.source in ("derived", "both"):
                    monthly = replace(where, tenor_types=("MONTHLY",))
                    clause = self._where(session, monthly)
                    clause.add("mid IS NOT NULL")
                    tables = strip_rules.strip_tables(session, clause, request)
                    for name, table in zip(strip_rules.REGISTERED, tables, strict=True):
                        session.register(name, table)
                    parts.append(strip_rules.derived_strips(clause.sql()))
                    params += clause.params
                vendor_types = strip_rules.vendor_strip_types(request.kinds)
                if request.source in ("vendor", "both") and vendor_types:
                    quoted = replace(where, tenor_types=vendor_types)
                    clause = self._where(session, quoted)
                    parts.append(strip_rules.vendor_strips(clause.sql()))
                    params += clause.params
                if not parts:  # nothing asked for: an empty answer with the columns
                    parts.append(strip_rules.vendor_strips("FALSE"))
                rows = session.arrow(
                    f"SELECT * FROM ({' UNION ALL '.join(parts)})"
                    f" ORDER BY vendor, curve_key, asof_date, start_month, kind, label, source"
                    f" LIMIT ? OFFSET ?",
                    [*params, limit + 1, offset],
                )
            finally:
                for name in strip_rules.REGISTERED:
                    session.unregister(name)
        if fx is None:
            return page_of(rows, pinned, limit, started)
        more = rows.num_rows > limit
        converted, stated = self._convert(rows.slice(0, limit), fx)
        return replace(page_of(converted, pinned, limit, started, fx=stated), has_more=more)

    def metadata_curves(
        self,
        where: CurveFilter,
        *,
        search: str | None = None,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """One row per curve: identity, units, first/last as-of and tenor coverage."""
        started = time.perf_counter()
        if where.asof is not None or where.tenor_types or where.month_from or where.month_to:
            raise QueryError(
                "parameter_unknown", "curve metadata filters by identity, curve_key and search"
            )
        pinned = self.pin(as_at, snapshot_id)
        with self.source(pinned, where) as session:
            clause = Where()
            identity_clauses(clause, where)
            if search:
                haystack = " || '|' || ".join(
                    f"coalesce({c}, '')" for c in ("vendor", *IDENTITY, "curve_key")
                )
                for word in search.split()[:8]:
                    clause.add(f"({haystack}) ILIKE ? ESCAPE '\\'", f"%{escape_like(word)}%")
            rows = session.arrow(
                f"SELECT * FROM curve WHERE {clause.sql()}"
                " ORDER BY vendor, asset_class, region, location, product, block, curve_key"
                " LIMIT ? OFFSET ?",
                [*clause.params, limit + 1, offset],
            )
        return page_of(rows, pinned, limit, started)

    def asof_dates(
        self,
        vendor: str | None = None,
        *,
        access: Access = PLATFORM,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
    ) -> Page:
        """Every (vendor, as-of) at the snapshot that ``access`` sees, with its row count and
        published version."""
        started = time.perf_counter()
        pinned = self.pin(as_at, snapshot_id)
        table = self.table()
        where = CurveFilter(fields={"vendor": vendor} if vendor else {}, access=access)
        with self.source(pinned, where) as session:
            clause = Where()
            identity_clauses(clause, where)
            rows = session.arrow(
                f"SELECT vendor, asof_date, rows FROM replica_partition WHERE {clause.sql()}"
                " ORDER BY vendor, asof_date",
                clause.params,
            )
        versions = {
            (vendor, date.fromisoformat(day)): n
            for (vendor, day), n in latest_versions(table, _SCHEME, pinned).items()
        }
        rows = rows.append_column(
            "version",
            pa.array(
                [
                    versions.get((v, d))
                    for v, d in zip(
                        rows["vendor"].to_pylist(), rows["asof_date"].to_pylist(), strict=True
                    )
                ],
                pa.int32(),
            ),
        )
        return Page(rows, pinned, False, time.perf_counter() - started)

    def vendors(
        self,
        *,
        access: Access = PLATFORM,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
    ) -> Page:
        """Each vendor's as-of days and rows (of the vendors ``access`` sees)."""
        started = time.perf_counter()
        pinned = self.pin(as_at, snapshot_id)
        with self.source(pinned, CurveFilter(access=access)) as session:
            clause = Where()
            scope(clause, access)
            rows = session.arrow(
                "SELECT vendor, count(*) AS asof_count, min(asof_date) AS first_asof,"
                " max(asof_date) AS last_asof, sum(rows)::BIGINT AS rows"
                f" FROM replica_partition WHERE {clause.sql()} GROUP BY vendor ORDER BY vendor",
                clause.params,
            )
        return Page(rows, pinned, False, time.perf_counter() - started)

    def instruments(self) -> list[dict[str, Any]]:
        """Every curve of main's current snapshot as an ``instrument`` row of the store."""
        pinned = self.pin()
        with self.source(pinned, CurveFilter()) as session:
            rows = session.arrow(
                f"SELECT curve_key, vendor, {', '.join(IDENTITY)}, price_type, currency,"
                " per_unit, units_raw, first_asof, last_asof FROM curve ORDER BY curve_key",
            ).to_pylist()
        return [
            {
                **{k: row[k] for k in ("curve_key", "vendor", "price_type", "currency")},
                **{k: row[k] for k in ("per_unit", "units_raw", "first_asof", "last_asof")},
                "identity": {k: row[k] for k in IDENTITY},
            }
            for row in rows
        ]

    # -- currency conversion (``fx``: aurum.query.fx) ----------------------------------------

    @staticmethod
    def _require_currency(session: Session, clause: Where) -> None:
        """``curve_currency_missing`` when a curve the answer reads has no currency: the whole
        answer is refused, not the page that holds one."""
        missing = session.rows(
            f"SELECT DISTINCT curve_key FROM {TABLE} WHERE {clause.sql()} AND currency IS NULL"
            " ORDER BY curve_key LIMIT 100",
            clause.params,
        )
        refuse_without_currency(row[0] for row in missing)

    @staticmethod
    def _convert(rows: pa.Table, fx: Conversion) -> tuple[pa.Table, dict[str, Any]]:
        """A page's rows in ``fx``'s currency, and the statement of the rates used."""
        converted, used = fx.convert(rows)
        return converted, fx.statement(used)

    # -- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _two_days(
        self, where: CurveFilter, first: date, second: date, as_at: AsAt, snapshot_id: int | None
    ) -> Iterator[tuple[int, Session, Where]]:
        """For a diff: the pinned snapshot, a session reading both as-of days and the filter's
        clause without them."""
        _check_days(where, first, second)
        pinned = self.pin(as_at, snapshot_id)
        pushdown = replace(where, asof=(min(first, second), max(first, second)))
        with self.source(pinned, pushdown) as session:
            yield pinned, session, self._where(session, replace(where, asof=None))

    def _where(self, session: Session, where: CurveFilter) -> Where:
        clause = Where()
        identity_clauses(clause, where)
        if where.tenor_types:
            clause.add(
                f"tenor_type IN ({', '.join('?' * len(where.tenor_types))})",
                *[t.upper() for t in where.tenor_types],
            )
        if where.month_from:
            clause.add("tenor_start >= ?", where.month_from)
        if where.month_to:
            clause.add("tenor_end <= ?", where.month_to)
        asof = where.asof
        if asof == "latest":
            newest = session.rows(
                "SELECT vendor, max(asof_date) FROM replica_partition"
                + (" WHERE vendor = ?" if where.vendor else "")
                + " GROUP BY vendor",
                [where.vendor.upper()] if where.vendor else [],
            )
            if not newest:
                clause.add("FALSE")
            else:
                clause.add(
                    "(" + " OR ".join("(vendor = ? AND asof_date = ?)" for _ in newest) + ")",
                    *[value for pair in newest for value in pair],
                )
        elif isinstance(asof, tuple):
            clause.add("asof_date BETWEEN ? AND ?", *asof)
        elif isinstance(asof, date):
            clause.add("asof_date = ?", asof)
        return clause

    @staticmethod
    def _require_curves(session: Session, keys: Sequence[str], access: Access) -> None:
        """404 for keys no curve has (or none the caller may read: no existence leaks)."""
        visible = Where()
        scope(visible, access)
        visible.add(f"curve_key IN ({', '.join('?' * len(keys))})", *keys)
        known = {
            row[0]
            for row in session.rows(
                f"SELECT curve_key FROM curve WHERE {visible.sql()}", visible.params
            )
        }
        missing = sorted(set(keys) - known)
        if missing:
            raise Unknown(
                "curve_unknown",
                f"no curve {missing[0]}"
                + (f" (and {len(missing) - 1} more)" if missing[1:] else ""),
                curve_keys=missing,
            )

def _check_days(where: CurveFilter, first: date, second: date) -> None:
    if where.asof is not None:
        raise QueryError("filters_contradictory", "a diff takes two as-of dates, not asof")
    if first == second:
        raise QueryError("filters_contradictory", "a diff needs two different as-of dates")


def _partition_index(table: Table, snapshot_id: int) -> pa.Table:
    partitions = table.inspect.partitions(snapshot_id=snapshot_id)
    if not partitions.num_rows:
        return pa.table(
            {
                "vendor": pa.array([], pa.string()),
                "asof_date": pa.array([], pa.date32()),
                "rows": pa.array([], pa.int64()),
            }
        )
    keys = partitions.column("partition").to_pylist()
    return pa.table(
        {
            "vendor": [k["vendor"] for k in keys],
            "asof_date": pa.array([k["asof_date"] for k in keys], pa.date32()),
            "rows": partitions.column("record_count"),
        }
    )
