"""Reads of the public feeds: ISO prices (by interval or averaged by hour, day or month, in a
delivery block), series observations (at a vintage), FX rates, and realised prices beside the
forward curve.

Each read is pinned to one snapshot of its dataset and bounded by the session's deadline, like
every read (``aurum.query.engine``). Averages are **time-weighted**: an interval counts for its
length, so a month of 5-minute real-time prices and one of hourly day-ahead prices average
alike, and ``hours`` says how much of the period the prices cover (a gap in the source shows
as fewer hours, never as an invented price).

Blocks are the power calendar's (``aurum.domain.calendar``: the market's on-peak hours,
weekends and NERC holidays, in its own time zone); an interval is in a block when the hour
holding its start is.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import EqualTo, GreaterThanOrEqual, In, LessThanOrEqual

from aurum.datasets.feeds import FX_RATE, ISO_LMP, ISO_NODE, SERIES_OBSERVATION
from aurum.domain.calendar import in_block
from aurum.errors import QueryError, Unknown
from aurum.lake.catalog import Lake
from aurum.lake.expressions import all_of
from aurum.query.curves import Curves
from aurum.query.datasets import Datasets
from aurum.query.engine import AsAt, Session, connect
from aurum.query.filters import CurveFilter
from aurum.query.lmp_replica import Indexed, LmpReplicas
from aurum.query.page import Page, page_of
from aurum.query.served import ServedSlice

__all__ = ["AGGREGATES", "FeedReads", "Mapping", "mappings"]

Aggregate = Literal["interval", "hourly", "daily", "monthly"]
AGGREGATES: tuple[str, ...] = ("interval", "hourly", "daily", "monthly")
MAX_DAYS = 366 * 2  # one read spans at most two years of intervals
_PRICES = ("lmp", "energy", "congestion", "loss")
_INTERVAL_COLUMNS = (
    "iso", "node", "node_type", "market_run", "operating_day", "interval_start_utc",
    "interval_end_utc", "hour_label", "lmp", "energy", "congestion", "loss", "ghg", "derived",
    "units",
)  # fmt: skip


@dataclass(frozen=True)
class Mapping:
    """A node whose settled prices are compared with a forward curve (``realised.toml``)."""

    iso: str
    node: str
    market_run: str
    curve: dict[str, str]  # identity fields of the curve (vendor, iso, location, ...)
    blocks: dict[str, str]  # the curve's block -> the calendar's block


@cache
def mappings() -> tuple[Mapping, ...]:
    """The node → curve mapping file, read once (``aurum/query/realised.toml``)."""
    text = resources.files("aurum.query").joinpath("realised.toml").read_text()
    data = tomllib.loads(text)
    return tuple(
        Mapping(m["iso"], m["node"], m.get("market_run", "DA"), dict(m["curve"]),
                dict(m["blocks"]))
        for m in data.get("mapping", [])
    )  # fmt: skip


class FeedReads:
    """Reads of the feeds' datasets of one lake (``curves``: for realised vs forward)."""

    def __init__(
        self, lake: Lake, curves: Curves, *, timeout_s: float = 30.0,
        replica_rows: int = 5_000_000, freshness_s: float = 0.0,
    ) -> None:  # fmt: skip
        self.lake = lake
        self.curves = curves
        self.timeout_s = timeout_s
        self._datasets = Datasets(lake, timeout_s=timeout_s)
        self.freshness_s = freshness_s
        self._seen: dict[str, tuple[float, int]] = {}
        self._replicas = LmpReplicas(max_rows=replica_rows)

    def pin(self, dataset: str, as_at: AsAt = None, snapshot_id: int | None = None) -> int:
        """The snapshot an answer reads; main's as seen within the last ``freshness_s``
        seconds (like the curves' reads: a load is visible that much later, at most)."""
        if as_at is not None or snapshot_id is not None or self.freshness_s <= 0:
            return self._datasets.pin(dataset, as_at, snapshot_id)
        now = time.monotonic()
        seen = self._seen.get(dataset)
        if seen is None or now - seen[0] >= self.freshness_s:
            seen = self._seen[dataset] = (now, self._datasets.pin(dataset))
        return seen[1]

    # -- ISO prices -------------------------------------------------------------------------------

    def lmp(
        self, *, snapshot_id: int, iso: str, nodes: Sequence[str] = (), market_run: str = "DA",
        first: date, last: date, aggregate: Aggregate = "hourly", block: str | None = None,
        limit: int = 1000, offset: int = 0, served: bool = False,
    ) -> Page | ServedSlice:  # fmt: skip
        """Prices of ``iso``'s ``nodes`` (all when empty) on operating days ``first``…``last``,
        per interval or time-weighted by hour, day or month, in ``block`` if given.

        ``served``: a JSON answer may come from the replica's JSON of each node's days (a
        :class:`ServedSlice`, the same bytes), for intervals without a block, from the start,
        when every row fits in ``limit``."""
        started = time.perf_counter()
        iso, market_run = iso.upper(), market_run.upper()
        _check_range(first, last)
        if aggregate not in AGGREGATES:
            raise QueryError("aggregate_invalid", f"aggregate is one of {', '.join(AGGREGATES)}")
        extra: dict[str, Any] = {"iso": iso, "market_run": market_run, "aggregate": aggregate}
        if served and aggregate == "interval" and block is None and offset == 0:
            replica = self._replica(snapshot_id)
            if replica is not None:
                body, count = replica.json(iso, market_run, nodes, first, last,
                                           _INTERVAL_COLUMNS)  # fmt: skip
                if count <= limit:
                    return ServedSlice(snapshot_id, count, body, time.perf_counter() - started,
                                       extra=extra)  # fmt: skip
        rows = self._lmp_rows(snapshot_id, iso, nodes, market_run, first, last)
        if block is not None:
            block_name, inside = _in_block(iso, block, rows["interval_start_utc"])
            rows = rows.filter(inside)
            extra["block"] = block_name
        return self._aggregate(rows, aggregate, limit, offset, started, snapshot_id, extra)

    def nodes(self, *, snapshot_id: int, iso: str | None = None) -> pa.Table:
        condition = EqualTo("iso", iso.upper()) if iso else None
        rows = self._scan(ISO_NODE.name, snapshot_id, condition)
        return rows.sort_by([("iso", "ascending"), ("node", "ascending")])

    def _lmp_rows(
        self, snapshot_id: int, iso: str, nodes: Sequence[str], market_run: str, first: date,
        last: date,
    ) -> pa.Table:  # fmt: skip
        conditions = [
            EqualTo("iso", iso), EqualTo("market_run", market_run),
            GreaterThanOrEqual("operating_day", first.isoformat()),
            LessThanOrEqual("operating_day", last.isoformat()),
        ]  # fmt: skip
        replica = self._replica(snapshot_id)
        if replica is not None:
            return replica.rows(iso, market_run, nodes, first, last)
        if nodes:
            conditions.append(In("node", set(nodes)))
        return self._scan(ISO_LMP.name, snapshot_id, all_of(conditions))

    def _replica(self, snapshot_id: int) -> Indexed | None:
        return self._replicas.get(
            snapshot_id, lambda: self._records(ISO_LMP.name, snapshot_id),
            lambda: self._scan(ISO_LMP.name, snapshot_id, None),
        )  # fmt: skip

    def _records(self, name: str, snapshot_id: int) -> int:
        """Rows in ``name`` at ``snapshot_id``, from its summary (no scan)."""
        snapshot = self.lake.current(name).snapshot_by_id(snapshot_id)
        summary = snapshot.summary if snapshot is not None else None
        return int(summary.get("total-records", 0)) if summary is not None else 0

    def _aggregate(
        self, rows: pa.Table, aggregate: str, limit: int, offset: int, started: float,
        snapshot_id: int, extra: dict[str, Any],
    ) -> Page:  # fmt: skip
        """Per interval, or time-weighted means per (node, period), in node and period order
        (in memory: a month of a node is a few thousand rows)."""
        if aggregate == "interval":
            answer = rows.select(list(_INTERVAL_COLUMNS)).sort_by(
                [("node", "ascending"), ("interval_start_utc", "ascending")])  # fmt: skip
            return page_of(answer.slice(offset, limit + 1), snapshot_id, limit, started, **extra)
        seconds = pc.cast(_seconds(rows), pa.float64())
        if aggregate == "hourly":
            period = ["interval_start_utc"]
            keyed = rows.set_column(
                rows.schema.get_field_index("interval_start_utc"), "interval_start_utc",
                pc.floor_temporal(rows["interval_start_utc"], unit="hour"),
            )  # fmt: skip
        elif aggregate == "daily":
            period, keyed = ["operating_day"], rows
        else:
            period = ["month"]
            keyed = rows.append_column("month", pc.strftime(rows["operating_day"], format="%Y-%m"))
        columns = {
            "iso": keyed["iso"],
            "node": keyed["node"],
            "market_run": keyed["market_run"],
            **{c: keyed[c] for c in period},
            "secs": seconds,
            "units": keyed["units"],
        }
        for price in _PRICES:
            columns[f"{price}_w"] = pc.multiply(keyed[price], seconds)
            columns[f"{price}_s"] = pc.if_else(pc.is_null(keyed[price]), 0.0, seconds)
        groups = pa.table(columns).group_by(["iso", "node", "market_run", *period]).aggregate(
            [("secs", "sum"), ("secs", "count"), ("units", "min"),
             *((f"{p}_{x}", "sum") for p in _PRICES for x in ("w", "s"))],
        )  # fmt: skip
        out = {name: groups[name] for name in ("iso", "node", "market_run", *period)}
        if aggregate == "hourly":
            out["interval_end_utc"] = pc.add(groups["interval_start_utc"],
                                             pa.scalar(3600, pa.duration("s")))  # fmt: skip
        for price in _PRICES:
            weight = groups[f"{price}_s_sum"]
            out[price] = pc.if_else(pc.equal(weight, 0.0), None,
                                    pc.divide(groups[f"{price}_w_sum"], weight))  # fmt: skip
        out["hours"] = pc.divide(groups["secs_sum"], 3600.0)
        out["intervals"] = groups["secs_count"]
        out["units"] = groups["units_min"]
        answer = pa.table(out).sort_by([("node", "ascending"), (period[0], "ascending")])
        return page_of(answer.slice(offset, limit + 1), snapshot_id, limit, started, **extra)

    # -- series and rates -------------------------------------------------------------------------

    def series(
        self, *, snapshot_id: int, source: str, series_id: str, first: date | None = None,
        last: date | None = None, vintage: date | None = None, limit: int = 1000,
        offset: int = 0,
    ) -> Page:  # fmt: skip
        """A series' observations; for a vintaged series (FRED), the values published on
        ``vintage`` (default: the newest vintage of each period)."""
        started = time.perf_counter()
        conditions = [EqualTo("source", source.upper()), EqualTo("series_id", series_id)]
        if first:
            conditions.append(GreaterThanOrEqual("period", first.isoformat()))
        if last:
            conditions.append(LessThanOrEqual("period", last.isoformat()))
        rows = self._scan(SERIES_OBSERVATION.name, snapshot_id, all_of(conditions))
        if not rows.num_rows and offset == 0 and not (first or last):
            raise Unknown("series_unknown", f"no series {source}/{series_id} is loaded")
        connection = connect()
        try:
            session = Session(connection, timeout_s=self.timeout_s)
            session.register("obs", rows)
            chosen = (
                "WHERE realtime_start IS NULL OR (realtime_start <= ? AND realtime_end >= ?)"
                if vintage else
                "QUALIFY row_number() OVER (PARTITION BY period, interval_start_utc"
                " ORDER BY realtime_start DESC NULLS LAST) = 1"
            )  # fmt: skip
            answer = session.arrow(
                "SELECT source, series_id, period, interval_start_utc, interval_end_utc, value,"
                f" units, realtime_start, realtime_end FROM obs {chosen}"
                " ORDER BY period, interval_start_utc LIMIT ? OFFSET ?",
                [*((vintage, vintage) if vintage else ()), limit + 1, offset],
            )  # fmt: skip
        finally:
            connection.close()
        extra = {"vintage": vintage.isoformat()} if vintage else {}
        return page_of(answer, snapshot_id, limit, started, **extra)

    def fx(
        self, *, snapshot_id: int, currencies: Sequence[str] = (), first: date | None = None,
        last: date | None = None, limit: int = 1000, offset: int = 0,
    ) -> Page:  # fmt: skip
        """Reference rates (units of currency per 1 EUR), by day and currency."""
        started = time.perf_counter()
        conditions: list[Any] = []
        if currencies:
            conditions.append(In("currency", {c.upper() for c in currencies}))
        if first:
            conditions.append(GreaterThanOrEqual("rate_date", first.isoformat()))
        if last:
            conditions.append(LessThanOrEqual("rate_date", last.isoformat()))
        rows = self._scan(FX_RATE.name, snapshot_id, all_of(conditions))
        rows = rows.select(["rate_date", "base", "currency", "rate", "source"]).sort_by(
            [("rate_date", "ascending"), ("currency", "ascending")])  # fmt: skip
        return page_of(rows.slice(offset, limit + 1), snapshot_id, limit, started)

    # -- realised vs forward ----------------------------------------------------------------------

    def realised(
        self, *, snapshot_id: int, iso: str, node: str, month: date, asof: date | None,
        access: Any, curves_as_at: AsAt = None,
    ) -> Page:  # fmt: skip
        """A node's settled average of ``month`` in each mapped block beside the forward's value
        for that month as of ``asof`` (default: the last as-of before the month starts)."""
        started = time.perf_counter()
        found = [m for m in mappings() if m.iso == iso.upper() and m.node == node]
        if not found:
            known = ", ".join(f"{m.iso}/{m.node}" for m in mappings())
            raise Unknown("node_not_mapped", f"{iso}/{node} has no forward curve mapped ({known})")
        mapping = found[0]
        first = month.replace(day=1)
        last = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        rows = self._lmp_rows(snapshot_id, mapping.iso, [mapping.node], mapping.market_run,
                              first, date.fromordinal(last.toordinal() - 1))  # fmt: skip
        out = []
        for curve_block, calendar_block in mapping.blocks.items():
            name, inside = _in_block(mapping.iso, calendar_block, rows["interval_start_utc"])
            settled = rows.filter(inside)
            secs = _seconds(settled)
            hours = pc.sum(secs).as_py() or 0
            average = pc.sum(pc.multiply(settled["lmp"], secs)).as_py() / hours if hours else None
            forward, forward_asof, curve_key = self._forward(
                mapping, curve_block, first, asof, access, curves_as_at
            )
            out.append({
                "iso": mapping.iso, "node": mapping.node, "market_run": mapping.market_run,
                "month": f"{first:%Y-%m}", "block": curve_block, "calendar_block": name,
                "realised": average, "realised_hours": hours / 3600,
                "forward": forward, "forward_asof": forward_asof, "curve_key": curve_key,
                "difference": None if average is None or forward is None else average - forward,
                "units": "USD/MWh",
            })  # fmt: skip
        return page_of(pa.Table.from_pylist(out), snapshot_id, len(out), started,
                       mapping={"curve": mapping.curve, "blocks": mapping.blocks})  # fmt: skip

    def realised_monthly(
        self, *, snapshot_id: int, curve_key: str, first: date, last: date, access: Any,
    ) -> Page:  # fmt: skip
        """The settled monthly averages, in the curve's block, of the node ``curve_key`` is
        mapped to (``realised.toml``), for the months ``first``..``last``: what the curve
        explorer draws beside a forward curve. No rows when the curve has no mapped node."""
        started = time.perf_counter()
        found = self.curves.curves(CurveFilter(curve_keys=(curve_key,), access=access), limit=1)
        if not found.table.num_rows:
            raise Unknown("curve_unknown", f"no curve {curve_key!r}")
        identity = found.table.slice(0, 1).to_pylist()[0]
        match = _mapped(identity)
        if match is None:
            empty = pa.table({"month": pa.array([], pa.string())})
            return page_of(empty, snapshot_id, 1, started, mapped=False)
        mapping, block = match
        end = date(last.year + last.month // 12, last.month % 12 + 1, 1)
        rows = self._lmp_rows(
            snapshot_id,
            mapping.iso,
            [mapping.node],
            mapping.market_run,
            first.replace(day=1),
            date.fromordinal(end.toordinal() - 1),
        )
        name, inside = _in_block(mapping.iso, block, rows["interval_start_utc"])
        extra = {"mapped": True, "iso": mapping.iso, "node": mapping.node,
                 "market_run": mapping.market_run, "block": name}  # fmt: skip
        return self._aggregate(rows.filter(inside), "monthly", 1000, 0, started, snapshot_id,
                               extra)  # fmt: skip

    def _forward(
        self, mapping: Mapping, block: str, month: date, asof: date | None, access: Any,
        as_at: AsAt,
    ) -> tuple[float | None, str | None, str | None]:  # fmt: skip
        """The forward's monthly value for ``month`` as of ``asof`` (or the newest as-of before
        the month), with the as-of and curve used."""
        where = CurveFilter(
            fields={**mapping.curve, "block": block}, month_from=month, month_to=month,
            tenor_types=("MONTHLY",), asof=asof, access=access,
        )  # fmt: skip
        if asof is None:
            before = date.fromordinal(month.toordinal() - 1)
            window = CurveFilter(
                fields=where.fields, month_from=month, month_to=month, tenor_types=("MONTHLY",),
                asof=(date(month.year - 2, 1, 1), before), access=access,
            )  # fmt: skip
            rows = self.curves.curves(window, as_at=as_at, limit=10_000).table
        else:
            rows = self.curves.curves(where, as_at=as_at, limit=10).table
        if not rows.num_rows:
            return None, None, None
        newest = rows.sort_by([("asof_date", "descending")]).slice(0, 1).to_pylist()[0]
        return newest["value"], newest["asof_date"].isoformat(), newest["curve_key"]

    # -- shared -----------------------------------------------------------------------------------

    def _scan(self, name: str, snapshot_id: int, condition: Any) -> pa.Table:
        dataset = self.lake.dataset(name)
        if snapshot_id == 0:
            return dataset.schema.empty_table()
        table = self.lake.current(name)
        from pyiceberg.expressions import AlwaysTrue

        return table.scan(row_filter=condition or AlwaysTrue(), snapshot_id=snapshot_id).to_arrow()


@lru_cache(maxsize=200_000)
def _hour_in_block(iso: str, block: str, epoch_s: int) -> bool:
    """Whether the UTC hour starting at ``epoch_s`` is in ``block`` (remembered: a month asked
    again costs a dictionary lookup per hour, not the calendar's arithmetic)."""
    return in_block(iso, block, datetime.fromtimestamp(epoch_s, UTC))


def _mapped(identity: dict[str, Any]) -> tuple[Mapping, str] | None:
    """The mapping whose curve fields ``identity`` has (without case) and the calendar block of
    its block, if any."""

    def same(a: Any, b: Any) -> bool:
        return str(a or "").casefold() == str(b or "").casefold()

    for mapping in mappings():
        if all(same(identity.get(k), v) for k, v in mapping.curve.items()):
            for curve_block, calendar_block in mapping.blocks.items():
                if same(identity.get("block"), curve_block):
                    return mapping, calendar_block
    return None


def _seconds(rows: pa.Table) -> pa.Array:
    """Each interval's length in seconds (whatever the timestamps' unit: the lake keeps
    microseconds)."""
    second = pa.timestamp("s", tz="UTC")
    return pc.subtract(
        pc.cast(pc.cast(rows["interval_end_utc"], second), pa.int64()),
        pc.cast(pc.cast(rows["interval_start_utc"], second), pa.int64()),
    )


def _check_range(first: date, last: date) -> None:
    if first > last:
        raise QueryError("filters_contradictory", f"start {first} is after end {last}")
    if (last - first).days > MAX_DAYS:
        raise QueryError(
            "range_too_long",
            f"{(last - first).days + 1} days asked: a read spans at most {MAX_DAYS} days; "
            "ask for monthly averages over shorter ranges, or page by range",
        )


def _in_block(iso: str, block: str, starts: pa.ChunkedArray) -> tuple[str, pa.Array]:
    """Whether each interval start is in ``block`` of ``iso``'s market (computed once per
    distinct hour)."""
    try:
        in_block(iso, block, datetime(2000, 1, 1, tzinfo=UTC))
    except (KeyError, ValueError) as exc:
        code = "market_unknown" if "unknown market" in str(exc) else "block_unknown"
        raise QueryError(code, f"no block {block!r} for {iso}: {exc}") from None
    hours = pc.floor_temporal(starts, unit="hour")
    distinct = pc.unique(hours)
    seconds = pc.cast(pc.cast(distinct, pa.timestamp("s", tz="UTC")), pa.int64()).to_pylist()
    inside = pa.array([_hour_in_block(iso, block, s) for s in seconds], pa.bool_())
    return block.upper(), pc.take(inside, pc.index_in(hours, value_set=pa.array(
        distinct, hours.type)))  # fmt: skip
