"""Watch a drop folder: ingest each new, complete file, and say what happened to every file.

A file is *complete* when its size and modification time have not changed for ``settle``
consecutive polls (vendors and transfer tools write files in pieces). Which files are workbooks
is :mod:`aurum.ingest.selection`'s rule, the same as ``aurum ingest``'s: lock, hidden and
temporary files, files not named ``.xlsx`` and subfolders are skipped, each with its reason.

Before a complete file is ingested, the ingest log is asked about its content (SHA-256):

* **already published** (a published run holds it): skipped. This is the duplicate rule of
  :mod:`aurum.ingest.runner` (content already published as a version of its day), asked of the
  log so that a restarted watcher, or a copy under another name, costs no parse and no run;
* **failed before, with the same settings** (a dead letter or a failed gate, under the same
  :func:`~aurum.ingest.runner.ingest_fingerprint`): skipped, reported as failed, since it would
  fail the same way. Changing the file, or the settings that decide (gates, reading limits, the
  Aurum version), makes it a new attempt; so does a failure that may pass another time (the
  catalog was down, the run was abandoned);
* otherwise it is ingested, and the runner's duplicate rule still applies.

Each file is judged once per (size, modification time): a file that changes is judged again.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.ingest.runner import IngestReport, ingest_file, ingest_fingerprint
from aurum.ingest.selection import Skipped, skip_reason
from aurum.lake import Lake
from aurum.store import Store

__all__ = ["Skipped", "Watcher"]

_WATCHER = Access.platform("watcher")


@dataclass(frozen=True)
class Seen:
    """A complete file the watcher did not ingest: what the log says of its content."""

    path: Path
    status: str  # "published" (already) or "failed" (before, with the same settings)
    reason: str


@dataclass
class Watcher:
    folder: Path
    lake: Lake
    store: Store
    settings: Settings
    settle: int = 2
    on_report: Callable[[IngestReport], None] | None = None
    on_skip: Callable[[Skipped | Seen], None] | None = None
    _seen: dict[Path, tuple[int, int, int]] = field(default_factory=dict)
    _done: dict[Path, tuple[int, int]] = field(default_factory=dict)
    _told: set[Path] = field(default_factory=set)

    @property
    def pending(self) -> bool:
        """Whether a file is waiting to settle (``watch --once`` polls until none is)."""
        return bool(self._seen)

    def poll(self) -> list[IngestReport]:
        """One look at the folder; ingests the files that became complete since the last one."""
        reports = []
        for path in sorted(self.folder.iterdir()):
            if path.is_dir():
                reason: str | None = "a folder (watch does not look into subfolders)"
            else:
                reason = skip_reason(path)
            if reason is not None:
                if path not in self._told:
                    self._told.add(path)
                    self._tell(Skipped(path, reason))
                continue
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
            try:
                seen = self._known(path)
            except FileNotFoundError:  # moved away as it settled: judged if it comes back
                del self._done[path]
                continue
            if seen is not None:
                self._tell(seen)
                continue
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

    def _known(self, path: Path) -> Seen | None:
        """What the ingest log says of this content, when that settles it (see the module)."""
        try:
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            raise
        except OSError:
            return None  # unreadable: the ingest's dead letter says why
        fingerprint = ingest_fingerprint(self.settings)
        with self.store.transaction(_WATCHER, write=False) as tx:
            published = tx.runs(kind="ingest", sha256=sha, status="published", limit=1)
            failed = tx.runs(kind="ingest", sha256=sha, status="failed", limit=20)
        if published:
            run = published[0]
            return Seen(path, "published", f"already published as {run.tag} (run {run.run_id[:8]})")
        for run in failed:
            if run.result.get("fingerprint") == fingerprint:
                why = run.error_code or "failed gate(s) " + ", ".join(run.gate_failures)
                return Seen(
                    path, "failed",
                    f"failed before ({why}, run {run.run_id[:8]}) and neither the file nor the"
                    " settings changed since; change either to try again",
                )  # fmt: skip
        return None

    def _tell(self, skipped: Skipped | Seen) -> None:
        if self.on_skip is not None:
            self.on_skip(skipped)
