"""``/v1/datasets``: contracts of every dataset, and any served dataset's rows as the access
policy allows: a tenant-owned dataset defined only here is read per tenant, through the response
cache too; curve rows by entitled vendor; operational logs are not served generically."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM
from aurum.config import Settings
from aurum.datasets import Column, Dataset, TagScheme
from aurum.lake import Lake, publish
from aurum.store import Store

DAY = date(2025, 10, 1)

NOTES = Dataset(
    name="desk_note",
    doc="A desk's notes on a curve, per day (a tenant-owned dataset defined only by this test).",
    owner="tests",
    columns=(
        Column("tenant_id", pa.string(), "Tenant the note belongs to.", required=True),
        Column("day", pa.date32(), "Day of the note.", required=True),
        Column("curve_key", pa.string(), "Curve the note is about.", required=True),
        Column("note", pa.string(), "The note."),
        Column("size", pa.float64(), "Position size.", "MW"),
    ),
    partition_by=("tenant_id", "day"),
    sort_by=("curve_key",),
    tags=TagScheme("note", ("tenant_id", "day")),
    order_by="day",
    tenant_owned=True,
)


MARKS = Dataset(
    name="vendor_mark",
    doc="A vendor's end-of-day mark per hub (a dataset with a vendor column, every tenant's).",
    owner="tests",
    columns=(
        Column("vendor", pa.string(), "Vendor.", required=True),
        Column("day", pa.date32(), "As-of.", required=True),
        Column("hub", pa.string(), "Hub."),
        Column("mark", pa.float64(), "Mark.", "USD/MWh"),
    ),
    partition_by=("vendor", "day"),
    tags=TagScheme("mark", ("vendor", "day")),
    order_by="day",
)


def notes(tenant: str, count: int) -> pa.Table:
    return pa.table(
        {
            "tenant_id": [tenant] * count,
            "day": [DAY] * count,
            "curve_key": [f"{tenant}-{i:03d}" for i in range(count)],
            "note": [f"{tenant} secret {i}" for i in range(count)],
            "size": [float(i) for i in range(count)],
        }
    )


@pytest.fixture(scope="module")
def api(build_lake, synthetic_days) -> Iterator[tuple[TestClient, dict[str, str]]]:
    settings: Settings = build_lake(
        "datasets", synthetic_days("RP", DAY, 1), auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    lake = Lake(settings, datasets=[NOTES, MARKS])
    for tenant, count in (("acme", 5), ("bolt", 3)):
        published = publish(
            lake, NOTES, {"tenant_id": tenant, "day": DAY}, notes(tenant, count),
            run_id=f"notes-{tenant}", content_sha256=tenant,
        )  # fmt: skip
        assert published.status == "published"
    for vendor in ("PW", "RP"):
        marks = pa.table({"vendor": [vendor] * 2, "day": [DAY] * 2, "hub": ["a", "b"],
                          "mark": [1.0, 2.0]})  # fmt: skip
        publish(lake, MARKS, {"vendor": vendor, "day": DAY}, marks, run_id=vendor,
                content_sha256=vendor)  # fmt: skip
    tokens = {}
    with Store.connect(settings) as store:
        for tenant, vendors in (("acme", ["PW"]), ("bolt", ["RP"])):
            tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), vendors)
            issued = tenancy.issue_key(
                store, PLATFORM, tenant_id=tenant, role="aurum-analyst", name="analyst"
            )
            tokens[tenant] = issued.token
    with TestClient(create_app(settings, datasets=[NOTES, MARKS])) as client:
        yield client, tokens


def get(api: Any, who: str, path: str, **headers: str) -> Any:
    client, tokens = api
    return client.get(path, headers={"Authorization": f"Bearer {tokens[who]}", **headers})


def test_contracts_list_every_dataset_with_its_columns(api):
    listed = get(api, "acme", "/v1/datasets").json()["data"]
    by_name = {d["name"]: d for d in listed}
    assert {"curve_observation", "qa_checks", "desk_note"} <= set(by_name)
    note = by_name["desk_note"]
    assert note["tenant_owned"] and note["rows_served"]
    assert note["tag_scheme"] == "note/{tenant_id}/{day}/v{n}"
    assert {"name": "size", "type": "double", "doc": "Position size.", "unit": "MW",
            "required": False} in note["columns"]  # fmt: skip
    assert by_name["qa_checks"]["rows_served"] is False
    one = get(api, "acme", "/v1/datasets/desk_note").json()["data"]
    assert one == [note]
    missing = get(api, "acme", "/v1/datasets/nope")
    assert (missing.status_code, missing.json()["code"]) == (404, "dataset_unknown")


def test_a_tenant_reads_its_own_rows_of_a_tenant_owned_dataset(api):
    acme = get(api, "acme", "/v1/datasets/desk_note/rows").json()
    bolt = get(api, "bolt", "/v1/datasets/desk_note/rows").json()
    assert [r["curve_key"] for r in acme["data"]] == [f"acme-{i:03d}" for i in range(5)]
    assert {r["tenant_id"] for r in bolt["data"]} == {"bolt"} and len(bolt["data"]) == 3
    assert acme["meta"]["dataset"] == "desk_note"


def test_another_tenant_never_sees_them_through_the_cache(api):
    """The same URL, asked by acme then bolt, cached in between: bolt gets its own rows, and
    acme's ETag is no good to bolt."""
    path = "/v1/datasets/desk_note/rows?limit=100&fields=tenant_id,note"
    first = get(api, "acme", path)
    again = get(api, "acme", path)
    assert again.headers["X-Aurum-Cache"] == "hit" and again.content == first.content
    other = get(api, "bolt", path, **{"If-None-Match": first.headers["ETag"]})
    assert other.status_code == 200 and other.headers["X-Aurum-Cache"] == "miss"
    assert {r["tenant_id"] for r in other.json()["data"]} == {"bolt"}
    assert "acme" not in other.text
    assert other.headers["ETag"] != first.headers["ETag"]


