"""Where schema ids come from: a Confluent schema registry, or the repository's local id table.

Both answer the two questions of the wire format (:mod:`aurum.events.wire`): *which id does this
schema have* (:meth:`SchemaIds.id_of`, asked by the relay before it writes) and *which schema
does this id name* (:meth:`SchemaIds.schema_of`, asked by a consumer before it reads).

:class:`Registry` speaks the subset of the Confluent REST API that Aurum needs::

    POST /subjects/{subject}/versions                         register → {"id": n}
                                                              (409: incompatible with the
                                                              subject's compatibility level)
    GET  /schemas/ids/{id}                                    → {"schema": "..."}
    POST /compatibility/subjects/{subject}/versions/latest    → {"is_compatible": bool}
    GET  /config                                              → {"compatibilityLevel": "..."}

It caches both answers (an id never changes its schema), so only a schema's first use talks
to the registry. A registry that is down or slow costs at most one timeout per call and is an
``Unavailable`` error: the relay retries later and never writes a message without an id. Nothing
on the publish path (a run's end writing the outbox) asks a registry.

:class:`LocalIds` reads ``avro/ids.json`` (see :mod:`aurum.events.schemas`) and refuses a schema
whose fingerprint is not the one its id names.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

import fastavro
import httpx

from aurum.config import EventSettings
from aurum.errors import ConfigError, Conflict, Unavailable, Unknown
from aurum.events.schemas import LocalId, Schema, local_ids, schemas

__all__ = ["CONTENT_TYPE", "LocalIds", "Registry", "SchemaIds", "schema_ids"]

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaIds(Protocol):
    def id_of(self, schema: Schema) -> int:
        """The id ``schema`` is written with."""

    def schema_of(self, schema_id: int) -> Any:
        """The (fastavro-parsed) schema an id names, to read a message written with it."""


def schema_ids(settings: EventSettings, *, timeout_s: float = 5.0) -> SchemaIds:
    """The registry ``settings`` name (``AURUM_EVENTS__SCHEMA_REGISTRY_URL``), else the local
    id table."""
    if settings.schema_registry_url:
        return Registry(settings.schema_registry_url, timeout_s=timeout_s)
    return LocalIds()


class LocalIds:
    """Schema ids from the repository's table (``aurum/events/avro/ids.json``)."""

    def __init__(
        self,
        table: Mapping[str, LocalId] | None = None,
        known: Mapping[str, Schema] | None = None,
    ) -> None:
        self.table = local_ids() if table is None else table
        self._by_subject = {s.subject: s for s in (schemas() if known is None else known).values()}

    def id_of(self, schema: Schema) -> int:
        entry = self.table.get(schema.subject)
        if entry is None:
            raise ConfigError(
                "schema_id_missing", f"the local id table has no id for {schema.subject}"
            )
        if entry.fingerprint != schema.fingerprint:
            raise ConfigError(
                "schema_id_stale",
                f"the schema of {schema.subject} is not the one id {entry.id} names in the local"
                " id table: a changed schema needs a new id in aurum/events/avro/ids.json",
            )
        return entry.id

    def schema_of(self, schema_id: int) -> Any:
        for subject, entry in self.table.items():
            schema = self._by_subject.get(subject)
            if entry.id == schema_id and schema is not None:
                if schema.fingerprint != entry.fingerprint:
                    break  # the id names an older schema than the repository holds
                return schema.parsed
        raise Unknown("schema_unknown", f"the local id table names no current schema {schema_id}")


class Registry:
    """A Confluent schema registry at ``url`` (see the module's docstring for the calls)."""

    def __init__(
        self, url: str, *, timeout_s: float = 5.0, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.url, timeout=timeout_s, transport=transport,
            headers={"Accept": CONTENT_TYPE, "Content-Type": CONTENT_TYPE},
        )  # fmt: skip
        self._ids: dict[str, int] = {}  # schema text -> id
        self._schemas: dict[int, Any] = {}  # id -> parsed schema
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def id_of(self, schema: Schema) -> int:
        with self._lock:
            known = self._ids.get(schema.subject + "\n" + schema.text)
        if known is None:
            known = self.register(schema.subject, schema.text)
            with self._lock:
                self._ids[schema.subject + "\n" + schema.text] = known
                self._schemas.setdefault(known, schema.parsed)
        return known

    def schema_of(self, schema_id: int) -> Any:
        with self._lock:
            known = self._schemas.get(schema_id)
        if known is None:
            known = fastavro.parse_schema(json.loads(self.schema(schema_id)))
            with self._lock:
                self._schemas[schema_id] = known
        return known

    def register(self, subject: str, schema_text: str) -> int:
        """Register ``schema_text`` under ``subject`` (the registry answers the id it already
        has for it); ``Conflict`` when the subject's compatibility level refuses it."""
        answer = self._call("POST", f"/subjects/{quote(subject, safe='')}/versions",
                            {"schema": schema_text})  # fmt: skip
        return int(answer["id"])

    def schema(self, schema_id: int) -> str:
        """The schema text of an id."""
        return str(self._call("GET", f"/schemas/ids/{int(schema_id)}")["schema"])

    def is_compatible(self, subject: str, schema_text: str) -> bool:
        """Whether ``schema_text`` may follow the subject's latest version (a subject without
        versions accepts anything)."""
        path = f"/compatibility/subjects/{quote(subject, safe='')}/versions/latest"
        try:
            return bool(self._call("POST", path, {"schema": schema_text})["is_compatible"])
        except Unknown:
            return True

    def compatibility(self) -> str:
        """The registry's global compatibility level (BACKWARD by default)."""
        return str(self._call("GET", "/config")["compatibilityLevel"])

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise Unavailable(
                "schema_registry_unavailable",
                f"schema registry at {self.url}: {type(exc).__name__}: {exc}",
                dependency="the schema registry",
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        message = answer.get("message", response.text[:200]) if isinstance(answer, dict) else ""
        if response.status_code >= 500:
            raise Unavailable(
                "schema_registry_unavailable",
                f"schema registry at {self.url} answered {response.status_code}: {message}",
                dependency="the schema registry",
            )
        if response.status_code == 409:
            raise Conflict("schema_incompatible", f"the schema registry refused {path}: {message}")
        if response.status_code == 404:
            raise Unknown("schema_registry_not_found", f"{path}: {message}")
        if response.status_code >= 400 or not isinstance(answer, dict):
            raise ConfigError(
                "schema_registry_refused",
                f"schema registry at {self.url} answered {response.status_code} to {path}:"
                f" {message}",
            )
        return answer
