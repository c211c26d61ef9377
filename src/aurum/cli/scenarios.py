"""``aurum scenario create|list|show|run`` and ``aurum worker`` (it also runs valuations).

Scenarios belong to a tenant: the commands act for ``--tenant`` (default: the dev tenant,
``AURUM_AUTH__DEV_TENANT``, created when missing, as the API's dev mode does), as
``cli:<user>``, through the same service as the API (``aurum.scenarios.ScenarioService``).
``aurum scenario run`` computes the run in this process with a progress bar (``--queue``: leave
it to ``aurum worker``, and ``--wait`` for it); ``aurum worker`` executes queued runs until
stopped.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aurum.cli.output import Output, errors
from aurum.errors import RequestError

if TYPE_CHECKING:
    from aurum.auth.access import Access
    from aurum.cli.context import Context
    from aurum.store import Run
    from aurum.store.documents import DocumentKind

__all__ = ["document_id", "run_here", "scenario", "tenant_access", "worker"]

scenario = typer.Typer(
    help="Scenarios: create from a JSON file, list, show, run.", no_args_is_help=True
)
TenantOption = Annotated[
    str | None,
    typer.Option("--tenant", help="The tenant whose scenarios these are (default: the dev one)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]
_FINAL = ("published", "duplicate", "failed", "cancelled")


def tenant_access(context: Context, tenant: str | None) -> Access:
    """The tenant a command acts for: `--tenant`, or the dev tenant (created when missing)."""
    from aurum.auth.access import PLATFORM, Access
    from aurum.errors import NotFound

    tenant_id = tenant or context.settings.auth.dev_tenant
    try:
        with context.store.transaction(PLATFORM, write=False) as tx:
            tx.tenant(tenant_id)
    except NotFound:
        if tenant:
            raise
        with context.store.transaction(PLATFORM) as tx:
            tx.create_tenant(tenant_id, "Development")
    return Access(tenant_id, actor=context.access.actor)


@scenario.command("create")
def create(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON: {name, description, spec, assumptions}.")],
    name: Annotated[str | None, typer.Option(help="Name (default: the file's).")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a scenario from a JSON file (see GET /v1/scenarios/schema for what it holds)."""
    context, output = ctx.obj, ctx.obj.output(as_json)
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError("file_invalid", f"{file}: not a readable JSON file ({exc})") from None
    if not isinstance(body, dict) or "spec" not in body:
        raise RequestError("file_invalid", f"{file}: a JSON object with a 'spec' is needed")
    assumptions = body.get("assumptions") or []
    if not isinstance(assumptions, list) or not all(
        isinstance(a, dict) and {"name", "value"} <= a.keys() for a in assumptions
    ):
        raise RequestError("file_invalid", f"{file}: assumptions are a list of {{name, value}}")
    document = context.scenarios.create(
        tenant_access(context, tenant), name=name or body.get("name") or file.stem,
        description=str(body.get("description", "")), spec=body["spec"],
        assumptions=[(a["name"], a["value"]) for a in assumptions],
    )  # fmt: skip
    output.data({"id": document.id, "name": document.name, "version": document.version})
    output.line(f"scenario {document.id} {document.name!r} version {document.version}")


