"""What every ``aurum`` command shares, built once per invocation.

The group's callback puts one :class:`Context` in ``ctx.obj``; commands take what they need from
it. The settings are read once, on first use (so ``aurum x --help`` never reads them); the lake
and the store are opened once and closed when the command ends.
"""

from __future__ import annotations

import getpass
from functools import cached_property
from typing import TYPE_CHECKING

from aurum.auth.access import Access
from aurum.cli.output import JsonOutput, Output, TextOutput
from aurum.config import Settings

if TYPE_CHECKING:
    from aurum.lake import Lake
    from aurum.store import Store

__all__ = ["Context"]


class Context:
    """Settings, the lake, the store, who acts and how to print: one per invocation."""

    settings_built = 0  # how many times any Context read the settings (a test counts them)

    def __init__(self) -> None:
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

        return Lake(self.settings)

    @property
    def store(self) -> Store:
        if self._store is None:
            from aurum.store import Store

            self._store = Store.connect(self.settings)
        return self._store

    def output(self, as_json: bool = False) -> Output:
        return JsonOutput() if as_json else TextOutput()

    def recover(self, out: Output) -> None:
        """Settle the runs whose lease expired (a crash left them open): published if the
        catalog has their version, else failed."""
        from aurum.runs import Runs

        recovered = Runs(self.store, lease=self.settings.runs.lease).recover(self.lake)
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
