"""The schema-registry client against a stub speaking the Confluent REST subset: ids registered
once and cached, schemas fetched by id, an incompatible change refused (409) exactly when the
local BACKWARD check says so, and a registry that is down or slow costs one timeout, no more."""

from __future__ import annotations

import copy
import time

import pytest

from aurum.config import EventSettings
from aurum.errors import Conflict, Unavailable
from aurum.events import wire
from aurum.events.registry import LocalIds, Registry, schema_ids
from aurum.events.schemas import Schema, check_backward, schemas


def test_each_schema_is_registered_once_under_its_topics_subject(registry_stub):
    with Registry(registry_stub.url) as registry:
        ids = {s.subject: registry.id_of(s) for s in schemas().values()}
        again = {s.subject: registry.id_of(s) for s in schemas().values()}
    assert ids == again and len(set(ids.values())) == len(ids)
    assert set(registry_stub.versions) == {f"{s.topic}-value" for s in schemas().values()}
    # one registration per subject: the second round came from the client's cache
    assert [m for m, _ in registry_stub.requests] == ["POST"] * len(ids)
    # registering the same schema again (another relay) answers the same id
    with Registry(registry_stub.url) as other:
        assert (
            other.register("aurum.alert.v1-value", schemas()["alert"].text)
            == ids["aurum.alert.v1-value"]
        )


def test_a_consumer_reads_a_message_by_the_id_it_names(registry_stub):
    alert = schemas()["alert"]
    with Registry(registry_stub.url) as producer_side:
        schema_id = producer_side.id_of(alert)
    record = {
        "event_id": "e" * 32, "position": 3, "type": "alert", "key": "k", "tenant_id": None,
        "vendor": None, "run_id": None, "occurred_at": 1_700_000_000_000,
        "data": {"alert_id": "a", "kind": "stale_curve", "severity": "critical",
                 "state": "open", "summary": "stale", "count": None, "details": None},
    }  # fmt: skip
    value = wire.encode(schema_id, alert.parsed, record)
    with Registry(registry_stub.url) as consumer_side:  # a fresh client: nothing cached
        assert consumer_side.schema(schema_id) == alert.text
        _, decoded = wire.decode(value, consumer_side.schema_of)
    assert decoded["data"]["kind"] == "stale_curve" and decoded["position"] == 3
    assert ("GET", f"/schemas/ids/{schema_id}") in registry_stub.requests


def test_an_incompatible_change_is_refused_by_the_registry_as_by_the_local_check(registry_stub):
    schema = schemas()["scenario.output"]
    document = copy.deepcopy(schema.document)
    document["fields"][-1]["type"]["fields"].append({"name": "region", "type": "string"})
    incompatible = Schema.of("scenario.output", document)
    nullable = copy.deepcopy(schema.document)
    nullable["fields"][-1]["type"]["fields"].append(
        {"name": "region", "type": ["null", "string"], "default": None}
    )
    compatible = Schema.of("scenario.output", nullable)

    with Registry(registry_stub.url) as registry:
        assert registry.compatibility() == "BACKWARD"
        assert registry.is_compatible(schema.subject, schema.text)  # no versions yet
        first = registry.id_of(schema)

        assert check_backward(incompatible.document, schema.document) != []
        assert registry.is_compatible(schema.subject, incompatible.text) is False
        with pytest.raises(Conflict) as caught:
            registry.id_of(incompatible)
        assert caught.value.code == "schema_incompatible" and "incompatible" in caught.value.message

        assert check_backward(compatible.document, schema.document) == []
        assert registry.is_compatible(schema.subject, compatible.text) is True
        second = registry.id_of(compatible)
    assert second != first
    assert registry_stub.versions[schema.subject] == [first, second]


def test_a_registry_that_is_down_is_unavailable_at_once(closed_url):
    started = time.monotonic()
    with Registry(closed_url, timeout_s=2.0) as registry, pytest.raises(Unavailable) as caught:
        registry.id_of(schemas()["alert"])
    assert time.monotonic() - started < 1.0
    assert caught.value.code == "schema_registry_unavailable"
    assert caught.value.public == "the schema registry is unavailable right now; retry shortly"


def test_a_slow_registry_costs_one_timeout(registry_stub):
    registry_stub.delay_s = 3.0
    started = time.monotonic()
    with Registry(registry_stub.url, timeout_s=0.3) as registry, pytest.raises(Unavailable):
        registry.id_of(schemas()["alert"])
    assert time.monotonic() - started < 1.5


def test_the_settings_choose_the_registry_or_the_local_table(registry_stub):
    assert isinstance(schema_ids(EventSettings()), LocalIds)
    chosen = schema_ids(EventSettings(schema_registry_url=registry_stub.url))
    assert isinstance(chosen, Registry) and chosen.url == registry_stub.url
    chosen.close()