@scenario.command("list")
def list_(ctx: typer.Context, tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """The tenant's scenarios."""
    context, output = ctx.obj, ctx.obj.output(as_json)
    with context.store.transaction(tenant_access(context, tenant), write=False) as tx:
        found = tx.documents("scenario", limit=1000)
    output.rows(
        ("id", "name", "version", "updated (UTC)", "description"),
        [(d.id, d.name, d.version, f"{d.updated_at:%Y-%m-%d %H:%M}", d.description) for d in found],
    )  # fmt: skip


@scenario.command("show")
def show(
    ctx: typer.Context,
    scenario_id: str,
    version: Annotated[int | None, typer.Option(help="This version (default: current).")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """A scenario's settings, assumptions and runs (by id or name)."""
    context, output = ctx.obj, ctx.obj.output(as_json)
    access = tenant_access(context, tenant)
    scenario_id = document_id(context, access, "scenario", scenario_id)
    found = context.scenarios.version(access, scenario_id, version)
    runs = context.scenarios.runs_of(access, scenario_id, limit=20)
    if as_json:
        output.data({"version": found.version, "spec": found.spec,
                     "runs": [_run_summary(r) for r in runs]})  # fmt: skip
        return
    output.line(f"scenario {scenario_id} {found.spec.get('name', '')!r} version {found.version}"
                f" ({found.change}, by {found.created_by})")  # fmt: skip
    output.line("settings " + json.dumps(found.spec["settings"], separators=(",", ":")))
    output.rows(
        ("#", "assumption", "value"),
        [
            (i + 1, a["name"], json.dumps(a["value"], separators=(",", ":")))
            for i, a in enumerate(found.spec["assumptions"])
        ],
    )
    if runs:
        output.rows(
            ("run", "status", "version", "queued (UTC)", "curves", "tag"),
            [(r.run_id, r.status, r.params.get("version"), f"{r.queued_at:%Y-%m-%d %H:%M:%S}",
              r.result.get("curves"), r.tag) for r in runs],
        )  # fmt: skip


@scenario.command("run")
def run(
    ctx: typer.Context,
    scenario_id: str,
    seed: Annotated[int | None, typer.Option(help="Seed (default: the scenario's).")] = None,
    queue: Annotated[
        bool, typer.Option("--queue", help="Leave it to `aurum worker` instead of running here.")
    ] = False,
    wait: Annotated[bool, typer.Option("--wait", help="With --queue: wait until it ends.")] = False,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a scenario, by id or name (reused when the same version, base days, seed and code
    already ran)."""
    context, output = ctx.obj, ctx.obj.output(as_json)
    access = tenant_access(context, tenant)
    scenario_id = document_id(context, access, "scenario", scenario_id)
    asked = context.scenarios.request_run(access, scenario_id, seed=seed)
    found = asked.run
    if asked.reused:
        output.note(f"reused run {found.run_id} ({found.status}): same version, days, seed, code")
    elif not queue:
        found = run_here(context, found, hidden=as_json)
    elif wait:
        found = _wait(context, access, scenario_id, found, hidden=as_json)
    else:
        output.note(f"queued run {found.run_id}: `aurum worker` executes it")
    _print_run(output, found)
    if found.status in ("failed", "cancelled"):
        raise typer.Exit(code=1)


def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run what is queued, then stop.")] = False,
) -> None:
    """Execute queued scenario runs and PPA valuations until stopped (Ctrl-C or SIGTERM); meanwhile
    deliver webhooks (AURUM_EVENTS__WEBHOOK_POLL_S) and check alerts."""
    from aurum import telemetry
    from aurum.alerts import Alerts
    from aurum.events.webhooks import Deliveries
    from aurum.runs.loop import Every

    context = ctx.obj
    settings = context.settings
    telemetry.configure_logging(settings.telemetry.log_format, settings.telemetry.log_level)
    worker_ = context.worker()
    if once:
        while worker_.run_once() is not None:
            pass
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deliveries = Deliveries(context.store, settings.events)
    poll = settings.events.webhook_poll_s
    checks = Alerts(context.store, settings.alerts)
    loops = [Every(settings.alerts.check_interval_s, checks.run_once, name="aurum-alerts").start()]
    if poll > 0:
        loops.append(Every(poll, deliveries.run_once, name="aurum-webhooks").start())
    errors.print(f"aurum worker {worker_.runs.owner}: waiting for runs (Ctrl-C stops)",
                 highlight=False)  # fmt: skip
    try:
        worker_.serve(stop)
    except KeyboardInterrupt:
        stop.set()
    finally:
        for loop in loops:
            loop.stop()
        deliveries.close()
        checks.close()


# -- helpers ---------------------------------------------------------------------------------------


def document_id(context: Context, access: Access, kind: DocumentKind, ref: str) -> str:
    """A scenario's or contract's id from its id or its name (404 naming the list command)."""
    from aurum.errors import NotFound

    with context.store.transaction(access, write=False) as tx:
        try:
            return str(tx.document(kind, ref).id)
        except NotFound:
            named = [d for d in tx.documents(kind, limit=1000) if d.name == ref]
    if not named:
        listing = "aurum scenario list" if kind == "scenario" else "aurum ppa list"
        raise NotFound(
            f"{kind}_unknown",
            f"no {kind.replace('ppa_', '')} with id or name {ref!r}: `{listing}`",
        )
    return str(named[0].id)


def run_here(context: Context, queued: Run, *, hidden: bool, label: str = "scenario run") -> Run:
    """Claim this queued run and execute it in this process, with a progress bar."""
    from rich.progress import Progress

    worker_ = context.worker()
    with Progress(console=errors, transient=True, disable=hidden or not errors.is_terminal) as bar:
        task = bar.add_task(label, total=None)

        def shown(done: int, total: int, stage: str) -> None:
            bar.update(task, completed=done, total=total, description=stage)

        return worker_.run_one(queued.run_id, on_progress=shown)


def _wait(context: Context, access: Access, scenario_id: str, queued: Run, *, hidden: bool) -> Run:
    from rich.progress import Progress

    with Progress(console=errors, transient=True, disable=hidden or not errors.is_terminal) as bar:
        task = bar.add_task("queued", total=None)
        while True:
            found = context.scenarios.run(access, scenario_id, queued.run_id)
            progress = found.progress or {}
            bar.update(task, completed=progress.get("done", 0), total=progress.get("total"),
                       description=str(progress.get("stage", found.status)))  # fmt: skip
            if found.status in _FINAL:
                return found
            time.sleep(0.5)


def _run_summary(found: Run) -> dict[str, Any]:
    return {
        "run_id": found.run_id, "status": found.status, "version": found.params.get("version"),
        "base_tags": found.params.get("base_tags"), "seed": found.params.get("seed"),
        "code_version": found.params.get("code_version"), "tag": found.tag,
        "error_code": found.error_code, "error_message": found.error_message,
        "result": found.result,
    }  # fmt: skip


def _print_run(output: Output, found: Run) -> None:
    output.data(_run_summary(found))
    result = found.result
    line = f"run {found.run_id}: {found.status}"
    if found.tag:
        line += f" tag={found.tag} curves={result.get('curves')} rows={result.get('rows')}"
    if found.error_code:
        line += f" error {found.error_code}: {found.error_message}"
    output.line(line)
    for family, score in (result.get("backtest") or {}).items():
        output.line(
            f"  band backtest {family}: {score['inside']:,} of {score['total']:,} realised"
            f" {score['horizon_days']}-day moves inside P5-P95 ({score['share']:.1%}, expected 90%)"
        )
    if found.tag:
        output.line(f"  read it: /v1/curves?scenario_run={found.run_id}  (or /strips, /diff)")
