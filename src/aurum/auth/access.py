"""The one access policy: what a caller may see, stated once for every place that reads.

A principal (an API key, a token, dev mode) or the platform itself (the CLI, the watcher, the
server's chores) becomes one :class:`Access` value: its tenant, its roles and the vendors its
tenant is entitled to. Every reader takes that value and asks it, in its own language:

* **curves** are every tenant's, read by vendor entitlement: :meth:`Access.require_vendor`
  (403 for a vendor asked by name), :meth:`Access.vendor_sql` (DuckDB),
  :meth:`Access.keep_vendors` (Python rows);
* **tenant-owned rows** (scenarios, contracts, a tenant-owned dataset's rows) are their tenant's:
  :meth:`Access.owns` (SQLAlchemy);
* **any dataset's rows**, by its contract: :meth:`Access.row_scope` (column/value pairs that a
  reader turns into a scan filter and an SQL condition);
* **shared logs** (runs, the audit log) show the platform's entries about entitled vendors and
  the tenant's own: :meth:`Access.sees` (SQLAlchemy), :meth:`Access.sees_entry` (Python);
* **cached answers** are shared only between callers who see the same rows:
  :meth:`Access.cache_scope`.

Nothing else in Aurum filters by tenant or entitlement (a test fails on a second site); on
PostgreSQL, row-level security says the same again for the store's tables.

>>> acme = Access("acme", vendors=frozenset({"EUGP"}))
>>> acme.may_read("EUGP"), acme.may_read("RP"), Access.platform().may_read("RP")
(True, False, True)
>>> acme.vendor_sql(), Access.platform().vendor_sql()
(('vendor IN (?)', ['EUGP']), None)
>>> acme.cache_scope(tenant_owned=False), acme.cache_scope(tenant_owned=True)
('EUGP', 'EUGP|tenant=acme')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aurum.auth.roles import ROLES, Role
from aurum.errors import Forbidden

if TYPE_CHECKING:
    import sqlalchemy as sa

__all__ = ["PLATFORM", "Access"]


@dataclass(frozen=True)
class Access:
    """Who reads: a tenant (``None``: the platform), its roles, its entitled vendors (``None``:
    every vendor) and how the audit log names it."""

    tenant_id: str | None
    roles: frozenset[Role] = frozenset(ROLES)
    vendors: frozenset[str] | None = None
    actor: str = "aurum"

    @classmethod
    def platform(cls, actor: str = "aurum") -> Access:
        """Aurum itself: every tenant's rows, every vendor (the CLI, the watcher, recovery)."""
        return cls(None, frozenset(ROLES), None, actor)

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    # -- curves: read by vendor entitlement ---------------------------------------------------

    def may_read(self, vendor: str | None) -> bool:
        return self.vendors is None or vendor is None or vendor.upper() in self.vendors

    def require_vendor(self, vendor: str | None) -> None:
        """403 ``vendor_not_entitled`` for a vendor asked for by name that the tenant may not
        read (a vendor is case-insensitive)."""
        if not self.may_read(vendor):
            raise Forbidden(
                "vendor_not_entitled",
                f"your tenant is not entitled to {(vendor or '').upper()} curves",
            )

    def vendor_sql(self, column: str = "vendor") -> tuple[str, list[str]] | None:
        """A DuckDB condition keeping the entitled vendors' rows (``None``: keep every row)."""
        if self.vendors is None:
            return None
        if not self.vendors:
            return "FALSE", []
        return f"{column} IN ({', '.join('?' * len(self.vendors))})", sorted(self.vendors)

    def keep_vendors(
        self, rows: Iterable[Mapping[str, Any]], key: str = "vendor"
    ) -> list[Mapping[str, Any]]:
        """The rows (dicts) of entitled vendors."""
        return [row for row in rows if self.vendors is None or row.get(key) in self.vendors]

    # -- tenant-owned rows ----------------------------------------------------------------------

    def owns(self, tenant_column: Any) -> sa.ColumnElement[bool]:
        """SQLAlchemy: the rows of this tenant (the platform: every tenant's)."""
        import sqlalchemy as sa  # (only readers of the store pay for SQLAlchemy)

        if self.tenant_id is None:
            return sa.true()
        return tenant_column == self.tenant_id  # type: ignore[no-any-return]

    def acts_for(self, tenant_id: str) -> bool:
        """Whether this caller may act on ``tenant_id``'s own records: the platform on any
        tenant, a tenant on itself only."""
        return self.tenant_id is None or self.tenant_id == tenant_id

    def row_scope(
        self, *, tenant_owned: bool, vendor_column: bool
    ) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Any dataset's rows this caller sees, in no engine's language: each ``(column,
        values)`` pair keeps the rows whose ``column`` is one of ``values`` (none: no row).
        A tenant-owned dataset's rows are the tenant's; rows with a vendor, the entitled
        vendors'. Readers turn the pairs into a scan filter and an SQL condition.

        >>> Access("acme", vendors=frozenset({"RP"})).row_scope(tenant_owned=True,
        ...                                                     vendor_column=True)
        (('tenant_id', ('acme',)), ('vendor', ('RP',)))
        >>> Access.platform().row_scope(tenant_owned=True, vendor_column=True)
        ()
        """
        scope: list[tuple[str, tuple[str, ...]]] = []
        if tenant_owned and self.tenant_id is not None:
            scope.append(("tenant_id", (self.tenant_id,)))
        if vendor_column and self.vendors is not None:
            scope.append(("vendor", tuple(sorted(self.vendors))))
        return tuple(scope)

    # -- shared logs: runs and the audit log ------------------------------------------------------

    def sees(self, tenant_column: Any, vendor_column: Any) -> sa.ColumnElement[bool]:
        """SQLAlchemy: the platform's entries and this tenant's own, of entitled vendors or of no
        known vendor (another tenant's entries are never seen)."""
        import sqlalchemy as sa

        if self.tenant_id is None:
            return sa.true()
        condition = sa.or_(tenant_column.is_(None), tenant_column == self.tenant_id)
        if self.vendors is not None:
            condition = sa.and_(
                condition, sa.or_(vendor_column.is_(None), vendor_column.in_(self.vendors))
            )
        return condition

    def sees_entry(self, tenant_id: str | None, vendor: str | None) -> bool:
        """Python: the same rule as :meth:`sees`, for one entry."""
        if self.tenant_id is None:
            return True
        mine = tenant_id is None or tenant_id == self.tenant_id
        return mine and (self.vendors is None or vendor is None or vendor in self.vendors)

    # -- cached answers --------------------------------------------------------------------------

    def cache_scope(self, *, tenant_owned: bool) -> str:
        """What an answer's cache key and ETag must carry: the vendors seen and, for a
        tenant-owned dataset, the tenant (callers who see different rows never share one)."""
        scope = "*" if self.vendors is None else ",".join(sorted(self.vendors))
        return f"{scope}|tenant={self.tenant_id or '*'}" if tenant_owned else scope


# Aurum itself, acting as "aurum" (a default for services the platform calls).
PLATFORM = Access.platform()
