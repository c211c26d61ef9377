"""``aurum doctor`` against real dependencies: a fresh embedded home is healthy; PostgreSQL,
Redis and a real S3 server (rclone) configured are checked for real; what fails is named with
its setting and the dependency's own error, passwords hidden; the cluster profile fills in the
deployment's service names under what is set explicitly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aurum.config import Settings

AURUM = Path(sys.executable).parent / "aurum"


def _doctor(env: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AURUM_")}
    done = subprocess.run([str(AURUM), "doctor", "--json"], env={**clean, **env},
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.returncode, json.loads(done.stdout)


def test_a_fresh_embedded_home_is_healthy(tmp_path: Path):
    code, checks = _doctor({"AURUM_HOME": str(tmp_path / "home")})
    assert code == 0, checks
    assert [(c["name"], c["ok"]) for c in checks] == [
        ("home", True), ("store", True), ("catalog", True), ("warehouse", True)]  # fmt: skip


def test_postgresql_and_redis_are_checked_for_real(tmp_path, postgres_database, redis_url):
    code, checks = _doctor({
        "AURUM_HOME": str(tmp_path / "home"), "AURUM_STORE__URL": postgres_database,
        "AURUM_LAKE__CATALOG_URL": postgres_database, "AURUM_CACHE__URL": redis_url,
    })  # fmt: skip
    assert code == 0, checks
    by = {c["name"]: c for c in checks}
    assert by["cache"]["detail"].startswith("PING answered (server ")
    assert by["store"]["detail"].startswith("answers;")


def test_what_fails_is_named_with_its_setting_and_no_password(tmp_path: Path):
    code, checks = _doctor({
        "AURUM_HOME": str(tmp_path / "home"),
        "AURUM_STORE__URL": "postgresql+psycopg://aurum:s3cretpw@127.0.0.1:5432/no_such_db",
        "AURUM_CACHE__URL": "redis://127.0.0.1:1/0",
        "AURUM_EVENTS__KAFKA_BOOTSTRAP": "127.0.0.1:1",
    })  # fmt: skip
    assert code == 2
    failed = {c["name"]: c for c in checks if not c["ok"]}
    assert set(failed) == {"store", "cache", "kafka"}
    assert failed["store"]["setting"] == "AURUM_STORE__URL"
    assert "role \"aurum\" does not exist" in failed["store"]["detail"]  # the server's words
    assert "Connection refused" in failed["cache"]["detail"]
    assert "s3cretpw" not in json.dumps(checks)
    assert failed["store"]["target"] == "postgresql+psycopg://aurum:***@127.0.0.1:5432/no_such_db"


def test_the_cluster_profile_names_the_deployment_s_services(monkeypatch):
    for name in list(os.environ):
        if name.startswith("AURUM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AURUM_PROFILE", "cluster")
    monkeypatch.setenv("AURUM_CACHE__URL", "redis://cache.internal:6379/2")
    settings = Settings()
    assert settings.store.url == settings.catalog_url == (
        "postgresql+psycopg://aurum@postgres:5432/aurum")  # fmt: skip
    assert (settings.warehouse, settings.lake.s3_endpoint) == ("s3://aurum/warehouse",
                                                               "http://s3:9000")  # fmt: skip
    assert settings.cache.url == "redis://cache.internal:6379/2"  # explicit wins
    assert settings.events.kafka_bootstrap == "kafka:9092"
    monkeypatch.setenv("AURUM_PROFILE", "embedded")
    assert Settings().store.url is None
