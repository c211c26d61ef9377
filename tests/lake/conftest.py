"""The lake fixture, once per catalog backend: SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aurum.config import LakeSettings, Settings
from aurum.lake import Lake

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL for this session, dropped afterwards."""
    admin = sa.create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    name = f"aurum_lake_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL at {POSTGRES} is not reachable: {exc.orig}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI=true: the PostgreSQL tests must run)")
        pytest.skip(message)
    yield f"{POSTGRES}/{name}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


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
