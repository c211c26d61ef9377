"""``/v1/operations``: the operator's data. Quarantined cells, dead letters, rule and gate
outcomes over time, the versions of an as-of day and what changed between two of them, and the
files each vendor owes against those that came.

Ops and admins only (like the ingest log); every vendor named is checked against the caller's
entitlements (403 ``vendor_not_entitled``), and lists show the entitled vendors' rows of the runs
the caller may see (``aurum.query.operations``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, Services, ServicesDep, envelope, objects, read
from aurum.api.models import Envelope, IdentityFields, LogEnvelope
from aurum.api.params import PagingDep, entitled, parse_asof, parse_date
from aurum.api.security import requires
from aurum.auth.principal import OPS
from aurum.datasets.curves import CURVE_OBSERVATION, DEAD_LETTER, QA_CHECKS, QUARANTINE
from aurum.domain import schedule
from aurum.domain.calendar import FIRST_YEAR, LAST_YEAR
from aurum.errors import Gone, IngestError, RequestError
from aurum.ingest.days import DayVersion, day_history
from aurum.ingest.layouts import detect_layout, file_name_date
from aurum.query.operations import DIFF_STATUSES, FILE_STATES, Operations, known_vendor
from aurum.query.page import Page

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/operations",
    tags=["operations"],
    responses=READ_RESPONSES,
    dependencies=[requires(OPS)],
)

# -- documented shapes --------------------------------------------------------------------------


class QuarantineRow(IdentityFields):
    """A row held back at ingest: the cell it came from, as read, and why."""

    model_config = ConfigDict(populate_by_name=True)

    asof_date: date
    vendor: str
    run_id: str
    source_file: str
    sheet_name: str
    source_cell: str = Field(description="Where the price cell is, e.g. 'Fixed Prices - Mid'!D13.")
    quarantine_reason: str = Field(description="The rules it failed, ';'-joined.")
    raw_mid: str | None = Field(None, description="The Mid cell as read.")
    raw_bidask: str | None = Field(None, description="The BidAsk cell as read.")
    tenor_type: str | None = None
    tenor_label: str | None = None
    mid: float | None = None
    bid: float | None = None
    ask: float | None = None
    currency: str | None = None
    per_unit: str | None = None
    ingest_ts: datetime = Field(alias="_ingest_ts", description="When Aurum read the file (UTC).")


class DeadLetterRow(BaseModel):
    """A file that could not be ingested at all."""

    run_id: str
    file: str
    sha256: str | None = None
    vendor: str | None = None
    error_code: str
    message: str
    diagnostics: str = Field(description="JSON text: facts that help fix the file.")
    raw_path: str | None = Field(None, description="Where the raw file is archived.")
    failed_at: datetime


class GateDay(BaseModel):
    """One rule's or gate's outcome on one vendor's as-of day (its latest run's)."""

    asof_date: date | None = None
    vendor: str | None = None
    stage: str = Field(description="parse (row rules) or gate (day-over-day).")
    rule: str
    severity: str = Field(description="quarantine, warn or fail.")
    failed: int
    checked: int
    sample_keys: list[str]
    run_id: str = Field(description="The day's latest run that checked it.")
    checked_at: datetime
    runs: int = Field(description="Runs of the day that checked it.")
    runs_failed: int = Field(description="Of those, the runs where it found something.")


class DayVersionOut(BaseModel):
    """One published version of a vendor's as-of day."""

    version: int
    tag: str
    snapshot_id: int
    published_at: datetime
    run_id: str
    sha256: str = Field(description="SHA-256 of the workbook it was read from.")
    file: str | None = None
    rows: int
    current: bool = Field(description="The newest version: what the curves show now.")


class VersionDiffRow(IdentityFields):
    """One tenor of a day in two of its versions."""

    curve_key: str
    tenor_label: str
    currency: str | None = None
    per_unit: str | None = None
    tenor_type: str | None = None
    mid_from: float | None = None
    mid_to: float | None = None
    change: float | None = Field(None, description="mid_to - mid_from.")
    change_pct: float | None = Field(None, description="Percent of |mid_from|; null at 0.")
    bid_from: float | None = None
    bid_to: float | None = None
    ask_from: float | None = None
    ask_to: float | None = None
    status: str = Field(description="changed, added, removed or unchanged.")


