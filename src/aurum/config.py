"""The one settings object. Nothing else in Aurum reads the environment.

Settings come from ``AURUM_*`` environment variables (``__`` separates nesting, e.g.
``AURUM_INGEST__MAX_CELLS``), then a ``.env`` file in the working directory, then the defaults
below. Every field carries its help text; ``aurum settings`` prints them and a test checks that
the README documents each one.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from aurum.errors import ConfigError

__all__ = [
    "AlertSettings",
    "ApiSettings",
    "AuthSettings",
    "CacheSettings",
    "EventSettings",
    "FileSettings",
    "GateSettings",
    "IngestSettings",
    "LakeSettings",
    "LineageSettings",
    "QuerySettings",
    "RateLimitSettings",
    "RunSettings",
    "ScenarioLimits",
    "Settings",
    "StoreSettings",
    "TelemetrySettings",
    "describe_settings",
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


class RunSettings(BaseModel):
    """Runs (ingests, feed loads, scenario runs, valuations) and their leases."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lease_s: float = Field(
        60.0,
        ge=1,
        description="Seconds a run's lease lasts; its process renews it every third of that."
        " A run whose lease expired is taken over by recovery (ingest, backfill, watch, the"
        " server): recorded published if the catalog has its version, else failed.",
    )

    max_attempts: int = Field(
        3, ge=1, le=20,
        description="Attempts a queued run (scenario run, valuation) gets: a crash or a killed"
        " worker requeues it with backoff until then; a bad request fails at once.",
    )  # fmt: skip
    retry_backoff_s: float = Field(
        5.0, ge=0, description="Wait before a queued run's first retry; doubles each attempt."
    )
    worker_poll_s: float = Field(
        1.0, gt=0, description="Seconds `aurum worker` waits between looks at an empty queue."
    )

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.lease_s)


class ScenarioLimits(BaseModel):
    """Scenario runs: how much memory an ensemble may take, how many paths may be kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    memory_mb: float = Field(
        2048.0, gt=0,
        description="Memory budget of one run's ensemble: paths x tenors x curves held at once"
        " (8 bytes a value); a run over it is refused (`memory_budget_exceeded`) before it starts.",
    )  # fmt: skip
    max_stored_paths: int = Field(
        5_000_000, ge=0,
        description="Path values (paths x tenors x curves) a run may keep with"
        " `store_paths`; more is refused (`paths_too_large`).",
    )  # fmt: skip
    paths_per_block: int = Field(
        51_200, ge=1024, multiple_of=1024,  # 1024: aurum.domain.ensembles.STREAM_BLOCK
        description="Paths per path block: an ensemble of more paths is split into blocks that"
        " workers share through the queue (and combined bit for bit as one run); a multiple of"
        " 1024, the paths of one random stream.",
    )  # fmt: skip


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
        "warn", description="A tenor's day-over-day change beyond jump_z (warn or fail)."
    )
    jump_z: float = Field(
        7.0,
        gt=0,
        description=(
            "Robust z-score of a jump: a tenor's change from the median of its curve family and"
            " tenor bucket (front month, months 2-12, later), in typical daily moves."
        ),
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
    s3_endpoint: str | None = Field(
        None,
        description="S3 endpoint of an `s3://` warehouse that is not AWS (MinIO, Ceph, rclone:"
        " `http://host:9000`); unset: AWS, by its region.",
    )
    s3_access_key_id: str | None = Field(None, description="S3 access key id of the warehouse.")
    s3_secret_access_key: SecretStr | None = Field(
        None, description="S3 secret key of the warehouse (never printed)."
    )
    s3_region: str = Field("us-east-1", description="S3 region of the warehouse's bucket.")
    s3_path_style: bool = Field(
        True,
        description="Address buckets by path (`endpoint/bucket/key`), as S3-compatible servers"
        " expect; false: virtual-hosted style (`bucket.endpoint/key`).",
    )


class QuerySettings(BaseModel):
    """Reads of the lake: API reads, exports and ``aurum sql``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(
        30.0,
        gt=0,
        description="Longest a read may run, all its statements together; a longer one is"
        " interrupted (`query_timeout`, HTTP 503).",
    )
    max_file_rows: int = Field(
        1_000_000,
        ge=1,
        description="Most rows a file answer holds (CSV or Parquet over the API, an export): a"
        " larger one is refused (`answer_too_large`), never cut short. Bounds the memory of"
        " one answer (~0.5 KB a row).",
    )


