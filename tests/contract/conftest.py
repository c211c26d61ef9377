"""One installation per profile, for the contract suite: every test in ``tests/contract`` runs once
on each, with the same body.

* ``embedded``: everything in ``AURUM_HOME`` — SQLite catalog and store, a local warehouse, the
  in-process cache and rate limits.
* ``cluster``: ``AURUM_PROFILE=cluster`` with its services pointed at this machine — the Iceberg
  catalog on PostgreSQL (a namespace of the session's database), the store on PostgreSQL as a
  role that owns nothing, so row-level security binds it (a fresh schema per module:
  ``postgres_app_store``), the warehouse on a real S3 server (``s3_server``: ``rclone serve
  s3``), the cache and the rate limits on Redis, each on its own database index. The relay's
  bootstrap is emptied (the cluster profile would otherwise name ``kafka:9092``): the embedded
  profile has no event bus to hold the same contract, so the suite stops at the outbox, which
  both profiles share; the relay from the outbox to Kafka is tested against a real
  Kafka-protocol broker (tansu) in ``tests/events/test_relay.py``.

An installation is described as an operator describes one, by ``AURUM_*`` variables: the CLI
runs with exactly those (``Installation.cli``) and ``profile_settings`` is read from the same
lines (``Settings.from_env_file``), so the API and the CLI see one installation. Both profiles
share the rest: authentication on (API keys), generous rate limits, and a lake snapshot looked up
on every request (``AURUM_API__FRESHNESS_S=0``), so an ingest through the CLI is seen by the next
request without waiting.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from aurum.api.app import create_app
from aurum.cli.main import app
from aurum.config import Settings

PROFILES = ("embedded", "cluster")
# Redis database indexes of the cluster leg's cache and rate limits: apart from the other tests'
# (index 0) and apart from each other, so each URL is seen to be the one used. No test flushes
# them (another checkout's run may share this Redis); entries expire (AURUM_CACHE__TTL_S).
REDIS_CACHE_DB, REDIS_LIMITS_DB = 11, 12
COMMON = {
    "AURUM_AUTH__MODE": "on",
    "AURUM_AUTH__CACHE_S": "0",
    "AURUM_RATE_LIMIT__PER_S": "1000",
    "AURUM_RATE_LIMIT__BURST": "1000",
    "AURUM_API__FRESHNESS_S": "0",
    "AURUM_CACHE__TTL_S": "600",
    "AURUM_EVENTS__WEBHOOK_POLL_S": "0",
    "AURUM_ALERTS__CHECK_INTERVAL_S": "3600",
    "AURUM_TELEMETRY__ACCESS_LOG": "false",
}
runner = CliRunner()


@dataclass
class Installation:
    """One Aurum installation of a profile: its ``AURUM_*`` variables, its settings, what
    ``aurum doctor`` should check (check name -> the scheme of its target) and the folder of
    this machine where the warehouse's objects land (for the cluster: the S3 server's)."""

    profile: str
    env: dict[str, str]
    settings: Settings
    dependencies: dict[str, str]
    warehouse_root: Path
    tokens: dict[str, str] = field(default_factory=dict)  # "tenant/role" -> API key

    def cli(self, *args: str) -> Result:
        """``aurum *args`` with this installation's variables and no others."""
        unset = {name: None for name in os.environ if name.startswith("AURUM_")}
        return runner.invoke(app, list(args), env={**unset, **self.env})

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _settings(env: dict[str, str], folder: Path) -> Settings:
    """The settings these variables describe, and nothing else (not the environment)."""
    path = folder / "aurum.env"
    path.write_text("".join(f"{name}={value}\n" for name, value in env.items()), encoding="utf-8")
    return Settings.from_env_file(path)


@pytest.fixture(scope="module", params=PROFILES)
def installation(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installation]:
    """A fresh, empty installation of each profile, one per test module."""
    folder = tmp_path_factory.mktemp(f"contract-{request.param}")
    env = {"AURUM_HOME": str(folder / "home"), **COMMON}
    if request.param == "embedded":
        dependencies = {"home": "/", "store": "sqlite", "catalog": "sqlite", "warehouse": "file"}
        yield Installation(
            "embedded", env, _settings(env, folder), dependencies, folder / "home" / "warehouse"
        )
        return
    s3: dict[str, Any] = request.getfixturevalue("s3_server")
    catalog: str = request.getfixturevalue("postgres_database")
    store: dict[str, str] = request.getfixturevalue("postgres_app_store")
    redis: str = request.getfixturevalue("redis_url")
    name = uuid.uuid4().hex[:10]
    server = redis.rsplit("/", 1)[0]
    env |= {
        "AURUM_PROFILE": "cluster",
        "AURUM_LAKE__CATALOG_URL": catalog,
        "AURUM_LAKE__NAMESPACE": f"contract_{name}",
        "AURUM_LAKE__WAREHOUSE": f"s3://aurum/contract-{name}",
        "AURUM_LAKE__S3_ENDPOINT": s3["endpoint"],
        "AURUM_LAKE__S3_ACCESS_KEY_ID": s3["keys"][0],
        "AURUM_LAKE__S3_SECRET_ACCESS_KEY": s3["keys"][1],
        "AURUM_STORE__URL": store["url"],
        "AURUM_STORE__OWNER_URL": store["owner_url"],
        "AURUM_CACHE__URL": f"{server}/{REDIS_CACHE_DB}",
        "AURUM_RATE_LIMIT__URL": f"{server}/{REDIS_LIMITS_DB}",
        "AURUM_EVENTS__KAFKA_BOOTSTRAP": "",
    }
    dependencies = {
        "home": "/", "store": "postgresql+psycopg", "catalog": "postgresql+psycopg",
        "warehouse": "s3", "cache": "redis", "rate_limit": "redis",
    }  # fmt: skip
    objects = s3["root"] / "aurum" / f"contract-{name}"
    yield Installation("cluster", env, _settings(env, folder), dependencies, objects)
    # the namespace's tables go with the session's database; the warehouse's files go now
    shutil.rmtree(objects, ignore_errors=True)


@pytest.fixture(scope="module")
def profile_settings(installation: Installation) -> Settings:
    """The settings of this module's installation of each profile."""
    return installation.settings


@pytest.fixture(scope="module")
def tenants(installation: Installation) -> Installation:
    """Tenants acme and bolt, both entitled to EUGP, made with the CLI; API keys for acme's
    analyst and ops and for bolt's analyst (``installation.tokens``)."""
    for tenant in ("acme", "bolt"):
        made = installation.cli("tenants", "create", tenant, "--vendor", "EUGP")
        assert made.exit_code == 0, made.output
        assert made.stdout.strip() == f"tenant {tenant} entitled to EUGP"
    for who in ("acme/aurum-analyst", "acme/aurum-ops", "bolt/aurum-analyst"):
        tenant, role = who.split("/")
        issued = installation.cli("keys", "create", "--tenant", tenant, "--role", role)
        assert issued.exit_code == 0, issued.output
        installation.tokens[who] = issued.stdout.strip()
        assert installation.tokens[who].startswith("aurum_")
    return installation


@pytest.fixture(scope="module")
def client(tenants: Installation, profile_settings: Settings) -> Iterator[TestClient]:
    """The API of this module's installation, its tenants made."""
    with TestClient(create_app(profile_settings)) as opened:
        yield opened
