"""The valuation engine, pure (numpy over the calendar; no I/O): a contract's delivery hours,
its volumes and strikes, hourly prices shaped from monthly block forwards, and the settlement of
one or many curves (paths) at once.

Shaping (:class:`Book`): each month's hours come from :func:`aurum.domain.shaping.month_hours`
(the market's time zone, holidays and DST). A block's hourly price is its monthly forward times
a factor, or plus an offset, normalised within the (month, block) — so **each block's monthly
average is its forward exactly**, flat (factor 1) unless shape factors are given.

Valuing (:meth:`Book.value`): for every path, hour by hour, the hub price, the node price (hub
plus basis), the volume (after economic curtailment), the reference price the contract settles
on (hub when virtual, node when physical) and the settlement ``(K − P_ref)·Q`` under the
negative-price clause and collar (:func:`aurum.domain.ppa.settlement`); then month sums. Paths
are valued in chunks so memory stays bounded (``chunk`` paths × hours at a time).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from aurum.domain import calendar, ppa, shaping
from aurum.errors import ValuationError
from aurum.ppa.terms import (
    Baseload,
    ContractTerms,
    EscalatingStrike,
    IndexedStrike,
    NegativePrices,
    PayAsProduced,
    ShapeIn,
    month_of,
)

__all__ = [
    "BlockChoice", "Book", "Monthly", "canonical", "choose_blocks", "derive_block", "term_months",
]  # fmt: skip

Array = npt.NDArray[np.float64]
# Disjoint block sets that cover every hour, finest first; the names resolve through the
# market's aliases (aurum.domain.markets.toml), and a set the market does not know is skipped.
PARTITIONS = (("ON_PEAK", "2X16", "7X8"), ("ON_PEAK", "OFF_PEAK"), ("PEAK", "OFF_PEAK"), ("BASE",))
WHOLE = "BASE"  # BASE / ATC / 7X24: every hour


def term_months(terms: ContractTerms) -> list[date]:
    first, last = month_of(terms.term.start), month_of(terms.term.end)
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return months


@dataclass(frozen=True)
class BlockChoice:
    """The disjoint blocks shaped (``blocks``), the one derived from the whole-day block when it
    is not quoted (``derived``), and the quoted overlapping blocks reported as residuals."""

    blocks: tuple[str, ...]
    derived: str | None
    residual_blocks: tuple[str, ...]


def choose_blocks(
    market: calendar.Market, quoted: Sequence[str], wanted: Sequence[str] | None = None
) -> BlockChoice:
    """Which disjoint blocks to shape from the blocks a hub quotes (canonical names): a set
    that is all quoted, else one whose single missing block follows from the whole-day block
    (EUGP quotes BASE and PEAK: OFF_PEAK is ``(BASE·h_base − PEAK·h_peak) / h_off``).
    ``wanted``: shape exactly these blocks (quoted, or the one missing derived)."""
    names = {canonical(market, q) for q in quoted} - {None}
    whole = canonical(market, WHOLE)
    candidates = []
    if wanted:
        members = tuple(canonical(market, w) for w in wanted)
        unknown = [w for w, m in zip(wanted, members, strict=True) if m is None]
        if unknown:
            raise ValuationError(
                "blocks_unknown", f"market {market.code} has no block {', '.join(unknown)}"
                f" (blocks: {', '.join(b.name for b in market.blocks)})",
            )  # fmt: skip
        candidates.append(tuple(str(m) for m in members))
    for partition in PARTITIONS if not wanted else ():
        members = tuple(canonical(market, p) for p in partition)
        if None in members or len(set(members)) != len(members):
            continue
        candidates.append(tuple(str(m) for m in members))
    candidates = list(dict.fromkeys(candidates))
    # a set of several blocks all quoted; else one whose single missing block follows from the
    # whole-day block; else the whole-day block alone (each finest first)
    for members in candidates:
        if len(members) > 1 and set(members) <= names:
            return BlockChoice(members, None, tuple(sorted(names - set(members))))
    for members in candidates:
        missing = [m for m in members if m not in names]
        if len(members) > 1 and len(missing) == 1 and whole in names:
            rest = tuple(sorted(names - set(members) - {whole}))
            return BlockChoice(members, missing[0], rest)
    for members in candidates:
        if set(members) <= names:
            return BlockChoice(members, None, tuple(sorted(names - set(members))))
    raise ValuationError(
        "blocks_incomplete",
        f"the hub quotes {', '.join(sorted(names)) or 'no block'} for {market.code}: that does"
        " not price every hour; it needs one of "
        + "; ".join("+".join(c) for c in candidates)
        + (f" (or all but one of them with {whole})" if whole else ""),
        quoted=sorted(names),
    )  # fmt: skip


def canonical(market: calendar.Market, name: str) -> str | None:
    """The market's own name of block ``name`` (an alias resolved), or ``None``."""
    try:
        return market.block(name).name
    except (KeyError, ValueError):
        return None


