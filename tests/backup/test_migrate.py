"""``aurum migrate``: an embedded installation (SQLite catalog and store, local warehouse) moved
onto the cluster profile — the catalog on PostgreSQL, the store on PostgreSQL under an app role
bound by row-level security, the warehouse on a real S3 server, Redis — with every version and
tag, every tenant's rows and keys; then the API answers on the target as it did on the source."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aurum import tenancy
from aurum.api.app import create_app
from aurum.auth.access import PLATFORM
from aurum.backup import backup, restore
from aurum.cli.main import app
from aurum.config import Settings
from aurum.ingest.runner import backfill
from aurum.lake import Lake
from aurum.store import Store
from aurum.store.dump import dump_store
from aurum.store.engine import create_engine

DAYS = ("EOD_EUGP_20250912_1430.xlsx", "EOD_EUGP_20250917_1430.xlsx", "EOD_RP_20250917_1430.xlsx")


def _tagged(lake: Lake) -> dict[str, pa.Table]:
    table = lake.table("curve_observation")
    return {
        name: table.scan(snapshot_id=ref.snapshot_id)
        .to_arrow()
        .sort_by(
            [("curve_key", "ascending"), ("tenor_label", "ascending"), ("price_type", "ascending")]
        )
        for name, ref in table.metadata.refs.items()
        if name == "main" or ref.snapshot_ref_type.value == "tag"
    }


def _counts(url: str, folder: Path) -> dict[str, int]:
    """Every store table's row count, read as a dump reads them."""
    engine = create_engine(url)
    try:
        return dict(dump_store(engine, folder).rows)
    finally:
        engine.dispose()


