"""The operator's reads on a real lake and store: quarantine, dead letters, rule outcomes over
time, a day's versions and their diff, and expected against received files."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import openpyxl
import pytest

from aurum import tenancy
from aurum.auth.access import PLATFORM, Access
from aurum.config import Settings
from aurum.datasets.curves import DEAD_LETTER, QA_CHECKS, QUARANTINE
from aurum.errors import Forbidden, QueryError, Unknown
from aurum.ingest.days import day_history
from aurum.ingest.layouts import detect_layout, file_name_date
from aurum.ingest.runner import IngestReport, ingest_file
from aurum.lake.catalog import Lake
from aurum.query.engine import Query
from aurum.query.operations import QUARANTINE_COLUMNS, Operations
from aurum.store import Store
from aurum.synthetic import workbook_name, write_workbook

EUGP = frozenset({"EUGP"})
ACME, BOLT, CORA = (
    Access("acme", vendors=EUGP),
    Access("bolt", vendors=EUGP),
    Access("cora", vendors=frozenset({"RP"})),
)
CORRECTED = {"D13": 1.0, "E20": 3.0, "F30": 2.0}  # Fixed Prices cells the re-delivery moves
NOW = datetime(2026, 4, 10, 12, 0, tzinfo=UTC)


@dataclass
class Env:
    settings: Settings
    lake: Lake
    store: Store
    operations: Operations
    reports: dict[str, IngestReport]

    def history(self, day: date = date(2026, 4, 2)) -> list:
        return day_history(self.lake.current("curve_observation"), "EUGP", day)

    def log(self, name: str, access: Access = PLATFORM, **filters):
        method = getattr(self.operations, name)
        dataset = {"quarantine": QUARANTINE, "dead_letters": DEAD_LETTER, "gates": QA_CHECKS}[name]
        snapshot = self.operations.pin(dataset.name)
        return method(access, snapshot_id=snapshot, **filters)


def correct(path: Path, target: Path, moves: dict[str, float]) -> Path:
    """The vendor's corrected re-delivery: each Mid cell moved, its bid and ask with it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, target)
    book = openpyxl.load_workbook(target)
    mids, quotes = book["Fixed Prices - Mid"], book["Fixed Prices - BidAsk"]
    for cell, move in moves.items():
        mids[cell].value += move
        bid, ask = (float(side) for side in quotes[cell].value.split("/"))
        quotes[cell].value = f"{bid + move:.3f}   /   {ask + move:.3f}"
    book.save(target)
    return target


def file_day(name: str) -> date | None:
    return file_name_date(detect_layout(name), name)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """EUGP around Easter 2026 (TARGET closed 3 and 6 April): 31 March; 1 April with two
    quarantined cells; 2 April twice (a corrected re-delivery); nothing for 7 April; 8 April;
    a corrupt file for 9 April; and tenant bolt's own upload of 10 April."""
    home = tmp_path_factory.mktemp("operations")
    settings = Settings(home=home / "home")
    lake, store = Lake(settings), Store.open(settings.store_url)
    for tenant, vendors in (("acme", ["EUGP"]), ("bolt", ["EUGP"]), ("cora", ["RP"])):
        tenancy.create_tenant(store, PLATFORM, tenant, tenant.title(), vendors)

    def ingest(path: Path, access: Access = PLATFORM) -> IngestReport:
        return ingest_file(path, lake=lake, store=store, settings=settings, access=access)

    def workbook(day: date, *faults: str) -> Path:
        name = workbook_name("EUGP", day)
        return write_workbook(home / "in" / name, vendor="EUGP", asof=day, faults=faults)

    reports = {
        "03-31": ingest(workbook(date(2026, 3, 31))),
        "04-01": ingest(workbook(date(2026, 4, 1), "text_price", "error_cell")),
        "04-02": ingest(workbook(date(2026, 4, 2))),
        "04-08": ingest(workbook(date(2026, 4, 8))),
    }
    original = home / "in" / workbook_name("EUGP", date(2026, 4, 2))
    reports["04-02 v2"] = ingest(correct(original, home / "fixed" / original.name, CORRECTED))
    corrupt = home / "bad" / workbook_name("EUGP", date(2026, 4, 9))
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"<html>not a workbook</html>")
    reports["04-09"] = ingest(corrupt)
    reports["04-10"] = ingest(workbook(date(2026, 4, 10), "bid_gt_ask"), BOLT)
    statuses = {day: r.status for day, r in reports.items()}
    assert statuses == {**{d: "published" for d in reports}, "04-09": "failed"}
    yield Env(settings, lake, store, Operations(lake, store), reports)
    store.close()


