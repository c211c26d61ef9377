"""What every ``aurum`` command shares, built once per invocation.

The group's callback puts one :class:`Context` in ``ctx.obj``; commands take what they need from
it. The settings are read once, on first use (so ``aurum x --help`` never reads them); the lake
and the store are opened once and closed when the command ends.

Before either is opened, the home is checked: ``AURUM_HOME`` naming a file, or a folder that
cannot be written, is one line and exit code 2. Only the commands that fill a lake (``ingest``,
``backfill``, ``watch``; ``demo-data`` writes into the home) create one; a command that needs one
(:data:`NEEDS_LAKE`: ``sql``, ``history``, ``runs``, ``export``, ``maintenance``,
``catalog``) where there is none says so, instead of creating an empty lake and answering from it.
"""

from __future__ import annotations

import getpass
import os
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from aurum.auth.access import Access
from aurum.cli.output import JsonOutput, Output, TextOutput
from aurum.config import Settings
from aurum.errors import ConfigError, Unknown

if TYPE_CHECKING:
    from aurum.feeds.service import Feeds
    from aurum.lake import Lake
    from aurum.ppa import PpaService
    from aurum.runs.worker import Worker
    from aurum.scenarios import ScenarioService
    from aurum.store import Store

__all__ = ["NEEDS_LAKE", "Context"]

# The commands that work on an existing lake or ingest log: they never create one.
NEEDS_LAKE = frozenset({"sql", "history", "runs", "export", "maintenance", "catalog"})


class Context:
    """Settings, the lake, the store, who acts and how to print: one per invocation."""

    settings_built = 0  # how many times any Context read the settings (a test counts them)

    def __init__(self, command: str | None = None) -> None:
        self.command = command
        self._store: Store | None = None

    @cached_property
    def settings(self) -> Settings:
        Context.settings_built += 1
        return Settings()

    @cached_property
    def access(self) -> Access:
        """The platform, acting as ``cli:<user>`` (recorded on runs and in the audit log)."""
        return Access.platform(f"cli:{getpass.getuser()}")

    @cached_property
    def lake(self) -> Lake:
        from aurum.lake import Lake

        self.check_home()
        if self.command in NEEDS_LAKE and not self.lake_exists:
            raise self._no_lake()
        return Lake(self.settings)

    @property
    def store(self) -> Store:
        if self._store is None:
            from aurum.store import Store

            self.check_home()
            settings = self.settings
            if self.command in NEEDS_LAKE and not (
                settings.store.url or (settings.home / "store.db").is_file()
            ):
                raise self._no_lake()
            self._store = Store.connect(settings)
        return self._store

    @cached_property
    def scenarios(self) -> ScenarioService:
        from aurum.lineage import shared_lineage
        from aurum.runs import Runs
        from aurum.scenarios import ScenarioService

        settings = self.settings
        runs = Runs(self.store, lease=settings.runs.lease, lineage=shared_lineage(settings))
        return ScenarioService(
            self.store, self.lake, runs, limits=settings.scenarios,
            timeout_s=max(settings.query.timeout_s, 300.0),
        )  # fmt: skip

    @cached_property
    def ppa(self) -> PpaService:
        from aurum.ppa import PpaService
        from aurum.query.curves import Curves

        return PpaService(
            self.store, self.lake, self.scenarios.runs, Curves(self.lake, None), self.scenarios
        )

    @cached_property
    def feeds(self) -> Feeds:
        from aurum.feeds.service import Feeds
        from aurum.lineage import shared_lineage
        from aurum.runs import Runs

        settings = self.settings
        runs = Runs(self.store, lease=settings.runs.lease, lineage=shared_lineage(settings))
        return Feeds(self.lake, self.store, runs)

    def worker(self) -> Worker:
        """A worker for every kind of queued run, on this context's store and lake."""
        from aurum.runs.worker import Worker

        settings = self.settings
        return Worker(
            self.scenarios.runs, self.lake,
            {"scenario_run": self.scenarios.execute, "valuation": self.ppa.execute},
            poll_s=settings.runs.worker_poll_s, max_attempts=settings.runs.max_attempts,
            backoff=timedelta(seconds=settings.runs.retry_backoff_s),
        )  # fmt: skip

    @property
    def home(self) -> str:
        """The home, absolute, and where it came from."""
        settings = self.settings
        where = "AURUM_HOME" if "home" in settings.model_fields_set else "AURUM_HOME is not set"
        return f"{settings.home.absolute()} ({where})"

    @property
    def lake_exists(self) -> bool:
        """Whether the lake is there (a catalog elsewhere, by URL, is taken to be)."""
        settings = self.settings
        return bool(settings.lake.catalog_url) or (settings.home / "catalog.db").is_file()

    def check_home(self) -> None:
        """A home that cannot work is a one-line error, before anything tries to use it."""
        home = self.settings.home
        if home.exists() and not home.is_dir():
            raise ConfigError(
                "home_invalid", f"the home {self.home} is a file, not a folder: set AURUM_HOME"
                " to a folder (it is created if missing)",
            )  # fmt: skip
        if self.command in NEEDS_LAKE:
            return
        existing = next(p for p in (home.absolute(), *home.absolute().parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(
                "home_unwritable",
                f"cannot write the home {self.home}: {existing} is not a writable folder",
            )

    def _no_lake(self) -> Unknown:
        return Unknown(
            "lake_missing",
            f"no lake at {self.home}: `aurum ingest FILE_OR_DIR`, `aurum backfill DIR` or"
            " `aurum watch DIR` creates one there (`aurum demo-data` writes sample workbooks"
            " to ingest); or point AURUM_HOME at an existing one",
            home=str(Path(self.settings.home).absolute()),
        )

    def output(self, as_json: bool = False, *, wide: bool = False) -> Output:
        return JsonOutput() if as_json else TextOutput(wide=wide)

    def recover(self, out: Output) -> None:
        """Settle the runs whose lease expired (a crash left them open): published if the
        catalog has their version, else failed."""
        from aurum.lineage import shared_lineage
        from aurum.runs import Runs

        recovered = Runs(
            self.store, lease=self.settings.runs.lease, lineage=shared_lineage(self.settings)
        ).recover(self.lake)
        published = sum(r.status == "published" for r in recovered)
        if published:
            out.note(f"recorded {published} abandoned run(s) as published: the catalog has them")
        if len(recovered) > published:
            out.note(
                f"closed {len(recovered) - published} abandoned run(s) as failed and dropped"
                " their staged branches"
            )

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None
