"""What a backup holds, as data (pure: no I/O).

A backup repository is a folder: ``objects/`` holds every warehouse file any backup copied, at
its path relative to the warehouse (Iceberg data, manifest and metadata files and raw archive
files are never rewritten in place, so a path names one content and later backups reuse what is
there); ``backups/{id}/`` holds one backup's ``manifest.json`` (written last: a folder without
it is an interrupted backup, ignored), its store dump and its lineage journal
(``lineage.jsonl.gz``); ``index.json.gz`` what the manifest lists and manifests read so far
list (they are immutable: a later backup reads only new ones; a lost index is rebuilt).

>>> relative("s3://b/w/market/t/data/x.parquet", "s3://b/w")
'market/t/data/x.parquet'
>>> relocate({"location": "file:///a/w/t", "n": [1, "file:///a/w/t/m.avro"]}, "file:///a/w", "s3://b/w")
{'location': 's3://b/w/t', 'n': [1, 's3://b/w/t/m.avro']}
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from aurum.errors import BackupError

__all__ = [
    "FORMAT",
    "BackupFile",
    "FileKind",
    "Manifest",
    "relative",
    "relocate",
]

FORMAT = "aurum-backup/1"

# data: Parquet rows; delete: position/equality deletes; manifest, manifest_list, metadata:
# Iceberg's metadata tree (rewritten when restored to another warehouse); statistics: Puffin;
# raw: the raw archive (delivered files, feed payloads).
FileKind = Literal["data", "delete", "manifest", "manifest_list", "metadata", "statistics", "raw"]
FILE_KINDS: tuple[str, ...] = get_args(FileKind)
METADATA_KINDS = frozenset({"manifest", "manifest_list", "metadata"})


@dataclass(frozen=True)
class BackupFile:
    path: str  # relative to the warehouse (and to the repository's objects/)
    kind: FileKind
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """One backup: where it came from, when each part was read, and every file it needs."""

    backup_id: str
    aurum_version: str
    started_at: datetime  # the store's snapshot is taken just after this
    catalog_at: datetime  # the catalog's pointers were read at this instant
    finished_at: datetime
    warehouse: str  # the source warehouse: every path below is relative to it
    namespace: str
    catalog_properties: dict[str, str]  # the namespace's properties
    tables: dict[str, str]  # table name -> its current metadata file (relative)
    store_revision: str | None
    store_rows: dict[str, int]
    files: tuple[BackupFile, ...]
    source: dict[str, str] = field(default_factory=dict)  # catalog/store URLs, passwords hidden
    # the lineage journal's lines just before catalog_at, gzipped beside the manifest
    lineage_events: int = 0
    lineage_sha256: str | None = None  # of the lines, uncompressed
    format: str = FORMAT

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("started_at", "catalog_at", "finished_at"):
            data[key] = getattr(self, key).isoformat()
        return json.dumps(data, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        """Parse a manifest; anything malformed is ``backup_damaged`` naming ``where``."""
        try:
            data: dict[str, Any] = json.loads(text)
            if data.get("format") != FORMAT:
                raise BackupError(
                    "backup_format_unknown",
                    f"{where} is a {data.get('format')!r} backup; this Aurum reads {FORMAT!r}",
                )
            files = tuple(BackupFile(**f) for f in data.pop("files"))
            bad = sorted({f.kind for f in files} - set(FILE_KINDS))
            if bad:
                raise ValueError(f"unknown file kinds {bad}")
            for key in ("started_at", "catalog_at", "finished_at"):
                data[key] = datetime.fromisoformat(data[key])
            manifest = cls(files=files, **data)
            missing = sorted(set(manifest.tables.values()) - {f.path for f in files})
            if missing:
                raise ValueError(f"tables' metadata files not among its files: {missing}")
            return manifest
        except BackupError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise BackupError(
                "backup_damaged", f"{where} is not a readable backup manifest: {exc}"
            ) from None


def relative(uri: str, warehouse: str) -> str:
    """``uri``'s path inside ``warehouse``; a file outside it cannot be backed up."""
    prefix = warehouse.rstrip("/") + "/"
    if not uri.startswith(prefix):
        raise BackupError(
            "file_outside_warehouse",
            f"{uri} is not inside the warehouse {warehouse}: a table written elsewhere cannot be"
            " backed up with it",
        )
    return uri[len(prefix) :]


def relocate(value: Any, old: str, new: str) -> Any:
    """``value`` with every string that starts with the warehouse ``old`` moved to ``new``."""
    old, new = old.rstrip("/"), new.rstrip("/")
    if isinstance(value, str):
        if value == old or value.startswith(old + "/"):
            return new + value[len(old) :]
        return value
    if isinstance(value, dict):
        return {k: relocate(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [relocate(v, old, new) for v in value]
    return value
