"""Events over HTTP: pages from a cursor and Server-Sent Events, scoped to the caller's tenant and
entitlements; webhooks signed, retried and de-duplicable — on SQLite and on PostgreSQL (as a role
row-level security binds)."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.config import EventSettings, Settings
from aurum.events.webhooks import Deliveries, verify
from aurum.ingest.runner import ingest_file
from aurum.lake.catalog import Lake
from aurum.store import Store
from aurum.synthetic import workbook_name, write_workbook

from .conftest import issue_tokens, tenant_app_settings

DAY = date(2025, 9, 16)


class Api:
    def __init__(self, client: TestClient, settings: Settings, tokens: dict[str, str]) -> None:
        self.client, self.settings, self.tokens = client, settings, tokens

    def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=self.auth(who))

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def ingest(self, vendor: str, day: date, folder: Path, seed: int = 0) -> str:
        path = write_workbook(
            folder / f"{seed}" / workbook_name(vendor, day), vendor=vendor, asof=day, seed=seed
        )
        with Store.connect(self.settings) as store:
            report = ingest_file(
                path, lake=Lake(self.settings), store=store, settings=self.settings
            )
        assert report.status == "published", report.error_code
        return report.run_id


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """Tenants acme (EUGP; an analyst and an admin key) and bolt (PW), authentication on."""
    home = tmp_path_factory.mktemp("events-api")
    settings = tenant_app_settings(request, home)
    tokens = issue_tokens(settings, {"acme": ["EUGP"], "bolt": ["PW"]})
    with TestClient(create_app(settings)) as client:
        yield Api(client, settings, tokens)


def test_each_tenant_reads_the_events_of_its_vendors_only(api, tmp_path):
    start = {
        who: api.get(who, "/v1/events", after=-1).json()["meta"]["next"]
        for who in ("acme-analyst", "bolt-analyst")
    }
    eugp = api.ingest("EUGP", DAY, tmp_path)
    pw = api.ingest("PW", DAY, tmp_path)
    acme = api.get("acme-analyst", "/v1/events", after=start["acme-analyst"]).json()
    assert {e["run_id"] for e in acme["data"]} == {eugp}
    assert [e["type"] for e in acme["data"]] == ["curve.observation", "qa.result"]
    assert acme["data"][0]["data"]["tag"].startswith("eod/EUGP/2025-09-16/v")
    bolt = api.get("bolt-analyst", "/v1/events", after=start["bolt-analyst"]).json()
    assert {e["run_id"] for e in bolt["data"]} == {pw}
    # the cursor goes on from there; types filter
    again = api.get("acme-analyst", "/v1/events", after=acme["meta"]["next"]).json()
    assert again["data"] == [] and again["meta"]["next"] >= acme["meta"]["next"]
    only = api.get(
        "bolt-analyst", "/v1/events", after=start["bolt-analyst"], types="curve.observation"
    ).json()
    assert [e["type"] for e in only["data"]] == ["curve.observation"]


def test_bad_cursors_and_types_are_400s_not_500s(api):
    unknown = api.get("acme-analyst", "/v1/events", types="curve.observed")
    assert unknown.status_code == 400 and unknown.json()["code"] == "event_type_unknown"
    for after in (-2, "x"):
        bad = api.get("acme-analyst", "/v1/events", after=after)
        assert bad.status_code == 400 and bad.json()["code"] == "parameter_invalid"
    assert api.client.get("/v1/events").status_code == 401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(api: Api) -> Iterator[str]:
    """The same app served by uvicorn over real HTTP (Server-Sent Events need a real stream)."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(api.settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _listen(
    url: str, token: str, frames: queue.Queue[tuple[float, dict[str, Any]]], stop: threading.Event
) -> None:
    try:
        _read_stream(url, token, frames, stop)
    except httpx.HTTPError:
        if not stop.is_set():  # the server closing the stream at the test's end is expected
            raise


