"""Quality checks as pure functions: one outcome type for row rules and day-over-day gates.

A :class:`CheckOutcome` is one rule's result on one run, passing or not (the quality history keeps
every one). The day-over-day gates compare a staged publication with the previous one of the
same series: a curve disappeared, a new curve, a stale curve (every price equal to the day
before), and jumps. Jumps are judged per curve family by a robust z-score of the day-over-day
change (median and MAD), so a 5 EUR move is a jump for a stable family and noise for a volatile
one.

The gates take plain sequences and numpy arrays: the caller pairs the two days' rows (an Arrow
join in ``aurum.ingest``) and hands over the keys, labels, changes and families of the pairs.

>>> import numpy as np
>>> text = lambda *values: np.array(values, dtype=object)
>>> pairs = Pairs(keys=text("a", "a", "b"), labels=text("1", "2", "1"),
...               change=np.array([0.0, 0.0, 2.0]), families=text("gas", "gas", "gas"))
>>> outcomes = day_over_day({"a", "b", "c"}, {"a", "b", "d"}, pairs, GateSeverity(), jump_z=10)
>>> {o.rule: o.failed for o in outcomes}
{'curve_disappeared': 1, 'new_curve': 1, 'stale_curve': 1, 'jump': 0}
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["CheckOutcome", "GateSeverity", "Pairs", "Severity", "day_over_day", "robust_z"]

Severity = Literal["quarantine", "warn", "fail"]
_MAD_TO_SIGMA = 1.4826
_SAMPLES = 5


@dataclass(frozen=True)
class CheckOutcome:
    """One rule's or gate's result: how many rows (or curves) failed out of how many checked,
    and up to five of the failing keys."""

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
    """The tenors present on both days: curve key, tenor label, change (new - old), family."""

    keys: npt.NDArray[np.object_]
    labels: npt.NDArray[np.object_]
    change: npt.NDArray[np.float64]
    families: npt.NDArray[np.object_]


def robust_z(delta: npt.NDArray[np.float64]) -> npt.NDArray[np.float64] | None:
    """|delta - median| / (1.4826 * MAD): a z-score that a few outliers cannot inflate; ``None``
    when the MAD is zero (most changes equal: no scale to judge by).

    >>> robust_z(np.array([1.0, 2.0, 3.0, 100.0])).round(2).tolist()
    [1.01, 0.34, 0.34, 65.76]
    """
    centre = np.median(delta)
    scale = _MAD_TO_SIGMA * float(np.median(np.abs(delta - centre)))
    if scale <= 0:
        return None
    z: npt.NDArray[np.float64] = np.abs(delta - centre) / scale
    return z


def day_over_day(
    previous_keys: Collection[str] | None,
    staged_keys: Collection[str],
    pairs: Pairs | None,
    severity: GateSeverity,
    *,
    jump_z: float,
) -> list[CheckOutcome]:
    """Every gate's outcome; with no previous publication only the absence is noted (all pass)."""
    new = set(staged_keys)
    old = set(previous_keys) if previous_keys is not None else new
    gone, added = sorted(old - new), sorted(new - old)
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
        stale = sorted(set(pairs.keys.tolist()) - moved)
        jumps = _jumps(pairs, jump_z)
    checked = len(old & new) if previous_keys is not None else 0
    outcomes.append(
        CheckOutcome("stale_curve", severity.stale_curve, len(stale), checked,
                     tuple(stale[:_SAMPLES]))
    )  # fmt: skip
    outcomes.append(
        CheckOutcome("jump", severity.jump, len(jumps), len(pairs.keys) if pairs else 0,
                     tuple(sorted(jumps)[:_SAMPLES]))
    )  # fmt: skip
    return outcomes


def _jumps(pairs: Pairs, jump_z: float) -> list[str]:
    """``key@label`` of every change beyond ``jump_z`` within its family."""
    found: list[str] = []
    families: Sequence[object] = sorted(set(pairs.families.tolist()), key=str)
    for family in families:
        mask = pairs.families == family
        z = robust_z(pairs.change[mask])
        if z is None:
            continue
        beyond = z > jump_z
        found.extend(
            f"{key}@{label}"
            for key, label in zip(
                pairs.keys[mask][beyond].tolist(), pairs.labels[mask][beyond].tolist(), strict=True
            )
        )
    return found
