"""The API's documented shapes (OpenAPI). Handlers encode Arrow rows straight to JSON for speed;
these models say what those rows hold, and schemathesis checks that the answers match."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "ApiKeyOut",
    "AsofDate",
    "AssumptionIn",
    "AssumptionOut",
    "AssumptionValueIn",
    "AuditEntryOut",
    "CurveInfo",
    "CurveRow",
    "DiffRow",
    "DocumentIn",
    "DocumentOut",
    "DocumentPatch",
    "Envelope",
    "IngestResult",
    "IngestRun",
    "IssuedKeyOut",
    "KeyIn",
    "LatestRow",
    "LogEnvelope",
    "LogMeta",
    "Me",
    "Meta",
    "ModelRunOut",
    "Problem",
    "QaCheck",
    "RunIn",
    "ScenarioIn",
    "ScenarioOutputRow",
    "ScenarioRunOut",
    "ScenarioVersionOut",
    "StripRow",
    "Vendor",
]  # fmt: skip

T = TypeVar("T")


class Meta(BaseModel):
    """What the page was read from, and how to get the next one."""

    model_config = ConfigDict(extra="allow")

    snapshot_id: int = Field(description="Iceberg snapshot of curve_observation read.")
    count: int = Field(description="Rows in this page.")
    offset: int = 0
    limit: int | None = None
    limit_capped: bool = False
    has_more: bool = False
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page.")
    query_ms: float = Field(description="Time the query took on the server, milliseconds.")


class Envelope(BaseModel, Generic[T]):
    meta: Meta
    data: list[T]


class LogMeta(BaseModel):
    """Meta of the operational lists (ingest runs, quality checks, an upload's result)."""

    model_config = ConfigDict(extra="allow")

    count: int
    limit: int | None = None
    snapshot_id: int | None = None


class LogEnvelope(BaseModel, Generic[T]):
    meta: LogMeta
    data: list[T]


class IdentityFields(BaseModel):
    """A curve's identity as answers show it (each part may be empty)."""

    curve_key: str | None = None
    asset_class: str | None = None
    iso: str | None = None
    region: str | None = None
    location: str | None = None
    market: str | None = None
    product: str | None = None
    block: str | None = None
    spark_location: str | None = None


class _Identity(IdentityFields):
    vendor: str | None = None
    curve_key: str


class CurveRow(_Identity):
    asof_date: date
    price_type: str | None = None
    units_raw: str | None = None
    currency: str | None = None
    per_unit: str | None = None
    tenor_type: str
    tenor_label: str
    contract_month: date | None = None
    tenor_start: date | None = None
    tenor_end: date | None = None
    value: float | None = None
    bid: float | None = None
    ask: float | None = None
    mid: float | None = None
    version_hash: str | None = None
    source_file: str | None = None


class LatestRow(CurveRow):
    age_days: int = Field(description="Days between this row's as-of and the reference as-of.")


class DiffRow(_Identity):
    currency: str | None = None
    per_unit: str | None = None
    tenor_label: str
    tenor_type: str | None = None
    value_from: float | None = None
    value_to: float | None = None
    change: float | None = Field(None, description="value_to - value_from, to their decimals.")
    change_pct: float | None = Field(None, description="Percent of |value_from|; null at 0.")
    status: str = Field(description="changed, unchanged, added or removed.")
    z: float | None = Field(
        None,
        description="Robust z-score of the change within its curve family (asset class, product"
        " and units): (change - median) / (1.4826 MAD); null when the family's changes have no"
        " spread.",
    )


class DiffCell(BaseModel):
    family: str = Field(
        description="The curve family: asset class, product and units, normalised"
        " (`power|power|EUR/MWh`), as the diff's z-scores use it."
    )
    asset_class: str | None = None
    product: str | None = None
    currency: str | None = None
    per_unit: str | None = None
    year: int = Field(description="Delivery year: of each tenor's first delivery day.")
    tenors: int = Field(description="Tenors compared (added and removed ones included).")
    changed: int = Field(description="Tenors whose value changed.")
    mean_change: float | None = Field(None, description="Mean of the tenors' changes.")
    mean_change_pct: float | None = Field(None, description="Mean of the tenors' % changes.")
    max_abs_change_pct: float | None = Field(None, description="The largest |% change|.")
    top_curve_key: str | None = Field(None, description="The curve of the largest |% change|.")
    top_tenor_label: str | None = Field(None, description="Its tenor.")
    top_change_pct: float | None = Field(None, description="Its % change (signed).")


class StripRow(_Identity):
    asof_date: date
    currency: str | None = None
    per_unit: str | None = None
    source: str = Field(description="derived (Aurum's, from the monthly rows) or vendor (quoted).")
    kind: str = Field(
        description="calendar, quarter, season or custom; for vendor rows their tenor type"
        " (calendar, season, quarter, balance)."
    )
    label: str = Field(description="`Calendar 2026`, `Q1 2026`; a started period `Bal Cal 2025`.")
    start_month: date = Field(description="The strip's first delivery month.")
    end_month: date
    first_day: date = Field(
        description="The first delivery day (mid-month for a balance strip"
        " that keeps the rest of the as-of month, or a custom start day)."
    )
    weighting: str = Field(description="hours (power), days (gas) or simple.")
    value: float | None = None
    months_present: int | None = Field(None, description="Derived strips: months priced.")
    months_expected: int | None = Field(None, description="Derived strips: months on the curve.")
    complete: bool | None = Field(None, description="Derived strips: every month priced.")


class CurveInfo(_Identity):
    price_type: str | None = None
    units_raw: str | None = None
    currency: str | None = None
    per_unit: str | None = None
    first_asof: date
    last_asof: date
    asof_count: int
    tenor_types: list[str]
    tenors_at_last_asof: int
    first_month_at_last_asof: date | None = None
    last_month_at_last_asof: date | None = None


class AsofDate(BaseModel):
    vendor: str
    asof_date: date
    rows: int
    version: int | None = Field(None, description="Newest published version (tag v{n}).")


class Vendor(BaseModel):
    vendor: str
    asof_count: int
    first_asof: date
    last_asof: date
    rows: int


class IngestRun(BaseModel):
    """One ingest run as the operational store records it."""

    run_id: str
    file: str
    sha256: str | None = None
    vendor: str | None = None
    asof: date | None = None
    status: str = Field(description="running, staged, published, failed or duplicate.")
    branch: str | None = None
    snapshot_id: int | None = None
    tag: str | None = None
    version: int | None = None
    rows: int | None = None
    quarantined: int | None = None
    price_cells: int | None = None
    published_cells: int | None = None
    quarantined_cells: int | None = None
    copy_cells: int | None = None
    dead_letter_cells: int | None = None
    parse_seconds: float | None = None
    publish_seconds: float | None = None
    error_code: str | None = None
    error_message: str | None = None
    gate_failures: list[str] = []
    started_at: datetime
    finished_at: datetime | None = None


class Conservation(BaseModel):
    """Every price cell is published, quarantined, a verified copy or dead-lettered."""

    price_cells: int
    published_cells: int
    quarantined_cells: int
    copy_cells: int
    dead_letter_cells: int
    holds: bool


class IngestResult(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str
    status: str
    file: str
    vendor: str | None = None
    asof: str | None = None
    rows: int
    quarantined: int
    snapshot_id: int | None = None
    tag: str | None = None
    version: int | None = None
    error: str | None = None
    conservation: Conservation
    run: IngestRun


class QaCheck(BaseModel):
    """One rule's or gate's outcome in one ingest run."""

    run_id: str
    vendor: str | None = None
    asof_date: date | None = None
    rule: str
    stage: str = Field(description="parse (row rules) or gate (day-over-day).")
    severity: str = Field(description="quarantine, warn or fail.")
    failed: int
    checked: int
    sample_keys: list[str]
    checked_at: datetime


class Problem(BaseModel):
    """An error (RFC 9457 problem details) with Aurum's stable ``code``."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str
    detail: str
    instance: str | None = None
    request_id: str | None = None
    diagnostics: dict[str, Any] | None = None


# -- tenants' own objects, keys, audit -----------------------------------------------------------

_NAME_RULES: dict[str, Any] = {"min_length": 1, "max_length": 200, "pattern": r"^[^\x00-\x1f]+$"}
_NAME = Field(**_NAME_RULES)
_INT64 = (-(2**63), 2**63 - 1)


def plain_json(value: Any) -> Any:
    """``value`` if every part of it can be stored and written back as JSON by any backend and
    any client: integers within 64 bits, finite numbers, text without lone surrogates (which
    UTF-8 cannot hold). Anything else is refused (400) before it is stored, so a stored object
    can never make a list of them unreadable."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:  # iterative: nesting depth costs no stack
        where, item = pending.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not _INT64[0] <= item <= _INT64[1]:
                raise ValueError(f"{where or 'value'}: integers must fit in 64 bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError(f"{where or 'value'}: NaN and Infinity are not JSON numbers")
        elif isinstance(item, str):
            plain_text(item, where)
        elif isinstance(item, dict):
            for key, inner in item.items():
                plain_text(key, f"{where}.{key!a}" if where else repr(key))
                pending.append((f"{where}.{key}" if where else str(key), inner))
        elif isinstance(item, list):
            pending.extend((f"{where}[{i}]", inner) for i, inner in enumerate(item))
        else:
            raise ValueError(f"{where or 'value'}: not a JSON value ({type(item).__name__})")
    return value


def plain_text(text: str, where: str = "") -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{where or 'text'}: not valid Unicode (a lone surrogate \\ud800-\\udfff)"
        ) from None
    return text


PlainJson = Annotated[Any, AfterValidator(plain_json)]
PlainText = Annotated[str, AfterValidator(plain_text)]


class DocumentIn(BaseModel):
    """A scenario, PPA contract or curve definition to create."""

    model_config = ConfigDict(extra="forbid")

    name: PlainText = _NAME
    description: PlainText = Field("", max_length=10_000)
    spec: Annotated[dict[str, Any], AfterValidator(plain_json)] = Field(
        default_factory=dict, description="The object's definition."
    )


class DocumentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText | None = Field(None, **_NAME_RULES)
    description: PlainText | None = Field(None, max_length=10_000)
    spec: Annotated[dict[str, Any], AfterValidator(plain_json)] | None = None


class AssumptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PlainText = _NAME
    value: PlainJson = Field(
        description="A typed assumption: shock, fuel_curve, carbon, heat_rate, load_growth or"
        " fleet_change (see GET /v1/scenarios/schema); an invalid one is a 422 naming the field."
    )


class DocumentOut(BaseModel):
    id: str
    kind: str
    tenant_id: str
    name: str
    description: str
    spec: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int | None = Field(None, description="A scenario's current version.")


class ScenarioIn(BaseModel):
    """A scenario to create: its settings (``spec``, see ``GET /v1/scenarios/schema``) and,
    optionally, its first assumptions in order."""

    model_config = ConfigDict(extra="forbid")

    name: PlainText = _NAME
    description: PlainText = Field("", max_length=10_000)
    spec: Annotated[dict[str, Any], AfterValidator(plain_json)] = Field(
        description="Scenario settings: base, ensemble, attribution, seed, fx_rates, markets,"
        " stacks."
    )
    assumptions: list[AssumptionIn] = Field(default_factory=list, max_length=64)


class AssumptionValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: PlainJson = Field(description="A typed assumption (see GET /v1/scenarios/schema).")


class ScenarioVersionOut(BaseModel):
    scenario_id: str
    tenant_id: str
    version: int
    spec: dict[str, Any] = Field(description="settings and assumptions as they were.")
    change: str
    created_by: str
    created_at: datetime


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        None, ge=1, le=2**31 - 1, description="Default: the current version."
    )
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="Default: the scenario's.")


