"""The lake: pyiceberg's SQL catalog (SQLite file by default, PostgreSQL by URL) and a warehouse.

Tables are made from their contracts (``aurum.datasets``): schema with column docs, partition
spec, sort order, the table's doc and owner. A contract that gained columns evolves its table on
open (columns are added, never dropped or retyped: earlier rows read the new ones as null).
The embedded default is the production code path with another URI (STYLE.md §2).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs
import sqlalchemy as sa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from pyiceberg.io import FileIO, load_file_io
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from aurum.config import LakeSettings, Settings
from aurum.datasets import Dataset
from aurum.datasets.builtin import ALL_DATASETS
from aurum.errors import ConfigError, NotInstalledError, Unavailable, Unknown
from aurum.telemetry import span

__all__ = ["Lake", "filesystem", "io_properties", "open_catalog"]


# Table properties Aurum sets on every table. Appends merge manifests once there are ten, so a
# scan plans from a few manifests instead of one per publish; row groups of 4,096 rows let a
# file sorted by curve_key be pruned to the curve a read asks for.
TABLE_PROPERTIES = {
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "10",
    "write.parquet.row-group-limit": "4096",
}


class Lake:
    """Aurum's Iceberg tables in one namespace: the built-in datasets and any ``datasets`` given,
    each created (or evolved) from its contract when the lake is opened."""

    def __init__(self, settings: Settings, datasets: Iterable[Dataset] = ()) -> None:
        self.namespace = settings.lake.namespace
        self.warehouse = settings.warehouse.rstrip("/")
        self.io_properties = io_properties(settings.lake)
        self.catalog = open_catalog(settings.catalog_url, self.warehouse, self.io_properties)
        self.catalog.create_namespace_if_not_exists(self.namespace)
        self.datasets: dict[str, Dataset] = {}
        self._loaded: dict[str, Table] = {}
        for dataset in (*ALL_DATASETS, *datasets):
            self.add(dataset)

    def add(self, dataset: Dataset) -> Table:
        """Make ``dataset``'s table match its contract (create it, or add new columns)."""
        known = self.datasets.get(dataset.name)
        if known is not None and known != dataset:
            raise ConfigError(
                "dataset_conflict", f"two different contracts are named {dataset.name!r}"
            )
        self.datasets[dataset.name] = dataset
        return self._ensure(dataset)

    def dataset(self, name: str) -> Dataset:
        found = self.datasets.get(name)
        if found is None:
            raise Unknown("dataset_unknown", f"no dataset {name!r}", known=sorted(self.datasets))
        return found

    def metadata_location(self, name: str) -> str:
        """Where ``name``'s current metadata file is: one indexed lookup in the catalog.

        Every commit writes a new metadata file, so an unchanged location means an unchanged
        table; readers use it to tell in a fraction of a millisecond whether main moved.
        """
        with self.reachable(), self.catalog.engine.connect() as connection:
            location = connection.execute(
                _METADATA_LOCATION,
                {"catalog": self.catalog.name, "namespace": self.namespace, "table": name},
            ).scalar_one_or_none()
        if location is None:
            raise Unknown("table_unknown", f"no table {self.namespace}.{name}")
        return str(location)

    def current(self, name: str) -> Table:
        """``name`` as it is now; loaded again only when a commit has moved its metadata."""
        with span("lake.current", table=name):
            return self._current(name)

    def _current(self, name: str) -> Table:
        location = self.metadata_location(name)
        table = self._loaded.get(name)
        if table is None or table.metadata_location != location:
            table = self._loaded[name] = self.table(name)
        return table

    @property
    def io(self) -> FileIO:
        return load_file_io({"warehouse": self.warehouse, **self.io_properties}, self.warehouse)

    def filesystem(self, location: str) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem for a location of this lake's warehouse, and its path there."""
        return filesystem(location, self.io_properties)

    def table(self, name: str) -> Table:
        identifier = f"{self.namespace}.{name}"
        try:
            with self.reachable(), span("lake.load_table", table=name):
                return self.catalog.load_table(identifier)
        except NoSuchTableError:
            raise Unknown("table_unknown", f"no table {identifier}") from None
        except (OSError, ValueError, IcebergValidationError) as exc:  # missing/broken metadata
            raise Unavailable(
                "table_unreadable",
                f"cannot load {identifier}: its metadata file is missing or damaged ({exc})",
                table=identifier,
                dependency="the lake",
            ) from None

    @contextmanager
    def reachable(self) -> Iterator[None]:
        """The catalog database down or unreachable is :class:`Unavailable` (the URL, without its
        password, only in the message for the log)."""
        try:
            yield
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            url = self.catalog.engine.url.render_as_string(hide_password=True)
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise Unavailable(
                "catalog_unavailable",
                f"the Iceberg catalog at {url}: {reason}",
                dependency="the lake's catalog",
            ) from exc

    def _ensure(self, dataset: Dataset) -> Table:
        identifier = f"{self.namespace}.{dataset.name}"
        try:
            table = self.table(dataset.name)  # a broken table fails here, clearly
        except Unknown:
            table = self._create(identifier, dataset)
        properties = _properties(dataset)
        if any(table.properties.get(k) != v for k, v in properties.items()):
            with table.transaction() as transaction:  # lakes made before these settings
                transaction.set_properties(properties)
        missing = [name for name in dataset.column_names if name not in table.schema().column_names]
        if missing:  # the contract gained columns: add them (earlier rows read them as null)
            with table.update_schema() as update:
                update.union_by_name(dataset.schema)
        return table

    def _create(self, identifier: str, dataset: Dataset) -> Table:
        table = self.catalog.create_table_if_not_exists(
            identifier, schema=dataset.schema, properties=_properties(dataset)
        )
        if dataset.partition_by and table.spec().is_unpartitioned():
            with table.update_spec() as spec:
                for column in dataset.partition_by:
                    spec.add_identity(column)
        if dataset.sort_by and table.sort_order().is_unsorted:
            with table.update_sort_order() as order:
                for column in dataset.sort_by:
                    order.asc(column, IdentityTransform())
        if table.current_snapshot() is None:
            # Branches need a snapshot to start from: main begins with an empty one.
            table.append(dataset.schema.empty_table(), {"aurum.bootstrap": "true"})
        return table


