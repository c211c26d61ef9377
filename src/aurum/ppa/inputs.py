"""What a valuation is valued on, resolved: the hub's block curves and the market they belong
to, the disjoint blocks and their monthly forwards (a missing one derived from BASE/ATC), the
basis and certificate curves, FX into the valuation's currency, months beyond a curve
(extrapolated when asked, flagged), the volatility for options and, on an ensemble, every path.

Curves come from the base lake (an as-of, as known at an as-at: :class:`~aurum.query.curves.Curves`)
or a scenario run (its curves through the same interface; its paths through
:meth:`aurum.scenarios.ScenarioService.paths`). Every check that can refuse a valuation is here,
so a request fails before anything is recorded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum._version import code_version
from aurum.auth.access import Access
from aurum.domain import calendar, ensembles
from aurum.domain.valuation import payment_date
from aurum.errors import Forbidden, ValuationError
from aurum.ppa import engine
from aurum.ppa.terms import ContractTerms, CurveRef, ValuationRequest
from aurum.ppa.valuation import Inputs
from aurum.query.curves import CurveFilter, Curves
from aurum.scenarios import ScenarioService
from aurum.scenarios.bands import curve_name
from aurum.scenarios.service import Paths

__all__ = ["InputReader", "dump"]

_READ = (
    "asof_date", "vendor", "curve_key", "asset_class", "iso", "region", "location", "market",
    "product", "block", "currency", "per_unit", "contract_month", "value",
)  # fmt: skip
_ENERGY_UNITS = {"MWH"}
_CERTIFICATE_UNITS = {"MWH", "REC", "GOO", "CERTIFICATE"}
MAX_CURVE_ROWS = 50_000


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



class InputReader:
    """Resolves a valuation's inputs from the lake's curves or a scenario run's."""

    def __init__(self, curves: Curves, scenarios: ScenarioService) -> None:
        self.curves = curves
        self.scenarios = scenarios

    def read(
        self, access: Access, request: ValuationRequest, terms: ContractTerms, *, paths: bool
    ) -> tuple[Inputs, dict[str, Any]]:
        """The valuation's inputs, and the versions of everything they came from."""
        source, versions = self._source(access, request)
        hub = terms.hub
        for ref in (hub, *(r for r in (terms.certificates and terms.certificates.curve,
                                        terms.basis and terms.basis.curve) if r)):  # fmt: skip
            if not access.may_read(ref.vendor.upper()):
                raise Forbidden("vendor_not_entitled",
                                f"your tenant is not entitled to vendor {ref.vendor.upper()}",
                                vendor=ref.vendor.upper())  # fmt: skip
        by_block = self._hub_curves(access, source, request, hub)
        for block, curve in by_block.items():
            _units(curve, _ENERGY_UNITS, f"the hub's {block} curve")
        first = next(iter(by_block.values()))
        market = self._market(hub.calendar, first)
        quoted = {engine.canonical(market, b) or b: c for b, c in by_block.items()}
        choice = engine.choose_blocks(market, list(quoted), hub.blocks)
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
        try:
            book = engine.Book(terms, market.code, months, choice.blocks, shape=request.shape)
        except ValueError as exc:  # blocks that do not cover every hour once
            raise ValuationError("blocks_incomplete", f"hub.blocks: {exc}") from None
        whole = engine.canonical(market, engine.WHOLE)
        residuals = {}
        if choice.derived is None:
            hours = book.block_hours().astype(np.float64)
            for block in choice.residual_blocks:
                if block == whole:
                    implied = (forwards * hours).sum(axis=1) / hours.sum(axis=1)
                    residuals[block] = np.where(extrapolated, np.nan,
                                                quoted_values[block] - implied)  # fmt: skip
        basis = None
        if terms.basis is not None and terms.basis.fixed is not None:
            basis = np.full(len(months), terms.basis.fixed * rate)
        elif terms.basis is not None:
            assert terms.basis.curve is not None
            basis, beyond, curve = self._monthly(
                access, source, request, terms.basis.curve, "basis", months, currency
            )
            extrapolated |= beyond
            versions["basis_curve"] = {"vendor": curve.vendor, "curve_key": curve.keys[0]}
        certificates = None
        if terms.certificates is not None:
            certificates, beyond, curve = self._monthly(
                access, source, request, terms.certificates.curve, "certificate", months,
                currency,
            )  # fmt: skip
            extrapolated |= beyond
            versions["certificate_curve"] = {"vendor": curve.vendor, "curve_key": curve.keys[0]}
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
        warnings: list[str] = []
        if paths:
            path_forwards, found = self._paths(
                access, request, quoted, choice, market.code, months, rate
            )
            versions["paths"] = found.origin
            if choice.derived is not None and found.streams == "curve":
                warnings.append(
                    f"{choice.derived} is derived path by path from curves the run simulated"
                    " independently (ensemble.streams 'curve'): its spread is overstated; run"
                    " the scenario with ensemble.streams 'market'"
                )
        versions.update({
            "market": market.code, "blocks": list(choice.blocks),
            "derived_block": choice.derived, "hub_curves": {
                b: {"vendor": c.vendor, "curve_key": c.keys[0]} for b, c in quoted.items()
            },
            "currency": currency, "fx_rate": rate if rate != 1.0 else None,
            "months_already_paid": len(settled), "valuation_date": day.isoformat(),
            "contract_id": request.contract_id, "contract_version": request.contract_version,
            "terms": dump(terms), "code_version": code_version(),
        })  # fmt: skip
        inputs = Inputs(
            book=book, forwards=forwards, currency=currency, valuation_date=day,
            discount=request.discount, perspective=request.perspective, paths=path_forwards,
            basis=basis, certificates=certificates, extrapolated=extrapolated,
            residuals=residuals, upfront=request.upfront, volatility=volatility,
            volatility_source=volatility_source if volatility is not None else None,
            seed=request.seed, warnings=tuple(warnings),
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
                             limit=MAX_CURVE_ROWS)  # fmt: skip
        if page.has_more:
            raise ValuationError(
                "curve_ambiguous", f"{_named(ref)} matches more than {MAX_CURVE_ROWS:,} monthly"
                " rows: name the location, iso, block or curve_key",
            )  # fmt: skip
        rows = page.table
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

    def _monthly(
        self, access: Access, source: Curves, request: ValuationRequest, ref: CurveRef,
        what: str, months: Sequence[date], currency: str,
    ) -> tuple[np.ndarray, np.ndarray, _Curve]:  # fmt: skip
        """A monthly curve on the valued months in the valuation's currency, which months were
        extrapolated, and the curve."""
        curve = self._one_curve(access, source, request, ref, what)
        _units(curve, _CERTIFICATE_UNITS if what == "certificate" else _ENERGY_UNITS,
               f"the {what} curve")  # fmt: skip
        values, beyond = _on_months(curve, months, request, f"the {what} curve")
        return values * _fx(curve.currency, currency, request.fx_rates), beyond, curve

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
        for curve in quoted.values():  # the hub's own curves, in block order
            name = curve_name({"vendor": curve.vendor, **curve.identity})
            found = calibrations.get(name)
            if found is not None and found.get("model") == "lognormal":
                cal = ensembles.Calibration(
                    "lognormal", found["kappa"], found["sigma_short"], found["sigma_long"],
                    found["rho"], 0, None, None, 0, {},
                )  # fmt: skip
                sigma = float(np.sqrt(cal.variance([1.0], 1.0)[0]))
                return sigma, f"calibration of {name} (a contract delivering in one year)"
        return None, None

    def _paths(
        self, access: Access, request: ValuationRequest, quoted: Mapping[str, _Curve],
        choice: engine.BlockChoice, market: str, months: Sequence[date], rate: float,
    ) -> tuple[np.ndarray, Paths]:  # fmt: skip
        assert request.curves.scenario_run is not None
        keys = {block: curve.keys[0] for block, curve in quoted.items()}
        found = self.scenarios.paths(access, request.curves.scenario_run, list(keys.values()))
        matrices = found.matrices
        missing = [b for b, k in keys.items() if k not in matrices]
        if missing:
            raise ValuationError(
                "paths_missing", f"the run's ensemble has no paths for the hub's"
                f" {', '.join(missing)} curve(s): include them in settings.ensemble.curves",
            )  # fmt: skip
        on_months: dict[str, np.ndarray] = {}
        for block, key in keys.items():
            matrix = matrices[key]  # every path has the same tenors: map the months once
            cells = _Curve(found.months, matrix[0], "", "", (key,), None, "")
            index, growth, _ = _month_map(cells, months, request, f"the {block} paths")
            on_months[block] = matrix[:, index] * growth * rate
        count = next(iter(on_months.values())).shape[0]
        result = np.empty((count, len(months), len(choice.blocks)))
        for j, block in enumerate(choice.blocks):
            result[:, :, j] = (
                engine.derive_block(market, months, choice, on_months)
                if block == choice.derived else on_months[block]
            )  # fmt: skip
        return result, found


