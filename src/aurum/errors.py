"""The one exception tree of Aurum.

Every error Aurum raises on purpose is an ``AurumError`` with a stable, machine-readable ``code``
(used in dead-letter records, CLI output and, later, HTTP problem documents), a human message and
optional ``diagnostics`` (small, JSON-serialisable facts that help someone fix the input)::

    AurumError
    ├── ConfigError            settings that cannot work (bad path, bad value)
    ├── NotInstalledError      an optional backend's extra is missing: says what to pip install
    ├── IngestError            a file that cannot be ingested at all (→ one dead-letter record)
    │   ├── WorkbookError      not a readable .xlsx: empty, truncated, encrypted, .xls(b), huge
    │   ├── LayoutError        readable, but not the vendor layout: sheets, labels, headers
    │   └── AsOfError          as-of date missing, unreadable, or contradicting the file name
    ├── ValidationFailed       a quality gate failed (the run publishes nothing)
    ├── StoreError             operational store problems
    │   ├── NotFound
    │   └── Conflict
    ├── QueryError
    ├── Unavailable            a service Aurum depends on (store, catalog) cannot be reached:
    │                          retry later (HTTP 503 with Retry-After; details only in the log)
    ├── AuthError              no valid credentials (bad token or key): 401
    ├── Forbidden              valid credentials, not allowed (role, entitlement): 403
    ├── RateLimited            too many requests for this principal: 429
    ├── ScenarioError
    └── ValuationError

Row-level problems are never exceptions: they become quarantine rows with a reason.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AsOfError",
    "AurumError",
    "AuthError",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "IngestError",
    "LayoutError",
    "NotFound",
    "NotInstalledError",
    "QueryError",
    "RateLimited",
    "ScenarioError",
    "StoreError",
    "Unavailable",
    "ValidationFailed",
    "ValuationError",
    "WorkbookError",
]


class AurumError(Exception):
    """Base of every deliberate Aurum error.

    >>> e = LayoutError("sheet_missing", "no 'Spark Spread' sheet", sheet="Spark Spread")
    >>> (e.code, str(e), e.diagnostics)
    ('sheet_missing', "no 'Spark Spread' sheet", {'sheet': 'Spark Spread'})
    """

    default_code = "aurum_error"

    def __init__(self, code: str | None = None, message: str = "", **diagnostics: Any) -> None:
        self.code = code or self.default_code
        self.message = message or self.code
        self.diagnostics = diagnostics
        super().__init__(self.message)


class ConfigError(AurumError):
    default_code = "config_invalid"


class NotInstalledError(AurumError):
    default_code = "not_installed"


class IngestError(AurumError):
    default_code = "ingest_failed"


class WorkbookError(IngestError):
    default_code = "workbook_unreadable"


class LayoutError(IngestError):
    default_code = "layout_mismatch"


class AsOfError(IngestError):
    default_code = "asof_invalid"


class ValidationFailed(AurumError):
    default_code = "validation_failed"


class StoreError(AurumError):
    default_code = "store_error"


class NotFound(StoreError):
    default_code = "not_found"


class Conflict(StoreError):
    default_code = "conflict"


class QueryError(AurumError):
    default_code = "query_invalid"


class Unavailable(AurumError):
    """A dependency is down or unreachable. ``message`` may name it (hosts, ports) for operators;
    ``public`` is what a remote caller is told."""

    default_code = "unavailable"

    @property
    def public(self) -> str:
        what = self.diagnostics.get("dependency", "a service Aurum depends on")
        return f"{what} is unavailable right now; retry shortly"


class AuthError(AurumError):
    default_code = "unauthenticated"


class Forbidden(AurumError):
    default_code = "forbidden"


class RateLimited(AurumError):
    default_code = "rate_limited"


class ScenarioError(AurumError):
    default_code = "scenario_invalid"


class ValuationError(AurumError):
    default_code = "valuation_invalid"
