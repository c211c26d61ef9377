"""Backup, restore and migration of a whole installation: store, catalog, warehouse, raw archive
and the lineage journal.

**Consistency.** A backup reads the store first (one snapshot of every table), then the catalog
(every table's metadata pointer in one statement), then copies the files those pointers need
(Iceberg files are immutable, so copying after the pointers were read is safe while ingest goes
on). A run the store saw in flight may therefore be published in the catalog: restore expires
its lease and recovery settles it from the catalog, exactly as after a crash. A run that started
after the store was read is not in the backup; its version, if the catalog already had it, is
(it carries its run id in its snapshot summary). The catalog is registered only once every file
is in place, so a restored lake never shows a tag whose files are missing.

**Restore** goes to an empty installation (the catalog has none of the namespace's tables, the
store has no rows); to another warehouse it rewrites the metadata tree (see
:mod:`aurum.backup.files`). **Migration** is a backup of one installation restored into another
(``aurum migrate``: embedded to cluster), then compared ref by ref.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow.fs as pafs
import sqlalchemy as sa
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.table.refs import SnapshotRefType
from sqlalchemy.orm import Session

from aurum._version import __version__
from aurum.backup.files import (
    Place,
    TreeIndex,
    Warehouse,
    rewrite_avro,
    rewrite_metadata,
    table_files,
)
from aurum.backup.manifest import METADATA_KINDS, BackupFile, Manifest, relative
from aurum.config import Settings
from aurum.errors import BackupError
from aurum.lake import Lake
from aurum.lake.catalog import io_properties, open_catalog
from aurum.lineage import journal_path
from aurum.store import Store
from aurum.store.dump import StoreDump, check_empty, dump_store, load_store
from aurum.store.engine import create_engine, head_revision

__all__ = [
    "BackupReport",
    "Progress",
    "Repository",
    "RestoreReport",
    "backup",
    "migrate",
    "restore",
]

LINEAGE = "lineage.jsonl.gz"  # a backup's lineage journal, beside its manifest
_CHUNK = 1 << 20

log = logging.getLogger("aurum.backup")

# (phase, done, total): called as work advances, for a progress bar.
Progress = Callable[[str, int, int], None]
_THREADS = 8  # copies in flight: object storage is latency-bound


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None


@dataclass(frozen=True)
class BackupReport:
    manifest: Manifest
    path: Path
    copied: int  # files copied by this backup
    copied_bytes: int
    reused: int  # files an earlier backup in the repository already holds
    seconds: float
    tree_read: int = 0  # manifest lists and manifests read (the rest known from earlier backups)


@dataclass(frozen=True)
class RestoreReport:
    backup_id: str
    warehouse: str
    relocated: bool  # restored to another warehouse: the metadata tree was rewritten
    tables: int
    refs: int  # branches and tags, each checked against the backup
    files: int
    bytes: int
    store_rows: int
    lineage_events: int  # lineage journal lines restored
    settled: dict[str, int]  # runs in flight at the backup, by how recovery settled them
    seconds: dict[str, float] = field(default_factory=dict)


class Repository:
    """A backup repository: a local folder (see :mod:`aurum.backup.manifest`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = Place(pafs.LocalFileSystem(), str((root / "objects").absolute()))

    @property
    def folder(self) -> Path:
        return self.root / "backups"

    def backups(self) -> list[Manifest]:
        """Every complete backup, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [
            Manifest.from_json(path.read_text(encoding="utf-8"), str(path))
            for path in self.folder.glob("*/manifest.json")
        ]
        return sorted(found, key=lambda m: m.started_at)

    def manifest(self, backup_id: str | None = None) -> Manifest:
        """The backup ``backup_id``, or the newest."""
        if not self.root.is_dir():
            raise BackupError("backup_missing", f"{self.root} is not a folder of backups")
        if backup_id is None:
            found = self.backups()
            if not found:
                raise BackupError("backup_missing", f"{self.root} holds no complete backup")
            return found[-1]
        path = self.folder / backup_id / "manifest.json"
        if not path.is_file():
            known = [m.backup_id for m in self.backups()]
            raise BackupError(
                "backup_missing",
                f"no complete backup {backup_id!r} in {self.root}"
                + (f" (it has {', '.join(known[-5:])})" if known else ""),
            )
        return Manifest.from_json(path.read_text(encoding="utf-8"), str(path))

    def index(self) -> TreeIndex:
        """What earlier backups read of the metadata tree (empty when there is none, or it
        cannot be read: it is only a shortcut, rebuilt by reading the tree again)."""
        try:
            return TreeIndex.from_json(gzip.decompress(self._index.read_bytes()))
        except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError):
            return TreeIndex()

    def save_index(self, index: TreeIndex) -> None:
        """Keep ``index`` for the next backup; a failure only costs that backup a re-read."""
        partial = self._index.with_name(f"{self._index.name}.{secrets.token_hex(4)}.partial")
        try:
            partial.write_bytes(gzip.compress(index.to_json(), compresslevel=1))
            os.replace(partial, self._index)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            log.warning("the backup index %s was not saved (%s): the next backup reads the"
                        " whole metadata tree again", self._index, exc)  # fmt: skip

    @property
    def _index(self) -> Path:
        return self.root / "index.json.gz"

    def held(self) -> dict[str, BackupFile]:
        """The files the latest backup holds, by path: a later backup reuses what is still
        there. One manifest is read, not every backup's (a backup every 15 minutes makes
        thousands): the tree's files are immutable and never come back once expired, so what a
        new backup can reuse the latest one has."""
        if not self.folder.is_dir():
            return {}
        ids = sorted(path.parent.name for path in self.folder.glob("*/manifest.json"))
        if not ids:
            return {}
        return {f.path: f for f in self.manifest(ids[-1]).files}  # ids start with their time


def backup(settings: Settings, root: Path, *, progress: Progress = _quiet) -> BackupReport:
    """Back up the installation ``settings`` name into the repository at ``root``."""
    began = time.perf_counter()
    repository = Repository(root)
    started_at = datetime.now(UTC)
    # to the microsecond: ids sort as the backups started (held() takes the last)
    backup_id = f"{started_at:%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(3)}"
    # the store dump holds tenants' documents, key digests and webhook secrets: a repository
    # made here is its owner's alone (one that exists keeps the permissions it was given)
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = repository.folder / f"{backup_id}.partial"
    partial.mkdir(parents=True)
    try:
        dump = _dump(settings, partial / "store")
        props = io_properties(settings.lake)
        warehouse = Warehouse(settings.warehouse, props)
        catalog = open_catalog(settings.catalog_url, warehouse.uri, props)
        namespace = settings.lake.namespace
        # the journal just before the pointers: a run appends its COMPLETE after its publish,
        # so every version the copy tells of is one the pointers hold
        journal = _save_journal(journal_path(settings), partial / LINEAGE)
        tables = _pointers(catalog, namespace)
        catalog_at = datetime.now(UTC)
        if not tables:
            raise BackupError(
                "nothing_to_back_up",
                f"the catalog at {_safe(settings.catalog_url)} has no table in {namespace!r}",
            )
        wanted: dict[str, Any] = {}
        index = repository.index()
        for done, location in enumerate(tables.values()):
            progress("Reading metadata", done, len(tables))
            for uri, kind in table_files(location, props, index):
                wanted[relative(uri, warehouse.uri)] = kind
        index = index.only({f"{warehouse.uri}/{path}" for path in wanted})
        raw = warehouse.files_under("raw")
        wanted.update((path, "raw") for path, _ in raw)
        held = repository.held()
        copied: list[BackupFile] = []

        def copy(item: tuple[str, Any]) -> BackupFile:
            path, kind = item
            known = held.get(path)
            if known is not None and repository.objects.size(path) == known.size:
                return known
            try:
                size, sha256 = repository.objects.write(path, warehouse.chunks(path))
            except FileNotFoundError:
                raise BackupError(
                    "backup_file_vanished",
                    f"{warehouse.path(path)} disappeared while it was being backed up: lake"
                    " maintenance probably expired its snapshot meanwhile; run the backup again",
                ) from None
            copied.append(entry := BackupFile(path, kind, size, sha256))
            return entry

        files = _each(copy, sorted(wanted.items()), "Copying files", progress)
        manifest = Manifest(
            backup_id=backup_id, aurum_version=__version__, started_at=started_at,
            catalog_at=catalog_at, finished_at=datetime.now(UTC), warehouse=warehouse.uri,
            namespace=namespace,
            catalog_properties=dict(catalog.load_namespace_properties(namespace)),
            tables={name: relative(loc, warehouse.uri) for name, loc in tables.items()},
            store_revision=dump.revision, store_rows=dict(dump.rows), files=tuple(files),
            source={"catalog": _safe(settings.catalog_url), "store": _safe(settings.store_url)},
            lineage_events=journal[0], lineage_sha256=journal[1],
        )  # fmt: skip
        (partial / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
        final = repository.folder / backup_id
        os.replace(partial, final)
        repository.save_index(index)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupReport(
        manifest, final, len(copied), sum(f.size for f in copied), len(files) - len(copied),
        time.perf_counter() - began, index.read,
    )  # fmt: skip


def restore(
    settings: Settings, root: Path, backup_id: str | None = None, *, progress: Progress = _quiet
) -> RestoreReport:
    """Restore a backup into the empty installation ``settings`` names."""
    began = time.perf_counter()
    repository = Repository(root)
    manifest = repository.manifest(backup_id)
    head = head_revision()
    if manifest.store_revision != head:
        raise BackupError(
            "store_revision_mismatch",
            f"backup {manifest.backup_id} holds a store at revision {manifest.store_revision};"
            f" this Aurum ({__version__}) is at {head}: restore with Aurum"
            f" {manifest.aurum_version}, then upgrade",
        )
    props = io_properties(settings.lake)
    warehouse = Warehouse(settings.warehouse, props)
    catalog = open_catalog(settings.catalog_url, warehouse.uri, props)
    namespace = settings.lake.namespace
    taken = _pointers(catalog, namespace)
    if taken:
        raise BackupError(
            "catalog_not_empty",
            f"the catalog at {_safe(settings.catalog_url)} already has {len(taken)} table(s) in"
            f" {namespace!r} ({', '.join(sorted(taken)[:3])} …): restore into an empty"
            " installation (another AURUM_HOME, database or namespace)",
        )
    store = Store.connect(settings)
    writer_engine = create_engine(settings.store.owner_url or settings.store_url)
    journal = journal_path(settings)
    staged: Path | None = None
    try:
        check_empty(writer_engine)
        staged = _stage_journal(repository, manifest, journal)  # checked before any change
        seconds: dict[str, float] = {}
        mark = time.perf_counter()
        relocated = warehouse.uri != manifest.warehouse.rstrip("/")
        _place_files(manifest, repository, warehouse, relocated, progress)
        seconds["files"] = time.perf_counter() - mark
        mark = time.perf_counter()
        pointers = {name: f"{warehouse.uri}/{path}" for name, path in manifest.tables.items()}
        _register(catalog, namespace, manifest.catalog_properties, pointers)
        seconds["catalog"] = time.perf_counter() - mark
        mark = time.perf_counter()
        try:
            folder = repository.folder / manifest.backup_id / "store"
            loaded = load_store(
                writer_engine, folder, StoreDump(manifest.store_revision, manifest.store_rows)
            )
        except BaseException:
            _unregister(catalog, namespace, pointers)  # the restore did not happen: undo it
            raise
        seconds["store"] = time.perf_counter() - mark
        mark = time.perf_counter()
        if staged is not None:
            _place_journal(staged, journal, str(manifest.lineage_sha256))
        lake = Lake(settings)
        settled = _recover(settings, store, lake)
        refs = _check_refs(manifest, repository, lake)
        seconds["recovery"] = time.perf_counter() - mark
    finally:
        writer_engine.dispose()
        store.close()
        if staged is not None:
            staged.unlink(missing_ok=True)  # placed, or the restore did not happen
    seconds["total"] = time.perf_counter() - began
    return RestoreReport(
        manifest.backup_id, warehouse.uri, relocated, len(pointers), refs, len(manifest.files),
        manifest.bytes, sum(loaded.values()), manifest.lineage_events, settled, seconds,
    )  # fmt: skip


def migrate(
    source: Settings, target: Settings, work: Path, *, progress: Progress = _quiet
) -> tuple[BackupReport, RestoreReport]:
    """Move the installation ``source`` names into the empty one ``target`` names (embedded to
    cluster): a backup into ``work``, restored there, every branch and tag checked. The source
    is left as it was."""
    made = backup(source, work, progress=progress)
    return made, restore(target, work, made.manifest.backup_id, progress=progress)


# -- backup's parts -------------------------------------------------------------------------------


def _dump(settings: Settings, folder: Path) -> StoreDump:
    url = sa.make_url(settings.store_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        raise BackupError(
            "nothing_to_back_up",
            f"there is no operational store at {url.database}: set AURUM_HOME (or"
            " AURUM_STORE__URL) to the installation to back up",
        )
    engine = create_engine(settings.store_url)
    try:
        dump = dump_store(engine, folder)
    finally:
        engine.dispose()
    if dump.revision is None:
        raise BackupError(
            "nothing_to_back_up",
            f"there is no operational store at {_safe(settings.store_url)}: set AURUM_HOME (or"
            " AURUM_STORE__URL) to the installation to back up",
        )
    return dump


def _save_journal(source: Path, target: Path) -> tuple[int, str | None]:
    """The lineage journal's whole lines as they are now, gzipped to ``target``: (lines, their
    SHA-256); (0, None) without a journal. Taken just before the catalog's pointers are read,
    so every COMPLETE in it is of a version the backup holds (a run appends it after its
    publish); a line being appended now is left out."""
    try:
        size = source.stat().st_size
    except FileNotFoundError:
        return 0, None
    try:
        with source.open("rb") as journal, gzip.open(target, "wb") as out:
            sha256, lines = _copy(journal, out, _last_newline(journal, size))
    except OSError as exc:
        raise BackupError(
            "lineage_journal_unreadable",
            f"the lineage journal {source} cannot be backed up ({exc.strerror or exc}): check"
            " its permissions and the repository's free space",
        ) from None
    return lines, sha256


def _copy(source: BinaryIO, target: BinaryIO | None, limit: int | None = None) -> tuple[str, int]:
    """Copy ``source`` (its first ``limit`` bytes, or all) to ``target`` (none: only read it);
    the SHA-256 of what was copied and how many lines it ends."""
    digest, lines = hashlib.sha256(), 0
    left = math.inf if limit is None else limit
    while left > 0 and (chunk := source.read(int(min(_CHUNK, left)))):
        digest.update(chunk)
        lines += chunk.count(b"\n")
        if target is not None:
            target.write(chunk)
        left -= len(chunk)
    return digest.hexdigest(), lines


def _last_newline(journal: Any, size: int) -> int:
    """The length of ``journal``'s first ``size`` bytes up to and with its last newline."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        journal.seek(start)
        found = journal.read(end - start).rfind(b"\n")
        if found >= 0:
            journal.seek(0)
            return start + found + 1
        end = start
    journal.seek(0)
    return 0