def test_an_embedded_installation_moves_onto_the_cluster_with_everything(
    tmp_path: Path,
    workbooks_dir: Path,
    s3_server: dict[str, Any],
    postgres_database: str,
    postgres_app_store: dict[str, str],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = Settings(home=tmp_path / "embedded")
    with Store.connect(source) as store:
        backfill([workbooks_dir / d for d in DAYS], lake=Lake(source), store=store, settings=source)
        tenancy.create_tenant(store, PLATFORM, "acme", "Acme", ["EUGP"])
        token = tenancy.issue_key(
            store, PLATFORM, tenant_id="acme", role="aurum-analyst", name="analyst"
        ).token
        tenancy.create_tenant(store, PLATFORM, "bolt", "Bolt", ["PW"])
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(source)) as client:
        made = client.post(
            "/v1/scenarios", headers=headers,
            json={"name": "gas up", "spec": {"base": {"vendors": ["EUGP"]}}},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        scenario = made.json()["data"][0]["id"]
        curves = client.get("/v1/curves", headers=headers, params={"asof": "2025-09-17"})
        assert curves.status_code == 200 and curves.json()["data"]

    name = uuid.uuid4().hex[:10]
    access, secret = s3_server["keys"]
    target_file = tmp_path / "cluster.env"
    target_file.write_text(
        "AURUM_PROFILE=cluster\n"
        f"AURUM_HOME={tmp_path / 'cluster-home'}\n"
        f"AURUM_LAKE__CATALOG_URL={postgres_database}\n"
        f"AURUM_LAKE__NAMESPACE=m_{name}\n"
        f"AURUM_LAKE__WAREHOUSE=s3://aurum/mig-{name}\n"
        f"AURUM_LAKE__S3_ENDPOINT={s3_server['endpoint']}\n"
        f"AURUM_LAKE__S3_ACCESS_KEY_ID={access}\n"
        f"AURUM_LAKE__S3_SECRET_ACCESS_KEY={secret}\n"
        f"AURUM_STORE__URL={postgres_app_store['url']}\n"
        f"AURUM_STORE__OWNER_URL={postgres_app_store['owner_url']}\n"
        f"AURUM_CACHE__URL={redis_url}\n"
        f"AURUM_RATE_LIMIT__URL={redis_url}\n"
    )
    monkeypatch.setenv("AURUM_HOME", str(source.home))
    moved = CliRunner().invoke(
        app, ["migrate", "--to", str(target_file), "--work", str(tmp_path / "repo")]
    )
    assert moved.exit_code == 0, moved.output
    assert f"rewritten for s3://aurum/mig-{name}" in moved.output
    target = Settings.from_env_file(target_file)
    assert target.profile == "cluster" and target.store_url == postgres_app_store["url"]

    # every version and tag, with the same snapshot ids and the same rows, now read off S3
    before, after = _tagged(Lake(source)), _tagged(Lake(target))
    assert set(after) == set(before) and len(after) == 4  # main + three days' v1
    for tag, rows in before.items():
        assert after[tag].equals(rows), tag
    on_s3 = s3_server["root"] / "aurum" / f"mig-{name}"
    assert len(list(on_s3.rglob("*.parquet"))) >= 3
    assert len(list((on_s3 / "raw").rglob("*.xlsx"))) == len(DAYS)
    assert not (tmp_path / "cluster-home" / "warehouse").exists()

    # the store, every tenant's rows included (read back through row-level security)
    counts = _counts(postgres_app_store["owner_url"], tmp_path / "check")
    assert counts == _counts(source.store_url, tmp_path / "source-check")
    assert counts["tenant"] >= 2 and counts["api_key"] == 1 and counts["scenario"] == 1

    # the API on the target: the same key, the same tenant's scenario, the same curves
    with TestClient(create_app(target)) as client:
        assert client.get(f"/v1/scenarios/{scenario}", headers=headers).status_code == 200
        again = client.get("/v1/curves", headers=headers, params={"asof": "2025-09-17"})
        assert again.status_code == 200 and again.json()["data"] == curves.json()["data"]
    # and the target takes new work: a re-delivery is a duplicate of what it already has
    with Store.connect(target) as store:
        (report,) = backfill(
            [workbooks_dir / DAYS[0]], lake=Lake(target), store=store, settings=target
        )
    assert report.status == "duplicate"
    # the source was left as it was: migrating again into the now-full target is refused
    refused = CliRunner().invoke(app, ["migrate", "--to", str(target_file)])
    assert refused.exit_code == 2 and "catalog_not_empty" in refused.output

    # and back: a backup of the cluster (its store read as the app role, through row-level
    # security) restored into a fresh embedded home has the same tags, rows and store rows
    now = _counts(postgres_app_store["owner_url"], tmp_path / "check-now")  # with the duplicate
    home = Settings(home=tmp_path / "back-home")
    made_back = backup(target, tmp_path / "repo-back")
    assert made_back.manifest.store_rows == now and now["run"] == counts["run"] + 1
    report = restore(home, tmp_path / "repo-back")
    assert report.relocated and report.store_rows == sum(now.values())
    back = _tagged(Lake(home))
    assert set(back) == set(before)
    for tag, rows in before.items():
        assert back[tag].equals(rows), tag


def test_a_target_settings_file_is_read_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the file leaves out is the default, never this process's environment or ./.env
    (those describe the source)."""
    monkeypatch.setenv("AURUM_HOME", str(tmp_path / "source"))
    monkeypatch.setenv("AURUM_LAKE__NAMESPACE", "source_ns")
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("AURUM_STORE__URL=sqlite:////elsewhere/store.db\n")
    target = tmp_path / "target.env"
    target.write_text(f"AURUM_PROFILE=cluster\nAURUM_HOME={tmp_path / 'target'}\n")
    settings = Settings.from_env_file(target)
    assert settings.home == tmp_path / "target" and settings.lake.namespace == "market"
    assert settings.store_url.startswith("postgresql+psycopg://")  # the profile's, not .env's
    assert Settings().lake.namespace == "source_ns"  # the process's own settings unchanged
    missing = CliRunner().invoke(app, ["migrate", "--to", str(tmp_path / "nope.env")])
    assert missing.exit_code == 2 and "settings_file_missing" in missing.output
