"""Quality checks as pure functions: one outcome type for row rules and day-over-day gates.

A :class:`CheckOutcome` is one rule's result on one run, passing or not (the quality history keeps
every one). The day-over-day gates compare a staged publication with the previous one of the
same series: a curve disappeared, a new curve, a stale curve (every price equal to the day
before), and jumps (:func:`jump_scores`). Their sample keys name curves for a person
(:func:`curve_names`), a jump with its tenor: ``German power BASE @ Calendar 2026``.

The gates take plain sequences and numpy arrays: the caller pairs the two days' rows (an Arrow
join in ``aurum.ingest``) and hands over, for each tenor on both days, its curve, tenor, change,
previous price, curve family and tenor bucket.

>>> import numpy as np
>>> text = lambda *values: np.array(values, dtype=object)
>>> pairs = Pairs(keys=text("a", "a", "b"), labels=text("1", "2", "1"),
...               change=np.array([0.0, 0.0, 2.0]), previous=np.array([10.0, 11.0, 5.0]),
...               families=text("gas", "gas", "gas"), buckets=text("front", "later", "front"),
...               pools=text("gas", "gas", "gas"))
>>> outcomes = day_over_day({"a", "b", "c"}, {"a", "b", "d"}, pairs, GateSeverity(), jump_z=7,
...                         names={"a": "TTF gas", "c": "NBP gas", "d": "PEG gas"})
>>> [(o.rule, o.failed, o.sample_keys) for o in outcomes]  # doctest: +NORMALIZE_WHITESPACE
[('curve_disappeared', 1, ('NBP gas',)), ('new_curve', 1, ('PEG gas',)),
 ('stale_curve', 1, ('TTF gas',)), ('jump', 0, ())]
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "BUCKETS", "CheckOutcome", "GateSeverity", "JumpScores", "Pairs", "Severity",
    "business_days_between", "curve_name", "curve_names", "day_over_day", "jump_scores",
    "tenor_bucket",
]  # fmt: skip

Severity = Literal["quarantine", "warn", "fail"]
BUCKETS: tuple[str, ...] = ("front", "months 2-12", "later")
"""Tenor buckets, nearest delivery first: a curve's front moves more than its back."""

_MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma per median absolute deviation
_SAMPLES = 5
# A change within a basis point of the price is a re-quote or float residue, not a move.
_NOISE = 1e-4
# A median and MAD need this many moves to mean anything (one outlier among four moves the MAD).
_MIN_MOVED = 5


@dataclass(frozen=True)
class CheckOutcome:
    """One rule's or gate's result: how many rows (or curves) failed out of how many checked,
    and up to five of the failing keys (gates: readable curve names, worst jumps first)."""

    rule: str
    severity: str
    failed: int
    checked: int
    sample_keys: tuple[str, ...] = ()

    @property
    def blocks(self) -> bool:
        """A failed ``fail`` gate: the publish stops."""
        return self.severity == "fail" and self.failed > 0


@dataclass(frozen=True)
class GateSeverity:
    """``warn`` reports, ``fail`` blocks the publish; one per gate."""

    curve_disappeared: str = "warn"
    new_curve: str = "warn"
    stale_curve: str = "warn"
    jump: str = "warn"


@dataclass(frozen=True)
class Pairs:
    """The tenors present on both days, one element each.

    ``keys``/``labels``: curve key and tenor label; ``change``: new - old price; ``previous``:
    the old price; ``families``: the curve family
    (:func:`aurum.domain.identity.curve_family`); ``buckets``: the :func:`tenor_bucket`;
    ``pools``: the peers of last resort, the asset class's curves in the same units
    (``curve_family(asset_class, None, currency, per_unit)``); ``business_days``: between the
    two as-of dates (:func:`business_days_between`).
    """

    keys: npt.NDArray[np.object_]
    labels: npt.NDArray[np.object_]
    change: npt.NDArray[np.float64]
    previous: npt.NDArray[np.float64]
    families: npt.NDArray[np.object_]
    buckets: npt.NDArray[np.object_]
    pools: npt.NDArray[np.object_]
    business_days: int = 1


