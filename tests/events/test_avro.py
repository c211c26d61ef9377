"""The topics' Avro schemas: every event the runs write fits its schema and comes back equal
through the Confluent wire format; a payload that does not fit is named; the local id table
names exactly the repository's schemas; and a change that old data could not be read with is
caught (BACKWARD)."""

from __future__ import annotations

import copy
import io
import json
import struct
from datetime import UTC, datetime

import fastavro
import pytest

from aurum.errors import ConfigError, Unknown, ValidationFailed
from aurum.events import wire
from aurum.events.registry import LocalIds
from aurum.events.schemas import (
    ENVELOPE,
    Schema,
    check_backward,
    from_record,
    local_ids,
    schema_for,
    schemas,
    to_record,
)
from aurum.store.outbox import EVENT_TYPES, Event

AT = datetime(2025, 9, 16, 17, 5, 19, 123000, tzinfo=UTC)  # whole milliseconds


def as_event(run_event, position=1, tenant_id=None):
    return Event(
        position, f"{position:032x}", run_event.type, run_event.key, tenant_id,
        run_event.vendor, run_event.payload.get("run_id"), AT, run_event.payload,
    )  # fmt: skip


def test_each_type_has_its_topic_schema_with_one_envelope():
    assert list(schemas()) == list(EVENT_TYPES)
    envelope = None
    for type_, schema in schemas().items():
        assert schema.topic == f"aurum.{type_}.v1" and schema.subject == f"{schema.topic}-value"
        document = schema.document
        assert document["type"] == "record" and document["namespace"] == "aurum.events"
        names = [f["name"] for f in document["fields"]]
        assert names == [*ENVELOPE, "data"]
        fields = {f["name"]: f["type"] for f in document["fields"][: len(ENVELOPE)]}
        assert fields["occurred_at"] == {"type": "long", "logicalType": "timestamp-millis"}
        assert fields["tenant_id"] == fields["vendor"] == fields["run_id"] == ["null", "string"]
        envelope = envelope or fields
        assert fields == envelope, type_  # the same envelope in every schema


def test_the_topics_are_the_issues():
    assert {s.topic for s in schemas().values()} == {
        "aurum.curve.observation.v1", "aurum.qa.result.v1", "aurum.scenario.output.v1",
        "aurum.scenario.request.v1", "aurum.alert.v1", "aurum.ingest.error.v1",
        "aurum.ppa.valuation.v1", "aurum.feed.load.v1",
    }  # fmt: skip


def test_every_event_type_is_covered_by_the_run_shaped_events(all_run_events):
    assert {e.type for e in all_run_events} == set(EVENT_TYPES)


def test_each_run_event_goes_through_the_wire_and_comes_back_equal(run_event_case):
    for position, run_event in enumerate(run_event_case, start=41):
        event = as_event(run_event, position, tenant_id="acme")
        schema = schema_for(event.type)
        value = wire.encode(1003, schema.parsed, to_record(event))

        assert value[0] == 0 and value[1:5] == (1003).to_bytes(4, "big")
        assert struct.unpack(">bI", value[:5]) == (0, 1003) and wire.schema_id(value) == 1003
        # any Avro reader gets the record from the bytes after the header
        raw = fastavro.schemaless_reader(io.BytesIO(value[5:]), schema.parsed, None)
        assert raw["event_id"] == event.event_id and raw["position"] == position
        assert raw["occurred_at"] == AT and raw["key"] == event.key

        schema_id, record = wire.decode(value, {1003: schema.parsed}.__getitem__)
        back = from_record(record, schema)
        assert schema_id == 1003
        expected = {f["name"]: None for f in _data_fields(schema)} | event.payload
        assert back == Event(**{**vars(event), "payload": expected})
        assert back.payload == expected  # every payload value, exactly (JSON as the outbox has it)


def _data_fields(schema):
    return next(f for f in schema.document["fields"] if f["name"] == "data")["type"]["fields"]


def test_payload_values_are_typed_not_strings():
    published = schemas()["curve.observation"]
    fields = {f["name"]: f["type"] for f in _data_fields(published)}
    assert fields["asof"] == ["null", {"type": "int", "logicalType": "date"}]
    assert fields["snapshot_id"] == fields["rows"] == ["null", "long"]
    qa = {f["name"]: f["type"] for f in _data_fields(schemas()["qa.result"])}
    assert qa["gates"]["type"] == "array" and qa["gates"]["items"]["type"] == "record"
    assert qa["passed"] == "boolean"
    request = {f["name"]: f["type"] for f in _data_fields(schemas()["scenario.request"])}
    assert request["queued_at"] == {"type": "long", "logicalType": "timestamp-micros"}


def test_times_keep_milliseconds_in_the_envelope_and_microseconds_in_payloads(all_run_events):
    queued = next(e for e in all_run_events if e.type == "scenario.request")
    event = Event(
        1, "e" * 32, queued.type, queued.key, None, None, None,
        datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), queued.payload,
    )  # fmt: skip
    schema = schema_for(event.type)
    _, record = wire.decode(
        wire.encode(1, schema.parsed, to_record(event)), lambda _: schema.parsed
    )
    back = from_record(record, schema)
    assert back.occurred_at == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert back.payload["queued_at"] == queued.payload["queued_at"]  # '...12.345678+00:00'
    assert queued.payload["queued_at"].endswith(".345678+00:00")


