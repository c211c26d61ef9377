"""When something deserves an operator's look: each rule turns facts into an alert's spec, or none.

Pure (no store, no clock): the service (:mod:`aurum.alerts.service`) gathers the facts — events
from the outbox, runs and the vendor schedule — and raises what these return. Every spec has a
**key** naming its condition, so seeing it again is a sighting of the same alert, never another
alert: ``gate_failure|PW|2026-12-03``, ``file_missing|EUGP|2026-12-03``, ``stale_curve|RP``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aurum.domain.layout import drift
from aurum.formats import column_letter

__all__ = [
    "AlertSpec", "file_missing", "file_missing_key", "gate_failure", "layout_drift",
    "quarantine_rate", "stale_curve", "stale_curve_key",
]  # fmt: skip


@dataclass(frozen=True)
class AlertSpec:
    key: str
    kind: str
    severity: str  # warning | critical
    summary: str
    vendor: str | None
    details: dict[str, Any] = field(default_factory=dict)


def gate_failure(payload: Mapping[str, Any]) -> AlertSpec | None:
    """A ``qa.result`` whose gates blocked the publish.

    >>> gate_failure({"vendor": "PW", "asof": "2026-12-03", "passed": False,
    ...               "gate_failures": ["jump"], "run_id": "r1", "file": "f"}).key
    'gate_failure|PW|2026-12-03'
    """
    failed = list(payload.get("gate_failures") or ())
    if payload.get("passed", True) or not failed:
        return None
    vendor, asof = payload.get("vendor"), payload.get("asof")
    return AlertSpec(
        f"gate_failure|{vendor}|{asof}", "gate_failure", "critical",
        f"{vendor} {asof}: the gates blocked the publish ({', '.join(failed)})", vendor,
        {"asof": asof, "rules": failed, "run_id": payload.get("run_id"),
         "file": payload.get("file")},
    )  # fmt: skip


def quarantine_rate(payload: Mapping[str, Any], threshold: float) -> AlertSpec | None:
    """A published day (``curve.observation``) that quarantined more than ``threshold`` of its
    price cells.

    >>> quarantine_rate({"vendor": "RP", "asof": "2026-12-03", "quarantined": 30,
    ...                  "price_cells": 1000, "run_id": "r"}, 0.01).summary
    'RP 2026-12-03: 3.0 % of the price cells quarantined (30 of 1,000; threshold 1.0 %)'
    """
    cells, held = payload.get("price_cells") or 0, payload.get("quarantined") or 0
    if not cells or held / cells <= threshold:
        return None
    vendor, asof, rate = payload.get("vendor"), payload.get("asof"), held / cells
    return AlertSpec(
        f"quarantine_rate|{vendor}|{asof}", "quarantine_rate", "warning",
        f"{vendor} {asof}: {rate:.1%} of the price cells quarantined ({held:,} of {cells:,};"
        f" threshold {threshold:.1%})".replace("%", " %"),
        vendor, {"asof": asof, "quarantined": held, "price_cells": cells, "rate": rate,
                 "threshold": threshold, "run_id": payload.get("run_id")},
    )  # fmt: skip


def layout_drift(
    vendor: str, asof: str | None, run_id: str, previous: Mapping[str, Any],
    current: Mapping[str, Any], *, previous_run: str, limit: int = 50,
) -> AlertSpec | None:  # fmt: skip
    """This file's layout against the vendor's previous file's: sheets added or removed, curves
    new, missing or moved (their order among the curves both files keep changed). Layouts are
    fingerprints (``aurum.ingest.parser.Fingerprint``: per sheet, ``[column, key]`` per curve
    in column order, as a run's ``result["layout"]`` keeps them); one of another shape is not
    compared (None). Details name each curve by its key's first hex digits and its column, at
    most ``limit`` per sheet and kind (the counts are whole).

    >>> before = {"Mid": [[2, "aa"], [3, "bb"], [4, "cc"]], "Notes": []}
    >>> after = {"Mid": [[2, "aa"], [3, "cc"], [4, "bb"], [5, "dd"]]}
    >>> spec = layout_drift("RP", "2025-02-18", "r2", before, after, previous_run="r1")
    >>> spec.key, spec.details["sheets_removed"], spec.details["curves_added"]
    ('layout_drift|RP|r2', ['Notes'], {'Mid': [{'curve': 'dd', 'column': 'F'}]})
    >>> spec.details["curves_moved"]
    {'Mid': [{'curve': 'cc', 'from': 'E', 'to': 'D'}]}
    >>> layout_drift("RP", None, "r2", after, after, previous_run="r1") is None
    True
    """
    old, new = _columns(previous), _columns(current)
    if old is None or new is None:
        return None
    found = drift({s: list(c) for s, c in old.items()}, {s: list(c) for s, c in new.items()})
    if not found.changed:
        return None
    added = {s: [{"curve": k, "column": column_letter(new[s][k])} for k in keys[:limit]]
             for s, keys in found.added.items()}  # fmt: skip
    removed = {s: [{"curve": k, "column": column_letter(old[s][k])} for k in keys[:limit]]
               for s, keys in found.removed.items()}  # fmt: skip
    moved = {s: [{"curve": k, "from": column_letter(old[s][k]), "to": column_letter(new[s][k])}
                 for k in keys[:limit]] for s, keys in found.moved.items()}  # fmt: skip
    counts = {
        what: sum(map(len, by_sheet.values()))
        for what, by_sheet in (("added", found.added), ("removed", found.removed),
                               ("moved", found.moved))
    }  # fmt: skip
    return AlertSpec(
        f"layout_drift|{vendor}|{run_id}", "layout_drift", "warning",
        f"{vendor} {asof}: the layout changed since the previous file: {found.summary()}", vendor,
        {
            "asof": asof, "run_id": run_id, "previous_run": previous_run,
            "sheets_added": list(found.sheets_added), "sheets_removed": list(found.sheets_removed),
            "curves_added": added, "curves_removed": removed, "curves_moved": moved,
            "counts": counts,
        },
    )  # fmt: skip


def _columns(layout: Mapping[str, Any]) -> dict[str, dict[str, int]] | None:
    """Per sheet, each curve key's column, in column order; None for another shape (the
    curve-keys-only lists that runs recorded before fingerprints kept columns)."""
    try:
        return {
            str(sheet): {str(key): int(column) for column, key in curves}
            for sheet, curves in layout.items()
        }
    except (TypeError, ValueError):
        return None


def file_missing_key(vendor: str, asof: date | str) -> str:
    """The condition of ``vendor``'s file for ``asof`` (a date or its ISO text) missing."""
    return f"file_missing|{vendor}|{asof}"


