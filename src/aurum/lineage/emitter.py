"""The one object the run kernel calls: a run started, a run finished; lineage does the rest.

:class:`Lineage` builds each event from the run record (:mod:`aurum.lineage.events`), appends
it to the JSONL journal under ``AURUM_HOME`` and, when an endpoint is configured, hands it to
the HTTP delivery (:mod:`aurum.lineage.transport`). It never raises into its caller: lineage
is a record of the work, and a record that cannot be written must not undo the work it
records. A failure is logged and counted (``errors``); HTTP drops are counted (``dropped``).
"""

from __future__ import annotations

import atexit
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from openlineage.client.serde import Serde

from aurum._version import code_version
from aurum.config import Settings
from aurum.datasets import Dataset
from aurum.datasets.builtin import ALL_DATASETS
from aurum.errors import ConfigError
from aurum.lineage.events import RunEvents, lake_namespace
from aurum.lineage.transport import HttpDelivery, JsonlFile
from aurum.store import Run

__all__ = ["Lineage", "journal_path", "shared_lineage"]

log = logging.getLogger("aurum.lineage")


def journal_path(settings: Settings) -> Path:
    """Where every process of a home appends its lineage events, one JSON document a line."""
    return settings.home / "lineage" / "events.jsonl"


class Lineage:
    """Emits a run's OpenLineage events: ``started`` (START) and ``finished`` (COMPLETE,
    FAIL or ABORT; nothing for a run queued again to retry)."""

    def __init__(
        self, journal: JsonlFile, events: RunEvents, http: HttpDelivery | None = None
    ) -> None:
        self.journal = journal
        self.events = events
        self.http = http
        self.written = 0  # events appended to the journal
        self.errors = 0  # events that could not be built or appended (logged)
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, datasets: Iterable[Dataset] = ()) -> Lineage:
        """The journal at ``AURUM_HOME/lineage/events.jsonl`` and, with ``lineage.url`` set,
        HTTP delivery to its ``/api/v1/lineage``. ``datasets``: contracts besides the built-in
        ones (as ``Lake`` takes them). A URL that is not one is a ``ConfigError`` here, in the
        composition root, never later in a run."""
        contracts: Mapping[str, Dataset] = {d.name: d for d in (*ALL_DATASETS, *datasets)}
        events = RunEvents(contracts, lake_namespace(settings.lake.namespace), code_version())
        http = None
        config = settings.lineage
        if config.url:
            try:
                http = HttpDelivery(
                    config.url, timeout_s=config.timeout_s, queue_size=config.queue_size,
                    retries=config.retries,
                    api_key=config.api_key.get_secret_value() if config.api_key else None,
                )  # fmt: skip
            except ValueError:
                raise ConfigError(
                    "lineage_url_invalid",
                    f"AURUM_LINEAGE__URL {config.url!r} is not a URL with a scheme and a host"
                    " (e.g. http://marquez:5000)",
                ) from None
        return cls(JsonlFile(journal_path(settings)), events, http)

    @property
    def sent(self) -> int:
        """Events the HTTP endpoint accepted."""
        return self.http.sent if self.http is not None else 0

    @property
    def dropped(self) -> int:
        """Events HTTP delivery gave up on: the queue was full, or the retries ran out."""
        return self.http.dropped if self.http is not None else 0

    def started(self, run: Run) -> None:
        self._emit(run, "start")

    def finished(self, run: Run) -> None:
        self._emit(run, "end")

    def exported(
        self, *, file: str, snapshot_id: int, asof: date, vendor: str | None, rows: int | None,
        tenant_id: str | None, actor: str, request_id: str | None = None,
        started_at: datetime | None = None,
    ) -> str:  # fmt: skip
        """An export's START and COMPLETE: it read ``asof``'s curves at ``snapshot_id`` and wrote
        ``file`` (``rows``: None when a cached file was served). Exports are not runs of the
        store: nothing else needs their state. Its id."""
        now = datetime.now(UTC)
        run = Run(
            run_id=uuid.uuid4().hex, kind="export", status="running",  # type: ignore[arg-type]
            subject=file, tenant_id=tenant_id, requested_by=actor, request_id=request_id,
            dataset=None, partition=None, vendor=vendor, asof=asof, sha256=None, params={},
            result={"rows": rows}, snapshot_id=snapshot_id, tag=None, version=None, branch=None,
            error_code=None, error_message=None, gate_failures=[], queued_at=started_at or now,
            started_at=started_at or now, finished_at=None, heartbeat_at=None, lease_owner=None,
            lease_expires_at=None, attempts=1,
        )  # fmt: skip
        self.started(run)
        self.finished(replace(run, status="published", finished_at=now))
        return run.run_id

    def close(self, timeout: float = 5.0) -> None:
        """Let HTTP delivery drain for at most ``timeout`` seconds (the journal is always
        written already)."""
        if self.http is not None:
            try:
                self.http.close(timeout)
            except Exception:
                log.exception("closing lineage HTTP delivery failed")

    def _emit(self, run: Run, which: str) -> None:
        try:
            event = self.events.start(run) if which == "start" else self.events.end(run)
        except Exception:
            self._failed("built", run)
            return
        if event is None:  # queued again for another attempt: its end is still to come
            return
        try:
            self.journal.append(Serde.to_json(event))
        except Exception:  # a full disk, a read-only home: HTTP may still take it
            self._failed("appended to the journal", run)
        else:
            with self._lock:
                self.written += 1
        if self.http is not None:
            self.http.submit(event)

    def _failed(self, what: str, run: Run) -> None:
        with self._lock:
            self.errors += 1
        log.exception("lineage event of run %s could not be %s", run.run_id, what)


_shared: dict[tuple[str, str | None, str], Lineage] = {}
_shared_lock = threading.Lock()


def shared_lineage(settings: Settings) -> Lineage:
    """The process's one :class:`Lineage` for ``settings``' home and endpoint (one HTTP
    delivery thread, however many services and runs use it), drained for up to two seconds when
    the process exits."""
    key = (str(settings.home.resolve()), settings.lineage.url, settings.lake.namespace)
    with _shared_lock:
        found = _shared.get(key)
        if found is None:
            found = _shared[key] = Lineage.from_settings(settings)
            atexit.register(found.close, 2.0)
        return found