# -- quarantine -------------------------------------------------------------------------------


def test_quarantined_cells_come_with_their_reasons_as_the_lake_holds_them(env: Env):
    page = env.log("quarantine", vendor="EUGP", asof=date(2026, 4, 1))
    names = ", ".join(f'"{c}"' for c in QUARANTINE_COLUMNS)
    lake = Query(env.lake).sql(
        f"SELECT {names} FROM curve_observation_quarantine WHERE asof_date = DATE '2026-04-01'"
    )
    by_cell = lambda rows: sorted(rows, key=lambda row: row["source_cell"])  # noqa: E731
    assert by_cell(page.table.to_pylist()) == by_cell(lake.table.to_pylist())
    assert page.rows == lake.table.num_rows == 2
    cells = {
        (r["source_cell"], r["quarantine_reason"], r["raw_mid"]) for r in page.table.to_pylist()
    }
    assert cells == {
        ("'Fixed Prices - Mid'!C13", "mid_not_numeric", "n/a"),
        ("'Fixed Prices - Mid'!D14", "mid_error_cell", "#N/A"),
    }
    assert {r["run_id"] for r in page.table.to_pylist()} == {env.reports["04-01"].run_id}


def test_quarantine_filters_and_pages_in_one_order(env: Env):
    everything = env.log("quarantine").table.to_pylist()
    assert [r["asof_date"] for r in everything] == [date(2026, 4, 10), *[date(2026, 4, 1)] * 2]
    by_reason = env.log("quarantine", reason="mid_error_cell").table
    assert by_reason["source_cell"].to_pylist() == ["'Fixed Prices - Mid'!D14"]
    by_run = env.log("quarantine", run_id=env.reports["04-10"].run_id).table
    assert by_run.num_rows == 1 and "bid_gt_ask" in by_run["quarantine_reason"][0].as_py()
    pages = [env.log("quarantine", limit=1, offset=n) for n in range(3)]
    assert [p.table.to_pylist()[0] for p in pages] == everything
    assert [p.has_more for p in pages] == [True, True, False]
    span = env.log("quarantine", asof=(date(2026, 4, 2), date(2026, 4, 10)))
    assert span.rows == 1
    with pytest.raises(QueryError, match="after it ends"):
        env.log("quarantine", asof=(date(2026, 4, 2), date(2026, 4, 1)))


def test_a_tenant_sees_the_logs_of_its_vendors_and_of_runs_it_may_see(env: Env):
    # bolt's own upload is bolt's: acme, entitled to the same vendor, sees the platform's rows
    assert env.log("quarantine", ACME).rows == 2
    assert env.log("quarantine", BOLT).rows == 3
    assert env.log("quarantine", CORA).rows == 0
    assert env.log("dead_letters", CORA).rows == 0 and env.log("gates", CORA).rows == 0
    assert {r["run_id"] for r in env.log("gates", ACME).table.to_pylist()} <= {
        r.run_id for key, r in env.reports.items() if key != "04-10"
    }
    for name in ("quarantine", "dead_letters", "gates"):
        with pytest.raises(Forbidden, match="not entitled to EUGP"):
            env.log(name, CORA, vendor="EUGP")


# -- dead letters and rule outcomes -----------------------------------------------------------


def test_a_corrupt_file_is_a_dead_letter_with_its_error_code(env: Env):
    letters = env.log("dead_letters", vendor="EUGP").table.to_pylist()
    assert [(r["file"], r["error_code"], r["run_id"]) for r in letters] == [
        ("EOD_EUGP_20260409_1430.xlsx", "not_xlsx", env.reports["04-09"].run_id)
    ]
    assert letters[0]["raw_path"].endswith(".xlsx") and letters[0]["sha256"]
    today = datetime.now(UTC).date()
    assert env.log("dead_letters", failed=(today, today)).rows == 1
    assert env.log("dead_letters", failed=(date(2026, 4, 9), date(2026, 4, 9))).rows == 0
    assert env.log("dead_letters", error_code="layout_mismatch").rows == 0


