"""``/v1/catalog/datasets[/{name}]`` through the real app: entries generated from the contracts,
with facts equal to what was published, searchable, and answered for the caller's tenant only."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from aurum.api.models import LogEnvelope
from aurum.api.routes.catalog import CatalogEntry
from aurum.auth.access import PLATFORM
from aurum.ingest.history import ingest_runs
from aurum.lake import Lake
from aurum.store import Store

from .conftest import FIRST, TODAY, CatalogLake


def published_rows(lake: CatalogLake) -> Counter[str]:
    """Rows the ingest log says each vendor's published runs wrote."""
    with Store.connect(lake.settings) as store:
        runs = ingest_runs(store, PLATFORM)
    counts: Counter[str] = Counter()
    for run in runs:
        if run.status == "published":
            counts[run.vendor or ""] += run.rows or 0
    return counts


def tag_time(lake: CatalogLake, dataset: str, tag: str) -> str:
    table = Lake(lake.settings).current(dataset)
    snapshot = table.snapshot_by_id(table.metadata.refs[tag].snapshot_id)
    assert snapshot is not None
    return datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).isoformat()


def test_every_dataset_is_listed_with_its_contract(catalog_lake):
    answer = catalog_lake.get("acme", "/v1/catalog/datasets")
    assert answer.status_code == 200
    listed = answer.json()["data"]
    names = [e["name"] for e in listed]
    assert names == sorted(names) and {"curve_observation", "qa_checks", "ppa_valuation"} <= set(
        names
    )
    assert answer.json()["meta"]["count"] == len(listed)
    LogEnvelope[CatalogEntry].model_validate(answer.json())  # the documented shape
    curves = next(e for e in listed if e["name"] == "curve_observation")
    assert curves["owner"] == "market-data" and curves["tenant_owned"] is False
    assert curves["partition_by"] == ["asof_date", "vendor"]
    assert curves["tag_scheme"] == {
        "prefix": "eod", "keys": ["vendor", "asof_date"], "pattern": "eod/{vendor}/{asof_date}/v{n}"
    }  # fmt: skip
    assert {"name": "mid", "type": "double", "required": False,
            "doc": "Mid from the Mid sheet, or (bid + ask) / 2 when it is missing.",
            "unit": "currency per per_unit (the row's)"} in curves["columns"]  # fmt: skip
    assert {"name": "_ingest_ts", "type": "timestamp[us, tz=UTC]", "unit": "UTC",
            "doc": "When Aurum read the file.", "required": True} in curves["columns"]  # fmt: skip
    assert curves["matched_columns"] is None


def test_facts_equal_what_was_published(catalog_lake):
    published = published_rows(catalog_lake)
    assert set(published) == {"EUGP", "RP"}
    curves = catalog_lake.entry("acme", "curve_observation")["facts"]
    assert curves["rows"] == published["EUGP"] + published["RP"]
    assert (curves["versions"], curves["partitions"]) == (3, 3)
    assert curves["counted_over"] == {"vendor": ["EUGP", "RP"]}
    second = FIRST.replace(day=FIRST.day + 1)
    assert curves["freshness"] == [
        {"vendor": "EUGP", "newest": FIRST.isoformat(), "age_days": (TODAY - FIRST).days},
        {"vendor": "RP", "newest": second.isoformat(), "age_days": (TODAY - second).days},
    ]
    assert curves["last_published"] == tag_time(
        catalog_lake, "curve_observation", f"eod/RP/{second}/v1"
    )  # the newest of the three versions
    table = Lake(catalog_lake.settings).current("qa_checks")
    checks = table.scan(selected_fields=("vendor",)).to_arrow()["vendor"].to_pylist()
    qa = catalog_lake.entry("acme", "qa_checks")["facts"]
    assert qa["rows"] == len(checks) > 0
    assert (qa["versions"], qa["partitions"], qa["freshness"]) == (None, None, [])


def test_lineage_is_read_both_ways(catalog_lake):
    curves = catalog_lake.entry("bolt", "curve_observation")["lineage"]
    assert curves["upstream"] == []
    assert {"dataset": "scenario_output", "kind": "derived"} in curves["downstream"]
    assert {"dataset": "qa_checks", "kind": "log"} in curves["downstream"]
    valuation = catalog_lake.entry("bolt", "ppa_valuation")
    assert [e["dataset"] for e in valuation["lineage"]["upstream"]] == [
        "curve_observation", "scenario_output", "scenario_path"
    ]  # fmt: skip
    assert valuation["derived_from"] == [e["dataset"] for e in valuation["lineage"]["upstream"]]
    scenario = catalog_lake.entry("bolt", "scenario_output")["lineage"]
    assert scenario == {
        "upstream": [{"dataset": "curve_observation", "kind": "derived"}],
        "downstream": [{"dataset": "ppa_valuation", "kind": "derived"}],
    }


