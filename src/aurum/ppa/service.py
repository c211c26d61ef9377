"""PPA contracts and valuations as a service: the shells (API, CLI, worker) call only this.

- **contracts** — :meth:`PpaService.create_contract` / :meth:`update_contract` validate the terms
  (:mod:`aurum.ppa.terms`: a 422 ``spec_invalid`` naming the field) and record a new contract
  version, with the audit entry, in one store transaction;
- **valuations** — :meth:`valuate` resolves the contract version and the curves (base curves at
  an as-of and as-at, a scenario run's curves, or its ensemble's paths), values them
  (:mod:`aurum.ppa.valuation`) and publishes the monthly rows to ``ppa_valuation`` under a
  ``valuation`` run whose ``result`` is the summary. A deterministic valuation runs in the
  request; an ensemble's is queued for a worker (:meth:`execute`). The run's ``params`` hold the
  request with everything resolved (contract terms and version, the curve snapshot): valuing
  them again gives the same numbers.

Bad input fails before anything is written: a term beyond the curve without ``extrapolate``
(``term_beyond_curve``), a vendor the tenant may not read (``vendor_not_entitled``), a strike
currency unlike the curve's without a rate (``units_mismatched``), options without a
volatility (``volatility_missing``), blocks that do not price every hour (``blocks_incomplete``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from pyiceberg.expressions import EqualTo

from aurum._version import code_version
from aurum.auth.access import Access
from aurum.datasets.ppa import PPA_VALUATION
from aurum.errors import AurumError, NotFound, ValuationError
from aurum.lake.catalog import Lake
from aurum.lake.publish import publish
from aurum.ppa.inputs import InputReader, dump
from aurum.ppa.terms import (
    ContractTerms,
    ValuationRequest,
    validate_request,
    validate_terms,
)
from aurum.ppa.valuation import Inputs, Result, valuate
from aurum.query.curves import Curves
from aurum.runs import Runs
from aurum.scenarios import ScenarioService
from aurum.store import Run, Store
from aurum.store.documents import ContractVersion, Document

__all__ = ["PpaService", "Valuation"]

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Valuation:
    """A valuation run and, once published, its monthly rows."""

    run: Run
    rows: pa.Table | None = None


class PpaService:
    """PPA contracts and valuations over one store and one lake."""

    def __init__(
        self, store: Store, lake: Lake, runs: Runs, curves: Curves, scenarios: ScenarioService,
    ) -> None:  # fmt: skip
        self.store = store
        self.lake = lake
        self.runs = runs
        self.inputs = InputReader(curves, scenarios)

    # -- contracts --------------------------------------------------------------------------------

    def create_contract(
        self, access: Access, *, name: str, description: str, spec: Mapping[str, Any],
        request_id: str | None = None,
    ) -> Document:  # fmt: skip
        terms = validate_terms(spec)
        with self.store.transaction(access) as tx:
            document = tx.create_document(
                "ppa_contract", name=name, description=description, spec=dump(terms)
            )
            tx.audit("ppa_contract.create", target=document.id, request_id=request_id,
                     details={"name": name, "version": document.version})  # fmt: skip
        return document

    def update_contract(
        self, access: Access, contract_id: str, changes: Mapping[str, Any], *,
        request_id: str | None = None,
    ) -> Document:  # fmt: skip
        changes = dict(changes)
        if "spec" in changes:
            changes["spec"] = dump(validate_terms(changes["spec"]))
        with self.store.transaction(access) as tx:
            document = tx.update_document("ppa_contract", contract_id, changes)
            tx.audit("ppa_contract.update", target=contract_id, request_id=request_id,
                     details={"fields": sorted(changes), "version": document.version})  # fmt: skip
        return document

    def contract_version(
        self, access: Access, contract_id: str, version: int | None = None
    ) -> ContractVersion:
        with self.store.transaction(access, write=False) as tx:
            return tx.contract_version(contract_id, version)

    def contract_versions(
        self, access: Access, contract_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[ContractVersion]:
        with self.store.transaction(access, write=False) as tx:
            return tx.contract_versions(contract_id, limit=limit, offset=offset)

    # -- valuations -------------------------------------------------------------------------------

    def valuate(
        self, access: Access, body: Mapping[str, Any] | ValuationRequest, *,
        request_id: str | None = None,
    ) -> Valuation:  # fmt: skip
        """Value now (deterministic) or queue (ensemble); see the module docstring."""
        request = body if isinstance(body, ValuationRequest) else validate_request(body)
        request, terms = self._pinned(access, request)
        params = {"request": dump(request), "code_version": code_version()}
        subject = request.contract_id or "inline"
        resolved = self.inputs.read(access, request, terms, paths=False)  # bad input fails here
        if request.curves.ensemble:
            run = self.runs.enqueue(access, "valuation", subject=subject, params=params,
                                    request_id=request_id)  # fmt: skip
            return Valuation(run)
        run = self.runs.start(access, "valuation", subject=subject, params=params,
                              request_id=request_id)  # fmt: skip
        try:
            with self.runs.held(run):
                finished, rows = self._execute(access, run, lambda done, total, stage: None,
                                               resolved=resolved)  # fmt: skip
        except Exception as exc:
            code = exc.code if isinstance(exc, AurumError) else "internal_error"
            self.runs.finish(
                run, "failed", action="valuation.fail", details={"error": code},
                error_code=code, error_message=str(exc)[:2000], branch=None,
            )  # fmt: skip
            raise
        return Valuation(finished, rows)

    def execute(self, run: Run, progress: Progress) -> None:
        """The worker's handler for a queued valuation."""
        access = Access(run.tenant_id, actor=run.requested_by or "aurum")
        self._execute(access, run, progress)

    def valuations(self, access: Access, *, limit: int = 100, offset: int = 0) -> list[Run]:
        with self.store.transaction(access, write=False) as tx:
            return tx.runs(kind="valuation", limit=limit, offset=offset)

    def valuation(self, access: Access, valuation_id: str) -> Run:
        """One valuation of the caller's tenant (404 ``valuation_unknown`` otherwise, alike)."""
        unknown = NotFound("valuation_unknown", f"no valuation {valuation_id!r}")
        try:
            with self.store.transaction(access, write=False) as tx:
                run = tx.get_run(valuation_id)
        except NotFound:
            raise unknown from None
        if run.kind != "valuation" or not access.acts_for(run.tenant_id or ""):
            raise unknown
        return run

    def rows(self, access: Access, run: Run) -> pa.Table:
        """A published valuation's monthly rows, read at its tag."""
        if run.status != "published" or run.tag is None:
            raise ValuationError(
                "valuation_not_ready", f"valuation {run.run_id} is {run.status}: no rows yet",
                status=run.status,
            )  # fmt: skip
        table = self.lake.table(PPA_VALUATION.name)
        ref = table.metadata.refs.get(run.tag)
        if ref is None:
            raise NotFound("valuation_unknown", f"valuation {run.run_id} has no published rows")
        rows = table.scan(
            row_filter=EqualTo("run_id", run.run_id), snapshot_id=ref.snapshot_id
        ).to_arrow()
        return rows.sort_by("month")

    def report(self, access: Access, run: Run, path: Path) -> Path:
        """The committee's XLSX report of a published valuation."""
        from aurum.ppa.report import write_report

        write_report(run, self.rows(access, run), path)
        return path

    # -- execution --------------------------------------------------------------------------------

    def _execute(
        self, access: Access, run: Run, progress: Progress, *,
        resolved: tuple[Inputs, dict[str, Any]] | None = None,
    ) -> tuple[Run, pa.Table]:  # fmt: skip
        """Value, publish the rows and finish the run: the finished run and its rows."""
        request = validate_request(run.params["request"])
        with self.store.transaction(access) as tx:
            tx.update_run(run.run_id, dataset=PPA_VALUATION.name,
                          partition={"run_id": run.run_id})  # fmt: skip
        progress(0, 3, "reading curves")
        inputs, versions = resolved or self.inputs.read(
            access, request, self._terms(access, request), paths=request.curves.ensemble
        )
        progress(1, 3, "valuing")
        result = valuate(inputs)
        progress(2, 3, "publishing")
        rows = _rows(run, request, result, versions)
        self.runs.stage(run, branch=None)
        content = hashlib.sha256(
            orjson.dumps(result.summary, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)
        ).hexdigest()
        publication = publish(self.lake, PPA_VALUATION, {"run_id": run.run_id}, rows,
                              run_id=run.run_id, content_sha256=content)  # fmt: skip
        if publication.status == "failed":
            raise ValuationError(
                "output_invalid",
                "the valuation's rows failed their audit: " + ", ".join(publication.gate_failures),
            )  # fmt: skip
        tag = publication.tag
        if tag is None and publication.version is not None:
            assert PPA_VALUATION.tags is not None
            tag = PPA_VALUATION.tags.tag({"run_id": run.run_id}, publication.version)
        plain = orjson.loads(orjson.dumps(result.summary, option=orjson.OPT_SERIALIZE_NUMPY))
        summary = {k: v for k, v in plain.items() if k != "ensemble"}
        if "ensemble" in plain:
            summary["ensemble"] = {k: v for k, v in plain["ensemble"].items() if k != "npv_paths"}
            summary["ensemble"]["npv_histogram"] = _histogram(plain["ensemble"]["npv_paths"])
        finished = self.runs.finish(
            run, "published", action="valuation.finish",
            details={"contract": request.contract_id, "tag": tag, "npv": summary["npv"]},
            snapshot_id=publication.snapshot_id, tag=tag, version=publication.version,
            result={"summary": summary, "inputs": versions},
            progress={"done": 3, "total": 3, "stage": "published"},
        )  # fmt: skip
        return finished, rows

    def _pinned(
        self, access: Access, request: ValuationRequest
    ) -> tuple[ValuationRequest, ContractTerms]:
        """The request with everything a re-run needs fixed — the contract's version and (for
        base curves) the snapshot the curves are read at — and the terms it values."""
        changes: dict[str, Any] = {}
        if request.contract_id is not None:
            found = self.contract_version(access, request.contract_id, request.contract_version)
            changes["contract_version"] = found.version
            terms = validate_terms(found.spec)
        else:
            assert request.terms is not None
            terms = request.terms
        if request.curves.scenario_run is None and request.curves.as_at is None:
            snapshot = self.inputs.curves.pin(None)
            changes["curves"] = request.curves.model_copy(update={"as_at": str(snapshot)})
        return request.model_copy(update=changes), terms

    def _terms(self, access: Access, request: ValuationRequest) -> ContractTerms:
        if request.terms is not None:
            return request.terms
        assert request.contract_id is not None
        return validate_terms(
            self.contract_version(access, request.contract_id, request.contract_version).spec
        )

