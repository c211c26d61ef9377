"""The one settings object. Nothing else in Aurum reads the environment.

Settings come from ``AURUM_*`` environment variables (``__`` separates nesting, e.g.
``AURUM_INGEST__MAX_CELLS``), then a ``.env`` file in the working directory, then the defaults
below. Every field carries its help text; ``aurum settings`` prints them and a test checks that
the README documents each one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "ApiSettings", "CacheSettings", "GateSettings", "IngestSettings", "LakeSettings", "Settings",
    "StoreSettings", "describe_settings",
]  # fmt: skip


class IngestSettings(BaseModel):
    """Limits and tolerances for reading vendor workbooks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_file_mb: float = Field(
        100.0, gt=0, description="Largest workbook file accepted, in MiB (larger: dead letter)."
    )
    max_uncompressed_mb: float = Field(
        512.0,
        gt=0,
        description="Largest total uncompressed size of a workbook's zip members, MiB (zip bombs).",
    )
    max_compression_ratio: float = Field(
        200.0,
        gt=1,
        description="Largest uncompressed/compressed ratio of any zip member (zip-bomb bound).",
    )
    max_cells: int = Field(
        5_000_000,
        gt=0,
        description="Most cells (all sheets, empty ones included) read from one workbook.",
    )
    mid_bidask_tolerance: float = Field(
        0.0005,
        ge=0,
        description="Largest |mid - (bid+ask)/2| accepted; the vendors round bid and ask to 3 dp.",
    )


GateSeverity = Literal["warn", "fail"]


class GateSettings(BaseModel):
    """Day-over-day gates run before a day is published: ``warn`` reports, ``fail`` blocks."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    curve_disappeared: GateSeverity = Field(
        "warn", description="A curve of the previous as-of is missing (warn or fail)."
    )
    new_curve: GateSeverity = Field("warn", description="A curve appears (warn or fail).")
    stale_curve: GateSeverity = Field(
        "warn", description="A curve's prices equal the previous as-of's (warn or fail)."
    )
    jump: GateSeverity = Field(
        "warn", description="A day-over-day change beyond jump_z (warn or fail)."
    )
    jump_z: float = Field(
        10.0, gt=0, description="Robust z-score (median/MAD per asset class) of a jump."
    )


class LakeSettings(BaseModel):
    """Where the Iceberg tables live (the catalog) and where their files go (the warehouse)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    catalog_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the Iceberg SQL catalog; default SQLite in AURUM_HOME.",
    )
    warehouse: str | None = Field(
        None, description="Warehouse location (path or URI); default AURUM_HOME/warehouse."
    )
    namespace: str = Field("market", description="Iceberg namespace of Aurum's tables.")


class StoreSettings(BaseModel):
    """The operational store (ingest log, later tenants and contracts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        None, description="SQLAlchemy URL of the operational store; default SQLite in AURUM_HOME."
    )


class ApiSettings(BaseModel):
    """The REST API (``aurum serve``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("127.0.0.1", description="Address `aurum serve` binds to.")
    port: int = Field(8095, ge=1, le=65535, description="Port `aurum serve` listens on.")
    workers: int = Field(1, ge=1, le=64, description="uvicorn worker processes.")
    page_size: int = Field(1000, ge=1, description="Rows per page when a request gives no limit.")
    max_page_size: int = Field(
        10_000, ge=1, description="Largest limit a request may ask for (larger ones are capped)."
    )
    max_upload_mb: float = Field(
        100.0, gt=0, description="Largest workbook accepted by POST /v1/ingest, in MiB."
    )
    freshness_s: float = Field(
        0.0,
        ge=0,
        description="How long a request may reuse the last seen lake snapshot before asking the"
        " catalog again (0: every request asks; the check is one indexed catalog lookup).",
    )


class CacheSettings(BaseModel):
    """The response cache, keyed by (query, snapshot id): a publish invalidates by construction."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        None,
        description="redis://host:port/db for a shared Redis cache; default in-process"
        " (`none` turns caching off).",
    )
    max_entries: int = Field(512, ge=1, description="Entries the in-process cache keeps (LRU).")
    max_entry_kb: int = Field(
        4096, ge=1, description="Largest response body cached, in KiB (larger ones are not)."
    )
    ttl_s: int = Field(
        3600, ge=1, description="Seconds an entry lives (entries never go stale, this bounds size)."
    )


class Settings(BaseSettings):
    """Aurum's configuration, built once by a composition root (the CLI, later the API)."""

    model_config = SettingsConfigDict(
        env_prefix="AURUM_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    home: Path = Field(
        Path(".aurum"),
        description="Root of Aurum's local state; demo-data writes to $AURUM_HOME/inbox.",
    )
    ingest: IngestSettings = Field(
        default_factory=IngestSettings, description="Workbook reading limits."
    )
    lake: LakeSettings = Field(default_factory=LakeSettings, description="The Iceberg lake.")
    gates: GateSettings = Field(default_factory=GateSettings, description="Publish gates.")
    store: StoreSettings = Field(
        default_factory=StoreSettings, description="The operational store."
    )
    api: ApiSettings = Field(default_factory=ApiSettings, description="The REST API.")
    cache: CacheSettings = Field(default_factory=CacheSettings, description="The response cache.")

    @property
    def catalog_url(self) -> str:
        return self.lake.catalog_url or f"sqlite:///{(self.home / 'catalog.db').resolve()}"

    @property
    def warehouse(self) -> str:
        return self.lake.warehouse or (self.home / "warehouse").resolve().as_uri()

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.home / 'store.db').resolve()}"


def describe_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, help) for every setting, nested ones flattened.

    >>> rows = dict((name, default) for name, default, _ in describe_settings())
    >>> rows["AURUM_INGEST__MAX_CELLS"]
    '5000000'
    """
    rows: list[tuple[str, str, str]] = []

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, f"{prefix}{name.upper()}__")
                continue
            rows.append((f"{prefix}{name.upper()}", str(field.default), field.description or ""))

    walk(Settings, "AURUM_")
    return rows
