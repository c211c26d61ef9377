"""A run, as OpenLineage run events: what it read, what it wrote, at which versions, by which code.

One :class:`RunEvents` turns an Aurum :class:`~aurum.store.Run` into the spec's typed
``RunEvent`` (``openlineage.client.event_v2``): ``START`` when it starts, and when it ends
``COMPLETE`` (published, or a duplicate of a version already there), ``FAIL`` or ``ABORT``
(cancelled). A run that goes back to the queue for another attempt ends nothing: its next
attempt starts again under the same run id, and only its last end is its end.

- **job**: namespace ``aurum``, named by the run's kind (``ingest``, ``scenario_run``,
  ``valuation``, ``feed_load``, and any kind added later);
- **run**: ``runId`` is the run id itself, read as a UUID (Aurum's ids are 128 random bits in
  32 hex digits: the same value, so each side finds the other), with Aurum's own record
  (``aurum_run``), the code version (``processing_engine``) and, when it failed, the error;
- **outputs**: the dataset the run writes (``run.dataset``), in the lake's namespace
  ``aurum://lake/<iceberg namespace>``, with its contract's schema, the version it published
  (Iceberg snapshot id as the spec's version; snapshot, tag and number in ``aurum_version``),
  the rows written and the gates that fired (a run that did not publish: the partition it was
  writing and, if it staged one, its branch and snapshot, never a version); an ingest's
  quarantined rows and a scenario run's stored paths are outputs too;
- **inputs**, by kind, from what the run records: an ingest's file (namespace ``file``, with
  its SHA-256, the raw archive's key); a scenario run's base curves (``params["base_tags"]``,
  the vendor-day tags it read); a valuation's curves (``params["request"]["curves"]``: the
  base curves at the snapshot or tag it pinned, or a scenario run's output at its tag,
  ``result["inputs"]``). A kind that records no inputs has none.

Nothing here reads the lake or the store: the run record is the whole story, which is why the
kernel can emit these events without knowing any kind's details.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import DatasetFacet, job_type_job

from aurum.datasets import Dataset
from aurum.datasets.curves import CURVE_OBSERVATION, QUARANTINE
from aurum.datasets.scenarios import SCENARIO_OUTPUT, SCENARIO_PATH
from aurum.lineage import facets
from aurum.store import Run as AurumRun

__all__ = [
    "FILE_NAMESPACE", "JOB_NAMESPACE", "RunEvents", "end_state", "lake_namespace", "run_uuid",
]  # fmt: skip

JOB_NAMESPACE = "aurum"
FILE_NAMESPACE = "file"
# For a run id that is not 32 hex digits (never made by the store; a test's or an import's).
_IDS = uuid.UUID("6f1b7a52-5c1e-4b8e-9a39-2f0d8c3e7a10")

# What a kind appends beside its dataset, and the result key that counts the rows appended.
_SIDE_OUTPUTS: Mapping[str, tuple[Dataset, str]] = {
    "ingest": (QUARANTINE, "quarantined"), "scenario_run": (SCENARIO_PATH, "paths_stored"),
}  # fmt: skip
_ENDS: Mapping[str, RunState] = {
    "published": RunState.COMPLETE, "duplicate": RunState.COMPLETE,
    "failed": RunState.FAIL, "cancelled": RunState.ABORT,
}  # fmt: skip


def lake_namespace(namespace: str) -> str:
    """The OpenLineage namespace of the lake's tables in Iceberg ``namespace``.

    >>> lake_namespace("market")
    'aurum://lake/market'
    """
    return f"aurum://lake/{namespace}"


def run_uuid(run_id: str) -> str:
    """OpenLineage's ``runId`` for an Aurum run id: the same 128 bits, written as a UUID.

    >>> run_uuid("0f4c8d2a9b1e4f7a8c3d2e1f0a9b8c7d")
    '0f4c8d2a-9b1e-4f7a-8c3d-2e1f0a9b8c7d'
    >>> run_uuid("not-hex") == run_uuid("not-hex")  # any other id: stable too
    True
    """
    try:
        return str(uuid.UUID(hex=run_id))
    except ValueError:
        return str(uuid.uuid5(_IDS, run_id))


def end_state(status: str) -> RunState | None:
    """The event that ends a run in ``status``; ``None``: it has not ended (queued again for
    another attempt, or still running).

    >>> end_state("duplicate").value, end_state("cancelled").value, end_state("queued")
    ('COMPLETE', 'ABORT', None)
    """
    return _ENDS.get(status)


@dataclass(frozen=True)
class RunEvents:
    """Builds a run's events for one lake (its namespace) and one code version."""

    contracts: Mapping[str, Dataset]
    namespace: str  # the lake's OpenLineage namespace (:func:`lake_namespace`)
    code_version: str

    def start(self, run: AurumRun, *, at: datetime | None = None) -> RunEvent:
        return self._event(run, RunState.START, at or run.started_at)

    def end(self, run: AurumRun, *, at: datetime | None = None) -> RunEvent | None:
        """``COMPLETE``, ``FAIL`` or ``ABORT`` by the run's status; ``None`` if it has not
        ended."""
        state = end_state(run.status)
        return None if state is None else self._event(run, state, at or run.finished_at)

    # -- the event ------------------------------------------------------------------------------

    def _event(self, run: AurumRun, state: RunState, at: datetime | None) -> RunEvent:
        when = (at or datetime.now(UTC)).astimezone(UTC)
        run_facets: dict[str, Any] = {
            "processing_engine": facets.engine_facet(self.code_version),
            "aurum_run": facets.AurumRunFacet(
                runId=run.run_id,
                kind=run.kind,
                status=run.status,
                subject=run.subject,
                tenantId=run.tenant_id,
                requestedBy=run.requested_by,
                requestId=run.request_id,
                attempts=run.attempts,
                errorCode=run.error_code,
                producer=facets.PRODUCER,
            ),
        }
        if state in (RunState.FAIL, RunState.ABORT):
            why = run.error_message or run.error_code
            if why is None and run.gate_failures:
                why = f"its gates blocked the publish: {', '.join(run.gate_failures)}"
            if why:
                run_facets["errorMessage"] = facets.error_facet(why)
        job = Job(
            namespace=JOB_NAMESPACE, name=run.kind,
            facets={"jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="AURUM", jobType=run.kind,
                producer=facets.PRODUCER,
            )},
        )  # fmt: skip
        ended = state is not RunState.START
        inputs = _INPUTS.get(run.kind, _no_inputs)(self.namespace, run)
        return RunEvent(
            eventType=state, eventTime=when.isoformat(), producer=facets.PRODUCER,
            run=Run(runId=run_uuid(run.run_id), facets=run_facets), job=job,
            inputs=list(inputs), outputs=list(self._outputs(run, ended=ended)),
        )  # fmt: skip

    # -- outputs --------------------------------------------------------------------------------

    def _outputs(self, run: AurumRun, *, ended: bool) -> Iterable[OutputDataset]:
        if run.kind == "export":  # a file for people, not a dataset of the lake
            rows = run.result.get("rows")
            yield OutputDataset(
                namespace=FILE_NAMESPACE, name=run.subject,
                outputFacets={"outputStatistics": facets.statistics_facet(rows)}
                if ended and isinstance(rows, int) else {},
            )  # fmt: skip
            return
        if run.dataset is None:
            return
        contract = self.contracts.get(run.dataset)
        dataset_facets: dict[str, DatasetFacet] = {}
        if contract is not None:
            dataset_facets |= {
                "schema": facets.schema_facet(contract),
                "documentation": facets.documentation_facet(contract),
                "ownership": facets.ownership_facet(contract),
            }
        if ended and run.status in ("published", "duplicate"):
            tag = run.tag or _tag_of(contract, run.partition, run.version)
            if run.snapshot_id is not None or tag is not None:
                dataset_facets["version"] = facets.version_facet(
                    snapshot_id=run.snapshot_id, tag=tag
                )
            dataset_facets["aurum_version"] = facets.AurumVersionFacet(
                snapshotId=run.snapshot_id, tag=tag, version=run.version,
                partition=run.partition, status=run.status, producer=facets.PRODUCER,
            )  # fmt: skip
        elif run.partition or run.branch:  # not published: where it was going, or was staged
            dataset_facets["aurum_version"] = facets.AurumVersionFacet(
                partition=run.partition, branch=run.branch,
                snapshotId=run.snapshot_id if run.branch else None, producer=facets.PRODUCER,
            )  # fmt: skip
        if ended and ("gates" in run.result or run.gate_failures):
            dataset_facets["dataQualityAssertions"] = facets.quality_facet(
                run.result.get("gates") or [], run.gate_failures
            )
        output_facets: dict[str, Any] = {}
        if ended and run.status == "duplicate":  # the content was already there: nothing written
            output_facets["outputStatistics"] = facets.statistics_facet(0)
        elif ended and run.status == "published" and isinstance(run.result.get("rows"), int):
            output_facets["outputStatistics"] = facets.statistics_facet(run.result["rows"])
        yield OutputDataset(
            namespace=self.namespace, name=run.dataset, facets=dataset_facets,
            outputFacets=output_facets,
        )  # fmt: skip
        if not ended:
            return
        side = _SIDE_OUTPUTS.get(run.kind)
        if side is not None and run.result.get(side[1]):
            log_dataset, key = side
            yield OutputDataset(
                namespace=self.namespace, name=log_dataset.name,
                facets={"schema": facets.schema_facet(log_dataset)},
                outputFacets={"outputStatistics": facets.statistics_facet(int(run.result[key]))},
            )  # fmt: skip