@dataclass(frozen=True)
class JumpScores:
    """Per pair: ``z``, the change's distance from its peers' median in typical daily moves
    (NaN: not judged), and ``typical``, that typical daily move (price per business day; 0
    when nothing it is judged with moved, NaN when not judged)."""

    z: npt.NDArray[np.float64]
    typical: npt.NDArray[np.float64]


def tenor_bucket(asof: date, start: date | None, *, monthly: bool) -> str:
    """The tenor's bucket (:data:`BUCKETS`) by its first delivery month against the as-of month.

    ``front`` is the monthly contract delivering in the as-of month (or earlier); ``months 2-12``
    the next eleven; ``later`` the rest. A strip (quarter, season, calendar, balance) goes by
    its first month but is never ``front``: it averages several months, and moves like them,
    not like the single front contract. A tenor without a start (a custom label) is ``later``.

    >>> asof = date(2025, 9, 17)
    >>> [tenor_bucket(asof, date(y, m, 1), monthly=True) for y, m in ((2025, 9), (2026, 8),
    ...                                                               (2026, 9))]
    ['front', 'months 2-12', 'later']
    >>> tenor_bucket(asof, date(2025, 1, 1), monthly=False), tenor_bucket(asof, None, monthly=True)
    ('months 2-12', 'later')
    """
    if start is None:
        return BUCKETS[2]
    ahead = (start.year - asof.year) * 12 + start.month - asof.month
    if monthly and ahead <= 0:
        return BUCKETS[0]
    return BUCKETS[1] if ahead <= 11 else BUCKETS[2]


def business_days_between(first: date, second: date) -> int:
    """Weekdays from ``first`` (excluded) to ``second`` (included), at least 1: the vendors'
    holiday calendars are unknown, and two publications are at least a day apart.

    >>> business_days_between(date(2025, 9, 12), date(2025, 9, 17))  # Fri -> Wed
    3
    >>> business_days_between(date(2025, 9, 16), date(2025, 9, 17))
    1
    """
    day = timedelta(days=1)
    return max(1, int(np.busday_count(first + day, second + day)))


