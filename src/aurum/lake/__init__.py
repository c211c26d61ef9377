"""The versioned lake: Iceberg tables through pyiceberg's SQL catalog, write-audit-publish,
an immutable raw archive and reads pinned to a snapshot."""

from aurum.lake.catalog import Lake
from aurum.lake.publish import Publication, publish_day

__all__ = ["Lake", "Publication", "publish_day"]
