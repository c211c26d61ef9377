"""Recovery of runs a crash left open: a day that was published is never recorded as failed.

A real process ingests a workbook and dies (``os._exit``, no clean-up) right before the catalog
commit of its publish, or right after it and before the store records it, or between the run's
row and its audit entry. Once the dead run's lease expires, recovery asks the catalog (the run id
is in the snapshot summary): after the commit the run is ``published`` with its tag, before it the
run is ``failed`` and its branch dropped. A run whose lease is fresh is never taken over. On
SQLite and on PostgreSQL (the catalog and the store both), by the CLI's recovery and by the
server's.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.auth.access import PLATFORM
from aurum.config import LakeSettings, Settings, StoreSettings
from aurum.ingest.days import day_versions
from aurum.ingest.history import ingest_run, ingest_runs
from aurum.ingest.runner import ingest_file
from aurum.lake import Lake
from aurum.runs import Recovered, Runs
from aurum.store import Store
from aurum.store.runs import RunRecord
from aurum.synthetic import workbook_name, write_workbook

DAY = date(2025, 9, 17)
SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture(params=["sqlite", "postgresql", "postgresql+s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """A home whose catalog and store are SQLite files, or both on the local PostgreSQL, or
    both on PostgreSQL with the warehouse on a real S3 server."""
    home = tmp_path / "home"
    if request.param == "sqlite":
        yield Settings(home=home)
        return
    database = request.getfixturevalue("postgres_database")
    name = f"t_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(database, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    s3: dict[str, object] = {}
    if request.param == "postgresql+s3":
        server = request.getfixturevalue("s3_server")
        access, secret = server["keys"]
        s3 = {"warehouse": f"s3://aurum/{name}", "s3_endpoint": server["endpoint"],
              "s3_access_key_id": access, "s3_secret_access_key": secret}  # fmt: skip
    yield Settings(
        home=home,
        lake=LakeSettings(catalog_url=database, namespace=name, **s3),
        store=StoreSettings(url=f"{database}?options=-csearch_path%3D{name}"),
    )
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
    engine.dispose()


def _ingest_and_die(settings: Settings, path: str, die_at: str) -> None:
    """In a child process: ingest ``path`` and die abruptly at the publish stage ``die_at``."""

    def pause(stage: str) -> None:
        if stage == die_at:
            os._exit(137)

    with Store.connect(settings) as store:
        ingest_file(path, lake=Lake(settings), store=store, settings=settings, pause=pause)
    os._exit(0)


def killed_run(settings: Settings, path: Path, die_at: str) -> str:
    process = SPAWN.Process(target=_ingest_and_die, args=(settings, str(path), die_at))
    process.start()
    process.join(120)
    assert process.exitcode == 137, "the child should have died at " + die_at
    with Store.connect(settings) as store:
        (run,) = ingest_runs(store, PLATFORM)
    assert run.status == "staged"  # as a crash leaves it, whichever side of the commit
    return run.run_id


def expire_leases(settings: Settings) -> None:
    """Time passes: the dead process's lease is over (it renews it no more)."""
    with Store.connect(settings) as store, store.engine.begin() as connection:
        connection.execute(
            sa.update(RunRecord).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "in" / workbook_name("PW", DAY), vendor="PW", asof=DAY)


def test_killed_after_the_catalog_commit_is_recorded_published(settings, workbook):
    run_id = killed_run(settings, workbook, "published")
    lake = Lake(settings)
    table = lake.table("curve_observation")
    assert list(day_versions(table, "PW", DAY)) == [1]  # the day is in, whole
    with Store.connect(settings) as store:
        assert Runs(store).recover(lake) == []  # its lease is fresh: it may still be at work
        expire_leases(settings)
        recovered = Runs(store).recover(lake)
        assert recovered == [Recovered(run_id, "published", "eod/PW/2025-09-17/v1")]
        assert Runs(store).recover(lake) == []  # settled once
        run = ingest_run(store, PLATFORM, run_id)
        assert (run.status, run.version, run.tag, run.error_code) == (
            "published", 1, "eod/PW/2025-09-17/v1", None
        )  # fmt: skip
        assert run.snapshot_id == table.metadata.refs["main"].snapshot_id
        assert run.rows == 344 and run.finished_at is not None
        with store.transaction(PLATFORM, write=False) as tx:
            (entry,) = tx.audit_log(action="run.recovered")
        assert (entry.target, entry.details["status"], entry.actor) == (
            run_id, "published", "aurum:recovery",
        )  # fmt: skip
        # the same file again: already published, nothing changes
        again = ingest_file(workbook, lake=lake, store=store, settings=settings)
        assert (again.status, again.publication.version) == ("duplicate", 1)


