"""The drop-folder watcher: complete files once, across restarts; partial files wait."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from aurum.auth.access import PLATFORM
from aurum.config import Settings
from aurum.ingest.history import ingest_runs
from aurum.ingest.watch import Watcher
from aurum.lake import Lake
from aurum.store import Store
from aurum.synthetic import workbook_name, write_workbook

DAY = date(2025, 9, 17)


@pytest.fixture
def parts(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    drop = tmp_path / "drop"
    drop.mkdir()
    store = Store.open(settings.store_url)
    yield drop, Lake(settings), store, settings
    store.close()


def statuses(reports) -> list[tuple[str, str]]:
    return [(r.parse.file, r.status) for r in reports]


def test_files_are_ingested_once_when_complete_and_never_again(parts, tmp_path):
    drop, lake, store, settings = parts
    source = write_workbook(tmp_path / "src" / workbook_name("PW", DAY), vendor="PW", asof=DAY)
    watcher = Watcher(drop, lake, store, settings, settle=1)
    # arriving in pieces: the first half, then the whole file
    data = source.read_bytes()
    (drop / source.name).write_bytes(data[: len(data) // 2])
    assert watcher.poll() == []
    (drop / source.name).write_bytes(data)
    assert watcher.poll() == []  # changed since the last poll: not settled yet
    assert statuses(watcher.poll()) == [(source.name, "published")]
    assert watcher.poll() == []
    # a restarted watcher, and the same content under another name: nothing twice
    shutil.copy(source, drop / "EOD_PW_20250917_1430 (copy).xlsx")
    again = Watcher(drop, lake, store, settings, settle=1)
    assert again.poll() == [] and again.poll() == []
    assert len(ingest_runs(store, PLATFORM)) == 1


def test_temporary_files_are_left_alone_and_bad_files_dead_lettered_once(parts):
    drop, lake, store, settings = parts
    (drop / ".EOD_PW_20250917_1430.xlsx").write_bytes(b"hidden")
    (drop / "EOD_PW_20250917_1430.xlsx.part").write_bytes(b"in transit")
    (drop / "~$EOD_PW_20250917_1430.xlsx").write_bytes(b"excel lock")
    (drop / "EOD_PW_20250918_1430.xlsx").write_bytes(b"not a workbook at all")
    watcher = Watcher(drop, lake, store, settings, settle=1)
    watcher.poll()
    assert statuses(watcher.poll()) == [("EOD_PW_20250918_1430.xlsx", "failed")]
    assert Watcher(drop, lake, store, settings, settle=1).poll() == []
    assert [run.error_code for run in ingest_runs(store, PLATFORM)] == ["not_xlsx"]
