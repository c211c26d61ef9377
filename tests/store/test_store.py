"""The operational store's contract: every test runs on SQLite and on PostgreSQL (``store``)."""

from __future__ import annotations

import json
import multiprocessing
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import aurum.store
from aurum.errors import ConfigError, NotFound, NotInstalledError, StoreError, Unavailable
from aurum.store import RUN_STATUSES, IngestRun, Store
from aurum.store import engine as store_engine
from aurum.store.base import Base
from aurum.store.engine import create_engine, current_revision, head_revision
from aurum.store.ingest_log import IngestRunRecord

DAY1, DAY2 = date(2025, 9, 16), date(2025, 9, 17)
T0 = datetime(2025, 9, 16, 14, 30, tzinfo=UTC)
RUNS_PER_PROCESS = 50


def start(store: Store, file: str = "PW_20250916.xlsx", **values: Any) -> IngestRun:
    arguments: dict[str, Any] = {"sha256": None, "vendor": "PW", "asof": DAY1, **values}
    return store.start_run(file=file, **arguments)


def backdate(store: Store, run_id: str, started_at: datetime) -> None:
    """Move a run's start into the past (the API never changes ``started_at``)."""
    with store.engine.begin() as connection:
        connection.execute(
            sa.update(IngestRunRecord)
            .where(IngestRunRecord.run_id == run_id)
            .values(started_at=started_at)
        )


def schema(engine: sa.Engine) -> dict[str, Any]:
    inspector = sa.inspect(engine)
    return {
        table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            sorted(c["name"] for c in inspector.get_check_constraints(table)),
        )
        for table in sorted(inspector.get_table_names())
    }


def test_public_names_are_pinned():
    assert aurum.store.__all__ == ["RUN_STATUSES", "IngestRun", "RunStatus", "Store"]
    assert RUN_STATUSES == ("running", "staged", "published", "failed", "duplicate")


# -- migrations ---------------------------------------------------------------------------------


def test_open_migrates_an_empty_database_to_head(store_url):
    database = sa.make_url(store_url).database
    if store_url.startswith("sqlite"):
        assert not Path(database).parent.exists()  # Store.open creates the folder
    with Store.open(store_url) as store:
        assert current_revision(store.engine) == head_revision() == "0004"
        tables = schema(store.engine)
    assert sorted(tables) == [
        "alembic_version", "api_key", "assumption", "audit_log", "curve_def", "entitlement",
        "ingest_run", "instrument", "model_run", "ppa_contract", "scenario", "tenant",
    ]  # fmt: skip
    columns, indexes, checks = tables["ingest_run"]
    assert [name for name, _, _ in columns] == [
        "run_id", "file", "sha256", "vendor", "asof", "status", "branch", "snapshot_id", "tag",
        "version", "rows", "quarantined", "price_cells", "published_cells", "quarantined_cells",
        "copy_cells", "dead_letter_cells", "parse_seconds", "publish_seconds", "error_code",
        "error_message", "gate_failures", "started_at", "finished_at", "tenant_id",
        "requested_by", "request_id",
    ]  # fmt: skip
    required = {name for name, _, nullable in columns if not nullable}
    assert required == {"run_id", "file", "status", "gate_failures", "started_at"}
    assert indexes == [
        ("ix_ingest_run_sha256", ("sha256",)),
        ("ix_ingest_run_started_at", ("started_at",)),
        ("ix_ingest_run_status", ("status",)),
        ("ix_ingest_run_vendor_asof", ("vendor", "asof")),
    ]
    assert checks == ["ck_ingest_run_status"]


def test_the_migrations_build_exactly_the_models_schema(store):
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_migrating_again_changes_nothing_and_keeps_the_data(store, store_url):
    run = start(store)
    before = schema(store.engine)
    store.migrate()
    store.migrate()
    with Store.open(store_url) as again:
        assert again.get_run(run.run_id) == run
    assert schema(store.engine) == before
    assert current_revision(store.engine) == head_revision()


def test_the_status_check_is_in_the_database(store):
    run = start(store)
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
        connection.execute(
            sa.text("UPDATE ingest_run SET status = 'lost' WHERE run_id = :run_id"),
            {"run_id": run.run_id},
        )
    assert store.get_run(run.run_id).status == "running"


# -- runs ---------------------------------------------------------------------------------------


