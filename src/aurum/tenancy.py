"""Tenant administration as use cases, shared by the CLI and the API.

Each use case makes its change and writes its audit entry in one store transaction, by the actor
of the ``access`` given (an admin's principal over the API, ``cli:<user>`` at the command line),
as the tenant concerned: its admins see the entry in their audit log, and row-level security sees
that tenant's rows.
"""

from __future__ import annotations

from datetime import timedelta

from aurum.auth.access import Access
from aurum.store import Store
from aurum.store.keys import ApiKey, IssuedKey
from aurum.store.tenants import Tenant

__all__ = ["create_tenant", "entitle", "issue_key", "revoke_key"]


def create_tenant(
    store: Store, access: Access, tenant_id: str, name: str, vendors: list[str]
) -> Tenant:
    with store.transaction(_as(access, tenant_id)) as tx:
        tx.create_tenant(tenant_id, name)
        tenant = tx.entitle(tenant_id, vendors) if vendors else tx.tenant(tenant_id)
        tx.audit("tenant.create", target=tenant_id, details={"vendors": list(tenant.vendors)})
    return tenant


def entitle(
    store: Store, access: Access, tenant_id: str, vendors: list[str], *, grant: bool
) -> Tenant:
    with store.transaction(_as(access, tenant_id)) as tx:
        tenant = tx.entitle(tenant_id, vendors, grant=grant)
        tx.audit(
            "tenant.entitle" if grant else "tenant.withdraw", target=tenant_id,
            details={"vendors": vendors, "now": list(tenant.vendors)},
        )  # fmt: skip
    return tenant


def issue_key(
    store: Store,
    access: Access,
    *,
    tenant_id: str,
    role: str,
    name: str,
    expires_in: timedelta | None = None,
    request_id: str | None = None,
) -> IssuedKey:
    """A new API key of ``tenant_id`` (``access``'s own tenant, or any for the platform)."""
    with store.transaction(_as(access, tenant_id)) as tx:
        issued = tx.create_key(tenant_id=tenant_id, role=role, name=name, expires_in=expires_in)
        tx.audit(
            "key.create", target=issued.key.prefix, request_id=request_id,
            details={"role": role, "name": name},
        )  # fmt: skip
    return issued


def revoke_key(
    store: Store, access: Access, prefix: str, *, request_id: str | None = None
) -> ApiKey:
    """Revoke a key ``access`` owns (the platform: any key)."""
    if access.is_platform:
        with store.transaction(access, write=False) as tx:
            access = _as(access, tx.key_tenant(prefix))
    with store.transaction(access) as tx:
        key = tx.revoke_key(prefix)
        tx.audit("key.revoke", target=prefix, request_id=request_id)
    return key


def _as(access: Access, tenant_id: str) -> Access:
    """The platform acts as the tenant it administers; a tenant's admin is that tenant already."""
    return Access(tenant_id, actor=access.actor) if access.is_platform else access
