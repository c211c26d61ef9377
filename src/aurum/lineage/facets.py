"""The facets Aurum puts on its OpenLineage events: the spec's own where one fits, three of ours.

The spec's facets say what any lineage tool understands: a dataset's ``schema`` (from its
contract, nothing restated), ``documentation`` and ``ownership``, its ``version`` (the Iceberg
snapshot id, or the tag a run read when only the tag is known), ``outputStatistics`` (rows
written), ``dataQualityAssertions`` (the gates that fired), and on the run
``processing_engine`` (Aurum and its code version) and ``errorMessage``.

What the spec has no place for goes in custom facets, prefixed ``aurum_`` as the spec asks:

- ``aurum_run`` (run): Aurum's own run id (32 hex, what ``aurum runs`` shows), kind, status,
  subject, tenant, who asked, attempts, error code;
- ``aurum_version`` (dataset): snapshot id, tag and version number together, the partition the
  run wrote, and whether it published or found its content already there (``duplicate``); for
  a run that did not publish, the write-audit-publish branch it staged on;
- ``aurum_file`` (dataset, an ingest's input): the file's SHA-256, by which the raw archive
  keeps it, and where it was archived when the run recorded it.

Every facet names its producer (:data:`PRODUCER`), so a reader can tell Aurum's facets from
another producer's.

>>> from aurum.datasets.curves import CURVE_OBSERVATION
>>> facet = schema_facet(CURVE_OBSERVATION)
>>> [(f.name, f.type, f.ordinal_position) for f in facet.fields[:2]]
[('asof_date', 'date32[day]', 1), ('source_file', 'string', 2)]
>>> version_facet(snapshot_id=42, tag="eod/RP/2025-09-17/v2").datasetVersion
'42'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attr
from openlineage.client.constants import __version__ as OPENLINEAGE_VERSION
from openlineage.client.facet_v2 import (
    DatasetFacet,
    RunFacet,
    data_quality_assertions_dataset,
    dataset_version_dataset,
    documentation_dataset,
    error_message_run,
    output_statistics_output_dataset,
    ownership_dataset,
    processing_engine_run,
    schema_dataset,
)

from aurum._version import __version__
from aurum.datasets import Dataset

__all__ = [
    "PRODUCER", "SCHEMA_BASE", "AurumFileFacet", "AurumRunFacet", "AurumVersionFacet",
    "documentation_facet", "engine_facet", "error_facet", "ownership_facet", "quality_facet",
    "schema_facet", "statistics_facet", "version_facet",
]  # fmt: skip

# Aurum has no public address yet: ``.invalid`` is the reserved name that says so. When it has
# one, this is the one line to change.
_HOME = "https://aurum.invalid"
PRODUCER = f"{_HOME}/aurum/{__version__}"
"""Who produced an event or facet: Aurum, at its version (the spec wants a URI)."""
SCHEMA_BASE = f"{_HOME}/spec/facets/1-0-0"


@attr.define
class AurumRunFacet(RunFacet):
    """Aurum's record of the run (see the module docstring)."""

    runId: str  # Aurum's id: 32 hex digits, as `aurum runs` and the API show it
    kind: str
    status: str
    subject: str
    tenantId: str | None = attr.field(default=None)
    requestedBy: str | None = attr.field(default=None)
    requestId: str | None = attr.field(default=None)
    attempts: int | None = attr.field(default=None)
    errorCode: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/AurumRunFacet.json#/$defs/AurumRunFacet"


@attr.define
class AurumVersionFacet(DatasetFacet):
    """A dataset version as Aurum names it: snapshot, tag and number, and its partition."""

    snapshotId: int | None = attr.field(default=None)
    tag: str | None = attr.field(default=None)
    version: int | None = attr.field(default=None)
    partition: dict[str, Any] | None = attr.field(default=None)
    status: str | None = attr.field(default=None)  # published | duplicate (a written output)
    asAt: str | None = attr.field(default=None)  # a read pinned by time, not by version
    branch: str | None = attr.field(default=None)  # staged there, not published (its audit)

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/AurumVersionFacet.json#/$defs/AurumVersionFacet"