@pytest.mark.parametrize(
    ("change", "field", "why"),
    [
        (lambda p: p.update(rows="1204"), "data.rows", "expected long, got str '1204'"),
        (lambda p: p.update(colour="red"), "data", "not in the schema: colour"),
        (lambda p: p.pop("run_id"), "data.run_id", "missing (the schema requires it)"),
        (lambda p: p.update(asof="16/09/2025"), "data.asof", "expected a date (YYYY-MM-DD)"),
        (lambda p: p.update(version=True), "data.version", "expected long, got bool True"),
        (lambda p: p.update(snapshot_id=2**63), "data.snapshot_id", "expected long"),
    ],
)
def test_a_payload_that_does_not_fit_is_named_by_event_and_field(
    all_run_events, change, field, why
):
    run_event = next(e for e in all_run_events if e.type == "curve.observation")
    payload = copy.deepcopy(run_event.payload)
    change(payload)
    event = Event(7, "b" * 32, run_event.type, run_event.key, None, "EUGP", None, AT, payload)
    with pytest.raises(ValidationFailed) as caught:
        to_record(event)
    assert caught.value.code == "event_payload_invalid"
    assert caught.value.diagnostics == {"event_id": "b" * 32, "type": "curve.observation",
                                        "field": field}  # fmt: skip
    assert f"event {'b' * 32} (curve.observation, position 7)" in caught.value.message
    assert f"{field}: {why}" in caught.value.message


def test_a_gate_of_the_wrong_shape_is_named_inside_the_array(all_run_events):
    qa = next(e for e in all_run_events if e.type == "qa.result")
    payload = copy.deepcopy(qa.payload)
    payload["gates"][0]["failed"] = "two"
    event = Event(8, "c" * 32, qa.type, qa.key, None, "EUGP", None, AT, payload)
    with pytest.raises(ValidationFailed, match=r"data\.gates\[0\]\.failed: expected long"):
        to_record(event)


def test_an_alerts_details_travel_as_json_text(all_run_events):
    alert = next(e for e in all_run_events if e.type == "alert")
    record = to_record(as_event(alert))
    assert json.loads(record["data"]["details"]) == alert.payload["details"]
    unjsonable = {**alert.payload, "details": {"at": AT}}
    with pytest.raises(ValidationFailed, match=r"data\.details: not JSON"):
        to_record(as_event(type(alert)(alert.type, alert.key, unjsonable)))


# -- the local id table -------------------------------------------------------------------------


def test_the_local_id_table_names_every_topics_current_schema():
    table = local_ids()
    assert set(table) == {s.subject for s in schemas().values()}
    assert len({entry.id for entry in table.values()}) == len(table)  # one id, one schema
    for schema in schemas().values():
        # a schema changed without a new id here fails this line: give it a new id
        assert table[schema.subject].fingerprint == schema.fingerprint, schema.subject
    ids = LocalIds()
    for schema in schemas().values():
        assert ids.schema_of(ids.id_of(schema)) == schema.parsed


def test_the_local_table_refuses_a_changed_schema_and_an_unknown_id():
    document = copy.deepcopy(schemas()["alert"].document)
    document["fields"][-1]["type"]["fields"].append(
        {"name": "note", "type": ["null", "string"], "default": None}
    )
    changed = Schema.of("alert", document)
    with pytest.raises(ConfigError) as caught:
        LocalIds().id_of(changed)
    assert caught.value.code == "schema_id_stale"
    with pytest.raises(Unknown):
        LocalIds().schema_of(1)


# -- BACKWARD compatibility ---------------------------------------------------------------------


def test_the_repositorys_schemas_are_backward_compatible_with_themselves():
    for schema in schemas().values():
        assert check_backward(schema.document, schema.document) == [], schema.topic
        assert check_backward(schema.text, schema.text) == []


def _with_data_field(schema, field):
    document = copy.deepcopy(schema.document)
    document["fields"][-1]["type"]["fields"].append(field)
    return document


def test_an_incompatible_change_is_caught():
    schema = schemas()["curve.observation"]
    # a new field without a default: a new reader cannot read what the old schema wrote
    added = _with_data_field(schema, {"name": "region", "type": "string"})
    problems = check_backward(added, schema.document)
    assert len(problems) == 1 and "reader_field_missing_default_value" in problems[0]
    assert "region" in problems[0]
    # a changed type
    retyped = copy.deepcopy(schema.document)
    retyped["fields"][1]["type"] = "string"  # position: long -> string
    problems = check_backward(retyped, schema.document)
    assert problems and "type_mismatch" in problems[0] and "/fields/1" in problems[0]


def test_a_compatible_change_passes():
    schema = schemas()["curve.observation"]
    nullable = _with_data_field(schema, {"name": "region", "type": ["null", "string"],
                                         "default": None})  # fmt: skip
    assert check_backward(nullable, schema.document) == []
    # dropping a field is BACKWARD compatible (the new reader ignores it); dropping one without
    # a default is not FORWARD compatible (an old reader could not read the new data)
    dropped = copy.deepcopy(schema.document)
    data = dropped["fields"][-1]["type"]["fields"]
    data.remove(next(f for f in data if f["name"] == "file"))
    assert check_backward(dropped, schema.document) == []
    assert check_backward(schema.document, dropped) != []
