"""Aurum: governed, versioned energy-market forward curves from vendor EOD workbooks.

The public names are imported lazily so that ``aurum --help`` does not pay for pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aurum._version import __version__

__all__ = ["AurumError", "Client", "ParseResult", "Settings", "__version__", "parse_workbook"]

if TYPE_CHECKING:
    from aurum.client import Client
    from aurum.config import Settings
    from aurum.errors import AurumError
    from aurum.ingest.pipeline import ParseResult, parse_workbook

_LAZY = {
    "AurumError": "aurum.errors",
    "Client": "aurum.client",
    "Settings": "aurum.config",
    "ParseResult": "aurum.ingest.pipeline",
    "parse_workbook": "aurum.ingest.pipeline",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aurum' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
