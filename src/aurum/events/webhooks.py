"""Webhooks: each subscriber gets its events by HTTP POST, signed, in order, at least once.

A delivery is the event's JSON envelope (what ``/v1/events`` shows) with headers naming it::

    Aurum-Event-Id: 5f0c...        the same on every attempt: receivers drop repeats by it
    Aurum-Event-Type: curve.observation
    Aurum-Signature: t=1764806400,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

:func:`verify` is the receiver's check (signature and age). A webhook receives the events its
owner may read (a tenant's own and the platform's about vendors it is entitled to), one at a time
in outbox order; a failure is retried after 1, 2, 4 … seconds (at most ten minutes apart) and
given up after ``events.webhook_max_attempts`` tries, counted. Delivery happens on a background
loop (:class:`Deliveries`), never inside a publish: a receiver that is down or slow delays only
its own webhook.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
import orjson

from aurum.auth.access import Access
from aurum.config import EventSettings
from aurum.errors import RequestError
from aurum.events.feed import check_types
from aurum.store import Store
from aurum.store.outbox import Event
from aurum.store.webhooks import Webhook

__all__ = ["Deliveries", "DeliveryReport", "Webhooks", "sign", "verify"]

log = logging.getLogger("aurum.events.webhooks")
MAX_WAIT = timedelta(minutes=10)
CLAIM = timedelta(seconds=60)  # a deliverer's hold on one webhook while it posts
BATCH = 100  # events one pass delivers to one webhook at most


def sign(secret: str, body: bytes, at: int) -> str:
    """The ``Aurum-Signature`` header of ``body`` sent at ``at`` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


def verify(secret: str, body: bytes, header: str, *, tolerance_s: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret``, sent less than ``tolerance_s`` ago.

    >>> header = sign("s3cret", b'{"id":"1"}', int(time.time()))
    >>> verify("s3cret", b'{"id":"1"}', header), verify("other", b'{"id":"1"}', header)
    (True, False)
    """
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        at = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(time.time() - at) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, at), f"t={at},v1={parts.get('v1', '')}")


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    retried: int = 0  # attempts that failed and will be tried again
    given_up: int = 0


class Webhooks:
    """Create, list and delete a caller's webhooks."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, access: Access, *, name: str, url: str, types: Sequence[str] = ()) -> Webhook:
        """A webhook for the events from now on (its secret is in the answer, then never shown)."""
        _check_url(url)
        if not name.strip():
            raise RequestError("webhook_invalid", "give the webhook a name")
        asked = check_types(types)
        with self.store.transaction(access) as tx:
            hook = tx.create_webhook(
                name=name.strip(), url=url, types=asked, start=tx.newest_event()
            )
            tx.audit("webhook.create", target=hook.id, details={"url": url, "types": list(asked)})
        return hook

    def list(self, access: Access) -> list[Webhook]:
        with self.store.transaction(access, write=False) as tx:
            return tx.webhooks()

    def get(self, access: Access, webhook_id: str) -> Webhook:
        with self.store.transaction(access, write=False) as tx:
            return tx.webhook(webhook_id)

    def delete(self, access: Access, webhook_id: str) -> None:
        with self.store.transaction(access) as tx:
            tx.delete_webhook(webhook_id)
            tx.audit("webhook.delete", target=webhook_id)


class Deliveries:
    """One pass over the webhooks that are due: claim each, post its next events, record."""

    def __init__(
        self, store: Store, settings: EventSettings, *, client: httpx.Client | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.client = client or httpx.Client(timeout=settings.webhook_timeout_s)

    def close(self) -> None:
        self.client.close()

    def run_once(self, now: datetime | None = None) -> DeliveryReport:
        now = now or datetime.now(UTC)
        with self.store.transaction(Access.platform()) as tx:
            due = tx.due_webhooks(now)
        total = DeliveryReport()
        for hook in due:
            with self.store.transaction(Access.platform()) as tx:
                if not tx.claim_webhook(hook.id, now, now + CLAIM):
                    continue  # another process has it, or it was deleted
            report = self._deliver(hook)
            total = DeliveryReport(
                total.delivered + report.delivered, total.retried + report.retried,
                total.given_up + report.given_up,
            )  # fmt: skip
        return total

    def _deliver(self, hook: Webhook) -> DeliveryReport:
        owner = self._owner(hook)
        with self.store.transaction(owner, write=False) as tx:
            events = tx.events(after=hook.position, types=hook.types or None, limit=BATCH)
        delivered = given_up = 0
        for event in events:
            status, error = self._post(hook, event)
            ok = status is not None and 200 <= status < 300
            last_try = hook.attempts + 1 >= self.settings.webhook_max_attempts
            wait = min(timedelta(seconds=2**hook.attempts), MAX_WAIT)
            with self.store.transaction(Access.platform()) as tx:
                hook = tx.record_delivery(
                    hook.id, position=event.position, status=status, error=error,
                    done=ok or last_try, given_up=not ok,
                    retry_at=None if ok or last_try else datetime.now(UTC) + wait,
                )  # fmt: skip
            if not ok and not last_try:
                return DeliveryReport(delivered, 1, given_up)
            delivered, given_up = delivered + ok, given_up + (not ok)
            if not ok:
                log.warning("webhook %s gave up event %s: %s", hook.id, event.event_id, error)
        if not events:  # nothing to send: release the claim, move past unseen positions
            with self.store.transaction(Access.platform()) as tx:
                tx.record_delivery(hook.id, position=hook.position, status=hook.last_status,
                                   error=hook.last_error, done=True, counted=False)  # fmt: skip
        return DeliveryReport(delivered, 0, given_up)

    def _post(self, hook: Webhook, event: Event) -> tuple[int | None, str | None]:
        body = orjson.dumps(event.envelope())
        headers = {
            "Content-Type": "application/json", "User-Agent": "aurum-webhooks",
            "Aurum-Event-Id": event.event_id, "Aurum-Event-Type": event.type,
            "Aurum-Signature": sign(hook.secret, body, int(time.time())),
        }  # fmt: skip
        try:
            answer = self.client.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:500]
        return answer.status_code, None if answer.is_success else answer.text[:200]

    def _owner(self, hook: Webhook) -> Access:
        """Whose events the webhook gets: its tenant's, with the tenant's entitlements now."""
        if hook.tenant_id is None:
            return Access.platform()
        with self.store.transaction(Access.platform(), write=False) as tx:
            vendors = tx.tenant(hook.tenant_id).vendors
        return Access(hook.tenant_id, vendors=frozenset(vendors), actor=f"webhook:{hook.id}")


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RequestError("webhook_url_invalid", f"not an http(s) URL: {url[:200]!r}")
