"""``aurum ppa create|list|value``: PPA contracts and valuations from the shell.

The commands act for ``--tenant`` (default: the dev tenant) through the same service as the API
(``aurum.ppa.PpaService``). ``aurum ppa value`` values a stored contract (by id or name) or a
request file, prints a summary that fits the terminal, and with ``--report`` writes the XLSX
report; an ensemble valuation runs here with a progress bar (``--queue``: leave it to
``aurum worker``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aurum.cli.output import Output
from aurum.cli.scenarios import document_id, run_here, tenant_access
from aurum.errors import RequestError

if TYPE_CHECKING:
    from aurum.store import Run

__all__ = ["ppa"]

ppa = typer.Typer(help="PPA contracts: create from a JSON file, list, value.", no_args_is_help=True)
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="The tenant whose contracts these are.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print as JSON.")]


@ppa.command("create")
def create(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON: {name, description, spec} (spec: terms).")],
    name: Annotated[str | None, typer.Option(help="Name (default: the file's).")] = None,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Create a contract from a JSON file (GET /v1/ppa/schema says what the terms hold)."""
    context, output = ctx.obj, ctx.obj.output(as_json)
    body = _json_file(file)
    if "spec" not in body:
        raise RequestError("file_invalid", f"{file}: a JSON object with a 'spec' (the terms)")
    document = context.ppa.create_contract(
        tenant_access(context, tenant), name=name or body.get("name") or file.stem,
        description=str(body.get("description", "")), spec=body["spec"],
    )  # fmt: skip
    output.data({"id": document.id, "name": document.name, "version": document.version})
    output.line(f"contract {document.id} {document.name!r} version {document.version}")


@ppa.command("list")
def list_(ctx: typer.Context, tenant: TenantOption = None, as_json: JsonOption = False) -> None:
    """The tenant's contracts and their latest valuations."""
    context, output = ctx.obj, ctx.obj.output(as_json)
    access = tenant_access(context, tenant)
    with context.store.transaction(access, write=False) as tx:
        found = tx.documents("ppa_contract", limit=1000)
    output.rows(
        ("id", "name", "version", "updated (UTC)", "description"),
        [(d.id, d.name, d.version, f"{d.updated_at:%Y-%m-%d %H:%M}", d.description) for d in found],
    )  # fmt: skip


@ppa.command("value")
def value(
    ctx: typer.Context,
    contract: Annotated[str | None, typer.Argument(help="Contract id or name.")] = None,
    request: Annotated[
        Path | None, typer.Option(help="A valuation request JSON file instead (POST body).")
    ] = None,
    rate: Annotated[float | None, typer.Option(help="Flat annual effective discount rate.")] = None,
    asof: Annotated[str | None, typer.Option(help="Curves' as-of date (default: latest).")] = None,
    scenario_run: Annotated[str | None, typer.Option(help="Value on this scenario run.")] = None,
    ensemble: Annotated[bool, typer.Option(help="Value each path of the run's ensemble.")] = False,
    extrapolate: Annotated[
        str | None, typer.Option(help="Beyond the curve: flat or escalate.")
    ] = None,
    perspective: Annotated[str, typer.Option(help="generator or offtaker.")] = "generator",
    report: Annotated[Path | None, typer.Option(help="Write the XLSX report here.")] = None,
    queue: Annotated[bool, typer.Option("--queue", help="Ensemble: leave it to a worker.")] = False,
    tenant: TenantOption = None,
    as_json: JsonOption = False,
) -> None:
    """Value a contract (by id or name) or a request file; print the summary."""
    context, output = ctx.obj, ctx.obj.output(as_json)
    access = tenant_access(context, tenant)
    if request is not None:
        body = _json_file(request)
    elif contract is not None:
        if rate is None:
            raise RequestError("parameter_missing", "give --rate (the discount rate), e.g. 0.07")
        curves: dict[str, Any] = {"ensemble": ensemble}
        if scenario_run:
            curves["scenario_run"] = scenario_run
        if asof:
            curves["asof"] = asof
        body = {
            "contract_id": document_id(context, access, "ppa_contract", contract),
            "discount": {"rate": rate}, "curves": curves, "perspective": perspective,
            **({"extrapolate": extrapolate} if extrapolate else {}),
        }  # fmt: skip
    else:
        raise RequestError("parameter_missing", "give a contract (id or name) or --request FILE")
    found = context.ppa.valuate(access, body)
    run = found.run
    if found.rows is None:
        if queue:
            output.note(f"queued valuation {run.run_id}: `aurum worker` executes it")
            output.data({"id": run.run_id, "status": run.status})
            return
        run = run_here(context, run, hidden=as_json, label="valuation")
    if run.status != "published":
        output.line(f"valuation {run.run_id}: {run.status} {run.error_code}: {run.error_message}")
        raise typer.Exit(code=1)
    if report is not None:
        context.ppa.report(access, run, report)
    _print(output, run, report)


def _print(output: Output, run: Run, report: Path | None) -> None:
    summary = (run.result or {}).get("summary", {})
    inputs = (run.result or {}).get("inputs", {})
    output.data({"id": run.run_id, "summary": summary, "inputs": inputs})
    cur = summary.get("currency", "")
    output.line(f"valuation {run.run_id} at {summary['valuation_date']}")
    output.line(
        f"  NPV {summary['npv']:,.0f} {cur} ({summary['perspective']}); {summary['months']}"
        f" months, {summary['energy_mwh']:,.0f} MWh; {inputs.get('market')}"
        f" {'/'.join(inputs['blocks'])}"
    )
    if summary.get("capture_price") is not None:
        output.line(
            f"  capture {summary['capture_price']:.2f} vs baseload {summary['baseload_price']:.2f}"
            f" {cur}/MWh (rate {summary['capture_rate']:.1%}, profile cost"
            f" {summary['profile_cost_per_mwh']:.2f})"
        )
    legs = summary.get("legs", {})
    output.line("  PV by leg: " + ", ".join(f"{k} {v['pv']:,.0f}" for k, v in legs.items()))
    sens = summary.get("sensitivities", {})
    output.line(f"  delta: {sens.get('total', 0):,.0f} {cur} per +1 {cur}/MWh, every month")
    options = summary.get("options")
    if options:
        output.line(
            f"  collar as options (Black-76, σ {options['volatility']:.0%}):"
            f" {options['collar']:,.0f}"
            f" (intrinsic {options['intrinsic']:,.0f})"
        )
    if summary.get("irr") is not None:
        output.line(f"  IRR {summary['irr']:.2%} (annual effective) on {summary['upfront']:,.0f}")
    ensemble = summary.get("ensemble")
    if ensemble:
        npv = ensemble["npv"]
        output.line(
            f"  {ensemble['paths']:,} paths: NPV P5 {npv['p5']:,.0f} / P50 {npv['p50']:,.0f} /"
            f" P95 {npv['p95']:,.0f}"
        )
        output.line(f"  VaR95 {npv['var_95']:,.0f}, ES95 {npv['es_95']:,.0f} {cur}")
    if summary.get("extrapolated_months"):
        months = summary["extrapolated_months"]
        output.line(f"  extrapolated: {len(months)} months from {months[0]}")
    for warning in summary.get("warnings", []):
        output.note(warning)
    if report is not None:
        output.line(f"  report: {report}")


def _json_file(file: Path) -> dict[str, Any]:
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RequestError("file_invalid", f"{file}: not a readable JSON file ({exc})") from None
    if not isinstance(body, dict):
        raise RequestError("file_invalid", f"{file}: a JSON object is needed")
    return body