def _pointers(catalog: SqlCatalog, namespace: str) -> dict[str, str]:
    """Every table of ``namespace`` and its current metadata file, read in one statement."""
    query = sa.select(IcebergTables.table_name, IcebergTables.metadata_location).where(
        IcebergTables.catalog_name == catalog.name, IcebergTables.table_namespace == namespace
    )
    with Session(catalog.engine) as session:
        return {name: str(location) for name, location in session.execute(query) if location}


def _each(
    work: Callable[[Any], Any], items: list[Any], phase: str, progress: Progress
) -> list[Any]:
    """``work`` on every item, on a few threads, in order; the first failure is raised."""
    results: list[Any] = []
    progress(phase, 0, len(items))
    with ThreadPoolExecutor(_THREADS) as pool:
        for done, result in enumerate(pool.map(work, items), 1):
            results.append(result)
            progress(phase, done, len(items))
    return results


# -- restore's parts ------------------------------------------------------------------------------


def _place_files(
    manifest: Manifest, repository: Repository, warehouse: Warehouse, relocated: bool,
    progress: Progress,
) -> None:  # fmt: skip
    """Every file of the backup into the warehouse, checked against its SHA-256; the metadata
    tree last and, when ``relocated``, rewritten for the new warehouse (manifests first: the
    manifest lists record their new lengths)."""
    present = dict(warehouse.files_under(""))
    plain = [f for f in manifest.files if not (relocated and f.kind in METADATA_KINDS)]
    old, new = manifest.warehouse, warehouse.uri
    if relocated and any(f.kind == "delete" for f in manifest.files):
        raise BackupError(
            "relocation_unsupported",
            "this backup has delete files (they name data files by absolute path inside their"
            f" Parquet rows): restore it to its own warehouse, {old}",
        )

    def copy(entry: BackupFile) -> None:
        if present.get(entry.path) == entry.size:
            return  # restoring over a warehouse that kept it: the same immutable file
        warehouse.write(entry.path, _backed_up(repository, entry))

    _each(copy, plain, "Restoring files", progress)
    if not relocated:
        return
    lengths: dict[str, int] = {}
    for kind in ("manifest", "manifest_list", "metadata"):
        batch = [f for f in manifest.files if f.kind == kind]

        def rewrite(entry: BackupFile, kind: str = kind) -> tuple[str, int]:
            data = b"".join(_backed_up(repository, entry))
            if kind == "metadata":
                data = rewrite_metadata(data, entry.path, old, new)
            else:
                data = rewrite_avro(data, old, new, lengths if kind == "manifest_list" else None)
            size, _ = warehouse.write(entry.path, [data])
            return f"{new}/{entry.path}", size

        lengths.update(_each(rewrite, batch, f"Rewriting {kind.replace('_', ' ')}s", progress))


