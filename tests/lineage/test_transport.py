"""Where events go: the JSONL journal (shared by processes, robust to a torn line) and HTTP
to a real OpenLineage receiver on loopback, which never slows or fails the run it records
when the endpoint is down, slow, failing or swamped."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aurum.config import LineageSettings, Settings
from aurum.errors import ConfigError
from aurum.lineage import HttpDelivery, JsonlFile, Lineage, journal_path, read_journal
from aurum.store import Run

T0 = datetime(2025, 9, 18, 7, 0, tzinfo=UTC)


def a_run(**values: Any) -> Run:
    fields: dict[str, Any] = {
        "run_id": uuid.uuid4().hex, "kind": "ingest", "status": "running",
        "subject": "EOD_PW_20250916_1430.xlsx", "tenant_id": None, "requested_by": "cli:t",
        "request_id": None, "dataset": "curve_observation",
        "partition": {"vendor": "PW", "asof_date": "2025-09-16"}, "vendor": "PW", "asof": None,
        "sha256": "ab" * 32, "params": {}, "result": {}, "snapshot_id": None, "tag": None,
        "version": None, "branch": None, "error_code": None, "error_message": None,
        "gate_failures": [], "queued_at": T0, "started_at": T0, "finished_at": None,
        "heartbeat_at": T0, "lease_owner": "w", "lease_expires_at": None, "attempts": 1,
    }  # fmt: skip
    return Run(**{**fields, **values})


def published(run: Run) -> Run:
    return replace(run, status="published", snapshot_id=42, tag="eod/PW/2025-09-16/v1",
                   version=1, finished_at=T0, result={"rows": 344, "gates": []})  # fmt: skip


def with_endpoint(tmp_path: Path, url: str, **lineage: Any) -> tuple[Settings, Lineage]:
    settings = Settings(home=tmp_path / "home", lineage=LineageSettings(url=url, **lineage))
    return settings, Lineage.from_settings(settings)


def timed(call: Any, *args: Any) -> float:
    started = time.perf_counter()
    call(*args)
    return time.perf_counter() - started


def test_events_arrive_at_the_endpoint_with_the_bearer_token(tmp_path, receiver, journal):
    settings, lineage = with_endpoint(tmp_path, receiver.url, api_key="s3cret-token")
    run = a_run()
    lineage.started(run)
    lineage.finished(published(run))
    lineage.close(timeout=5)
    assert (lineage.sent, lineage.dropped, lineage.written) == (2, 0, 2)
    written = journal(settings)  # what the file holds is what the endpoint got
    assert receiver.bodies == written
    assert [b["eventType"] for b in receiver.bodies] == ["START", "COMPLETE"]
    assert receiver.paths == ["/api/v1/lineage"] * 2
    assert {h["Authorization"] for h in receiver.headers} == {"Bearer s3cret-token"}
    assert {h["Content-Type"] for h in receiver.headers} == {"application/json"}


def test_no_token_is_sent_without_a_key_and_a_base_path_is_kept(tmp_path, receiver):
    delivery = HttpDelivery(f"{receiver.url}/marquez/", timeout_s=2)
    _, lineage = with_endpoint(tmp_path, receiver.url)
    lineage.started(a_run())
    lineage.close(timeout=5)
    run = lineage.events.start(a_run())
    assert delivery.submit(run)
    delivery.close(timeout=5)
    assert receiver.paths == ["/api/v1/lineage", "/marquez/api/v1/lineage"]
    assert all("Authorization" not in h for h in receiver.headers)
    assert (delivery.sent, delivery.dropped) == (1, 0)


def test_an_endpoint_that_is_down_costs_nothing_and_drops_are_counted(
    tmp_path, closed_port, journal
):
    settings, lineage = with_endpoint(tmp_path, f"http://127.0.0.1:{closed_port}", retries=2)
    run = a_run()
    spent = timed(lineage.started, run) + timed(lineage.finished, published(run))
    assert spent < 0.1, spent  # the journal's append only: delivery is another thread's
    lineage.close(timeout=10)
    assert (lineage.sent, lineage.dropped) == (0, 2)  # refused, retried twice, given up
    assert [e["eventType"] for e in journal(settings)] == ["START", "COMPLETE"]  # kept anyway


def test_a_slow_endpoint_times_out_after_its_retries_without_slowing_the_run(tmp_path, receiver):
    receiver.delay_s = 1.5
    _, lineage = with_endpoint(tmp_path, receiver.url, timeout_s=0.2, retries=1)
    run = a_run()
    spent = timed(lineage.started, run) + timed(lineage.finished, published(run))
    assert spent < 0.1, spent
    started = time.perf_counter()
    lineage.close(timeout=10)
    assert time.perf_counter() - started < 5  # 2 events x 2 attempts x 0.2 s, and backoff
    assert (lineage.sent, lineage.dropped) == (0, 2)
    assert receiver.requests == 4  # each event: the first attempt and one retry


def test_an_endpoint_that_answers_errors_is_retried_then_dropped(tmp_path, receiver):
    receiver.status = 503
    _, lineage = with_endpoint(tmp_path, receiver.url, retries=2)
    lineage.started(a_run())
    lineage.close(timeout=10)
    assert (lineage.sent, lineage.dropped, receiver.requests) == (0, 1, 3)


def test_a_full_queue_drops_and_counts_and_what_was_queued_still_arrives(tmp_path, receiver):
    receiver.gate = threading.Event()  # the endpoint holds each answer until the gate opens
    _, lineage = with_endpoint(tmp_path, receiver.url, queue_size=2)
    lineage.started(a_run())
    assert receiver.arrived.wait(5)  # the first is in flight: the queue is empty again
    spent = sum(timed(lineage.started, a_run()) for _ in range(5))
    assert spent < 0.25, spent
    assert (lineage.dropped, lineage.sent) == (3, 0)  # two queued, three dropped
    receiver.gate.set()
    lineage.close(timeout=10)
    assert (lineage.sent, lineage.dropped, lineage.written) == (3, 3, 6)
    assert len(receiver.bodies) == 3


def test_close_is_bounded_and_counts_what_is_left(tmp_path, receiver):
    receiver.gate = threading.Event()
    _, lineage = with_endpoint(tmp_path, receiver.url, queue_size=10)
    for _ in range(4):
        lineage.started(a_run())
    assert receiver.arrived.wait(5)
    assert timed(lineage.close, 0.3) < 1.0
    assert lineage.dropped == 3  # still queued at the deadline; the fourth is in flight
    lineage.started(a_run())  # after close: dropped at once, never queued
    assert lineage.dropped == 4
    receiver.gate.set()


# -- the journal ----------------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from aurum.lineage import JsonlFile

    journal, me = JsonlFile(Path(sys.argv[1])), sys.argv[2]
    for n in range(100):  # lines longer than a pipe's atomic write (4 KiB)
        journal.append(json.dumps({"writer": me, "n": n, "pad": "x" * 6000}))
    """
)


