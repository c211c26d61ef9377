"""Ingest end to end: parse, archive, side tables, write-audit-publish and the ingest log."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pyarrow.compute as pc
import pytest
import sqlalchemy as sa

from aurum.auth.access import PLATFORM
from aurum.config import GateSettings, Settings
from aurum.ingest.history import ingest_run, ingest_runs
from aurum.ingest.runner import backfill, ingest_file
from aurum.lake import Lake
from aurum.query import Query
from aurum.runs import Recovered, Runs
from aurum.store import Store
from aurum.store.runs import RunRecord
from aurum.synthetic import workbook_name, write_workbook


@pytest.fixture
def env(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    lake, store = Lake(settings), Store.open(settings.store_url)
    yield settings, lake, store
    store.close()


def expire_leases(store: Store) -> None:
    """As if the runs' processes had died a while ago: their leases are over."""
    with store.engine.begin() as connection:
        connection.execute(
            sa.update(RunRecord).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC))
        )


def ingest(env, path: Path, **kwargs):
    settings, lake, store = env
    return ingest_file(path, lake=lake, store=store, settings=settings, **kwargs)


def test_all_real_workbooks_once_then_duplicates_then_a_correction(
    env, workbooks_dir, expected, tmp_path
):
    _, lake, store = env
    files = sorted(workbooks_dir.glob("EOD_*.xlsx"))
    assert [ingest(env, f).status for f in files] == ["published"] * len(files)
    total = sum(int(row["canonical_rows"]) for row in expected)
    query = Query(lake)
    assert query.observations().num_rows == total
    assert [ingest(env, f).status for f in files] == ["duplicate"] * len(files)
    assert query.observations().num_rows == total
    assert {r.status for r in ingest_runs(store, PLATFORM, limit=100)} == {"published", "duplicate"}

    # The same EUGP file delivered again with one price corrected: version 2.
    original = workbooks_dir / "EOD_EUGP_20250917_1430.xlsx"
    corrected = tmp_path / "redelivery" / original.name
    corrected.parent.mkdir()
    shutil.copy(original, corrected)
    book = openpyxl.load_workbook(corrected)
    old_price = book["Fixed Prices - Mid"]["AW15"].value  # EUA Dec-25, spec §11
    book["Fixed Prices - Mid"]["AW15"].value = old_price + 1.5
    assert book["Fixed Prices - BidAsk"]["AW15"].value == "76.654   /   77.148"
    book["Fixed Prices - BidAsk"]["AW15"].value = "78.154   /   78.648"  # both sides moved too
    book.save(corrected)
    report = ingest(env, corrected)
    assert (report.status, report.publication.version) == ("published", 2)
    assert report.publication.tag == "eod/EUGP/2025-09-17/v2"

    def eua_dec(**kwargs) -> float:
        rows = query.observations(vendor="EUGP", asof=date(2025, 9, 17), **kwargs)
        hit = rows.filter(pc.and_(pc.equal(rows["location"], "EUA"),
                                  pc.equal(rows["tenor_label"], "2025-12")))  # fmt: skip
        return hit["mid"][0].as_py()

    assert eua_dec() == pytest.approx(old_price + 1.5)
    assert eua_dec(as_at="eod/EUGP/2025-09-17/v1") == old_price == 76.9009667047427
    assert query.observations().num_rows == total  # the day was replaced, not added
    run = ingest_run(store, PLATFORM, report.run_id)
    assert (run.status, run.version, run.tag, run.rows) == (
        "published",
        2,
        report.publication.tag,
        11_483,
    )
    assert run.snapshot_id == report.publication.snapshot_id


def test_raw_files_are_archived_by_content(env, tmp_path):
    _, lake, _ = env
    path = write_workbook(tmp_path / workbook_name("PW", date(2025, 9, 17)), vendor="PW",
                          asof=date(2025, 9, 17))  # fmt: skip
    report = ingest(env, path)
    assert report.raw_path.endswith(f"/raw/vendor_curves/PW/2025-09-17/{report.parse.sha256}.xlsx")
    assert lake.io.new_input(report.raw_path).open().read() == path.read_bytes()