class ReceivedFileOut(BaseModel):
    run_id: str
    file: str
    status: str
    sha256: str | None = None
    version: int | None = None
    tag: str | None = None
    error_code: str | None = None
    received_at: datetime
    finished_at: datetime | None = None


class FileDayOut(BaseModel):
    """A vendor's as-of day: the file owed, by when, and what came."""

    vendor: str
    asof_date: date
    expected: bool = Field(description="A business day of the vendor: a file is owed.")
    cutoff_at: datetime = Field(description="When the file is due (UTC).")
    cutoff_passed: bool
    state: str = Field(description=" | ".join(FILE_STATES))
    overdue: bool = Field(description="Owed, past its cut-off and not published.")
    version: int | None = None
    tag: str | None = None
    received_at: datetime | None = None
    late: bool | None = Field(None, description="The first file came after the cut-off.")
    files: list[ReceivedFileOut]


# -- parameters ---------------------------------------------------------------------------------

VendorParam = Annotated[str | None, Query(description="EUGP, RP or PW.", max_length=64)]
FromParam = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD", max_length=10)]
ToParam = Annotated[str | None, Query(alias="to", description="YYYY-MM-DD", max_length=10)]
_FOREVER = (date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31))


class Stage(StrEnum):
    parse = "parse"
    gate = "gate"


class DiffStatus(StrEnum):  # aurum.query.operations.DIFF_STATUSES
    changed = "changed"
    added = "added"
    removed = "removed"
    unchanged = "unchanged"


def _operations(request: Request) -> Operations:
    services = request.app.state.services
    return Operations(services.lake, services.store, timeout_s=services.settings.query.timeout_s)


def _vendor(request: Request, vendor: str | None) -> str | None:
    """A vendor's code: 404 ``vendor_unknown`` for no vendor Aurum knows, 403 for one the
    caller's tenant is not entitled to."""
    if not vendor:
        return None
    code = known_vendor(vendor)
    entitled(request, code)
    return code


def _range(first: str | None, last: str | None) -> tuple[date, date] | None:
    """``from``..``to`` (either may be left open); ``None`` when neither is given."""
    if first is None and last is None:
        return None
    days = (
        parse_date(first, "from") if first else _FOREVER[0],
        parse_date(last, "to") if last else _FOREVER[1],
    )
    if days[0] > days[1]:
        raise RequestError("filters_contradictory", f"from ({days[0]}) is after to ({days[1]})")
    return days


LogPage = Callable[[Operations, int, int, int], Page]


def _log_read(
    request: Request, services: Services, name: str, limit: int | None, page: LogPage
) -> Response:
    """``read`` of one log, pinned to its snapshot and cached per tenant: which runs a caller
    sees depends on its tenant, not only on its vendors."""
    operations = _operations(request)

    def rows(snapshot: int | None, size: int, offset: int, fmt: str) -> Page:
        assert snapshot is not None  # pinned by `pin` below
        return page(operations, snapshot, size, offset)

    return read(
        request, services, rows, as_at=None, limit=limit,
        pin=lambda snapshot: operations.pin(name, None, snapshot), tenant_owned=True, dataset=name,
    )  # fmt: skip


# -- the logs -----------------------------------------------------------------------------------