def _properties(dataset: Dataset) -> dict[str, str]:
    return {"comment": dataset.doc, "aurum.owner": dataset.owner, **TABLE_PROPERTIES}


_METADATA_LOCATION = sa.text(
    "SELECT metadata_location FROM iceberg_tables WHERE catalog_name = :catalog"
    " AND table_namespace = :namespace AND table_name = :table"
)


def io_properties(lake: LakeSettings) -> dict[str, str]:
    """pyiceberg's file IO properties for the warehouse (S3 endpoint, keys, addressing).

    A custom endpoint also turns the AWS SDK's default request checksums (aws-chunked uploads,
    since 2025) into "when required": S3-compatible servers (rclone, older MinIO) refuse those
    uploads with 411 MissingContentLength.
    """
    props: dict[str, str] = {}
    if lake.s3_endpoint:
        props["s3.endpoint"] = lake.s3_endpoint
        os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "WHEN_REQUIRED")
        os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "WHEN_REQUIRED")
    if lake.s3_access_key_id:
        props["s3.access-key-id"] = lake.s3_access_key_id
    if lake.s3_secret_access_key is not None:
        props["s3.secret-access-key"] = lake.s3_secret_access_key.get_secret_value()
    if lake.warehouse and lake.warehouse.startswith(("s3://", "s3a://")):
        props["s3.region"] = lake.s3_region
        props["s3.force-virtual-addressing"] = "false" if lake.s3_path_style else "true"
    return props


def open_catalog(url: str, warehouse: str, properties: dict[str, str]) -> SqlCatalog:
    parsed = urlparse(url)
    if parsed.scheme.startswith("sqlite"):
        Path(parsed.path).parent.mkdir(parents=True, exist_ok=True)
    if warehouse.startswith("file:"):
        Path(urlparse(warehouse).path).mkdir(parents=True, exist_ok=True)
    try:
        return SqlCatalog("aurum", uri=url, warehouse=warehouse, **properties)
    except ModuleNotFoundError as exc:
        if "psycopg" in str(exc):
            raise NotInstalledError(
                "not_installed", "the PostgreSQL catalog needs: pip install 'aurum[postgres]'"
            ) from None
        raise
    except Exception as exc:
        raise ConfigError(
            "catalog_unreachable", f"cannot open the Iceberg catalog at {url}: {exc}"
        ) from None


def filesystem(location: str, properties: dict[str, str]) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem for ``location`` and its path there: S3 with the endpoint and keys
    of ``properties`` (:func:`io_properties`), a local path otherwise."""
    parsed = urlparse(location)
    if parsed.scheme in ("s3", "s3a"):
        endpoint = urlparse(properties.get("s3.endpoint", ""))
        s3 = pafs.S3FileSystem(
            access_key=properties.get("s3.access-key-id"),
            secret_key=properties.get("s3.secret-access-key"),
            region=properties.get("s3.region"),
            endpoint_override=endpoint.netloc or None,
            scheme=endpoint.scheme or "https",
            force_virtual_addressing=properties.get("s3.force-virtual-addressing") == "true",
        )  # fmt: skip
        return s3, f"{parsed.netloc}{parsed.path}"
    return pafs.FileSystem.from_uri(location)