class StoreSettings(BaseModel):
    """The operational store (ingest log, later tenants and contracts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        None, description="SQLAlchemy URL of the operational store; default SQLite in AURUM_HOME."
    )
    owner_url: str | None = Field(
        None,
        description="PostgreSQL: URL of the role that owns the tables and runs migrations; the"
        " role of `url` is then only granted row access, so row-level security binds it.",
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
    trusted_proxies: tuple[IPvAnyNetwork, ...] = Field(
        (),
        description='Reverse proxies (IPs or CIDRs, JSON list: ["10.0.0.0/8"]) whose'
        " X-Forwarded-For names the client; the client is the rightmost address that is not one"
        " of them. Default: none (the client is the connection's peer).",
    )
    freshness_s: float = Field(
        1.0,
        ge=0,
        description="How long requests may reuse the last seen lake snapshot before asking the"
        " catalog again (0: every request asks, ~1 ms each; an ingest through this API is seen"
        " at once).",
    )
    cursor_key: SecretStr | None = Field(
        None,
        min_length=16,
        description="Secret (16+ characters) that signs pagination cursors; default: a random"
        " key kept in AURUM_HOME/cursor.key, shared by the workers and restarts of that home.",
    )
    cursor_previous_key: SecretStr | None = Field(
        None,
        min_length=16,
        description="The cursor key before a rotation: cursors it signed are still accepted.",
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
    redis_timeout_s: float = Field(
        0.25,
        gt=0,
        le=10,
        description="Longest wait for Redis per call (cache and rate limiter); a call that fails"
        " opens the circuit breaker.",
    )
    redis_cooldown_s: float = Field(
        5.0,
        gt=0,
        description="Seconds Redis is skipped after a failure (requests go uncached and"
        " unlimited), before one request probes it again.",
    )


class AuthSettings(BaseModel):
    """Who may call the API: OIDC bearer tokens and Aurum API keys, or dev mode on loopback."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: Literal["dev", "on"] = Field(
        "dev",
        description="`on`: every route but /health needs a token or key; `dev`: no"
        " authentication, everyone is an admin of the dev tenant, and the API refuses to listen"
        " on anything but a loopback address.",
    )
    dev_tenant: str = Field("default", description="The tenant of dev mode.")
    oidc_issuer: str | None = Field(None, description="OIDC issuer (`iss` of accepted tokens).")
    oidc_audience: str | None = Field(None, description="Audience (`aud`) tokens must carry.")
    oidc_jwks_url: str | None = Field(None, description="URL of the provider's JWKS.")
    oidc_algorithms: tuple[str, ...] = Field(
        ("RS256", "ES256"), description="Accepted signature algorithms (asymmetric only)."
    )
    tenant_claim: str = Field("tenant", description="Claim naming the user's tenant.")
    groups_claim: str = Field(
        "groups", description="Claim listing groups: aurum-admin|ops|analyst and tenant-<id>."
    )
    leeway_s: float = Field(30.0, ge=0, le=300, description="Clock skew allowed on exp/nbf.")
    cache_s: float = Field(
        5.0,
        ge=0,
        description="Seconds a verified API key or a tenant's entitlements are reused; a"
        " revocation elsewhere reaches this server within this time.",
    )


class RateLimitSettings(BaseModel):
    """Per-key / per-user token bucket (429 with Retry-After when empty)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_s: float = Field(50.0, ge=0, description="Requests per second refilled (0: no limit).")
    burst: int = Field(100, ge=1, description="Bucket size: requests allowed at once.")
    url: str | None = Field(
        None,
        description="redis://... to share buckets across workers and hosts; default: the"
        " cache's Redis when AURUM_CACHE__URL is one, else in-process per worker.",
    )
    failed_auth_per_s: float = Field(
        1.0,
        ge=0,
        description="Failed authentications per second refilled per client address (0: no"
        " limit); past the burst, that address gets 429 before any credential is looked up.",
    )
    failed_auth_burst: int = Field(
        20, ge=1, description="Failed authentications a client address may make at once."
    )


class FileSettings(BaseModel):
    """Files Aurum writes for people: exports, the API's CSV answers, CLI outputs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    neutralise_formulas: bool = Field(
        True,
        description="CSV text cells starting with = + - @ tab or CR get a leading ' so"
        " spreadsheets show them as text instead of running them (numbers keep their sign);"
        " XLSX always writes them as text.",
    )


