"""Prices in another currency, at the ECB's euro reference rate of each price's as-of.

The ECB publishes one rate per TARGET business day: units of a currency per 1 EUR
(``fx_rate``, loaded by ``aurum.feeds``). A price of as-of ``d`` converts at the last rate
published on or before ``d``: a weekend or a TARGET holiday (25 December, Good Friday) has
none, so the day before it is used and the answer says so (``fallback``). A rate older than
:data:`LOOKBACK_DAYS` is not used: a currency the ECB stopped publishing (CYP, 2007) or a day
past the last load is ``fx_rate_missing``, never a stale conversion.

Any pair crosses through the euro (USD per GBP = USD per EUR ÷ GBP per EUR, both of one ECB
day); pence and cents (``GBp``, ``GBX``, ``USc``) are hundredths of their currency
(:func:`aurum.domain.drivers.main_currency`), so they need no rate of their own.

Every conversion reads one snapshot of ``fx_rate`` (:meth:`FxRates.pin`), and states each rate
it used (:meth:`Conversion.statement`), so an answer can be checked against ``GET /v1/fx``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import EqualTo

from aurum.datasets.feeds import FX_RATE
from aurum.domain.drivers import main_currency
from aurum.errors import QueryError, Unknown
from aurum.lake.catalog import Lake
from aurum.lake.expressions import all_of
from aurum.query.datasets import NO_SNAPSHOT, Datasets

__all__ = [
    "LOOKBACK_DAYS", "PRICE_COLUMNS", "SOURCE", "Conversion", "FxRates", "Rate",
    "refuse_without_currency",
]  # fmt: skip

SOURCE = "ECB"
BASE = "EUR"
# The longest run of days without a rate is Good Friday to Easter Monday (4); a week covers
# any TARGET closure, and refuses a rate that stopped being published.
LOOKBACK_DAYS = 7
# What a curve row prices (multiplied by the factor); ``per_unit`` is left as it is.
PRICE_COLUMNS = ("value", "bid", "ask", "mid")


@dataclass(frozen=True)
class Rate:
    """How many ``to`` one ``source`` is on ``asof``: ``factor``, from the ECB rates of
    ``rate_date`` (``None``: no rate needed, the same currency or its pence/cents);
    ``ecb``: the rates per 1 EUR it was made of."""

    source: str
    to: str
    asof: date
    factor: float
    rate_date: date | None = None
    ecb: tuple[tuple[str, float], ...] = ()

    @property
    def fallback(self) -> bool:
        """Whether the ECB published nothing on the as-of itself (a weekend, a holiday)."""
        return self.rate_date is not None and self.rate_date != self.asof

    def stated(self) -> dict[str, Any]:
        """The rate as an answer states it."""
        return {
            "from": self.source,
            "asof": self.asof.isoformat(),
            "rate_date": self.rate_date.isoformat() if self.rate_date else None,
            "rate": self.factor,
            "fallback": self.fallback,
            "ecb_per_eur": dict(self.ecb),
        }


class FxRates:
    """The ECB rates of one lake's ``fx_rate``, each conversion pinned to one snapshot."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._datasets = Datasets(lake)
        # every rate of the newest snapshots read (the whole ECB history is ~220 k rows, a few
        # MB): a conversion filters them in memory instead of scanning Iceberg each time
        self._held: OrderedDict[int, pa.Table] = OrderedDict()
        self._lock = threading.Lock()

    def _rows(self, snapshot_id: int) -> pa.Table:
        with self._lock:
            found = self._held.get(snapshot_id)
            if found is not None:
                self._held.move_to_end(snapshot_id)
                return found
        table = self.lake.current(FX_RATE.name)
        condition = all_of([EqualTo("source", SOURCE), EqualTo("base", BASE)])
        rows = table.scan(row_filter=condition, snapshot_id=snapshot_id).to_arrow()
        rows = rows.select(["rate_date", "currency", "rate"]).combine_chunks()
        with self._lock:
            self._held[snapshot_id] = rows
            while len(self._held) > 2:
                self._held.popitem(last=False)
        return rows

    def pin(self) -> int:
        """Main's current snapshot of ``fx_rate`` (``0``: no rate was ever loaded)."""
        try:
            pinned = self._datasets.pin(FX_RATE.name)
        except Unknown as exc:
            if exc.code != "table_unknown":
                raise
            return NO_SNAPSHOT
        if pinned != NO_SNAPSHOT:
            snapshot = self.lake.current(FX_RATE.name).snapshot_by_id(pinned)
            summary = snapshot.summary if snapshot is not None else None
            if summary is not None and summary.get("total-records") == "0":
                return NO_SNAPSHOT  # the table was made, no rate loaded yet
        return pinned

    def conversion(self, to: str, snapshot_id: int | None = None) -> Conversion:
        """Conversions into ``to`` at ``snapshot_id`` (default: main's now). Whether the ECB
        publishes ``to`` is known when its rates are read (an answer with no price to convert
        checks it then)."""
        pinned = self.pin() if snapshot_id is None else snapshot_id
        return Conversion(self, _code(to), pinned)

    def rate(self, source: str, to: str, on: date, *, snapshot_id: int | None = None) -> Rate:
        """How many ``to`` one ``source`` is on ``on`` (see the module's docstring).

        ``fx_rate_missing`` (404) when no rate was published in the week up to ``on``;
        ``currency_unknown`` for a currency the ECB does not publish."""
        conversion = self.conversion(to, snapshot_id)
        return conversion.rates([(_code(source), on)])[0]

    def scan(
        self, snapshot_id: int, currencies: Iterable[str], first: date, last: date
    ) -> pa.Table:
        """``rate_date``, ``currency``, ``rate`` of the ECB for ``currencies`` from ``first`` to
        ``last`` (partitions of other years are never read)."""
        wanted = sorted(set(currencies))
        if snapshot_id == NO_SNAPSHOT or not wanted:
            return _EMPTY
        rows = self._rows(snapshot_id)
        days = rows["rate_date"]
        keep = pc.and_(
            pc.is_in(rows["currency"], value_set=pa.array(wanted, pa.string())),
            pc.and_(pc.greater_equal(days, pa.scalar(first, days.type)),
                    pc.less_equal(days, pa.scalar(last, days.type))),
        )  # fmt: skip
        return rows.filter(keep)

    def published(self, snapshot_id: int, currency: str) -> date | None:
        """The last day ``currency`` has a rate at ``snapshot_id`` (``None``: never)."""
        if snapshot_id == NO_SNAPSHOT:
            return None
        rows = self._rows(snapshot_id)
        days = rows.filter(pc.equal(rows["currency"], currency))["rate_date"]
        last = pc.max(days).as_py() if len(days) else None
        return last if isinstance(last, date) else None


