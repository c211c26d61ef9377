"""Lineage: every run's OpenLineage events, recorded always and delivered when asked.

Every run (an ingest, a feed load, a scenario run, a valuation) says what it read and what it
wrote, at which versions, with which code, in the open standard's terms, so "where did this
number come from" has an answer a person can ask (``aurum lineage``) and a lineage tool
(Marquez, DataHub ...) can draw. The run kernel calls one object at the two ends of the one
lifecycle (``aurum.runs.Runs.start`` / ``finish``), so no kind of run can forget it::

    lineage = Lineage.from_settings(settings)   # once, in the composition root
    lineage.started(run)                        # START
    lineage.finished(run)                       # COMPLETE | FAIL | ABORT (a retry: nothing)
    lineage.close(timeout=5)                    # let HTTP delivery drain, bounded

- :mod:`~aurum.lineage.events` — a run record as typed OpenLineage events
  (``openlineage.client.event_v2``): job ``aurum/<kind>``, the run id as the run's UUID,
  inputs and outputs with the Iceberg snapshot or tag as their version, the contract's schema,
  rows written, gates that fired, the code version;
- :mod:`~aurum.lineage.facets` — the spec's facets Aurum fills and its own three (``aurum_run``,
  ``aurum_version``, ``aurum_file``);
- :mod:`~aurum.lineage.transport` — the JSONL journal under ``AURUM_HOME/lineage/`` (appended
  under a lock, so many processes share it) and HTTP delivery (a bounded queue on a daemon
  thread: a slow or dead endpoint costs drops, counted, never a publish's time);
- :mod:`~aurum.lineage.emitter` — :class:`Lineage`, which never raises into the run it
  records;
- :mod:`~aurum.lineage.history` — the journal read back: a run's lineage, a dataset's or a
  version's.

The layer sits on ``store`` (the :class:`~aurum.store.Run` record) and ``datasets`` (the
contracts) and below ``runs``: it reads neither the lake nor the store, only the run it is
given.
"""

from __future__ import annotations

from aurum.lineage.emitter import Lineage, journal_path, shared_lineage
from aurum.lineage.events import RunEvents, lake_namespace, run_uuid
from aurum.lineage.history import (
    DatasetLineage,
    Journal,
    RunLineage,
    Version,
    dataset_lineage,
    lineage_of,
    read_journal,
    run_lineage,
)
from aurum.lineage.transport import HttpDelivery, JsonlFile

__all__ = [
    "DatasetLineage", "HttpDelivery", "Journal", "JsonlFile", "Lineage", "RunEvents",
    "RunLineage", "Version", "dataset_lineage", "journal_path", "lake_namespace", "lineage_of",
    "read_journal", "run_lineage", "run_uuid", "shared_lineage",
]  # fmt: skip
