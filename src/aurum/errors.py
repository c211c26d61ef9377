"""The one exception tree of Aurum.

Every error Aurum raises on purpose is an ``AurumError`` with a stable, machine-readable ``code``
(used in dead-letter records, CLI output and HTTP problem documents), a human message and
optional ``diagnostics`` (small, JSON-serialisable facts that help someone fix the input). The
distinctions a caller acts on are *classes*, and each class carries its HTTP status, so the API
maps an error to HTTP by its class alone (``http_status``)::

    AurumError                 400
    ├── ConfigError            503  settings that cannot work (bad path, bad value)
    ├── NotInstalledError      503  an optional backend's extra is missing: says what to install
    ├── IngestError            422  a file that cannot be ingested at all (→ one dead letter)
    │   ├── WorkbookError           not a readable .xlsx: empty, truncated, encrypted, .xls(b), huge
    │   ├── LayoutError             readable, but not the vendor layout: sheets, labels, headers
    │   ├── AsOfError               as-of date missing, unreadable, or contradicting the file name
    │   └── PayloadError            a feed payload that cannot be read as its source's format
    ├── ValidationFailed       422  a quality gate failed (the run publishes nothing)
    ├── StoreError             400  operational store problems
    │   ├── NotFound           404  no such row (another tenant's row is answered the same)
    │   └── Conflict           409  the name is taken, the state does not allow it
    ├── QueryError             400  a question that cannot be asked as put
    │   ├── Unknown            404  it names nothing there is: a curve, a snapshot, a day, a table
    │   ├── Gone               410  it named something no longer kept (an expired cursor)
    │   ├── QueryTimeout       503  it ran longer than the time limit
    │   └── AnswerTooLarge     422  a file answer over its row limit (refused, never cut short)
    ├── RequestError           400  the HTTP layer's own: a bad cursor, an upload without a name
    │   ├── NotAcceptable      406  a format that is not offered
    │   └── PayloadTooLarge    413  a body over the limit
    ├── Unavailable            503  a dependency (store, catalog, identity provider) is down:
    │                               retry later (``Retry-After``; details only in the log)
    ├── AuthError              401  no valid credentials (bad token or key)
    ├── Forbidden              403  valid credentials, not allowed (role, entitlement)
    ├── RateLimited            429  too many requests for this principal or address
    ├── ScenarioError          422
    ├── ValuationError         422
    └── BackupError            422  a backup that cannot be taken or restored: damaged, a target
                                    that is not empty, a file that vanished mid-copy

Row-level problems are never exceptions: they become quarantine rows with a reason. The Python
client's ``aurum.client.ApiError`` (an ``AurumError`` too) is the other side of the wire: an error
answer *received*, carrying the server's code and status.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "AnswerTooLarge",
    "AsOfError",
    "AurumError",
    "AuthError",
    "BackupError",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "Gone",
    "IngestError",
    "LayoutError",
    "NotAcceptable",
    "NotFound",
    "NotInstalledError",
    "PayloadError",
    "PayloadTooLarge",
    "QueryError",
    "QueryTimeout",
    "RateLimited",
    "RequestError",
    "ScenarioError",
    "StoreError",
    "Unavailable",
    "Unknown",
    "ValidationFailed",
    "ValuationError",
    "WorkbookError",
]


class AurumError(Exception):
    """Base of every deliberate Aurum error.

    >>> e = LayoutError("sheet_missing", "no 'Spark Spread' sheet", sheet="Spark Spread")
    >>> (e.code, str(e), e.diagnostics, e.http_status)
    ('sheet_missing', "no 'Spark Spread' sheet", {'sheet': 'Spark Spread'}, 422)
    """

    default_code: ClassVar[str] = "aurum_error"
    http_status: ClassVar[int] = 400

    def __init__(self, code: str | None = None, message: str = "", **diagnostics: Any) -> None:
        self.code = code or self.default_code
        self.message = message or self.code
        self.diagnostics = diagnostics
        super().__init__(self.message)


class ConfigError(AurumError):
    default_code = "config_invalid"
    http_status = 503


class NotInstalledError(AurumError):
    default_code = "not_installed"
    http_status = 503


class IngestError(AurumError):
    default_code = "ingest_failed"
    http_status = 422


class WorkbookError(IngestError):
    default_code = "workbook_unreadable"


class LayoutError(IngestError):
    default_code = "layout_mismatch"


class AsOfError(IngestError):
    default_code = "asof_invalid"


class PayloadError(IngestError):
    default_code = "payload_invalid"


class ValidationFailed(AurumError):
    default_code = "validation_failed"
    http_status = 422


class StoreError(AurumError):
    default_code = "store_error"


class NotFound(StoreError):
    default_code = "not_found"
    http_status = 404


class Conflict(StoreError):
    default_code = "conflict"
    http_status = 409


class QueryError(AurumError):
    default_code = "query_invalid"


class Unknown(QueryError):
    default_code = "unknown"
    http_status = 404


class Gone(QueryError):
    default_code = "gone"
    http_status = 410


class QueryTimeout(QueryError):
    default_code = "query_timeout"
    http_status = 503


class AnswerTooLarge(QueryError):
    """A file answer would hold more rows than it may: refused whole, never cut short."""

    default_code = "answer_too_large"
    http_status = 422


class RequestError(AurumError):
    default_code = "parameter_invalid"


class NotAcceptable(RequestError):
    default_code = "format_unsupported"
    http_status = 406


class PayloadTooLarge(RequestError):
    default_code = "upload_too_large"
    http_status = 413


class Unavailable(AurumError):
    """A dependency is down or unreachable. ``message`` may name it (hosts, ports) for operators;
    ``public`` is what a remote caller is told."""

    default_code = "unavailable"
    http_status = 503

    @property
    def public(self) -> str:
        what = self.diagnostics.get("dependency", "a service Aurum depends on")
        return f"{what} is unavailable right now; retry shortly"


class AuthError(AurumError):
    default_code = "unauthenticated"
    http_status = 401


class Forbidden(AurumError):
    default_code = "forbidden"
    http_status = 403


class RateLimited(AurumError):
    default_code = "rate_limited"
    http_status = 429


class ScenarioError(AurumError):
    default_code = "scenario_invalid"
    http_status = 422


class ValuationError(AurumError):
    default_code = "valuation_invalid"
    http_status = 422


class BackupError(AurumError):
    """A backup, restore or migration that cannot go on: a damaged or incomplete backup, a
    target that is not empty, a file that vanished while it was copied."""

    default_code = "backup_failed"
    http_status = 422
