"""``aurum``: the command line. It builds one context and calls the services; nothing more.

Commands are listed here explicitly; each lives in the module of its job (``files``, ``ingest``,
``lake``, ``serve``, ``admin``). The group's callback puts one :class:`~aurum.cli.context.Context`
in ``ctx.obj`` (settings read once, lake and store opened once), and an ``AurumError`` out of any
command is one line on stderr and exit code 2, never a traceback. Heavy imports (pandas, pyarrow,
pandera) happen inside the commands that need them, so ``aurum --help`` answers at once.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from aurum._version import __version__
from aurum.cli import (
    admin,
    alerts,
    backup,
    catalog,
    feeds,
    files,
    ingest,
    lake,
    lineage,
    ppa,
    relay,
    scenarios,
    serve,
)
from aurum.cli.context import Context
from aurum.cli.output import errors
from aurum.errors import AurumError

__all__ = ["app", "main"]

app = typer.Typer(
    name="aurum",
    help="Aurum: vendor EOD forward curves, ingested, versioned and served.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"aurum {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Aurum command line."""
    context = Context(ctx.invoked_subcommand)
    ctx.obj = context
    ctx.call_on_close(context.close)


def _one_line_errors(command: Callable[..., None]) -> Callable[..., None]:
    """A command whose ``AurumError`` (or invalid setting) is one line and exit code 2."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except AurumError as exc:
            errors.print(f"[red]error[/red] {exc.code}: {exc.message}", soft_wrap=True,
                         highlight=False)  # fmt: skip
            raise typer.Exit(code=2) from None
        except ValidationError as exc:  # a setting's value: where and why, never the value
            for problem in exc.errors():
                where = ".".join(str(part) for part in problem["loc"])
                errors.print(f"[red]error[/red] settings_invalid: {where}: {problem['msg']}",
                             soft_wrap=True, highlight=False)  # fmt: skip
            raise typer.Exit(code=2) from None

    return run


for name, command in (
    ("parse", files.parse), ("demo-data", files.demo_data),
    ("ingest", ingest.ingest), ("backfill", ingest.backfill), ("watch", ingest.watch),
    ("sql", lake.sql), ("history", lake.history), ("runs", lake.runs), ("export", lake.export),
    ("maintenance", lake.maintenance), ("serve", serve.serve), ("settings", admin.settings),
    ("doctor", admin.doctor),
    ("worker", scenarios.worker), ("catalog", catalog.catalog), ("relay", relay.relay),
    ("lineage", lineage.lineage), ("backup", backup.backup), ("restore", backup.restore),
    ("migrate", backup.migrate),
):  # fmt: skip
    app.command(name)(_one_line_errors(command))
for group in (admin.tenants, admin.keys, scenarios.scenario, ppa.ppa, alerts.alerts, feeds.feeds):
    for registered in group.registered_commands:
        assert registered.callback is not None
        registered.callback = _one_line_errors(registered.callback)
app.add_typer(admin.tenants, name="tenants")
app.add_typer(admin.keys, name="keys")
app.add_typer(scenarios.scenario, name="scenario")
app.add_typer(ppa.ppa, name="ppa")
app.add_typer(alerts.alerts, name="alerts")
app.add_typer(feeds.feeds, name="feeds")


def main() -> None:
    """Console-script entry point.

    It ends the process with ``os._exit`` once the command has returned: finalising pandas,
    pyarrow and pandera at interpreter exit costs ~0.2 s (measured), a fifth of a whole
    ``aurum parse``, and by then every output file is written and closed.
    """
    try:
        app()
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, str):
            errors.print(exc.code)
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