def jump_scores(pairs: Pairs) -> JumpScores:
    """How unusual each tenor's change is among its peers': a robust z-score.

    Why each part:

    * **Peers**: the tenors of the same curve family (asset class, product, units) in the same
      tenor bucket: German and French base power move alike, gas in GBp/therm does not, and a
      curve's front month moves more than its back.
    * **Per business day**: changes are divided by the square root of the business days
      between the two as-of dates, the way a random walk's spread grows. Every tenor of one
      audit spans the same days, so z is the same either way; what it fixes is the unit of
      ``typical``, a *daily* move, whatever the gap.
    * **Centre and scale**: z = |change - median| / typical, where typical = 1.4826 x the larger
      of the peers' median absolute deviation (the classic robust z) and their median absolute
      change among those that moved. The second term keeps the scale honest when peers move
      together (a parallel shift: a tiny MAD) or most did not move (a stale back end re-marked
      in blocks: a MAD of zero), so an ordinary reshaping is not a thousand-sigma event.
    * **Noise**: a change within a basis point of the previous price counts as no move.
    * **Small or degenerate peers**: the peers need at least five tenors that moved; else the
      tenor is judged with its whole family (every bucket), else with its pool (the asset
      class's curves in the same units and bucket). With none of those, a tenor that did not
      move scores 0 and one that moved is not judged (NaN): nothing says what is typical.
    * **Threshold** (the caller's ``jump_z``; 7 by default): an error of ten typical daily moves
      scores at least 10 - |the tenor's own z|, so 7 still catches it on a tenor that itself
      moved three typical moves the other way (99.7 % of normal moves), while a normal move
      passes 7 with a probability of 3e-12: what is flagged is a fat tail or an error, never
      noise. On the shared real pairs it flags 0-0.21 % of tenors (the old statistic: up to
      12.7 %).

    >>> text = lambda *v: np.array(v, dtype=object)
    >>> change = np.array([1.0, 1.1, 0.9, 1.2, 0.8, 1.05, 15.0])  # a shift of 1; one moved 15
    >>> n = len(change)
    >>> pairs = Pairs(keys=text(*"abcdefg"), labels=text(*"1234567"), change=change,
    ...               previous=np.full(n, 50.0), families=text(*["power"] * n),
    ...               buckets=text(*["later"] * n), pools=text(*["power"] * n))
    >>> scores = jump_scores(pairs)
    >>> scores.z.round(1).tolist(), round(float(scores.typical[0]), 3)
    ([0.0, 0.0, 0.1, 0.1, 0.2, 0.0, 9.0], 1.557)

    The classic robust z (scale 1.4826 x MAD = 0.22) would put the shift's own 0.8 at 1.1 and
    the 15 at 63; here the scale is the typical move itself, 1.557 a day.
    """
    n = len(pairs.change)
    z = np.full(n, np.nan)
    typical = np.full(n, np.nan)
    if n == 0:
        return JumpScores(z, typical)
    with np.errstate(invalid="ignore"):
        moved = np.abs(pairs.change) > _NOISE * np.abs(pairs.previous)
    daily = np.where(moved, pairs.change, 0.0) / math.sqrt(max(1, pairs.business_days))
    family, bucket, pool = _codes(pairs.families), _codes(pairs.buckets), _codes(pairs.pools)
    width = int(bucket.max()) + 1
    todo = np.ones(n, dtype=bool)
    for peers in (family * width + bucket, family, pool * width + bucket):
        for members in _groups(peers):
            judged = members[todo[members]]
            if not judged.size or np.count_nonzero(moved[members]) < _MIN_MOVED:
                continue
            centre, scale = _centre_and_scale(daily[members], moved[members])
            z[judged] = np.abs(daily[judged] - centre) / scale
            typical[judged] = scale
            todo[judged] = False
    still = todo & ~moved
    z[still] = 0.0
    typical[still] = 0.0
    return JumpScores(z, typical)


def _codes(values: npt.NDArray[np.object_]) -> npt.NDArray[np.intp]:
    """Small integers standing for the values (equal values, equal codes)."""
    codes: npt.NDArray[np.intp] = np.unique(values.astype(str), return_inverse=True)[1]
    return codes.reshape(-1)


def _groups(ids: npt.NDArray[np.intp]) -> list[npt.NDArray[np.intp]]:
    """The positions of each distinct id."""
    order = np.argsort(ids, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(ids[order])) + 1)


def _centre_and_scale(
    daily: npt.NDArray[np.float64], moved: npt.NDArray[np.bool_]
) -> tuple[float, float]:
    """The peers' median change and typical daily move (see :func:`jump_scores`)."""
    centre = _median(daily)
    spread = _median(np.abs(daily - centre))
    size = _median(np.abs(daily[moved]))
    return centre, _MAD_TO_SIGMA * max(spread, size)


def _median(values: npt.NDArray[np.float64]) -> float:
    """``np.median`` of a non-empty array without its overhead (a thousand small groups)."""
    ordered = np.sort(values)
    half = len(ordered) // 2
    return float(ordered[half] if len(ordered) % 2 else (ordered[half - 1] + ordered[half]) / 2)


_NAME_FIELDS = ("iso", "market", "location", "product", "block")


def curve_name(identity: Mapping[str, str | None]) -> str:
    """A curve's name for a person, from its identity fields: operator, market, location,
    product and block, then the spark spread's gas hub in brackets.

    >>> curve_name({"asset_class": "power", "region": "EU", "location": "German",
    ...             "product": "power", "block": "BASE"})
    'German power BASE'
    >>> curve_name({"location": "German", "product": "spark_spread", "block": "PEAK",
    ...             "spark_location": "Dutch_TTF"})
    'German spark_spread PEAK (Dutch_TTF)'
    """
    words = [" ".join(value.split()) for f in _NAME_FIELDS if (value := identity.get(f))]
    name = " ".join(word for word in words if word)
    spark = " ".join((identity.get("spark_location") or "").split())
    if spark:
        name = f"{name} ({spark})"
    return name or " ".join((identity.get("asset_class") or "curve").split())