def test_start_run_records_a_running_run(store):
    before = datetime.now(UTC)
    run = store.start_run(file="EUGP_20250916.xlsx", sha256="ab" * 32, vendor="EUGP", asof=DAY1)
    after = datetime.now(UTC)
    assert re.fullmatch(r"[0-9a-f]{32}", run.run_id)
    assert (run.file, run.sha256, run.vendor, run.asof) == (
        "EUGP_20250916.xlsx", "ab" * 32, "EUGP", DAY1,
    )  # fmt: skip
    assert run.status == "running"
    assert run.started_at.tzinfo is UTC
    assert before <= run.started_at <= after
    assert run.finished_at is None and run.rows is None and run.snapshot_id is None
    assert run.gate_failures == []
    assert store.get_run(run.run_id) == run
    assert start(store).run_id != run.run_id


def test_update_run_sets_every_column_and_get_run_reads_it_back(store):
    run = start(store, vendor=None, asof=None)
    changes: dict[str, Any] = {
        "vendor": "PW", "asof": DAY2, "sha256": "0f" * 32, "status": "published",
        "branch": "eod_pw_20250917_ab12", "snapshot_id": 2**62 + 7, "tag": "eod/PW/2025-09-17/v2",
        "version": 2, "rows": np.int64(48_000), "quarantined": 3, "price_cells": 48_064,
        "published_cells": 48_000, "quarantined_cells": 3, "copy_cells": 61,
        "dead_letter_cells": 0, "parse_seconds": 0.25, "publish_seconds": np.float64(0.125),
        "error_code": "gate_failed", "error_message": "jump: 2 curves",
        "gate_failures": ("jump", "stale_curve"),
        "finished_at": datetime(2025, 9, 17, 14, 31, 2, 500_001, tzinfo=UTC),
    }  # fmt: skip
    updated = store.update_run(run.run_id, **changes)
    for name, value in changes.items():
        expected = list(value) if name == "gate_failures" else value
        assert getattr(updated, name) == expected, name
    assert type(updated.rows) is int and type(updated.publish_seconds) is float
    assert (updated.run_id, updated.file, updated.started_at) == (
        run.run_id, run.file, run.started_at,
    )  # fmt: skip
    assert store.get_run(run.run_id) == updated
    assert run.status == "running"  # values are snapshots, not live objects
    with pytest.raises(AttributeError):
        run.status = "failed"  # type: ignore[misc]

    cleared = store.update_run(run.run_id, error_code=None, error_message=None, gate_failures=[])
    assert (cleared.error_code, cleared.error_message, cleared.gate_failures) == (None, None, [])
    assert cleared.rows == 48_000


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"colour": "red"}, "column_unknown"),
        ({"rows": 5, "colour": "red"}, "column_unknown"),  # nothing at all is applied
        ({"run_id": "0" * 32}, "column_immutable"),
        ({"started_at": T0}, "column_immutable"),
        ({"status": "lost"}, "status_invalid"),
        ({"status": "Published"}, "status_invalid"),
        ({"status": None}, "value_invalid"),
        ({"file": None}, "value_invalid"),
        ({"rows": "12"}, "value_invalid"),
        ({"rows": True}, "value_invalid"),
        ({"rows": 1.5}, "value_invalid"),
        ({"parse_seconds": "fast"}, "value_invalid"),
        ({"asof": T0}, "value_invalid"),
        ({"asof": "2025-09-16"}, "value_invalid"),
        ({"finished_at": datetime(2025, 9, 16, 14, 30)}, "value_invalid"),
        ({"gate_failures": "jump"}, "value_invalid"),
        ({"gate_failures": [1]}, "value_invalid"),
        ({"gate_failures": None}, "value_invalid"),
    ],
)
def test_update_run_rejects_unknown_columns_and_bad_values(store, changes, code):
    run = start(store)
    with pytest.raises(StoreError) as raised:
        store.update_run(run.run_id, **changes)
    assert raised.value.code == code
    assert type(raised.value) is StoreError
    assert store.get_run(run.run_id) == run


def test_a_missing_run_is_not_found(store):
    start(store)
    missing = "0" * 32
    with pytest.raises(NotFound) as raised:
        store.get_run(missing)
    assert (raised.value.code, raised.value.diagnostics) == ("run_not_found", {"run_id": missing})
    with pytest.raises(NotFound):
        store.update_run(missing, status="failed")
    assert [r.status for r in store.runs()] == ["running"]


