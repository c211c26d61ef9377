"""Alerts: raised from the outbox and the vendor schedule, one per condition, told once.

Two passes, both safe to run in several processes at once (the server and the workers run them
every ``AURUM_ALERTS__CHECK_INTERVAL_S``; ``aurum alerts check`` runs them now):

* :meth:`Alerts.evaluate` reads the outbox after its cursor (``alerts``): a ``qa.result`` whose
  gates blocked the publish raises ``gate_failure``; a published day (``curve.observation``)
  quarantining more than ``AURUM_ALERTS__QUARANTINE_RATE`` of its cells raises
  ``quarantine_rate``; a file whose layout differs from the vendor's previous file raises
  ``layout_drift`` (:mod:`aurum.domain.layout`). A file that arrives resolves its day's
  ``file_missing``, a newer published day the vendor's ``stale_curve``.
* :meth:`Alerts.check` asks the vendor schedule (:mod:`aurum.domain.schedule`): a business day of
  the last week whose cut-off has passed with no file raises ``file_missing``; a vendor whose
  newest published as-of is ``AURUM_ALERTS__STALE_DAYS`` business days behind raises
  ``stale_curve``. Only vendors Aurum has ingested before are checked, from their first day on.

A condition raised again is a sighting of the open alert (its ``count`` grows), never a second
alert: the store keeps one unresolved alert per key. Each new alert writes an ``alert`` event in
the same transaction and, after it commits, is posted to ``AURUM_ALERTS__WEBHOOK_URL`` (a Slack
incoming webhook's ``{"text": ...}``) with a short timeout — a receiver that is down or slow
costs a counted failure, never an ingest's time (the passes run apart from ingests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from aurum.alerts import rules
from aurum.alerts.rules import AlertSpec
from aurum.auth.access import Access
from aurum.config import AlertSettings
from aurum.domain import schedule
from aurum.errors import Conflict
from aurum.store import Run, Store, Tx
from aurum.store.alerts import Alert

__all__ = ["Alerts", "Pass"]

log = logging.getLogger("aurum.alerts")
CURSOR = "alerts"
LOOKBACK = timedelta(days=7)  # how far back a missing file is still worth an alert
WATCHED = ("curve.observation", "qa.result", "ingest.error")
_PLATFORM = Access.platform("aurum:alerts")


@dataclass(frozen=True)
class Pass:
    raised: list[Alert]  # new alerts
    seen: int  # sightings of alerts already open
    resolved: int
    notified: int  # new alerts the webhook took
    notify_failed: int


class Alerts:
    def __init__(
        self, store: Store, settings: AlertSettings, *, client: httpx.Client | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self.store = store
        self.settings = settings
        self.client = client or httpx.Client(timeout=5.0)
        self.clock = clock
        self.notify_failures = 0

    def close(self) -> None:
        self.client.close()

    def run_once(self) -> Pass:
        """Both passes: the outbox's new events, then the schedule."""
        first, second = self.evaluate(), self.check()
        return Pass(
            first.raised + second.raised, first.seen + second.seen,
            first.resolved + second.resolved, first.notified + second.notified,
            first.notify_failed + second.notify_failed,
        )  # fmt: skip

    # -- the outbox ------------------------------------------------------------------------------

    def evaluate(self, *, batch: int = 500) -> Pass:
        """Alerts from the events after this pass's cursor, which then moves past them."""
        specs: list[AlertSpec] = []
        arrived: list[tuple[str, str]] = []  # (vendor, as-of) files received
        published: set[str] = set()  # vendors with a newly published day
        with self.store.transaction(_PLATFORM, write=False) as tx:
            after = tx.cursor(CURSOR)
            events = tx.events(after=after, types=WATCHED, limit=batch)
            for event in events:
                data = event.payload
                if event.vendor and data.get("asof"):
                    arrived.append((event.vendor, data["asof"]))
                if event.type == "qa.result" and (spec := rules.gate_failure(data)):
                    specs.append(spec)
                if event.type == "curve.observation":
                    published.add(event.vendor or "")
                    if spec := rules.quarantine_rate(data, self.settings.quarantine_rate):
                        specs.append(spec)
                if event.type in ("curve.observation", "ingest.error") and event.run_id:
                    specs += self._drift(tx, event.run_id)
        resolve = [f"file_missing|{vendor}|{asof}" for vendor, asof in dict.fromkeys(arrived)]
        outcome = self._apply(specs, resolve=resolve, stale_of=published)
        if events:
            with self.store.transaction(_PLATFORM) as tx:
                tx.move_cursor(CURSOR, events[-1].position)
        return outcome

    def _drift(self, tx: Tx, run_id: str) -> list[AlertSpec]:
        """The layout drift of an ingest run against the vendor's previous parsed file."""
        run = tx.get_run(run_id)
        layout = run.result.get("layout")
        if run.kind != "ingest" or not run.vendor or not layout:
            return []
        before = _previous(tx.runs(kind="ingest", vendor=run.vendor, limit=50), run)
        if before is None:
            return []
        spec = rules.layout_drift(
            run.vendor, run.asof.isoformat() if run.asof else None, run.run_id,
            before.result["layout"], layout, previous_run=before.run_id,
        )  # fmt: skip
        return [spec] if spec else []

    # -- the schedule ----------------------------------------------------------------------------

    def check(self) -> Pass:
        """Missing files past their cut-off, and vendors gone stale, as of now."""
        now = self.clock()
        specs: list[AlertSpec] = []
        with self.store.transaction(_PLATFORM, write=False) as tx:
            for vendor in schedule.vendors():
                runs = tx.runs(kind="ingest", vendor=vendor, limit=1000)
                days = [r.asof for r in runs if r.asof is not None]
                if not days:
                    continue  # never ingested here: nothing is owed yet
                start = max(min(days), (now - LOOKBACK).date())
                received = set(days)
                due = [f for f in _owed(vendor, start, now.date()) if f.overdue(now)]
                specs += [rules.file_missing(vendor, f.asof, f.cutoff) for f in due
                          if f.asof not in received]  # fmt: skip
                published = [r.asof for r in runs if r.status == "published" and r.asof]
                if published:
                    newest = max(published)
                    behind = _owed(vendor, newest + timedelta(days=1), now.date())
                    missed = sum(1 for f in behind if f.overdue(now))
                    if spec := rules.stale_curve(vendor, newest, missed, self.settings.stale_days):
                        specs.append(spec)
        return self._apply(specs)

    # -- raising, resolving, telling -------------------------------------------------------------

    def _apply(
        self, specs: Iterable[AlertSpec], *, resolve: Iterable[str] = (),
        stale_of: Iterable[str] = (),
    ) -> Pass:  # fmt: skip
        raised: list[Alert] = []
        seen = resolved = 0
        for spec in specs:
            alert, new = self._raise(spec)
            if new:
                raised.append(alert)
            else:
                seen += 1
        with self.store.transaction(_PLATFORM) as tx:
            doomed = [a for key in resolve if (a := tx.open_alert(key)) is not None]
            vendors = set(stale_of)
            doomed += [a for a in tx.alerts(kind="stale_curve", limit=1000)
                       if a.vendor in vendors and a.state != "resolved"]  # fmt: skip
            for alert in doomed:
                _tell(tx, tx.resolve_alert(alert.id))
                resolved += 1
        notified = failed = 0
        for alert in raised:
            if self.settings.webhook_url:
                ok = self._notify(alert)
                notified, failed = notified + ok, failed + (not ok)
        return Pass(raised, seen, resolved, notified, failed)

    def _raise(self, spec: AlertSpec) -> tuple[Alert, bool]:
        """Raise ``spec`` (its event in the same transaction when new); a concurrent raiser of
        the same key makes this a sighting."""
        for attempt in (1, 2):
            try:
                with self.store.transaction(_PLATFORM) as tx:
                    alert, new = tx.raise_alert(
                        key=spec.key, kind=spec.kind, severity=spec.severity,
                        summary=spec.summary, details=spec.details, vendor=spec.vendor,
                    )  # fmt: skip
                    if new:
                        _tell(tx, alert)
                return alert, new
            except Conflict:  # another process raised it first: now it is a sighting
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _notify(self, alert: Alert) -> bool:
        """Post a new alert to the Slack-compatible webhook: whether it was taken."""
        text = f"[{alert.severity}] {alert.summary} (alert {alert.id[:8]}, {alert.kind})"
        for attempt in range(2):
            try:
                answer = self.client.post(self.settings.webhook_url or "", json={"text": text})
                if answer.is_success:
                    return True
                reason = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}: {exc}"
            log.warning("alert webhook attempt %d failed: %s", attempt + 1, reason)
        self.notify_failures += 1
        return False

    # -- people ----------------------------------------------------------------------------------

    def list(
        self, access: Access, *, state: str | None = None, kind: str | None = None,
        limit: int = 100,
    ) -> list[Alert]:  # fmt: skip
        with self.store.transaction(access, write=False) as tx:
            return tx.alerts(state=state, kind=kind, limit=limit)

    def acknowledge(self, access: Access, alert_id: str) -> Alert:
        """Someone is on it (409 ``alert_resolved`` if it is closed already)."""
        return self._change(access, alert_id, "acknowledge")

    def resolve(self, access: Access, alert_id: str) -> Alert:
        return self._change(access, alert_id, "resolve")

    def _change(self, access: Access, alert_id: str, action: str) -> Alert:
        """A caller who may see the alert changes it. The platform's alerts are shared by
        every tenant entitled to their vendor, so the change is made as the platform, acting as
        the caller (the audit entry names both)."""
        with self.store.transaction(access, write=False) as tx:
            tx.alert(alert_id)  # 404 unless ``access`` sees it
        acting = Access.platform(access.actor) if access.tenant_id is not None else access
        with self.store.transaction(acting) as tx:
            change = tx.acknowledge_alert if action == "acknowledge" else tx.resolve_alert
            alert = change(alert_id)
            tx.audit(f"alert.{action}", target=alert_id,
                     details={"key": alert.key, "tenant": access.tenant_id})  # fmt: skip
            _tell(tx, alert)
        return alert


def _tell(tx: Tx, alert: Alert) -> None:
    """The ``alert`` event of ``alert``'s state now (the shape of ``aurum.alert.v1``)."""
    payload: dict[str, Any] = {
        "alert_id": alert.id, "kind": alert.kind, "severity": alert.severity,
        "state": alert.state, "summary": alert.summary, "count": alert.count,
        "details": alert.details,  # JSON text in Avro (the schema says so)
    }  # fmt: skip
    tx.emit("alert", key=alert.key, payload=payload, vendor=alert.vendor,
            tenant_id=alert.tenant_id)  # fmt: skip


def _owed(vendor: str, start: date, end: date) -> list[schedule.ExpectedFile]:
    """The files ``vendor`` owes from ``start`` to ``end`` (none when the range is empty)."""
    return schedule.expected_asofs(vendor, start, end) if start <= end else []


def _previous(runs: list[Run], run: Run) -> Run | None:
    """The vendor's parsed file before ``run`` (newest first in ``runs``)."""
    started = run.started_at or run.queued_at
    for other in runs:
        when = other.started_at or other.queued_at
        if other.run_id != run.run_id and when < started and other.result.get("layout"):
            return other
    return None