class LineageSettings(BaseModel):
    """OpenLineage events of every run (START, COMPLETE, FAIL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(
        None,
        description="OpenLineage HTTP endpoint (e.g. Marquez at http://host:5000); events are"
        " POSTed to its /api/v1/lineage. Unset: only the JSONL file under AURUM_HOME/lineage/.",
    )
    api_key: SecretStr | None = Field(None, description="Bearer token for the HTTP endpoint.")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Timeout of one HTTP delivery.")
    queue_size: int = Field(
        1000,
        ge=1,
        description="Events waiting for HTTP delivery; beyond it they are dropped"
        " (counted in aurum_lineage_dropped_total), never slowing a publish.",
    )
    retries: int = Field(3, ge=0, le=10, description="HTTP delivery attempts after the first.")


class EventSettings(BaseModel):
    """The outbox's consumers: webhooks, the Kafka relay."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    webhook_timeout_s: float = Field(5.0, gt=0, le=60, description="Timeout of one delivery.")
    webhook_poll_s: float = Field(
        1.0,
        ge=0,
        le=3600,
        description="How often `aurum serve` and `aurum worker` deliver due"
        " webhooks (0: this process doesn't; several processes share the work safely).",
    )
    webhook_max_attempts: int = Field(
        8,
        ge=1,
        le=50,
        description="Deliveries of one event to a webhook before it is given up"
        " (exponential backoff from 1 s, at most 10 min apart).",
    )
    kafka_bootstrap: str | None = Field(
        None,
        description="Kafka bootstrap servers for `aurum relay` (host:port,...).",
    )
    schema_registry_url: str | None = Field(
        None,
        description="Confluent schema registry for the relay's Avro schemas; unset: the ids in"
        " the repository's local id table (aurum/events/avro/ids.json).",
    )
    relay_batch: int = Field(500, ge=1, le=100_000, description="Events the relay reads at once.")


class AlertSettings(BaseModel):
    """When the platform raises an alert."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quarantine_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Alert when an ingest quarantines more than this share of its price cells.",
    )
    stale_days: int = Field(
        3,
        ge=1,
        description="Alert when a vendor's last published as-of is this many of its"
        " business days old.",
    )
    webhook_url: str | None = Field(
        None,
        description="Slack-compatible incoming webhook that each new alert is posted to.",
    )
    check_interval_s: float = Field(
        60.0,
        gt=0,
        description="How often the server or worker checks cut-offs and staleness.",
    )


class TelemetrySettings(BaseModel):
    """Logs and traces."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log_format: Literal["text", "json"] = Field(
        "text",
        description="json: one JSON object per line with request id, tenant and run id.",
    )
    log_level: str = Field("INFO", description="Level of Aurum's own loggers.")
    access_log: bool = Field(True, description="Log each API request (method, path, status).")
    traces: bool = Field(
        False,
        description="OpenTelemetry spans across API, query and lake (needs the"
        " OpenTelemetry SDK: Aurum's otel extra).",
    )
    traces_kept: int = Field(
        200,
        ge=1,
        le=100_000,
        description="Recent finished spans /v1/observability/traces keeps.",
    )


# AURUM_PROFILE=cluster: the services of deploy/compose.yaml by their names; any setting given
# explicitly (an environment variable, a file) wins over these.
_CLUSTER_DB = "postgresql+psycopg://aurum@postgres:5432/aurum"
CLUSTER_DEFAULTS: dict[str, dict[str, Any]] = {
    "store": {"url": _CLUSTER_DB},
    "lake": {"catalog_url": _CLUSTER_DB, "warehouse": "s3://aurum/warehouse",
             "s3_endpoint": "http://s3:9000"},
    "cache": {"url": "redis://redis:6379/0"},
    "rate_limit": {"url": "redis://redis:6379/1"},
    "events": {"kafka_bootstrap": "kafka:9092"},
}  # fmt: skip


