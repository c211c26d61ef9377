"""The pure parts of the catalog: search over contracts, lineage from ``derived_from``, and an
entry put together from a contract and facts."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pyarrow as pa
import pytest

from aurum.catalog import Edge, Entry, Facts, Freshness
from aurum.catalog.lineage import downstream, lineage_edges, upstream
from aurum.catalog.search import matched_columns, words
from aurum.datasets import Column, Dataset, TagScheme
from aurum.datasets.curves import BUILTIN, CURVE_OBSERVATION, QA_CHECKS
from aurum.datasets.ppa import PPA_DATASETS
from aurum.datasets.scenarios import SCENARIO_DATASETS, SCENARIO_OUTPUT

EVERY = (*BUILTIN, *SCENARIO_DATASETS, *PPA_DATASETS)

MARKS = Dataset(
    name="hub_mark",
    doc="End-of-day marks per hub.",
    owner="tests",
    columns=(
        Column("day", pa.date32(), "Trading day.", required=True),
        Column("hub", pa.string(), "Delivery hub."),
        Column("mark", pa.float64(), "The settlement mark.", "EUR/MWh"),
    ),
    partition_by=("day",),
    tags=TagScheme("mark", ("day",)),
    derived_from=("curve_observation",),
)


def test_every_word_must_match_somewhere():
    assert words(" Hub  MARK hub ") == ("hub", "mark")
    assert matched_columns(MARKS, words("hub mark")) == ("hub", "mark")
    assert matched_columns(MARKS, words("end-of-day")) == ()  # the doc only
    assert matched_columns(MARKS, words("hub_mark")) == ()  # the name only
    assert matched_columns(MARKS, words("SETTLEMENT")) == ("mark",)  # a column's doc
    assert matched_columns(MARKS, words("hub gas")) is None  # "gas" is nowhere
    assert matched_columns(MARKS, words("EUR")) is None  # units are not searched
    assert matched_columns(MARKS, ()) == ()


def test_the_built_in_lineage_resolves_and_reads_both_ways():
    names = {d.name for d in EVERY}
    edges = lineage_edges(EVERY)
    assert {e.upstream for e in edges} <= names and {e.downstream for e in edges} <= names
    assert upstream(edges, "scenario_output") == (
        Edge("curve_observation", "scenario_output", "derived"),
    )
    assert [(e.downstream, e.kind) for e in downstream(edges, "curve_observation")] == [
        ("curve_dead_letter", "log"), ("curve_observation_quarantine", "log"),
        ("ppa_valuation", "derived"), ("qa_checks", "log"), ("scenario_output", "derived"),
        ("scenario_path", "derived"),
    ]  # fmt: skip
    assert [e.upstream for e in upstream(edges, "ppa_valuation")] == [
        "curve_observation", "scenario_output", "scenario_path"
    ]  # fmt: skip
    for dataset in EVERY:  # every edge in is an edge out of its upstream
        for edge in upstream(edges, dataset.name):
            assert edge in downstream(edges, edge.upstream)


def test_a_contract_derives_from_other_datasets_only():
    with pytest.raises(ValueError, match="derived_from must name other datasets"):
        Dataset("loop", "A loop.", "tests", MARKS.columns, derived_from=("loop",))
    with pytest.raises(ValueError, match="derived_from must name other datasets"):
        Dataset("bad", "A bad name.", "tests", MARKS.columns, derived_from=("Not A Name",))
    assert MARKS.describe()["derived_from"] == ["curve_observation"]


def test_an_entry_is_the_contract_with_facts_and_lineage():
    edges = lineage_edges([CURVE_OBSERVATION, MARKS])
    facts = Facts(
        snapshot_id=42, rows=7, versions=2, partitions=1, snapshots=3,
        last_published=datetime(2025, 9, 17, 18, 30, tzinfo=UTC),
        freshness=(Freshness("RP", date(2025, 9, 17), 14),),
        counted_over=(("vendor", ("RP",)),),
    )  # fmt: skip
    entry = Entry(MARKS, facts, upstream(edges, "hub_mark"), downstream(edges, "hub_mark"),
                  matched_columns=("mark",))  # fmt: skip
    described = entry.describe()
    contract = MARKS.describe()
    assert {k: v for k, v in described.items() if k in contract and k != "tag_scheme"} == {
        k: v for k, v in contract.items() if k != "tag_scheme"
    }
    assert described["tag_scheme"] == {
        "prefix": "mark", "keys": ["day"], "pattern": "mark/{day}/v{n}"
    }  # fmt: skip
    assert described["facts"] == {
        "snapshot_id": 42, "rows": 7, "versions": 2, "partitions": 1, "snapshots": 3,
        "last_published": "2025-09-17T18:30:00+00:00",
        "freshness": [{"vendor": "RP", "newest": "2025-09-17", "age_days": 14}],
        "counted_over": {"vendor": ["RP"]},
    }  # fmt: skip
    assert described["lineage"] == {
        "upstream": [{"dataset": "curve_observation", "kind": "derived"}],
        "downstream": [],
    }
    assert described["matched_columns"] == ["mark"]


def test_a_log_has_no_tag_scheme_and_says_so():
    entry = Entry(QA_CHECKS, Facts(snapshot_id=None, rows=0), (), ())
    described = entry.describe()
    assert described["tag_scheme"] is None and described["matched_columns"] is None
    assert described["facts"]["versions"] is None and described["facts"]["counted_over"] == {}
    assert (
        lineage_edges([CURVE_OBSERVATION, QA_CHECKS, SCENARIO_OUTPUT])[0].kind == "log"
    )  # qa_checks, written by the ingest of curve_observation
