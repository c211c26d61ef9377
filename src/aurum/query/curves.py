"""Curves people use: slices, latest values, as-of diffs, strips and metadata.

Every call reads one snapshot of ``curve_observation``: main's current one by default, or what
``as_at`` (a time, a snapshot id or a tag) resolves to, or the snapshot a session pinned. It reads
from the serving replica of that snapshot when there is one (``aurum.query.replica``) and
otherwise from an Iceberg scan with the filters pushed down; both expose the same relations
(``curve_observation``, ``replica_partition``, ``curve``), so each query is written once. Every
read is one ``aurum.query.engine.Session``, under the time limit.

One question has its own read model, the served slices (:meth:`Curves.slice`,
``aurum.query.served``): one curve at one as-of with every column, as the API's JSON.

All SQL is parameterised: filter values never become SQL text (``aurum.query.filters``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any, Literal

import pyarrow as pa
from pyiceberg.table import Table

from aurum.auth.access import PLATFORM, Access
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.domain import calendar, strips
from aurum.domain.identity import curve_family
from aurum.errors import Gone, QueryError, Unknown
from aurum.lake.catalog import Lake
from aurum.lake.versions import latest_versions
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
_SCHEME = CURVE_OBSERVATION.tags
assert _SCHEME is not None


@dataclass(frozen=True)
class StripRequest:
    """Which strips: ``kinds`` of derived strips (none: only ``custom`` ones), custom day/month
    ranges, the season convention and weighting; ``source`` derived, the vendor's own quoted
    strips, or both; ``include_current_month``: balance strips keep the rest of the as-of month
    (weighted by what is left of it) instead of starting the month after."""

    kinds: tuple[strips.StripKind, ...] = (
        strips.StripKind.CALENDAR, strips.StripKind.QUARTER, strips.StripKind.SEASON,
    )  # fmt: skip
    custom: tuple[tuple[date, date], ...] = ()
    convention: Literal["market", "us", "eu_gas"] = "market"
    weighting: Literal["auto", "simple", "hours", "days"] = "auto"
    source: Literal["derived", "vendor", "both"] = "derived"
    include_current_month: bool = False


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
        sort: Literal["abs_change", "pct_change", "z"] | None = None,
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
        if where.asof is not None:
            raise QueryError("filters_contradictory", "a diff takes two as-of dates, not asof")
        if first == second:
            raise QueryError("filters_contradictory", "a diff needs two different as-of dates")
        if top is not None and sort is None:
            raise QueryError(
                "filters_contradictory", "top needs sort (abs_change, pct_change or z)"
            )
        if per is not None and top is None:
            raise QueryError("filters_contradictory", "per needs top: how many of each")
        pinned = self.pin(as_at, snapshot_id)
        pushdown = replace(where, asof=(min(first, second), max(first, second)))
        with self.source(pinned, pushdown) as session:
            clause = self._where(session, replace(where, asof=None))
            stated = self._diff_rates(session, clause, (first, second), fx)
            statement = self._diff_sql(session, clause, (first, second), fx)
            params = [first, *clause.params, second, *clause.params]
            order = "vendor, curve_key, tenor_start, tenor_label"
            if sort is not None:
                order = f"{_DIFF_SORT[sort]} DESC NULLS LAST, {order}"
            keep = ""
            if top is not None:
                within = "PARTITION BY asset_class " if per else ""
                keep = f" QUALIFY row_number() OVER ({within}ORDER BY {order}) <= {int(top)}"
            rows = session.arrow(
                statement + f" SELECT * EXCLUDE (tenor_start) FROM joined{keep}"
                f" ORDER BY {'asset_class, ' if per else ''}{order} LIMIT ? OFFSET ?",
                [*params, limit + 1, offset],
            )
            summary = session.rows(
                statement
                + """, curves AS (
                    SELECT curve_key, bool_and(status = 'added') AS added,
                           bool_and(status = 'removed') AS removed FROM paired GROUP BY curve_key)
                SELECT (SELECT list(curve_key ORDER BY curve_key) FROM curves WHERE added),
                       (SELECT list(curve_key ORDER BY curve_key) FROM curves WHERE removed),
                       (SELECT count(*) FILTER (WHERE status = 'changed') FROM paired),
                       (SELECT count(*) FROM paired)""",
                params,
            )[0]
            session.unregister("curve_family")
            if fx is not None:
                session.unregister("fx_factor")
        return page_of(
            rows,
            pinned,
            limit,
            started,
            asof_from=first.isoformat(),
            asof_to=second.isoformat(),
            curves_added=summary[0] or [],
            curves_removed=summary[1] or [],
            tenors_changed=summary[2],
            tenors_total=summary[3],
            **stated,
        )

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
        if where.asof is not None:
            raise QueryError("filters_contradictory", "a diff takes two as-of dates, not asof")
        if first == second:
            raise QueryError("filters_contradictory", "a diff needs two different as-of dates")
        pinned = self.pin(as_at, snapshot_id)
        pushdown = replace(where, asof=(min(first, second), max(first, second)))
        with self.source(pinned, pushdown) as session:
            clause = self._where(session, replace(where, asof=None))
            stated = self._diff_rates(session, clause, (first, second), fx)
            statement = self._diff_sql(session, clause, (first, second), fx)
            rows = session.arrow(
                statement
                + """
                SELECT * EXCLUDE (top), top.curve_key AS top_curve_key,
                       top.tenor_label AS top_tenor_label, top.change_pct AS top_change_pct
                FROM (
                SELECT f.family, min(j.asset_class) AS asset_class,
                       min(j.product) AS product, min(j.currency) AS currency,
                       min(j.per_unit) AS per_unit,
                       CAST(year(j.tenor_start) AS INTEGER) AS year,
                       count(*) AS tenors,
                       count(*) FILTER (WHERE j.status = 'changed') AS changed,
                       round(fsum(j.change) / count(j.change), 10) AS mean_change,
                       round(fsum(j.change_pct) / count(j.change_pct), 10) AS mean_change_pct,
                       max(abs(j.change_pct)) AS max_abs_change_pct,
                       arg_max({'curve_key': j.curve_key, 'tenor_label': j.tenor_label,
                                'change_pct': j.change_pct},
                               CASE WHEN j.change_pct IS NOT NULL
                                    THEN {'size': abs(j.change_pct), 'curve_key': j.curve_key,
                                          'tenor_label': j.tenor_label} END) AS top
                FROM joined j JOIN curve_family f USING (curve_key)
                WHERE j.tenor_start IS NOT NULL
                GROUP BY f.family, year
                )
                ORDER BY family, year LIMIT ? OFFSET ?""",
                [first, *clause.params, second, *clause.params, limit + 1, offset],
            )
            session.unregister("curve_family")
            if fx is not None:
                session.unregister("fx_factor")
        return page_of(
            rows, pinned, limit, started, asof_from=first.isoformat(), asof_to=second.isoformat(),
            **stated,
        )  # fmt: skip

    def _diff_sql(
        self, session: Session, clause: Where, days: tuple[date, date], fx: Conversion | None = None
    ) -> str:
        """The diff's common table expressions (``paired``, ``joined`` with z-scores) over the
        two as-of dates (parameters: day A, the filter's, day B, the filter's); registers each
        curve's family as ``curve_family`` (the caller unregisters it). With ``fx``: over the
        rows converted by ``fx_factor`` (:meth:`_diff_rates`)."""
        session.register(
            "curve_family", self._families(session, clause, days, fx.to if fx else None)
        )
        rows = f"SELECT * FROM {TABLE} WHERE asof_date = ? AND {clause.sql()}"
        if fx is not None:
            rows = (
                "SELECT o.* REPLACE (o.value * x.factor AS value, x.target AS currency)"
                f" FROM ({rows}) o JOIN fx_factor x"
                " ON x.currency = o.currency AND x.asof_date = o.asof_date"
            )
        side = (
            f"SELECT *, {_DECIMALS} AS decimals FROM ("
            "SELECT curve_key, tenor_label, any_value(vendor) AS vendor,"
            + ", ".join(f" any_value({c}) AS {c}" for c in (*IDENTITY, *_UNITS))
            + ", any_value(tenor_type) AS tenor_type, any_value(tenor_start) AS tenor_start,"
            " any_value(value) AS value, CAST(any_value(value) AS VARCHAR) AS text"
            f" FROM ({rows}) GROUP BY curve_key, tenor_label)"
        )
        # converted values carry the rate's digits: their change is not rounded to them
        change = (
            "b.value - a.value"
            if fx is not None
            else "round(b.value - a.value, CAST(greatest(a.decimals, b.decimals) AS INTEGER))"
        )
        pick = ", ".join(f"coalesce(b.{c}, a.{c}) AS {c}" for c in ("vendor", *IDENTITY, *_UNITS))
        statement = f"""
            WITH a AS ({side}), b AS ({side}),
            paired AS (
                SELECT coalesce(b.curve_key, a.curve_key) AS curve_key,
                       coalesce(b.tenor_label, a.tenor_label) AS tenor_label, {pick},
                       coalesce(b.tenor_type, a.tenor_type) AS tenor_type,
                       coalesce(b.tenor_start, a.tenor_start) AS tenor_start,
                       a.value AS value_from, b.value AS value_to,
                       {change} AS change,
                       CASE WHEN a.value <> 0
                            THEN (b.value - a.value) / abs(a.value) * 100 END AS change_pct,
                       CASE WHEN a.curve_key IS NULL THEN 'added'
                            WHEN b.curve_key IS NULL THEN 'removed'
                            WHEN a.value IS NOT DISTINCT FROM b.value THEN 'unchanged'
                            ELSE 'changed' END AS status
                FROM a FULL OUTER JOIN b USING (curve_key, tenor_label)
            ),
            families AS (
                SELECT p.change, f.family
                FROM paired p JOIN curve_family f USING (curve_key)
                WHERE p.change IS NOT NULL
            ),
            centre AS (SELECT family, median(change) AS med FROM families GROUP BY family),
            spread AS (
                SELECT family, any_value(med) AS med,
                       {_MAD_TO_SIGMA} * median(abs(change - med)) AS scale
                FROM families JOIN centre USING (family) GROUP BY family
            ),
            joined AS (
                SELECT p.*, CASE WHEN s.scale > 0 THEN (p.change - s.med) / s.scale END AS z
                FROM paired p JOIN curve_family f USING (curve_key)
                LEFT JOIN spread s USING (family)
            )
        """
        return statement

    @staticmethod
    def _families(
        session: Session, clause: Where, days: tuple[date, date], currency: str | None = None
    ) -> pa.Table:
        """Each curve's family at the two as-of dates, by the domain's one definition (with
        ``currency``: its prices converted into it)."""
        found = session.rows(
            f"SELECT DISTINCT curve_key, asset_class, product, currency, per_unit FROM {TABLE}"
            f" WHERE asof_date IN (?, ?) AND {clause.sql()}",
            [*days, *clause.params],
        )
        return pa.table(
            {
                "curve_key": pa.array([row[0] for row in found], pa.string()),
                "family": pa.array(
                    [curve_family(a, p, currency or c, u) for _, a, p, c, u in found], pa.string()
                ),
            }
        )

    def strips(
        self,
        where: CurveFilter,
        request: StripRequest = StripRequest(),
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
        registered = ("curve_rule", "strip_month", "month_weight")
        with self.source(pinned, where) as session:
            if fx is not None:
                self._require_currency(session, self._where(session, where))
            try:
                if request.source in ("derived", "both"):
                    monthly = replace(where, tenor_types=("MONTHLY",))
                    clause = self._where(session, monthly)
                    clause.add("mid IS NOT NULL")
                    tables = self._strip_rules(session, clause, request)
                    for name, table in zip(registered, tables, strict=True):
                        session.register(name, table)
                    parts.append(
                        _DERIVED_STRIPS.format(table=TABLE, where=clause.sql(), expected=_EXPECTED)
                    )
                    params += clause.params
                vendor_types = _vendor_strip_types(request.kinds)
                if request.source in ("vendor", "both") and vendor_types:
                    quoted = replace(where, tenor_types=vendor_types)
                    clause = self._where(session, quoted)
                    parts.append(_VENDOR_STRIPS.format(table=TABLE, where=clause.sql()))
                    params += clause.params
                if not parts:  # nothing asked for: an empty answer with the columns
                    parts.append(_VENDOR_STRIPS.format(table=TABLE, where="FALSE"))
                rows = session.arrow(
                    f"SELECT * FROM ({' UNION ALL '.join(parts)})"
                    f" ORDER BY vendor, curve_key, asof_date, start_month, kind, label, source"
                    f" LIMIT ? OFFSET ?",
                    [*params, limit + 1, offset],
                )
            finally:
                for name in registered:
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

    def _diff_rates(
        self, session: Session, clause: Where, days: tuple[date, date], fx: Conversion | None
    ) -> dict[str, Any]:
        """Registers ``fx_factor``: the rate of each currency of the two sides at its side's
        as-of; ``{"fx": statement}`` (nothing without ``fx``)."""
        if fx is None:
            return {}
        found = session.rows(
            f"SELECT DISTINCT curve_key, currency FROM {TABLE}"
            f" WHERE asof_date IN (?, ?) AND {clause.sql()}",
            [*days, *clause.params],
        )
        refuse_without_currency(key for key, currency in found if currency is None)
        currencies = sorted({currency for _, currency in found})
        factors, used = fx.factors((c, day) for day in days for c in currencies)
        session.register("fx_factor", factors)
        return {"fx": fx.statement(used)}

    # -- helpers ----------------------------------------------------------------------------

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

    @staticmethod
    def _strip_rules(
        session: Session, clause: Where, request: StripRequest
    ) -> tuple[pa.Table, pa.Table, pa.Table]:
        """Per curve: weighting and its weight group, season convention; per (convention,
        as-of) the strips' months (balance strips for those that have started); each weight
        group's weight per month (and per first day, for a month a strip enters mid-month),
        from the domain's ``month_weight``."""
        curves = session.rows(
            f"SELECT curve_key, {', '.join(IDENTITY)}, min(contract_month), max(contract_month)"
            f" FROM {TABLE} WHERE {clause.sql()} GROUP BY ALL",
            clause.params,
        )
        if not curves:  # still run the query: an empty answer keeps its columns and types
            return (_CURVE_RULE.empty_table(), _STRIP_MONTH.empty_table(), _WEIGHT.empty_table())
        asofs = [row[0] for row in session.rows(
            f"SELECT DISTINCT asof_date FROM {TABLE} WHERE {clause.sql()}", clause.params
        )]  # fmt: skip
        rules: dict[str, list[Any]] = {name: [] for name in _CURVE_RULE.names}
        groups: dict[str, tuple[strips.Weighting, str | None, str | None]] = {}
        first, last = min(c[-2] for c in curves), max(c[-1] for c in curves)
        for row in curves:
            identity = dict(zip(IDENTITY, row[1:-2], strict=True))
            weighting = (
                strips.weighting_for(identity) if request.weighting == "auto" else request.weighting
            )
            market = calendar.market_for(identity) if weighting == "hours" else None
            if weighting == "hours" and (market is None or not identity["block"]):
                weighting = "simple"  # hours unknown for this curve: say so on every number
            block = identity["block"] if market else None
            key = (weighting, market.code if market else None, block)
            group = "|".join(part or "" for part in key)
            groups[group] = key
            rules["curve_key"].append(row[0])
            rules["weighting"].append(weighting)
            rules["weight_group"].append(group)
            rules["convention"].append(
                strips.season_convention(identity)
                if request.convention == "market"
                else request.convention
            )
        try:
            custom = [strips.custom_strip(a, b) for a, b in request.custom]
        except ValueError as exc:
            raise QueryError("parameter_invalid", str(exc)) from None
        month_rows: dict[str, list[Any]] = {name: [] for name in _STRIP_MONTH.names}
        for convention in sorted(set(rules["convention"])):
            defined = strips.strips_between(first, last, request.kinds, convention) + custom
            for asof in asofs:
                for strip in defined:
                    left = strips.balance(
                        strip, asof, include_current_month=request.include_current_month
                    )
                    if left is None:
                        continue
                    expected = strips.months_expected(left, asof)
                    for month in left.months:
                        month_rows["convention"].append(convention)
                        month_rows["asof_date"].append(asof)
                        month_rows["kind"].append(str(left.kind))
                        month_rows["label"].append(left.label)
                        month_rows["start_month"].append(left.start)
                        month_rows["end_month"].append(left.end)
                        month_rows["first_day"].append(left.first_day or left.start)
                        month_rows["from_day"].append(
                            left.first_day if month == left.start else None
                        )
                        month_rows["months_expected"].append(expected)
                        month_rows["month"].append(month)
        entered = sorted(
            set(zip(month_rows["month"], month_rows["from_day"], strict=True)),
            key=lambda pair: (pair[0], pair[1] or pair[0]),
        )
        weights: dict[str, list[Any]] = {name: [] for name in _WEIGHT.names}
        for group, (weighting, market_code, block) in groups.items():
            for month, from_day in entered:
                weights["weight_group"].append(group)
                weights["month"].append(month)
                weights["from_day"].append(from_day)
                weights["weight"].append(
                    strips.month_weight(weighting, month, market_code, block, from_day=from_day)
                )
        return (
            pa.table(rules, schema=_CURVE_RULE),
            pa.table(month_rows, schema=_STRIP_MONTH),
            pa.table(weights, schema=_WEIGHT),
        )


