"""The Avro schemas of the Kafka topics: one record schema per event type, kept in the repository.

Each event type ``t`` (``aurum.store.outbox.EVENT_TYPES``) has the topic ``aurum.{t}.v1`` and the
schema ``avro/aurum.{t}.v1.avsc``: a record in the namespace ``aurum.events`` holding the
envelope every event has (``event_id``, ``position``, ``type``, ``key``, ``tenant_id``,
``vendor``, ``run_id``, ``occurred_at`` as ``timestamp-millis``) and the type's payload, typed, in
``data``. Its registry subject is ``{topic}-value`` (TopicNameStrategy).

:func:`to_record` maps an outbox :class:`~aurum.store.outbox.Event` onto its schema and is total:
a payload key the schema lacks, a required field missing, or a value of the wrong type is a
``ValidationFailed`` naming the event and the field, never a silently dropped or coerced value.
ISO dates and times in a payload become Avro ``date`` and ``timestamp-micros``; a string field
marked ``"aurum.encoding": "json"`` carries a JSON value as text. :func:`from_record` is the
inverse, so a consumer gets back the event's JSON payload exactly (an absent nullable key comes
back as null).

Without a schema registry, schema ids come from the local table ``avro/ids.json``: subject →
id and the fingerprint (SHA-256 of :attr:`Schema.text`) of the schema that id names. Changing a
schema therefore needs a new id there (a test fails otherwise), and the change must be BACKWARD
compatible — a consumer on the new schema reads what was written with the old — which
:func:`check_backward` decides with Avro's own schema-resolution rules (the registry applies the
same rule when the relay registers the schema)::

    >>> old = {"type": "record", "name": "R", "fields": [{"name": "a", "type": "string"}]}
    >>> check_backward({**old, "fields": [*old["fields"], {"name": "b", "type": "long"}]}, old)
    ['/fields/1: reader_field_missing_default_value (b)']
    >>> check_backward({**old, "fields": [*old["fields"],
    ...     {"name": "b", "type": ["null", "long"], "default": None}]}, old)
    []
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import fastavro

from aurum.errors import ConfigError, ValidationFailed
from aurum.store.outbox import EVENT_TYPES, Event

__all__ = [
    "ENVELOPE", "LocalId", "Schema", "check_backward", "from_record", "local_ids", "schema_for",
    "schemas", "subject_of", "to_record", "topic_of",
]  # fmt: skip

# The envelope's fields, first in every schema, in this order.
ENVELOPE: tuple[str, ...] = (
    "event_id", "position", "type", "key", "tenant_id", "vendor", "run_id", "occurred_at",
)  # fmt: skip
JSON_ENCODING = "aurum.encoding"  # a string field's property: its value is JSON text
_LONG = 2**63
_INT = 2**31


def topic_of(type_: str) -> str:
    """The Kafka topic of an event type.

    >>> topic_of("curve.observation")
    'aurum.curve.observation.v1'
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}: one of {', '.join(EVENT_TYPES)}")
    return f"aurum.{type_}.v1"


def subject_of(topic: str) -> str:
    """The registry subject of a topic's values (TopicNameStrategy).

    >>> subject_of("aurum.alert.v1")
    'aurum.alert.v1-value'
    """
    return f"{topic}-value"


@dataclass(frozen=True)
class Schema:
    """One topic's schema, as the repository has it."""

    type: str  # the event type
    topic: str
    subject: str
    document: Mapping[str, Any] = field(repr=False, compare=False)  # the .avsc, parsed JSON
    text: str = field(repr=False)  # what is registered: compact JSON with sorted keys
    parsed: Any = field(repr=False, compare=False)  # fastavro's parsed schema
    fingerprint: str = ""  # SHA-256 of ``text``

    @classmethod
    def of(cls, type_: str, document: Mapping[str, Any]) -> Schema:
        """The schema of ``type_`` from its JSON document (the repository's, or a changed one)."""
        topic = topic_of(type_)
        text = json.dumps(document, sort_keys=True, separators=(",", ":"))
        return cls(
            type_, topic, subject_of(topic), document, text,
            fastavro.parse_schema(json.loads(text)),
            hashlib.sha256(text.encode()).hexdigest(),
        )  # fmt: skip