def _read_stream(
    url: str, token: str, frames: queue.Queue[tuple[float, dict[str, Any]]], stop: threading.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.stream("GET", f"{url}/v1/events/stream", headers=headers, timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        frames.put((time.monotonic(), {"open": True}))
        fields: dict[str, str] = {}
        for line in answer.iter_lines():
            if stop.is_set():
                return
            if line == "" and "data" in fields:
                frames.put((time.monotonic(), {**fields, "data": json.loads(fields["data"])}))
                fields = {}
            elif line and not line.startswith(":") and ":" in line:
                name, value = line.split(":", 1)
                fields[name] = value.strip()


def test_a_stream_sees_a_publish_within_a_second(api, served, tmp_path):
    streams = {}
    stop = threading.Event()
    for who in ("acme-analyst", "bolt-analyst"):
        frames: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(
            target=_listen, args=(served, api.tokens[who], frames, stop), daemon=True
        ).start()
        assert frames.get(timeout=10)[1] == {"open": True}
        streams[who] = frames
    time.sleep(0.3)  # the stream has taken its starting cursor
    run_id = api.ingest("EUGP", date(2025, 9, 17), tmp_path)
    published = time.monotonic()
    seen, first = streams["acme-analyst"].get(timeout=5)
    stop.set()
    assert first["event"] == "curve.observation" and first["data"]["run_id"] == run_id
    assert int(first["id"]) == first["data"]["position"]
    assert seen - published < 1.0, f"the stream took {seen - published:.2f} s"
    time.sleep(0.5)
    assert streams["bolt-analyst"].empty()  # not entitled to EUGP: it hears nothing


# -- webhooks --------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook endpoint: answers ``statuses`` in turn (then 200), records what it got."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    delay_s: float = 0.0
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


class _Hook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        receiver.got.append((dict(self.headers), body))
        time.sleep(receiver.delay_s)
        self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver(api: Api, loopback: Any) -> Iterator[Receiver]:
    served = Receiver()
    with loopback(_Hook, receiver=served) as url:
        served.url = f"{url}/hook"
        yield served
    for who in ("acme-admin", "bolt-admin"):  # each test's webhooks go with it
        for hook in api.get(who, "/v1/webhooks").json()["data"]:
            api.client.delete(f"/v1/webhooks/{hook['id']}", headers=api.auth(who))


def _deliveries(api: Api, **settings: Any) -> Deliveries:
    return Deliveries(Store.connect(api.settings), EventSettings(**settings))


def test_a_webhook_gets_its_events_signed_retried_and_in_order(api, receiver, tmp_path):
    created = api.client.post(
        "/v1/webhooks",
        headers=api.auth("acme-admin"),
        json={"name": "desk", "url": receiver.url, "types": ["curve.observation", "qa.result"]},
    )
    assert created.status_code == 201, created.text
    hook = created.json()
    secret = hook["secret"]
    assert api.get("acme-admin", f"/v1/webhooks/{hook['id']}").json()["secret"] is None
    assert api.get("acme-analyst", "/v1/webhooks").status_code == 403  # admins only
    assert api.get("bolt-admin", f"/v1/webhooks/{hook['id']}").status_code == 404

    run_id = api.ingest("EUGP", date(2025, 9, 18), tmp_path)
    api.ingest("PW", date(2025, 9, 18), tmp_path)  # not acme's vendor: never sent
    receiver.statuses = [500, 503]  # the receiver fails twice, then takes it
    deliveries = _deliveries(api)
    now = datetime.now(UTC)
    for step in range(4):  # each failure waits 1 s, then 2 s: step the clock past it
        deliveries.run_once(now + timedelta(seconds=10 * step))
    ids = [headers["Aurum-Event-Id"] for headers, _ in receiver.got]
    assert len(ids) == 4  # the first event three times (two failures), then the second
    assert ids[0] == ids[1] == ids[2] != ids[3]  # a retry is the same event: de-duplicable
    bodies = [json.loads(body) for _, body in receiver.got]
    assert [b["type"] for b in bodies[2:]] == ["curve.observation", "qa.result"]
    assert all(b["run_id"] == run_id for b in bodies)
    assert bodies[2]["position"] < bodies[3]["position"]
    for headers, body in receiver.got:
        assert verify(secret, body, headers["Aurum-Signature"])
        assert not verify("another secret", body, headers["Aurum-Signature"])
    state = api.get("acme-admin", f"/v1/webhooks/{hook['id']}").json()
    assert (state["delivered"], state["failed"], state["attempts"]) == (2, 0, 0)
    # delivered events are not sent again
    deliveries.run_once(now + timedelta(minutes=5))
    assert len(receiver.got) == 4
    assert (
        api.client.delete(f"/v1/webhooks/{hook['id']}", headers=api.auth("acme-admin")).status_code
        == 204
    )


def test_an_event_a_receiver_keeps_refusing_is_given_up_and_counted(api, receiver, tmp_path):
    hook = api.client.post(
        "/v1/webhooks", headers=api.auth("bolt-admin"), json={"name": "x", "url": receiver.url}
    ).json()
    api.ingest("PW", date(2025, 9, 19), tmp_path)
    receiver.statuses = [500] * 3
    deliveries = _deliveries(api, webhook_max_attempts=3)
    now = datetime.now(UTC)
    for step in range(4):
        deliveries.run_once(now + timedelta(minutes=step))
    state = api.get("bolt-admin", f"/v1/webhooks/{hook['id']}").json()
    assert state["failed"] == 1 and state["delivered"] == 1  # the first given up, the next sent
    assert len(receiver.got) == 4


def test_a_hanging_receiver_is_bounded_by_the_timeout(api, receiver, tmp_path):
    hook = api.client.post(
        "/v1/webhooks", headers=api.auth("bolt-admin"), json={"name": "slow", "url": receiver.url}
    ).json()
    receiver.delay_s = 3.0
    started = time.monotonic()
    api.ingest("PW", date(2025, 9, 22), tmp_path)
    assert time.monotonic() - started < 3.0  # the publish never waits for a receiver
    deliveries = _deliveries(api, webhook_timeout_s=0.5)
    started = time.monotonic()
    report = deliveries.run_once()
    assert time.monotonic() - started < 2.5
    assert report.retried == 1
    state = api.get("bolt-admin", f"/v1/webhooks/{hook['id']}").json()
    assert state["attempts"] == 1 and "Timeout" in state["last_error"]
    receiver.delay_s = 0


def test_webhook_urls_and_types_are_checked(api):
    for body, code in (
        ({"name": "x", "url": "file:///etc/passwd"}, "webhook_url_invalid"),
        ({"name": "x", "url": "http://127.0.0.1:1/", "types": ["nope"]}, "event_type_unknown"),
    ):
        answer = api.client.post("/v1/webhooks", headers=api.auth("acme-admin"), json=body)
        assert answer.status_code == 400 and answer.json()["code"] == code
    extra = api.client.post(
        "/v1/webhooks",
        headers=api.auth("acme-admin"),
        json={"name": "x", "url": "http://a.b/", "secret": "mine"},
    )
    assert extra.status_code == 400 and extra.json()["code"] == "parameter_invalid"
