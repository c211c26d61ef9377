"""The outbox: a run's events commit with its end, tell what happened, and reach only whom
they may (on SQLite and on PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.errors import RequestError
from aurum.events.feed import EventFeed
from aurum.ingest.runner import ingest_file
from aurum.lake.catalog import Lake
from aurum.runs import Runs
from aurum.synthetic import workbook_name, write_workbook

DAY = date(2025, 9, 16)


@pytest.fixture
def home(tmp_path, store_url):
    return Settings(home=tmp_path / "home", store={"url": store_url})


def _events(store, access=None, **kwargs):
    with store.transaction(access or Access.platform(), write=False) as tx:
        return tx.events(**kwargs)


def test_a_published_ingest_tells_its_day_and_its_gates(home, store, tmp_path):
    path = write_workbook(tmp_path / workbook_name("EUGP", DAY), vendor="EUGP", asof=DAY)
    report = ingest_file(path, lake=Lake(home), store=store, settings=home)
    assert report.status == "published"
    events = _events(store)
    assert [e.type for e in events] == ["curve.observation", "qa.result"]
    day, qa = events
    assert day.key == qa.key == "EUGP|2025-09-16"
    assert day.run_id == report.run_id and day.vendor == "EUGP" and day.tenant_id is None
    publication = report.publication
    assert publication is not None
    assert day.payload == {
        "run_id": report.run_id,
        "vendor": "EUGP",
        "asof": "2025-09-16",
        "file": path.name,
        "sha256": report.parse.sha256,
        "version": 1,
        "tag": publication.tag,
        "snapshot_id": publication.snapshot_id,
        "rows": report.parse.observations.num_rows,
        "quarantined": report.parse.quarantine.num_rows,
        "price_cells": report.parse.conservation.price_cells,
    }
    assert qa.payload["passed"] is True and qa.payload["gate_failures"] == []
    assert day.position < qa.position

    # the same file again is a duplicate: nothing happened, nothing is told
    again = ingest_file(path, lake=Lake(home), store=store, settings=home)
    assert again.status == "duplicate"
    assert len(_events(store)) == 2


def test_a_failed_file_tells_its_error(home, store, tmp_path):
    path = tmp_path / workbook_name("EUGP", DAY)
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    report = ingest_file(path, lake=Lake(home), store=store, settings=home)
    assert report.status == "failed"
    (event,) = _events(store)
    assert event.type == "ingest.error"
    assert event.payload["error_code"] == report.error_code
    assert event.payload["file"] == path.name and event.run_id == report.run_id


def test_the_event_commits_with_the_run_or_not_at_all(home, store, tmp_path):
    path = write_workbook(tmp_path / workbook_name("EUGP", DAY), vendor="EUGP", asof=DAY)

    def crash(stage: str) -> None:
        if stage == "run_recorded":
            raise KeyboardInterrupt  # the process dies before the run's end commits

    with pytest.raises(KeyboardInterrupt):
        ingest_file(path, lake=Lake(home), store=store, settings=home, pause=crash)
    assert _events(store) == []
    # recovery settles the run from the catalog, and its events come with that
    runs = Runs(store, lease=home.runs.lease)
    with store.transaction(Access.platform()) as tx:
        (run,) = tx.runs(kind="ingest")
        tx.update_run(run.run_id, lease_expires_at=run.started_at)  # its lease has run out
    (recovered,) = runs.recover(Lake(home))
    assert recovered.status == "published"
    assert [e.type for e in _events(store)] == ["curve.observation"]


def test_a_queued_run_is_announced(store):
    runs = Runs(store)
    run = runs.enqueue(Access("acme"), "scenario_run", subject="s1", params={"seed": 1})
    (event,) = _events(store)
    assert (event.type, event.key, event.tenant_id) == (
        "scenario.request",
        "scenario_run|s1",
        "acme",
    )
    assert event.payload["run_id"] == run.run_id


def test_readers_see_their_own_events_and_the_platforms_they_are_entitled_to(store):
    with store.transaction(Access.platform()) as tx:
        for tenant in ("acme", "beta"):
            tx.create_tenant(tenant, tenant)
        tx.emit("curve.observation", key="EUGP|d", payload={}, vendor="EUGP")
        tx.emit("curve.observation", key="PW|d", payload={}, vendor="PW")
        tx.emit("scenario.output", key="scenario|x", payload={}, tenant_id="acme")
        tx.emit("scenario.output", key="scenario|y", payload={}, tenant_id="beta")
    acme = Access("acme", vendors=frozenset({"EUGP"}))
    assert [e.key for e in _events(store, acme)] == ["EUGP|d", "scenario|x"]
    beta = Access("beta", vendors=frozenset())
    assert [e.key for e in _events(store, beta)] == ["scenario|y"]
    assert len(_events(store)) == 4


def test_pages_follow_the_cursor(store):
    with store.transaction(Access.platform()) as tx:
        tx.create_tenant("acme", "acme")
        for n in range(5):
            tx.emit("alert", key=f"k{n % 2}", payload={"n": n})
        tx.emit("scenario.output", key="other", payload={}, tenant_id="acme")
    feed = EventFeed(store)
    first = feed.page(Access.platform(), after=0, limit=2)
    assert [e.payload["n"] for e in first.events] == [0, 1]
    second = feed.page(Access.platform(), after=first.next, limit=10)
    assert [e.payload.get("n") for e in second.events] == [2, 3, 4, None]
    assert feed.page(Access.platform(), after=second.next).events == []
    # a filtered reader still moves to the newest position it sees
    alerts = feed.page(Access.platform(), after=0, types=["alert"])
    assert len(alerts.events) == 5 and alerts.next == second.next
    assert feed.page(Access.platform(), after=-1).next == second.next
    with pytest.raises(RequestError) as unknown:
        feed.page(Access.platform(), types=["curve.observed"])
    assert unknown.value.code == "event_type_unknown"
