"""Lineage fixtures: a home with a lake and a store, real ingests in it, an OpenLineage HTTP
receiver on loopback, and the events' round trip through the client's typed model.

No installed package ships the OpenLineage spec's JSON schema (``openlineage-python`` carries
only the generated model, and none of the other packages installed here carries the spec), so
an event is checked as the brief says for that case: rebuilt from its JSON through the typed
model (``openlineage.client.event_v2`` and the facets' classes, whose validators run), written
again with the client's ``Serde``, and compared with what was written; and the spec's required
fields are checked one by one.
"""

from __future__ import annotations

import json
import threading
import time
import types
import typing
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import attr
import pytest
from openlineage.client import event_v2
from openlineage.client.facet_v2 import (
    data_quality_assertions_dataset,
    dataset_version_dataset,
    documentation_dataset,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.serde import Serde

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.lineage import journal_path, shared_lineage
from aurum.lineage.facets import AurumFileFacet, AurumRunFacet, AurumVersionFacet
from aurum.store import Run

# Which class each facet name holds: the spec's, and Aurum's own.
FACETS: dict[str, type] = {
    "schema": schema_dataset.SchemaDatasetFacet,
    "documentation": documentation_dataset.DocumentationDatasetFacet,
    "ownership": ownership_dataset.OwnershipDatasetFacet,
    "version": dataset_version_dataset.DatasetVersionDatasetFacet,
    "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet,
    "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet,
    "processing_engine": processing_engine_run.ProcessingEngineRunFacet,
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "aurum_run": AurumRunFacet,
    "aurum_version": AurumVersionFacet,
    "aurum_file": AurumFileFacet,
}


def _typed(kind: Any, value: Any) -> Any:
    """``value`` (from JSON) as ``kind`` says: attrs classes rebuilt, recursively."""
    if value is None:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        return _typed(options[0], value) if len(options) == 1 else value
    if origin is list:
        return [_typed(args[0], v) for v in value]
    if origin is dict and args and isinstance(args[1], type) and attr.has(args[1]):
        return {name: build(FACETS[name], v) for name, v in value.items()}
    if isinstance(kind, type) and attr.has(kind):
        return build(kind, value)
    if isinstance(kind, type) and issubclass(kind, event_v2.RunState):
        return kind(value)
    return value


def build(cls: type, data: dict[str, Any]) -> Any:
    """An instance of attrs class ``cls`` from its JSON form; a key it has no field for fails."""
    attr.resolve_types(cls)
    known = {f.name: f for f in attr.fields(cls)}
    unknown = set(data) - set(known)
    assert not unknown, f"{cls.__name__} has no field(s) {sorted(unknown)}"
    kwargs = {
        f.alias: _typed(f.type, data[name]) for name, f in known.items() if f.init and name in data
    }
    made = cls(**kwargs)
    for name, f in known.items():  # init=False fields (the schema URLs): must be the class's
        if not f.init and name in data:
            assert getattr(made, name) == data[name], (cls.__name__, name, data[name])
    return made


def round_trip(line: str) -> dict[str, Any]:
    """The event on ``line`` rebuilt through the typed model and serialised again: it must be
    what was written. Returns the event as data."""
    written = json.loads(line)
    typed = build(event_v2.RunEvent, written)
    assert isinstance(typed, event_v2.RunEvent)
    assert Serde.to_dict(typed) == written
    check_required(written)
    return written


def check_required(event: dict[str, Any]) -> None:
    """The fields the spec requires of a run event, its datasets and its facets."""
    for key in ("eventTime", "producer", "schemaURL", "eventType", "run", "job"):
        assert event.get(key), key
    assert event["schemaURL"].startswith("https://openlineage.io/spec/2-0-2/OpenLineage.json")
    assert event["eventType"] in ("START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER")
    uuid.UUID(event["run"]["runId"])
    assert event["job"]["namespace"] and event["job"]["name"]
    facet_groups = [event["run"].get("facets", {}), event["job"].get("facets", {})]
    for dataset in (*event.get("inputs", []), *event.get("outputs", [])):
        assert dataset["namespace"] and dataset["name"]
        facet_groups += [dataset.get(k, {}) for k in ("facets", "inputFacets", "outputFacets")]
    for group in facet_groups:
        for name, facet in group.items():
            assert facet["_producer"] and facet["_schemaURL"].startswith("https://"), name


@pytest.fixture
def journal() -> Callable[[Settings], list[dict[str, Any]]]:
    """``journal(settings)``: every event of the home's journal, each through the round trip."""

    def read(settings: Settings) -> list[dict[str, Any]]:
        return [round_trip(line) for line in journal_path(settings).read_text().splitlines()]

    return read


@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Settings, Any, Any]]:
    """(settings, lake, store) of a fresh home."""
    from aurum.lake import Lake
    from aurum.store import Store

    settings = Settings(home=tmp_path / "home")
    lake, store = Lake(settings), Store.open(settings.store_url)
    yield settings, lake, store
    store.close()


@pytest.fixture
def lineage(home: tuple[Settings, Any, Any]) -> Iterator[Any]:
    """The home's lineage as the run kernel tells it (``shared_lineage``: what ``Runs`` built
    by the ingest runner, the API and the CLI use), closed after."""
    emitter = shared_lineage(home[0])
    yield emitter
    emitter.close()


@pytest.fixture
def ingest(home: tuple[Settings, Any, Any], tmp_path: Path) -> Callable[..., tuple[Any, Run]]:
    """``ingest(path)`` through the real runner (optionally with other ``settings``, e.g.
    gates): its report and its run as the store keeps it."""
    from aurum.ingest.runner import ingest_file

    settings, lake, store = home

    def run(path: Path, settings: Settings = settings) -> tuple[Any, Run]:
        report = ingest_file(path, lake=lake, store=store, settings=settings)
        with store.transaction(Access.platform(), write=False) as tx:
            return report, tx.get_run(report.run_id)

    return run


@pytest.fixture(scope="session")
def pw_day(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generator's PW workbook for 2025-09-16 (344 rows)."""
    from aurum.synthetic import workbook_name, write_workbook

    day = date(2025, 9, 16)
    folder = tmp_path_factory.mktemp("lineage-workbooks")
    return write_workbook(folder / workbook_name("PW", day), vendor="PW", asof=day)


# -- an OpenLineage receiver on loopback ------------------------------------------------------


@dataclass
class Receiver:
    """What the receiver got, and how it answers: after ``delay_s``, or once ``gate`` opens."""

    url: str = ""
    requests: int = 0  # POSTs received, answered or not
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    delay_s: float = 0.0
    status: int = 201
    gate: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)

    def wait_for(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.bodies) >= count, f"{len(self.bodies)} of {count} event(s) arrived"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        state: Receiver = self.server.state  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        state.requests += 1
        state.arrived.set()
        if state.gate is not None:
            state.gate.wait(timeout=10)
        time.sleep(state.delay_s)
        if state.status < 300:
            state.bodies.append(json.loads(body))
            state.headers.append(dict(self.headers))
            state.paths.append(self.path)
        try:
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:  # the client gave up waiting (a timeout): nothing to answer
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(loopback: Any) -> Iterator[Receiver]:
    """An OpenLineage endpoint (``POST /api/v1/lineage``) on 127.0.0.1, stopped after."""
    state = Receiver()
    with loopback(_Handler, state=state) as url:
        state.url = url
        yield state
        if state.gate is not None:
            state.gate.set()


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
