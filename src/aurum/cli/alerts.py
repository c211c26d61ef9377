"""``aurum alerts``: the operator's alerts — list, acknowledge, resolve, check now.

The commands act as the platform, through the same service the server's and the workers'
background checks use (``aurum.alerts.Alerts``). ``aurum alerts check`` runs both passes (the
outbox's new events, then the vendor schedule) here and prints what it raised.
"""

from __future__ import annotations

import dataclasses
from contextlib import closing
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

if TYPE_CHECKING:
    from aurum.alerts import Alerts
    from aurum.cli.context import Context
    from aurum.store.alerts import Alert

__all__ = ["alerts"]

alerts = typer.Typer(help="Alerts: list, acknowledge, resolve, check now.")
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


def _service(context: Context) -> Alerts:
    from aurum.alerts import Alerts

    return Alerts(context.store, context.settings.alerts)


@alerts.callback(invoke_without_command=True)
def list_(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option(help="open, acknowledged or resolved (default: not resolved).")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="gate_failure, layout_drift, …")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOption = False,
) -> None:
    """The alerts, newest first (unresolved ones unless --state says otherwise)."""
    if ctx.invoked_subcommand is not None:
        return
    context = ctx.obj
    with closing(_service(context)) as service:
        found = service.list(context.access, state=state, kind=kind, limit=limit)
    if state is None:
        found = [a for a in found if a.state != "resolved"]
    _show(context, found, as_json)


AlertId = Annotated[str, typer.Argument(help="The alert's id, or its first 8+ characters.")]


@alerts.command("ack")
def acknowledge(ctx: typer.Context, alert_id: AlertId, as_json: JsonOption = False) -> None:
    """Acknowledge an alert: someone is on it."""
    _change(ctx.obj, alert_id, "acknowledge", as_json)


@alerts.command("resolve")
def resolve(ctx: typer.Context, alert_id: AlertId, as_json: JsonOption = False) -> None:
    """Resolve an alert (the same condition later raises a new one)."""
    _change(ctx.obj, alert_id, "resolve", as_json)


def _change(context: Context, alert_id: str, action: str, as_json: bool) -> None:
    with closing(_service(context)) as service:
        change = service.acknowledge if action == "acknowledge" else service.resolve
        done = change(context.access, _full_id(service, context, alert_id))
    _show(context, [done], as_json)


@alerts.command("check")
def check(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Evaluate the outbox's new events and the vendor schedule now; print what was raised."""
    context = ctx.obj
    with closing(_service(context)) as service:
        done = service.run_once()
    output = context.output(as_json)
    output.note(
        f"{len(done.raised)} raised, {done.seen} seen again, {done.resolved} resolved"
        + (f", {done.notify_failed} not posted to the webhook" if done.notify_failed else "")
    )
    _show(context, done.raised, as_json)


def _full_id(service: Alerts, context: Context, ref: str) -> str:
    """An alert's id from its id or the first characters `aurum alerts` shows (8 or more)."""
    from aurum.errors import NotFound, RequestError

    ref = ref.strip().lower()
    if len(ref) == 32:
        return ref
    if len(ref) < 8:
        raise RequestError("alert_id_invalid", "give the alert's id, or its first 8+ characters")
    found = [a.id for a in service.list(context.access, limit=1000) if a.id.startswith(ref)]
    if len(found) != 1:
        raise NotFound(
            "alert_unknown" if not found else "alert_ambiguous",
            f"{len(found) or 'no'} alert(s) start with {ref!r}: see `aurum alerts`",
        )
    return found[0]


def _show(context: Context, found: list[Alert], as_json: bool) -> None:
    output = context.output(as_json)
    rows = [(a.id[:8], a.state, a.kind, a.vendor or "", a.count, escape(a.summary)) for a in found]
    output.rows(
        ("id", "state", "kind", "vendor", "seen", "summary"), rows,
        data=[dataclasses.asdict(a) for a in found],
    )  # fmt: skip
    if not found and not as_json:
        output.note("no alerts")