class ScenarioRunOut(BaseModel):
    id: str
    scenario_id: str
    status: str
    reused: bool | None = Field(None, description="POST …/run: an existing run answered.")
    version: int | None
    base_tags: dict[str, str]
    seed: int | None
    code_version: str | None
    tag: str | None = Field(None, description="scenario_output tag once published.")
    progress: dict[str, Any] | None
    cancel_requested: bool
    attempts: int
    error_code: str | None
    error_message: str | None
    result: dict[str, Any]
    created_by: str | None
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class ScenarioOutputRow(BaseModel):
    run_id: str
    asof_date: date
    vendor: str
    curve_key: str
    tenor_label: str
    base_value: float | None
    value: float | None
    mean: float | None = None
    p5: float | None = None
    p50: float | None = None
    p95: float | None = None
    attribution: str | None = Field(
        None, description="JSON object: each assumption's share of value - base_value."
    )


class AssumptionOut(BaseModel):
    id: str
    scenario_id: str
    tenant_id: str
    name: str
    value: Any
    created_by: str
    created_at: datetime


class ModelRunOut(BaseModel):
    id: str
    tenant_id: str
    kind: str
    subject_id: str | None
    status: str
    params: dict[str, Any]
    result: Any
    created_by: str
    created_at: datetime
    finished_at: datetime | None


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(description="aurum-admin, aurum-ops or aurum-analyst.", max_length=32)
    name: PlainText = _NAME
    expires_in_days: int | None = Field(None, ge=1, le=3660)


class ApiKeyOut(BaseModel):
    prefix: str
    tenant_id: str
    role: str
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class IssuedKeyOut(ApiKeyOut):
    token: str = Field(description="The key itself: shown this once, stored only as a hash.")


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    tenant_id: str | None
    actor: str
    action: str
    target: str | None
    request_id: str | None
    details: dict[str, Any]


class Me(BaseModel):
    subject: str
    tenant_id: str
    roles: list[str]
    vendors: list[str] | None = Field(description="Entitled vendors (null: all, dev mode).")
    via: str