@cache
def schemas() -> Mapping[str, Schema]:
    """Every event type's schema, read once from ``aurum/events/avro``."""
    folder = resources.files("aurum.events") / "avro"
    found = {}
    for type_ in EVENT_TYPES:
        path = folder / f"{topic_of(type_)}.avsc"
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError("schema_missing", f"no readable Avro schema {path}: {exc}") from exc
        found[type_] = Schema.of(type_, document)
    return MappingProxyType(found)


def schema_for(type_: str) -> Schema:
    """The schema of an event type."""
    try:
        return schemas()[type_]
    except KeyError:
        raise ValueError(f"unknown event type {type_!r}: one of {', '.join(EVENT_TYPES)}") from None


@dataclass(frozen=True)
class LocalId:
    """A schema id of the local table, and the fingerprint of the schema it names."""

    id: int
    fingerprint: str


@cache
def local_ids() -> Mapping[str, LocalId]:
    """The local id table (``avro/ids.json``): subject → id and fingerprint."""
    path = resources.files("aurum.events") / "avro" / "ids.json"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        return MappingProxyType({
            subject: LocalId(int(entry["id"]), str(entry["fingerprint"]))
            for subject, entry in table["subjects"].items()
        })  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            "schema_ids_invalid", f"cannot read the local id table {path}: {exc}"
        ) from exc


def check_backward(new: Mapping[str, Any] | str, old: Mapping[str, Any] | str) -> list[str]:
    """Why a consumer using ``new`` could not read data written with ``old`` (none: it can, the
    change is BACKWARD compatible). Avro's own schema-resolution check decides."""
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    def parse(schema: Mapping[str, Any] | str) -> Any:
        return avro.schema.parse(schema if isinstance(schema, str) else json.dumps(schema))

    result = ReaderWriterCompatibilityChecker().get_compatibility(parse(new), parse(old))
    if result.compatibility is SchemaCompatibilityType.compatible:
        return []
    where = sorted(loc for loc in result.locations if loc != "/") or ["/"]
    kinds = ", ".join(sorted(i.value for i in result.incompatibilities))
    return [f"{'; '.join(where)}: {kinds} ({'; '.join(sorted(result.messages))})"]


# -- events <-> records -----------------------------------------------------------------------


def to_record(event: Event, schema: Schema | None = None) -> dict[str, Any]:
    """The Avro record of ``event`` under its topic's schema (``ValidationFailed`` when the
    event does not fit it: the message names the event and the field)."""
    schema = schema or schema_for(event.type)
    values = {
        "event_id": event.event_id, "position": event.position, "type": event.type,
        "key": event.key, "tenant_id": event.tenant_id, "vendor": event.vendor,
        "run_id": event.run_id, "occurred_at": event.occurred_at, "data": event.payload,
    }  # fmt: skip
    try:
        return _to_avro(values, schema.document, "")  # type: ignore[no-any-return]
    except _Misfit as misfit:
        raise ValidationFailed(
            "event_payload_invalid",
            f"event {event.event_id} ({event.type}, position {event.position}) does not fit the"
            f" schema of {schema.topic}: {misfit.path or 'the record'}: {misfit.reason}",
            event_id=event.event_id,
            type=event.type,
            field=misfit.path,
        ) from None


def from_record(record: Mapping[str, Any], schema: Schema) -> Event:
    """The event a decoded record carries, its payload as the outbox holds it (JSON values)."""
    data_type = next(f["type"] for f in schema.document["fields"] if f["name"] == "data")
    return Event(
        position=record["position"], event_id=record["event_id"], type=record["type"],
        key=record["key"], tenant_id=record["tenant_id"], vendor=record["vendor"],
        run_id=record["run_id"], occurred_at=record["occurred_at"],
        payload=_from_avro(record["data"], data_type),
    )  # fmt: skip