@attr.define
class AurumFileFacet(DatasetFacet):
    """A delivered file: its content hash (the raw archive's key) and where it was archived."""

    sha256: str | None = attr.field(default=None)
    rawArchive: str | None = attr.field(default=None)
    vendor: str | None = attr.field(default=None)
    asof: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/AurumFileFacet.json#/$defs/AurumFileFacet"


def schema_facet(dataset: Dataset) -> schema_dataset.SchemaDatasetFacet:
    """The contract's columns, in order, with their Arrow types and docs (and units)."""
    return schema_dataset.SchemaDatasetFacet(
        fields=[
            schema_dataset.SchemaDatasetFacetFields(
                name=column.name,
                type=str(column.type),
                description=f"{column.doc} [{column.unit}]" if column.unit else column.doc,
                ordinal_position=position,
            )
            for position, column in enumerate(dataset.columns, start=1)
        ],
        producer=PRODUCER,
    )


def documentation_facet(dataset: Dataset) -> documentation_dataset.DocumentationDatasetFacet:
    return documentation_dataset.DocumentationDatasetFacet(
        description=dataset.doc, producer=PRODUCER
    )


def ownership_facet(dataset: Dataset) -> ownership_dataset.OwnershipDatasetFacet:
    return ownership_dataset.OwnershipDatasetFacet(
        owners=[ownership_dataset.Owner(name=f"team:{dataset.owner}", type="team")],
        producer=PRODUCER,
    )


def version_facet(
    *, snapshot_id: int | None = None, tag: str | None = None
) -> dataset_version_dataset.DatasetVersionDatasetFacet:
    """The spec's version: the Iceberg snapshot id when known (what an Iceberg reader pins),
    else the tag."""
    version = str(snapshot_id) if snapshot_id is not None else tag
    if version is None:
        raise ValueError("a version needs a snapshot id or a tag")
    return dataset_version_dataset.DatasetVersionDatasetFacet(
        datasetVersion=version, producer=PRODUCER
    )


def statistics_facet(
    rows: int,
) -> output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet:
    return output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
        rowCount=rows, producer=PRODUCER
    )


def quality_facet(
    gates: Sequence[Mapping[str, Any]], blocked: Sequence[str]
) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    """The gates that fired (a run keeps only those; see ``aurum.ingest.runner.fired_gates``):
    each failed its check; severity ``error`` for a gate that blocks (``fail``), ``warn`` for
    one that only reports."""
    assertions = []
    for gate in gates:
        rule = str(gate.get("rule"))
        assertions.append(
            data_quality_assertions_dataset.Assertion(
                assertion=rule,
                name=rule,
                success=not gate.get("failed"),
                severity="error" if rule in blocked or gate.get("severity") == "fail" else "warn",
                expected="0",
                actual=str(gate.get("failed")),
                params={
                    "checked": gate.get("checked"),
                    "sample_keys": list(gate.get("sample_keys") or []),
                },
            )
        )
    known = {a.assertion for a in assertions}
    assertions += [  # a blocking gate the run names but did not detail
        data_quality_assertions_dataset.Assertion(
            assertion=r, name=r, success=False, severity="error"
        )
        for r in blocked
        if r not in known
    ]
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
        assertions=assertions, producer=PRODUCER
    )


def engine_facet(code_version: str) -> processing_engine_run.ProcessingEngineRunFacet:
    """Aurum as the engine that ran the job: its code version (package version and, in a git
    checkout, the commit) and the OpenLineage client it spoke through."""
    return processing_engine_run.ProcessingEngineRunFacet(
        version=code_version, name="aurum", openlineageAdapterVersion=OPENLINEAGE_VERSION,
        producer=PRODUCER,
    )  # fmt: skip


def error_facet(message: str) -> error_message_run.ErrorMessageRunFacet:
    return error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="python", producer=PRODUCER
    )