def test_pages_csv_and_tags(api):
    page = get(api, "acme", "/v1/datasets/desk_note/rows?limit=2").json()
    assert page["meta"]["has_more"] and len(page["data"]) == 2
    rest = get(
        api, "acme", f"/v1/datasets/desk_note/rows?limit=2&cursor={page['meta']['next_cursor']}"
    )
    assert [r["curve_key"] for r in rest.json()["data"]] == ["acme-002", "acme-003"]
    stolen = get(
        api, "bolt", f"/v1/datasets/desk_note/rows?limit=2&cursor={page['meta']['next_cursor']}"
    )
    assert {r["tenant_id"] for r in stolen.json()["data"]} <= {"bolt"}  # a cursor is no key
    text = get(api, "bolt", "/v1/datasets/desk_note/rows?format=csv").text
    assert [row["curve_key"] for row in csv.DictReader(io.StringIO(text))] == [
        "bolt-000", "bolt-001", "bolt-002",
    ]  # fmt: skip
    tagged = get(api, "acme", "/v1/datasets/desk_note/rows?as_at=note/acme/2025-10-01/v1")
    assert len(tagged.json()["data"]) == 5


def test_rows_with_a_vendor_follow_the_entitlement(api):
    acme = get(api, "acme", "/v1/datasets/vendor_mark/rows").json()["data"]
    bolt = get(api, "bolt", "/v1/datasets/vendor_mark/rows").json()["data"]
    assert {r["vendor"] for r in acme} == {"PW"} and {r["vendor"] for r in bolt} == {"RP"}
    assert [r["hub"] for r in acme] == ["a", "b"]


def test_bad_requests_say_what_is_wrong(api):
    logs = get(api, "acme", "/v1/datasets/qa_checks/rows")
    assert (logs.status_code, logs.json()["code"]) == (403, "dataset_not_served")
    assert "/v1/ingest" in logs.json()["detail"]
    curves = get(api, "acme", "/v1/datasets/curve_observation/rows")
    assert curves.status_code == 403 and "/v1/curves" in curves.json()["detail"]
    unknown = get(api, "acme", "/v1/datasets/desk_note/rows?fields=tenant_id,secret")
    assert (unknown.status_code, unknown.json()["code"]) == (400, "fields_unknown")
    twice = get(api, "acme", "/v1/datasets/desk_note/rows?fields=note,note")
    assert (twice.status_code, twice.json()["code"]) == (400, "parameter_invalid")
    branch = get(api, "acme", "/v1/datasets/desk_note/rows?as_at=12345")
    assert (branch.status_code, branch.json()["code"]) == (404, "snapshot_unknown")


def test_the_scan_keeps_other_tenants_rows_out_and_counts_against_the_time_limit(api):
    from aurum.auth.access import Access
    from aurum.errors import QueryTimeout
    from aurum.query.datasets import Datasets

    client, _ = api
    lake = client.app.state.services.lake
    acme = Access("acme", vendors=frozenset({"PW"}))
    datasets = Datasets(lake)
    snapshot = datasets.pin("desk_note")
    table = lake.current("desk_note")
    scope = acme.row_scope(tenant_owned=True, vendor_column=False)
    scanned = Datasets._scan(table, NOTES, snapshot, scope)
    assert set(scanned["tenant_id"].to_pylist()) == {"acme"}  # filtered in the scan itself
    with pytest.raises(QueryTimeout):
        Datasets(lake, timeout_s=1e-9).rows("desk_note", acme, snapshot_id=snapshot)
