"""``aurum relay``: the outbox's events to Kafka, in Avro, until stopped (``--once``: until caught
up). See :mod:`aurum.events.relay` for what it promises (at least once, in order per key)."""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer

from aurum.cli.output import errors

if TYPE_CHECKING:
    from aurum.events.relay import Relay

__all__ = ["relay"]


def relay(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Relay what the outbox holds now, then stop.")
    ] = False,
) -> None:
    """Publish the outbox's events to Kafka topics (aurum.<type>.v1) in Avro until stopped
    (Ctrl-C or SIGTERM); AURUM_EVENTS__KAFKA_BOOTSTRAP names the brokers."""
    import logging

    from aurum.events.relay import Relay

    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", level=logging.WARNING)
    logging.getLogger("aurum.events.relay").setLevel(logging.INFO)
    context = ctx.obj
    output = context.output()
    with Relay.from_settings(context.store, context.settings) as relay_:
        if once:
            while True:
                done = relay_.run_once()
                if not done.ok or done.read < relay_.batch:
                    break
            output.line(_counts(relay_))
            if not done.ok:
                output.note(f"the relay stopped short: {done.error} (it sends the rest next time)")
                raise typer.Exit(code=1)
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        errors.print(f"aurum relay: the outbox to Kafka at {relay_.bootstrap} (Ctrl-C stops)",
                     highlight=False)  # fmt: skip
        try:
            relay_.serve(stop)
        except KeyboardInterrupt:
            stop.set()
        output.line(_counts(relay_))


def _counts(relay_: Relay) -> str:
    s = relay_.stats
    return (
        f"relayed {s.relayed} event(s), {s.failed} failed (sent again later),"
        f" {s.invalid + s.registry_errors} pass(es) stopped; cursor {s.cursor}, lag {s.lag}"
    )