def test_runs_filter_and_list_newest_first(store):
    made = {
        "r1": (start(store, "a", vendor="PW", asof=DAY1), "published", 1),
        "r2": (start(store, "b", vendor="PW", asof=DAY2), "running", 3),
        "r3": (start(store, "c", vendor="EUGP", asof=DAY1), "failed", 2),
        "r4": (start(store, "d", vendor="PW", asof=DAY1), "duplicate", 4),
        "r5": (start(store, "e", vendor=None, asof=None), "failed", 5),
    }
    ids = {}
    for name, (run, status, minute) in made.items():
        store.update_run(run.run_id, status=status)
        backdate(store, run.run_id, T0 + timedelta(minutes=minute))
        ids[run.run_id] = name

    def names(**filters: Any) -> list[str]:
        return [ids[run.run_id] for run in store.runs(**filters)]

    assert names() == ["r5", "r4", "r2", "r3", "r1"]
    assert names(vendor="PW") == ["r4", "r2", "r1"]
    assert names(asof=DAY1) == ["r4", "r3", "r1"]
    assert names(vendor="PW", asof=DAY1) == ["r4", "r1"]
    assert names(status="failed") == ["r5", "r3"]
    assert names(vendor="PW", asof=DAY1, status="published") == ["r1"]
    assert names(limit=2) == ["r5", "r4"]
    assert names(vendor="RP") == []
    assert store.runs(vendor="PW", limit=1)[0].started_at == T0 + timedelta(minutes=4)


def test_runs_rejects_bad_filters(store):
    with pytest.raises(StoreError) as raised:
        store.runs(status="lost")
    assert raised.value.code == "status_invalid"
    for limit in (0, -1):
        with pytest.raises(StoreError) as raised:
            store.runs(limit=limit)
        assert raised.value.code == "limit_invalid"


def test_stale_runs_are_running_or_staged_and_started_long_ago(store):
    now = datetime.now(UTC)
    started = {
        "old_running": ("running", now - timedelta(hours=3)),
        "old_staged": ("staged", now - timedelta(hours=2)),
        "old_published": ("published", now - timedelta(hours=5)),
        "old_failed": ("failed", now - timedelta(hours=4)),
        "old_duplicate": ("duplicate", now - timedelta(hours=4)),
        "fresh_running": ("running", None),
    }
    ids = {}
    for name, (status, when) in started.items():
        run = start(store, name)
        store.update_run(run.run_id, status=status)
        if when is not None:
            backdate(store, run.run_id, when)
        ids[run.run_id] = name

    def names(older_than: timedelta) -> list[str]:
        return [ids[run.run_id] for run in store.stale_runs(older_than=older_than)]

    assert names(timedelta(hours=1)) == ["old_running", "old_staged"]  # oldest first
    assert names(timedelta(hours=2, minutes=30)) == ["old_running"]
    assert names(timedelta(hours=6)) == []
    assert names(timedelta(0)) == ["old_running", "old_staged", "fresh_running"]


def test_gate_failures_round_trip_as_a_json_list(store):
    run = start(store)
    failures = ["jump", "curve_disappeared", "nouvelle courbe ≥ 5 €"]
    assert store.update_run(run.run_id, gate_failures=failures).gate_failures == failures
    assert store.get_run(run.run_id).gate_failures == failures
    with store.engine.connect() as connection:
        raw = connection.execute(
            sa.text("SELECT gate_failures FROM ingest_run WHERE run_id = :run_id"),
            {"run_id": run.run_id},
        ).scalar_one()
    # SQLite keeps JSON text; PostgreSQL a json value that psycopg decodes.
    if store.engine.dialect.name == "sqlite":
        assert json.loads(raw) == failures
    else:
        assert raw == failures


def test_datetimes_are_stored_and_returned_in_utc(store):
    run = start(store)
    paris = timezone(timedelta(hours=2))
    finished = datetime(2025, 9, 16, 16, 35, 12, 345_678, tzinfo=paris)
    updated = store.update_run(run.run_id, finished_at=finished)
    again = store.get_run(run.run_id)
    for value in (updated.finished_at, again.finished_at):
        assert value == finished
        assert value.tzinfo is UTC
        assert (value.hour, value.microsecond) == (14, 345_678)
    with store.engine.connect() as connection:
        raw = connection.execute(
            sa.text("SELECT finished_at FROM ingest_run WHERE run_id = :run_id"),
            {"run_id": run.run_id},
        ).scalar_one()
    if store.engine.dialect.name == "sqlite":
        assert raw == "2025-09-16 14:35:12.345678"  # naive, UTC
    else:
        assert raw == finished and raw.utcoffset() is not None  # timestamptz


