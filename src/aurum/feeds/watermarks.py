"""Where each feed's collection has got to: the last day collected, per source, in the store.

A watermark is a consumer cursor of the store (``feed:{source}``, the day as its ordinal), so it
never moves backwards (two collectors advancing at once keep the later day) and survives a
restart; ``/metrics`` shows it as ``aurum_feed_watermark_days`` (days behind today), not as an
event consumer's lag.
"""

from __future__ import annotations

from datetime import date

from aurum.auth.access import Access
from aurum.store import Store
from aurum.store.outbox import WATERMARK_PREFIX as PREFIX

__all__ = ["PREFIX", "StoreWatermarks"]


class StoreWatermarks:
    """``get(source)`` / ``advance(source, day)`` on one store (the collector's protocol)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def get(self, source: str) -> date | None:
        with self.store.transaction(Access.platform(), write=False) as tx:
            position = tx.cursor(PREFIX + source)
        return date.fromordinal(position) if position > 0 else None

    def advance(self, source: str, day: date) -> None:
        with self.store.transaction(Access.platform()) as tx:
            tx.move_cursor(PREFIX + source, day.toordinal())