def test_processes_append_whole_lines_to_one_journal(tmp_path: Path):
    path = tmp_path / "lineage" / "events.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(w)]) for w in range(4)
    ]
    assert [w.wait(timeout=60) for w in writers] == [0] * 4
    lines = path.read_text().splitlines()
    seen = sorted((d["writer"], d["n"]) for d in map(json.loads, lines))
    assert seen == sorted((str(w), n) for w in range(4) for n in range(100))


def test_a_torn_line_costs_that_line_only(tmp_path: Path):
    settings = Settings(home=tmp_path / "home")
    path = journal_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text('{"eventType": "START", "run": {"runI')  # a writer died mid-line
    lineage = Lineage.from_settings(settings)
    run = a_run()
    lineage.started(run)
    JsonlFile(path).append("not json at all")
    lineage.finished(published(run))
    found = read_journal(path)
    assert (found.skipped, found.skipped_lines) == (2, (1, 3))
    (only,) = found.runs.values()
    assert [kind for kind, _ in only.events] == ["START", "COMPLETE"]


def test_a_url_that_is_not_one_is_a_config_error_at_once(tmp_path: Path):
    settings = Settings(home=tmp_path, lineage=LineageSettings(url="marquez:5000"))
    with pytest.raises(ConfigError) as raised:
        Lineage.from_settings(settings)
    assert raised.value.code == "lineage_url_invalid"
