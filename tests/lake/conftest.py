"""The lake fixture, once per catalog backend: SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from aurum.config import LakeSettings, Settings
from aurum.lake import Lake


@pytest.fixture(params=["sqlite", "postgresql"])
def lake_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    if request.param == "sqlite":
        return Settings(home=home)
    database = request.getfixturevalue("postgres_database")
    # One catalog database per session; a namespace per test keeps tests apart.
    namespace = f"t_{uuid.uuid4().hex[:10]}"
    return Settings(home=home, lake=LakeSettings(catalog_url=database, namespace=namespace))


@pytest.fixture
def lake(lake_settings: Settings) -> Lake:
    return Lake(lake_settings)
