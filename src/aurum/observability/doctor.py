"""``aurum doctor``: every dependency the settings name, checked for real, and what is wrong.

Each check does the smallest real thing the dependency is for: the store answers a query and
its schema is at the code's migration; the catalog lists namespaces; the warehouse takes a
probe object, gives it back and deletes it; Redis answers PING; each Kafka bootstrap server
accepts a connection; the schema registry, lineage endpoint and OIDC JWKS answer HTTP. A
failure names the setting to look at and the error as the dependency gave it (credentials in
URLs written ``***``). Nothing is created but the probe object (and its deletion).
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from aurum.config import Settings

__all__ = ["Check", "diagnose", "redacted"]


@dataclass(frozen=True)
class Check:
    name: str
    setting: str  # the environment variable that names it
    target: str  # what was checked (credentials hidden)
    ok: bool
    detail: str
    ms: float = 0.0


def redacted(url: str) -> str:
    """``url`` without its password.

    >>> redacted("postgresql+psycopg://aurum:s3cret@db:5432/aurum")
    'postgresql+psycopg://aurum:***@db:5432/aurum'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def diagnose(settings: Settings, *, timeout_s: float = 3.0) -> list[Check]:
    """Every configured dependency's check, in the order a process needs them."""
    checks = [
        _check("home", "AURUM_HOME", str(settings.home.absolute()), lambda: _home(settings)),
        _check("store", "AURUM_STORE__URL", redacted(settings.store_url),
               lambda: _store(settings)),
        _check("catalog", "AURUM_LAKE__CATALOG_URL", redacted(settings.catalog_url),
               lambda: _catalog(settings)),
        _check("warehouse", "AURUM_LAKE__WAREHOUSE", settings.warehouse
               + (f" at {settings.lake.s3_endpoint}" if settings.lake.s3_endpoint else ""),
               lambda: _warehouse(settings)),
    ]  # fmt: skip
    for name, setting, url in (
        ("cache", "AURUM_CACHE__URL", settings.cache.url),
        ("rate_limit", "AURUM_RATE_LIMIT__URL", settings.rate_limit.url),
    ):
        if url:
            checks.append(_check(name, setting, redacted(url), lambda u=url: _redis(u, timeout_s)))
    if settings.events.kafka_bootstrap:
        servers = settings.events.kafka_bootstrap
        checks.append(_check("kafka", "AURUM_EVENTS__KAFKA_BOOTSTRAP", servers,
                             lambda: _kafka(servers, timeout_s)))  # fmt: skip
    for name, setting, url in (
        ("schema_registry", "AURUM_EVENTS__SCHEMA_REGISTRY_URL",
         settings.events.schema_registry_url and settings.events.schema_registry_url.rstrip("/")
         + "/subjects"),
        ("lineage", "AURUM_LINEAGE__URL", settings.lineage.url),
        ("oidc_jwks", "AURUM_AUTH__OIDC_JWKS_URL", settings.auth.oidc_jwks_url),
    ):  # fmt: skip
        if url:
            checks.append(_check(name, setting, redacted(url), lambda u=url: _http(u, timeout_s)))
    return checks


def _check(name: str, setting: str, target: str, probe: Callable[[], str]) -> Check:
    started = time.perf_counter()
    try:
        detail, ok = probe(), True
    except Exception as exc:  # the dependency's own error, whatever its type: say it
        text = " ".join(str(exc).split()) or type(exc).__name__
        detail, ok = f"{type(exc).__name__}: {text[:300]}", False
    return Check(name, setting, target, ok, detail, round((time.perf_counter() - started) * 1000))


def _home(settings: Settings) -> str:
    home = settings.home.absolute()
    home.mkdir(parents=True, exist_ok=True)
    probe = home / f".doctor-{uuid.uuid4().hex}"
    probe.write_bytes(b"ok")
    probe.unlink()
    return "writable"


def _store(settings: Settings) -> str:
    import sqlalchemy as sa
    from alembic.script import ScriptDirectory

    from aurum.store.engine import alembic_config, create_engine, current_revision, head_revision

    engine = create_engine(settings.store_url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        current = current_revision(engine)
    finally:
        engine.dispose()
    head = head_revision()
    if current is None:
        return "answers; empty (Aurum makes its tables on first use)"
    if current == head:
        return f"answers; schema at migration {head}"
    known = {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
    if current not in known:
        raise RuntimeError(
            f"the schema is at migration {current}, which this Aurum does not know (its newest is"
            f" {head}): a newer Aurum migrated it; run that version"
        )
    return f"answers; schema at migration {current}, migrated to {head} on first use"


def _catalog(settings: Settings) -> str:
    from aurum.lake.catalog import io_properties, open_catalog

    catalog = open_catalog(settings.catalog_url, settings.warehouse, io_properties(settings.lake))
    namespaces = [".".join(n) for n in catalog.list_namespaces()]
    mine = settings.lake.namespace in namespaces
    return f"answers; namespace {settings.lake.namespace!r} {'exists' if mine else 'not made yet'}"


def _warehouse(settings: Settings) -> str:
    from pyiceberg.io import load_file_io

    from aurum.lake.catalog import io_properties
    from aurum.lake.maintenance import delete_files

    warehouse = settings.warehouse.rstrip("/")
    properties = io_properties(settings.lake)
    io = load_file_io({"warehouse": warehouse, **properties}, warehouse)
    location = f"{warehouse}/_doctor/{uuid.uuid4().hex}"
    with io.new_output(location).create(overwrite=True) as out:
        out.write(b"aurum doctor")
    with io.new_input(location).open() as back:
        read = back.read()
    delete_files([location], properties)  # on S3 without leaving a folder marker behind
    if read != b"aurum doctor":
        raise RuntimeError(f"wrote a probe at {location} and read back {read[:40]!r}")
    return "writes, reads and deletes"


def _redis(url: str, timeout_s: float) -> str:
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    finally:
        client.close()
    return f"PING answered (server {version})"


def _kafka(servers: str, timeout_s: float) -> str:
    for server in servers.split(","):
        host, _, port = server.strip().rpartition(":")
        with socket.create_connection((host or server, int(port or 9092)), timeout=timeout_s):
            pass
    return f"{len(servers.split(','))} bootstrap server(s) accept connections"


def _http(url: str, timeout_s: float) -> str:
    response = httpx.get(url, timeout=timeout_s)
    if response.status_code >= 500:
        raise RuntimeError(f"HTTP {response.status_code} from {redacted(url)}")
    return f"HTTP {response.status_code}"
