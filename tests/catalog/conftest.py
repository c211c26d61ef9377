"""A lake for the catalog: synthetic RP workbooks for two days and EUGP for one, ingested;
scenario runs of two tenants published to ``scenario_output`` (acme's corrected once); the app
with tenants acme (entitled to EUGP and RP) and bolt (RP only), each with an analyst key, and an
ops key of bolt's.

The app's catalog counts freshness to a fixed ``TODAY``, so the ages the tests assert hold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM
from aurum.catalog import Catalog
from aurum.config import Settings
from aurum.datasets.scenarios import SCENARIO_OUTPUT
from aurum.lake import Lake, publish
from aurum.store import Store

FIRST = date(2025, 9, 15)  # a Monday: RP on the 15th and 16th, EUGP on the 15th
TODAY = date(2025, 10, 1)  # the day the app's catalog counts freshness to


def scenario_rows(tenant: str, run_id: str, count: int) -> pa.Table:
    """``count`` rows of one scenario run (the required columns, and a value)."""
    run = {
        "tenant_id": tenant, "run_id": run_id, "scenario_id": f"{tenant}-scenario",
        "scenario_version": 1, "asof_date": FIRST, "vendor": "RP", "base_tag": f"eod/RP/{FIRST}/v1",
        "tenor_type": "MONTHLY", "tenor_label": "2026-01", "code_version": "test",
    }  # fmt: skip
    return pa.Table.from_pylist(
        [{**run, "curve_key": f"{tenant}-{i:03d}", "value": 50.0 + i} for i in range(count)],
        SCENARIO_OUTPUT.schema,
    )


@dataclass(frozen=True)
class CatalogLake:
    settings: Settings
    client: TestClient
    tokens: dict[str, str]  # acme, bolt (analysts) and bolt-ops
    scenario_tags: dict[str, list[str]]  # each tenant's scenario_output tags, in order

    def get(self, who: str, path: str) -> Any:
        return self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def entry(self, who: str, name: str) -> dict[str, Any]:
        answer = self.get(who, f"/v1/catalog/datasets/{name}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["data"][0]
        return found


@pytest.fixture(scope="session")
def catalog_lake(build_lake, synthetic_days) -> Iterator[CatalogLake]:
    settings: Settings = build_lake(
        "catalog", [*synthetic_days("RP", FIRST, 2), *synthetic_days("EUGP", FIRST, 1)],
        auth={"mode": "on", "cache_s": 0}, rate_limit={"per_s": 1000, "burst": 1000},
    )  # fmt: skip
    lake = Lake(settings)
    tags: dict[str, list[str]] = {"acme": [], "bolt": []}
    for tenant, run_id, count in (("acme", "run-acme", 4), ("acme", "run-acme", 5),
                                  ("bolt", "run-bolt", 3)):  # fmt: skip
        done = publish(
            lake, SCENARIO_OUTPUT, {"run_id": run_id}, scenario_rows(tenant, run_id, count),
            run_id=f"{run_id}-{count}", content_sha256=f"{run_id}-{count}",
        )  # fmt: skip
        assert done.status == "published" and done.tag is not None
        tags[tenant].append(done.tag)
    tokens = {}
    with Store.connect(settings) as store:
        for tenant, vendors in (("acme", ["EUGP", "RP"]), ("bolt", ["RP"])):
            tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), vendors)
            tokens[tenant] = tenancy.issue_key(
                store, PLATFORM, tenant_id=tenant, role="aurum-analyst", name="analyst"
            ).token
        tokens["bolt-ops"] = tenancy.issue_key(
            store, PLATFORM, tenant_id="bolt", role="aurum-ops", name="ops"
        ).token
    app = create_app(settings)
    app.state.services.catalog = Catalog(app.state.services.lake, today=lambda: TODAY)
    with TestClient(app) as client:
        yield CatalogLake(settings, client, tokens, tags)
