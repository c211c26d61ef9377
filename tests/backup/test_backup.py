"""``aurum backup`` / ``restore``: the restore drill (a backup taken while another process
ingests, restored to a fresh home, every published day compared), runs caught mid-publish,
incremental backups, and every way a backup or a target can be wrong."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from aurum.backup import Repository, backup, restore
from aurum.cli.main import app
from aurum.config import Settings
from aurum.errors import BackupError
from aurum.ingest.runner import backfill, ingest_file
from aurum.lake import Lake
from aurum.lineage import journal_path, read_journal
from aurum.store import Store
from aurum.store.runs import RunRecord


def _rows(lake: Lake, table: str, snapshot_id: int) -> pa.Table:
    rows = lake.table(table).scan(snapshot_id=snapshot_id).to_arrow()
    keys = [
        c for c in ("curve_key", "asof_date", "tenor_label", "price_type") if c in rows.schema.names
    ]
    return rows.sort_by([(k, "ascending") for k in keys]) if keys else rows


def _tags(lake: Lake, table: str) -> dict[str, int]:
    return {
        name: ref.snapshot_id
        for name, ref in lake.table(table).metadata.refs.items()
        if ref.snapshot_ref_type.value == "tag"
    }


def _runs(settings: Settings) -> list[dict[str, Any]]:
    engine = sa.create_engine(settings.store_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(RunRecord.__table__)).mappings().all()
    engine.dispose()
    return [dict(r) for r in rows]


@pytest.fixture
def workbooks(synthetic_days: Any) -> list[Path]:
    first = date(2025, 9, 1)
    return sorted(
        [*synthetic_days("EUGP", first, 4), *synthetic_days("PW", first, 4),
         *synthetic_days("RP", first, 2)],
        key=lambda p: p.name[-18:],  # as-of order, vendors interleaved
    )  # fmt: skip


def test_restore_drill_backup_during_ingest_restores_every_published_day(
    tmp_path: Path, workbooks: list[Path]
) -> None:
    source = Settings(home=tmp_path / "source")
    with Store.connect(source) as store:
        backfill(workbooks[:2], lake=Lake(source), store=store, settings=source)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for path in workbooks[2:]:
        (inbox / path.name).write_bytes(path.read_bytes())
    environment = {**os.environ, "AURUM_HOME": str(source.home)}
    ingest = subprocess.Popen(
        [Path(sys.executable).parent / "aurum", "ingest", str(inbox)], env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    repository = tmp_path / "backups"
    during = []  # backups that finished while the other process was still ingesting
    while ingest.poll() is None:
        made = backup(source, repository)
        if ingest.poll() is None:
            during.append(made)
    _, err = ingest.communicate()
    assert ingest.returncode == 0, err.decode()
    assert during, "the ingest finished before a backup could overlap it"
    chosen = during[0]
    # later backups reused the files earlier ones copied
    assert all(b.reused for b in during[1:])

    target = Settings(home=tmp_path / "restored")
    report = restore(target, repository, chosen.manifest.backup_id)
    assert report.relocated and report.tables == len(chosen.manifest.tables)

    source_lake, target_lake = Lake(source), Lake(target)
    # every tag the restored lake shows is a published day of the source, row for row
    restored_tags = _tags(target_lake, "curve_observation")
    source_tags = _tags(source_lake, "curve_observation")
    assert restored_tags and set(restored_tags) <= set(source_tags)
    for tag, snapshot_id in restored_tags.items():
        assert snapshot_id == source_tags[tag]
        assert _rows(target_lake, "curve_observation", snapshot_id).equals(
            _rows(source_lake, "curve_observation", snapshot_id)
        ), tag
    # every table's main is a snapshot of the source, with the same rows
    for name in chosen.manifest.tables:
        main = target_lake.table(name).metadata.refs["main"].snapshot_id
        assert _rows(target_lake, name, main).equals(_rows(source_lake, name, main)), name
    # the store agrees with the catalog: nothing left in flight, every published run's tag there
    runs = _runs(target)
    assert runs and not [r for r in runs if r["status"] in ("running", "staged")]
    for run in runs:
        if run["status"] == "published" and run["dataset"] == "curve_observation":
            assert run["tag"] in restored_tags, run["run_id"]
    # the raw archive came along: every published run's delivered file is there
    archived = {p.name for p in (target.home / "warehouse" / "raw").rglob("*.xlsx")}
    assert {f"{r['sha256']}.xlsx" for r in runs if r["status"] == "published"} <= archived
    # so did the lineage journal, up to the catalog's read: the first lines of the source's,
    # every version it says a run wrote is in the restored lake, every restored day has its run
    restored_journal = journal_path(target).read_bytes()
    assert journal_path(source).read_bytes().startswith(restored_journal)
    assert restored_journal.count(b"\n") == chosen.manifest.lineage_events == report.lineage_events
    journal = read_journal(journal_path(target))
    assert journal.skipped == 0
    written = {v.tag: run for run in journal.runs.values() for v in run.outputs if v.tag}
    assert {tag for tag in written if tag.startswith("eod/")} <= set(restored_tags)
    for tag in restored_tags:
        assert (written[tag].state, written[tag].status) == ("COMPLETE", "published"), tag

    # the restored installation works: the rest of the deliveries ingest, re-deliveries are
    # duplicates of what it already had
    with Store.connect(target) as store:
        reports = backfill(workbooks, lake=target_lake, store=store, settings=target)
    statuses = {Path(r.parse.file).name: r.status for r in reports}
    for path in workbooks:
        _, vendor, day, _ = path.name.split("_")
        tag = f"eod/{vendor}/{day[:4]}-{day[4:6]}-{day[6:]}/v1"
        assert statuses[path.name] == ("duplicate" if tag in restored_tags else "published")
    assert set(_tags(Lake(target), "curve_observation")) == set(source_tags)


@pytest.mark.parametrize(("stage", "settled", "tagged"), [
    ("staged", {"failed": 1}, False),  # caught before its catalog commit
    ("published", {"published": 1}, True),  # committed, not yet recorded in the store
])  # fmt: skip
def test_a_run_caught_mid_publish_is_settled_from_the_catalog(
    tmp_path: Path, workbooks: list[Path], stage: str, settled: dict[str, int], tagged: bool
) -> None:
    source = Settings(home=tmp_path / "source")
    repository = tmp_path / "backups"
    made: list[str] = []

    def back_up_now(at: str) -> None:
        if at == stage:
            made.append(backup(source, repository).manifest.backup_id)

    with Store.connect(source) as store:
        report = ingest_file(
            workbooks[0], lake=Lake(source), store=store, settings=source, pause=back_up_now
        )
    assert report.status == "published" and len(made) == 1
    target = Settings(home=tmp_path / "restored")
    restored = restore(target, repository, made[0])
    assert restored.settled == settled
    (run,) = _runs(target)
    tag = report.publication.tag
    assert run["status"] == next(iter(settled))
    assert (tag in _tags(Lake(target), "curve_observation")) is tagged
    assert (run["tag"] == tag) is tagged
    # the staged branch of the unfinished run is gone; nothing but main and tags remain
    refs = Lake(target).table("curve_observation").metadata.refs
    assert {n for n, r in refs.items() if r.snapshot_ref_type.value == "branch"} == {"main"}


@pytest.fixture
def small(tmp_path: Path, workbooks: list[Path]) -> tuple[Settings, Path]:
    source = Settings(home=tmp_path / "source")
    with Store.connect(source) as store:
        backfill(workbooks[:2], lake=Lake(source), store=store, settings=source)
    return source, tmp_path / "backups"


def test_a_second_backup_copies_only_what_is_new(small: tuple[Settings, Path], workbooks) -> None:
    source, repository = small
    first = backup(source, repository)
    assert first.copied == len(first.manifest.files) and first.reused == 0
    assert repository.stat().st_mode & 0o777 == 0o700  # webhook secrets, key digests inside
    again = backup(source, repository)
    assert (again.copied, again.reused) == (0, len(first.manifest.files))
    # the metadata tree was read once: the second backup found every list in the index
    assert first.tree_read > 0 and again.tree_read == 0
    assert again.manifest.files == first.manifest.files
    with Store.connect(source) as store:
        backfill(workbooks[2:3], lake=Lake(source), store=store, settings=source)
    third = backup(source, repository)
    assert 0 < third.copied < len(third.manifest.files)
    def tree(made: Any) -> set[str]:
        return {f.path for f in made.manifest.files if f.kind in ("manifest", "manifest_list")}

    assert third.tree_read == len(tree(third) - tree(again)) > 0  # only the new ones were read
    # a damaged index is only a lost shortcut: the tree is read again, the same files found
    (repository / "index.json.gz").write_bytes(b"not gzip")
    fourth = backup(source, repository)
    assert fourth.tree_read > third.tree_read and fourth.manifest.files == third.manifest.files
    saved = Repository(repository).index()  # rebuilt, and holding only the tree's files
    files = {f"{fourth.manifest.warehouse}/{f.path}" for f in fourth.manifest.files}
    assert saved.lists and set(saved.lists) | set(saved.manifests) <= files
    assert [m.backup_id for m in Repository(repository).backups()] == [
        b.manifest.backup_id for b in (first, again, third, fourth)
    ]
    # a backup reads the latest backup's manifest only, not every earlier one's
    (repository / "backups" / first.manifest.backup_id / "manifest.json").write_text("{")
    fifth = backup(source, repository)
    assert (fifth.copied, fifth.tree_read) == (0, 0)


def test_a_damaged_file_fails_the_restore_before_the_catalog_sees_anything(
    small: tuple[Settings, Path], tmp_path: Path
) -> None:
    source, repository = small
    made = backup(source, repository).manifest
    data = next(f for f in made.files if f.kind == "data")
    damaged = repository / "objects" / data.path
    original = damaged.read_bytes()
    damaged.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    target = Settings(home=tmp_path / "restored")
    with pytest.raises(BackupError, match="not the file that was backed up") as caught:
        restore(target, repository)
    assert caught.value.code == "backup_damaged"
    catalog = sa.create_engine(target.catalog_url)
    with catalog.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM iceberg_tables").scalar() == 0
    catalog.dispose()
    # repaired, the same target takes the restore (nothing half-done stands in the way)
    damaged.write_bytes(original)
    assert restore(target, repository).tables == len(made.tables)


def test_a_damaged_lineage_journal_fails_the_restore_before_anything_changes(
    small: tuple[Settings, Path], tmp_path: Path
) -> None:
    source, repository = small
    made = backup(source, repository).manifest
    assert made.lineage_events > 0
    saved = repository / "backups" / made.backup_id / "lineage.jsonl.gz"
    original = saved.read_bytes()
    target = Settings(home=tmp_path / "restored")
    for broken, says in (
        (original[: len(original) // 2], "cannot be read"),  # cut short
        (gzip.compress(gzip.decompress(original).replace(b"COMPLETE", b"COMPLETED", 1)),
         "its SHA-256 differs"),  # another journal
    ):  # fmt: skip
        saved.write_bytes(broken)
        with pytest.raises(BackupError, match=says) as caught:
            restore(target, repository)
        assert caught.value.code == "backup_damaged"
        assert not [p for p in target.home.joinpath("warehouse").rglob("*") if p.is_file()]
        assert not list(target.home.joinpath("lineage").glob("*"))
    # repaired: a line the target's journal already had stays, after the restored ones
    saved.write_bytes(original)
    journal_path(target).write_text('{"newer": true}\n')
    assert restore(target, repository).lineage_events == made.lineage_events
    assert journal_path(target).read_bytes() == gzip.decompress(original) + b'{"newer": true}\n'
    # a journal that survived (a shared volume) begins with the backup's lines: not put twice
    again = Settings(home=tmp_path / "again")
    survived = gzip.decompress(original) + b'{"after": true}\n'
    journal_path(again).parent.mkdir(parents=True)
    journal_path(again).write_bytes(survived)
    restore(again, repository)
    assert journal_path(again).read_bytes() == survived


def test_a_missing_file_and_a_malformed_manifest_are_named(
    small: tuple[Settings, Path], tmp_path: Path
) -> None:
    source, repository = small
    made = backup(source, repository).manifest
    manifest = repository / "backups" / made.backup_id / "manifest.json"
    (repository / "objects" / next(f.path for f in made.files if f.kind == "manifest")).unlink()
    with pytest.raises(BackupError, match="missing from the backup"):
        restore(Settings(home=tmp_path / "a"), repository)
    manifest.write_text(manifest.read_text()[:200])
    with pytest.raises(BackupError, match="not a readable backup manifest") as caught:
        restore(Settings(home=tmp_path / "b"), repository)
    assert caught.value.code == "backup_damaged" and str(manifest) in str(caught.value)


def test_restore_refuses_a_target_that_is_not_empty_or_a_backup_of_another_schema(
    small: tuple[Settings, Path], tmp_path: Path
) -> None:
    source, repository = small
    made = backup(source, repository).manifest
    with pytest.raises(BackupError) as caught:
        restore(source, repository)  # onto the installation itself
    assert caught.value.code == "catalog_not_empty"
    other = Settings(home=tmp_path / "other")
    with Store.connect(other) as store:  # a store with rows, no lake yet
        from aurum import tenancy
        from aurum.auth.access import PLATFORM

        tenancy.create_tenant(store, PLATFORM, "acme", "Acme", ["PW"])
    with pytest.raises(BackupError) as caught:
        restore(other, repository)
    assert caught.value.code == "store_not_empty"
    path = repository / "backups" / made.backup_id / "manifest.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "store_revision": "0007"}))
    with pytest.raises(BackupError, match="restore with Aurum") as caught:
        restore(Settings(home=tmp_path / "fresh"), repository)
    assert caught.value.code == "store_revision_mismatch"


def test_an_interrupted_backup_is_ignored_and_nothing_is_backed_up_from_nowhere(
    small: tuple[Settings, Path], tmp_path: Path
) -> None:
    source, repository = small
    made = backup(source, repository).manifest
    (repository / "backups" / "20991231T000000Z-abcdef.partial").mkdir()
    assert [m.backup_id for m in Repository(repository).backups()] == [made.backup_id]
    nowhere = Settings(home=tmp_path / "nowhere")
    with pytest.raises(BackupError) as caught:
        backup(nowhere, repository)
    assert caught.value.code == "nothing_to_back_up" and not nowhere.home.exists()
    assert not list((repository / "backups").glob("*.partial"))[1:]  # its folder was removed
    with pytest.raises(BackupError, match="no complete backup 'nope'"):
        restore(Settings(home=tmp_path / "x"), repository, "nope")


def test_the_commands_say_what_they_did_in_one_screen(
    small: tuple[Settings, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, repository = small
    runner = CliRunner()
    monkeypatch.setenv("AURUM_HOME", str(source.home))
    made = runner.invoke(app, ["backup", str(repository)])
    assert made.exit_code == 0, made.output
    assert "files" in made.output and "copied" in made.output
    lines = [line for line in made.output.splitlines() if str(repository) not in line]
    assert lines and max(len(line) for line in lines) <= 80
    listed = runner.invoke(app, ["backup", str(repository), "--list", "--json"])
    (entry,) = json.loads(listed.output)
    monkeypatch.setenv("AURUM_HOME", str(tmp_path / "restored"))
    done = runner.invoke(app, ["restore", str(repository), "--json"])
    assert done.exit_code == 0, done.output
    answer = json.loads(done.output)
    assert answer["backup_id"] == entry["backup_id"] and answer["relocated"] is True
    again = runner.invoke(app, ["restore", str(repository)])
    assert again.exit_code == 2 and "catalog_not_empty" in again.output
    assert "Traceback" not in again.output
