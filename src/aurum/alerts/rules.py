"""When something deserves an operator's look: each rule turns facts into an alert's spec, or none.

Pure (no store, no clock): the service (:mod:`aurum.alerts.service`) gathers the facts — events
from the outbox, runs and the vendor schedule — and raises what these return. Every spec has a
**key** naming its condition, so seeing it again is a sighting of the same alert, never another
alert: ``gate_failure|PW|2026-12-03``, ``file_missing|EUGP|2026-12-03``, ``stale_curve|RP|…``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from aurum.domain.layout import drift

__all__ = [
    "AlertSpec", "file_missing", "gate_failure", "layout_drift", "quarantine_rate",
    "stale_curve",
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
    vendor: str, asof: str | None, run_id: str, previous: Mapping[str, Sequence[str]],
    current: Mapping[str, Sequence[str]], *, previous_run: str, limit: int = 20,
) -> AlertSpec | None:  # fmt: skip
    """This file's layout against the vendor's previous file's (sheets, curves, their order)."""
    found = drift(previous, current)
    if not found.changed:
        return None
    return AlertSpec(
        f"layout_drift|{vendor}|{run_id}", "layout_drift", "warning",
        f"{vendor} {asof}: the layout changed since the previous file: {found.summary()}", vendor,
        {
            "asof": asof, "run_id": run_id, "previous_run": previous_run,
            "sheets_added": list(found.sheets_added), "sheets_removed": list(found.sheets_removed),
            **{what: {sheet: keys[:limit] for sheet, keys in by_sheet.items()}
               for what, by_sheet in (("curves_added", found.added),
                                      ("curves_removed", found.removed),
                                      ("curves_moved", found.moved))},
        },
    )  # fmt: skip


def file_missing(vendor: str, asof: date, cutoff: datetime) -> AlertSpec:
    """A business day's workbook not received by its cut-off."""
    return AlertSpec(
        f"file_missing|{vendor}|{asof.isoformat()}", "file_missing", "critical",
        f"{vendor} {asof}: no file by the cut-off {cutoff:%Y-%m-%d %H:%M} UTC", vendor,
        {"asof": asof.isoformat(), "cutoff": cutoff.isoformat()},
    )  # fmt: skip


def stale_curve(vendor: str, newest: date, missed: int, stale_days: int) -> AlertSpec | None:
    """A vendor whose newest published as-of is ``missed`` business days behind.

    >>> stale_curve("PW", date(2026, 11, 27), 3, 3).key
    'stale_curve|PW|2026-11-27'
    >>> stale_curve("PW", date(2026, 11, 27), 2, 3) is None
    True
    """
    if missed < stale_days:
        return None
    return AlertSpec(
        f"stale_curve|{vendor}|{newest.isoformat()}", "stale_curve", "warning",
        f"{vendor}: the newest published as-of is {newest} ({missed} business days behind)",
        vendor, {"newest_asof": newest.isoformat(), "business_days_behind": missed},
    )  # fmt: skip