def _tag_of(
    contract: Dataset | None, partition: Mapping[str, Any] | None, version: int | None
) -> str | None:
    """The tag of a version the run found (a duplicate records its number, not its tag)."""
    if contract is None or contract.tags is None or not partition or version is None:
        return None
    try:
        return contract.tags.tag(partition, version)
    except KeyError:
        return None


def _read_at(
    namespace: str, dataset: Dataset, *, tag: str | None = None, snapshot_id: int | None = None,
    as_at: str | None = None, partition: Mapping[str, Any] | None = None,
) -> InputDataset:  # fmt: skip
    """``dataset`` as a run read it: at a tag, at a snapshot, or as of a time."""
    parsed = dataset.tags.parse(tag) if tag is not None and dataset.tags is not None else None
    dataset_facets: dict[str, DatasetFacet] = {}
    if tag is not None or snapshot_id is not None:
        dataset_facets["version"] = facets.version_facet(snapshot_id=snapshot_id, tag=tag)
    dataset_facets["aurum_version"] = facets.AurumVersionFacet(
        snapshotId=snapshot_id, tag=tag, version=parsed[1] if parsed else None,
        partition=dict(parsed[0]) if parsed else (dict(partition) if partition else None),
        asAt=as_at, producer=facets.PRODUCER,
    )  # fmt: skip
    return InputDataset(namespace=namespace, name=dataset.name, facets=dataset_facets)


