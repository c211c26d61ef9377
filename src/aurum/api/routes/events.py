"""``/v1/events`` (pages from a cursor, and a Server-Sent Events stream) and ``/v1/webhooks``.

Readers see their tenant's events and the platform's about vendors they are entitled to. A page
answers ``{"meta": {"count", "next"}, "data": [event, ...]}``: ask again with ``after=next``. The
stream sends each event as ``id: <position>``, ``event: <type>``, ``data: <event JSON>`` and a
comment every 15 s while idle; a reconnecting client resumes from ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from aurum.api.deps import ServicesDep, envelope
from aurum.api.models import LogEnvelope
from aurum.api.routes.objects import RESPONSES
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ADMIN, ANALYST, OPS
from aurum.errors import RequestError
from aurum.events.feed import EventFeed
from aurum.store.outbox import EVENT_TYPES, Event
from aurum.store.webhooks import Webhook

__all__ = ["router"]

router = APIRouter(tags=["events"], responses=RESPONSES)
POLL_S = 0.2  # how often an open stream asks the store for new events
KEEP_ALIVE_S = 15.0

_After = Annotated[
    int, Query(ge=-1, le=2**63 - 1, description="Cursor: the position of the last event handled"
               " (0: from the first; -1: from now on).")
]  # fmt: skip
_Types = Annotated[
    list[str] | None,
    Query(description=f"Only these event types: {', '.join(EVENT_TYPES)} (repeat or comma-join)."),
]


class EventOut(BaseModel):
    id: str = Field(description="Event id: the same on every delivery; de-duplicate by it.")
    position: int = Field(description="Place in the outbox (the cursor).")
    type: str
    key: str = Field(description="Ordering key: one key's events arrive in order.")
    tenant_id: str | None
    vendor: str | None
    run_id: str | None
    occurred_at: datetime
    data: dict[str, Any]


class EventMeta(BaseModel):
    count: int
    next: int = Field(description="Ask again with after=next.")


class EventPageOut(BaseModel):
    meta: EventMeta
    data: list[EventOut]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=8, max_length=2000, description="http(s) URL to POST events to.")
    types: list[str] = Field(default_factory=list, description="Event types (empty: all).")


class WebhookOut(BaseModel):
    id: str
    tenant_id: str | None
    name: str
    url: str
    types: list[str]
    active: bool
    position: int
    attempts: int
    next_attempt_at: datetime | None
    delivered: int
    failed: int
    last_status: int | None
    last_error: str | None
    created_by: str
    created_at: datetime
    secret: str | None = Field(
        None, description="HMAC-SHA256 key of the Aurum-Signature header: in the creation answer"
        " only.",
    )  # fmt: skip


def _types(types: list[str] | None) -> list[str]:
    return [t.strip() for value in types or () for t in value.split(",") if t.strip()]


@router.get(
    "/v1/events", response_model=EventPageOut, summary="Events after a cursor",
    dependencies=[requires(ANALYST, OPS)],
)  # fmt: skip
def events(
    services: ServicesDep,
    principal: PrincipalDep,
    after: _After = 0,
    types: _Types = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Published days, gate results, ingest errors, scenario requests and outputs, valuations
    and alerts, oldest first."""
    page = EventFeed(services.store).page(
        principal.access, after=after, types=_types(types), limit=limit
    )
    return envelope([e.envelope() for e in page.events], next=page.next)


@router.get(
    "/v1/events/stream", summary="Events as Server-Sent Events",
    dependencies=[requires(ANALYST, OPS)],
    responses={200: {"content": {"text/event-stream": {}}, "description": "An event stream."}},
)  # fmt: skip
async def stream(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    after: _After = -1,
    types: _Types = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """The events from now on (or after ``after``, or after ``Last-Event-ID`` on reconnect),
    each as soon as it is committed (checked every 0.2 s)."""
    if last_event_id is not None:
        if not last_event_id.isdigit():
            raise RequestError("cursor_invalid", "Last-Event-ID must be an event position")
        after = int(last_event_id)
    feed, asked = EventFeed(services.store), _types(types)
    first = await run_in_threadpool(feed.page, principal.access, after=after, types=asked)

    async def frames() -> AsyncIterator[bytes]:
        page, idle = first, 0.0
        yield b"retry: 2000\n\n"
        while not await request.is_disconnected():
            for event in page.events:
                yield _frame(event)
            if not page.events:
                await asyncio.sleep(POLL_S)
                idle += POLL_S
                if idle >= KEEP_ALIVE_S:
                    idle = 0.0
                    yield b": keep-alive\n\n"
            page = await run_in_threadpool(
                feed.page, principal.access, after=page.next, types=asked
            )

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


def _frame(event: Event) -> bytes:
    data = orjson.dumps(event.envelope())
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.position, event.type.encode(), data)


hooks = APIRouter(
    prefix="/v1/webhooks", tags=["events"], dependencies=[requires(ADMIN)], responses=RESPONSES
)


def _out(hook: Webhook, *, secret: bool = False) -> dict[str, Any]:
    return {**hook.public(), "secret": hook.secret if secret else None}


@hooks.post("", status_code=201, response_model=WebhookOut, summary="Subscribe a webhook")
def create_webhook(services: ServicesDep, principal: PrincipalDep, body: WebhookIn) -> Response:
    """Events from now on are POSTed to ``url``, signed with the ``secret`` of this answer
    (shown once; see the Aurum-Signature header)."""
    hook = services.webhooks.create(
        principal.access, name=body.name, url=body.url, types=_types(body.types)
    )
    return Response(orjson.dumps(_out(hook, secret=True)), 201, media_type="application/json")


@hooks.get("", response_model=LogEnvelope[WebhookOut], summary="Your tenant's webhooks")
def list_webhooks(services: ServicesDep, principal: PrincipalDep) -> Response:
    return envelope([_out(h) for h in services.webhooks.list(principal.access)])


_Id = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]{32}$")]


@hooks.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook and its progress")
def get_webhook(services: ServicesDep, principal: PrincipalDep, webhook_id: _Id) -> Response:
    hook = services.webhooks.get(principal.access, webhook_id)
    return Response(orjson.dumps(_out(hook)), media_type="application/json")


@hooks.delete("/{webhook_id}", status_code=204, summary="Unsubscribe a webhook")
def delete_webhook(services: ServicesDep, principal: PrincipalDep, webhook_id: _Id) -> Response:
    services.webhooks.delete(principal.access, webhook_id)
    return Response(status_code=204)