def test_a_dead_letter_is_logged_archived_and_publishes_nothing(env, tmp_path):
    _, lake, store = env
    path = tmp_path / "EOD_RP_20250917_1430.xlsx"
    path.write_bytes(b"this is not a workbook")
    report = ingest(env, path)
    assert report.status == "failed"
    letters = Query(lake).sql("SELECT error_code, file, raw_path FROM curve_dead_letter").table
    assert letters.to_pylist()[0]["error_code"] == "not_xlsx"
    assert "/raw/unreadable/" in letters.to_pylist()[0]["raw_path"]
    assert Query(lake).observations().num_rows == 0
    run = ingest_run(store, PLATFORM, report.run_id)
    assert (run.status, run.error_code) == ("failed", "not_xlsx")


def test_quarantine_and_quality_history_are_recorded_per_run(env, tmp_path):
    _, lake, _ = env
    path = write_workbook(tmp_path / workbook_name("PW", date(2025, 9, 17)), vendor="PW",
                          asof=date(2025, 9, 17), faults={"text_price"})  # fmt: skip
    report = ingest(env, path)
    assert report.status == "published"
    query = Query(lake)
    held = query.sql("SELECT run_id, quarantine_reason FROM curve_observation_quarantine").table
    assert held.to_pylist() == [{"run_id": report.run_id, "quarantine_reason": "mid_not_numeric"}]
    checks = query.sql(
        f"SELECT stage, rule, failed FROM qa_checks WHERE run_id = '{report.run_id}'"
    ).table.to_pylist()
    assert {"stage": "parse", "rule": "mid_not_numeric", "failed": 1} in checks
    assert {c["rule"] for c in checks if c["stage"] == "gate"} == {
        "curve_disappeared", "new_curve", "stale_curve", "jump"
    }  # fmt: skip


def test_a_failing_gate_fails_the_run_and_leaves_main(env, tmp_path):
    settings, lake, store = env
    strict = Settings(home=settings.home, gates=GateSettings(stale_curve="fail"))
    day1 = write_workbook(tmp_path / "a" / workbook_name("PW", date(2025, 9, 16)), vendor="PW",
                          asof=date(2025, 9, 16))  # fmt: skip
    ingest(env, day1)
    before = lake.table("curve_observation").current_snapshot().snapshot_id
    # A day-2 file whose prices are exactly day 1's: every curve is stale.
    book = openpyxl.load_workbook(day1)
    for sheet in book.worksheets:
        sheet["B5"].value = date(2025, 9, 17)
    day2 = tmp_path / "b" / workbook_name("PW", date(2025, 9, 17))
    day2.parent.mkdir()
    book.save(day2)
    report = ingest_file(day2, lake=lake, store=store, settings=strict)
    assert report.status == "failed"
    assert lake.table("curve_observation").current_snapshot().snapshot_id == before
    run = ingest_run(store, PLATFORM, report.run_id)
    assert (
        run.gate_failures == ["stale_curve"]
        and run.branch in lake.table("curve_observation").metadata.refs
    )


def test_backfill_parses_in_parallel_and_publishes_in_asof_order(env, tmp_path):
    settings, lake, store = env
    days = [date(2025, 9, 17), date(2025, 9, 15), date(2025, 9, 16)]
    paths = [
        write_workbook(tmp_path / "in" / workbook_name("PW", d), vendor="PW", asof=d) for d in days
    ]
    reports = backfill(paths, lake=lake, store=store, settings=settings, workers=2)
    assert [r.parse.asof for r in reports] == sorted(days)
    assert [r.status for r in reports] == ["published"] * 3
    # each day was gated against the day before it: no curve is new after the first day
    new_curves = [
        {g.rule: g.failed for g in r.publication.checks}["new_curve"] for r in reports[1:]
    ]
    assert new_curves == [0, 0]
    assert Query(lake).observations(vendor="PW").num_rows == 3 * 344


