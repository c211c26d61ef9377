"""``/v1/ingest``: upload a workbook, the ingest log, and the quality history (``/v1/qa``)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import uuid
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from starlette.responses import Response

from aurum.api.deps import READ_RESPONSES, ServicesDep, envelope, objects
from aurum.api.models import IngestResult, IngestRun, LogEnvelope, Problem, QaCheck
from aurum.api.params import entitled, parse_date
from aurum.api.security import PrincipalDep, requires
from aurum.auth.principal import ANALYST, OPS
from aurum.errors import RequestError
from aurum.ingest import history
from aurum.ingest.pipeline import parse_workbook
from aurum.ingest.runner import ingest_parsed
from aurum.store import RUN_STATUSES

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["ingest"])
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


@router.get(
    "/ingest/runs",
    dependencies=[requires(OPS)],
    response_model=LogEnvelope[IngestRun],
    responses={400: READ_RESPONSES[400]},
    summary="The ingest log",
)
def runs(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    vendor: Annotated[str | None, Query(max_length=64)] = None,
    asof: Annotated[str | None, Query(description="YYYY-MM-DD", max_length=10)] = None,
    status: Annotated[
        str | None, Query(description=" | ".join(RUN_STATUSES), max_length=16)
    ] = None,
    sha256: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, description="Newest runs first; capped.")] = 100,
) -> Response:
    """Ingest runs, newest first, with their counts, version, tag and errors: the platform's
    and your tenant's, of the vendors your tenant is entitled to."""
    if status is not None and status not in RUN_STATUSES:
        raise RequestError("parameter_invalid", f"status must be one of {', '.join(RUN_STATUSES)}")
    capped = min(limit, services.settings.api.max_page_size)
    found = history.ingest_runs(
        services.store, entitled(request, vendor), vendor=vendor.upper() if vendor else None,
        asof=parse_date(asof, "asof") if asof else None, status=status, sha256=sha256,
        limit=capped,
    )  # fmt: skip
    return objects(found, limit=capped)


def upload_name(filename: str | None) -> str:
    """A safe file name for an upload: its last path part, reduced to ``[A-Za-z0-9._-]``. A
    name that names no file (empty, ``.``, ``..``, a path ending in ``/``) is ``upload_invalid``.

    >>> upload_name("../../etc/EOD_RP_20250917_1430.xlsx"), upload_name("a b.xlsx")
    ('EOD_RP_20250917_1430.xlsx', 'a_b.xlsx')
    """
    name = _SAFE_NAME.sub("_", (filename or "").replace("\\", "/").rsplit("/", 1)[-1])[:200]
    if not name.strip("."):
        raise RequestError(
            "upload_invalid",
            f"the upload's file name {filename!r} names no file: send the workbook's own name",
        )
    return name


@router.get(
    "/ingest/runs/{run_id}",
    dependencies=[requires(OPS)],
    response_model=LogEnvelope[IngestRun],
    responses={404: READ_RESPONSES[404]},
    summary="One ingest run",
)
def run(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    run_id: Annotated[str, Path(max_length=64)],
) -> Response:
    return objects([history.ingest_run(services.store, principal.access, run_id)])


@router.post(
    "/ingest",
    dependencies=[requires(OPS)],
    response_model=LogEnvelope[IngestResult],
    status_code=201,
    responses={
        200: {"model": LogEnvelope[IngestResult], "description": "A duplicate: nothing changed."},
        400: READ_RESPONSES[400],
        413: {"model": Problem, "description": "The upload is larger than allowed."},
        422: {"model": LogEnvelope[IngestResult], "description": "Not ingested: see the error."},
    },
    summary="Upload a workbook",
)
def upload(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    file: Annotated[UploadFile, File(description="A vendor workbook (.xlsx).")],
    vendor: Annotated[str | None, Form(max_length=64)] = None,
    asof: Annotated[str | None, Form(description="YYYY-MM-DD when the file lacks it")] = None,
) -> Response:
    """Ingest one workbook: parse, gate, publish (write-audit-publish). 201 when a version was
    published, 200 for an identical re-delivery, 422 when the file was dead-lettered or a gate
    failed; the body always carries the run and its conservation report. 403 (nothing
    recorded) for a vendor your tenant is not entitled to."""
    settings = services.settings
    day = parse_date(asof, "asof") if asof else None
    folder = settings.home / "uploads" / uuid.uuid4().hex
    path = folder / upload_name(file.filename)
    try:
        folder.mkdir(parents=True)
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        parsed = parse_workbook(
            path, vendor=vendor.upper() if vendor else None, asof=day, settings=settings
        )
        # a tenant publishes only the vendors it is entitled to (the lake is every tenant's)
        if parsed.vendor is not None:
            entitled(request, parsed.vendor)
        report = ingest_parsed(
            path, parsed, lake=services.lake, store=services.store, settings=settings,
            access=principal.access, request_id=request.state.request_id,
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the raw archive keeps the bytes
    if report.publication is not None:
        services.curves.refresh()
    conservation = report.parse.conservation
    run = history.ingest_run(services.store, principal.access, report.run_id)
    data = {
        **report.summary(),
        "error": report.error,
        "conservation": {**dataclasses.asdict(conservation), "holds": conservation.holds},
        "run": dataclasses.asdict(run),
    }
    status = {"published": 201, "duplicate": 200}.get(report.status, 422)
    return envelope([data], status)


@router.get(
    "/qa/checks",
    dependencies=[requires(OPS, ANALYST)],
    response_model=LogEnvelope[QaCheck],
    responses={400: READ_RESPONSES[400]},
    tags=["qa"],
    summary="Quality history",
)
def qa_checks(
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    vendor: Annotated[str | None, Query(max_length=64)] = None,
    asof: Annotated[str | None, Query(description="YYYY-MM-DD", max_length=10)] = None,
    rule: Annotated[str | None, Query(max_length=128)] = None,
    failed_only: bool = False,
    limit: Annotated[int, Query(ge=1)] = 1000,
) -> Response:
    """Every rule's and gate's outcome per ingest run, newest first: of the runs your tenant
    may see in the ingest log (the platform's and its own, of the vendors it is entitled to)."""
    data, snapshot = history.quality_checks(
        services.query, services.store, principal.access, run_id=run_id, vendor=vendor,
        asof=parse_date(asof, "asof") if asof else None, rule=rule, failed_only=failed_only,
        limit=min(limit, services.settings.api.max_page_size),
    )  # fmt: skip
    return envelope(list(data), snapshot_id=snapshot)
