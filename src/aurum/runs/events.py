"""What a run's state change tells the world: the outbox events of a run, decided once.

:meth:`aurum.runs.Runs.finish` and :meth:`~aurum.runs.Runs.enqueue` write these in the same
store transaction as the run's row, so an event exists exactly when its change does. Each has an
ordering **key** (a vendor's day, a scenario, a contract): consumers get one key's events in the
order they happened.

==============================  =====================================================
run                             events
==============================  =====================================================
ingest published                ``curve.observation`` (counts, snapshot, tag) and ``qa.result``
ingest failed at a gate         ``qa.result`` and ``ingest.error``
ingest failed otherwise         ``ingest.error`` (a dead letter, an error)
scenario run / valuation        ``scenario.request`` when queued; ``scenario.output`` or
                                ``ppa.valuation`` when published
feed load published             ``feed.load`` (format, kind, rows, the versions it made)
child run (``params.parent``)   none: its parent's events say what the work made
==============================  =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aurum.store import Run

__all__ = ["RunEvent", "finished_events", "queued_events"]


@dataclass(frozen=True)
class RunEvent:
    type: str
    key: str
    payload: dict[str, Any]
    vendor: str | None = None


def finished_events(run: Run) -> list[RunEvent]:
    """The events of ``run``'s end (none for a duplicate, a cancel, a run requeued or a child
    run)."""
    if run.params.get("parent"):
        return []
    if run.kind == "ingest":
        return _ingest(run)
    if run.status != "published":
        return []
    published = {
        "run_id": run.run_id, "subject": run.subject, "dataset": run.dataset, "tag": run.tag,
        "version": run.version, "snapshot_id": run.snapshot_id, "rows": run.result.get("rows"),
    }  # fmt: skip
    if run.kind == "scenario_run":
        return [RunEvent("scenario.output", f"scenario|{run.subject}", published)]
    if run.kind == "feed_load":
        return _feed(run)
    if run.kind == "valuation":
        summary = run.result.get("summary") or {}
        figures = {k: summary.get(k) for k in ("npv", "currency", "capture_rate") if k in summary}
        return [RunEvent("ppa.valuation", f"ppa|{run.subject}", {**published, **figures})]
    return []


def queued_events(run: Run) -> list[RunEvent]:
    """A queued run is announced (the work itself stays on the store's queue); a child run is
    its parent's business."""
    if run.params.get("parent"):
        return []
    return [
        RunEvent(
            "scenario.request", f"{run.kind}|{run.subject}",
            {"run_id": run.run_id, "kind": run.kind, "subject": run.subject,
             "queued_at": run.queued_at.isoformat()},
        )
    ]  # fmt: skip


def _feed(run: Run) -> list[RunEvent]:
    """A feed load that wrote something (a duplicate or a payload without data says nothing)."""
    made = [p for p in run.result.get("partitions", []) if p.get("status") == "published"]
    if not made:
        return []
    format = run.result.get("format") or run.params.get("format") or ""
    return [RunEvent("feed.load", f"feed|{format}", {
        "run_id": run.run_id, "file": run.subject, "sha256": run.sha256, "format": format,
        "kind": run.result.get("kind"), "dataset": run.dataset, "rows": run.result.get("rows"),
        "tags": [p["tag"] for p in made], "snapshot_id": run.snapshot_id,
    })]  # fmt: skip


def _ingest(run: Run) -> list[RunEvent]:
    day = {
        "run_id": run.run_id, "vendor": run.vendor,
        "asof": run.asof.isoformat() if run.asof else None, "file": run.subject,
        "sha256": run.sha256,
    }  # fmt: skip
    key = f"{run.vendor}|{day['asof']}" if run.vendor and run.asof else f"file|{run.subject}"
    events: list[RunEvent] = []
    gates = run.result.get("gates")
    if run.status == "published":
        events.append(RunEvent("curve.observation", key, {
            **day, "version": run.version, "tag": run.tag, "snapshot_id": run.snapshot_id,
            "rows": run.result.get("rows"), "quarantined": run.result.get("quarantined"),
            "price_cells": run.result.get("price_cells"),
        }, run.vendor))  # fmt: skip
    if gates is not None and run.status in ("published", "failed"):
        events.append(RunEvent("qa.result", key, {
            **day, "passed": not run.gate_failures, "gate_failures": list(run.gate_failures),
            "gates": gates,
        }, run.vendor))  # fmt: skip
    if run.status == "failed":
        events.append(RunEvent("ingest.error", key, {
            **day, "error_code": run.error_code, "message": run.error_message,
        }, run.vendor))  # fmt: skip
    return events
