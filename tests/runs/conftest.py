"""A run lifecycle on each store backend (SQLite and PostgreSQL), with two tenants, and a lake."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from aurum.auth.access import PLATFORM, Access
from aurum.config import Settings
from aurum.lake.catalog import Lake
from aurum.runs import Runs
from aurum.store import Run, RunKind, Store

ACME = Access("acme", actor="user:a@acme")


@pytest.fixture
def acme() -> Access:
    return ACME


@pytest.fixture
def runs(store: Store) -> Runs:
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
        tx.create_tenant("beta", "Beta")
    return Runs(store, lease=timedelta(seconds=30), max_attempts=3,
                backoff=timedelta(seconds=10))  # fmt: skip


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(Settings(home=tmp_path / "home"))


@pytest.fixture
def enqueue(runs: Runs) -> Callable[..., Run]:
    """Queue a run of Acme's: ``enqueue(subject="s1", kind="scenario_run")``."""

    def queued(subject: str = "s1", kind: RunKind = "scenario_run") -> Run:
        return runs.enqueue(ACME, kind, subject=subject, params={"n": 1})

    return queued


@pytest.fixture
def current(runs: Runs) -> Callable[[str], Run]:
    """A run as recorded now, read in a transaction of its own."""

    def read(run_id: str) -> Run:
        with runs.store.transaction(PLATFORM, write=False) as tx:
            return tx.get_run(run_id)

    return read