_EMPTY = pa.table(
    {
        "rate_date": pa.array([], pa.date32()),
        "currency": pa.array([], pa.string()),
        "rate": pa.array([], pa.float64()),
    }
)


@dataclass(frozen=True)
class Conversion:
    """Prices into ``to`` at the rates of one snapshot of ``fx_rate``."""

    fx: FxRates
    to: str
    snapshot_id: int

    def require_known(self, currency: str) -> None:
        """``currency_unknown`` unless the euro, pence/cents of one, or a currency the ECB
        publishes (at this snapshot); with no rate loaded at all, ``fx_rate_missing``."""
        main, _ = main_currency(currency)
        if main == BASE:
            return
        if self.snapshot_id == NO_SNAPSHOT:
            raise _no_rates()
        if self.fx.published(self.snapshot_id, main) is None:
            raise QueryError(
                "currency_unknown",
                f"the ECB publishes no rate for {currency!r}: give an ISO 4217 code it"
                " publishes (USD, GBP, JPY …; GET /v1/fx lists them), EUR, or GBp/GBX/USc",
                currency=currency,
            )

    def rates(self, pairs: Iterable[tuple[str, date]]) -> list[Rate]:
        """The :class:`Rate` of each distinct (currency, as-of) of ``pairs``, in their order."""
        asked = list(dict.fromkeys(pairs))
        if not asked:
            self.require_known(self.to)
            return []
        mains = {main_currency(c)[0] for c, _ in asked} | {main_currency(self.to)[0]}
        foreign = mains - {BASE}
        days = [day for _, day in asked]
        first, last = min(days) - timedelta(days=LOOKBACK_DAYS), max(days)
        if foreign and self.snapshot_id == NO_SNAPSHOT:
            raise _no_rates()
        table = self.fx.scan(self.snapshot_id, foreign, first, last)
        published: dict[date, dict[str, float]] = {}
        for day, currency, rate in zip(
            table["rate_date"].to_pylist(), table["currency"].to_pylist(),
            table["rate"].to_pylist(), strict=True,
        ):  # fmt: skip
            published.setdefault(day, {})[currency] = rate
        return [self._rate(source, day, published) for source, day in asked]

    def _rate(self, source: str, asof: date, published: dict[date, dict[str, float]]) -> Rate:
        source_main, source_unit = main_currency(source)
        to_main, to_unit = main_currency(self.to)
        if source_main == to_main:
            return Rate(source, self.to, asof, source_unit / to_unit)
        legs = sorted({source_main, to_main} - {BASE})
        for back in range(LOOKBACK_DAYS + 1):
            day = asof - timedelta(days=back)
            rates = published.get(day, {})
            if all(leg in rates for leg in legs):
                per_eur = {BASE: 1.0, **{leg: rates[leg] for leg in legs}}
                # to per source = (to per EUR) / (source per EUR), then the subunits
                factor = per_eur[to_main] / per_eur[source_main]
                if source_unit != 1.0 or to_unit != 1.0:
                    factor = factor * source_unit / to_unit
                ecb = tuple((leg, rates[leg]) for leg in legs)
                return Rate(source, self.to, asof, factor, day, ecb)
        for leg in legs:
            self.require_known(leg)
        last = {leg: self.fx.published(self.snapshot_id, leg) for leg in legs}
        raise Unknown(
            "fx_rate_missing",
            f"no ECB rate for {'/'.join(legs)} in the {LOOKBACK_DAYS} days up to {asof}"
            f" (last published: {', '.join(f'{k} {v}' for k, v in last.items())}):"
            " load the ECB's rates of that day, or ask for another currency",
            asof=asof.isoformat(),
            currencies=legs,
            last_published={k: v.isoformat() if v else None for k, v in last.items()},
        )

    def factors(self, pairs: Iterable[tuple[str, date]]) -> tuple[pa.Table, list[Rate]]:
        """The rates of ``pairs`` as a table to join prices with (``currency``, ``asof_date``,
        ``factor``, ``target``), and as :class:`Rate` values."""
        found = self.rates(pairs)
        table = pa.table(
            {
                "currency": pa.array([r.source for r in found], pa.string()),
                "asof_date": pa.array([r.asof for r in found], pa.date32()),
                "factor": pa.array([r.factor for r in found], pa.float64()),
                "target": pa.array([self.to] * len(found), pa.string()),
            }
        )
        return table, found

    def convert(
        self, table: pa.Table, *, prices: Iterable[str] = PRICE_COLUMNS
    ) -> tuple[pa.Table, list[Rate]]:
        """``table``'s ``prices`` (those it has) times the rate of each row's ``currency`` and
        ``asof_date``, its ``currency`` the target; row order and every other column kept.
        Each price is one IEEE multiplication (``price * factor``), so a EUR price in USD is
        the price times the ECB number to the last digit."""
        sources = table["currency"].to_pylist()
        days = table["asof_date"].to_pylist()
        if any(source is None for source in sources):
            keys = table["curve_key"].to_pylist() if "curve_key" in table.column_names else []
            refuse_without_currency(k for k, c in zip(keys, sources, strict=True) if c is None)
        found = self.rates(zip(sources, days, strict=True))
        by_pair = {(r.source, r.asof): r.factor for r in found}
        factor = pa.array([by_pair[pair] for pair in zip(sources, days, strict=True)], pa.float64())
        for name in prices:
            if name in table.column_names:
                at = table.schema.get_field_index(name)
                table = table.set_column(at, name, pc.multiply(table[name], factor))
        at = table.schema.get_field_index("currency")
        target = pa.array([self.to] * table.num_rows, table.schema.field(at).type)
        return table.set_column(at, "currency", target), found

    def statement(self, used: Iterable[Rate]) -> dict[str, Any]:
        """What an answer says of its conversion: the target, the source and snapshot of the
        rates, and each rate used (by currency and as-of)."""
        ordered = sorted(used, key=lambda r: (r.asof, r.source))
        return {
            "to": self.to,
            "source": SOURCE,
            "snapshot_id": self.snapshot_id,
            "rates": [rate.stated() for rate in ordered],
        }


