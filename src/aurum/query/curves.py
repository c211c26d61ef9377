"""Curves people use: slices, latest values, as-of diffs, strips and metadata.

Every call reads one snapshot of ``curve_observation``: main's current one by default, or what
``as_at`` (a time, a snapshot id or a tag) resolves to, or the snapshot a cursor pinned. It reads
from the serving replica of that snapshot when there is one (``aurum.query.replica``) and
otherwise from an Iceberg scan with the filters pushed down; both expose the same relations
(``curve_observation``, ``replica_partition``, ``curve``), so each query is written once.

All SQL is parameterised: filter values never become SQL text.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any, Literal

import duckdb
import pyarrow as pa
from pyiceberg.expressions import (
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
)
from pyiceberg.table import Table

from aurum.auth.access import PLATFORM, Access
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.domain import calendar, strips
from aurum.errors import Gone, QueryError, Unknown
from aurum.lake.catalog import Lake
from aurum.lake.expressions import all_of
from aurum.lake.versions import latest_versions
from aurum.query.engine import AsAt, readable_snapshots, resolve_snapshot
from aurum.query.replica import CURVE_SUMMARY, TABLE, BuildReport, Replicas, Slice

__all__ = [
    "COLUMNS", "FILTER_FIELDS", "IDENTITY", "CurveFilter", "Curves", "Page", "StripRequest",
]  # fmt: skip

IDENTITY = (
    "asset_class", "iso", "region", "location", "market", "product", "block", "spark_location",
)  # fmt: skip
FILTER_FIELDS = ("vendor", *IDENTITY, "price_type", "currency", "per_unit")
# What a curve row carries over the API, in this order (lineage columns included).
COLUMNS = (
    "asof_date", "vendor", "curve_key", *IDENTITY, "price_type", "units_raw", "currency",
    "per_unit", "tenor_type", "tenor_label", "contract_month", "tenor_start", "tenor_end",
    "value", "bid", "ask", "mid", "version_hash", "source_file",
)  # fmt: skip
_ORDER = "asof_date, vendor, curve_key, tenor_start, tenor_label"
Asof = date | tuple[date, date] | Literal["latest"] | None
_SCHEME = CURVE_OBSERVATION.tags
assert _SCHEME is not None


@dataclass(frozen=True)
class CurveFilter:
    """Which rows: identity fields (case-insensitive equality), keys, tenor types, months, as-of."""

    fields: Mapping[str, str] = field(default_factory=dict)
    curve_keys: tuple[str, ...] = ()
    tenor_types: tuple[str, ...] = ()
    month_from: date | None = None
    month_to: date | None = None
    asof: Asof = None
    # Who reads: rows the access policy does not let it see never match.
    access: Access = PLATFORM

    def __post_init__(self) -> None:
        unknown = sorted(set(self.fields) - set(FILTER_FIELDS))
        if unknown:
            raise QueryError("parameter_unknown", f"cannot filter on {', '.join(unknown)}")
        if self.month_from and self.month_to and self.month_from > self.month_to:
            raise QueryError(
                "filters_contradictory",
                f"month_from {self.month_from:%Y-%m} is after month_to {self.month_to:%Y-%m}",
            )
        if isinstance(self.asof, tuple) and self.asof[0] > self.asof[1]:
            raise QueryError(
                "filters_contradictory",
                f"the as-of range starts ({self.asof[0]}) after it ends ({self.asof[1]})",
            )

    @property
    def vendor(self) -> str | None:
        return self.fields.get("vendor")


@dataclass(frozen=True)
class Page:
    """One page of an answer, pinned to the snapshot it was read from."""

    table: pa.Table
    snapshot_id: int
    has_more: bool
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
    # A served slice: the rows already as a JSON array (``table`` is then empty).
    served: Slice | None = None

    @property
    def rows(self) -> int:
        return self.served.rows if self.served is not None else self.table.num_rows


@dataclass(frozen=True)
class StripRequest:
    kinds: tuple[strips.StripKind, ...] = (
        strips.StripKind.CALENDAR, strips.StripKind.QUARTER, strips.StripKind.SEASON,
    )  # fmt: skip
    custom: tuple[tuple[date, date], ...] = ()
    convention: Literal["market", "us", "eu_gas"] = "market"
    weighting: Literal["auto", "simple", "hours", "days"] = "auto"


@dataclass
class _Where:
    """A WHERE clause assembled from parameter placeholders and their values."""

    clauses: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)

    def add(self, clause: str, *values: Any) -> None:
        self.clauses.append(clause)
        self.params.extend(values)

    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


class Curves:
    """Query services over ``curve_observation``, each answer pinned to one snapshot."""

    def __init__(self, lake: Lake, replicas: Replicas | None, *, freshness_s: float = 0.0) -> None:
        """``replicas=None`` reads every answer straight from Iceberg (slower, same rows)."""
        self.lake = lake
        self.replicas = replicas
        self.freshness_s = freshness_s
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
        table = self.table()
        if snapshot_id is not None:
            if snapshot_id not in readable_snapshots(table):
                raise Gone(
                    "cursor_expired",
                    f"snapshot {snapshot_id} of this cursor is no longer kept; start again",
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
    def source(self, snapshot_id: int, pushdown: CurveFilter) -> Iterator[Any]:
        """A DuckDB cursor where ``curve_observation``, ``replica_partition`` and ``curve`` are
        the snapshot's: the replica's tables, or an Iceberg scan narrowed by ``pushdown``."""
        cursor = self.replicas.cursor(snapshot_id) if self.replicas else None
        if cursor is not None:
            yield cursor
            return
        table = self.table()
        connection = duckdb.connect(config={"enable_external_access": False})
        try:
            index = _partition_index(table, snapshot_id)
            connection.register("replica_partition", index)
            rows = table.scan(
                row_filter=_iceberg_filter(pushdown, index),
                snapshot_id=snapshot_id,
            ).to_arrow()
            connection.register(TABLE, rows)
            connection.execute(f"CREATE VIEW curve AS {CURVE_SUMMARY}")
            yield connection
        finally:
            connection.close()

    # -- services ---------------------------------------------------------------------------

    def curves(
        self,
        where: CurveFilter,
        *,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        columns: Sequence[str] = COLUMNS,
        limit: int = 1000,
        offset: int = 0,
        json: bool = False,
    ) -> Page:
        """Rows matching ``where``, ordered by (as-of, vendor, curve, tenor).

        With ``json``, an answer that is exactly one served slice (one vendor's curve at one
        as-of, every column, the whole of it) comes back as its JSON instead (``Page.served``).
        """
        started = time.perf_counter()
        unknown = sorted(set(columns) - set(COLUMNS))
        if unknown:
            raise QueryError("fields_unknown", f"no such fields: {', '.join(unknown)}")
        pinned = self.pin(as_at, snapshot_id)
        served = self._served(pinned, where, columns, offset) if json else None
        if served is not None and served.rows <= limit:
            return Page(_EMPTY, pinned, False, time.perf_counter() - started, served=served)
        with self.source(pinned, where) as cursor:
            clause = self._where(cursor, where)
            rows = _arrow(
                cursor,
                f"SELECT {', '.join(columns)} FROM {TABLE} WHERE {clause.sql()}"
                f" ORDER BY {_ORDER} LIMIT ? OFFSET ?",
                [*clause.params, limit + 1, offset],
            )
            if not rows.num_rows and where.curve_keys and offset == 0:
                self._require_curves(cursor, where.curve_keys, where.access)
        return _page(rows, pinned, limit, started)

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
        with self.source(pinned, where) as cursor:
            scope = _Where()
            _scope(scope, where.access)
            if where.vendor:
                scope.add("vendor = ?", where.vendor.upper())
            newest = (
                on
                or cursor.execute(
                    f"SELECT max(asof_date) FROM replica_partition WHERE {scope.sql()}",
                    scope.params,
                ).fetchall()[0][0]
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
            clause = self._where(cursor, window)
            clause.add("value IS NOT NULL")
            clause.add("(tenor_end IS NULL OR tenor_end >= date_trunc('month', ?::DATE))", newest)
            rows = _arrow(
                cursor,
                f"SELECT {', '.join(COLUMNS)}, (?::DATE - asof_date) AS age_days FROM {TABLE}"
                f" WHERE {clause.sql()}"
                " QUALIFY row_number() OVER"
                " (PARTITION BY curve_key, tenor_label ORDER BY asof_date DESC) = 1"
                " ORDER BY vendor, curve_key, tenor_start, tenor_label LIMIT ? OFFSET ?",
                [newest, *clause.params, limit + 1, offset],
            )
        return _page(rows, pinned, limit, started, on=newest.isoformat())

    def diff(
        self,
        where: CurveFilter,
        first: date,
        second: date,
        *,
        as_at: AsAt = None,
        snapshot_id: int | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> Page:
        """Each curve and tenor at as-of ``first`` against ``second``: absolute and % change,
        status changed/unchanged/added/removed; curves added and removed listed apart."""
        started = time.perf_counter()
        if where.asof is not None:
            raise QueryError("filters_contradictory", "a diff takes two as-of dates, not asof")
        if first == second:
            raise QueryError("filters_contradictory", "a diff needs two different as-of dates")
        pinned = self.pin(as_at, snapshot_id)
        scope = replace(where, asof=(min(first, second), max(first, second)))
        with self.source(pinned, scope) as cursor:
            clause = self._where(cursor, replace(where, asof=None))
            side = (
                "SELECT curve_key, tenor_label, any_value(vendor) AS vendor,"
                + ", ".join(f" any_value({c}) AS {c}" for c in IDENTITY)
                + ", any_value(tenor_type) AS tenor_type, any_value(tenor_start) AS tenor_start,"
                " any_value(value) AS value"
                f" FROM {TABLE} WHERE asof_date = ? AND {clause.sql()}"
                " GROUP BY curve_key, tenor_label"
            )
            pick = ", ".join(f"coalesce(b.{c}, a.{c}) AS {c}" for c in ("vendor", *IDENTITY))
            statement = f"""
                WITH a AS ({side}), b AS ({side}),
                joined AS (
                    SELECT coalesce(b.curve_key, a.curve_key) AS curve_key,
                           coalesce(b.tenor_label, a.tenor_label) AS tenor_label, {pick},
                           coalesce(b.tenor_type, a.tenor_type) AS tenor_type,
                           coalesce(b.tenor_start, a.tenor_start) AS tenor_start,
                           a.value AS value_from, b.value AS value_to,
                           b.value - a.value AS change,
                           CASE WHEN a.value <> 0
                                THEN (b.value - a.value) / abs(a.value) * 100 END AS change_pct,
                           CASE WHEN a.curve_key IS NULL THEN 'added'
                                WHEN b.curve_key IS NULL THEN 'removed'
                                WHEN a.value IS NOT DISTINCT FROM b.value THEN 'unchanged'
                                ELSE 'changed' END AS status
                    FROM a FULL OUTER JOIN b USING (curve_key, tenor_label)
                )
            """
            params = [first, *clause.params, second, *clause.params]
            rows = _arrow(
                cursor,
                statement + " SELECT * EXCLUDE (tenor_start) FROM joined"
                " ORDER BY vendor, curve_key, tenor_start, tenor_label LIMIT ? OFFSET ?",
                [*params, limit + 1, offset],
            )
            summary = cursor.execute(
                statement
                + """, curves AS (
                    SELECT curve_key, bool_and(status = 'added') AS added,
                           bool_and(status = 'removed') AS removed FROM joined GROUP BY curve_key)
                SELECT (SELECT list(curve_key ORDER BY curve_key) FROM curves WHERE added),
                       (SELECT list(curve_key ORDER BY curve_key) FROM curves WHERE removed),
                       (SELECT count(*) FILTER (WHERE status = 'changed') FROM joined),
                       (SELECT count(*) FROM joined)""",
                params,
            ).fetchall()[0]
        return _page(
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
    ) -> Page:
        """Calendar, quarter, season and custom strips derived from monthly rows.

        Power is hour-weighted by the market's block hours, gas day-weighted, anything else a
        simple mean (or the weighting asked for). ``months_expected`` counts the strip's months
        from the as-of month on (months already delivered are not on the curve, as in the
        vendors' own strips); ``complete`` is whether all of them are present.
        """
        started = time.perf_counter()
        if where.tenor_types and where.tenor_types != ("MONTHLY",):
            raise QueryError("filters_contradictory", "strips are derived from MONTHLY rows only")
        where = replace(where, tenor_types=("MONTHLY",))
        pinned = self.pin(as_at, snapshot_id)
        with self.source(pinned, where) as cursor:
            clause = self._where(cursor, where)
            clause.add("mid IS NOT NULL")
            curve_rule, strip_month, hours = self._strip_rules(cursor, clause, request)
            cursor.register("curve_rule", curve_rule)
            cursor.register("strip_month", strip_month)
            cursor.register("block_hours", hours)
            try:
                rows = _arrow(
                    cursor,
                    f"""
                    SELECT o.asof_date, o.vendor, o.curve_key,
                           {", ".join(f"any_value(o.{c}) AS {c}" for c in IDENTITY)},
                           s.kind, s.label, s.start_month, s.end_month, r.weighting,
                           sum(o.mid * w.weight) / sum(w.weight) AS value,
                           count(*) AS months_present,
                           greatest(0, datediff('month',
                               greatest(s.start_month, date_trunc('month', o.asof_date)),
                               s.end_month) + 1) AS months_expected
                    FROM (SELECT * FROM {TABLE} WHERE {clause.sql()}) o
                    JOIN curve_rule r ON r.curve_key = o.curve_key
                    JOIN strip_month s ON s.convention = r.convention
                                      AND s.month = o.contract_month
                    JOIN (
                        SELECT r2.curve_key, m.month,
                               CASE r2.weighting
                                   WHEN 'hours' THEN h.hours
                                   WHEN 'days' THEN day(last_day(m.month))
                                   ELSE 1 END AS weight
                        FROM curve_rule r2
                        CROSS JOIN (SELECT DISTINCT month FROM strip_month) m
                        LEFT JOIN block_hours h ON h.market = r2.market
                                                AND h.block = r2.block AND h.month = m.month
                    ) w ON w.curve_key = o.curve_key AND w.month = o.contract_month
                    GROUP BY ALL
                    ORDER BY o.vendor, o.curve_key, o.asof_date, s.start_month, s.kind, s.label
                    LIMIT ? OFFSET ?
                    """,
                    [*clause.params, limit + 1, offset],
                )
            finally:
                for name in ("curve_rule", "strip_month", "block_hours"):
                    cursor.unregister(name)
        complete = pa.compute.equal(rows["months_present"], rows["months_expected"])
        rows = rows.append_column("complete", complete)
        return _page(rows, pinned, limit, started)

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
        with self.source(pinned, where) as cursor:
            clause = _Where()
            _identity_clauses(clause, where)
            if search:
                haystack = " || '|' || ".join(
                    f"coalesce({c}, '')" for c in ("vendor", *IDENTITY, "curve_key")
                )
                for word in search.split()[:8]:
                    clause.add(f"({haystack}) ILIKE ? ESCAPE '\\'", f"%{_escape_like(word)}%")
            rows = _arrow(
                cursor,
                f"SELECT * FROM curve WHERE {clause.sql()}"
                " ORDER BY vendor, asset_class, region, location, product, block, curve_key"
                " LIMIT ? OFFSET ?",
                [*clause.params, limit + 1, offset],
            )
        return _page(rows, pinned, limit, started)

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
        with self.source(pinned, where) as c:
            clause = _Where()
            _identity_clauses(clause, where)
            rows = _arrow(
                c,
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
        with self.source(pinned, CurveFilter(access=access)) as cursor:
            clause = _Where()
            _scope(clause, access)
            rows = _arrow(
                cursor,
                "SELECT vendor, count(*) AS asof_count, min(asof_date) AS first_asof,"
                " max(asof_date) AS last_asof, sum(rows)::BIGINT AS rows"
                f" FROM replica_partition WHERE {clause.sql()} GROUP BY vendor ORDER BY vendor",
                clause.params,
            )
        return Page(rows, pinned, False, time.perf_counter() - started)

    def instruments(self) -> list[dict[str, Any]]:
        """Every curve of main's current snapshot as an ``instrument`` row of the store."""
        pinned = self.pin()
        with self.source(pinned, CurveFilter()) as cursor:
            rows = _arrow(
                cursor,
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

    # -- helpers ----------------------------------------------------------------------------

    def _served(
        self, snapshot_id: int, where: CurveFilter, columns: Sequence[str], offset: int
    ) -> Slice | None:
        """The served slice answering ``where`` whole, if the question has that shape."""
        if (
            self.replicas is None
            or offset
            or tuple(columns) != COLUMNS
            or set(where.fields) != {"vendor"}
            or len(where.curve_keys) != 1
            or where.tenor_types
            or where.month_from
            or where.month_to
            or not isinstance(where.asof, date)
        ):
            return None
        vendor = where.fields["vendor"].upper()
        if not where.access.may_read(vendor):
            return None
        return self.replicas.slice(snapshot_id, vendor, where.asof, where.curve_keys[0])

    def _where(self, cursor: Any, where: CurveFilter) -> _Where:
        clause = _Where()
        _identity_clauses(clause, where)
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
            newest = cursor.execute(
                "SELECT vendor, max(asof_date) FROM replica_partition"
                + (" WHERE vendor = ?" if where.vendor else "")
                + " GROUP BY vendor",
                [where.vendor] if where.vendor else [],
            ).fetchall()
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
    def _require_curves(cursor: Any, keys: Sequence[str], access: Access) -> None:
        """404 for keys no curve has (or none the caller may read: no existence leaks)."""
        scope = _Where()
        _scope(scope, access)
        scope.add(f"curve_key IN ({', '.join('?' * len(keys))})", *keys)
        known = {
            row[0]
            for row in cursor.execute(
                f"SELECT curve_key FROM curve WHERE {scope.sql()}", scope.params
            ).fetchall()
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
        cursor: Any, clause: _Where, request: StripRequest
    ) -> tuple[pa.Table, pa.Table, pa.Table]:
        """Per curve: weighting, market, block, season convention; the strips' months; hours."""
        curves = cursor.execute(
            f"SELECT curve_key, {', '.join(IDENTITY)}, min(contract_month), max(contract_month)"
            f" FROM {TABLE} WHERE {clause.sql()} GROUP BY ALL",
            clause.params,
        ).fetchall()
        if not curves:  # still run the query: an empty answer keeps its columns and types
            return (_CURVE_RULE.empty_table(), _STRIP_MONTH.empty_table(), _HOURS.empty_table())
        keys, weightings, markets, blocks, conventions = [], [], [], [], []
        first, last = min(c[-2] for c in curves), max(c[-1] for c in curves)
        for row in curves:
            identity = dict(zip(IDENTITY, row[1:-2], strict=True))
            weighting = (
                strips.weighting_for(identity) if request.weighting == "auto" else request.weighting
            )
            market = calendar.market_for(identity) if weighting == "hours" else None
            if weighting == "hours" and (market is None or not identity["block"]):
                weighting = "simple"  # hours unknown for this curve: say so on every number
            keys.append(row[0])
            weightings.append(weighting)
            markets.append(market.code if market else None)
            blocks.append(identity["block"])
            conventions.append(
                strips.season_convention(identity)
                if request.convention == "market"
                else request.convention
            )
        curve_rule = pa.table(
            {
                "curve_key": keys,
                "weighting": weightings,
                "market": markets,
                "block": blocks,
                "convention": conventions,
            },
            schema=_CURVE_RULE,
        )
        month_rows: dict[str, list[Any]] = {
            k: [] for k in ("convention", "kind", "label", "start_month", "end_month", "month")
        }
        for convention in sorted(set(conventions)):
            defined = strips.strips_between(first, last, request.kinds, convention)
            try:
                defined += [strips.custom_strip(a, b) for a, b in request.custom]
            except ValueError as exc:
                raise QueryError("parameter_invalid", str(exc)) from None
            for strip in defined:
                for month in strip.months:
                    month_rows["convention"].append(convention)
                    month_rows["kind"].append(str(strip.kind))
                    month_rows["label"].append(strip.label)
                    month_rows["start_month"].append(strip.start)
                    month_rows["end_month"].append(strip.end)
                    month_rows["month"].append(month)
        months = sorted(set(month_rows["month"]))
        hour_rows: dict[str, list[Any]] = {"market": [], "block": [], "month": [], "hours": []}
        for market, block in {(m, b) for m, b, w in zip(markets, blocks, weightings, strict=True)
                              if w == "hours"}:  # fmt: skip
            for month in months:
                hour_rows["market"].append(market)
                hour_rows["block"].append(block)
                hour_rows["month"].append(month)
                hour_rows["hours"].append(
                    calendar.block_hours(market, block, month.year, month.month)
                )
        return (
            curve_rule,
            pa.table(month_rows, schema=_STRIP_MONTH),
            pa.table(hour_rows, schema=_HOURS),
        )


_CURVE_RULE = pa.schema(
    [(name, pa.string()) for name in ("curve_key", "weighting", "market", "block", "convention")]
)
_STRIP_MONTH = pa.schema(
    [
        ("convention", pa.string()),
        ("kind", pa.string()),
        ("label", pa.string()),
        ("start_month", pa.date32()),
        ("end_month", pa.date32()),
        ("month", pa.date32()),
    ]
)
_HOURS = pa.schema(
    [("market", pa.string()), ("block", pa.string()), ("month", pa.date32()), ("hours", pa.int64())]
)


_EMPTY = pa.table({})


def _arrow(cursor: Any, statement: str, params: Sequence[Any] = ()) -> pa.Table:
    return cursor.sql(statement, params=list(params)).to_arrow_table()


def _identity_clauses(clause: _Where, where: CurveFilter) -> None:
    _scope(clause, where.access)
    for name, value in sorted(where.fields.items()):
        if name == "vendor":
            clause.add("vendor = ?", value.upper())
        else:
            clause.add(f"lower({name}) = ?", value.strip().casefold())
    if where.curve_keys:
        clause.add(f"curve_key IN ({', '.join('?' * len(where.curve_keys))})", *where.curve_keys)


def _scope(clause: _Where, access: Access) -> None:
    """What the access policy lets the caller see (``Access.vendor_sql``)."""
    condition = access.vendor_sql()
    if condition is not None:
        clause.add(condition[0], *condition[1])


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _page(rows: pa.Table, pinned: int, limit: int, started: float, **extra: Any) -> Page:
    return Page(
        table=rows.slice(0, limit),
        snapshot_id=pinned,
        has_more=rows.num_rows > limit,
        seconds=time.perf_counter() - started,
        extra=extra,
    )


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


def _iceberg_filter(where: CurveFilter, index: pa.Table) -> BooleanExpression:
    """The part of ``where`` a pyiceberg scan can prune files and row groups with."""
    conditions: list[BooleanExpression] = []
    if where.vendor:
        conditions.append(EqualTo("vendor", where.vendor.upper()))
    asof = where.asof
    if asof == "latest":  # each vendor's newest day; SQL then keeps each vendor's own
        newest: dict[str, date] = {}
        for vendor, day in zip(
            index["vendor"].to_pylist(), index["asof_date"].to_pylist(), strict=True
        ):
            newest[vendor] = max(day, newest.get(vendor, day))
        if newest:
            conditions.append(In("asof_date", {d.isoformat() for d in newest.values()}))
    elif isinstance(asof, tuple):
        conditions += [
            GreaterThanOrEqual("asof_date", asof[0].isoformat()),
            LessThanOrEqual("asof_date", asof[1].isoformat()),
        ]
    elif isinstance(asof, date):
        conditions.append(EqualTo("asof_date", asof.isoformat()))
    if where.curve_keys:
        conditions.append(In("curve_key", set(where.curve_keys)))
    return all_of(conditions)