_CURVE_RULE = pa.schema(
    [(name, pa.string()) for name in ("curve_key", "weighting", "weight_group", "convention")]
)
_STRIP_MONTH = pa.schema(
    [
        ("convention", pa.string()),
        ("asof_date", pa.date32()),
        ("kind", pa.string()),
        ("label", pa.string()),
        ("start_month", pa.date32()),
        ("end_month", pa.date32()),
        ("first_day", pa.date32()),
        ("from_day", pa.date32()),  # the day the strip enters this month, when not the 1st
        ("months_expected", pa.int64()),
        ("month", pa.date32()),
    ]
)
_WEIGHT = pa.schema(
    [
        ("weight_group", pa.string()),
        ("month", pa.date32()),
        ("from_day", pa.date32()),
        ("weight", pa.int64()),
    ]
)
_STRIP_COLUMNS = "o.asof_date, o.vendor, o.curve_key, " + ", ".join(
    f"any_value(o.{c}) AS {c}" for c in (*IDENTITY, "currency", "per_unit")
)
# Derived strips: the weighted mean of each strip's monthly mids (the domain's price_strip).
_DERIVED_STRIPS = (
    f"SELECT {_STRIP_COLUMNS}, 'derived' AS source, s.kind, s.label, s.start_month,"
    " s.end_month, s.first_day, r.weighting, sum(o.mid * w.weight) / sum(w.weight) AS value,"
    " count(*) AS months_present, {expected} AS months_expected,"
    " count(*) = {expected} AS complete"
    " FROM (SELECT * FROM {table} WHERE {where}) o"
    " JOIN curve_rule r ON r.curve_key = o.curve_key"
    " JOIN strip_month s ON s.convention = r.convention AND s.asof_date = o.asof_date"
    "  AND s.month = o.contract_month"
    " JOIN month_weight w ON w.weight_group = r.weight_group AND w.month = o.contract_month"
    "  AND w.from_day IS NOT DISTINCT FROM s.from_day"
    # the weight of a first month the strip enters mid-month: none left, not expected
    " LEFT JOIN month_weight f ON f.weight_group = r.weight_group AND f.month = s.start_month"
    "  AND f.from_day = s.first_day"
    " WHERE w.weight > 0"
    " GROUP BY o.asof_date, o.vendor, o.curve_key, s.kind, s.label, s.start_month,"
    " s.end_month, s.first_day, r.weighting"
)
_EXPECTED = "(any_value(s.months_expected) - CAST(coalesce(any_value(f.weight), 1) = 0 AS INTEGER))"
# The vendor's own strips, as it quotes them (simple means of the months it prices).
_VENDOR_STRIPS = (
    f"SELECT {_STRIP_COLUMNS}, 'vendor' AS source, lower(any_value(o.tenor_type)) AS kind,"
    " o.tenor_label AS label, any_value(o.tenor_start) AS start_month,"
    " any_value(o.tenor_end) AS end_month, any_value(o.tenor_start) AS first_day,"
    " 'simple' AS weighting, any_value(o.mid) AS value, NULL::BIGINT AS months_present,"
    " NULL::BIGINT AS months_expected, NULL::BOOLEAN AS complete"
    " FROM (SELECT * FROM {table} WHERE {where}) o"
    " GROUP BY o.asof_date, o.vendor, o.curve_key, o.tenor_label"
)


_UNITS = ("currency", "per_unit")
_FX_KEYS = ("curve_key", "asof_date", "currency")  # what converting a row reads
_MAD_TO_SIGMA = 1.4826
# Decimals of a double from its shortest round-trip text (``text``): 86.433 -> 3; 1e-07 -> 15.
_DECIMALS = (
    "CASE WHEN text IS NULL THEN 0 WHEN contains(text, 'e') THEN 15"
    " WHEN contains(text, '.') THEN length(split_part(text, '.', 2)) ELSE 0 END"
)
_DIFF_SORT = {"abs_change": "abs(change)", "pct_change": "abs(change_pct)", "z": "abs(z)"}


def _vendor_strip_types(kinds: Sequence[strips.StripKind]) -> tuple[str, ...]:
    """The vendor tenor types of the strip kinds asked for (its ``Bal YYYY`` is a calendar)."""
    types = {
        strips.StripKind.CALENDAR: ("CALENDAR", "BALANCE"),
        strips.StripKind.QUARTER: ("QUARTER",),
        strips.StripKind.SEASON: ("SEASON",),
    }
    return tuple(t for kind in kinds for t in types.get(kind, ()))


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