def refuse_without_currency(curve_keys: Iterable[str]) -> None:
    """``curve_currency_missing`` naming the curves whose rows have no currency (a price
    that cannot be converted refuses the whole answer, never a partly converted one)."""
    missing = sorted(set(curve_keys))
    if missing:
        raise QueryError(
            "curve_currency_missing",
            "curves without a currency cannot be converted: "
            + ", ".join(missing[:10])
            + (" …" if len(missing) > 10 else "")
            + " (filter them out, e.g. by vendor or currency, or ask without to_currency)",
            curve_keys=missing[:100],
        )


def _code(currency: str) -> str:
    """A currency as asked: ``usd`` is ``USD``; ``GBp``, ``GBX``, ``USc`` keep their case."""
    text = currency.strip()
    if len(text) == 3 and text.isascii() and text.isalpha() and text.islower():
        return text.upper()
    if not (len(text) == 3 and text.isascii() and text.isalpha()):
        raise QueryError(
            "currency_unknown", f"a currency is a 3-letter code (USD, GBP, GBp): {currency!r}"
        )
    return text


def _no_rates() -> Unknown:
    return Unknown(
        "fx_rate_missing",
        "no ECB reference rates are loaded (dataset fx_rate is empty): load them"
        " (`aurum feeds load` an ECB file) before asking for another currency",
    )