def test_rule_outcomes_are_a_time_series_of_each_days_latest_run(env: Env):
    jumps = env.log("gates", rule="jump", stage="gate").table.to_pylist()
    assert [r["asof_date"] for r in jumps] == [
        date(2026, 3, 31), date(2026, 4, 1), date(2026, 4, 2), date(2026, 4, 8),
        date(2026, 4, 10),
    ]  # fmt: skip
    second = jumps[2]
    assert (second["runs"], second["run_id"]) == (2, env.reports["04-02 v2"].run_id)
    assert jumps[0]["checked"] == 0  # the first day has no day before it to jump from
    found = env.log(
        "gates", stage="parse", failed_only=True, asof=(date(2026, 4, 1), date(2026, 4, 1))
    )
    assert {(r["rule"], r["severity"], r["failed"]) for r in found.table.to_pylist()} == {
        ("mid_not_numeric", "quarantine", 1),
        ("mid_error_cell", "quarantine", 1),
        ("monthly_continuity", "warn", 2),
    }
    assert {r["checked"] for r in found.table.to_pylist()} == {11_483, 11_481}


# -- a day's versions and their diff ----------------------------------------------------------


def test_a_corrected_day_lists_both_versions(env: Env):
    found = env.operations.versions(PLATFORM, "EUGP", date(2026, 4, 2), env.history())
    first, second = env.reports["04-02"], env.reports["04-02 v2"]
    assert [(v["version"], v["tag"], v["current"]) for v in found] == [
        (1, "eod/EUGP/2026-04-02/v1", False),
        (2, "eod/EUGP/2026-04-02/v2", True),
    ]
    assert [v["sha256"] for v in found] == [first.parse.sha256, second.parse.sha256]
    assert [v["run_id"] for v in found] == [first.run_id, second.run_id]
    assert [v["snapshot_id"] for v in found] == [
        first.publication.snapshot_id, second.publication.snapshot_id,
    ]  # fmt: skip
    assert {v["file"] for v in found} == {"EOD_EUGP_20260402_1430.xlsx"}
    assert {v["rows"] for v in found} == {11_483}


def test_the_diff_of_two_versions_counts_the_cells_changed_biggest_first(env: Env):
    page = env.operations.version_diff(PLATFORM, "EUGP", date(2026, 4, 2), env.history())
    meta = page.extra
    assert (meta["version_from"], meta["version_to"]) == (1, 2)
    assert (meta["changed"], meta["added"], meta["removed"]) == (len(CORRECTED), 0, 0)
    assert meta["unchanged"] == 11_483 - len(CORRECTED)
    rows = page.table.to_pylist()
    assert [r["change"] for r in rows] == [3.0, 2.0, 1.0]
    assert {r["status"] for r in rows} == {"changed"}
    for row in rows:
        assert row["mid_to"] - row["mid_from"] == pytest.approx(row["change"])
        assert row["bid_to"] - row["bid_from"] == pytest.approx(row["change"], abs=2e-3)
    back = env.operations.version_diff(
        PLATFORM, "EUGP", date(2026, 4, 2), env.history(), first=2, second=1
    )
    assert [r["change"] for r in back.table.to_pylist()] == [-3.0, -2.0, -1.0]
    every = env.operations.version_diff(
        PLATFORM, "EUGP", date(2026, 4, 2), env.history(), statuses=("unchanged",), limit=5
    )
    assert every.rows == 5 and every.has_more and every.snapshot_id == meta_snapshot(env)


def meta_snapshot(env: Env) -> int:
    return env.reports["04-02 v2"].publication.snapshot_id


def test_a_diff_refuses_versions_the_day_does_not_have(env: Env):
    history = env.history()
    with pytest.raises(Unknown, match="no version 3") as raised:
        env.operations.version_diff(PLATFORM, "EUGP", date(2026, 4, 2), history, second=3)
    assert raised.value.code == "version_unknown"
    with pytest.raises(QueryError, match="two different versions"):
        env.operations.version_diff(PLATFORM, "EUGP", date(2026, 4, 2), history, first=2)
    with pytest.raises(Unknown, match="no version 0"):  # a day of one version has nothing before
        env.operations.version_diff(
            PLATFORM, "EUGP", date(2026, 3, 31), env.history(date(2026, 3, 31))
        )
    with pytest.raises(Unknown, match="published no version") as raised:
        env.operations.versions(PLATFORM, "EUGP", date(2026, 4, 7), env.history(date(2026, 4, 7)))
    assert raised.value.code == "day_unknown"
    with pytest.raises(Forbidden):
        env.operations.versions(CORA, "EUGP", date(2026, 4, 2), history)


# -- files owed and received ------------------------------------------------------------------


