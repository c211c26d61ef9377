"""``aurum tenants``, ``aurum keys`` and ``aurum settings``: administration from the shell.

The changes go through the same use cases as the API's admin routes (``aurum.tenancy``): each
change and its audit entry commit together, by ``cli:<user>``, as the tenant concerned.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.markup import escape

from aurum.config import describe_settings

__all__ = ["keys", "settings", "tenants"]

tenants = typer.Typer(help="Tenants and their vendor entitlements.", no_args_is_help=True)
keys = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


@tenants.command("create")
def tenants_create(
    ctx: typer.Context,
    tenant_id: Annotated[str, typer.Argument(help="Lowercase letters, digits, dashes.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    vendor: Annotated[
        list[str] | None, typer.Option("--vendor", help="Entitle to a vendor (repeatable).")
    ] = None,
) -> None:
    """Create a tenant, optionally entitled to vendors' curves."""
    context = ctx.obj
    from aurum import tenancy  # (the store: not imported by other commands)

    tenant = tenancy.create_tenant(
        context.store, context.access, tenant_id, name or tenant_id,
        [v.upper() for v in vendor or []],
    )  # fmt: skip
    context.output().line(
        f"tenant {tenant.tenant_id} entitled to {', '.join(tenant.vendors) or 'none'}"
    )


@tenants.command("entitle")
def tenants_entitle(
    ctx: typer.Context,
    tenant_id: str,
    vendor: Annotated[list[str], typer.Option("--vendor", help="Vendor (repeatable).")],
    revoke: Annotated[bool, typer.Option("--revoke", help="Withdraw instead of grant.")] = False,
) -> None:
    """Grant (or with --revoke withdraw) a tenant's right to read vendors' curves."""
    context = ctx.obj
    from aurum import tenancy  # (the store: not imported by other commands)

    tenant = tenancy.entitle(
        context.store, context.access, tenant_id, [v.upper() for v in vendor], grant=not revoke
    )
    context.output().line(
        f"tenant {tenant.tenant_id} entitled to {', '.join(tenant.vendors) or 'none'}"
    )


@tenants.command("list")
def tenants_list(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Tenants and their entitlements."""
    context = ctx.obj
    with context.store.transaction(context.access, write=False) as tx:
        found = [tx.tenant(tenant_id) for tenant_id in tx.tenants()]
    context.output(as_json).rows(
        ("tenant", "state", "vendors"),
        [(t.tenant_id, "active" if t.active else "inactive", ",".join(t.vendors)) for t in found],
    )


@keys.command("create")
def keys_create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option(help="The key's tenant.")],
    role: Annotated[str, typer.Option(help="aurum-admin, aurum-ops or aurum-analyst.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    expires_days: Annotated[int | None, typer.Option(min=1, help="Days until it expires.")] = None,
) -> None:
    """Issue an API key. It is printed once, here; only its hash is kept."""
    context = ctx.obj
    from aurum import tenancy  # (the store: not imported by other commands)

    issued = tenancy.issue_key(
        context.store, context.access, tenant_id=tenant, role=role, name=name,
        expires_in=timedelta(days=expires_days) if expires_days else None,
    )  # fmt: skip
    output = context.output()
    output.note(f"API key {issued.key.prefix} ({role}, tenant {tenant}); shown once:")
    print(issued.token)


@keys.command("revoke")
def keys_revoke(
    ctx: typer.Context, prefix: Annotated[str, typer.Argument(help="The key's prefix.")]
) -> None:
    """Revoke an API key (running servers drop it within AURUM_AUTH__CACHE_S)."""
    context = ctx.obj
    from aurum import tenancy  # (the store: not imported by other commands)

    key = tenancy.revoke_key(context.store, context.access, prefix)
    context.output().line(f"revoked {key.prefix} (tenant {key.tenant_id}, {key.role})")


@keys.command("list")
def keys_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """API keys (prefixes, never the keys)."""
    from aurum.auth.access import Access

    context = ctx.obj
    store = context.store
    with store.transaction(context.access, write=False) as tx:
        tenant_ids = [tenant] if tenant else tx.tenants()
    found = []
    for tenant_id in tenant_ids:  # each tenant's rows as that tenant (row-level security)
        with store.transaction(Access(tenant_id, actor=context.access.actor), write=False) as tx:
            found += tx.api_keys()
    context.output(as_json).rows(
        ("prefix", "tenant", "role", "state", "expires"),
        [
            (k.prefix, k.tenant_id, k.role, "revoked" if k.revoked_at else "active",
             k.expires_at.isoformat() if k.expires_at else "never")
            for k in found
        ],
    )  # fmt: skip


def settings(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Also each setting's default and meaning.")
    ] = False,
) -> None:
    """Every setting's effective value (environment, .env or default) and which home is used;
    --wide adds the default and the meaning. Secrets and passwords are never shown."""
    context = ctx.obj
    current = context.settings
    output = context.output(as_json, wide=wide)
    if context.settings.home.is_file():
        lake = "it is a file, not a folder: no command can use it"
    else:
        lake = "a lake is there" if context.lake_exists else "no lake there yet"
    output.line(f"home: {context.home}; {lake}")
    described = describe_settings()
    values = [_shown(_value(current, name)) for name, _, _ in described]
    data = [
        {"variable": name, "value": value, "default": default, "set": value != default,
         "meaning": meaning}
        for (name, default, meaning), value in zip(described, values, strict=True)
    ]  # fmt: skip
    if wide:
        columns: tuple[str, ...] = ("environment variable", "value", "default", "meaning")
        rows: list[tuple[Any, ...]] = [
            (d["variable"], d["value"], d["default"], d["meaning"]) for d in data
        ]
    else:
        columns = ("environment variable", "source", "value")
        rows = [(d["variable"], "set" if d["set"] else "default", d["value"]) for d in data]
    output.rows(columns, rows, title="Aurum settings", data=data)


def _value(settings: Any, variable: str) -> Any:
    """The effective value of ``AURUM_A__B`` (``settings.a.b``)."""
    value = settings
    for part in variable.removeprefix("AURUM_").lower().split("__"):
        value = getattr(value, part)
    return value


def _shown(value: Any) -> str:
    """A value as ``aurum settings`` prints it: no secret, no password in a URL."""
    if isinstance(value, SecretStr):
        return "(secret, set)"
    text = str(value)
    return re.sub(r"(://[^:/@\s]+):[^@\s]+@", r"\1:***@", text)


def doctor(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Check every dependency the settings name — home, store, catalog, warehouse, Redis,
    Kafka, schema registry, lineage, OIDC — for real, and say precisely what is wrong (exit 2
    when one fails)."""
    import dataclasses

    from aurum.observability.doctor import diagnose

    context = ctx.obj
    current = context.settings
    checks = diagnose(current)
    output = context.output(as_json)
    if as_json:
        output.rows((), [], data=[dataclasses.asdict(c) for c in checks])
    else:
        output.line(f"profile: {current.profile}; home: {context.home}")
        for c in checks:
            output.line(f"{'ok' if c.ok else 'FAILED':6} {c.name:15} {escape(c.detail)}")
            if not c.ok:
                output.line(f"{'':22}{c.setting} = {escape(c.target)}")
    failed = [c.name for c in checks if not c.ok]
    if failed:
        if not as_json:
            output.note(f"{len(failed)} of {len(checks)} failed: {', '.join(failed)}")
        raise typer.Exit(2)