@dataclass(frozen=True)
class Monthly:
    """Month sums per path: arrays of shape (paths, months)."""

    energy: Array  # MWh produced (after curtailment)
    settled_energy: Array  # MWh in hours that settle
    settlement: Array  # Σ (K − P_ref)·Q, to the generator
    reference_volume: Array  # Σ P_ref·Q (for the capture price)
    hub_volume: Array  # Σ P_hub·Q
    basis_volume: Array  # Σ basis·Q
    hub_sum: Array  # Σ P_hub over every hour (for the baseload price)
    negative_hours: Array  # hours with a negative reference price


class Book:
    """A contract's delivery hours, volumes and strikes over its term (see the module
    docstring); ``months`` are the term's months valued, ``blocks`` the disjoint blocks."""

    def __init__(
        self,
        terms: ContractTerms,
        market: str,
        months: Sequence[date],
        blocks: Sequence[str],
        *,
        shape: ShapeIn | None = None,
    ) -> None:
        self.terms = terms
        self.market = market
        self.months = tuple(months)
        self.blocks = tuple(blocks)
        parts = [shaping.month_hours(market, m.year, m.month, self.blocks) for m in self.months]
        counts = np.array([len(p.hour_endings) for p in parts], dtype=np.int64)
        self.starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
        self.hours = int(counts.sum())
        self.month_of_hour = np.repeat(np.arange(len(parts), dtype=np.int32), counts)
        self.block_of_hour = np.concatenate([p.blocks for p in parts]).astype(np.int32)
        self.group = self.month_of_hour * len(self.blocks) + self.block_of_hour
        hour_endings = np.concatenate([p.hour_endings for p in parts]).astype(np.int64)
        year_hours = np.concatenate([p.year_hours for p in parts]).astype(np.int64)
        weekend = np.concatenate([p.weekend for p in parts])
        # contract year of each month (1 from the term's first month)
        start = month_of(terms.term.start)
        self.contract_year = np.array(
            [((m.year - start.year) * 12 + m.month - start.month) // 12 + 1 for m in self.months],
            dtype=np.int64,
        )
        self.calendar_month = np.array([m.month for m in self.months], dtype=np.int64)
        self.factor, self.offset = self._shape(shape, hour_endings, weekend)
        self.volume = self._volume(hour_endings, year_hours)
        self.group_hours = np.bincount(self.group, minlength=len(self.months) * len(self.blocks))
        self.group_volume = np.bincount(
            self.group, weights=self.volume, minlength=len(self.months) * len(self.blocks)
        )

    # -- construction -------------------------------------------------------------------------

    def _shape(
        self, shape: ShapeIn | None, hour_endings: npt.NDArray[np.int64],
        weekend: npt.NDArray[np.bool_],
    ) -> tuple[Array, Array]:  # fmt: skip
        ones, zeros = np.ones(self.hours), np.zeros(self.hours)
        if shape is None:
            return ones, zeros
        table = np.array([shape.weekday, shape.weekend], dtype=np.float64)
        raw = table[weekend.astype(np.int64), hour_endings - 1]
        size = len(self.months) * len(self.blocks)
        means = np.bincount(self.group, weights=raw, minlength=size) / np.maximum(
            np.bincount(self.group, minlength=size), 1
        )
        if shape.mode == "additive":
            return ones, raw - means[self.group]
        if (raw <= 0).any():
            raise ValuationError(
                "spec_invalid", "multiplicative shape factors must be positive", field="shape"
            )
        return raw / means[self.group], zeros

    def _volume(
        self, hour_endings: npt.NDArray[np.int64], year_hours: npt.NDArray[np.int64]
    ) -> Array:
        volume_spec = self.terms.volume
        month = self.month_of_hour
        if isinstance(volume_spec, Baseload):
            volume = np.full(self.hours, volume_spec.mw)
        elif isinstance(volume_spec, PayAsProduced):
            if volume_spec.month_hour is not None:
                profile = np.array(volume_spec.month_hour, dtype=np.float64)
                per_mw = profile[self.calendar_month[month] - 1, hour_endings - 1]
            else:
                per_mw = np.array(volume_spec.hourly, dtype=np.float64)[year_hours]
            years = self.contract_year[month] - 1
            kept = (1 - volume_spec.degradation_pct / 100) ** years
            volume = volume_spec.capacity_mw * per_mw * volume_spec.availability * kept
        else:
            volume = np.array(volume_spec.hourly, dtype=np.float64)[year_hours]
        cut = self.terms.curtailment
        return volume * (1 - cut.contractual_pct / 100) * (1 - cut.exogenous_pct / 100)

    def strikes(self) -> tuple[Array, list[str]]:
        """The strike of each month, and notes on months whose index value was carried."""
        strike = self.terms.strike
        notes: list[str] = []
        if isinstance(strike, EscalatingStrike):
            values = strike.price * (1 + strike.escalation_pct / 100) ** (self.contract_year - 1)
        elif isinstance(strike, IndexedStrike):
            index = sorted((month_of(k), v) for k, v in strike.index.items())
            values = np.empty(len(self.months))
            for i, month in enumerate(self.months):
                known = [v for m, v in index if m <= month]
                if not known:
                    raise ValuationError(
                        "strike_index_missing",
                        f"the strike index has no value for {month:%Y-%m} or before: give it"
                        " from the term's first month",
                        month=f"{month:%Y-%m}",
                    )  # fmt: skip
                if month > index[-1][0]:
                    notes.append(f"{month:%Y-%m}")
                values[i] = strike.price * known[-1] / strike.base
        else:
            values = np.full(len(self.months), strike.price)
        return values, notes

    # -- pricing ------------------------------------------------------------------------------

    def hub_prices(self, forwards: Array) -> Array:
        """Hourly hub prices, shape (paths, hours), from ``forwards`` (paths, months, blocks)."""
        flat = forwards.reshape(forwards.shape[0], -1)
        return flat[:, self.group] * self.factor + self.offset

    def value(
        self,
        forwards: Array,
        *,
        basis: Array | None = None,
        strike: Array,
        volume_factors: Array | None = None,
        chunk: int = 16,
        only: tuple[str, ...] | None = None,
    ) -> Monthly:
        """Month sums for every path of ``forwards`` (paths, months, blocks). ``basis``: node
        minus hub per month; ``strike`` per month; ``volume_factors`` (paths, contract years):
        each path's energy as a multiple of the expected; ``only``: the sums wanted (the
        others are zeros)."""
        terms = self.terms
        paths = forwards.shape[0]
        wanted = set(only or Monthly.__dataclass_fields__)
        sums = {name: np.zeros((paths, len(self.months))) for name in Monthly.__dataclass_fields__}
        basis_hour = basis[self.month_of_hour] if basis is not None else np.zeros(self.hours)
        strike_hour = strike[self.month_of_hour]
        clause = terms.negative_prices
        for first in range(0, paths, chunk):
            last = min(first + chunk, paths)
            hub = self.hub_prices(forwards[first:last])
            node = hub + basis_hour
            volume = np.broadcast_to(self.volume, hub.shape)
            if volume_factors is not None:
                years = self.contract_year[self.month_of_hour] - 1
                volume = volume * volume_factors[first:last][:, years]
            if terms.curtailment.economic_below is not None:
                volume = np.where(node < terms.curtailment.economic_below, 0.0, volume)
            reference = hub if terms.settlement == "virtual" else node
            settled = ppa.settlement(
                reference, volume, strike_hour, floor=terms.floor, cap=terms.cap,
                negative=clause.rule, suspend_after=clause.hours,
            )  # fmt: skip
            for name in wanted:
                hourly = _hourly(name, hub, reference, volume, settled, basis_hour, clause)
                sums[name][first:last] = np.add.reduceat(hourly, self.starts, axis=1)
        return Monthly(**sums)

    def value_paths(
        self,
        forwards: Array,
        *,
        basis: Array | None = None,
        strike: Array,
        volume_factors: Array | None = None,
        chunk: int = 16,
    ) -> tuple[Array, Array]:
        """Energy and settlement per (path, month) for many paths, as :meth:`value` computes
        them. A path whose every hour is sure to stay clear of the clauses (no negative
        reference price when a clause acts on one, inside the collar, above the economic
        curtailment price: checked on each (month, block)'s lowest and highest shape factor) is
        settled in closed form from its block forwards, exactly; only the others hour by hour."""
        paths = forwards.shape[0]
        months, blocks = len(self.months), len(self.blocks)
        basis_month = basis if basis is not None else np.zeros(months)
        low, high = self._extremes(forwards)
        terms = self.terms
        node_low = low + basis_month[None, :, None]
        reference_low = low if terms.settlement == "virtual" else node_low
        reference_high = high + (0 if terms.settlement == "virtual" else basis_month[None, :, None])
        clear = np.ones(paths, dtype=bool)
        bounds = []
        if terms.negative_prices.rule != "none":
            bounds.append(0.0)
        if terms.floor is not None:
            bounds.append(terms.floor)
        if bounds:
            clear &= (reference_low >= max(bounds)).all(axis=(1, 2))
        if terms.cap is not None:
            clear &= (reference_high <= terms.cap).all(axis=(1, 2))
        if terms.curtailment.economic_below is not None:
            clear &= (node_low >= terms.curtailment.economic_below).all(axis=(1, 2))
        weighted = np.bincount(
            self.group, weights=self.factor * self.volume, minlength=months * blocks
        ).reshape(months, blocks)
        offset = np.bincount(
            self.group, weights=self.offset * self.volume, minlength=months * blocks
        ).reshape(months, blocks).sum(axis=1)
        volume = self.block_volume().sum(axis=1)
        energy = np.broadcast_to(volume, (paths, months)).copy()
        owed = strike * volume - offset
        if terms.settlement == "physical":
            owed = owed - basis_month * volume
        settlement = owed[None, :] - np.einsum("pmb,mb->pm", forwards, weighted)
        if volume_factors is not None:
            scale = volume_factors[:, self.contract_year - 1]
            energy *= scale
            settlement *= scale
        rest = np.flatnonzero(~clear)
        if rest.size:
            sums = self.value(
                forwards[rest], basis=basis, strike=strike,
                volume_factors=None if volume_factors is None else volume_factors[rest],
                chunk=chunk, only=("energy", "settlement"),
            )  # fmt: skip
            energy[rest], settlement[rest] = sums.energy, sums.settlement
        return energy, settlement

    def _extremes(self, forwards: Array) -> tuple[Array, Array]:
        """The lowest and highest hourly hub price of each (path, month, block)."""
        size = len(self.months) * len(self.blocks)
        order = np.argsort(self.group, kind="stable")
        starts = np.searchsorted(self.group[order], np.arange(size))
        factor, offset = self.factor[order], self.offset[order]
        shape = (len(self.months), len(self.blocks))
        f_low = np.minimum.reduceat(factor, starts).reshape(shape)
        f_high = np.maximum.reduceat(factor, starts).reshape(shape)
        a_low = np.minimum.reduceat(offset, starts).reshape(shape)
        a_high = np.maximum.reduceat(offset, starts).reshape(shape)
        low = np.minimum(forwards * f_low, forwards * f_high) + a_low
        high = np.maximum(forwards * f_low, forwards * f_high) + a_high
        return low, high

    def hours_per_month(self) -> npt.NDArray[np.int64]:
        return np.diff(np.append(self.starts, self.hours))

    def block_volume(self) -> Array:
        """Expected MWh per (month, block) before economic curtailment."""
        return self.group_volume.reshape(len(self.months), len(self.blocks))

    def block_hours(self) -> npt.NDArray[np.int64]:
        return self.group_hours.reshape(len(self.months), len(self.blocks))


def _hourly(
    name: str, hub: Array, reference: Array, volume: Array, settled: Array, basis: Array,
    clause: NegativePrices,
) -> Array:  # fmt: skip
    """One of :class:`Monthly`'s quantities, hour by hour."""
    if name == "energy":
        return volume
    if name == "settled_energy":
        kept = ppa.settles(reference, negative=clause.rule, suspend_after=clause.hours)
        return np.where(kept, volume, 0.0)
    if name == "settlement":
        return settled
    if name == "reference_volume":
        return reference * volume
    if name == "hub_volume":
        return hub * volume
    if name == "basis_volume":
        return basis * volume
    if name == "hub_sum":
        return hub
    return (reference < 0).astype(np.float64)  # negative_hours


def derive_block(
    market: str, months: Sequence[date], choice: BlockChoice, quoted: Mapping[str, Array]
) -> Array:
    """The missing block of ``choice`` per month: ``(W·h_W − Σ F_b·h_b) / h_missing``."""
    assert choice.derived is not None
    whole = canonical(calendar.markets()[market], WHOLE)
    assert whole is not None
    total = np.array([calendar.block_hours(market, whole, m.year, m.month) for m in months])
    known = quoted[whole] * total
    for block in choice.blocks:
        if block != choice.derived:
            hours = np.array([calendar.block_hours(market, block, m.year, m.month) for m in months])
            known = known - quoted[block] * hours
    missing = np.array(
        [calendar.block_hours(market, choice.derived, m.year, m.month) for m in months]
    )
    return known / missing