class Settings(BaseSettings):
    """Aurum's configuration, built once by a composition root (the CLI, later the API)."""

    model_config = SettingsConfigDict(
        env_prefix="AURUM_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    _from_environment: ClassVar[bool] = True  # False: arguments and the .env file only

    profile: Literal["embedded", "cluster"] = Field(
        "embedded",
        description="embedded: everything in AURUM_HOME (SQLite catalog and store, local"
        " warehouse, in-process cache); cluster: PostgreSQL, S3, Redis and Kafka at the"
        " deployment's service names (deploy/), each overridden by its own setting.",
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
    runs: RunSettings = Field(default_factory=RunSettings, description="Runs and their leases.")
    scenarios: ScenarioLimits = Field(default_factory=ScenarioLimits, description="Scenario runs.")
    query: QuerySettings = Field(default_factory=QuerySettings, description="Reads of the lake.")
    store: StoreSettings = Field(
        default_factory=StoreSettings, description="The operational store."
    )
    api: ApiSettings = Field(default_factory=ApiSettings, description="The REST API.")
    cache: CacheSettings = Field(default_factory=CacheSettings, description="The response cache.")
    auth: AuthSettings = Field(default_factory=AuthSettings, description="Authentication.")
    rate_limit: RateLimitSettings = Field(
        default_factory=RateLimitSettings, description="Rate limits."
    )
    files: FileSettings = Field(default_factory=FileSettings, description="Files for people.")
    lineage: LineageSettings = Field(default_factory=LineageSettings, description="Lineage.")
    events: EventSettings = Field(default_factory=EventSettings, description="Events.")
    alerts: AlertSettings = Field(default_factory=AlertSettings, description="Alerts.")
    telemetry: TelemetrySettings = Field(
        default_factory=TelemetrySettings, description="Logs and traces."
    )

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data: Any) -> Any:
        """The cluster profile's service URLs under whatever was set explicitly."""
        if not isinstance(data, dict) or data.get("profile") != "cluster":
            return data
        merged = dict(data)
        for group, values in CLUSTER_DEFAULTS.items():
            given = merged.get(group)
            if isinstance(given, BaseModel):
                continue  # a whole settings object given: it is what was meant
            merged[group] = {**values, **(given or {})}
        return merged

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if not cls._from_environment:
            return (init_settings, dotenv_settings)
        return (
            init_settings,
            _EnvWithoutFileVariables(settings_cls),
            _FileVariables(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    @classmethod
    def from_env_file(cls, path: Path) -> Settings:
        """The settings ``path`` holds (``AURUM_…=value`` lines, as in ``.env``) and only those:
        neither the environment nor ``./.env`` fills what it leaves out. For a second
        installation beside the current one (the target of ``aurum migrate``)."""
        if not path.is_file():
            raise ConfigError("settings_file_missing", f"no settings file {path}")
        return _FileOnly(_env_file=path)

    @property
    def catalog_url(self) -> str:
        return self.lake.catalog_url or f"sqlite:///{(self.home / 'catalog.db').resolve()}"

    @property
    def warehouse(self) -> str:
        return self.lake.warehouse or (self.home / "warehouse").resolve().as_uri()

    @property
    def store_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.home / 'store.db').resolve()}"


class _FileOnly(Settings):
    """Settings from the arguments and the given ``_env_file`` alone."""

    _from_environment: ClassVar[bool] = False


class _EnvWithoutFileVariables(EnvSettingsSource):
    """The environment, less the ``*_FILE`` variables (``_FileVariables`` reads those)."""

    def __call__(self) -> dict[str, Any]:
        return _without_files(super().__call__())


def _without_files(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: _without_files(value) if isinstance(value, dict) else value
        for key, value in data.items()
        if not key.lower().endswith("_file")
    }


class _FileVariables(PydanticBaseSettingsSource):
    """``AURUM_X__Y_FILE=/run/secrets/y``: the setting ``AURUM_X__Y`` read from that file.

    For secrets (database URLs with passwords, Redis URLs) mounted as files by an orchestrator;
    the file's content never appears in an error, only its path.
    """

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is gathered in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, path in os.environ.items():
            upper = name.upper()
            if not (upper.startswith("AURUM_") and upper.endswith("_FILE")):
                continue
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    "setting_file_unreadable", f"{name}: cannot read {path}: {type(exc).__name__}"
                ) from None
            *parents, leaf = upper.removeprefix("AURUM_").removesuffix("_FILE").lower().split("__")
            target = found
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = value
        return found


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
