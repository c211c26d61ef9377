"""Who read, exported and uploaded what: counted in memory per request, added to the store now
and then (``aurum.store.usage``), reported per tenant, vendor and month.

A request is counted once, under each vendor it named (``vendor=``), or under ``""`` when it named
none. Rows are the rows the lake answered (a cached answer counts as a request, its rows were
counted when it was read).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from aurum.auth.access import Access
from aurum.store import Store
from aurum.store.usage import UsageKey, UsageKind, UsageRow

__all__ = ["UsageMeter", "usage_kind"]


def usage_kind(method: str, path: str, media_type: str) -> UsageKind | None:
    """What a successful request counts as, if anything (data, not metadata, is counted).

    >>> usage_kind("GET", "/v1/curves/strips", "text/csv"), usage_kind("GET", "/v1/vendors", "")
    ('export', None)
    """
    if method == "POST" and path == "/v1/ingest":
        return "upload"
    if method != "GET" or not path.startswith(("/v1/curves", "/v1/exports", "/v1/datasets/")):
        return None
    if path.startswith("/v1/datasets/") and not path.endswith("/rows"):
        return None
    if path.startswith("/v1/exports") or not media_type.startswith("application/json"):
        return "export"
    return "read"


class UsageMeter:
    """Counts in memory; :meth:`flush` adds the counts to the store (as increments, so several
    processes add up) and starts again."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._counts: dict[UsageKey, tuple[int, int]] = {}

    def count(
        self, tenant_id: str | None, kind: UsageKind, vendors: Iterable[str], rows: int = 0
    ) -> None:
        if tenant_id is None:
            return  # the platform's own work is not a licensee's use
        month = datetime.now(UTC).strftime("%Y-%m")
        with self._lock:
            for vendor in sorted(set(vendors)) or [""]:
                key = UsageKey(tenant_id, month, vendor, kind)
                requests, counted = self._counts.get(key, (0, 0))
                self._counts[key] = (requests + 1, counted + rows)

    def flush(self) -> int:
        """Add what was counted to the store; the keys added. Counts stay if the store fails."""
        with self._lock:
            counts, self._counts = self._counts, {}
        if not counts:
            return 0
        try:
            with self.store.transaction(Access.platform()) as tx:
                tx.add_usage(counts)
        except Exception:
            with self._lock:  # keep them for the next flush
                for key, (requests, rows) in counts.items():
                    held = self._counts.get(key, (0, 0))
                    self._counts[key] = (held[0] + requests, held[1] + rows)
            raise
        return len(counts)

    def report(
        self, access: Access, *, tenant_id: str | None = None, since: str | None = None,
        until: str | None = None,
    ) -> list[UsageRow]:  # fmt: skip
        """The usage rows ``access`` sees (flushing this process's counts first)."""
        self.flush()
        with self.store.transaction(access, write=False) as tx:
            return tx.usage(tenant_id=tenant_id, since=since, until=until)
