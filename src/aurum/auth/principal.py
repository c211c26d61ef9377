"""Who is calling: a bearer credential (an OIDC JWT or an Aurum API key) made into a principal.

A principal is a subject, one tenant, its roles and the vendors the tenant may read. Roles come
from the token's groups (``aurum-admin``, ``aurum-ops``, ``aurum-analyst``) or the API key's one
role; ``aurum-admin`` includes the other two. The tenant comes from the token's tenant claim or
its ``tenant-<id>`` group (a user in several picks one with the ``X-Aurum-Tenant`` header), or
from the API key; it must exist and be active in the store.

Verified keys and tenants are reused for ``auth.cache_s`` seconds, so most requests touch no
database: a key revoked through this process is dropped at once, elsewhere within that time.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from aurum.auth.access import Access
from aurum.auth.oidc import OidcVerifier
from aurum.auth.roles import ADMIN, ANALYST, OPS, ROLES, Role
from aurum.config import AuthSettings
from aurum.errors import AuthError, ConfigError, Forbidden, NotFound

__all__ = ["ADMIN", "ANALYST", "OPS", "Authenticator", "KeyRecord", "Principal", "TenantRecord"]

_TENANT_GROUP = "tenant-"


class KeyRecord(Protocol):
    """What a key lookup answers (the store's ``ApiKey``)."""

    prefix: str
    tenant_id: str
    role: Role
    expires_at: datetime | None


class TenantRecord(Protocol):
    """What a tenant lookup answers (the store's ``Tenant``)."""

    tenant_id: str
    active: bool
    vendors: tuple[str, ...]


_T = TypeVar("_T")


@dataclass(frozen=True)
class Principal:
    subject: str  # the token's ``sub``, ``key:<prefix>`` or ``dev``
    tenant_id: str
    roles: frozenset[Role]
    vendors: frozenset[str] | None  # None: every vendor (dev mode)
    via: Literal["jwt", "api_key", "dev"]
    expires_at: datetime | None = None  # an API key's expiry (a cached key is checked again)

    def has_any(self, roles: Iterable[Role]) -> bool:
        return ADMIN in self.roles or not self.roles.isdisjoint(roles)

    @property
    def actor(self) -> str:
        """How the audit log names this principal: ``key:<prefix>@t``, ``user:<sub>@t``, or
        ``dev@t`` (a token's subject cannot pass for a key)."""
        kind = "user:" if self.via == "jwt" else ""
        return f"{kind}{self.subject}@{self.tenant_id}"

    @property
    def access(self) -> Access:
        """What this principal may see: the one access policy's value."""
        return Access(self.tenant_id, self.roles, self.vendors, self.actor)

    @property
    def rate_key(self) -> str:
        return f"{self.via}:{self.tenant_id}:{self.subject}"


def _expired(principal: Principal) -> bool:
    return principal.expires_at is not None and principal.expires_at <= datetime.now(UTC)


class _Ttl:
    """A small thread-safe map whose entries live ``ttl_s`` seconds."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], _T]) -> _T:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            return entry[1]  # type: ignore[return-value]
        value = load()
        if self.ttl_s > 0:
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[key] = (now, value)
        return value

    def peek(self, key: str) -> Any:
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self.ttl_s:
            return entry[1]
        return None

    def drop(self, predicate: Callable[[object], bool]) -> None:
        with self._lock:
            for key in [k for k, (_, v) in self._entries.items() if predicate(v)]:
                del self._entries[key]


class Authenticator:
    """Credentials to principals, for one app (``auth.mode`` ``on`` or ``dev``)."""

    def __init__(
        self,
        settings: AuthSettings,
        *,
        keys: Callable[[str], KeyRecord],
        tenants: Callable[[str], TenantRecord],
    ) -> None:
        """``keys``: a token to its valid key (``AuthError`` otherwise); ``tenants``: a tenant
        id to its tenant (``NotFound`` otherwise). The composition root gives the store's."""
        self.settings = settings
        self._lookup_key = keys
        self._lookup_tenant = tenants
        self.dev = settings.mode == "dev"
        self.verifier: OidcVerifier | None = None
        oidc = (settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url)
        if any(oidc) and not all(oidc):
            raise ConfigError(
                "oidc_incomplete",
                "OIDC needs AURUM_AUTH__OIDC_ISSUER, AURUM_AUTH__OIDC_AUDIENCE and"
                " AURUM_AUTH__OIDC_JWKS_URL together",
            )
        if all(oidc):
            self.verifier = OidcVerifier(
                issuer=str(settings.oidc_issuer), audience=str(settings.oidc_audience),
                jwks_url=str(settings.oidc_jwks_url), algorithms=settings.oidc_algorithms,
                leeway_s=settings.leeway_s, tenant_claim=settings.tenant_claim,
                groups_claim=settings.groups_claim,
            )  # fmt: skip
        self._keys = _Ttl(settings.cache_s)
        self._tenants = _Ttl(settings.cache_s)

    def dev_principal(self) -> Principal:
        tenant = self.settings.dev_tenant
        return Principal("dev", tenant, frozenset(ROLES), None, "dev")

    def authenticate(self, credential: str | None, tenant_header: str | None = None) -> Principal:
        """The principal of a bearer ``credential``; ``AuthError`` (401) or ``Forbidden`` (403)."""
        if self.dev:
            return self.dev_principal()
        if not credential:
            raise AuthError("unauthenticated", "this route needs a bearer token or an API key")
        if credential.startswith("aurum_"):
            return self._by_key(credential)
        if self.verifier is None:
            raise AuthError(
                "token_unsupported", "this server accepts API keys only (no OIDC provider is set)"
            )
        return self._by_token(credential, tenant_header)

    def peek(self, credential: str | None) -> Principal | None:
        """The principal if it is known without any I/O (dev mode, a cached key), else None."""
        if self.dev:
            return self.dev_principal()
        if credential and credential.startswith("aurum_"):
            cached = self._keys.peek(hashlib.sha256(credential.encode()).hexdigest())
            if isinstance(cached, Principal) and not _expired(cached):
                return cached
        return None

    def forget_key(self, prefix: str) -> None:
        """Drop a revoked key from this process's cache at once."""
        self._keys.drop(lambda principal: isinstance(principal, Principal)
                        and principal.subject == f"key:{prefix}")  # fmt: skip

    def _by_key(self, token: str) -> Principal:
        digest = hashlib.sha256(token.encode()).hexdigest()

        def load() -> Principal:
            key = self._lookup_key(token)
            tenant = self._tenant(key.tenant_id)
            vendors = frozenset(tenant.vendors)
            return Principal(
                f"key:{key.prefix}", key.tenant_id, frozenset({key.role}), vendors, "api_key",
                key.expires_at,
            )  # fmt: skip

        principal = self._keys.get(digest, load)
        if _expired(principal):  # expired while cached
            raise AuthError(
                "key_expired", f"API key {principal.subject.removeprefix('key:')} expired"
            )
        return principal

    def _by_token(self, token: str, tenant_header: str | None) -> Principal:
        assert self.verifier is not None
        verified = self.verifier.verify(token)
        roles = frozenset(role for role in ROLES if role in verified.groups)
        member = sorted(
            group.removeprefix(_TENANT_GROUP)
            for group in verified.groups
            if group.startswith(_TENANT_GROUP)
        )
        candidates = [verified.tenant] if verified.tenant else member
        if tenant_header:
            if tenant_header not in candidates:
                raise Forbidden("tenant_forbidden", "the token is not a member of that tenant")
            candidates = [tenant_header]
        if not candidates:
            raise Forbidden("tenant_missing", "the token names no tenant (claim or tenant-<id>)")
        if len(candidates) > 1:
            raise Forbidden(
                "tenant_ambiguous", "the token is in several tenants: choose with X-Aurum-Tenant"
            )
        tenant = self._tenant(candidates[0])
        return Principal(
            verified.subject, tenant.tenant_id, roles, frozenset(tenant.vendors), "jwt"
        )

    def _tenant(self, tenant_id: str) -> TenantRecord:
        def load() -> TenantRecord:
            try:
                tenant = self._lookup_tenant(tenant_id)
            except NotFound:
                raise Forbidden("tenant_unknown", "the credential's tenant is unknown") from None
            if not tenant.active:
                raise Forbidden("tenant_inactive", "the credential's tenant is not active")
            return tenant

        return self._tenants.get(tenant_id, load)
