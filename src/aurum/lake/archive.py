"""The raw archive: every delivered file kept immutably, addressed by its content's SHA-256.

``raw/vendor_curves/{vendor}/{asof}/{sha256}.xlsx`` in the warehouse; files that could not be
read go to ``raw/unreadable/{sha256}{suffix}``. Writing a file that is already there is a no-op,
so re-deliveries and retries cost nothing and nothing is ever overwritten.
"""

from __future__ import annotations

from datetime import date

from pyiceberg.io import FileIO

__all__ = ["archive_path", "archive_raw"]


def archive_path(
    warehouse: str, sha256: str, *, vendor: str | None, asof: date | None, suffix: str = ".xlsx"
) -> str:
    """
    >>> archive_path("file:///lake", "ab", vendor="RP", asof=date(2025, 9, 17))
    'file:///lake/raw/vendor_curves/RP/2025-09-17/ab.xlsx'
    >>> archive_path("s3://b/w", "ab", vendor=None, asof=None, suffix=".xls")
    's3://b/w/raw/unreadable/ab.xls'
    """
    if vendor is None or asof is None:
        return f"{warehouse}/raw/unreadable/{sha256}{suffix}"
    return f"{warehouse}/raw/vendor_curves/{vendor}/{asof.isoformat()}/{sha256}{suffix}"


def archive_raw(io: FileIO, location: str, data: bytes) -> str:
    """Store ``data`` at ``location`` unless it is already there; return the location."""
    if io.new_input(location).exists():
        return location
    with io.new_output(location).create(overwrite=True) as out:
        out.write(data)
    return location
