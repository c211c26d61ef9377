"""Quality gates of feed loads, on Arrow tables: what blocks a load and what it only reports.

Two moments, as for the curves:

- **the payload** (:func:`payload_checks`), before anything is written: a duplicated key, an
  LMP whose components do not add up, a non-positive exchange rate block the whole load, so a
  bad payload publishes nothing (not some of its days);
- **each partition as it would be published** (:func:`partition_checks`, the write-audit-
  publish audit, on the rows merged onto what was there): hours missing from a node's day
  (``lmp_gap``: a source's gap is reported, never invented away) and prices outside the
  markets' caps (``lmp_outlier``), or a rate that moved more than 10 % from the publication
  before (``fx_jump``), are warnings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from aurum.datasets.feeds import FX_RATE, ISO_LMP, MERGE_KEYS, SERIES_OBSERVATION
from aurum.domain.quality import CheckOutcome
from aurum.feeds.lmp import local_hours

__all__ = ["LMP_BOUNDS", "key_of", "partition_checks", "payload_checks"]

# Prices outside these are reported (USD/MWh): below every ISO's offer floor (-$1,000 in
# ERCOT, -$150 elsewhere; CAISO's bid floor) and above ERCOT's $5,000 system-wide offer cap
# plus its adders. A real scarcity price can exceed them: a warning, not a block.
LMP_BOUNDS = (-2_000.0, 10_000.0)
IDENTITY_TOLERANCE = 0.011  # the sources round each figure to 2 to 6 decimals
FX_JUMP = 0.10


def key_of(rows: pa.Table, columns: Sequence[str]) -> pa.Array:
    """One text key per row from ``columns`` (null written ``∅``, so nulls match each other)."""
    parts = [pc.fill_null(pc.cast(rows[c], pa.string()), "∅") for c in columns]
    if len(parts) == 1:
        return parts[0].combine_chunks() if isinstance(parts[0], pa.ChunkedArray) else parts[0]
    joined = pc.binary_join_element_wise(*parts, "|")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def payload_checks(dataset: str, rows: pa.Table) -> list[CheckOutcome]:
    """The blocking checks of a whole payload's rows (before any partition is written)."""
    keys = ("iso", "operating_day", *MERGE_KEYS[dataset]) if dataset == ISO_LMP.name else (
        *_partition_keys(dataset), *MERGE_KEYS[dataset])  # fmt: skip
    checks = [_duplicates(rows, keys)]
    if dataset == ISO_LMP.name:
        checks.append(_identity(rows))
    if dataset == FX_RATE.name:
        bad = pc.less_equal(rows["rate"], 0.0)
        checks.append(
            _outcome("fx_rate_not_positive", "fail", rows, bad, ("rate_date", "currency"))
        )
    return checks


def partition_checks(
    dataset: str, staged: pa.Table, previous: pa.Table | None
) -> list[CheckOutcome]:
    """The reported checks of one partition as it would be published."""
    if dataset == ISO_LMP.name:
        return [_gaps(staged), _outliers(staged)]
    if dataset == FX_RATE.name and previous is not None and previous.num_rows:
        return [_fx_jump(staged, previous)]
    return []


def _partition_keys(dataset: str) -> tuple[str, ...]:
    return {SERIES_OBSERVATION.name: ("source", "series_group"), FX_RATE.name: ("source",)}.get(
        dataset, ()
    )


def _outcome(
    rule: str, severity: str, rows: pa.Table, failed: pa.Array, label: Sequence[str]
) -> CheckOutcome:
    failed = pc.fill_null(failed, False)
    bad = rows.filter(failed)
    sample = tuple(dict.fromkeys(key_of(bad.slice(0, 50), label).to_pylist()))[:5]
    return CheckOutcome(rule, severity, bad.num_rows, rows.num_rows, sample)


def _duplicates(rows: pa.Table, keys: Sequence[str]) -> CheckOutcome:
    key = key_of(rows, keys)
    counts = pc.value_counts(key)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    return _outcome("duplicate_key", "fail", rows, pc.is_in(key, value_set=repeated), keys[-3:])


def _identity(rows: pa.Table) -> CheckOutcome:
    parts = pc.add(pc.add(rows["energy"], rows["congestion"]), rows["loss"])
    parts = pc.add(parts, pc.fill_null(rows["ghg"], 0.0))
    off = pc.greater(pc.abs(pc.subtract(rows["lmp"], parts)), IDENTITY_TOLERANCE)
    return _outcome("lmp_identity", "fail", rows, off, ("node", "interval_start_utc"))


def _outliers(rows: pa.Table) -> CheckOutcome:
    low, high = LMP_BOUNDS
    outside = pc.or_(pc.less(rows["lmp"], low), pc.greater(rows["lmp"], high))
    return _outcome("lmp_outlier", "warn", rows, outside, ("node", "interval_start_utc"))


def _gaps(rows: pa.Table) -> CheckOutcome:
    """Node-days whose intervals cover less than the operating day (23, 24 or 25 hours)."""
    if rows.num_rows == 0:
        return CheckOutcome("lmp_gap", "warn", 0, 0)
    seconds = pc.cast(
        pc.subtract(pc.cast(rows["interval_end_utc"], pa.int64()),
                    pc.cast(rows["interval_start_utc"], pa.int64())), pa.int64(),
    )  # fmt: skip
    covered = (
        pa.table({"market_run": rows["market_run"], "node": rows["node"],
                  "day": rows["operating_day"], "tz": rows["market_tz"], "s": seconds})
        .group_by(["market_run", "node", "day", "tz"]).aggregate([("s", "sum")])
    )  # fmt: skip
    short = []
    for run, node, day, tz, total in zip(*(covered[c].to_pylist() for c in covered.column_names),
                                         strict=True):  # fmt: skip
        if total < _day_seconds(day, tz):
            short.append(
                f"{run} {node} {day}: {total / 3600:g} of {_day_seconds(day, tz) / 3600:g} h"
            )
    return CheckOutcome("lmp_gap", "warn", len(short), covered.num_rows, tuple(short[:5]))


def _day_seconds(day: date, zone: str) -> int:
    ZoneInfo(zone)  # a bad zone fails here, clearly
    return len(local_hours(day, zone)) * 3600


def _fx_jump(staged: pa.Table, previous: pa.Table) -> CheckOutcome:
    """Each currency's first rate here against its last rate in the previous publication."""
    last = {}
    for currency, rate, _ in sorted(
        zip(previous["currency"].to_pylist(), previous["rate"].to_pylist(),
            previous["rate_date"].to_pylist(), strict=True), key=lambda r: r[2],
    ):  # fmt: skip
        last[currency] = rate
    first: dict[str, float] = {}
    for currency, rate, _ in sorted(
        zip(staged["currency"].to_pylist(), staged["rate"].to_pylist(),
            staged["rate_date"].to_pylist(), strict=True), key=lambda r: r[2], reverse=True,
    ):  # fmt: skip
        first[currency] = rate
    jumps = [
        f"{c}: {last[c]:g} -> {r:g}" for c, r in sorted(first.items())
        if c in last and last[c] > 0 and abs(r / last[c] - 1) > FX_JUMP
    ]  # fmt: skip
    return CheckOutcome("fx_jump", "warn", len(jumps), len(first), tuple(jumps[:5]))