def test_search_matches_every_word_and_names_the_columns(catalog_lake):
    found = catalog_lake.get("acme", "/v1/catalog/datasets?q=MID").json()
    by_name = {e["name"]: e for e in found["data"]}
    assert found["meta"]["q"] == "MID"
    assert set(by_name) == {"curve_observation", "curve_observation_quarantine"}
    assert "mid" in by_name["curve_observation"]["matched_columns"]
    assert "bid" not in by_name["curve_observation"]["matched_columns"]
    both = catalog_lake.get("acme", "/v1/catalog/datasets?q=mid%20quarantine").json()["data"]
    assert [e["name"] for e in both] == ["curve_observation_quarantine"]
    assert catalog_lake.get("acme", "/v1/catalog/datasets?q=mid%20zzz").json()["data"] == []
    by_doc = catalog_lake.get("acme", "/v1/catalog/datasets?q=settlement").json()["data"]
    assert [e["name"] for e in by_doc] == ["ppa_valuation"]
    assert "settlement" in by_doc[0]["matched_columns"]


def test_an_unknown_dataset_is_a_404_with_its_code(catalog_lake):
    answer = catalog_lake.get("acme", "/v1/catalog/datasets/nope")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == "dataset_unknown"
    assert "curve_observation" in answer.json()["diagnostics"]["known"]


def test_freshness_and_counts_are_of_entitled_vendors_only(catalog_lake):
    published = published_rows(catalog_lake)
    curves = catalog_lake.entry("bolt", "curve_observation")["facts"]
    assert [f["vendor"] for f in curves["freshness"]] == ["RP"]
    assert curves["rows"] == published["RP"]
    assert (curves["versions"], curves["partitions"]) == (2, 2)
    assert curves["counted_over"] == {"vendor": ["RP"]}
    listed = catalog_lake.get("bolt", "/v1/catalog/datasets").json()["data"]
    facts = [e["facts"] for e in listed]
    assert {f["vendor"] for fact in facts for f in fact["freshness"]} == {"RP"}
    assert {v for fact in facts for v in fact["counted_over"].get("vendor", [])} == {"RP"}
    table = Lake(catalog_lake.settings).current("qa_checks")
    vendors = Counter(table.scan(selected_fields=("vendor",)).to_arrow()["vendor"].to_pylist())
    assert catalog_lake.entry("bolt", "qa_checks")["facts"]["rows"] == vendors["RP"]


def test_a_tenant_counts_its_own_scenario_rows_only(catalog_lake):
    acme = catalog_lake.entry("acme", "scenario_output")["facts"]
    bolt = catalog_lake.entry("bolt", "scenario_output")["facts"]
    assert (acme["rows"], acme["versions"], acme["partitions"]) == (5, 2, 1)  # corrected once
    assert (bolt["rows"], bolt["versions"], bolt["partitions"]) == (3, 1, 1)
    assert acme["snapshots"] is None and bolt["snapshots"] is None  # history is every tenant's
    assert catalog_lake.entry("acme", "curve_observation")["facts"]["snapshots"] is None
    acme_tags, bolt_tags = catalog_lake.scenario_tags["acme"], catalog_lake.scenario_tags["bolt"]
    assert acme["last_published"] == tag_time(catalog_lake, "scenario_output", acme_tags[-1])
    assert bolt["last_published"] == tag_time(catalog_lake, "scenario_output", bolt_tags[-1])
    assert acme["last_published"] < bolt["last_published"]  # bolt's publish is not acme's news
    assert acme["counted_over"]["tenant_id"] == ["acme"]
    paths = catalog_lake.entry("bolt", "scenario_path")["facts"]
    assert (paths["rows"], paths["versions"], paths["last_published"]) == (0, 0, None)


def test_every_role_of_a_tenant_reads_it(catalog_lake):
    ops = catalog_lake.get("bolt-ops", "/v1/catalog/datasets?q=scenario")
    assert ops.status_code == 200
    assert {e["name"] for e in ops.json()["data"]} >= {"scenario_output", "scenario_path"}
    entry = next(e for e in ops.json()["data"] if e["name"] == "scenario_output")
    assert entry["facts"]["rows"] == 3
    anonymous = catalog_lake.client.get("/v1/catalog/datasets")
    assert anonymous.status_code == 401


def test_the_routes_are_documented_with_their_roles(catalog_lake):
    spec = catalog_lake.client.app.openapi()
    listed = spec["paths"]["/v1/catalog/datasets"]["get"]
    assert listed["x-aurum-roles"] == ["aurum-analyst", "aurum-ops"]
    assert {"401", "403", "404"} <= set(
        spec["paths"]["/v1/catalog/datasets/{name}"]["get"]["responses"]
    )
