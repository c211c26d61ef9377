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
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from aurum._version import code_version
from aurum.auth.access import Access
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.datasets.ppa import PPA_VALUATION
from aurum.domain import calendar, ensembles
from aurum.errors import AurumError, Forbidden, NotFound, ValuationError
from aurum.lake.catalog import Lake
from aurum.lake.publish import publish
from aurum.ppa import engine
from aurum.ppa.terms import (
    ContractTerms,
    CurveRef,
    ValuationRequest,
    validate_request,
    validate_terms,
)
from aurum.ppa.valuation import Inputs, Result, valuate
from aurum.query.curves import CurveFilter, Curves
from aurum.runs import Runs
from aurum.scenarios import ScenarioService
from aurum.store import Run, Store
from aurum.store.documents import ContractVersion, Document

__all__ = ["PpaService", "Valuation"]

Progress = Callable[[int, int, str], None]
_READ = (
    "asof_date", "vendor", "curve_key", "asset_class", "iso", "region", "location", "market",
    "product", "block", "currency", "per_unit", "contract_month", "value",
)  # fmt: skip
_ENERGY_UNITS = {"MWH"}
_CERTIFICATE_UNITS = {"MWH", "REC", "GOO", "CERTIFICATE"}
_SCHEME = CURVE_OBSERVATION.tags
assert _SCHEME is not None


@dataclass(frozen=True)
class Valuation:
    """A valuation run and, once published, its monthly rows."""

    run: Run
    rows: pa.Table | None = None


@dataclass(frozen=True)
class _Curve:
    """A monthly curve resolved for a valuation."""

    months: tuple[date, ...]
    values: np.ndarray
    currency: str
    per_unit: str
    keys: tuple[str, ...]
    asof: date | None
    vendor: str
    identity: Mapping[str, Any] = field(default_factory=dict)


