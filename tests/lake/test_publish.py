"""Write-audit-publish on a real (SQLite-catalog, local-warehouse) lake."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from aurum.config import GateSettings
from aurum.ingest.days import day_versions, publish_day
from aurum.ingest.pipeline import parse_workbook
from aurum.lake import Lake
from aurum.synthetic import workbook_name, write_workbook

DAY1, DAY2 = date(2025, 9, 16), date(2025, 9, 17)


def parsed(tmp_path: Path, vendor: str, day: date, seed: int = 0):
    target = tmp_path / f"s{seed}" / workbook_name(vendor, day)
    path = write_workbook(target, vendor=vendor, asof=day, seed=seed)
    result = parse_workbook(path)
    assert result.dead_letter is None
    return result


def publish(lake: Lake, result, run: str, gates: GateSettings | None = None, pause=None):
    return publish_day(
        lake, result.observations, vendor=result.vendor, asof=result.asof, sha256=result.sha256,
        run_id=run, gates=gates or GateSettings(), pause=pause,
    )  # fmt: skip


def main_rows(lake: Lake, snapshot_id: int | None = None) -> pa.Table:
    return lake.table("curve_observation").scan(snapshot_id=snapshot_id).to_arrow()


def test_days_accumulate_and_each_publish_is_tagged(lake, tmp_path):
    pw1, pw2 = parsed(tmp_path, "PW", DAY1), parsed(tmp_path, "PW", DAY2)
    first = publish(lake, pw1, "r1")
    second = publish(lake, pw2, "r2")
    assert (first.status, first.version, first.tag) == ("published", 1, "eod/PW/2025-09-16/v1")
    assert (second.status, second.tag) == ("published", "eod/PW/2025-09-17/v1")
    rows = main_rows(lake)
    assert rows.num_rows == pw1.observations.num_rows + pw2.observations.num_rows
    table = lake.table("curve_observation")
    assert "eod_pw_20250917_r2" not in table.metadata.refs  # the branch is gone
    snapshot = table.snapshot_by_id(second.snapshot_id)
    assert snapshot.parent_snapshot_id == first.snapshot_id  # main moved by fast-forward
    log = [entry.snapshot_id for entry in table.metadata.snapshot_log]
    assert log[-2:] == [first.snapshot_id, second.snapshot_id]  # main's history: whole days
    assert snapshot.summary["aurum.run_id"] == "r2"


def test_identical_redelivery_is_a_duplicate_and_changes_nothing(lake, tmp_path):
    pw = parsed(tmp_path, "PW", DAY1)
    publish(lake, pw, "r1")
    before = lake.table("curve_observation").current_snapshot().snapshot_id
    again = publish(lake, pw, "r2")
    table = lake.table("curve_observation")
    assert (again.status, again.version) == ("duplicate", 1)
    assert table.current_snapshot().snapshot_id == before
    assert not [name for name in table.metadata.refs if name.startswith("eod_")]


def test_a_correction_is_version_two_and_version_one_stays_readable(lake, tmp_path):
    original = parsed(tmp_path, "PW", DAY1, seed=0)
    corrected = parsed(tmp_path, "PW", DAY1, seed=1)  # same day, other prices, other bytes
    v1 = publish(lake, original, "r1")
    v2 = publish(lake, corrected, "r2")
    assert (v2.status, v2.version, v2.tag) == ("published", 2, "eod/PW/2025-09-16/v2")
    now = main_rows(lake)
    assert now.num_rows == corrected.observations.num_rows  # the partition was replaced
    assert pc.sum(now["mid"]).as_py() == pytest.approx(
        pc.sum(corrected.observations["mid"]).as_py()
    )
    table = lake.table("curve_observation")
    assert day_versions(table, "PW", DAY1) == {1: v1.snapshot_id, 2: v2.snapshot_id}
    old = main_rows(lake, table.snapshot_by_name("eod/PW/2025-09-16/v1").snapshot_id)
    assert pc.sum(old["mid"]).as_py() == pytest.approx(pc.sum(original.observations["mid"]).as_py())


def test_other_vendors_partitions_survive_a_publish(lake, tmp_path):
    publish(lake, parsed(tmp_path, "PW", DAY1), "r1")
    eugp = parsed(tmp_path, "EUGP", DAY1)
    publish(lake, eugp, "r2")
    counts = pc.value_counts(main_rows(lake)["vendor"]).to_pylist()
    assert {c["values"]: c["counts"] for c in counts} == {"PW": 344, "EUGP": 11_483}


def test_a_failing_gate_leaves_main_untouched_and_keeps_the_branch(lake, tmp_path):
    publish(lake, parsed(tmp_path, "PW", DAY1), "r1")
    before = lake.table("curve_observation").current_snapshot().snapshot_id
    day2 = parsed(tmp_path, "PW", DAY2)
    fewer = day2.observations.filter(pc.not_equal(day2.observations["curve_key"],
                                                  day2.observations["curve_key"][0]))  # fmt: skip
    strict = GateSettings(curve_disappeared="fail")
    result = publish_day(lake, fewer, vendor="PW", asof=DAY2, sha256=day2.sha256, run_id="r2",
                         gates=strict)  # fmt: skip
    table = lake.table("curve_observation")
    assert result.status == "failed" and result.gate_failures == ("curve_disappeared",)
    assert table.current_snapshot().snapshot_id == before
    assert result.branch in table.metadata.refs
    gone = {g.rule: g.failed for g in result.checks}["curve_disappeared"]
    assert gone == 1


def test_main_moving_during_staging_forces_a_restage_without_loss(lake, tmp_path):
    pw, eugp = parsed(tmp_path, "PW", DAY1), parsed(tmp_path, "EUGP", DAY1)
    interloper = []

    def pause(stage):
        if stage == "audited" and not interloper:
            interloper.append(publish(lake, eugp, "other"))  # another run publishes first

    result = publish(lake, pw, "r1", pause=pause)
    assert interloper[0].status == "published"
    assert result.status == "published" and result.attempts == 2
    vendors = set(main_rows(lake)["vendor"].to_pylist())
    assert vendors == {"PW", "EUGP"} and main_rows(lake).num_rows == 344 + 11_483