class _Misfit(Exception):
    def __init__(self, path: str, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"{path}: {reason}")


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _to_avro(value: Any, type_: Any, path: str, encoding: str | None = None) -> Any:
    """``value`` as fastavro writes it under ``type_``, checked all the way down."""
    if isinstance(type_, list):  # a union: the schemas use [null, X] only
        if value is None:
            if "null" in type_:
                return None
            raise _Misfit(path, "null where a value is required")
        branches = [t for t in type_ if t != "null"]
        if len(branches) != 1:
            raise _Misfit(path, "unions other than [null, X] are not supported")
        return _to_avro(value, branches[0], path, encoding)
    if encoding == "json":
        try:
            return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _Misfit(path, f"not JSON: {exc}") from None
    if isinstance(type_, dict):
        kind, logical = type_["type"], type_.get("logicalType")
        if kind == "record":
            return _record_to_avro(value, type_, path)
        if kind == "array":
            if not isinstance(value, list | tuple):
                raise _Misfit(path, f"expected a list, got {_shown(value)}")
            return [_to_avro(v, type_["items"], f"{path}[{i}]") for i, v in enumerate(value)]
        if logical == "date":
            return _date(value, path)
        if logical in ("timestamp-millis", "timestamp-micros"):
            return _timestamp(value, path)
        return _to_avro(value, kind, path)
    return _primitive(value, type_, path)


def _record_to_avro(value: Any, type_: Mapping[str, Any], path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise _Misfit(path, f"expected an object, got {_shown(value)}")
    fields = type_["fields"]
    unknown = sorted(set(value) - {f["name"] for f in fields})
    if unknown:
        raise _Misfit(path, f"not in the schema: {', '.join(map(str, unknown))}")
    record = {}
    for f in fields:
        where = f"{path}.{f['name']}" if path else f["name"]
        if f["name"] in value:
            record[f["name"]] = _to_avro(value[f["name"]], f["type"], where, f.get(JSON_ENCODING))
        elif "default" in f:
            record[f["name"]] = f["default"]
        else:
            raise _Misfit(where, "missing (the schema requires it)")
    return record


def _primitive(value: Any, type_: str, path: str) -> Any:
    ok = {
        "null": value is None,
        "boolean": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool) and -_INT <= value < _INT,
        "long": isinstance(value, int) and not isinstance(value, bool) and -_LONG <= value < _LONG,
        "float": isinstance(value, int | float) and not isinstance(value, bool),
        "double": isinstance(value, int | float) and not isinstance(value, bool),
        "string": isinstance(value, str),
        "bytes": isinstance(value, bytes),
    }
    if type_ not in ok:
        raise _Misfit(path, f"unsupported Avro type {type_!r}")
    if not ok[type_]:
        raise _Misfit(path, f"expected {type_}, got {_shown(value)}")
    return value


def _date(value: Any, path: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Misfit(path, f"expected a date (YYYY-MM-DD), got {_shown(value)}")


def _timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise _Misfit(path, f"expected an ISO 8601 time, got {_shown(value)}") from None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise _Misfit(path, f"expected a time with its UTC offset, got {_shown(value)}")
    return value


def _from_avro(value: Any, type_: Any, encoding: str | None = None) -> Any:
    """The JSON value the outbox held for ``value`` decoded under ``type_``."""
    if value is None:
        return None
    if isinstance(type_, list):
        return _from_avro(value, next(t for t in type_ if t != "null"), encoding)
    if encoding == "json":
        return json.loads(value)
    if isinstance(type_, dict):
        kind = type_["type"]
        if kind == "record":
            return {
                f["name"]: _from_avro(value[f["name"]], f["type"], f.get(JSON_ENCODING))
                for f in type_["fields"]
            }
        if kind == "array":
            return [_from_avro(v, type_["items"]) for v in value]
        if isinstance(value, date):  # date, timestamp-*: the ISO text the payload had
            return value.isoformat()
    return value
