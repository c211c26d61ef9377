"""Scenarios as a service: typed, versioned definitions; runs requested, reused and executed.

The shells (API routes, CLI, the worker) call only this:

- **definitions** — :meth:`ScenarioService.create`, :meth:`update`, :meth:`add_assumption`,
  :meth:`replace_assumption`, :meth:`remove_assumption`: each validates against the typed specs
  (:mod:`aurum.scenarios.specs`, a 422 ``spec_invalid`` naming the field) and records a new
  scenario version with its audit entry, in one store transaction;
- **requests** — :meth:`request_run` resolves the base to exact vendor-day tags
  (``eod/{vendor}/{day}/v{n}``) and enqueues a ``scenario_run`` on the kernel's queue, unless a
  run with the same scenario version, tags, seed and code version exists (then that run is
  answered: *reused*);
- **execution** — :meth:`execute` is the worker's handler: read the tagged base curves,
  evaluate the assumptions with their attribution (:mod:`aurum.scenarios.compute`), add the
  ensemble bands (:mod:`aurum.scenarios.bands`), publish ``scenario_output`` (and, on request,
  ``scenario_path``) by write-audit-publish under the run's id, and finish the run with its
  report. Bad input fails before anything is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import (
    And,
    EqualTo,
    GreaterThanOrEqual,
    In,
    LessThanOrEqual,
)

from aurum._version import code_version
from aurum.auth.access import PLATFORM, Access
from aurum.config import ScenarioLimits
from aurum.datasets.curves import CURVE_OBSERVATION
from aurum.datasets.scenarios import SCENARIO_OUTPUT, SCENARIO_PATH
from aurum.domain import drivers, ensembles
from aurum.errors import Conflict, Forbidden, NotFound, ScenarioError
from aurum.lake.catalog import Lake
from aurum.lake.publish import Audit, publish
from aurum.query.engine import Query
from aurum.query.page import Page, page_of
from aurum.query.scenarios import ScenarioCurves, curve_rows, run_rows
from aurum.runs import Runs
from aurum.scenarios import bands, blocks, outputs
from aurum.scenarios.compute import (
    SHAPLEY_MAX_PLAYERS,
    AssumptionValue,
    CurveGrid,
    History,
    Scenario,
)
from aurum.scenarios.specs import (
    CarbonChange,
    FuelCurveChange,
    ScenarioSettings,
    validate_assumption,
    validate_settings,
)
from aurum.store import Run, Store
from aurum.store.documents import Assumption, Document, ScenarioVersion
from aurum.store.runs import FINAL_STATUSES

__all__ = ["Outputs", "Paths", "Progress", "RunRequest", "ScenarioService"]

Progress = Callable[[int, int, str], None]
_SCHEME = CURVE_OBSERVATION.tags
assert _SCHEME is not None
_READ = (
    "vendor", "curve_key", "asset_class", "iso", "region", "location", "market", "product",
    "block", "spark_location", "currency", "per_unit", "asof_date", "contract_month",
    "tenor_start", "tenor_end", "tenor_label", "tenor_type", "value",
)  # fmt: skip
_LIVE = ("queued", "running", "staged", "published")
_KEPT_RUNS = 16  # runs whose curves stay in memory for reads
log = logging.getLogger("aurum.scenarios")


@dataclass(frozen=True)
class RunRequest:
    run: Run
    reused: bool


@dataclass(frozen=True)
class Paths:
    """A run's ensemble paths for some curves: each curve's (paths, months) matrix by curve key
    (NaN where it has no tenor), where they came from, and how the curves' random streams
    were drawn (``curve``: independently; ``market``: shared by a power market's curves)."""

    months: tuple[date, ...]
    matrices: dict[str, np.ndarray]
    origin: str
    streams: str


@dataclass(frozen=True)
class Outputs:
    """A published run's output rows, read at its tag."""

    rows: pa.Table
    snapshot_id: int

    def page(self, limit: int, offset: int) -> Page:
        started = time.perf_counter()
        return page_of(self.rows.slice(offset, limit + 1), self.snapshot_id, limit, started)


class ScenarioService:
    """Scenario definitions and runs over one store and one lake."""

    def __init__(
        self, store: Store, lake: Lake, runs: Runs, *, limits: ScenarioLimits | None = None,
        timeout_s: float = 300.0,
    ) -> None:  # fmt: skip
        self.store = store
        self.lake = lake
        self.runs = runs
        self.limits = limits or ScenarioLimits()
        self.timeout_s = timeout_s
        self.query = Query(lake, max_rows=50_000_000, timeout_s=timeout_s)
        self._kept: OrderedDict[tuple[str, str, str], ScenarioCurves] = OrderedDict()
        self._kept_lock = threading.Lock()

    # -- definitions ------------------------------------------------------------------------------

    def create(
        self, access: Access, *, name: str, description: str, spec: Mapping[str, Any],
        assumptions: Sequence[tuple[str, Any]] = (), request_id: str | None = None,
    ) -> Document:  # fmt: skip
        """A new scenario (version 1), with its settings and, optionally, its assumptions."""
        settings = validate_settings(spec)
        typed = [(n, _dump(validate_assumption(v))) for n, v in assumptions]
        with self.store.transaction(access) as tx:
            document = tx.create_document(
                "scenario", name=name, description=description, spec=_dump(settings),
                assumptions=typed,
            )  # fmt: skip
            tx.audit("scenario.create", target=document.id, request_id=request_id,
                     details={"name": name, "assumptions": len(typed)})  # fmt: skip
            return tx.document("scenario", document.id)

    def update(
        self, access: Access, scenario_id: str, changes: Mapping[str, Any], *,
        request_id: str | None = None,
    ) -> Document:  # fmt: skip
        """Change name, description or settings: a new version."""
        changes = dict(changes)
        if "spec" in changes:
            changes["spec"] = _dump(validate_settings(changes["spec"]))
        with self.store.transaction(access) as tx:
            document = tx.update_document("scenario", scenario_id, changes)
            tx.audit("scenario.update", target=scenario_id, request_id=request_id,
                     details={"fields": sorted(changes), "version": document.version})  # fmt: skip
        return document

    def add_assumption(
        self, access: Access, scenario_id: str, *, name: str, value: Any,
        request_id: str | None = None,
    ) -> Assumption:  # fmt: skip
        typed = _dump(validate_assumption(value))
        with self.store.transaction(access) as tx:
            assumption = tx.create_assumption(scenario_id, name=name, value=typed)
            tx.audit("assumption.create", target=assumption.id, request_id=request_id,
                     details={"scenario": scenario_id, "name": name})  # fmt: skip
        return assumption

    def replace_assumption(
        self, access: Access, scenario_id: str, name: str, *, value: Any,
        request_id: str | None = None,
    ) -> Assumption:  # fmt: skip
        typed = _dump(validate_assumption(value))
        with self.store.transaction(access) as tx:
            assumption = tx.update_assumption(scenario_id, name, value=typed)
            tx.audit("assumption.update", target=assumption.id, request_id=request_id,
                     details={"scenario": scenario_id, "name": name})  # fmt: skip
        return assumption

    def remove_assumption(
        self, access: Access, scenario_id: str, name: str, *, request_id: str | None = None
    ) -> Assumption:
        with self.store.transaction(access) as tx:
            assumption = tx.delete_assumption(scenario_id, name)
            tx.audit("assumption.delete", target=assumption.id, request_id=request_id,
                     details={"scenario": scenario_id, "name": name})  # fmt: skip
        return assumption

    def version(
        self, access: Access, scenario_id: str, version: int | None = None
    ) -> ScenarioVersion:
        with self.store.transaction(access, write=False) as tx:
            return tx.scenario_version(scenario_id, version)

    # -- runs -------------------------------------------------------------------------------------

    def request_run(
        self, access: Access, scenario_id: str, *, version: int | None = None,
        seed: int | None = None, request_id: str | None = None,
    ) -> RunRequest:  # fmt: skip
        """Enqueue a run of the scenario's version (default: current) on the newest base days,
        or answer the run that already computed exactly that."""
        found = self.version(access, scenario_id, version)
        settings, assumptions = _parsed(found)
        tags = self._base_tags(access, settings, assumptions)
        params = {
            "scenario_id": scenario_id, "version": found.version, "base_tags": tags,
            "seed": settings.seed if seed is None else seed, "code_version": code_version(),
        }  # fmt: skip
        if settings.attribution == "shapley" and len(assumptions) > SHAPLEY_MAX_PLAYERS:
            raise ScenarioError(
                "attribution_too_large",
                f"exact Shapley over {len(assumptions)} assumptions needs 2^{len(assumptions)}"
                f" evaluations: at most {SHAPLEY_MAX_PLAYERS}, or set attribution"
                " 'one_at_a_time'",
                assumptions=len(assumptions),
            )  # fmt: skip
        key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
        with self.store.transaction(access, write=False) as tx:
            earlier = tx.runs(kind="scenario_run", subject=scenario_id, limit=1000)
        for run in earlier:
            if run.params.get("key") == key and run.status in _LIVE:
                return RunRequest(run, reused=True)
        self._check_budget(settings)
        run = self.runs.enqueue(
            access, "scenario_run", subject=scenario_id, params={**params, "key": key},
            request_id=request_id,
        )  # fmt: skip
        return RunRequest(run, reused=False)

    def runs_of(
        self, access: Access, scenario_id: str, *, limit: int = 100, offset: int = 0
    ) -> list[Run]:
        with self.store.transaction(access, write=False) as tx:
            tx.document("scenario", scenario_id)  # 404 when it is not the caller's
            return tx.runs(kind="scenario_run", subject=scenario_id, limit=limit, offset=offset)

    def run(self, access: Access, scenario_id: str, run_id: str) -> Run:
        """One run of the scenario (404 ``scenario_run_unknown`` for anything else)."""
        return self._scenario_run(access, run_id, scenario_id)

    def outputs(self, access: Access, run: Run, curve_key: str | None = None) -> Outputs:
        """Every output row of a published run that ``access`` may read (of one curve, when
        ``curve_key`` is given), in curve and tenor order."""
        assert run.tag is not None
        rows, snapshot = run_rows(self.lake, access, run.run_id, run.tag)
        if curve_key is not None:
            rows = rows.filter(pc.field("curve_key") == curve_key)
        order = [(c, "ascending") for c in ("vendor", "curve_key", "tenor_start", "tenor_label")]
        return Outputs(rows.sort_by(order), snapshot)

    def readable_run(self, access: Access, run_id: str, scenario_id: str | None = None) -> Run:
        """A published scenario run of the caller's (of ``scenario_id``, when given): 404
        ``scenario_run_unknown`` for anything else, alike, so ids reveal nothing; 409
        ``scenario_run_not_ready`` until its output is published."""
        run = self._scenario_run(access, run_id, scenario_id)
        if run.status != "published" or run.tag is None:
            raise Conflict(
                "scenario_run_not_ready", f"scenario run {run_id} is {run.status}: no output yet",
                status=run.status,
            )  # fmt: skip
        return run

    def _scenario_run(self, access: Access, run_id: str, scenario_id: str | None) -> Run:
        unknown = NotFound("scenario_run_unknown", f"no scenario run {run_id!r}", run_id=run_id)
        try:
            with self.store.transaction(access, write=False) as tx:
                run = tx.get_run(run_id)
        except NotFound:
            raise unknown from None
        if run.kind != "scenario_run" or run.params.get("parent"):
            raise unknown  # a path block is its run's, not a scenario run of its own
        if scenario_id not in (None, run.subject):
            raise unknown
        if not access.acts_for(run.tenant_id or ""):  # the platform's runs are not a tenant's
            raise unknown
        return run

    def curves(self, access: Access, run_id: str) -> ScenarioCurves:
        """The run's curves as :class:`~aurum.query.curves.Curves` (slices, strips). A
        published run never changes: its curves are kept, per caller scope, for the next
        reads (the run is looked up for each, so access is decided every time)."""
        run = self.readable_run(access, run_id)
        assert run.tag is not None
        key = (run.run_id, run.tag, access.cache_scope(tenant_owned=True))
        with self._kept_lock:
            kept = self._kept.get(key)
            if kept is not None:
                self._kept.move_to_end(key)
                return kept
        rows, snapshot = run_rows(self.lake, access, run.run_id, run.tag)
        made = ScenarioCurves.of_run(
            self.lake, rows, snapshot, run_id=run.run_id, timeout_s=self.timeout_s
        )
        with self._kept_lock:
            self._kept[key] = made
            while len(self._kept) > _KEPT_RUNS:
                self._kept.popitem(last=False)
        return made

    def diff(
        self, access: Access, run_id: str, against: str | None = None
    ) -> tuple[ScenarioCurves, tuple[str, str]]:
        """The run's base against its scenario curves, or (``against``) run ``run_id``'s
        scenario curves against run ``against``'s; and the names of the two sides."""
        run = self.readable_run(access, run_id)
        assert run.tag is not None
        rows, snapshot = run_rows(self.lake, access, run.run_id, run.tag)
        if against is None:
            first = curve_rows(rows, run.run_id, value="base_value")
            second = curve_rows(rows, run.run_id)
            names = (f"base of scenario run {run.run_id}", f"scenario run {run.run_id}")
        else:
            other = self.readable_run(access, against)
            assert other.tag is not None
            theirs, snapshot = run_rows(self.lake, access, other.run_id, other.tag)
            first, second = curve_rows(rows, run.run_id), curve_rows(theirs, other.run_id)
            names = (f"scenario run {run.run_id}", f"scenario run {other.run_id}")
        curves = ScenarioCurves.of_diff(self.lake, first, second, snapshot,
                                        timeout_s=self.timeout_s)  # fmt: skip
        return curves, names

    def paths(self, access: Access, run_id: str, curve_keys: Sequence[str]) -> Paths:
        """The ensemble paths of a published run's curves ``curve_keys`` — read from
        ``scenario_path`` when the run kept them, else regenerated from the run's calibration
        history and seed (a curve's stream depends only on the seed and its key, or its
        market's, so the same paths come back)."""
        run = self.readable_run(access, run_id)
        assert run.tag is not None
        found = self.version(access, run.params["scenario_id"], int(run.params["version"]))
        settings, _ = _parsed(found)
        if settings.ensemble is None:
            raise ScenarioError(
                "ensemble_missing", f"scenario run {run_id} has no ensemble: its scenario sets"
                " none (add settings.ensemble and run it again)", run_id=run_id,
            )  # fmt: skip
        rows, _ = run_rows(self.lake, access, run.run_id, run.tag)
        rows = rows.filter(pc.and_(
            pc.is_in(rows.column("curve_key"), pa.array(list(curve_keys), pa.string())),
            pc.equal(rows.column("tenor_type"), "MONTHLY"),
        ))  # fmt: skip
        grid = CurveGrid.from_rows(rows)
        months = grid.months
        count = settings.ensemble.paths
        matrices: dict[str, np.ndarray] = {}
        if settings.ensemble.store_paths:
            stored = self.lake.table(SCENARIO_PATH.name)
            ref = stored.metadata.refs.get(SCENARIO_PATH.tags.tag({"run_id": run.run_id}, 1))  # type: ignore[union-attr]
            if ref is not None:
                kept = stored.scan(
                    row_filter=And(EqualTo("run_id", run.run_id),
                                   In("curve_key", list(curve_keys))),
                    snapshot_id=ref.snapshot_id,
                ).to_arrow()  # fmt: skip
                labels = {m.strftime("%Y-%m"): j for j, m in enumerate(months)}
                for key in dict.fromkeys(kept.column("curve_key").to_pylist()):
                    matrices[key] = np.full((count, len(months)), np.nan)
                for key, label, path, value in zip(
                    *(kept.column(c).to_pylist() for c in ("curve_key", "tenor_label", "path",
                                                           "value")), strict=True,
                ):  # fmt: skip
                    matrices[key][path, labels[label]] = value
                if set(matrices) >= {str(c["curve_key"]) for c in grid.curves}:
                    return Paths(months, matrices, f"stored ({SCENARIO_PATH.name})",
                                 settings.ensemble.streams)  # fmt: skip
        chosen = np.arange(len(grid.curves))
        tags = dict(run.params["base_tags"])
        asof = max(
            date.fromisoformat(_SCHEME.parse(tags[v])[0]["asof_date"])  # type: ignore[index]
            for v in {v.upper() for v in settings.base.vendors} if v in tags
        )  # fmt: skip  (the run's as-of, as its execution took it)
        histories = self._histories(grid, chosen, tags, settings)
        ensemble = bands.simulate_bands(
            grid, grid.values, chosen, histories, settings.ensemble.model_copy(
                update={"store_paths": False}
            ), seed=int(run.params["seed"]), asof=asof, limits=self.limits, keep_matrices=True,
        )  # fmt: skip
        for key, (cells, paths) in ensemble.matrices.items():
            matrix = np.full((count, len(months)), np.nan)
            matrix[:, cells] = paths
            matrices[key] = matrix
        return Paths(months, matrices, "regenerated from the run's calibration history and seed",
                     settings.ensemble.streams)  # fmt: skip

    def cancel(
        self, access: Access, scenario_id: str, run_id: str, *, request_id: str | None = None
    ) -> Run:
        self.run(access, scenario_id, run_id)
        cancelled = self.runs.cancel(access, run_id, request_id=request_id)
        if cancelled.status == "cancelled" and cancelled.result.get("path_blocks"):
            blocks.remove(self.lake, run_id)  # it waited for its path blocks: none will combine
        return cancelled

    def sweep_scratch(self, *, unknown_after: timedelta = timedelta(days=1)) -> list[str]:
        """Remove the scratch folders of split runs that have ended: a run whose publish failed
        after its blocks, or that recovery settled as failed, leaves its folder behind (a run
        still at work keeps it: a retry combines from it). A folder of a run the store does not
        know goes once nothing was written in it for ``unknown_after`` (another store over
        the same warehouse and namespace, as in a restore drill, may still be using it). The
        runs swept, by id."""
        swept = []
        for run_id in blocks.scratch_runs(self.lake):
            with self.store.transaction(PLATFORM, write=False) as tx:
                try:
                    status: str | None = tx.get_run(run_id).status
                except NotFound:
                    status = None
            if status is None:  # the warehouse is listed outside the store's transaction
                written = blocks.last_written(self.lake, run_id)  # none seen: not evidence
                ended = written is not None and written < datetime.now(UTC) - unknown_after
            else:
                ended = status in FINAL_STATUSES
            if ended:
                blocks.remove(self.lake, run_id)
                swept.append(run_id)
        return swept

    # -- execution (the worker's handler) ---------------------------------------------------------

    def execute(self, run: Run, progress: Progress) -> None:
        """Compute and publish the run, then finish it (a ``ScenarioError`` fails it as is).

        An ensemble of more paths than ``limits.paths_per_block`` is split into path blocks
        (:mod:`aurum.scenarios.blocks`): this plans it and fans out; each block, a child run,
        comes back here to draw its paths; the run, claimed again once they have ended,
        combines them and publishes what one piece would have published."""
        if run.params.get("parent"):
            return self._execute_block(run, progress)
        if run.result.get("children"):
            return self._combine(run, progress)
        access = _access_of(run)
        found = self.version(access, run.params["scenario_id"], int(run.params["version"]))
        settings, assumptions = _parsed(found)
        tags: dict[str, str] = dict(run.params["base_tags"])
        seed = int(run.params["seed"])
        with self.store.transaction(access) as tx:
            tx.update_run(run.run_id, dataset=SCENARIO_OUTPUT.name,
                          partition={"run_id": run.run_id})  # fmt: skip
        banded = settings.ensemble is not None
        steps = 3 + (1 if banded else 0)
        progress(0, steps, "reading base curves")
        grid, base_vendors, asof = self._grid(settings, tags)
        replacements = self._replacements(settings, assumptions, grid, tags)
        progress(1, steps, "evaluating assumptions")
        scenario = Scenario(grid, settings, assumptions, asof=asof, replacements=replacements)
        with np.errstate(over="ignore", invalid="ignore"):  # what overflows is refused below
            values, shares, residual = scenario.attribute(settings.attribution)
        output = outputs.output_mask(grid, base_vendors, settings)
        broken = output[:, None] & ~np.isfinite(values) & ~np.isnan(grid.values)
        if broken.any():
            row = int(np.flatnonzero(broken.any(axis=1))[0])
            raise ScenarioError(
                "values_not_finite",
                f"the assumptions take {bands.curve_name(grid.curves[row])} beyond any finite"
                " price: check their sizes",
                curve=bands.curve_name(grid.curves[row]),
            )  # fmt: skip
        report: dict[str, Any] = {
            "curves": int(output.sum()), "assumptions": len(assumptions),
            "driver_gaps": scenario.driver_gaps,
            "markets": sorted(m.drivers.name for m in scenario.markets),
        }  # fmt: skip
        rows, cells = outputs.base_table(
            run, found, grid, values, shares, residual, output, settings,
            scenario.stack_sources(),
        )  # fmt: skip
        ensemble = None
        if settings.ensemble is not None:
            progress(2, steps, "simulating the ensemble")
            chosen = output & (
                grid.matching(settings.ensemble.curves)
                if settings.ensemble.curves is not None else True
            )  # fmt: skip
            histories = self._histories(grid, np.flatnonzero(chosen), tags, settings)
            plan = bands.plan_bands(
                grid, values, np.flatnonzero(chosen), histories, settings.ensemble, seed=seed,
                asof=asof, limits=self.limits,
            )  # fmt: skip
            report.update(plan.report)
            split = ensembles.path_blocks(plan.paths, self.limits.paths_per_block)
            if len(split) > 1:
                return self._fan_out(run, plan, rows, cells, report, split, progress, steps)
            ensemble = bands.assemble(
                plan, ((curve, [plan.simulate(curve)]) for curve in plan.curves),
                progress=lambda done, total: progress(2, steps, f"ensemble {done}/{total} curves"),
            )  # fmt: skip
        progress(steps - 1, steps, "publishing")
        self._publish(run, found, outputs.with_bands(rows, cells, ensemble, seed), ensemble,
                      report, steps)  # fmt: skip

    def _publish(
        self, run: Run, found: ScenarioVersion, rows: pa.Table, ensemble: bands.Bands | None,
        report: dict[str, Any], steps: int,
    ) -> None:  # fmt: skip
        """Publish the run's rows (and its kept paths) and finish it ``published``."""
        if ensemble is not None and ensemble.paths is not None:
            paths = ensemble.paths.append_column(
                "tenant_id", pa.array([run.tenant_id or ""] * ensemble.paths.num_rows, pa.string())
            ).append_column(
                "run_id", pa.array([run.run_id] * ensemble.paths.num_rows, pa.string())
            )  # fmt: skip
            publish(self.lake, SCENARIO_PATH, {"run_id": run.run_id},
                    paths.select(list(SCENARIO_PATH.column_names)), run_id=run.run_id,
                    content_sha256=outputs.content_sha256(paths))  # fmt: skip
            report["paths_stored"] = paths.num_rows
        self.runs.stage(run, branch=None)
        publication = publish(
            self.lake, SCENARIO_OUTPUT, {"run_id": run.run_id}, rows, run_id=run.run_id,
            content_sha256=outputs.content_sha256(rows), audit=Audit(outputs.audit_output),
        )  # fmt: skip
        if publication.status == "failed":
            raise ScenarioError(
                "output_invalid", "the run's output failed its audit: "
                + ", ".join(publication.gate_failures),
            )  # fmt: skip
        report["rows"] = rows.num_rows
        tag = publication.tag
        if tag is None and publication.version is not None:  # already there (a retry's race)
            assert SCENARIO_OUTPUT.tags is not None
            tag = SCENARIO_OUTPUT.tags.tag({"run_id": run.run_id}, publication.version)
        self.runs.finish(
            run, "published", action="scenario_run.finish",
            details={"scenario": found.scenario_id, "version": found.version,
                     "tag": tag, "rows": rows.num_rows},
            snapshot_id=publication.snapshot_id, tag=tag,
            version=publication.version, result={**run.result, **report},
            progress={"done": steps, "total": steps, "stage": "published"},
        )  # fmt: skip

    # -- path blocks (a large ensemble over several workers) --------------------------------------

    def _fan_out(
        self, run: Run, plan: bands.BandPlan, rows: pa.Table, cells: np.ndarray,
        report: dict[str, Any], split: Sequence[tuple[int, int]], progress: Progress, steps: int,
    ) -> None:  # fmt: skip
        """Write the plan and the rows without bands to the run's scratch folder, then fan out
        into one child run per path block and wait on the queue for them."""
        progress(2, steps, f"writing the plan of {len(split)} path blocks")
        plan_at = blocks.write_plan(self.lake, run.run_id, plan)
        rows_at = blocks.write_rows(self.lake, run.run_id, rows, cells)
        progress(2, steps, f"queueing {len(split)} path blocks")  # a cancel stops it here
        result = {
            **run.result, **report, "path_blocks": {
                "blocks": len(split), "paths_per_block": self.limits.paths_per_block,
                "plan": plan_at, "rows": rows_at,
            },
        }  # fmt: skip
        self.runs.fan_out(
            replace(run, result=result),
            [("scenario_run", run.run_id, {"block": index, "paths": [start, stop],
                                           "plan": plan_at})
             for index, (start, stop) in enumerate(split)],
            stage=f"path blocks ({len(split)})",
        )  # fmt: skip

    def _execute_block(self, run: Run, progress: Progress) -> None:
        """A path block: draw its paths of every curve of its run's plan, write them, finish."""
        start, stop = (int(v) for v in run.params["paths"])
        index = int(run.params["block"])
        parent = str(run.params["parent"])
        plan = blocks.read_plan(self.lake, str(run.params["plan"]))
        total = len(plan.curves)
        progress(0, total, f"path block {index}: paths [{start}, {stop})")
        location, size = blocks.write_block(
            self.lake, parent, plan, index=index, start=start, stop=stop,
            progress=lambda done, total: progress(done, total, f"path block {index}: {done}/"
                                                  f"{total} curves"),
        )  # fmt: skip
        self.runs.finish(
            run, "published", action="scenario_run.block",
            details={"parent": parent, "block": index, "paths": [start, stop]},
            result={**run.result, "file": location, "bytes": size, "start": start,
                    "stop": stop, "curves": total, "worker": self.runs.owner,
                    "numerics": ensembles.numerics_fingerprint()},
            progress={"done": total, "total": total, "stage": "drawn"},
        )  # fmt: skip

    def _combine(self, run: Run, progress: Progress) -> None:
        """The run after its path blocks: wait again while one is at work; fail when one
        failed; else band all their paths and publish."""
        children = self.runs.children(run)
        broken = [c for c in children if c.status in ("failed", "cancelled")]
        if broken:
            for child in children:  # stop what would be wasted
                if child.status not in ("published", "failed", "cancelled"):
                    with contextlib.suppress(Conflict):  # it ended meanwhile
                        self.runs.cancel(_access_of(child), child.run_id)
            blocks.remove(self.lake, run.run_id)
            first = broken[0]
            raise ScenarioError(
                "path_block_failed",
                f"path block {first.params.get('block')} (paths {first.params.get('paths')}) of"
                f" the run {first.status}: {first.error_code}: {first.error_message}",
                block=first.run_id, block_error=first.error_code,
            )  # fmt: skip
        if any(c.status != "published" for c in children):
            self.runs.wait(run, stage=f"path blocks ({len(children)})")
            return
        access = _access_of(run)
        found = self.version(access, run.params["scenario_id"], int(run.params["version"]))
        steps = 4
        about = run.result["path_blocks"]
        plan = blocks.read_plan(self.lake, about["plan"])
        rows, cells = blocks.read_rows(self.lake, about["rows"])
        progress(3, steps + 1, f"combining {len(children)} path blocks")
        ensemble = bands.assemble(
            plan, blocks.read_curves(self.lake, plan, [c.result for c in children]),
            progress=lambda done, total: progress(
                3, steps + 1, f"combining {len(children)} path blocks: {done}/{total} curves"
            ),
        )  # fmt: skip
        numerics = sorted({str(c.result.get("numerics")) for c in children})
        if len(numerics) > 1:
            log.warning("run %s: its path blocks were drawn with different numerics %s: its"
                        " paths are not those of one machine to the last bit", run.run_id,
                        numerics)  # fmt: skip
        report = {"path_blocks": {**about, "numerics": numerics}}
        progress(steps, steps + 1, "publishing")
        rows = outputs.with_bands(rows, cells, ensemble, int(run.params["seed"]))
        self._publish(run, found, rows, ensemble, report, steps + 1)
        blocks.remove(self.lake, run.run_id)

    # -- reading ----------------------------------------------------------------------------------

    def _base_tags(
        self, access: Access, settings: ScenarioSettings,
        assumptions: Sequence[tuple[str, AssumptionValue]],
    ) -> dict[str, str]:  # fmt: skip
        """The vendor-day tag of every vendor the run reads: the base vendors, the vendors of
        their markets' driver curves, and of curves that replace a driver."""
        vendors = {v.upper() for v in settings.base.vendors}
        for market in drivers.load_markets():
            if {v.upper() for v in market.match.get("vendor", ())} & vendors:
                for ref in (market.gas, market.carbon):
                    if ref is not None and ref.fields.get("vendor"):
                        vendors.add(str(ref.fields["vendor"]).upper())
        for override in settings.markets.values():
            for ref in (override.gas, override.carbon):
                if ref is not None:
                    vendors.add(ref.vendor.upper())
        tags: dict[str, str] = {}
        table = self.lake.table(CURVE_OBSERVATION.name)
        published = _published_days(table)
        for vendor in sorted(vendors):
            required = vendor in {v.upper() for v in settings.base.vendors}
            if not access.may_read(vendor):
                if required:
                    raise Forbidden(
                        "vendor_not_entitled", f"your tenant is not entitled to vendor {vendor}",
                        vendor=vendor,
                    )  # fmt: skip
                continue  # a driver vendor it may not read: no pass-through from it
            days = published.get(vendor, {})
            day = settings.base.asof if isinstance(settings.base.asof, date) else (
                max(days) if days else None
            )  # fmt: skip
            if day is None or day not in days:
                if required:
                    raise ScenarioError(
                        "base_missing",
                        f"vendor {vendor} has no published day"
                        + (f" {day}" if day else "") + ": ingest it first",
                        vendor=vendor,
                    )  # fmt: skip
                continue
            tags[vendor] = days[day]
        for name, assumption in assumptions:
            if isinstance(assumption, FuelCurveChange | CarbonChange) and assumption.replace_with:
                ref = assumption.replace_with
                vendor = ref.vendor.upper()
                if not access.may_read(vendor):
                    raise Forbidden(
                        "vendor_not_entitled",
                        f"assumption {name!r} reads vendor {vendor}: your tenant is not entitled",
                        vendor=vendor,
                    )  # fmt: skip
                days = published.get(vendor, {})
                day = ref.asof if isinstance(ref.asof, date) else (max(days) if days else None)
                if day is None or day not in days:
                    raise ScenarioError(
                        "base_missing", f"assumption {name!r}: vendor {vendor} has no published"
                        f" day {day or ''}".rstrip(), assumption=name,
                    )  # fmt: skip
                tags[f"{name}@replace"] = days[day]
        return tags

    def _rows(self, tag: str, row_filter: Any) -> pa.Table:
        rows, _ = self.query.scan(
            CURVE_OBSERVATION.name, row_filter=row_filter, as_at=tag, columns=_READ
        )
        return rows

    def _grid(
        self, settings: ScenarioSettings, tags: Mapping[str, str]
    ) -> tuple[CurveGrid, set[str], date]:
        parts = []
        for vendor, tag in tags.items():
            if "@" in vendor:
                continue
            parsed = _SCHEME.parse(tag)
            assert parsed is not None
            day = date.fromisoformat(parsed[0]["asof_date"])
            rows = self._rows(tag, And(
                EqualTo("vendor", vendor), EqualTo("asof_date", day.isoformat()),
                EqualTo("tenor_type", "MONTHLY"),
            ))  # fmt: skip
            rows = rows.filter(pc.is_valid(rows.column("value")))
            parts.append(rows.append_column("base_tag", pa.array([tag] * rows.num_rows)))
        table = pa.concat_tables(parts, promote_options="default")
        base_vendors = {v.upper() for v in settings.base.vendors}
        if not table.num_rows:
            raise ScenarioError("base_missing", "the base days have no monthly curves")
        grid = CurveGrid.from_rows(table)
        asof = max(
            date.fromisoformat(_SCHEME.parse(tags[v])[0]["asof_date"])  # type: ignore[index]
            for v in base_vendors if v in tags
        )  # fmt: skip
        return grid, base_vendors, asof

    def _replacements(
        self, settings: ScenarioSettings, assumptions: Sequence[tuple[str, AssumptionValue]],
        grid: CurveGrid, tags: Mapping[str, str],
    ) -> dict[int, tuple[np.ndarray, dict[str, Any]]]:  # fmt: skip
        found: dict[int, tuple[np.ndarray, dict[str, Any]]] = {}
        for index, (name, assumption) in enumerate(assumptions):
            if not isinstance(assumption, FuelCurveChange | CarbonChange):
                continue
            ref = assumption.replace_with
            if ref is None:
                continue
            tag = tags[f"{name}@replace"]
            day = date.fromisoformat(_SCHEME.parse(tag)[0]["asof_date"])  # type: ignore[index]
            rows = self._rows(tag, And(
                EqualTo("vendor", ref.vendor.upper()), EqualTo("asof_date", day.isoformat()),
                EqualTo("tenor_type", "MONTHLY"),
            ))  # fmt: skip
            other = CurveGrid.from_rows(rows)
            matches = np.flatnonzero(other.matching(ref.identity()))
            if len(matches) != 1:
                raise ScenarioError(
                    "filter_matches_nothing" if not len(matches) else "curve_ambiguous",
                    f"assumption {name!r}: replace_with names {len(matches)} curves of"
                    f" {ref.vendor} on {day}; it must name one",
                    assumption=name,
                )  # fmt: skip
            row = int(matches[0])
            by_month = dict(zip(other.months, other.values[row], strict=True))
            values = np.array([by_month.get(m, np.nan) for m in grid.months])
            found[index] = (values, other.curves[row])
        return found

    def _histories(
        self, grid: CurveGrid, rows: Sequence[int], tags: Mapping[str, str],
        settings: ScenarioSettings,
    ) -> dict[str, History]:  # fmt: skip
        """Each banded curve's as-of history by relative tenor, as known at its base tag."""
        assert settings.ensemble is not None
        wanted: dict[str, list[str]] = {}
        for row in rows:
            curve = grid.curves[int(row)]
            wanted.setdefault(str(curve["vendor"]), []).append(str(curve["curve_key"]))
        found: dict[str, History] = {}
        for vendor, keys in wanted.items():
            tag = tags[vendor]
            day = date.fromisoformat(_SCHEME.parse(tag)[0]["asof_date"])  # type: ignore[index]
            first = day - timedelta(days=int(settings.ensemble.calibration_days * 7 / 5) + 7)
            rows_ = self._rows(tag, And(
                EqualTo("vendor", vendor), GreaterThanOrEqual("asof_date", first.isoformat()),
                LessThanOrEqual("asof_date", day.isoformat()), EqualTo("tenor_type", "MONTHLY"),
                In("curve_key", keys),
            ))  # fmt: skip
            found.update(bands.histories(rows_, settings.ensemble.calibration_days))
        return found

    def _check_budget(self, settings: ScenarioSettings) -> None:
        """Refuse, before anything is queued, an ensemble over the memory budget (its curves'
        tenors are not known yet: counted at the most a curve is simulated with)."""
        if settings.ensemble is not None:
            bands.check_budgets(settings.ensemble, [bands.MAX_RELATIVE_TENORS], self.limits,
                                paths_too=False)  # fmt: skip


# -- helpers --------------------------------------------------------------------------------------


def _access_of(run: Run) -> Access:
    """Who a run acts as: its tenant's requester, or the platform's."""
    if run.tenant_id:
        return Access(run.tenant_id, actor=run.requested_by or "aurum")
    return Access.platform(run.requested_by or "aurum")


def _dump(model: Any) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _parsed(found: ScenarioVersion) -> tuple[ScenarioSettings, list[tuple[str, AssumptionValue]]]:
    settings = validate_settings(found.spec["settings"])
    assumptions = [
        (item["name"], validate_assumption(item["value"])) for item in found.spec["assumptions"]
    ]
    return settings, assumptions


def _published_days(table: Any) -> dict[str, dict[date, str]]:
    """Every vendor's published days and the tag of each day's newest version."""
    newest: dict[tuple[str, date], tuple[int, str]] = {}
    for name in table.metadata.refs:
        parsed = _SCHEME.parse(name)
        if parsed is None:
            continue
        partition, number = parsed
        key = (partition["vendor"], date.fromisoformat(partition["asof_date"]))
        if key not in newest or newest[key][0] < number:
            newest[key] = (number, name)
    days: dict[str, dict[date, str]] = {}
    for (vendor, day), (_, tag) in newest.items():
        days.setdefault(vendor, {})[day] = tag
    return days