def curve_names(identities: Mapping[str, Mapping[str, str | None]]) -> dict[str, str]:
    """Each curve key's :func:`curve_name`, made unique among ``identities``: curves whose
    names clash gain their region, then their units, then the start of their key.

    >>> names = curve_names({
    ...     "k1": {"region": "EU", "location": "Czech", "product": "gas", "currency": "EUR",
    ...            "per_unit": "MWh"},
    ...     "k2": {"region": "EE", "location": "Czech", "product": "gas", "currency": "EUR",
    ...            "per_unit": "MWh"},
    ...     "k3": {"location": "West", "product": "power", "currency": "USD", "per_unit": "MWh"},
    ...     "k4": {"location": "West", "product": "power", "currency": "CAD", "per_unit": "MWh"},
    ... })
    >>> [names[k] for k in ("k1", "k2", "k3", "k4")]
    ['EU Czech gas', 'EE Czech gas', 'West power [USD/MWh]', 'West power [CAD/MWh]']
    """
    names = {key: curve_name(identity) for key, identity in identities.items()}
    steps: tuple[Callable[[str, str], str], ...] = (
        lambda key, name: _join(identities[key].get("region"), name),
        lambda key, name: f"{name} [{_units(identities[key])}]",
        lambda key, name: f"{name} #{key[:8]}",
    )
    for step in steps:
        counts = Counter(names.values())
        clashing = [key for key, name in names.items() if counts[name] > 1]
        if not clashing:
            break
        for key in clashing:
            names[key] = step(key, names[key])
    return names


def _join(prefix: str | None, name: str) -> str:
    return f"{' '.join(prefix.split())} {name}" if prefix and prefix.strip() else name


def _units(identity: Mapping[str, str | None]) -> str:
    return f"{identity.get('currency') or '?'}/{identity.get('per_unit') or '?'}"


def day_over_day(
    previous_keys: Collection[str] | None,
    staged_keys: Collection[str],
    pairs: Pairs | None,
    severity: GateSeverity,
    *,
    jump_z: float,
    names: Mapping[str, str] | None = None,
) -> list[CheckOutcome]:
    """Every gate's outcome; with no previous publication only the absence is noted (all pass).

    ``names`` gives the sample keys (curve key -> readable name; a key without one stands for
    itself); a jump's sample is ``name @ tenor``, the largest z first.
    """
    named = names or {}

    def name(key: str) -> str:
        return named.get(key, key)

    new = set(staged_keys)
    old = set(previous_keys) if previous_keys is not None else new
    gone = sorted(name(k) for k in old - new)
    added = sorted(name(k) for k in new - old)
    outcomes = [
        CheckOutcome("curve_disappeared", severity.curve_disappeared, len(gone), len(old),
                     tuple(gone[:_SAMPLES])),
        CheckOutcome("new_curve", severity.new_curve, len(added), len(new),
                     tuple(added[:_SAMPLES])),
    ]  # fmt: skip
    stale: list[str] = []
    jumps: list[str] = []
    if pairs is not None and len(pairs.keys):
        moved = set(pairs.keys[pairs.change != 0].tolist())
        stale = sorted(name(k) for k in set(pairs.keys.tolist()) - moved)
        z = jump_scores(pairs).z
        beyond = np.flatnonzero(np.nan_to_num(z, nan=0.0) > jump_z)
        worst = beyond[np.argsort(-z[beyond], kind="stable")]
        jumps = [f"{name(pairs.keys[i])} @ {pairs.labels[i]}" for i in worst.tolist()]
    checked = len(old & new) if previous_keys is not None else 0
    outcomes.append(
        CheckOutcome("stale_curve", severity.stale_curve, len(stale), checked,
                     tuple(stale[:_SAMPLES]))
    )  # fmt: skip
    outcomes.append(
        CheckOutcome("jump", severity.jump, len(jumps), len(pairs.keys) if pairs else 0,
                     tuple(jumps[:_SAMPLES]))
    )  # fmt: skip
    return outcomes
