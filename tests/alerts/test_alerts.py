"""Alerts from real ingests and the vendor schedule: one per condition, one event, one post —
on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

import aurum.synthetic as synthetic
from aurum.alerts import Alerts
from aurum.auth.access import Access
from aurum.cli.main import app as cli
from aurum.config import AlertSettings, GateSettings, Settings
from aurum.events.schemas import to_record
from aurum.ingest.runner import ingest_file
from aurum.lake.catalog import Lake
from aurum.synthetic import workbook_name, write_workbook


@pytest.fixture
def home(tmp_path: Path, store_url: str) -> Settings:
    return Settings(home=tmp_path / "home", store={"url": store_url})


def ingest(
    settings: Settings, store: Any, vendor: str, day: date, folder: Path, **kwargs: Any
) -> Any:
    path = write_workbook(
        folder / f"{day}-{len(list(folder.glob('**/*')))}" / workbook_name(vendor, day),
        vendor=vendor,
        asof=day,
    )
    return ingest_file(path, lake=Lake(settings), store=store, settings=kwargs.get("as_", settings))


def alert_events(store: Any) -> list[Any]:
    with store.transaction(Access.platform(), write=False) as tx:
        return tx.events(types=["alert"], limit=1000)


def all_alerts(store: Any, **filters: Any) -> list[Any]:
    with store.transaction(Access.platform(), write=False) as tx:
        return tx.alerts(**filters)


def rewind(store: Any) -> None:
    """Put the alerts' cursor back to the start, as a lost cursor or a second evaluator would."""
    with store.transaction(Access.platform()) as tx:
        tx.session.execute(sa.text("UPDATE event_cursor SET position = 0 WHERE name = 'alerts'"))


def at(text: str) -> Any:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return lambda: moment


def test_a_gate_failure_raises_one_alert_however_often_it_is_evaluated(home, store, tmp_path):
    first = ingest(home, store, "PW", date(2025, 9, 16), tmp_path)
    assert first.status == "published"
    strict = Settings(
        home=home.home, store=home.store, gates=GateSettings(jump="fail", jump_z=1e-6)
    )
    blocked = ingest(home, store, "PW", date(2025, 9, 17), tmp_path, as_=strict)
    assert blocked.status == "failed"
    alerts = Alerts(store, AlertSettings(quarantine_rate=1.0))
    done = alerts.evaluate()
    (alert,) = done.raised
    assert (alert.kind, alert.vendor, alert.key) == (
        "gate_failure",
        "PW",
        "gate_failure|PW|2025-09-17",
    )
    assert alert.details["rules"] == ["jump"] and alert.details["run_id"] == blocked.run_id
    # the same events again (a second evaluator, or the cursor lost): a sighting, no new alert
    assert alerts.evaluate().raised == []
    rewind(store)
    again = Alerts(store, AlertSettings(quarantine_rate=1.0)).evaluate()
    assert again.raised == [] and again.seen == 1
    (only,) = all_alerts(store)
    assert only.count == 2
    (event,) = alert_events(store)
    assert event.key == alert.key and event.payload["state"] == "open"
    assert event.payload["details"]["rules"] == ["jump"]
    # what the relay sends of it: the Avro record of aurum.alert.v1
    record = to_record(event)
    assert record["data"]["kind"] == "gate_failure" and '"jump"' in record["data"]["details"]


def test_a_quarantine_spike_raises_an_alert(home, store, tmp_path):
    day = date(2025, 9, 16)
    path = write_workbook(
        tmp_path / workbook_name("EUGP", day), vendor="EUGP", asof=day, faults={"text_price"}
    )
    report = ingest_file(path, lake=Lake(home), store=store, settings=home)
    assert report.status == "published" and report.parse.quarantine.num_rows > 0
    assert Alerts(store, AlertSettings(quarantine_rate=0.5)).evaluate().raised == []  # under it
    rewind(store)
    (alert,) = Alerts(store, AlertSettings(quarantine_rate=0.0)).evaluate().raised
    assert alert.kind == "quarantine_rate" and alert.key == "quarantine_rate|EUGP|2025-09-16"
    assert alert.details["quarantined"] == report.parse.quarantine.num_rows
    assert alert.details["price_cells"] == report.parse.conservation.price_cells


def test_a_layout_drift_raises_one_alert_and_an_identical_layout_none(
    home, store, tmp_path, monkeypatch
):
    alerts = Alerts(store, AlertSettings(quarantine_rate=1.0))
    assert ingest(home, store, "EUGP", date(2025, 9, 15), tmp_path).status == "published"
    assert ingest(home, store, "EUGP", date(2025, 9, 16), tmp_path).status == "published"
    assert alerts.evaluate().raised == []  # the same layout on both days
    curves = synthetic._load_curves("EUGP")
    # the next file: the first two curves swapped, a spark spread withdrawn (nothing needs it)
    spark = next(i for i, c in enumerate(curves) if c.family == "spark_spread")
    changed = (curves[1], curves[0], *(c for i, c in enumerate(curves[2:], 2) if i != spark))
    monkeypatch.setattr(synthetic, "_load_curves", lambda vendor: changed)
    moved = ingest(home, store, "EUGP", date(2025, 9, 17), tmp_path)
    assert moved.status == "published"
    (alert,) = alerts.evaluate().raised
    assert alert.kind == "layout_drift" and alert.details["run_id"] == moved.run_id
    (sheet, gone), *_ = alert.details["curves_removed"].items()
    assert len(gone) == 1 and sheet == "Spark Spread"
    assert len(alert.details["curves_moved"]["Fixed Prices - Mid"]) == 1  # a swap: one moved
    assert "the layout changed" in alert.summary
    assert alerts.evaluate().raised == []  # told once


