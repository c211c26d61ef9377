"""The Confluent wire format: what a Kafka message value holds.

One byte ``0`` (the magic byte), the schema id as 4 bytes big-endian, then the record in Avro's
binary encoding without a header (fastavro's *schemaless* form). Any Confluent deserializer
reads it, given the schema of that id (from a registry, or the local table)::

    >>> from aurum.events.schemas import schema_for
    >>> schema = schema_for("alert")
    >>> value = encode(1007, schema.parsed, {
    ...     "event_id": "e1", "position": 7, "type": "alert", "key": "file_missing|EUGP",
    ...     "tenant_id": None, "vendor": "EUGP", "run_id": None, "occurred_at": 0,
    ...     "data": {"alert_id": "a1", "kind": "file_missing", "severity": "warning",
    ...              "state": "open", "summary": "no EUGP file", "count": 1, "details": None}})
    >>> value[:5], schema_id(value)
    (b'\\x00\\x00\\x00\\x03\\xef', 1007)
    >>> decode(value, lambda _: schema.parsed)[1]["data"]["summary"]
    'no EUGP file'
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Mapping
from typing import Any

import fastavro

from aurum.errors import ValidationFailed

__all__ = ["HEADER", "MAGIC", "decode", "encode", "schema_id"]

MAGIC = 0
HEADER = struct.Struct(">bI")  # magic byte, schema id


def encode(schema_id: int, parsed_schema: Any, record: Mapping[str, Any]) -> bytes:
    """``record`` framed for Kafka: magic byte, schema id, Avro body (``parsed_schema`` is
    fastavro's parsed form of the schema ``schema_id`` names)."""
    out = io.BytesIO()
    out.write(HEADER.pack(MAGIC, schema_id))
    fastavro.schemaless_writer(out, parsed_schema, dict(record))
    return out.getvalue()


def schema_id(value: bytes) -> int:
    """The schema id a framed value names (``ValidationFailed`` when it is not framed)."""
    if len(value) < HEADER.size or value[0] != MAGIC:
        raise ValidationFailed(
            "wire_format_invalid",
            f"not a Confluent-framed Avro value (magic byte 0, 4-byte schema id): {value[:5]!r}",
        )
    return int(HEADER.unpack_from(value)[1])


def decode(value: bytes, schema_of: Callable[[int], Any]) -> tuple[int, dict[str, Any]]:
    """The schema id and the record of a framed value; ``schema_of(id)`` gives the writer's
    parsed schema (from a registry or the local table)."""
    found = schema_id(value)
    body = io.BytesIO(value)
    body.seek(HEADER.size)
    record = fastavro.schemaless_reader(body, schema_of(found), None)
    if not isinstance(record, dict):
        raise ValidationFailed("wire_format_invalid", f"schema {found} does not decode a record")
    return found, record