def _backed_up(repository: Repository, entry: BackupFile) -> Iterable[bytes]:
    """The backed-up bytes of ``entry``, checked against its size and SHA-256 as they stream
    (a damaged or missing object fails the restore before the catalog sees anything)."""
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in repository.objects.chunks(entry.path):
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    except FileNotFoundError:
        raise BackupError(
            "backup_damaged", f"{repository.objects.path(entry.path)} is missing from the backup"
        ) from None
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise BackupError(
            "backup_damaged",
            f"{repository.objects.path(entry.path)} is not the file that was backed up"
            f" ({size} bytes, SHA-256 {digest.hexdigest()[:12]}…; the manifest says"
            f" {entry.size} bytes, {entry.sha256[:12]}…)",
        )


def _stage_journal(repository: Repository, manifest: Manifest, target: Path) -> Path | None:
    """The backup's lineage journal written beside ``target`` and checked against its SHA-256,
    ready for :func:`_place_journal`; ``None`` when the backup has none."""
    if manifest.lineage_sha256 is None:
        return None
    source = repository.folder / manifest.backup_id / LINEAGE
    staged = target.with_name(f"{target.name}.restoring")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = staged.open("wb")
    except OSError as exc:
        raise BackupError(
            "lineage_journal_unreadable",
            f"the lineage journal cannot be restored to {target} ({exc.strerror or exc}): check"
            " the permissions of AURUM_HOME",
        ) from None
    try:
        with gzip.open(source, "rb") as saved, out:
            sha256, _ = _copy(saved, out)
    except (OSError, EOFError) as exc:
        staged.unlink(missing_ok=True)
        raise BackupError(
            "backup_damaged",
            f"the lineage journal of backup {manifest.backup_id} ({source}) cannot be read: {exc}",
        ) from None
    if sha256 != manifest.lineage_sha256:
        staged.unlink(missing_ok=True)
        raise BackupError(
            "backup_damaged",
            f"the lineage journal of backup {manifest.backup_id} ({source}) is not the one"
            " backed up (its SHA-256 differs)",
        )
    return staged


