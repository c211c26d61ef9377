"""Crash safety and concurrency of write-audit-publish, with real processes.

A run is killed (``os._exit``, no clean-up at all) at every stage boundary: main must be exactly
as before, or exactly as after. Several processes publish at once: nothing is lost or doubled.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from aurum.config import Settings
from aurum.ingest.days import day_versions, publish_day
from aurum.ingest.pipeline import parse_workbook
from aurum.lake import Lake
from aurum.synthetic import workbook_name, write_workbook

DAY = date(2025, 9, 17)
SPAWN = multiprocessing.get_context("spawn")


def _publish(settings: Settings, path: str, run_id: str, die_at: str | None) -> str:
    """Runs in a child process: publish one file, or die abruptly at ``die_at``."""

    def pause(stage: str) -> None:
        if stage == die_at:
            os._exit(137)

    result = parse_workbook(path)
    publication = publish_day(
        Lake(settings), result.observations, vendor=result.vendor, asof=result.asof,
        sha256=result.sha256, run_id=run_id, gates=settings.gates, pause=pause,
    )  # fmt: skip
    return publication.status


def _child(settings: Settings, path: str, run_id: str, die_at: str | None) -> None:
    os._exit(0 if _publish(settings, path, run_id, die_at) in {"published", "duplicate"} else 3)


def run_child(settings: Settings, path: Path, run_id: str, die_at: str | None = None) -> int:
    process = SPAWN.Process(target=_child, args=(settings, str(path), run_id, die_at))
    process.start()
    process.join(120)
    assert process.exitcode is not None, "child hung"
    return process.exitcode


def workbook(tmp_path: Path, vendor: str, day: date = DAY, seed: int = 0) -> Path:
    target = tmp_path / "in" / f"s{seed}" / workbook_name(vendor, day)
    return write_workbook(target, vendor=vendor, asof=day, seed=seed)


def main_state(lake: Lake) -> tuple[int, int]:
    table = lake.table("curve_observation")
    return table.metadata.refs["main"].snapshot_id, table.scan().to_arrow().num_rows


@pytest.mark.parametrize("stage", ["branched", "staged", "audited", "published"])
def test_a_run_killed_at_any_stage_leaves_main_before_or_after(lake_settings, tmp_path, stage):
    lake = Lake(lake_settings)
    first = workbook(tmp_path, "PW", date(2025, 9, 16))
    assert run_child(lake_settings, first, "base") == 0
    before = main_state(lake)
    path = workbook(tmp_path, "PW")
    assert run_child(lake_settings, path, "doomed", die_at=stage) == 137
    after = main_state(lake)
    if stage == "published":  # killed after the commit: the day is in, whole
        assert after[0] != before[0] and after[1] == before[1] + 344
    else:  # killed before it: main untouched
        assert after == before
    # The next run publishes (or recognises) the day exactly once.
    assert run_child(lake_settings, path, "retry") == 0
    final = main_state(lake)
    assert final[1] == before[1] + 344
    assert list(day_versions(lake.table("curve_observation"), "PW", DAY)) == [1]


def test_concurrent_processes_on_different_vendors_lose_nothing(lake_settings, tmp_path):
    Lake(lake_settings)  # create the tables once, before the race
    jobs = [("PW", date(2025, 9, 15 + i)) for i in range(3)] + [("EUGP", date(2025, 9, 16))]
    processes = []
    for i, (vendor, day) in enumerate(jobs):
        path = workbook(tmp_path, vendor, day)
        process = SPAWN.Process(target=_child, args=(lake_settings, str(path), f"r{i}", None))
        processes.append(process)
    for process in processes:
        process.start()
    for process in processes:
        process.join(180)
    assert [p.exitcode for p in processes] == [0] * len(jobs)
    rows = Lake(lake_settings).table("curve_observation").scan().to_arrow()
    counts = {c["values"]: c["counts"] for c in pc.value_counts(rows["vendor"]).to_pylist()}
    assert counts == {"PW": 3 * 344, "EUGP": 11_483}
    table = Lake(lake_settings).table("curve_observation")
    assert not [name for name in table.metadata.refs if name.startswith("eod_")]


def test_the_same_file_twice_at_once_is_one_version(lake_settings, tmp_path):
    Lake(lake_settings)
    path = workbook(tmp_path, "PW")
    processes = [
        SPAWN.Process(target=_child, args=(lake_settings, str(path), f"twin{i}", None))
        for i in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0, 0]
    lake = Lake(lake_settings)
    assert main_state(lake)[1] == 344
    assert list(day_versions(lake.table("curve_observation"), "PW", DAY)) == [1]