def file_missing(
    vendor: str, asof: date, cutoff: datetime, *, failed: Sequence[str] = ()
) -> AlertSpec:
    """A business day with no file published by its cut-off; ``failed`` are the runs of files
    that came for the day and failed (a file that failed is no file: the day has no curves).

    >>> spec = file_missing("EUGP", date(2026, 4, 7), datetime(2026, 4, 7, 14, 30), failed=["r"])
    >>> spec.key
    'file_missing|EUGP|2026-04-07'
    >>> spec.summary
    'EUGP 2026-04-07: no file by the cut-off 2026-04-07 14:30 UTC (1 came and failed)'
    """
    came = f" ({len(failed)} came and failed)" if failed else ""
    return AlertSpec(
        file_missing_key(vendor, asof), "file_missing", "critical",
        f"{vendor} {asof}: no file by the cut-off {cutoff:%Y-%m-%d %H:%M} UTC{came}", vendor,
        {"asof": asof.isoformat(), "cutoff": cutoff.isoformat(), "failed_runs": list(failed)},
    )  # fmt: skip


def stale_curve_key(vendor: str) -> str:
    return f"stale_curve|{vendor}"


def stale_curve(vendor: str, newest: date | None, missed: int, stale_days: int) -> AlertSpec | None:
    """A vendor whose newest published as-of is ``missed`` overdue business days behind
    (``newest`` None: none published in the days looked at, so at least ``missed``). One
    condition per vendor, whatever its newest day: it lasts until a newer day is published.

    >>> stale_curve("PW", date(2026, 11, 20), 3, 3).summary
    'PW: the newest published as-of is 2026-11-20 (3 business days behind)'
    >>> stale_curve("PW", date(2026, 11, 20), 2, 3) is None
    True
    >>> stale_curve("RP", None, 23, 3).summary
    'RP: no as-of published in its last 23 business days'
    """
    if missed < stale_days:
        return None
    newest_text = newest.isoformat() if newest else None
    summary = (
        f"{vendor}: the newest published as-of is {newest_text} ({missed} business days behind)"
        if newest
        else f"{vendor}: no as-of published in its last {missed} business days"
    )
    return AlertSpec(
        stale_curve_key(vendor), "stale_curve", "warning", summary, vendor,
        {"newest_asof": newest_text, "business_days_behind": missed},
    )  # fmt: skip