def test_expected_files_against_received_ones(env: Env):
    days = env.operations.files(
        PLATFORM, ["EUGP"], date(2026, 3, 30), date(2026, 4, 10), now=NOW, file_day=file_day
    )
    found = {d.asof_date.isoformat(): d for d in days}
    # Good Friday, Easter Monday and the weekend are owed nothing and received nothing
    assert list(found) == [
        "2026-03-30", "2026-03-31", "2026-04-01", "2026-04-02", "2026-04-07", "2026-04-08",
        "2026-04-09", "2026-04-10",
    ]  # fmt: skip
    states = {day: (d.state, d.overdue) for day, d in found.items()}
    assert states == {
        "2026-03-30": ("missing", True),
        "2026-03-31": ("published", False),
        "2026-04-01": ("published", False),
        "2026-04-02": ("published", False),
        "2026-04-07": ("missing", True),
        "2026-04-08": ("published", False),
        "2026-04-09": ("failed", True),  # placed by its file name: it never had an as-of
        "2026-04-10": ("published", False),
    }
    corrected = found["2026-04-02"]
    assert (corrected.version, corrected.tag) == (2, "eod/EUGP/2026-04-02/v2")
    assert [(f.status, f.version) for f in corrected.files] == [("published", 1), ("published", 2)]
    assert [f.run_id for f in corrected.files] == [
        env.reports["04-02"].run_id, env.reports["04-02 v2"].run_id,
    ]  # fmt: skip
    assert [(f.error_code, f.run_id) for f in found["2026-04-09"].files] == [
        ("not_xlsx", env.reports["04-09"].run_id)
    ]
    assert found["2026-04-07"].cutoff_at == datetime(2026, 4, 7, 14, 30, tzinfo=UTC)
    assert found["2026-04-10"].cutoff_passed is False


def test_a_day_before_its_cutoff_is_pending_and_another_tenants_file_is_not_shown(env: Env):
    monday = date(2026, 4, 13)
    before = datetime(2026, 4, 13, 14, 29, tzinfo=UTC)
    (pending,) = env.operations.files(PLATFORM, ["EUGP"], monday, monday, now=before)
    assert (pending.state, pending.overdue, pending.files) == ("pending", False, [])
    (late,) = env.operations.files(
        PLATFORM, ["EUGP"], monday, monday, now=before.replace(minute=30)
    )
    assert (late.state, late.overdue) == ("missing", True)
    friday = date(2026, 4, 10)
    (mine,) = env.operations.files(BOLT, ["EUGP"], friday, friday, now=NOW)
    (theirs,) = env.operations.files(ACME, ["EUGP"], friday, friday, now=NOW)
    assert [f.run_id for f in mine.files] == [env.reports["04-10"].run_id]
    assert (theirs.state, theirs.files) == ("published", [])  # published, by someone else


def test_files_refuse_a_bad_range_and_a_vendor_not_entitled(env: Env):
    with pytest.raises(QueryError, match="after it ends"):
        env.operations.files(PLATFORM, ["EUGP"], date(2026, 4, 2), date(2026, 4, 1), now=NOW)
    with pytest.raises(QueryError, match="at most 366 days") as raised:
        env.operations.files(PLATFORM, ["EUGP"], date(2025, 1, 1), date(2026, 1, 2), now=NOW)
    assert raised.value.code == "range_too_long"
    with pytest.raises(Forbidden):
        env.operations.files(CORA, ["EUGP"], date(2026, 4, 1), date(2026, 4, 1), now=NOW)


# -- a real workbook --------------------------------------------------------------------------


def test_a_real_workbooks_correction_diffs_to_the_one_cell_moved(workbooks_dir, tmp_path):
    settings = Settings(home=tmp_path / "home")
    lake, store = Lake(settings), Store.open(settings.store_url)
    try:
        original = workbooks_dir / "EOD_EUGP_20250917_1430.xlsx"
        # openpyxl saves some 3,000 other mids with a last digit Excel wrote otherwise: float
        # noise, not changes; the one price moved is EUA Dec-25 (format spec §11)
        fixed = correct(original, tmp_path / "fixed" / original.name, {"AW15": 1.5})
        for path in (original, fixed):
            ingest_file(path, lake=lake, store=store, settings=settings)
        day = date(2025, 9, 17)
        history = day_history(lake.current("curve_observation"), "EUGP", day)
        page = Operations(lake, store).version_diff(PLATFORM, "EUGP", day, history)
        (row,) = page.table.to_pylist()
        assert (row["location"], row["tenor_label"], row["change"]) == ("EUA", "2025-12", 1.5)
        assert row["mid_from"] == 76.9009667047427
        assert (page.extra["changed"], page.extra["unchanged"]) == (1, 11_482)
    finally:
        store.close()