@router.get("/quarantine", response_model=Envelope[QuarantineRow], summary="Quarantined rows")
def quarantine(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    vendor: VendorParam = None,
    asof: Annotated[
        str | None,
        Query(
            description="An as-of date YYYY-MM-DD or a range YYYY-MM-DD..YYYY-MM-DD.", max_length=32
        ),
    ] = None,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    reason: Annotated[
        str | None, Query(description="One rule, e.g. mid_not_numeric.", max_length=128)
    ] = None,
) -> Response:
    """Rows held back at ingest, newest as-of first: the sheet and cell each came from, the raw
    Mid and BidAsk text, the rules it failed and the row it would have been."""
    code = _vendor(request, vendor)
    days = parse_asof(asof)
    if days == "latest":
        raise RequestError("parameter_invalid", "asof takes a date or a range here, not latest")
    access = request.state.principal.access

    def page(operations: Operations, snapshot: int, limit: int, offset: int) -> Page:
        return operations.quarantine(
            access, snapshot_id=snapshot, vendor=code, asof=days, run_id=run_id, reason=reason,
            limit=limit, offset=offset,
        )  # fmt: skip

    return _log_read(request, services, QUARANTINE.name, paging.limit, page)


@router.get("/dead-letters", response_model=Envelope[DeadLetterRow], summary="Dead letters")
def dead_letters(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    vendor: VendorParam = None,
    from_: FromParam = None,
    to: ToParam = None,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    error_code: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Files that could not be ingested at all, newest first, with their stable error code,
    diagnostics and where the raw file is archived; `from`/`to`: the days (UTC) they failed."""
    code = _vendor(request, vendor)
    failed = _range(from_, to)
    access = request.state.principal.access

    def page(operations: Operations, snapshot: int, limit: int, offset: int) -> Page:
        return operations.dead_letters(
            access, snapshot_id=snapshot, vendor=code, failed=failed, run_id=run_id,
            error_code=error_code, limit=limit, offset=offset,
        )  # fmt: skip

    return _log_read(request, services, DEAD_LETTER.name, paging.limit, page)


@router.get("/gates", response_model=Envelope[GateDay], summary="Rule and gate outcomes over time")
def gates(
    request: Request,
    services: ServicesDep,
    paging: PagingDep,
    vendor: VendorParam = None,
    from_: FromParam = None,
    to: ToParam = None,
    rule: Annotated[str | None, Query(max_length=128)] = None,
    stage: Annotated[Stage | None, Query(description="parse or gate (default: both).")] = None,
    failed_only: bool = False,
) -> Response:
    """Each rule's and gate's outcome per vendor and as-of day (`from`..`to`), oldest first:
    severity, rows (or curves) failed and checked, samples. A day ingested more than once shows
    its latest run's outcome, with how many runs checked it and how many found something."""
    code = _vendor(request, vendor)
    days = _range(from_, to)
    access = request.state.principal.access

    def page(operations: Operations, snapshot: int, limit: int, offset: int) -> Page:
        return operations.gates(
            access, snapshot_id=snapshot, vendor=code, asof=days, rule=rule,
            stage=stage.value if stage else None, failed_only=failed_only, limit=limit,
            offset=offset,
        )  # fmt: skip

    return _log_read(request, services, QA_CHECKS.name, paging.limit, page)


# -- a day's versions ---------------------------------------------------------------------------

DayVendor = Annotated[str, Path(description="EUGP, RP or PW.", max_length=64)]
DayAsof = Annotated[str, Path(description="The as-of date, YYYY-MM-DD.", max_length=10)]


def _day(request: Request, vendor: str, asof: str) -> tuple[str, date, list[DayVersion]]:
    code = _vendor(request, vendor)
    assert code is not None
    day = parse_date(asof, "asof")
    table = request.app.state.services.lake.current(CURVE_OBSERVATION.name)
    return code, day, day_history(table, code, day)


@router.get(
    "/days/{vendor}/{asof}/versions",
    response_model=LogEnvelope[DayVersionOut],
    summary="The versions of an as-of day",
)
def versions(request: Request, vendor: DayVendor, asof: DayAsof) -> Response:
    """Every published version of a vendor's as-of day, oldest first: tag, snapshot, when,
    the run and workbook (SHA-256, file name) that made it, its rows, and which is current.
    404 `day_unknown` when the day has no published version."""
    code, day, history = _day(request, vendor, asof)
    found = _operations(request).versions(request.state.principal.access, code, day, history)
    return envelope(found, vendor=code, asof_date=day.isoformat())


@router.get(
    "/days/{vendor}/{asof}/diff",
    response_model=Envelope[VersionDiffRow],
    summary="What changed between two versions of a day",
)
def diff(
    request: Request,
    services: ServicesDep,
    vendor: DayVendor,
    asof: DayAsof,
    paging: PagingDep,
    from_: Annotated[
        int | None,
        Query(
            alias="from", ge=1, le=1_000_000, description="Version A (default: the one before B)."
        ),
    ] = None,
    to: Annotated[
        int | None, Query(ge=1, le=1_000_000, description="Version B (default: the newest).")
    ] = None,
    status: Annotated[
        list[DiffStatus] | None,
        Query(description="Which tenors: changed, added, removed (default) and/or unchanged."),
    ] = None,
) -> Response:
    """Tenor by tenor (curve key and tenor label), version A of a vendor's day against
    version B: mid, bid and ask on each side, the change of the mid and its percent, and a
    status; the biggest changes first. `meta` counts every status. 404 `version_unknown` for a
    version the day does not have."""
    code, day, history = _day(request, vendor, asof)
    statuses = tuple(dict.fromkeys(s.value for s in status or ())) or DIFF_STATUSES[:3]
    operations = _operations(request)
    access = request.state.principal.access
    second = to

    def pin(snapshot: int | None) -> int:
        nonlocal second
        if snapshot is not None and second is None:  # a cursor keeps page one's newest
            held = [v.version for v in history if v.snapshot_id == snapshot]
            if not held:
                raise Gone("cursor_expired", "the cursor's version is no longer kept; start again")
            second = held[0]
        return operations.diff_versions(access, code, day, history, from_, second)[1].snapshot_id

    def rows(snapshot: int | None, limit: int, offset: int, fmt: str) -> Page:
        return operations.version_diff(
            access, code, day, history, first=from_, second=second, statuses=statuses,
            limit=limit, offset=offset,
        )  # fmt: skip

    return read(request, services, rows, as_at=None, limit=paging.limit, pin=pin)


# -- expected and received files ----------------------------------------------------------------


@router.get("/files", response_model=LogEnvelope[FileDayOut], summary="Files owed and received")
def files(
    request: Request,
    vendor: VendorParam = None,
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            description="First as-of, YYYY-MM-DD (default: 13 days before to).",
            max_length=10,
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(description="Last as-of, YYYY-MM-DD (default: today, UTC).", max_length=10),
    ] = None,
) -> Response:
    """Per vendor and as-of day (`from`..`to`, at most 366 days): whether a file is owed (the
    vendor's business days, less TARGET, England and Wales or NERC holidays), its cut-off (UTC),
    the files that came (ingest runs with their ids: published, duplicate or failed) and the
    day's `state`: `published` (a version is in the lake), `in_progress`, `failed` (files came,
    none published), `missing` (none came, past the cut-off) or `pending` (before it).
    `overdue`: owed, past its cut-off and not published. Without `vendor`: every vendor your
    tenant is entitled to."""
    access = request.state.principal.access
    code = _vendor(request, vendor)
    chosen = [code] if code else [v for v in schedule.vendors() if access.may_read(v)]
    now = datetime.now(UTC)
    last = parse_date(to, "to") if to else now.date()
    first = parse_date(from_, "from") if from_ else last - timedelta(days=13)
    days = _operations(request).files(access, chosen, first, last, now=now, file_day=_file_day)
    summary = {state: sum(d.state == state for d in days) for state in FILE_STATES}
    return objects(
        days, vendors=chosen, **{"from": first.isoformat(), "to": last.isoformat()},
        now=now.isoformat(), overdue=sum(d.overdue for d in days), states=summary,
    )  # fmt: skip


def _file_day(name: str) -> date | None:
    """The as-of date a vendor file's name carries, if it is one of the vendors' names."""
    try:
        return file_name_date(detect_layout(name), name)
    except IngestError:
        return None
