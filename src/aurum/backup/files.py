"""Warehouse files for backups: which files a table's metadata needs, copying them with their
SHA-256, and rewriting Iceberg's metadata tree for another warehouse.

Iceberg metadata holds absolute URIs (a table's location, each snapshot's manifest list, each
manifest's path, each data file's path). Restoring to the same warehouse copies every file as it
is; restoring to another (a fresh home, ``file://`` to ``s3://``) rewrites the three metadata
kinds with the new prefix: manifests first (Avro, their sizes change, so the manifest lists
that record each manifest's length are rewritten with the new lengths), then manifest lists,
then the table's metadata JSON. Data files are copied byte for byte. This is what Iceberg's
``rewrite_table_path`` procedure does on Spark.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastavro
import pyarrow.fs as pafs
from pyiceberg.manifest import DataFileContent
from pyiceberg.table import StaticTable

from aurum.backup.manifest import FileKind, relocate
from aurum.errors import BackupError
from aurum.lake.catalog import filesystem

__all__ = [
    "Place", "TreeIndex", "Warehouse", "rewrite_avro", "rewrite_metadata", "table_files",
]  # fmt: skip

_CHUNK = 1 << 20


class Place:
    """A folder on some filesystem: the warehouse, or a backup repository's objects."""

    def __init__(self, fs: pafs.FileSystem, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")  # the folder's path on ``fs``

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"

    def read(self, relative: str) -> bytes:
        with self.fs.open_input_stream(self.path(relative)) as stream:
            return bytes(stream.read())

    def size(self, relative: str) -> int | None:
        info = self.fs.get_file_info(self.path(relative))
        return info.size if info.type == pafs.FileType.File else None

    def chunks(self, relative: str) -> Iterator[bytes]:
        with self.fs.open_input_stream(self.path(relative)) as stream:
            while chunk := stream.read(_CHUNK):
                yield bytes(chunk)

    def write(self, relative: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Write ``chunks`` to ``relative``; return the size and SHA-256 written. Locally the
        file appears whole or not at all (written beside, then renamed); an S3 PUT is atomic."""
        target = self.path(relative)
        partial = f"{target}.partial" if self.local else target
        if self.local:
            self.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        digest, size = hashlib.sha256(), 0
        with self.fs.open_output_stream(partial) as out:
            for chunk in chunks:
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
        if self.local:
            self.fs.move(partial, target)
        return size, digest.hexdigest()

    def files_under(self, relative: str) -> list[tuple[str, int]]:
        """Every file below ``relative`` (path relative to the root, size); none if absent."""
        selector = pafs.FileSelector(self.path(relative), recursive=True, allow_not_found=True)
        found = [
            (info.path[len(self.root) + 1 :], info.size)
            for info in self.fs.get_file_info(selector)
            if info.type == pafs.FileType.File and not info.path.endswith(".partial")
        ]
        return sorted(found)


class Warehouse(Place):
    """The lake's warehouse, by its URI and pyiceberg IO properties."""

    def __init__(self, uri: str, properties: dict[str, str]) -> None:
        super().__init__(*filesystem(uri.rstrip("/"), properties))
        self.uri = uri.rstrip("/")
        self.properties = properties


@dataclass
class TreeIndex:
    """What the immutable files of Iceberg's metadata tree list, as read once: each manifest
    list's manifests, each manifest's live data and delete files. A backup repository keeps one
    (:meth:`aurum.backup.service.Repository.index`), so a backup reads only the manifest lists
    and manifests that are new since the last one."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    manifests: dict[str, list[tuple[str, FileKind]]] = field(default_factory=dict)
    read: int = 0  # manifest lists and manifests read from the warehouse (not in the index)

    def only(self, paths: set[str]) -> TreeIndex:
        """This index without the lists and manifests not in ``paths`` (those of expired
        snapshots: the index stays the size of the tree)."""
        return TreeIndex(
            {k: v for k, v in self.lists.items() if k in paths},
            {k: v for k, v in self.manifests.items() if k in paths},
            self.read,
        )  # fmt: skip

    def to_json(self) -> bytes:
        return json.dumps({"lists": self.lists, "manifests": self.manifests}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> TreeIndex:
        loaded = json.loads(data)
        return cls(
            {path: list(paths) for path, paths in loaded["lists"].items()},
            {path: [(f, k) for f, k in files] for path, files in loaded["manifests"].items()},
        )  # fmt: skip


def table_files(
    metadata_location: str, properties: dict[str, str], index: TreeIndex | None = None
) -> list[tuple[str, FileKind]]:
    """Every file the table needs at ``metadata_location``: that metadata file, each snapshot's
    manifest list and manifests, the live data and delete files, statistics files. What
    ``index`` holds is not read again; what is read is added to it.

    Earlier metadata files (the metadata log) are not included: no reader needs them.
    """
    index = index if index is not None else TreeIndex()
    try:
        table = StaticTable.from_metadata(metadata_location, properties)
    except FileNotFoundError as exc:
        raise _vanished(metadata_location, exc) from None
    metadata = table.metadata
    found: dict[str, FileKind] = {metadata_location: "metadata"}
    for stats in (*metadata.statistics, *metadata.partition_statistics):
        found[stats.statistics_path] = "statistics"
    for snapshot in metadata.snapshots:
        found[snapshot.manifest_list] = "manifest_list"
        listed = index.lists.get(snapshot.manifest_list)
        if listed is None or any(path not in index.manifests for path in listed):
            _read_list(table, snapshot.manifest_list, snapshot.manifests, index)
        for path in index.lists[snapshot.manifest_list]:
            found[path] = "manifest"
            found.update(index.manifests[path])
    return sorted(found.items())


def _read_list(table: StaticTable, location: str, manifests: Any, index: TreeIndex) -> None:
    """Read a manifest list and those of its manifests ``index`` lacks into ``index``."""
    try:
        listed = manifests(table.io)
    except FileNotFoundError as exc:
        raise _vanished(location, exc) from None
    index.read += 1
    for manifest in listed:
        if manifest.manifest_path in index.manifests:
            continue  # shared with another snapshot: read already
        try:
            entries = manifest.fetch_manifest_entry(table.io, discard_deleted=True)
        except FileNotFoundError as exc:
            raise _vanished(manifest.manifest_path, exc) from None
        index.read += 1
        index.manifests[manifest.manifest_path] = [
            (entry.data_file.file_path,
             "data" if entry.data_file.content == DataFileContent.DATA else "delete")
            for entry in entries
        ]  # fmt: skip
    index.lists[location] = [m.manifest_path for m in listed]


def rewrite_avro(data: bytes, old: str, new: str, lengths: dict[str, int] | None = None) -> bytes:
    """A manifest or manifest list with every path moved from warehouse ``old`` to ``new``;
    a manifest list's ``manifest_length`` set from ``lengths`` (new path -> new size).

    The writer schema (with Iceberg's field ids) and the file's metadata are kept as they were.
    """
    reader = fastavro.reader(io.BytesIO(data))
    schema = json.loads(reader.metadata["avro.schema"])
    user = {k: v for k, v in reader.metadata.items() if not k.startswith("avro.")}
    records = []
    for record in reader:
        moved = relocate(record, old, new)
        if lengths is not None:
            moved["manifest_length"] = lengths[moved["manifest_path"]]
        records.append(moved)
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(schema), records, codec=reader.codec, metadata=user)
    return out.getvalue()


def rewrite_metadata(data: bytes, path: str, old: str, new: str) -> bytes:
    """A table metadata JSON (gzipped when its name says so) moved from ``old`` to ``new``."""
    zipped = path.endswith(".gz.metadata.json")
    text = gzip.decompress(data) if zipped else data
    moved = json.dumps(relocate(json.loads(text), old, new), separators=(",", ":")).encode()
    return gzip.compress(moved) if zipped else moved


def _vanished(location: str, exc: OSError) -> BackupError:
    return BackupError(
        "backup_file_vanished",
        f"{location} disappeared while it was being backed up ({exc.strerror or exc}): lake"
        " maintenance probably expired its snapshot meanwhile; run the backup again",
    )