def test_abandoned_runs_are_closed_and_their_branches_dropped(env, tmp_path):
    _, lake, store = env
    path = write_workbook(tmp_path / workbook_name("PW", date(2025, 9, 17)), vendor="PW",
                          asof=date(2025, 9, 17))  # fmt: skip

    class Died(Exception):
        pass

    def die(stage):
        if stage == "audited":
            raise Died

    with pytest.raises(Died):
        ingest(env, path, pause=die)
    (dead,) = ingest_runs(store, PLATFORM)
    assert dead.status == "staged"
    table = lake.table("curve_observation")
    assert [b for b in table.metadata.refs if b.startswith("eod_")] == [
        f"eod_pw_20250917_{dead.run_id}"
    ]
    runs = Runs(store)
    assert runs.recover(lake) == []  # its lease has not expired: the run may still be at work
    expire_leases(store)
    assert runs.recover(lake) == [Recovered(dead.run_id, "failed")]
    table.refresh()
    assert not [b for b in table.metadata.refs if b.startswith("eod_")]
    recovered = ingest_run(store, PLATFORM, dead.run_id)
    assert (recovered.status, recovered.error_code) == ("failed", "abandoned")
    assert ingest(env, path).status == "published"


def test_content_published_as_any_version_of_its_day_is_a_duplicate(env, tmp_path):
    """The one duplicate rule: re-sending v1's file after v2 is a duplicate of v1 (it was a
    v3 that silently reverted v2), and the run says which version holds the content."""
    _, lake, store = env
    original = write_workbook(tmp_path / "a" / workbook_name("PW", date(2025, 9, 17)),
                              vendor="PW", asof=date(2025, 9, 17))  # fmt: skip
    corrected = tmp_path / "b" / original.name
    corrected.parent.mkdir()
    book = openpyxl.load_workbook(original)
    book.worksheets[0]["D10"].value = 123.456
    book.save(corrected)
    assert ingest(env, original).publication.version == 1
    assert ingest(env, corrected).publication.version == 2
    again = ingest(env, original)
    assert (again.status, again.duplicate_of) == ("duplicate", "eod/PW/2025-09-17/v1")
    assert again.summary()["duplicate_of"] == "eod/PW/2025-09-17/v1"
    run = ingest_run(store, PLATFORM, again.run_id)
    assert (run.status, run.version, run.tag, run.duplicate_of) == (
        "duplicate", 1, None, "eod/PW/2025-09-17/v1"
    )  # fmt: skip
    assert (
        run.snapshot_id
        == lake.table("curve_observation").metadata.refs["eod/PW/2025-09-17/v1"].snapshot_id
    )
    assert sorted(lake.table("curve_observation").metadata.refs) == [
        "eod/PW/2025-09-17/v1", "eod/PW/2025-09-17/v2", "main"
    ]  # fmt: skip


def test_the_run_keeps_the_gates_that_fired_with_their_sample_keys(env, tmp_path):
    """F2: a warning gate was visible only in qa_checks; the run now keeps it."""
    settings, lake, store = env
    jumpy = Settings(home=settings.home, gates=GateSettings(jump_z=0.01))
    for day in (date(2025, 9, 16), date(2025, 9, 17)):
        path = write_workbook(tmp_path / workbook_name("PW", day), vendor="PW", asof=day)
        report = ingest_file(path, lake=lake, store=store, settings=jumpy)
    assert report.status == "published"
    (gate,) = ingest_run(store, PLATFORM, report.run_id).gates
    assert (gate["rule"], gate["severity"], gate["failed"], gate["checked"]) == (
        "jump", "warn", 333, 344
    )  # fmt: skip
    assert gate["sample_keys"] == list(report.publication.checks[-1].sample_keys)
    assert len(gate["sample_keys"]) == 5
