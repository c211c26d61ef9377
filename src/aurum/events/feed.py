"""Reading the outbox over HTTP: pages from a cursor, and a wait for the next event (SSE).

A reader keeps the ``position`` of the last event it handled and asks for what came after; the
answer's ``next`` is the cursor to ask with next time (it moves past events the reader may not see
too, so a tenant's empty pages still advance). Positions only grow in commit order (see
``aurum.store.outbox``), so a cursor never skips an event. Server-Sent Events are the same pages,
waited for: :meth:`EventFeed.wait` polls the store (a cheap indexed query) every ``poll_s`` until
something arrives, so a publish reaches an open stream within a fraction of a second, from any
process writing the store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from aurum.auth.access import Access
from aurum.errors import RequestError
from aurum.store import Store
from aurum.store.outbox import EVENT_TYPES, Event

__all__ = ["EventFeed", "EventPage", "check_types"]


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    next: int  # the cursor for the next page


def check_types(types: Sequence[str] | None) -> tuple[str, ...]:
    """The event types asked for, each known (``RequestError`` names the unknown ones)."""
    asked = tuple(t for t in types or () if t)
    unknown = sorted(set(asked) - set(EVENT_TYPES))
    if unknown:
        raise RequestError(
            "event_type_unknown", f"unknown event type(s): {', '.join(unknown)}",
            known=list(EVENT_TYPES),
        )  # fmt: skip
    return asked


class EventFeed:
    """The outbox as a reader sees it (its tenant's events and the platform's it is entitled to)."""

    def __init__(self, store: Store, *, poll_s: float = 0.2) -> None:
        self.store = store
        self.poll_s = poll_s

    def page(
        self, access: Access, *, after: int = 0, types: Sequence[str] | None = None,
        limit: int = 100,
    ) -> EventPage:  # fmt: skip
        """The events after ``after`` (oldest first, at most ``limit``); ``after=-1`` starts at
        the newest event, for a reader that wants only what happens from now on."""
        if after < -1:
            raise RequestError("cursor_invalid", f"after must be -1 or a position, not {after}")
        asked = check_types(types)
        with self.store.transaction(access, write=False) as tx:
            newest = tx.newest_event()  # first: an event committed meanwhile waits for next time
            if after == -1:
                return EventPage([], newest)
            found = tx.events(after=after, types=asked or None, limit=limit)
        events = [e for e in found if e.position <= newest]
        # a full page: go on after its last; else nothing more for this reader up to ``newest``
        end = events[-1].position if len(found) == limit and events else max(after, newest)
        return EventPage(events, end)

    def wait(
        self, access: Access, *, after: int, types: Sequence[str] | None = None,
        limit: int = 100, timeout: float = 15.0,
    ) -> EventPage:  # fmt: skip
        """The next page after ``after``, waiting up to ``timeout`` seconds for one to exist
        (an empty page on timeout: the stream sends a keep-alive then)."""
        deadline = time.monotonic() + timeout
        while True:
            page = self.page(access, after=after, types=types, limit=limit)
            if page.events or time.monotonic() >= deadline:
                return page
            after = page.next
            time.sleep(self.poll_s)
