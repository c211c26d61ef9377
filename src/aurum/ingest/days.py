"""A vendor's as-of day, published: write-audit-publish of ``curve_observation`` (the lake's
generic :func:`~aurum.lake.publish.publish`) audited by the day-over-day gates of
:mod:`aurum.domain.quality` against the vendor's previous published as-of.

>>> def day(asof, mids):  # {curve: {tenor: mid}}
...     rows = [{"asof_date": asof, "curve_key": curve, "tenor_label": tenor, "mid": mid,
...              "tenor_type": "MONTHLY", "asset_class": "gas", "location": curve.upper(),
...              "product": "gas", "currency": "EUR", "per_unit": "MWh"}
...             for curve, tenors in mids.items() for tenor, mid in tenors.items()]
...     return pa.Table.from_pylist(rows, CURVE_OBSERVATION.schema)
>>> prev = day(date(2025, 9, 16), {"a": {"1": 10.0, "2": 11.0}, "b": {"1": 5.0}})
>>> new = day(date(2025, 9, 17), {"a": {"1": 10.0, "2": 11.0}, "c": {"1": 7.0}})
>>> [(g.rule, g.failed, g.sample_keys) for g in curve_audit(GateSettings()).check(new, prev)]
...  # doctest: +NORMALIZE_WHITESPACE
[('curve_disappeared', 1, ('B gas',)), ('new_curve', 1, ('C gas',)),
 ('stale_curve', 1, ('A gas',)), ('jump', 0, ())]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.table import Table

from aurum.config import GateSettings
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.domain.identity import IDENTITY_FIELDS, curve_family
from aurum.domain.quality import (
    CheckOutcome,
    GateSeverity,
    Pairs,
    business_days_between,
    curve_names,
    day_over_day,
    tenor_bucket,
)
from aurum.lake.catalog import Lake
from aurum.lake.publish import Audit, Publication, Stage, publish
from aurum.lake.versions import RUN_ID, SHA256, versions

__all__ = [
    "DayVersion",
    "curve_audit",
    "day_history",
    "day_pairs",
    "day_partition",
    "day_versions",
    "publish_day",
]

_UNITS = ("currency", "per_unit")
# What the gates read of a day: the pairing, the tenor's bucket, and each curve's identity
# (its family and its readable name).
_AUDITED = (
    "asof_date", "curve_key", "tenor_label", "tenor_type", "tenor_start", "mid",
    *IDENTITY_FIELDS, *_UNITS,
)  # fmt: skip


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
    """The day-over-day gates as an audit of ``curve_observation``: curves named by
    :func:`~aurum.domain.quality.curve_names`, jumps judged by
    :func:`~aurum.domain.quality.jump_scores` beyond ``settings.jump_z``."""
    severity = GateSeverity(
        settings.curve_disappeared, settings.new_curve, settings.stale_curve, settings.jump
    )

    def check(staged: pa.Table, previous: pa.Table | None) -> list[CheckOutcome]:
        staged_keys = set(staged.column("curve_key").to_pylist())
        if previous is None:
            return day_over_day(None, staged_keys, None, severity, jump_z=settings.jump_z)
        return day_over_day(
            set(previous.column("curve_key").to_pylist()), staged_keys,
            day_pairs(staged, previous), severity, jump_z=settings.jump_z,
            names=_names(staged, previous),
        )  # fmt: skip

    return Audit(check, _AUDITED)


def _curves(table: pa.Table) -> pa.Table:
    """One row per curve (its first): the key, identity fields and units."""
    keys = table.column("curve_key")
    first = pc.index_in(pc.unique(keys), value_set=keys)
    return table.select(["curve_key", *IDENTITY_FIELDS, *_UNITS]).take(first)


def _names(staged: pa.Table, previous: pa.Table) -> dict[str, str]:
    """Readable names of the curves of either day, unique among them."""
    identities: dict[str, dict[str, str | None]] = {}
    for table in (previous, staged):  # the staged day's identity wins
        for row in _curves(table).to_pylist():
            identities[row.pop("curve_key")] = row
    return curve_names(identities)


def day_pairs(staged: pa.Table, previous: pa.Table) -> Pairs | None:
    """The tenors on both days, as the jump gate judges them: joined by (curve, tenor), with
    their change, previous price, curve family, tenor bucket (on the staged as-of) and pool,
    and the business days between the two as-of dates. ``None`` when either day is empty."""
    if not (previous.num_rows and staged.num_rows):
        return None
    joined = staged.select(list(_AUDITED)).join(
        previous.select(["curve_key", "tenor_label", "mid"]).rename_columns(
            ["curve_key", "tenor_label", "previous_mid"]
        ),
        keys=["curve_key", "tenor_label"],
        join_type="inner",
    )
    asof: date = staged.column("asof_date")[0].as_py()
    before: date = previous.column("asof_date")[0].as_py()
    families: dict[str, str] = {}
    pools: dict[str, str] = {}
    for curve in _curves(joined).to_pylist():
        units = (curve["currency"], curve["per_unit"])
        families[curve["curve_key"]] = curve_family(curve["asset_class"], curve["product"], *units)
        pools[curve["curve_key"]] = curve_family(curve["asset_class"], None, *units)
    keys = joined.column("curve_key").to_pylist()
    tenors = list(
        zip(joined["tenor_start"].to_pylist(), joined["tenor_type"].to_pylist(), strict=True)
    )
    buckets = {
        (start, kind): tenor_bucket(asof, start, monthly=kind == "MONTHLY")
        for start, kind in set(tenors)
    }
    previous_mid = _floats(joined.column("previous_mid"))
    return Pairs(
        keys=np.array(keys, dtype=object),
        labels=np.array(joined.column("tenor_label").to_pylist(), dtype=object),
        change=_floats(joined.column("mid")) - previous_mid,
        previous=previous_mid,
        families=np.array([families[k] for k in keys], dtype=object),
        buckets=np.array([buckets[t] for t in tenors], dtype=object),
        pools=np.array([pools[k] for k in keys], dtype=object),
        business_days=business_days_between(before, asof),
    )


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    """A price column as float64, null as NaN."""
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)


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
