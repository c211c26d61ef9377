"""The operational store's contract: every test runs on SQLite and on PostgreSQL (``store``).

Runs (one model for every kind), their leases and the queue; the unit of work; migrations (a
populated store of the previous schema is upgraded, its runs kept); backends.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import aurum.store
from aurum.auth.access import Access
from aurum.errors import ConfigError, NotFound, NotInstalledError, StoreError, Unavailable
from aurum.store import RUN_KINDS, RUN_STATUSES, Run, Store
from aurum.store import engine as store_engine
from aurum.store.base import Base
from aurum.store.engine import (
    alembic_config,
    create_engine,
    current_revision,
    head_revision,
    migration_transaction,
)
from aurum.store.runs import RunRecord

DAY1, DAY2 = date(2025, 9, 16), date(2025, 9, 17)
T0 = datetime(2025, 9, 16, 14, 30, tzinfo=UTC)
PLATFORM = Access.platform("tests")
LEASE = timedelta(seconds=60)
RUNS_PER_PROCESS = 40


def start(store: Store, subject: str = "PW_20250916.xlsx", access: Access = PLATFORM,
          **values: Any) -> Run:  # fmt: skip
    arguments: dict[str, Any] = {"vendor": "PW", "asof": DAY1, **values}
    with store.transaction(access) as tx:
        return tx.start_run("ingest", subject=subject, lease=("me", LEASE), **arguments)


def update(store: Store, run_id: str, /, **changes: Any) -> Run:
    with store.transaction(PLATFORM) as tx:
        return tx.update_run(run_id, **changes)


def get(store: Store, run_id: str, access: Access = PLATFORM) -> Run:
    with store.transaction(access, write=False) as tx:
        return tx.get_run(run_id)


def runs(store: Store, access: Access = PLATFORM, **filters: Any) -> list[Run]:
    with store.transaction(access, write=False) as tx:
        return tx.runs(**filters)


def set_columns(store: Store, run_id: str, **values: Any) -> None:
    """Write columns the lifecycle never sets directly (a queue time in the past, a lease)."""
    with store.engine.begin() as connection:
        connection.execute(sa.update(RunRecord).where(RunRecord.run_id == run_id).values(**values))


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
    assert aurum.store.__all__ == [
        "RUN_KINDS", "RUN_STATUSES", "Run", "RunKind", "RunStatus", "Store", "Tx",
    ]  # fmt: skip
    assert RUN_STATUSES == (
        "queued", "running", "staged", "published", "duplicate", "failed", "cancelled",
    )  # fmt: skip
    assert RUN_KINDS == ("ingest", "feed_load", "scenario_run", "valuation")


# -- migrations ---------------------------------------------------------------------------------


def test_open_migrates_an_empty_database_to_head(store_url):
    database = sa.make_url(store_url).database
    if store_url.startswith("sqlite"):
        assert not Path(database).parent.exists()  # Store.open creates the folder
    with Store.open(store_url) as store:
        assert current_revision(store.engine) == head_revision() == "0008"
        tables = schema(store.engine)
    assert sorted(tables) == [
        "alembic_version", "alert", "api_key", "assumption", "audit_log", "curve_def",
        "entitlement", "event_cursor", "instrument", "outbox_event", "ppa_contract",
        "ppa_contract_version", "run", "scenario", "scenario_version", "tenant", "usage",
        "webhook",
    ]  # fmt: skip
    columns, indexes, checks = tables["run"]
    required = {name for name, _, nullable in columns if not nullable}
    assert required == {
        "run_id", "kind", "status", "subject", "params", "result", "gate_failures", "queued_at",
        "attempts", "cancel_requested",
    }  # fmt: skip
    assert ("ix_run_status_lease", ("status", "lease_expires_at")) in indexes
    assert checks == ["ck_run_kind", "ck_run_status"]


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
        assert get(again, run.run_id) == run
    assert schema(store.engine) == before
    assert current_revision(store.engine) == head_revision()


def test_the_status_and_kind_checks_are_in_the_database(store):
    run = start(store)
    for column, value in (("status", "lost"), ("kind", "coffee")):
        with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as connection:
            connection.execute(
                sa.text(f"UPDATE run SET {column} = :value WHERE run_id = :run_id"),
                {"value": value, "run_id": run.run_id},
            )
    assert get(store, run.run_id).status == "running"


def test_a_populated_store_of_the_previous_schema_keeps_its_runs(store_url):
    """Ingest runs and model runs made before 0005 become runs, nothing lost."""
    engine = create_engine(store_url)
    config = alembic_config()
    with migration_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    started = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO ingest_run (run_id, file, sha256, vendor, asof, status, tag, version,"
            " rows, quarantined, parse_seconds, gate_failures, started_at, finished_at,"
            " tenant_id, requested_by) VALUES"
            " ('done', 'EOD_RP.xlsx', :sha, 'RP', :day, 'published', 'eod/RP/2025-09-17/v1', 1,"
            "  27816, 0, 0.5, :gates, :started, :started, NULL, 'cli:me'),"
            " ('dead', 'EOD_PW.xlsx', NULL, 'PW', :day, 'staged', NULL, NULL, NULL, NULL, NULL,"
            "  '[]', :started, NULL, NULL, NULL)"
        ), {"sha": "ab" * 32, "day": DAY2, "gates": '["jump"]',
            "started": started if engine.dialect.name == "postgresql"
            else started.replace(tzinfo=None)})  # fmt: skip
        connection.execute(sa.text(
            "INSERT INTO tenant (tenant_id, name, active, created_at) VALUES ('acme', 'A', true,"
            " :now)"), {"now": started})  # fmt: skip
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT set_config('app.current_tenant', 'acme', true)"))
        connection.execute(sa.text(
            "INSERT INTO model_run (id, tenant_id, name, kind, subject_id, status, params, result,"
            " finished_at, created_by, created_at, updated_at) VALUES ('m1', 'acme', 'base case',"
            " 'valuation', 's9', 'queued', :params, NULL, NULL, 'user:a@acme', :now, :now)"
        ), {"params": '{"seed": 7}', "now": started})  # fmt: skip
    engine.dispose()
    with Store.open(store_url) as store:
        assert current_revision(store.engine) == head_revision()
        done, dead = get(store, "done"), get(store, "dead")
        assert (done.kind, done.status, done.subject, done.vendor, done.asof) == (
            "ingest", "published", "EOD_RP.xlsx", "RP", DAY2,
        )  # fmt: skip
        assert (done.tag, done.version, done.gate_failures) == ("eod/RP/2025-09-17/v1", 1, ["jump"])
        assert done.result == {"rows": 27816, "quarantined": 0, "parse_seconds": 0.5}
        assert done.partition == {"vendor": "RP", "asof_date": "2025-09-17"}
        assert done.requested_by == "cli:me" and done.started_at == started
        # a run left active gets the lease the 30-minute rule gave it
        assert dead.status == "staged" and dead.lease_expires_at == started + timedelta(minutes=30)
        model = get(store, "m1", Access("acme", actor="t"))
        assert (model.kind, model.tenant_id, model.subject, model.params) == (
            "valuation", "acme", "s9", {"seed": 7, "name": "base case"},
        )  # fmt: skip
        assert {r.run_id for r in runs(store)} == {"done", "dead", "m1"}


# -- runs ---------------------------------------------------------------------------------------


def test_start_run_records_a_running_leased_run(store):
    before = datetime.now(UTC)
    run = start(store, "EUGP_20250916.xlsx", sha256="ab" * 32, vendor="EUGP")
    after = datetime.now(UTC)
    assert re.fullmatch(r"[0-9a-f]{32}", run.run_id)
    assert (run.kind, run.subject, run.sha256, run.vendor, run.asof) == (
        "ingest", "EUGP_20250916.xlsx", "ab" * 32, "EUGP", DAY1,
    )  # fmt: skip
    assert (run.status, run.tenant_id, run.requested_by, run.attempts) == (
        "running", None, "tests", 1,
    )  # fmt: skip
    assert before <= run.started_at <= after and run.started_at.tzinfo is UTC
    assert run.lease_owner == "me" and run.lease_expires_at == run.started_at + LEASE
    assert run.finished_at is None and run.snapshot_id is None and run.result == {}
    assert get(store, run.run_id) == run
    with pytest.raises(StoreError) as raised, store.transaction(PLATFORM) as tx:
        tx.start_run("ingest", subject="x")  # running, with no one holding it
    assert raised.value.code == "lease_missing"


def test_update_run_sets_every_column_and_get_run_reads_it_back(store):
    run = start(store, vendor=None, asof=None)
    changes: dict[str, Any] = {
        "vendor": "PW", "asof": DAY2, "sha256": "0f" * 32, "status": "published",
        "branch": "eod_pw_20250917_ab12", "snapshot_id": 2**62 + 7, "tag": "eod/PW/2025-09-17/v2",
        "version": 2, "result": {"rows": 48_000, "parse_seconds": 0.25},
        "partition": {"vendor": "PW", "asof_date": DAY2}, "dataset": "curve_observation",
        "error_code": "gate_failed", "error_message": "jump: 2 curves",
        "gate_failures": ("jump", "stale_curve"),
        "finished_at": datetime(2025, 9, 17, 14, 31, 2, 500_001, tzinfo=UTC),
    }  # fmt: skip
    updated = update(store, run.run_id, **changes)
    expected = {**changes, "gate_failures": ["jump", "stale_curve"],
                "partition": {"vendor": "PW", "asof_date": "2025-09-17"}}  # fmt: skip
    for name, value in expected.items():
        assert getattr(updated, name) == value, name
    assert (updated.run_id, updated.subject, updated.queued_at) == (
        run.run_id, run.subject, run.queued_at,
    )  # fmt: skip
    assert get(store, run.run_id) == updated
    assert run.status == "running"  # values are snapshots, not live objects
    with pytest.raises(AttributeError):
        run.status = "failed"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"colour": "red"}, "column_unknown"),
        ({"version": 5, "colour": "red"}, "column_unknown"),  # nothing at all is applied
        ({"run_id": "0" * 32}, "column_immutable"),
        ({"queued_at": T0}, "column_immutable"),
        ({"tenant_id": "acme"}, "column_immutable"),
        ({"status": "lost"}, "status_invalid"),
        ({"status": "Published"}, "status_invalid"),
        ({"status": None}, "value_invalid"),
        ({"subject": None}, "value_invalid"),
        ({"version": "12"}, "value_invalid"),
        ({"version": True}, "value_invalid"),
        ({"version": 1.5}, "value_invalid"),
        ({"asof": T0}, "value_invalid"),
        ({"asof": "2025-09-16"}, "value_invalid"),
        ({"finished_at": datetime(2025, 9, 16, 14, 30)}, "value_invalid"),
        ({"gate_failures": "jump"}, "value_invalid"),
        ({"gate_failures": [1]}, "value_invalid"),
        ({"result": [1]}, "value_invalid"),
    ],
)
def test_update_run_rejects_unknown_columns_and_bad_values(store, changes, code):
    run = start(store)
    with pytest.raises(StoreError) as raised:
        update(store, run.run_id, **changes)
    assert raised.value.code == code
    assert type(raised.value) is StoreError
    assert get(store, run.run_id) == run


def test_a_missing_run_is_not_found(store):
    start(store)
    missing = "0" * 32
    with pytest.raises(NotFound) as raised:
        get(store, missing)
    assert (raised.value.code, raised.value.diagnostics) == ("run_not_found", {"run_id": missing})
    with pytest.raises(NotFound):
        update(store, missing, status="failed")
    assert [r.status for r in runs(store)] == ["running"]


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
        update(store, run.run_id, status=status)
        set_columns(store, run.run_id, queued_at=T0 + timedelta(minutes=minute))
        ids[run.run_id] = name

    def names(**filters: Any) -> list[str]:
        return [ids[run.run_id] for run in runs(store, **filters)]

    assert names() == ["r5", "r4", "r2", "r3", "r1"]
    assert names(vendor="PW") == ["r4", "r2", "r1"]
    assert names(asof=DAY1) == ["r4", "r3", "r1"]
    assert names(status="failed") == ["r5", "r3"]
    assert names(vendor="PW", asof=DAY1, status="published") == ["r1"]
    assert names(limit=2) == ["r5", "r4"] and names(limit=2, offset=2) == ["r2", "r3"]
    assert names(kind="ingest") == names() and names(kind="valuation") == []
    assert names(vendor="RP") == []


def test_runs_rejects_bad_filters(store):
    for filters, code in (
        ({"status": "lost"}, "status_invalid"), ({"kind": "x"}, "kind_invalid"),
        ({"limit": 0}, "limit_invalid"), ({"limit": -1}, "limit_invalid"),
    ):  # fmt: skip
        with pytest.raises(StoreError) as raised:
            runs(store, **filters)
        assert raised.value.code == code


def test_a_tenant_sees_its_own_runs_and_the_platforms_of_entitled_vendors(store):
    with store.transaction(PLATFORM) as tx:
        tx.create_tenant("acme", "Acme")
        tx.create_tenant("bolt", "Bolt")
    acme = Access("acme", vendors=frozenset({"PW"}), actor="a")
    bolt = Access("bolt", vendors=frozenset({"PW", "RP"}), actor="b")
    platform_pw, platform_rp = start(store, "p1", vendor="PW"), start(store, "p2", vendor="RP")
    unknown = start(store, "p3", vendor=None, asof=None)
    acme_pw = start(store, "a1", access=acme, vendor="PW")
    bolt_rp = start(store, "b1", access=bolt, vendor="RP")
    assert acme_pw.tenant_id == "acme" and acme_pw.requested_by == "a"
    seen = {
        who: {run.subject for run in runs(store, access)}
        for who, access in (("acme", acme), ("bolt", bolt), ("platform", PLATFORM))
    }
    assert seen == {
        "acme": {"p1", "p3", "a1"}, "bolt": {"p1", "p2", "p3", "b1"},
        "platform": {"p1", "p2", "p3", "a1", "b1"},
    }  # fmt: skip
    with pytest.raises(NotFound):
        get(store, bolt_rp.run_id, acme)  # another tenant's run: as if it never existed
    with store.transaction(acme, write=False) as tx:
        assert tx.visible_run_ids(
            [platform_pw.run_id, platform_rp.run_id, unknown.run_id, bolt_rp.run_id, "nope"]
        ) == {platform_pw.run_id, unknown.run_id}


# -- leases, recovery claims and the queue --------------------------------------------------


def test_only_expired_leases_are_claimed_and_each_once(store):
    now = datetime.now(UTC)
    made = {}
    for name, status, expires in (
        ("expired_running", "running", now - timedelta(minutes=2)),
        ("expired_staged", "staged", now - timedelta(minutes=5)),
        ("fresh", "running", now + timedelta(minutes=1)),  # a heartbeat renewed it: never taken
        ("published", "published", now - timedelta(hours=1)),
    ):
        run = start(store, name)
        update(store, run.run_id, status=status)
        set_columns(store, run.run_id, lease_expires_at=expires)
        made[run.run_id] = name
    with store.transaction(PLATFORM) as tx:
        claimed = tx.claim_expired("recoverer", LEASE)
    assert [made[r.run_id] for r in claimed] == ["expired_staged", "expired_running"]
    assert {r.lease_owner for r in claimed} == {"recoverer"}
    with store.transaction(PLATFORM) as tx:
        assert tx.claim_expired("another", LEASE) == []  # taken: the new lease is fresh
    with pytest.raises(StoreError) as raised, store.transaction(Access("acme")) as tx:
        tx.claim_expired("tenant", LEASE)
    assert raised.value.code == "platform_only"


def test_a_heartbeat_renews_only_the_holders_lease(store):
    run = start(store)
    set_columns(store, run.run_id, lease_expires_at=datetime.now(UTC) + timedelta(seconds=1))
    with store.transaction(PLATFORM) as tx:
        assert tx.heartbeat(run.run_id, "me", LEASE) is True
        assert tx.heartbeat(run.run_id, "someone else", LEASE) is False
    renewed = get(store, run.run_id)
    assert renewed.lease_expires_at > datetime.now(UTC) + timedelta(seconds=50)
    update(store, run.run_id, status="failed")
    with store.transaction(PLATFORM) as tx:
        assert tx.heartbeat(run.run_id, "me", LEASE) is False  # an ended run holds no lease


def test_the_queue_hands_out_the_oldest_run_of_the_kinds_asked(store):
    with store.transaction(PLATFORM) as tx:
        first = tx.start_run("scenario_run", subject="s1", queued=True, params={"seed": 1})
        tx.start_run("valuation", subject="v1", queued=True)
        second = tx.start_run("scenario_run", subject="s2", queued=True)
    assert (first.status, first.started_at, first.attempts) == ("queued", None, 0)
    with store.transaction(PLATFORM) as tx:
        taken = tx.claim_queued(["scenario_run"], "worker-1", LEASE)
    assert taken is not None and taken.run_id == first.run_id
    assert (taken.status, taken.lease_owner, taken.attempts) == ("running", "worker-1", 1)
    assert taken.params == {"seed": 1} and taken.started_at is not None
    with store.transaction(PLATFORM) as tx:
        assert tx.claim_queued(["scenario_run"], "w2", LEASE).run_id == second.run_id
        assert tx.claim_queued(["scenario_run"], "w3", LEASE) is None


def _claim(url: str, kind: str, barrier: Any, results: Any) -> None:
    with Store.open(url) as store:
        barrier.wait(timeout=60)
        mine = []
        while True:
            with store.transaction(PLATFORM) as tx:
                if kind == "expired":
                    found = tx.claim_expired(f"p{id(store)}", LEASE, limit=3)
                else:
                    one = tx.claim_queued(["scenario_run"], f"p{id(store)}", LEASE)
                    found = [one] if one else []
            if not found:
                break
            mine += [run.run_id for run in found]
        results.put(mine)


@pytest.mark.parametrize("kind", ["expired", "queued"])
def test_two_processes_claiming_at_once_take_each_run_exactly_once(store, store_url, kind):
    made = []
    for n in range(30):
        if kind == "expired":
            run = start(store, f"r{n}")
            set_columns(store, run.run_id, lease_expires_at=datetime.now(UTC) - timedelta(1))
        else:
            with store.transaction(PLATFORM) as tx:
                run = tx.start_run("scenario_run", subject=f"q{n}", queued=True)
        made.append(run.run_id)
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_claim, args=(store_url, kind, barrier, results))
               for _ in range(2)]  # fmt: skip
    for process in workers:
        process.start()
    taken = [results.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=60)
    assert [process.exitcode for process in workers] == [0, 0]
    together = taken[0] + taken[1]
    assert sorted(together) == sorted(made)  # every run once: none twice, none missed


# -- the unit of work ---------------------------------------------------------------------------


def test_a_transaction_commits_everything_or_nothing(store):
    run = start(store)
    with pytest.raises(RuntimeError), store.transaction(PLATFORM) as tx:
        tx.update_run(run.run_id, status="published")
        tx.audit("ingest", target=run.run_id)
        raise RuntimeError("the process fails before the end of the unit of work")
    assert get(store, run.run_id).status == "running"
    with store.transaction(PLATFORM, write=False) as tx:
        assert tx.audit_log(action="ingest") == []


# -- values on the wire ---------------------------------------------------------------------------


def test_gate_failures_round_trip_as_a_json_list(store):
    run = start(store)
    failures = ["jump", "curve_disappeared", "nouvelle courbe ≥ 5 €"]
    assert update(store, run.run_id, gate_failures=failures).gate_failures == failures
    assert get(store, run.run_id).gate_failures == failures
    with store.engine.connect() as connection:
        raw = connection.execute(
            sa.text("SELECT gate_failures FROM run WHERE run_id = :run_id"),
            {"run_id": run.run_id},
        ).scalar_one()
    # SQLite keeps JSON text; PostgreSQL a json value that psycopg decodes.
    assert (json.loads(raw) if store.engine.dialect.name == "sqlite" else raw) == failures


def test_datetimes_are_stored_and_returned_in_utc(store):
    run = start(store)
    paris = timezone(timedelta(hours=2))
    finished = datetime(2025, 9, 16, 16, 35, 12, 345_678, tzinfo=paris)
    updated = update(store, run.run_id, finished_at=finished)
    again = get(store, run.run_id)
    for value in (updated.finished_at, again.finished_at):
        assert value == finished
        assert value.tzinfo is UTC
        assert (value.hour, value.microsecond) == (14, 345_678)
    with store.engine.connect() as connection:
        raw = connection.execute(
            sa.text("SELECT finished_at FROM run WHERE run_id = :run_id"), {"run_id": run.run_id}
        ).scalar_one()
    if store.engine.dialect.name == "sqlite":
        assert raw == "2025-09-16 14:35:12.345678"  # naive, UTC
    else:
        assert raw == finished and raw.utcoffset() is not None  # timestamptz


def _start_runs(url: str, worker: int, barrier: Any) -> None:
    barrier.wait(timeout=60)  # both processes open (and migrate) the empty store together
    with Store.open(url) as store:
        for n in range(RUNS_PER_PROCESS):
            start(store, f"w{worker}-{n}.xlsx", vendor=f"V{worker}")


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
        found = runs(store, limit=1000)
        assert current_revision(store.engine) == head_revision()
    expected = {f"w{w}-{n}.xlsx" for w in (0, 1) for n in range(RUNS_PER_PROCESS)}
    assert sorted(run.subject for run in found) == sorted(expected)
    assert len({run.run_id for run in found}) == 2 * RUNS_PER_PROCESS
    assert {run.vendor for run in found} == {"V0", "V1"}


def test_runs_by_file_content(store):
    first = start(store, "a.xlsx", sha256="a" * 64)
    start(store, "b.xlsx", sha256="b" * 64)
    again = start(store, "a-copy.xlsx", sha256="a" * 64)
    assert {run.run_id for run in runs(store, sha256="a" * 64)} == {first.run_id, again.run_id}
    assert runs(store, sha256="c" * 64) == []


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