def _place_journal(staged: Path, target: Path, sha256: str) -> None:
    """The staged journal at ``target``, ahead of any lines already there (they are newer);
    nothing when ``target`` already begins with it (a journal that survived, e.g. a shared
    volume: its lines would be there twice). Nothing may write to ``target`` meanwhile (a
    restore goes to an installation that is stopped)."""
    if target.is_file():
        size = staged.stat().st_size
        if target.stat().st_size >= size:
            with target.open("rb") as existing:
                if _copy(existing, None, size)[0] == sha256:
                    return
        with staged.open("ab") as out, target.open("rb") as newer:
            shutil.copyfileobj(newer, out, _CHUNK)
    os.replace(staged, target)


def _register(
    catalog: SqlCatalog, namespace: str, properties: dict[str, str], pointers: dict[str, str]
) -> None:
    """Every table in the catalog in one transaction: the restored lake appears all at once."""
    catalog.create_namespace_if_not_exists(namespace, properties)
    # pyiceberg's own row shape (its v0 and v1 catalog schemas differ by a column)
    rows = [catalog._create_table_row(namespace, name, loc) for name, loc in pointers.items()]
    with Session(catalog.engine) as session, session.begin():
        session.execute(sa.insert(IcebergTables), rows)


def _unregister(catalog: SqlCatalog, namespace: str, pointers: dict[str, str]) -> None:
    with Session(catalog.engine) as session, session.begin():
        session.execute(
            sa.delete(IcebergTables).where(
                IcebergTables.catalog_name == catalog.name,
                IcebergTables.table_namespace == namespace,
                IcebergTables.table_name.in_(list(pointers)),
            )
        )


