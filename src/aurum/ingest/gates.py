"""Day-over-day quality gates: a vendor's staged day against its previous published as-of.

Each gate is ``warn`` unless configured to ``fail``; a failing gate stops the publish and keeps
the staged branch for inspection. Jumps are judged per asset class by a robust z-score of the
day-over-day change (median and MAD), so a 5 EUR move is a jump for a stable curve family and
noise for a volatile one.

>>> import pyarrow as pa
>>> from aurum.config import GateSettings
>>> prev = pa.table({"curve_key": ["a", "a", "b"], "tenor_label": ["1", "2", "1"],
...                  "mid": [10.0, 11.0, 5.0], "asset_class": ["gas", "gas", "gas"]})
>>> new = pa.table({"curve_key": ["a", "a", "c"], "tenor_label": ["1", "2", "1"],
...                 "mid": [10.0, 11.0, 7.0], "asset_class": ["gas", "gas", "gas"]})
>>> {g.rule: g.failed for g in run_gates(prev, new, GateSettings())}
{'curve_disappeared': 1, 'new_curve': 1, 'stale_curve': 1, 'jump': 0}
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from aurum.config import GateSettings

__all__ = ["GateOutcome", "run_gates"]

_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class GateOutcome:
    rule: str
    severity: str
    failed: int
    checked: int
    sample_keys: tuple[str, ...]


def run_gates(
    previous: pa.Table | None, staged: pa.Table, settings: GateSettings
) -> Iterator[GateOutcome]:
    """Every gate's outcome; with no previous as-of only the absence is noted (all pass)."""
    new_keys = set(staged.column("curve_key").to_pylist())
    old_keys = set(previous.column("curve_key").to_pylist()) if previous is not None else new_keys
    gone, added = sorted(old_keys - new_keys), sorted(new_keys - old_keys)
    yield GateOutcome(
        "curve_disappeared", settings.curve_disappeared, len(gone), len(old_keys), tuple(gone[:5])
    )
    yield GateOutcome("new_curve", settings.new_curve, len(added), len(new_keys), tuple(added[:5]))
    stale: list[str] = []
    jumps: list[str] = []
    pairs = 0
    if previous is not None and previous.num_rows and staged.num_rows:
        joined = staged.select(["curve_key", "tenor_label", "mid", "asset_class"]).join(
            previous.select(["curve_key", "tenor_label", "mid"]).rename_columns(
                ["curve_key", "tenor_label", "previous_mid"]
            ),
            keys=["curve_key", "tenor_label"],
            join_type="inner",
        )
        pairs = joined.num_rows
        keys = np.array(joined.column("curve_key").to_pylist(), dtype=object)
        labels = np.array(joined.column("tenor_label").to_pylist(), dtype=object)
        change = joined.column("mid").to_numpy() - joined.column("previous_mid").to_numpy()
        moved = {k for k, d in zip(keys, change, strict=True) if d != 0}
        stale = sorted(set(keys) - moved)
        classes = np.array(joined.column("asset_class").to_pylist(), dtype=object)
        for asset_class in set(classes):
            mask = classes == asset_class
            delta = change[mask]
            centre = np.median(delta)
            scale = _MAD_TO_SIGMA * np.median(np.abs(delta - centre))
            if scale <= 0:
                continue
            beyond = np.abs(delta - centre) / scale > settings.jump_z
            jumps.extend(
                f"{k}@{t}" for k, t in zip(keys[mask][beyond], labels[mask][beyond], strict=True)
            )
    checked_curves = len(old_keys & new_keys) if previous is not None else 0
    yield GateOutcome(
        "stale_curve", settings.stale_curve, len(stale), checked_curves, tuple(stale[:5])
    )
    yield GateOutcome("jump", settings.jump, len(jumps), pairs, tuple(sorted(jumps)[:5]))
