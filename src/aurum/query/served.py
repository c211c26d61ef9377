"""Served slices: the read model of the API's most frequent question.

"One curve at one as-of, every column" (``GET /v1/curves?curve_key=K&asof=D``, with or without
``vendor=``) costs 3-5 ms of DuckDB per request even from the sorted replica. This read model
keeps, per (as-of, curve key, vendor), those rows already as the JSON array the API sends
(DuckDB's ``to_json``: byte for byte what the API would encode, a test checks), zstd-compressed,
in a SQLite file beside each replica (``curve_observation-{snapshot}.served.sqlite``). A lookup
is one primary-key range read (~50 us).

The key starts with (as-of, curve key), so a question by ``curve_key`` alone finds every
vendor's slice of that curve in the same read; the caller keeps the vendors it may see, in
vendor order, which is the query's order (as-of, vendor, curve, tenor), and joins their arrays.

The file is built with its replica, incrementally by the same changed partitions, and renamed
into place before the replica, so a replica that exists always has its slices. It is
immutable once in place, so readers open it with no locking at all.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import zstandard

from aurum.query.engine import Session

__all__ = ["ServedSlice", "ServedSlices"]

# Not the file name of the earlier layout (keyed by vendor first), so replicas made before
# get theirs rebuilt rather than misread.
_SUFFIX = ".served.sqlite"


@dataclass(frozen=True, slots=True)
class ServedSlice:
    """An answer from the read model: its rows as a JSON array (UTF-8), at one snapshot."""

    snapshot_id: int
    rows: int
    json: bytes
    seconds: float
    has_more: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class ServedSlices:
    """The served-slice files of one replica directory; readers are per thread."""

    def __init__(self, directory: Path, table: str, columns: Sequence[str], *, keep: int) -> None:
        self.directory = directory
        self.table = table
        self.columns = tuple(columns)
        self.keep = keep
        self._local = threading.local()

    def path(self, snapshot_id: int) -> Path:
        return self.directory / f"{self.table}-{snapshot_id}{_SUFFIX}"

    def lookup(self, snapshot_id: int, asof: date, curve_key: str) -> list[tuple[str, int, bytes]]:
        """Every vendor's slice of ``curve_key`` at ``asof``: (vendor, rows, JSON array), in
        vendor order; nothing if the snapshot has no served slices."""
        local = self._local.__dict__
        readers: dict[int, sqlite3.Connection] = local.setdefault("readers", {})
        reader = readers.get(snapshot_id)
        if reader is None:
            path = self.path(snapshot_id)
            if not path.exists():
                return []
            while len(readers) >= self.keep:  # this thread's oldest reader goes
                readers.pop(next(iter(readers))).close()
            reader = readers[snapshot_id] = sqlite3.connect(
                f"{path.as_uri()}?mode=ro&immutable=1", uri=True
            )
        found = reader.execute(
            "SELECT vendor, rows, body FROM slice WHERE asof_date = ? AND curve_key = ?"
            " ORDER BY vendor",
            (asof.isoformat(), curve_key),
        ).fetchall()
        if not found:
            return []
        unzip = local.get("zstd") or local.setdefault("zstd", zstandard.ZstdDecompressor())
        return [(vendor, rows, unzip.decompress(body)) for vendor, rows, body in found]

    def build(
        self,
        session: Session,
        snapshot_id: int,
        base: int | None,
        changed: list[tuple[str, date]],
        gone: list[tuple[str, date]],
    ) -> None:
        """The file of ``snapshot_id`` from the replica ``session`` is building: ``base``'s
        file with the ``changed`` and ``gone`` (vendor, as-of) partitions redone, or every
        partition when there is no base file."""
        target = self.path(snapshot_id)
        scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        scratch.unlink(missing_ok=True)
        if base is not None and self.path(base).exists():
            shutil.copyfile(self.path(base), scratch)
        else:
            changed = [
                (vendor, day)
                for vendor, day in session.rows("SELECT vendor, asof_date FROM replica_partition")
            ]
            gone = []
        writer = sqlite3.connect(scratch)
        try:
            writer.execute(
                "CREATE TABLE IF NOT EXISTS slice (asof_date TEXT, curve_key TEXT, vendor TEXT,"
                " rows INTEGER, body BLOB, PRIMARY KEY (asof_date, curve_key, vendor))"
                " WITHOUT ROWID"
            )
            writer.executemany(
                "DELETE FROM slice WHERE asof_date = ? AND vendor = ?",
                [(day.isoformat(), vendor) for vendor, day in changed + gone],
            )
            fields = ", ".join(f"'{c}': {c}" for c in self.columns)
            compressor = zstandard.ZstdCompressor(level=3)
            for vendor, day in changed:
                encoded = session.rows(
                    f"SELECT curve_key, count(*), to_json(list({{{fields}}}"
                    " ORDER BY tenor_start, tenor_label))::VARCHAR"
                    f" FROM {self.table} WHERE vendor = ? AND asof_date = ? GROUP BY curve_key",
                    [vendor, day],
                )
                writer.executemany(
                    "INSERT INTO slice VALUES (?, ?, ?, ?, ?)",
                    [
                        (day.isoformat(), key, vendor, rows, compressor.compress(body.encode()))
                        for key, rows, body in encoded
                    ],
                )
            writer.commit()
        except BaseException:
            writer.close()
            scratch.unlink(missing_ok=True)
            raise
        writer.close()
        os.replace(scratch, target)

    def remove(self, snapshot_id: int) -> None:
        self.path(snapshot_id).unlink(missing_ok=True)