# -- helpers --------------------------------------------------------------------------------------


def _rows(
    run: Run, request: ValuationRequest, result: Result, inputs: Mapping[str, Any]
) -> pa.Table:
    monthly = result.monthly
    count = len(monthly["month"])
    encoded = orjson.dumps(inputs, option=orjson.OPT_SORT_KEYS, default=str).decode()

    def column(name: str, kind: pa.DataType) -> pa.Array:
        values = monthly.get(name)
        return pa.array(values if values is not None else [None] * count, kind)

    def jsons(name: str) -> pa.Array:
        values = monthly.get(name)
        return pa.array([orjson.dumps(v).decode() if v else None for v in values]
                        if values is not None else [None] * count, pa.string())  # fmt: skip

    table = {
        "tenant_id": pa.array([run.tenant_id or ""] * count, pa.string()),
        "run_id": pa.array([run.run_id] * count, pa.string()),
        "contract_id": pa.array([request.contract_id] * count, pa.string()),
        "contract_version": pa.array([request.contract_version] * count, pa.int64()),
        "month": column("month", pa.string()),
        "payment_date": column("payment_date", pa.date32()),
        "hours": column("hours", pa.int64()),
        **{name: column(name, pa.float64()) for name in (
            "energy_mwh", "settled_energy_mwh", "strike", "baseload_price", "capture_price",
            "basis", "settlement", "certificates", "balancing", "cashflow", "discount_factor",
            "pv", "delta",
        )},
        "delta_by_block": jsons("delta_by_block"),
        "residual": jsons("residual"),
        "extrapolated": column("extrapolated", pa.bool_()),
        **{name: column(name, pa.float64()) for name in (
            "cashflow_p5", "cashflow_p50", "cashflow_p95",
        )},
        "currency": pa.array([result.summary["currency"]] * count, pa.string()),
        "perspective": pa.array([result.summary["perspective"]] * count, pa.string()),
        "inputs": pa.array([encoded] * count, pa.string()),
        "code_version": pa.array([code_version()] * count, pa.string()),
    }  # fmt: skip
    return pa.table(table).select(list(PPA_VALUATION.column_names))


def _histogram(values: Sequence[float], bins: int = 40) -> dict[str, list[float]]:
    counts, edges = np.histogram(np.asarray(values, dtype=np.float64), bins=bins)
    return {"edges": edges.tolist(), "counts": counts.astype(float).tolist()}
