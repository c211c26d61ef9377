"""The drop-folder watcher: complete files once, across restarts; partial files wait."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from aurum.auth.access import PLATFORM
from aurum.config import GateSettings, Settings
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


def test_every_file_left_alone_is_said_why(parts, tmp_path):
    """F3: skipped files (already ingested, lock files, subfolders) were passed over in silence."""
    drop, lake, store, settings = parts
    source = write_workbook(drop / workbook_name("PW", DAY), vendor="PW", asof=DAY)
    shutil.copy(source, drop / "renamed copy.XLSX")
    (drop / "~$lock.xlsx").write_bytes(b"lock")
    (drop / "notes.txt").write_text("hello")
    (drop / "sub").mkdir()
    told = []
    watcher = Watcher(drop, lake, store, settings, settle=1, on_skip=told.append)
    watcher.poll()
    assert watcher.pending
    assert statuses(watcher.poll()) == [(source.name, "published")]
    assert not watcher.pending
    reasons = {item.path.name: item.reason for item in told}
    assert reasons == {
        "~$lock.xlsx": "an Excel lock file (the workbook is open in Excel)",
        "notes.txt": "not an .xlsx file",
        "sub": "a folder (watch does not look into subfolders)",
        "renamed copy.XLSX": reasons["renamed copy.XLSX"],
    }
    assert reasons["renamed copy.XLSX"].startswith("already published as eod/PW/2025-09-17/v1")
    watcher.poll()
    assert len(told) == 4  # each said once


def test_a_failed_file_is_tried_again_when_it_or_the_settings_change(parts, tmp_path):
    """B5: after a failed gate was set back to warn, the watcher skipped the file for good
    ("seen"), and only a manual ingest published it."""
    drop, lake, store, settings = parts
    for day in (date(2025, 9, 16), DAY):
        write_workbook(drop / workbook_name("PW", day), vendor="PW", asof=day)
    strict = Settings(home=settings.home, gates=GateSettings(jump="fail", jump_z=0.01))
    watcher = Watcher(drop, lake, store, strict, settle=1)
    watcher.poll()
    assert [s for _, s in statuses(watcher.poll())] == ["published", "failed"]
    told = []
    restarted = Watcher(drop, lake, store, strict, settle=1, on_skip=told.append)
    restarted.poll()
    assert restarted.poll() == []  # the same file, the same settings: it would fail again
    assert [(item.status, item.reason.split(" (")[0]) for item in told] == [
        ("published", "already published as eod/PW/2025-09-16/v1"), ("failed", "failed before"),
    ]  # fmt: skip
    relaxed = Settings(home=settings.home, gates=GateSettings(jump="warn", jump_z=0.01))
    again = Watcher(drop, lake, store, relaxed, settle=1)
    again.poll()
    assert statuses(again.poll()) == [(workbook_name("PW", DAY), "published")]
    # and a file that changes is tried again whatever the settings
    bad = drop / "EOD_PW_20250918_1430.xlsx"
    bad.write_bytes(b"not yet")
    watcher = Watcher(drop, lake, store, settings, settle=1)
    watcher.poll()
    assert statuses(watcher.poll()) == [(bad.name, "failed")]
    write_workbook(bad, vendor="PW", asof=date(2025, 9, 18))
    watcher.poll()
    assert statuses(watcher.poll()) == [(bad.name, "published")]
