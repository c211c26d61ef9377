"""A vendor's as-of day, published: write-audit-publish of ``curve_observation`` (the lake's
generic :func:`~aurum.lake.publish.publish`) audited by the day-over-day gates of
:mod:`aurum.domain.quality` against the vendor's previous published as-of.

>>> import pyarrow as pa
>>> prev = pa.table({"curve_key": ["a", "a", "b"], "tenor_label": ["1", "2", "1"],
...                  "mid": [10.0, 11.0, 5.0], "asset_class": ["gas", "gas", "gas"]})
>>> new = pa.table({"curve_key": ["a", "a", "c"], "tenor_label": ["1", "2", "1"],
...                 "mid": [10.0, 11.0, 7.0], "asset_class": ["gas", "gas", "gas"]})
>>> {g.rule: g.failed for g in curve_audit(GateSettings()).check(new, prev)}
{'curve_disappeared': 1, 'new_curve': 1, 'stale_curve': 1, 'jump': 0}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
from pyiceberg.table import Table

from aurum.config import GateSettings
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.domain.quality import CheckOutcome, GateSeverity, Pairs, day_over_day
from aurum.lake.catalog import Lake
from aurum.lake.publish import Audit, Publication, Stage, publish
from aurum.lake.versions import RUN_ID, SHA256, versions

__all__ = [
    "DayVersion",
    "curve_audit",
    "day_history",
    "day_partition",
    "day_versions",
    "publish_day",
]

_AUDITED = ("curve_key", "tenor_label", "mid", "asset_class")


def day_partition(vendor: str, asof: date) -> dict[str, object]:
    """The ``curve_observation`` partition of a vendor's as-of day."""
    return {"vendor": vendor, "asof_date": asof}


def day_versions(table: Table, vendor: str, asof: date) -> dict[int, int]:
    """The published versions of a vendor's day: version number -> snapshot id."""
    assert CURVE_OBSERVATION.tags is not None
    return versions(table, CURVE_OBSERVATION.tags, day_partition(vendor, asof))


@dataclass(frozen=True)
class DayVersion:
    """One published version of a vendor's day: its tag and what made it."""

    version: int
    tag: str
    snapshot_id: int
    published_at: datetime
    run_id: str
    sha256: str


def day_history(table: Table, vendor: str, asof: date) -> list[DayVersion]:
    """Every published version of a vendor's day, oldest first."""
    assert CURVE_OBSERVATION.tags is not None
    partition = day_partition(vendor, asof)
    history = []
    for number, snapshot_id in sorted(day_versions(table, vendor, asof).items()):
        snapshot = table.snapshot_by_id(snapshot_id)
        if snapshot is None:
            continue
        history.append(
            DayVersion(
                number,
                CURVE_OBSERVATION.tags.tag(partition, number),
                snapshot_id,
                datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
                snapshot.summary.get(RUN_ID, ""),
                snapshot.summary.get(SHA256, ""),
            )
        )
    return history


def curve_audit(settings: GateSettings) -> Audit:
    """The day-over-day gates as an audit of ``curve_observation``."""
    severity = GateSeverity(
        settings.curve_disappeared, settings.new_curve, settings.stale_curve, settings.jump
    )

    def check(staged: pa.Table, previous: pa.Table | None) -> list[CheckOutcome]:
        staged_keys = set(staged.column("curve_key").to_pylist())
        if previous is None:
            return day_over_day(None, staged_keys, None, severity, jump_z=settings.jump_z)
        return day_over_day(
            set(previous.column("curve_key").to_pylist()), staged_keys,
            _pairs(staged, previous), severity, jump_z=settings.jump_z,
        )  # fmt: skip

    return Audit(check, _AUDITED)


def _pairs(staged: pa.Table, previous: pa.Table) -> Pairs | None:
    """The tenors on both days, joined by (curve, tenor): their change and family."""
    if not (previous.num_rows and staged.num_rows):
        return None
    joined = staged.select(list(_AUDITED)).join(
        previous.select(["curve_key", "tenor_label", "mid"]).rename_columns(
            ["curve_key", "tenor_label", "previous_mid"]
        ),
        keys=["curve_key", "tenor_label"],
        join_type="inner",
    )
    return Pairs(
        keys=np.array(joined.column("curve_key").to_pylist(), dtype=object),
        labels=np.array(joined.column("tenor_label").to_pylist(), dtype=object),
        change=joined.column("mid").to_numpy() - joined.column("previous_mid").to_numpy(),
        families=np.array(joined.column("asset_class").to_pylist(), dtype=object),
    )


def publish_day(
    lake: Lake,
    rows: pa.Table,
    *,
    vendor: str,
    asof: date,
    sha256: str,
    run_id: str,
    gates: GateSettings,
    pause: Callable[[Stage], None] | None = None,
) -> Publication:
    """Write-audit-publish ``rows``, one vendor's as-of day, on ``curve_observation``."""
    return publish(
        lake, CURVE_OBSERVATION, day_partition(vendor, asof), rows, run_id=run_id,
        content_sha256=sha256, audit=curve_audit(gates), pause=pause,
    )  # fmt: skip