def _recover(settings: Settings, store: Store, lake: Lake) -> dict[str, int]:
    """Settle the runs that were in flight at the backup (their leases were expired on load)."""
    from aurum.lineage import shared_lineage
    from aurum.runs import Runs

    runs = Runs(store, lease=settings.runs.lease, lineage=shared_lineage(settings))
    settled: dict[str, int] = {}
    while recovered := runs.recover(lake):
        for run in recovered:
            settled[run.status] = settled.get(run.status, 0) + 1
    return settled


def _check_refs(manifest: Manifest, repository: Repository, lake: Lake) -> int:
    """Every tag and main of every table points where it did in the backup (recovery may have
    dropped the staged branch of a run that was in flight)."""
    checked = 0
    for name, path in manifest.tables.items():
        entry = next(f for f in manifest.files if f.path == path)
        data = b"".join(_backed_up(repository, entry))
        if path.endswith(".gz.metadata.json"):
            data = gzip.decompress(data)
        expected = {
            ref: value["snapshot-id"]
            for ref, value in json.loads(data).get("refs", {}).items()
            if ref == "main" or value.get("type") == "tag"
        }
        found = {
            ref: r.snapshot_id
            for ref, r in lake.table(name).metadata.refs.items()
            if ref == "main" or r.snapshot_ref_type == SnapshotRefType.TAG
        }
        if found != expected:
            missing = sorted(set(expected) - set(found))[:3]
            raise BackupError(
                "restore_incomplete",
                f"{name}: the restored table's branches and tags differ from the backup's"
                f" ({len(found)} vs {len(expected)}; e.g. missing {missing})",
            )
        checked += len(found)
    return checked


def _safe(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url
