"""The versioned lake: Iceberg tables made from their contracts, write-audit-publish of any
published dataset, an immutable raw archive and reads pinned to a snapshot."""

from aurum.lake.catalog import Lake
from aurum.lake.publish import Audit, Publication, publish

__all__ = ["Audit", "Lake", "Publication", "publish"]