def _start_runs(url: str, worker: int, barrier: Any) -> None:
    barrier.wait(timeout=60)  # both processes open (and migrate) the empty store together
    with Store.open(url) as store:
        for n in range(RUNS_PER_PROCESS):
            store.start_run(file=f"w{worker}-{n}.xlsx", sha256=None, vendor=f"V{worker}", asof=DAY1)


def test_two_processes_migrate_and_start_runs_at_once_and_lose_nothing(store_url):
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    workers = [
        context.Process(target=_start_runs, args=(store_url, worker, barrier)) for worker in (0, 1)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=60)
    assert [process.exitcode for process in workers] == [0, 0]
    with Store.open(store_url) as store:
        runs = store.runs(limit=1000)
        assert current_revision(store.engine) == head_revision()
    expected = {f"w{w}-{n}.xlsx" for w in (0, 1) for n in range(RUNS_PER_PROCESS)}
    assert sorted(run.file for run in runs) == sorted(expected)
    assert len({run.run_id for run in runs}) == 2 * RUNS_PER_PROCESS
    assert {run.vendor for run in runs} == {"V0", "V1"}
    started = [run.started_at for run in runs]
    assert started == sorted(started, reverse=True)


# -- backends -----------------------------------------------------------------------------------


def test_a_missing_psycopg_names_the_extra_to_install(monkeypatch):
    def import_module(name: str) -> Any:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(store_engine, "import_module", import_module)
    for url in ("postgresql+psycopg://postgres@127.0.0.1:5432/x", "postgresql://h/x"):
        with pytest.raises(NotInstalledError) as raised:
            Store.open(url)
        assert raised.value.code == "not_installed"
        assert "pip install 'aurum[postgres]'" in str(raised.value)


def test_plain_postgresql_urls_use_psycopg():
    engine = create_engine("postgresql://postgres@127.0.0.1:5432/x")
    assert (engine.dialect.name, engine.dialect.driver) == ("postgresql", "psycopg")
    engine.dispose()


@pytest.mark.parametrize(
    "url", ["postgresql+nonexistentdriver://h/x", "postgresql+psycopg2://h/x", "mysql://h/x"]
)
def test_unsupported_urls_are_config_errors(url):
    with pytest.raises(ConfigError) as raised:
        Store.open(url)
    assert raised.value.code == "store_url_unsupported"
    assert "postgresql+psycopg://" in str(raised.value)


def test_a_url_that_is_not_a_url_is_a_config_error():
    with pytest.raises(ConfigError) as raised:
        Store.open("store.db")
    assert raised.value.code == "store_url_invalid"


def test_an_unreachable_database_is_unavailable():
    with pytest.raises(Unavailable) as raised:
        Store.open("postgresql+psycopg://postgres:secret@127.0.0.1:1/aurum?connect_timeout=2")
    assert raised.value.code == "store_unavailable"
    assert "secret" not in str(raised.value)


def test_runs_by_file_content(store):
    first = start(store, "a.xlsx", sha256="a" * 64)
    start(store, "b.xlsx", sha256="b" * 64)
    again = start(store, "a-copy.xlsx", sha256="a" * 64)
    assert {run.run_id for run in store.runs(sha256="a" * 64)} == {first.run_id, again.run_id}
    assert store.runs(sha256="c" * 64) == []


def test_an_existing_store_is_migrated_not_recreated(store_url):
    """A store made by migration 0001 keeps its runs when the later migrations are applied."""
    from alembic import command

    from aurum.store.engine import _alembic_config, migration_transaction

    engine = create_engine(store_url)
    config = _alembic_config()
    with migration_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert current_revision(engine) == "0001"
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO ingest_run (run_id, file, status, gate_failures, started_at) "
                "VALUES ('old', 'x.xlsx', 'published', '[]', :now)"
            ),
            {"now": datetime(2025, 9, 1, 12, 0)},
        )
    engine.dispose()
    with Store.open(store_url) as store:
        assert current_revision(store.engine) == head_revision()
        assert [run.run_id for run in store.runs()] == ["old"]
        indexes = {i["name"] for i in sa.inspect(store.engine).get_indexes("ingest_run")}
        assert "ix_ingest_run_sha256" in indexes
