"""``/v1/observability/…`` (admins): alerts (list, acknowledge, resolve), the figures of
``/metrics`` as JSON, recent traces, a clean-up of what crashed runs left; ``/v1/usage``: the
tenant's reads, exports and uploads by vendor and month (for vendors' licences).

Each answers for the caller's tenant: its own runs and the platform's ingests of the vendors it
is entitled to, its webhooks, its spans.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from aurum import telemetry
from aurum.api.deps import ServicesDep, audit, envelope, housekeeping
from aurum.api.routes.objects import RESPONSES
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ADMIN
from aurum.errors import RequestError

__all__ = ["router", "usage"]

router = APIRouter(
    prefix="/v1/observability", tags=["observability"], dependencies=[requires(ADMIN)],
    responses=RESPONSES,
)  # fmt: skip


@router.get("/metrics", summary="Run and ingest figures, as JSON")
def metrics_summary(services: ServicesDep, principal: PrincipalDep) -> Response:
    """Run outcomes, queue depth, rows published and quarantined, gate failures and freshness
    per vendor, ingest duration percentiles, event consumers' lag and open alerts."""
    with services.store.transaction(principal.access, write=False) as tx:
        stats = tx.stats()
    today = datetime.now(UTC).date()
    vendors = sorted({v for v, _ in stats.rows} | set(stats.newest_asof))
    seconds = sorted(s for _, s in stats.durations)
    summary: dict[str, Any] = {
        "runs": [
            {"kind": k, "status": s, "count": n} for (k, s), n in sorted(stats.outcomes.items())
        ],
        "queued": stats.queued,
        "active": stats.active,
        "vendors": [
            {
                "vendor": v,
                "rows_published": stats.rows.get((v, "published"), (0, 0))[0],
                "rows_quarantined": sum(q for (w, _), (_, q) in stats.rows.items() if w == v),
                "gate_failures": sum(n for (w, _), n in stats.gate_failures.items() if w == v),
                "newest_asof": stats.newest_asof[v][0] if v in stats.newest_asof else None,
                "freshness_days": (
                    (today - stats.newest_asof[v][0]).days if v in stats.newest_asof else None
                ),
            }
            for v in vendors
        ],
        "ingest_seconds": {
            "count": len(seconds),
            **{f"p{q}": _quantile(seconds, q / 100) for q in (50, 90, 99)},
        },
        "events": {"newest_position": stats.newest_event, "consumers_lag": {
            **{name: stats.newest_event - p for name, p in stats.cursors.items()},
            **{f"webhook:{h}": stats.newest_event - p for h, p, _, _ in stats.webhooks},
        }},
        "alerts_open": stats.alerts_open,
    }  # fmt: skip
    return envelope([summary])


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[min(len(values) - 1, int(q * len(values)))], 3)


@router.get("/traces", summary="Recent spans")
def traces(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """The newest finished spans of this process (API → query → lake), yours only; empty with
    a note when tracing is off (AURUM_TELEMETRY__TRACES)."""
    mine = principal.tenant_id
    spans = [
        s for s in telemetry.recent_spans(10_000)
        if s["attributes"].get("aurum.tenant") in (mine, None) or mine is None
    ][:limit]  # fmt: skip
    return envelope(spans, tracing=telemetry.tracing_enabled())


@router.post("/cleanup", summary="Clear what crashed runs left")
def cleanup(request: Request, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Settle runs whose lease expired (published if the catalog has their version, else failed
    or requeued), drop write-audit-publish branches no live run holds, remove scratch files of
    dead replica builds, the scratch folders of split scenario runs that ended, and abandoned
    uploads — what the server also does every minute."""
    done = housekeeping(services)
    audit(request, principal, "observability.cleanup", None,
          **{k: len(v) for k, v in done.items()})  # fmt: skip
    return envelope([done])


_ALERT_ID = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]{32}$")]
_STATES = ("open", "acknowledged", "resolved")
_KINDS = ("gate_failure", "quarantine_rate", "layout_drift", "file_missing", "stale_curve")


@router.get("/alerts", summary="Alerts, newest first")
def alerts(
    services: ServicesDep,
    principal: PrincipalDep,
    state: Annotated[str | None, Query(description=f"One of {', '.join(_STATES)}.")] = None,
    kind: Annotated[str | None, Query(description=f"One of {', '.join(_KINDS)}.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Gate failures, quarantine spikes, layout drift, missing files and stale vendors about
    the vendors you are entitled to, one per condition (``count``: its sightings)."""
    for name, value, known in (("state", state, _STATES), ("kind", kind, _KINDS)):
        if value is not None and value not in known:
            raise RequestError("parameter_invalid", f"{name} must be one of {', '.join(known)}")
    found = services.alerts.list(principal.access, state=state, kind=kind, limit=limit)
    return envelope([dataclasses.asdict(a) for a in found])


@router.post("/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert")
def acknowledge(services: ServicesDep, principal: PrincipalDep, alert_id: _ALERT_ID) -> Response:
    """Someone is on it: the alert stays until resolved (its condition seen again only counts);
    409 ``alert_resolved`` if it is resolved already."""
    return envelope([dataclasses.asdict(services.alerts.acknowledge(principal.access, alert_id))])


@router.post("/alerts/{alert_id}/resolve", summary="Resolve an alert")
def resolve(services: ServicesDep, principal: PrincipalDep, alert_id: _ALERT_ID) -> Response:
    """Close it (a missing file's arrival and a newer published day resolve theirs by
    themselves); the same condition later raises a new alert."""
    return envelope([dataclasses.asdict(services.alerts.resolve(principal.access, alert_id))])


usage = APIRouter(tags=["observability"], dependencies=[requires(ADMIN)], responses=RESPONSES)
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@usage.get("/v1/usage", summary="Your tenant's usage by vendor and month")
def usage_report(
    services: ServicesDep,
    principal: PrincipalDep,
    since: Annotated[str | None, Query(description="First month, YYYY-MM.")] = None,
    until: Annotated[str | None, Query(description="Last month, YYYY-MM.")] = None,
) -> Response:
    """Reads, exports and uploads (requests and rows) by vendor and month: what vendors'
    licences ask of a licensee."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and not _MONTH.match(value):
            raise RequestError(
                "parameter_invalid", f"{name} must be a month YYYY-MM, not {value!r}"
            )
    rows = services.usage.report(principal.access, since=since, until=until)
    return envelope([dataclasses.asdict(r) for r in rows])