def test_a_missing_file_raises_one_alert_at_the_cut_off_and_its_arrival_resolves_it(
    home, store, tmp_path
):
    # EUGP keeps TARGET days with a 15:30 London cut-off; Easter 2026: 3 and 6 April closed
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    settings = AlertSettings(quarantine_rate=1.0)
    alerts = Alerts(store, settings, clock=at("2026-04-06T18:00:00"))
    assert alerts.check().raised == []  # Good Friday and Easter Monday owe nothing
    before = Alerts(store, settings, clock=at("2026-04-07T14:29:00"))  # 15:29 BST
    assert before.check().raised == []
    after = Alerts(store, settings, clock=at("2026-04-07T14:31:00"))
    (alert,) = after.check().raised
    assert alert.key == "file_missing|EUGP|2026-04-07" and alert.severity == "critical"
    again = after.check()
    assert again.raised == [] and again.seen == 1
    assert [a.count for a in all_alerts(store)] == [2]
    assert len(alert_events(store)) == 1
    # the file arrives: the next evaluation resolves the alert
    assert ingest(home, store, "EUGP", date(2026, 4, 7), tmp_path).status == "published"
    assert after.evaluate().resolved == 1
    (closed,) = all_alerts(store)
    assert closed.state == "resolved"
    assert [e.payload["state"] for e in alert_events(store)] == ["open", "resolved"]
    assert after.check().raised == []  # received now


def test_a_stale_vendor_raises_an_alert(home, store, tmp_path):
    assert ingest(home, store, "PW", date(2026, 11, 20), tmp_path).status == "published"
    # NERC: Thanksgiving (26 Nov) is closed; 23, 24, 25 Nov owed and overdue by the 27th's evening
    alerts = Alerts(
        store, AlertSettings(quarantine_rate=1.0, stale_days=3), clock=at("2026-11-26T23:00:00")
    )
    kinds = sorted(a.kind for a in alerts.check().raised)
    assert kinds == ["file_missing", "file_missing", "file_missing", "stale_curve"]
    (stale,) = all_alerts(store, kind="stale_curve")
    assert stale.details == {"newest_asof": "2026-11-20", "business_days_behind": 3}


class Receiver:
    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.delay_s = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay_s)
                receiver.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/slack"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def slack() -> Iterator[Receiver]:
    served = Receiver()
    yield served
    served.httpd.shutdown()


def test_each_new_alert_is_posted_once_and_a_bad_webhook_costs_only_its_timeout(
    home, store, tmp_path, slack
):
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    settings = AlertSettings(quarantine_rate=1.0, webhook_url=slack.url)
    alerts = Alerts(store, settings, clock=at("2026-04-07T15:00:00"))
    assert alerts.check().notified == 1
    assert alerts.check().notified == 0  # seen again: not posted again
    (post,) = slack.posts
    assert post["text"].startswith("[critical] EUGP 2026-04-07: no file by the cut-off")
    # a webhook that hangs: bounded by the client's timeout, counted, never raised
    slack.delay_s = 3.0
    hanging = Alerts(
        store,
        AlertSettings(quarantine_rate=1.0, webhook_url=slack.url),
        client=httpx.Client(timeout=0.3),
        clock=at("2026-04-08T15:00:00"),
    )
    started = time.monotonic()
    done = hanging.check()
    assert time.monotonic() - started < 2.0
    assert len(done.raised) == 1 and done.notify_failed == 1 and hanging.notify_failures == 1
    # one that is down
    down = Alerts(
        store,
        AlertSettings(quarantine_rate=1.0, webhook_url="http://127.0.0.1:9/x"),
        clock=at("2026-04-09T15:00:00"),
    )
    done = down.check()  # the 9th missing, and EUGP three business days behind now
    assert sorted(a.kind for a in done.raised) == ["file_missing", "stale_curve"]
    assert done.notify_failed == 2 and len(slack.posts) == 1


def test_a_tenant_sees_the_alerts_of_its_vendors_only(home, store, tmp_path):
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    Alerts(store, AlertSettings(), clock=at("2026-04-07T15:00:00")).check()
    with store.transaction(Access.platform()) as tx:
        tx.create_tenant("acme", "Acme")
        tx.create_tenant("bolt", "Bolt")
    entitled = Alerts(store, AlertSettings()).list(Access("acme", vendors=frozenset({"EUGP"})))
    assert [a.kind for a in entitled] == ["file_missing"]
    assert Alerts(store, AlertSettings()).list(Access("bolt", vendors=frozenset({"RP"}))) == []


def test_the_command_lists_and_acknowledges(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path / "home")
    monkeypatch.setenv("AURUM_HOME", str(settings.home))
    from aurum.store import Store

    with Store.connect(settings) as store:
        assert ingest(settings, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
        (alert,) = Alerts(store, AlertSettings(), clock=at("2026-04-07T15:00:00")).check().raised
    runner = CliRunner()
    listed = runner.invoke(cli, ["alerts"])
    assert listed.exit_code == 0, listed.output
    assert alert.id[:8] in listed.output and "file_missing" in listed.output
    acked = runner.invoke(cli, ["alerts", "ack", alert.id[:8], "--json"])
    assert acked.exit_code == 0, acked.output
    assert json.loads(acked.stdout)[0]["state"] == "acknowledged"
    assert runner.invoke(cli, ["alerts", "ack", "nope"]).exit_code == 2
    resolved = runner.invoke(cli, ["alerts", "resolve", alert.id])
    assert resolved.exit_code == 0 and "resolved" in resolved.output
    assert runner.invoke(cli, ["alerts", "ack", alert.id]).exit_code == 2  # resolved: 409