# -- inputs, by kind -----------------------------------------------------------------------------


def _no_inputs(namespace: str, run: AurumRun) -> list[InputDataset]:
    return []


def _file(namespace: str, run: AurumRun) -> list[InputDataset]:
    """An ingest reads one delivered file; the raw archive keeps it by its SHA-256."""
    return [
        InputDataset(
            namespace=FILE_NAMESPACE,
            name=run.subject,
            facets={
                "aurum_file": facets.AurumFileFacet(
                    sha256=run.sha256,
                    rawArchive=run.result.get("raw_path"),
                    vendor=run.vendor,
                    asof=run.asof.isoformat() if run.asof else None,
                    producer=facets.PRODUCER,
                )
            },
        )
    ]


def _base_tags(namespace: str, run: AurumRun) -> list[InputDataset]:
    """A scenario run reads each vendor's day at the tag its request resolved (a replaced
    curve's day too: ``{name}@replace``), once per tag."""
    tags = run.params.get("base_tags") or {}
    return [_read_at(namespace, CURVE_OBSERVATION, tag=tag) for tag in sorted(set(tags.values()))]


def _valuation_curves(namespace: str, run: AurumRun) -> list[InputDataset]:
    """A valuation reads the base curves at the snapshot (or tag, or time) its request pinned,
    or a scenario run's output at that run's tag (and, for an ensemble, its stored paths)."""
    curves = (run.params.get("request") or {}).get("curves") or {}
    found = run.result.get("inputs") or {}
    scenario_run = curves.get("scenario_run")
    if scenario_run:
        of_run = {"run_id": scenario_run}
        read = [_read_at(namespace, SCENARIO_OUTPUT, tag=found.get("scenario_tag"),
                         partition=of_run)]  # fmt: skip
        if str(found.get("paths", "")).startswith("stored"):
            read.append(_read_at(namespace, SCENARIO_PATH, partition=of_run))
        return read
    as_at = curves.get("as_at")
    if as_at is None:
        return [_read_at(namespace, CURVE_OBSERVATION)]
    text = str(as_at)
    if text.isdigit():
        return [_read_at(namespace, CURVE_OBSERVATION, snapshot_id=int(text))]
    scheme = CURVE_OBSERVATION.tags
    if scheme is not None and scheme.parse(text) is not None:
        return [_read_at(namespace, CURVE_OBSERVATION, tag=text)]
    return [_read_at(namespace, CURVE_OBSERVATION, as_at=text)]


def _exported(namespace: str, run: AurumRun) -> list[InputDataset]:
    """An export reads one as-of day of the curves at the snapshot it pinned."""
    snapshot = run.snapshot_id
    partition = {"vendor": run.vendor, "asof_date": run.asof.isoformat() if run.asof else None}
    return [_read_at(namespace, CURVE_OBSERVATION, snapshot_id=snapshot, partition=partition)]


_INPUTS: Mapping[str, Callable[[str, AurumRun], list[InputDataset]]] = {
    "ingest": _file, "scenario_run": _base_tags, "valuation": _valuation_curves,
    "export": _exported,
}  # fmt: skip
