"""Lineage edges between datasets, read from the contracts' ``derived_from`` in both directions.

A contract names what its rows come from; no contract names what it feeds. The downstream side
is derived here, once, so adding a consumer never means editing its upstream's contract (which
could then forget it). An edge is ``derived`` when the downstream's rows are computed from the
upstream's (a scenario run from the curves), ``log`` when the downstream is an operational log
written by the upstream's ingest (quarantine, quality checks, dead letters: it has no versions).

>>> from aurum.datasets.curves import CURVE_OBSERVATION, QA_CHECKS
>>> from aurum.datasets.scenarios import SCENARIO_OUTPUT
>>> edges = lineage_edges([CURVE_OBSERVATION, QA_CHECKS, SCENARIO_OUTPUT])
>>> [(e.upstream, e.downstream, e.kind) for e in edges]
[('curve_observation', 'qa_checks', 'log'), ('curve_observation', 'scenario_output', 'derived')]
>>> [e.downstream for e in downstream(edges, "curve_observation")]
['qa_checks', 'scenario_output']
>>> upstream(edges, "curve_observation")
()
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from aurum.datasets import Dataset

__all__ = ["Edge", "downstream", "lineage_edges", "upstream"]

EdgeKind = Literal["derived", "log"]


@dataclass(frozen=True, order=True)
class Edge:
    """``downstream`` is made from (``derived``) or logged by the ingest of (``log``)
    ``upstream``."""

    upstream: str
    downstream: str
    kind: EdgeKind


def lineage_edges(datasets: Iterable[Dataset]) -> tuple[Edge, ...]:
    """Every edge the contracts declare, sorted. An upstream the catalog does not hold is kept:
    the edge is what the contract says, and a test pins that the built-in ones resolve."""
    return tuple(
        sorted(
            Edge(name, dataset.name, "derived" if dataset.published else "log")
            for dataset in datasets
            for name in dataset.derived_from
        )
    )


def upstream(edges: Iterable[Edge], name: str) -> tuple[Edge, ...]:
    """The edges into ``name``: what it comes from."""
    return tuple(edge for edge in edges if edge.downstream == name)


def downstream(edges: Iterable[Edge], name: str) -> tuple[Edge, ...]:
    """The edges out of ``name``: what is made from it, or logged by its ingest."""
    return tuple(edge for edge in edges if edge.upstream == name)