def test_killed_before_the_catalog_commit_is_failed_and_its_branch_dropped(settings, workbook):
    run_id = killed_run(settings, workbook, "audited")
    lake = Lake(settings)
    table = lake.table("curve_observation")
    assert day_versions(table, "PW", DAY) == {}
    assert f"eod_pw_20250917_{run_id}" in table.metadata.refs
    expire_leases(settings)
    with Store.connect(settings) as store:
        assert Runs(store).recover(lake) == [Recovered(run_id, "failed")]
        run = ingest_run(store, PLATFORM, run_id)
        assert (run.status, run.error_code) == ("failed", "abandoned")
        table.refresh()
        assert not [name for name in table.metadata.refs if name.startswith("eod_")]
        retry = ingest_file(workbook, lake=lake, store=store, settings=settings)
        assert (retry.status, retry.publication.version) == ("published", 1)


def test_the_server_recovers_runs_and_sweeps_uploads_at_start(settings, workbook):
    run_id = killed_run(settings, workbook, "published")
    stale = settings.home / "uploads" / "0123abcd"  # the folder of an upload that died
    stale.mkdir(parents=True)
    (stale / "EOD_PW_20250917_1430.xlsx").write_bytes(b"half an upload")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    fresh = settings.home / "uploads" / "fedc3210"  # an upload in flight: kept
    fresh.mkdir()

    def status() -> str:
        with Store.connect(settings) as store:
            return ingest_run(store, PLATFORM, run_id).status

    with TestClient(create_app(settings)):
        wait_for(lambda: not stale.exists())
        assert fresh.exists()
        # the run's lease is still running: a live one, for all this server knows
        assert status() == "staged"
    expire_leases(settings)
    with TestClient(create_app(settings)):
        wait_for(lambda: status() != "staged")
    with Store.connect(settings) as store:
        run = ingest_run(store, PLATFORM, run_id)
    assert (run.status, run.tag) == ("published", "eod/PW/2025-09-17/v1")


def _finish_and_die(settings: Settings, path: str) -> None:
    def pause(stage: str) -> None:
        if stage == "run_recorded":  # the run's row is written, its audit entry not yet
            os._exit(137)

    with Store.connect(settings) as store:
        ingest_file(path, lake=Lake(settings), store=store, settings=settings, pause=pause)
    os._exit(0)


def test_a_runs_end_and_its_audit_entry_commit_together(settings, workbook):
    process = SPAWN.Process(target=_finish_and_die, args=(settings, str(workbook)))
    process.start()
    process.join(120)
    assert process.exitcode == 137
    with Store.connect(settings) as store:
        (run,) = ingest_runs(store, PLATFORM)
        with store.transaction(PLATFORM, write=False) as tx:
            entries = tx.audit_log(action="ingest")
    # killed inside the one transaction: neither the run's end nor its audit entry
    assert run.status == "staged" and run.finished_at is None and entries == []
    expire_leases(settings)  # the catalog has the day: recovery records both
    with Store.connect(settings) as store:
        assert Runs(store).recover(Lake(settings)) == [
            Recovered(run.run_id, "published", "eod/PW/2025-09-17/v1")
        ]
        with store.transaction(PLATFORM, write=False) as tx:
            assert [e.target for e in tx.audit_log(action="run.recovered")] == [run.run_id]


def wait_for(condition: Callable[[], bool], timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
