"""Watch a drop folder: ingest each new, complete file exactly once, across restarts.

A file is *complete* when its size and modification time have not changed for ``settle``
consecutive polls (vendors and transfer tools write files in pieces); hidden and temporary files
(``.name``, ``~$name``, ``*.tmp``, ``*.part``) are never taken. Whether a file was already
ingested is asked of the ingest log by the file's SHA-256, so a restarted watcher, or a second
copy of a delivered file under another name, ingests nothing twice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.ingest.runner import IngestReport, ingest_file
from aurum.lake import Lake
from aurum.store import Store

__all__ = ["Watcher"]

_TEMPORARY = (".tmp", ".part", ".partial", ".crdownload")
_WATCHER = Access.platform("watcher")


def _candidate(path: Path) -> bool:
    name = path.name
    return (
        path.is_file()
        and not name.startswith((".", "~$"))
        and not name.lower().endswith(_TEMPORARY)
    )


@dataclass
class Watcher:
    folder: Path
    lake: Lake
    store: Store
    settings: Settings
    settle: int = 2
    on_report: Callable[[IngestReport], None] | None = None
    _seen: dict[Path, tuple[int, int, int]] = field(default_factory=dict)
    _done: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def poll(self) -> list[IngestReport]:
        """One look at the folder; ingests the files that became complete since the last one."""
        reports = []
        for path in sorted(p for p in self.folder.iterdir() if _candidate(p)):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # moved away between listing and looking
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._done.get(path) == signature:
                continue
            size, mtime, stable = self._seen.get(path, (-1, -1, -1))
            stable = stable + 1 if (size, mtime) == signature else 0
            self._seen[path] = (*signature, stable)
            if stable < self.settle:
                continue
            del self._seen[path]
            self._done[path] = signature
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            with self.store.transaction(_WATCHER, write=False) as tx:
                seen = tx.runs(kind="ingest", sha256=sha, limit=1)
            if seen:
                continue  # this content was ingested before (maybe before a restart)
            report = ingest_file(
                path, lake=self.lake, store=self.store, settings=self.settings, access=_WATCHER
            )
            reports.append(report)
            if self.on_report is not None:
                self.on_report(report)
        return reports

    def run(self, *, interval: float, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            self.poll()
            time.sleep(interval)
