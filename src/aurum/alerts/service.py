"""Alerts: raised from the outbox and the vendor schedule, one per condition, told once.

Two passes, both safe to run in several processes at once (the server and the workers run them
every ``AURUM_ALERTS__CHECK_INTERVAL_S``; ``aurum alerts check`` runs them now):

* :meth:`Alerts.evaluate` reads the outbox after its cursor (``alerts``): a ``qa.result`` whose
  gates blocked the publish raises ``gate_failure``; a published day (``curve.observation``)
  quarantining more than ``AURUM_ALERTS__QUARANTINE_RATE`` of its cells raises
  ``quarantine_rate``; a file (published, or failed once parsed) whose layout fingerprint
  differs from the vendor's previous file's raises ``layout_drift`` (:mod:`aurum.domain.layout`;
  the previous file is the one before it in (as-of, arrival) order). A published day resolves
  its ``file_missing`` and, when newer than the vendor's newest, its ``stale_curve``. Events
  older than :data:`HORIZON` are read past without alerting: a first start on an old outbox
  does not page anyone about last year.
* :meth:`Alerts.check` asks the vendor schedule (:mod:`aurum.domain.schedule`): each of the
  vendor's last :data:`LOOKBACK` business days whose cut-off has passed with no file published
  (nor a duplicate of a published one; one still being ingested is waited for) raises
  ``file_missing`` — again at every check, as a sighting — and one published since resolves it;
  a vendor whose newest published as-of is ``AURUM_ALERTS__STALE_DAYS`` overdue business days
  behind raises ``stale_curve``. Only vendors Aurum has ingested are checked, and a vendor new
  here (fewer than :data:`_YOUNG` ingests) owes nothing before its first as-of day.

A condition raised again is a sighting of the open alert (its ``count`` grows), never a second
alert: the store keeps one unresolved alert per key, and a concurrent raiser of the same key
(the store's ``store_conflict``) becomes a sighting. Each new alert writes an ``alert`` event
in the same transaction and, after it commits, is posted to ``AURUM_ALERTS__WEBHOOK_URL`` (a
Slack incoming webhook's ``{"text": ...}``) with a short timeout: a receiver that fails is tried
once more, one that is down or hangs is given up for the rest of the pass, so a pass spends at
most about one :data:`TIMEOUT` on it. Failures are counted, never raised; the passes run apart
from ingests, so no webhook can slow or fail a publish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from aurum.alerts import rules
from aurum.alerts.rules import AlertSpec
from aurum.auth.access import Access
from aurum.config import AlertSettings
from aurum.domain import schedule
from aurum.errors import Conflict, NotFound
from aurum.store import Run, Store, Tx
from aurum.store.alerts import Alert

__all__ = ["HORIZON", "LOOKBACK", "TIMEOUT", "Alerts", "Pass"]

log = logging.getLogger("aurum.alerts")
CURSOR = "alerts"
LOOKBACK = 5  # a vendor's last business days a missing file is raised (and seen again) for
HORIZON = timedelta(days=7)  # events older than this are read past without alerting
TIMEOUT = httpx.Timeout(3.0, connect=2.0)  # the webhook's, per request
WATCHED = ("curve.observation", "qa.result", "ingest.error")
RECEIVED = ("published", "duplicate")  # a day's file is there (a duplicate: published before)
IN_FLIGHT = ("queued", "running", "staged")
_BATCH, _BATCHES = 500, 20  # events per read, reads per pass (the rest: next pass)
_YOUNG = 20  # a vendor with fewer ingests is new here: it owes nothing before its first as-of
_STALE_SCAN = 20  # business days looked past the stale threshold for the newest published day
_PREVIOUS_DAYS = 31  # how far back a file's previous file is looked for
_PLATFORM = Access.platform("aurum:alerts")


@dataclass(frozen=True)
class Pass:
    """What one pass did."""

    raised: list[Alert] = field(default_factory=list)  # new alerts
    seen: int = 0  # sightings of alerts already open
    resolved: int = 0
    notified: int = 0  # new alerts the webhook took
    notify_failed: int = 0

    def __add__(self, other: Pass) -> Pass:
        return Pass(
            self.raised + other.raised, self.seen + other.seen, self.resolved + other.resolved,
            self.notified + other.notified, self.notify_failed + other.notify_failed,
        )  # fmt: skip


class Alerts:
    """The alert service of one process (the server, a worker, the CLI): ``clock`` is when
    "now" is for cut-offs and the events' age; ``client`` posts to the webhook."""

    def __init__(
        self, store: Store, settings: AlertSettings, *, client: httpx.Client | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self.store = store
        self.settings = settings
        self.client = client or httpx.Client(timeout=TIMEOUT)
        self.clock = clock
        self.notify_failures = 0  # posts given up, over this service's life

    def close(self) -> None:
        self.client.close()

    def run_once(self) -> Pass:
        """Both passes: the outbox's new events, then the schedule."""
        return self.evaluate() + self.check()

    # -- the outbox ------------------------------------------------------------------------------

    def evaluate(self, *, batch: int = _BATCH) -> Pass:
        """Alerts from the events after this pass's cursor, which then moves past them (a few
        batches at most: a backlog is caught up over several passes)."""
        done = Pass()
        for _ in range(_BATCHES):
            found, more = self._evaluate(batch)
            done += found
            if not more:
                break
        return done

    def _evaluate(self, batch: int) -> tuple[Pass, bool]:
        horizon = self.clock() - HORIZON
        specs: list[AlertSpec] = []
        resolve: list[str] = []
        newest: dict[str, str] = {}  # vendor -> its newest as-of published in these events
        with self.store.transaction(_PLATFORM, write=False) as tx:
            events = tx.events(after=tx.cursor(CURSOR), types=WATCHED, limit=batch)
            for event in events:
                data, vendor = event.payload, event.vendor
                if event.type == "curve.observation" and vendor and data.get("asof"):
                    resolve.append(rules.file_missing_key(vendor, data["asof"]))
                    newest[vendor] = max(newest.get(vendor, ""), data["asof"])
                if event.occurred_at < horizon:
                    continue
                if event.type == "qa.result" and (spec := rules.gate_failure(data)):
                    specs.append(spec)
                if event.type == "curve.observation" and (
                    spec := rules.quarantine_rate(data, self.settings.quarantine_rate)
                ):
                    specs.append(spec)
                # a published file, or one that failed (once parsed, it has a fingerprint)
                if event.type in ("curve.observation", "ingest.error") and event.run_id:
                    specs += self._drift(tx, event.run_id)
        done = self._apply(specs, resolve=resolve, newer=newest)
        if events:
            self._move_cursor(events[-1].position)
        return done, len(events) == batch

    def _move_cursor(self, position: int) -> None:
        """Past ``position``; two evaluators creating the cursor at once: the second moves it."""
        for attempt in (1, 2):
            try:
                with self.store.transaction(_PLATFORM) as tx:
                    tx.move_cursor(CURSOR, position)
                return
            except Conflict as exc:
                if attempt == 2 or exc.code != "store_conflict":
                    raise

    def _drift(self, tx: Tx, run_id: str) -> list[AlertSpec]:
        """The layout drift of an ingest run against the vendor's previous file."""
        try:
            run = tx.get_run(run_id)
        except NotFound:  # cleaned up since: nothing to compare (and no event to stall on)
            return []
        layout = run.result.get("layout")
        if run.kind != "ingest" or not run.vendor or run.asof is None or not layout:
            return []
        before = _previous(tx, run)
        if before is None:
            return []
        spec = rules.layout_drift(
            run.vendor, run.asof.isoformat(), run.run_id, before.result["layout"], layout,
            previous_run=before.run_id,
        )  # fmt: skip
        return [spec] if spec else []

    # -- the schedule ----------------------------------------------------------------------------

    def check(self) -> Pass:
        """Missing files past their cut-off, and vendors gone stale, as of now."""
        now = self.clock()
        specs: list[AlertSpec] = []
        resolve: list[str] = []
        with self.store.transaction(_PLATFORM, write=False) as tx:
            for vendor in schedule.vendors():
                found, settled = self._check(tx, vendor, now)
                specs += found
                resolve += settled
        return self._apply(specs, resolve=resolve)

    def _check(self, tx: Tx, vendor: str, now: datetime) -> tuple[list[AlertSpec], list[str]]:
        """One vendor's missing files and staleness: the alerts to raise, the keys to resolve."""
        recent = tx.runs(kind="ingest", vendor=vendor, limit=_YOUNG)
        days = [r.asof for r in recent if r.asof is not None]
        if not days:
            return [], []  # never ingested here (or never with an as-of day): nothing is owed
        first = min(days) if len(recent) < _YOUNG else None
        stale_days = self.settings.stale_days
        owed = _overdue(vendor, now, first, max(LOOKBACK, stale_days) + _STALE_SCAN)
        specs: list[AlertSpec] = []
        resolve: list[str] = []
        newest: date | None = None
        missed = 0
        for i, due in enumerate(owed):  # newest first
            files = tx.runs(kind="ingest", vendor=vendor, asof=due.asof, limit=100)
            received = any(r.status in RECEIVED for r in files)
            if i < LOOKBACK:
                if received:
                    resolve.append(rules.file_missing_key(vendor, due.asof))
                elif not any(r.status in IN_FLIGHT for r in files):
                    failed = [r.run_id for r in files if r.status == "failed"]
                    specs.append(rules.file_missing(vendor, due.asof, due.cutoff, failed=failed))
            if newest is None:
                if received:
                    newest = due.asof
                else:
                    missed += 1
            if newest is not None and i >= LOOKBACK - 1:
                break
            if newest is None and missed >= stale_days + _STALE_SCAN:
                break
        if spec := rules.stale_curve(vendor, newest, missed, stale_days):
            specs.append(spec)
        else:
            resolve.append(rules.stale_curve_key(vendor))
        return specs, resolve

    # -- raising, resolving, telling -------------------------------------------------------------

    def _apply(
        self, specs: Iterable[AlertSpec], *, resolve: Iterable[str] = (),
        newer: Mapping[str, str] | None = None,
    ) -> Pass:  # fmt: skip
        """Raise ``specs``, resolve the open alerts of the keys ``resolve`` and the stale
        vendors ``newer`` published a newer as-of of, then post the new alerts."""
        raised: list[Alert] = []
        seen = resolved = 0
        for spec in specs:
            alert, new = self._raise(spec)
            if new:
                raised.append(alert)
            else:
                seen += 1
        keys = list(dict.fromkeys(resolve))
        if keys or newer:
            with self.store.transaction(_PLATFORM, write=False) as tx:
                doomed = _settled(tx, keys, newer or {})
            if doomed:  # written only when there is something to resolve, checked again then
                with self.store.transaction(_PLATFORM) as tx:
                    for alert in _settled(tx, [a.key for a in doomed], newer or {}):
                        if tx.lock_alert(alert.id).state == "resolved":
                            continue  # another process closed it meanwhile: told once
                        _tell(tx, tx.resolve_alert(alert.id))
                        resolved += 1
        notified, failed = self._notify(raised)
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
            except Conflict as exc:  # another process raised it first: now it is a sighting
                if attempt == 2 or exc.code != "store_conflict":
                    raise
        raise AssertionError("unreachable")

    def _notify(self, raised: list[Alert]) -> tuple[int, int]:
        """Post each new alert to the webhook: (taken, given up). A receiver that is down or
        hangs is not tried again in this pass."""
        if not self.settings.webhook_url or not raised:
            return 0, 0
        taken = 0
        for i, alert in enumerate(raised):
            ok, reachable = self._post(self.settings.webhook_url, alert)
            taken += ok
            if not reachable:
                log.warning("alert webhook unreachable: %d alert(s) not posted", len(raised) - i)
                break
        failed = len(raised) - taken
        self.notify_failures += failed
        return taken, failed

    def _post(self, url: str, alert: Alert) -> tuple[bool, bool]:
        """One alert to a Slack-compatible webhook, tried twice: (taken, receiver reachable)."""
        text = f"[{alert.severity}] {alert.summary} (alert {alert.id[:8]}, {alert.kind})"
        for attempt in (1, 2):
            try:
                answer = self.client.post(url, json={"text": text})
            except (httpx.TimeoutException, httpx.ConnectError) as exc:
                log.warning("alert webhook: %s: %s", type(exc).__name__, exc)
                return False, False
            except httpx.HTTPError as exc:
                log.warning("alert webhook attempt %d: %s: %s", attempt, type(exc).__name__, exc)
                continue
            if answer.is_success:
                return True, True
            log.warning("alert webhook attempt %d: HTTP %d", attempt, answer.status_code)
            if answer.status_code < 500 and answer.status_code != 429:
                break  # the receiver refuses it: asking again will not help
        return False, True

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


def _settled(tx: Tx, keys: Iterable[str], newer: Mapping[str, str]) -> list[Alert]:
    """The open alerts of ``keys``, and of the stale vendors that ``newer`` names a newer
    published as-of of (each once)."""
    found = {a.id: a for key in keys if (a := tx.open_alert(key)) is not None}
    for vendor, asof in newer.items():
        stale = tx.open_alert(rules.stale_curve_key(vendor))
        if stale is not None and (stale.details.get("newest_asof") or "") < asof:
            found[stale.id] = stale
    return list(found.values())


def _overdue(
    vendor: str, now: datetime, first: date | None, count: int
) -> list[schedule.ExpectedFile]:
    """``vendor``'s last ``count`` business days whose cut-off has passed at ``now``, newest
    first, none before ``first``."""
    start = now.date() - timedelta(days=2 * count + 14)  # weekends and holidays between
    if first is not None:
        start = max(start, first)
    if start > now.date():
        return []
    owed = [f for f in schedule.expected_asofs(vendor, start, now.date()) if f.overdue(now)]
    return owed[::-1][:count]


def _previous(tx: Tx, run: Run) -> Run | None:
    """The vendor's file before ``run`` that has a fingerprint: an earlier file of its as-of
    day, else the newest file of the nearest older as-of day (a month back at most)."""
    assert run.vendor is not None and run.asof is not None
    arrived = run.started_at or run.queued_at

    def fingerprinted(day: date) -> list[Run]:
        files = tx.runs(kind="ingest", vendor=run.vendor, asof=day, limit=100)
        return [r for r in files if r.run_id != run.run_id and r.result.get("layout")]

    same = [r for r in fingerprinted(run.asof) if (r.started_at or r.queued_at) < arrived]
    if same:
        return max(same, key=lambda r: r.started_at or r.queued_at)
    for back in range(1, _PREVIOUS_DAYS + 1):
        if found := fingerprinted(run.asof - timedelta(days=back)):
            return max(found, key=lambda r: r.started_at or r.queued_at)
    return None