# -- helpers ---------------------------------------------------------------------------------------


def dump(model: Any) -> dict[str, Any]:
    """A pydantic model as the JSON the store keeps (no nulls)."""
    return model.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _paid(month: date, terms: ContractTerms, day: date) -> bool:
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
    """The curve on the valued months, extrapolated beyond its end when asked, and which
    months were (see :func:`_month_map`)."""
    index, growth, beyond = _month_map(curve, months, request, what)
    return curve.values[index] * growth, beyond


def _month_map(
    curve: _Curve, months: Sequence[date], request: ValuationRequest, what: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each valued month's price comes from in ``curve`` (an index into its months), the
    factor it is grown by, and which months are beyond the curve: ``flat`` takes the same
    calendar month of the curve's last twelve (the last value if it has fewer); ``escalate``
    that, grown by ``escalate_pct`` a year. A month inside the curve without a value is
    ``curve_gap``; beyond it without ``extrapolate``, ``term_beyond_curve``."""
    position = {m: i for i, (m, v) in enumerate(zip(curve.months, curve.values, strict=True))
                if np.isfinite(v)}  # fmt: skip
    if not position:
        raise ValuationError("curve_missing", f"{what} has no value")
    last = max(position)
    index = np.empty(len(months), dtype=np.int64)
    growth = np.ones(len(months))
    beyond = np.zeros(len(months), dtype=bool)
    for i, month in enumerate(months):
        if month in position:
            index[i] = position[month]
            continue
        if month < last:
            raise ValuationError(
                "curve_gap", f"{what} has no value for {month:%Y-%m} (it starts"
                f" {min(position):%Y-%m}): value from a later month or fill the curve",
                month=f"{month:%Y-%m}",
            )  # fmt: skip
        if request.extrapolate is None:
            raise ValuationError(
                "term_beyond_curve",
                f"the term runs to {months[-1]:%Y-%m} but {what} ends {last:%Y-%m}: ask for"
                " extrapolate='flat' or 'escalate' (extrapolated months are flagged)",
                curve_end=f"{last:%Y-%m}", term_end=f"{months[-1]:%Y-%m}",
            )  # fmt: skip
        years = month.year - last.year + (1 if month.month > last.month else 0)
        index[i] = position.get(date(month.year - years, month.month, 1), position[last])
        if request.extrapolate == "escalate":
            growth[i] = (1 + request.escalate_pct / 100) ** years
        beyond[i] = True
    return index, growth, beyond


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