class PpaService:
    """PPA contracts and valuations over one store and one lake."""

    def __init__(
        self, store: Store, lake: Lake, runs: Runs, curves: Curves, scenarios: ScenarioService,
    ) -> None:  # fmt: skip
        self.store = store
        self.lake = lake
        self.runs = runs
        self.curves = curves
        self.scenarios = scenarios

    # -- contracts --------------------------------------------------------------------------------

    def create_contract(
        self, access: Access, *, name: str, description: str, spec: Mapping[str, Any],
        request_id: str | None = None,
    ) -> Document:  # fmt: skip
        terms = validate_terms(spec)
        with self.store.transaction(access) as tx:
            document = tx.create_document(
                "ppa_contract", name=name, description=description, spec=_dump(terms)
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
            changes["spec"] = _dump(validate_terms(changes["spec"]))
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
        request = self._pinned(access, request)
        params = {"request": _dump(request), "code_version": code_version()}
        params["key"] = hashlib.sha256(
            json.dumps(params, sort_keys=True, default=str).encode()
        ).hexdigest()
        subject = request.contract_id or "inline"
        resolved = self._resolve(access, request, paths=False)  # bad input fails here
        if request.curves.ensemble:
            run = self.runs.enqueue(access, "valuation", subject=subject, params=params,
                                    request_id=request_id)  # fmt: skip
            return Valuation(run)
        run = self.runs.start(access, "valuation", subject=subject, params=params,
                              request_id=request_id)  # fmt: skip
        try:
            with self.runs.held(run):
                finished = self._execute(access, run, lambda done, total, stage: None,
                                         resolved=resolved)  # fmt: skip
        except Exception as exc:
            code = exc.code if isinstance(exc, AurumError) else "internal_error"
            self.runs.finish(
                run, "failed", action="valuation.fail", details={"error": code},
                error_code=code, error_message=str(exc)[:2000], branch=None,
            )  # fmt: skip
            raise
        return Valuation(finished, self.rows(access, finished))

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
        from pyiceberg.expressions import EqualTo

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
    ) -> Run:  # fmt: skip
        request = validate_request(run.params["request"])
        with self.store.transaction(access) as tx:
            tx.update_run(run.run_id, dataset=PPA_VALUATION.name,
                          partition={"run_id": run.run_id})  # fmt: skip
        progress(0, 3, "reading curves")
        inputs, versions = resolved or self._resolve(
            access, request, paths=request.curves.ensemble
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
        return self.runs.finish(
            run, "published", action="valuation.finish",
            details={"contract": request.contract_id, "tag": tag, "npv": summary["npv"]},
            snapshot_id=publication.snapshot_id, tag=tag, version=publication.version,
            result={"summary": summary, "inputs": versions},
            progress={"done": 3, "total": 3, "stage": "published"},
        )  # fmt: skip

    def _pinned(self, access: Access, request: ValuationRequest) -> ValuationRequest:
        """The request with everything a re-run needs fixed: the contract's terms and version,
        and (for base curves) the snapshot the curves are read at."""
        changes: dict[str, Any] = {}
        if request.contract_id is not None:
            found = self.contract_version(access, request.contract_id, request.contract_version)
            changes["contract_version"] = found.version
            terms = validate_terms(found.spec)
        else:
            assert request.terms is not None
            terms = request.terms
        if request.curves.scenario_run is None and request.curves.as_at is None:
            snapshot = self.curves.pin(None)
            changes["curves"] = request.curves.model_copy(update={"as_at": str(snapshot)})
        pinned = request.model_copy(update=changes)
        return pinned.model_copy(update={"terms": terms}) if request.contract_id is None else (
            pinned
        )  # fmt: skip

    def _terms(self, access: Access, request: ValuationRequest) -> ContractTerms:
        if request.terms is not None:
            return request.terms
        assert request.contract_id is not None
        return validate_terms(
            self.contract_version(access, request.contract_id, request.contract_version).spec
        )

    def _resolve(
        self, access: Access, request: ValuationRequest, *, paths: bool
    ) -> tuple[Inputs, dict[str, Any]]:
        terms = self._terms(access, request)
        source, versions = self._source(access, request)
        hub = terms.hub
        for ref in (hub, *(r for r in (terms.certificates and terms.certificates.curve,
                                        terms.basis and terms.basis.curve) if r)):  # fmt: skip
            if not access.may_read(ref.vendor.upper()):
                raise Forbidden("vendor_not_entitled",
                                f"your tenant is not entitled to vendor {ref.vendor.upper()}",
                                vendor=ref.vendor.upper())  # fmt: skip
        by_block = self._hub_curves(access, source, request, hub)
        first = next(iter(by_block.values()))
        market = self._market(hub.calendar, first)
        quoted = {engine.canonical(market, b) or b: c for b, c in by_block.items()}
        if hub.blocks:
            wanted = {engine.canonical(market, b) for b in hub.blocks}
            quoted = {b: c for b, c in quoted.items() if b in wanted}
        choice = engine.choose_blocks(market, list(quoted))
        months = engine.term_months(terms)
        asof = first.asof
        day = request.valuation_date or asof or date.today()
        settled = [m for m in months if _paid(m, terms, day)]
        months = [m for m in months if not _paid(m, terms, day)]
        if not months:
            raise ValuationError(
                "term_over", f"every month of the term is paid by {day}: nothing left to value"
            )
        currency = (terms.currency or first.currency).upper()
        rate = _fx(first.currency, currency, request.fx_rates)
        extrapolated = np.zeros(len(months), dtype=bool)
        quoted_values: dict[str, np.ndarray] = {}
        for block, curve in quoted.items():
            values, beyond = _on_months(curve, months, request, f"the hub's {block} curve")
            quoted_values[block] = values * rate
            extrapolated |= beyond
        forwards = np.empty((len(months), len(choice.blocks)))
        for j, block in enumerate(choice.blocks):
            forwards[:, j] = (
                engine.derive_block(market.code, months, choice, quoted_values)
                if block == choice.derived else quoted_values[block]
            )  # fmt: skip
        whole = engine.canonical(market, engine.WHOLE)
        residuals = {}
        if choice.derived is None:
            hours = np.array([[calendar.block_hours(market.code, b, m.year, m.month)
                               for b in choice.blocks] for m in months], dtype=np.float64)
            for block in choice.residual_blocks:
                if block == whole:
                    implied = (forwards * hours).sum(axis=1) / hours.sum(axis=1)
                    residuals[block] = np.where(extrapolated, np.nan,
                                                quoted_values[block] - implied)  # fmt: skip
        basis = None
        if terms.basis is not None:
            if terms.basis.fixed is not None:
                basis = np.full(len(months), terms.basis.fixed * rate)
            else:
                assert terms.basis.curve is not None
                curve = self._one_curve(access, source, request, terms.basis.curve, "basis")
                _units(curve, _ENERGY_UNITS, "the basis curve")
                values, beyond = _on_months(curve, months, request, "the basis curve")
                basis = values * _fx(curve.currency, currency, request.fx_rates)
                extrapolated |= beyond
        certificates = None
        if terms.certificates is not None:
            curve = self._one_curve(access, source, request, terms.certificates.curve,
                                    "certificate")  # fmt: skip
            _units(curve, _CERTIFICATE_UNITS, "the certificate curve")
            values, beyond = _on_months(curve, months, request, "the certificate curve")
            certificates = values * _fx(curve.currency, currency, request.fx_rates)
            extrapolated |= beyond
            versions["certificate_curve"] = {"vendor": curve.vendor, "curve_key": curve.keys[0]}
        for block, curve in quoted.items():
            _units(curve, _ENERGY_UNITS, f"the hub's {block} curve")
        volatility, volatility_source = request.volatility, "request"
        if volatility is None and terms.volatility is not None:
            volatility, volatility_source = terms.volatility, "contract"
        if volatility is None and request.curves.scenario_run and (terms.floor, terms.cap) != (
            None, None
        ):
            volatility, volatility_source = self._calibrated_volatility(
                access, request.curves.scenario_run, quoted
            )  # fmt: skip
        if volatility is None and (terms.floor, terms.cap) != (None, None):
            raise ValuationError(
                "volatility_missing",
                "the floor/cap are priced as options and need a volatility: give `volatility`"
                " in the terms or the request, or value on a scenario run with a calibrated"
                " (lognormal) ensemble",
            )  # fmt: skip
        path_forwards = None
        if paths:
            path_forwards, versions["paths"] = self._paths(
                access, request, quoted, choice, market.code, months, rate
            )
        book = engine.Book(terms, market.code, months, choice.blocks, shape=request.shape)
        versions.update({
            "market": market.code, "blocks": list(choice.blocks),
            "derived_block": choice.derived, "hub_curves": {
                b: {"vendor": c.vendor, "curve_key": c.keys[0]} for b, c in quoted.items()
            },
            "currency": currency, "fx_rate": rate if rate != 1.0 else None,
            "months_already_paid": len(settled), "valuation_date": day.isoformat(),
            "contract_id": request.contract_id, "contract_version": request.contract_version,
            "terms": _dump(terms), "code_version": code_version(),
        })  # fmt: skip
        inputs = Inputs(
            book=book, forwards=forwards, currency=currency, valuation_date=day,
            discount=request.discount, perspective=request.perspective, paths=path_forwards,
            basis=basis, certificates=certificates, extrapolated=extrapolated,
            residuals=residuals, upfront=request.upfront, volatility=volatility,
            volatility_source=volatility_source if volatility is not None else None,
            seed=request.seed,
        )  # fmt: skip
        return inputs, versions

    def _source(self, access: Access, request: ValuationRequest) -> tuple[Curves, dict[str, Any]]:
        run_id = request.curves.scenario_run
        if run_id is None:
            return self.curves, {"source": "base", "as_at": request.curves.as_at,
                                 "asof": str(request.curves.asof)}  # fmt: skip
        run = self.scenarios.readable_run(access, run_id)
        return self.scenarios.curves(access, run_id), {
            "source": "scenario_run", "scenario_run": run_id, "scenario_tag": run.tag,
            "scenario_id": run.subject, "scenario_version": run.params.get("version"),
            "base_tags": run.params.get("base_tags"),
        }  # fmt: skip

    def _read(
        self, access: Access, source: Curves, request: ValuationRequest, ref: CurveRef,
        fields: Mapping[str, str],
    ) -> pa.Table:  # fmt: skip
        scenario = request.curves.scenario_run is not None
        where = CurveFilter(
            fields=dict(fields), curve_keys=(ref.curve_key,) if ref.curve_key else (),
            tenor_types=("MONTHLY",), asof=None if scenario else request.curves.asof,
            access=access,
        )  # fmt: skip
        as_at: Any = request.curves.as_at
        if isinstance(as_at, str) and as_at.isdigit():
            as_at = int(as_at)
        page = source.curves(where, as_at=None if scenario else as_at, columns=_READ,
                             limit=50_000)  # fmt: skip
        rows = page.table.slice(0, min(page.table.num_rows, 50_000))
        if rows.num_rows:
            newest = max(rows.column("asof_date").to_pylist())
            rows = rows.filter(pc.equal(rows.column("asof_date"), newest))
        return rows

    def _hub_curves(
        self, access: Access, source: Curves, request: ValuationRequest, hub: CurveRef
    ) -> dict[str, _Curve]:
        rows = self._read(access, source, request, hub, hub.fields())
        if not rows.num_rows:
            raise ValuationError(
                "curve_missing", f"no monthly curve of {_named(hub)}"
                + ("" if request.curves.scenario_run else f" at as-of {request.curves.asof}")
                + ": check the hub's identity (vendor, location/iso, block)",
                hub=hub.fields(),
            )  # fmt: skip
        found: dict[str, _Curve] = {}
        for block, part in _by(rows, "block").items():
            if len(set(part.column("curve_key").to_pylist())) > 1:
                names = sorted({str(x) for x in part.column("location").to_pylist()})
                raise ValuationError(
                    "curve_ambiguous",
                    f"{_named(hub)} matches {len(names)} curves for block {block}"
                    f" ({', '.join(names)[:200]}): name the location, iso or curve_key",
                )  # fmt: skip
            found[str(block)] = _curve(part)
        return found

    def _one_curve(
        self, access: Access, source: Curves, request: ValuationRequest, ref: CurveRef, what: str
    ) -> _Curve:
        rows = self._read(access, source, request, ref, ref.fields())
        keys = set(rows.column("curve_key").to_pylist()) if rows.num_rows else set()
        if len(keys) != 1:
            raise ValuationError(
                "curve_missing" if not keys else "curve_ambiguous",
                f"the {what} curve {_named(ref)} matches {len(keys)} curves: it must name one",
            )  # fmt: skip
        return _curve(rows)

    def _market(self, code: str | None, curve: _Curve) -> calendar.Market:
        if code is not None:
            found = {k.casefold(): m for k, m in calendar.markets().items()}.get(code.casefold())
            if found is None:
                raise ValuationError(
                    "market_unknown", f"no calendar market {code!r} (known:"
                    f" {', '.join(calendar.markets())})",
                )  # fmt: skip
            return found
        market = calendar.market_for(curve.identity)
        if market is None:
            raise ValuationError(
                "market_unknown",
                f"no calendar market for the hub ({curve.vendor}): give hub.calendar (DE, PJM …)",
            )  # fmt: skip
        return market

    def _calibrated_volatility(
        self, access: Access, run_id: str, quoted: Mapping[str, _Curve]
    ) -> tuple[float | None, str | None]:
        run = self.scenarios.readable_run(access, run_id)
        calibrations = (run.result or {}).get("calibration") or {}
        for block, curve in quoted.items():
            for name, found in calibrations.items():
                if name.endswith(f" {block}") and found.get("model") == "lognormal":
                    cal = ensembles.Calibration(
                        "lognormal", found["kappa"], found["sigma_short"], found["sigma_long"],
                        found["rho"], 0, None, None, 0, {},
                    )  # fmt: skip
                    sigma = float(np.sqrt(cal.variance([1.0], 1.0)[0]))
                    return sigma, f"calibration of {name} (a contract delivering in one year)"
            del curve
        return None, None

    def _paths(
        self, access: Access, request: ValuationRequest, quoted: Mapping[str, _Curve],
        choice: engine.BlockChoice, market: str, months: Sequence[date], rate: float,
    ) -> tuple[np.ndarray, str]:  # fmt: skip
        assert request.curves.scenario_run is not None
        keys = {block: curve.keys[0] for block, curve in quoted.items()}
        run_months, matrices, origin = self.scenarios.paths(
            access, request.curves.scenario_run, list(keys.values())
        )
        missing = [b for b, k in keys.items() if k not in matrices]
        if missing:
            raise ValuationError(
                "paths_missing", f"the run's ensemble has no paths for the hub's"
                f" {', '.join(missing)} curve(s): include them in settings.ensemble.curves",
            )  # fmt: skip
        on_months: dict[str, np.ndarray] = {}
        for block, key in keys.items():
            matrix = matrices[key]
            rows = []
            for path in matrix:
                curve = _Curve(run_months, path, "", "", (key,), None, "")
                values, _ = _on_months(curve, months, request, f"the {block} paths")
                rows.append(values)
            on_months[block] = np.array(rows) * rate
        count = next(iter(on_months.values())).shape[0]
        result = np.empty((count, len(months), len(choice.blocks)))
        for j, block in enumerate(choice.blocks):
            result[:, :, j] = (
                engine.derive_block(market, months, choice, on_months)
                if block == choice.derived else on_months[block]
            )  # fmt: skip
        return result, origin


# -- helpers --------------------------------------------------------------------------------------


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _paid(month: date, terms: ContractTerms, day: date) -> bool:
    from aurum.domain.valuation import payment_date

    return payment_date(month, terms.payment_lag_days) <= day


def _named(ref: CurveRef) -> str:
    return " ".join(f"{k}={v}" for k, v in ref.fields().items())


def _by(rows: pa.Table, column: str) -> dict[Any, pa.Table]:
    values = rows.column(column).to_pylist()
    return {
        value: rows.take([i for i, v in enumerate(values) if v == value])
        for value in dict.fromkeys(values)
    }


def _curve(rows: pa.Table) -> _Curve:
    months = rows.column("contract_month").to_pylist()
    values = rows.column("value").to_numpy(zero_copy_only=False).astype(np.float64)
    order = np.argsort(np.array([m.toordinal() for m in months]))
    first = rows.slice(0, 1).to_pylist()[0]
    return _Curve(
        tuple(months[i] for i in order), values[order], str(first["currency"] or ""),
        str(first["per_unit"] or ""), (str(first["curve_key"]),), first["asof_date"],
        str(first["vendor"]), {k: first.get(k) for k in (
            "asset_class", "iso", "region", "location", "market", "product", "block",
        )},
    )  # fmt: skip


def _on_months(
    curve: _Curve, months: Sequence[date], request: ValuationRequest, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """The curve on the valued months, extrapolated beyond its end when asked (``flat``: the
    same calendar month of its last twelve; ``escalate``: that, grown by ``escalate_pct`` a
    year), and which months were."""
    known = {m: v for m, v in zip(curve.months, curve.values, strict=True) if np.isfinite(v)}
    if not known:
        raise ValuationError("curve_missing", f"{what} has no value")
    last = max(known)
    values = np.empty(len(months))
    beyond = np.zeros(len(months), dtype=bool)
    for i, month in enumerate(months):
        if month in known:
            values[i] = known[month]
            continue
        if month < last:
            raise ValuationError(
                "curve_gap", f"{what} has no value for {month:%Y-%m} (it starts"
                f" {min(known):%Y-%m}): value from a later month or fill the curve",
                month=f"{month:%Y-%m}",
            )  # fmt: skip
        if request.extrapolate is None:
            raise ValuationError(
                "term_beyond_curve",
                f"the term runs to {months[-1]:%Y-%m} but {what} ends {last:%Y-%m}: ask for"
                " extrapolate='flat' or 'escalate' (extrapolated months are flagged)",
                curve_end=f"{last:%Y-%m}", term_end=f"{months[-1]:%Y-%m}",
            )  # fmt: skip
        years = (month.year - last.year) + (1 if month.month <= last.month else 0)
        source = date(month.year - years, month.month, 1)
        while source not in known and years > 0:
            years -= 1
            source = date(month.year - years, month.month, 1)
        base = known.get(source, known[last])
        escalate = request.extrapolate == "escalate"
        growth = (1 + request.escalate_pct / 100) ** years if escalate else 1.0
        values[i] = base * growth
        beyond[i] = True
    return values, beyond


def _fx(source: str, target: str, rates: Mapping[str, float]) -> float:
    """How many ``target`` one ``source`` is worth (GBp is a hundredth of GBP)."""
    scale = 1.0
    if source == "GBp":
        source, scale = "GBP", 0.01
    source, target = source.upper(), target.upper()
    if source == target:
        return scale
    if f"{source}{target}" in rates:
        return scale * rates[f"{source}{target}"]
    if f"{target}{source}" in rates:
        return scale / rates[f"{target}{source}"]
    raise ValuationError(
        "units_mismatched",
        f"the curve is in {source} and the valuation in {target}: give fx_rates"
        f" {{\"{source}{target}\": rate}} (1 {source} in {target})",
        rate=f"{source}{target}",
    )  # fmt: skip


def _units(curve: _Curve, allowed: set[str], what: str) -> None:
    if curve.per_unit.upper() not in allowed:
        raise ValuationError(
            "units_mismatched", f"{what} is priced per {curve.per_unit or 'unknown unit'};"
            f" a PPA needs per {' or '.join(sorted(allowed))}",
        )  # fmt: skip


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
