"""Alerts from real ingests and the vendor schedule: one per condition, one event, one post —
on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from aurum.alerts import Alerts
from aurum.alerts.service import HORIZON
from aurum.auth.access import Access
from aurum.cli.main import app as cli
from aurum.config import AlertSettings, GateSettings, Settings
from aurum.events.schemas import to_record
from aurum.ingest.runner import ingest_file
from aurum.lake.catalog import Lake
from aurum.synthetic import workbook_name, write_workbook

QUIET = AlertSettings(quarantine_rate=1.0)  # no quarantine alerts unless a test wants them


@pytest.fixture
def home(tmp_path: Path, store_url: str) -> Settings:
    return Settings(home=tmp_path / "home", store={"url": store_url})


def workbook(
    folder: Path, vendor: str, day: date, edit: Callable[[Any], None] | None = None, **kw: Any
) -> Path:
    """The generator's workbook for ``day`` in a folder of its own, edited by ``edit`` (an
    openpyxl workbook) when given."""
    target = folder / f"{vendor}-{day}-{len(list(folder.glob('*')))}" / workbook_name(vendor, day)
    path = write_workbook(target, vendor=vendor, asof=day, **kw)
    if edit is not None:
        book = openpyxl.load_workbook(path)
        edit(book)
        book.save(path)
    return path


def ingest(
    settings: Settings, store: Any, vendor: str, day: date, folder: Path,
    edit: Callable[[Any], None] | None = None, **kw: Any,
) -> Any:  # fmt: skip
    path = workbook(folder, vendor, day, edit, **kw)
    return ingest_file(path, lake=Lake(settings), store=store, settings=settings)


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


def at(text: str) -> Callable[[], datetime]:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return lambda: moment


# -- gates and quarantine ------------------------------------------------------------------------


def blocked_day(home: Settings, store: Any, tmp_path: Path) -> Any:
    """PW's 16 September published, its 17th stopped by a jump gate that fails on anything."""
    assert ingest(home, store, "PW", date(2025, 9, 16), tmp_path).status == "published"
    strict = home.model_copy(update={"gates": GateSettings(jump="fail", jump_z=1e-6)})
    blocked = ingest(strict, store, "PW", date(2025, 9, 17), tmp_path)
    assert blocked.status == "failed"
    return blocked


def test_a_gate_failure_raises_one_alert_however_often_it_is_evaluated(home, store, tmp_path):
    blocked = blocked_day(home, store, tmp_path)
    alerts = Alerts(store, QUIET)
    done = alerts.evaluate()
    (alert,) = done.raised
    assert (alert.kind, alert.vendor, alert.key, alert.severity) == (
        "gate_failure", "PW", "gate_failure|PW|2025-09-17", "critical",
    )  # fmt: skip
    assert alert.details["rules"] == ["jump"] and alert.details["run_id"] == blocked.run_id
    assert alerts.evaluate() == type(done)()  # the cursor moved past: nothing to do
    # the same events again (the cursor lost, or a second evaluator): a sighting, no new alert
    rewind(store)
    again = Alerts(store, QUIET).evaluate()
    assert again.raised == [] and again.seen == 1
    (only,) = all_alerts(store)
    assert only.count == 2
    (event,) = alert_events(store)
    assert event.key == alert.key and event.payload["state"] == "open"
    assert event.payload["details"]["rules"] == ["jump"]
    # what the relay sends of it: the Avro record of aurum.alert.v1
    record = to_record(event)
    assert record["data"]["kind"] == "gate_failure" and '"jump"' in record["data"]["details"]


def test_two_evaluators_racing_for_one_condition_make_one_alert(home, store, tmp_path):
    """Another process raises the same condition while this one evaluates: on PostgreSQL the
    insert meets the other's uncommitted row (``store_conflict``) and becomes a sighting; on
    SQLite the writer waits for it and finds it."""
    blocked_day(home, store, tmp_path)
    outcome: list[Any] = []
    with store.transaction(Access.platform()) as other:
        first, new = other.raise_alert(
            key="gate_failure|PW|2025-09-17", kind="gate_failure", severity="critical",
            summary="raised by the other evaluator", details={}, vendor="PW",
        )  # fmt: skip
        other.emit("alert", key=first.key, payload={"state": "open"}, vendor="PW")
        racer = threading.Thread(target=lambda: outcome.append(Alerts(store, QUIET).evaluate()))
        racer.start()
        time.sleep(0.5)  # the racer reaches its insert and waits on the other's transaction
    racer.join(30)
    (done,) = outcome
    assert new and done.raised == [] and done.seen == 1
    (only,) = all_alerts(store)
    assert (only.id, only.count, only.summary) == (first.id, 2, "raised by the other evaluator")
    assert len(alert_events(store)) == 1


def test_concurrent_evaluators_over_the_same_events_raise_once(home, store, tmp_path):
    blocked_day(home, store, tmp_path)
    start = threading.Barrier(3)
    outcomes: list[Any] = []

    def evaluate() -> None:
        alerts = Alerts(store, QUIET)
        start.wait()
        outcomes.append(alerts.evaluate())

    threads = [threading.Thread(target=evaluate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(outcomes) == 3
    assert sum(len(o.raised) for o in outcomes) == 1
    (only,) = all_alerts(store)
    assert only.count == 1 + sum(o.seen for o in outcomes)
    assert len(alert_events(store)) == 1


def test_a_quarantine_spike_raises_an_alert(home, store, tmp_path):
    day = date(2025, 9, 16)
    report = ingest(home, store, "EUGP", day, tmp_path, faults={"text_price"})
    assert report.status == "published" and report.parse.quarantine.num_rows > 0
    assert Alerts(store, AlertSettings(quarantine_rate=0.5)).evaluate().raised == []  # under it
    rewind(store)
    (alert,) = Alerts(store, AlertSettings(quarantine_rate=0.0)).evaluate().raised
    assert alert.kind == "quarantine_rate" and alert.key == "quarantine_rate|EUGP|2025-09-16"
    assert alert.details["quarantined"] == report.parse.quarantine.num_rows
    assert alert.details["price_cells"] == report.parse.conservation.price_cells


def test_events_older_than_the_horizon_are_read_past_without_alerting(home, store, tmp_path):
    blocked_day(home, store, tmp_path)
    later = datetime.now(UTC) + HORIZON + timedelta(hours=1)
    assert Alerts(store, QUIET, clock=lambda: later).evaluate().raised == []
    assert all_alerts(store) == []
    assert Alerts(store, QUIET).evaluate().raised == []  # the cursor moved past them


# -- layout drift ----------------------------------------------------------------------------------


def swap_first_two_curves(book: Any) -> None:
    for name in ("Fixed Prices - Mid", "Fixed Prices - BidAsk"):
        sheet = book[name]
        for row in sheet.iter_rows():
            row[2].value, row[3].value = row[3].value, row[2].value


def add_a_curve(book: Any) -> None:
    """A new curve after the last one: the first curve's column with another product."""
    for name in ("Fixed Prices - Mid", "Fixed Prices - BidAsk"):
        sheet = book[name]
        new = sheet.max_column + 1
        for row in range(1, sheet.max_row + 1):
            sheet.cell(row, new).value = sheet.cell(row, 3).value
        sheet.cell(7, new).value = "Belgium_NEW"


def drop_strips_bidask(book: Any) -> None:
    del book["Strips - BidAsk"]


def blank_the_third_curve(book: Any) -> None:
    """Curve 2 not quoted today: its identity cells stay, its prices are blank."""
    for name in ("Fixed Prices - Mid", "Fixed Prices - BidAsk"):
        sheet = book[name]
        for row in range(12, sheet.max_row + 1):
            sheet.cell(row, 5).value = None


def changes(book: Any) -> None:
    swap_first_two_curves(book)
    add_a_curve(book)
    drop_strips_bidask(book)


def test_a_layout_drift_raises_one_alert_naming_what_changed(home, store, tmp_path):
    alerts = Alerts(store, QUIET)
    assert ingest(home, store, "EUGP", date(2025, 9, 15), tmp_path).status == "published"
    # the same layout, one curve not quoted for a day: no drift (its identity row is there)
    same = ingest(home, store, "EUGP", date(2025, 9, 16), tmp_path, blank_the_third_curve)
    assert same.status == "published" and same.parse.layout["Fixed Prices - Mid"][2][0] == 4
    assert alerts.evaluate().raised == []
    drifted = ingest(home, store, "EUGP", date(2025, 9, 17), tmp_path, changes)
    assert drifted.status == "published"
    (alert,) = alerts.evaluate().raised
    assert alert.kind == "layout_drift" and alert.severity == "warning"
    assert alert.key == f"layout_drift|EUGP|{drifted.run_id}"
    assert alert.details["run_id"] == drifted.run_id
    assert alert.details["previous_run"] == same.run_id
    layout = drifted.parse.layout["Fixed Prices - Mid"]
    first, second, *_, (new_column, new_key) = layout
    assert alert.details["sheets_added"] == [] and alert.details["sheets_removed"] == [
        "Strips - BidAsk"
    ]
    # the swap: one curve moved (the other kept its order); the new curve in column AY
    assert alert.details["curves_moved"] == {
        sheet: [{"curve": first[1], "from": "D", "to": "C"}]
        for sheet in ("Fixed Prices - Mid", "Fixed Prices - BidAsk")
    }
    assert new_column == 50 and alert.details["curves_added"] == {
        sheet: [{"curve": new_key, "column": "AY"}]
        for sheet in ("Fixed Prices - Mid", "Fixed Prices - BidAsk")
    }
    assert second[1] != new_key and alert.details["curves_removed"] == {}
    assert alert.details["counts"] == {"added": 2, "removed": 0, "moved": 2}
    assert alert.summary == (
        "EUGP 2025-09-17: the layout changed since the previous file: sheet(s) removed: Strips -"
        " BidAsk; 1 new curve(s) in 'Fixed Prices - Mid'; 1 new curve(s) in 'Fixed Prices -"
        " BidAsk'; 1 moved curve(s) in 'Fixed Prices - Mid'; 1 moved curve(s) in 'Fixed Prices"
        " - BidAsk'"
    )
    rewind(store)
    again = alerts.evaluate()
    assert again.raised == [] and again.seen == 1  # told once
    assert [e.payload["kind"] for e in alert_events(store)] == ["layout_drift"]
    # the next file keeps the new layout: compared with the drifted file, nothing changed
    assert ingest(home, store, "EUGP", date(2025, 9, 18), tmp_path, changes).status == "published"
    assert alerts.evaluate().raised == []


def test_a_file_failing_its_gates_is_compared_too(home, store, tmp_path):
    assert ingest(home, store, "PW", date(2025, 9, 16), tmp_path).status == "published"
    strict = home.model_copy(update={"gates": GateSettings(jump="fail", jump_z=1e-6)})
    path = workbook(tmp_path, "PW", date(2025, 9, 17), drop_strips_bidask)
    blocked = ingest_file(path, lake=Lake(strict), store=store, settings=strict)
    assert blocked.status == "failed" and blocked.parse.layout is not None
    kinds = sorted(a.kind for a in Alerts(store, QUIET).evaluate().raised)
    assert kinds == ["gate_failure", "layout_drift"]
    (drift,) = all_alerts(store, kind="layout_drift")
    assert drift.details["sheets_removed"] == ["Strips - BidAsk"]


def test_the_previous_file_is_the_one_before_in_as_of_order(home, store, tmp_path):
    """A late file for an older day is compared with the day before it, not with the newest."""
    assert ingest(home, store, "EUGP", date(2025, 9, 15), tmp_path).status == "published"
    assert ingest(home, store, "EUGP", date(2025, 9, 17), tmp_path, changes).status == "published"
    late = ingest(home, store, "EUGP", date(2025, 9, 16), tmp_path)
    assert late.status == "published"
    (alert,) = Alerts(store, QUIET).evaluate().raised  # the 17th against the 15th only
    assert alert.details["asof"] == "2025-09-17"


# -- missing files and stale vendors --------------------------------------------------------------


def test_a_missing_file_raises_one_alert_at_the_cut_off_and_its_arrival_resolves_it(
    home, store, tmp_path
):
    # EUGP keeps TARGET days with a 15:30 London cut-off; Easter 2026: 3 and 6 April closed
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    alerts = Alerts(store, QUIET, clock=at("2026-04-06T18:00:00"))
    assert alerts.check().raised == []  # Good Friday, the weekend and Easter Monday owe nothing
    before = Alerts(store, QUIET, clock=at("2026-04-07T14:29:00"))  # 15:29 BST
    assert before.check().raised == []
    after = Alerts(store, QUIET, clock=at("2026-04-07T14:31:00"))
    (alert,) = after.check().raised
    assert alert.key == "file_missing|EUGP|2026-04-07" and alert.severity == "critical"
    assert alert.summary == "EUGP 2026-04-07: no file by the cut-off 2026-04-07 14:30 UTC"
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


def test_a_file_that_failed_is_still_missing_and_a_check_resolves_what_arrived(
    home, store, tmp_path
):
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    broken = ingest(home, store, "EUGP", date(2026, 4, 7), tmp_path, faults={"date_not_date"})
    assert broken.status == "failed" and broken.parse.asof is None  # a dead letter, no day
    strict = home.model_copy(update={"gates": GateSettings(jump="fail", jump_z=1e-6)})
    path = workbook(tmp_path, "EUGP", date(2026, 4, 7))
    blocked = ingest_file(path, lake=Lake(strict), store=store, settings=strict)
    assert blocked.status == "failed"  # read as the 7th's, stopped by a gate
    alerts = Alerts(store, QUIET, clock=at("2026-04-08T15:00:00"))
    raised = {a.details["asof"]: a for a in alerts.check().raised}
    assert sorted(raised) == ["2026-04-07", "2026-04-08"]  # a file that failed is no file
    assert raised["2026-04-07"].details["failed_runs"] == [blocked.run_id]
    assert raised["2026-04-07"].summary.endswith("14:30 UTC (1 came and failed)")
    assert raised["2026-04-08"].details["failed_runs"] == []
    # the 8th arrives; the check resolves its alert even before the events are evaluated
    assert ingest(home, store, "EUGP", date(2026, 4, 8), tmp_path).status == "published"
    done = alerts.check()
    assert done.raised == [] and done.resolved == 1 and done.seen == 1  # the 7th, still missing
    assert {a.details["asof"]: a.state for a in all_alerts(store)} == {
        "2026-04-07": "open", "2026-04-08": "resolved",
    }  # fmt: skip


def test_a_vendor_new_here_owes_nothing_before_its_first_day(home, store, tmp_path):
    assert ingest(home, store, "EUGP", date(2026, 4, 9), tmp_path).status == "published"
    alerts = Alerts(store, QUIET, clock=at("2026-04-10T15:00:00"))
    (alert,) = alerts.check().raised  # not the 7th and 8th, before the first file
    assert alert.key == "file_missing|EUGP|2026-04-10"
    nothing_yet = Alerts(store, QUIET, clock=at("2026-04-09T15:00:00"))
    assert nothing_yet.check().raised == []  # RP and PW: never ingested, never owed


def test_a_stale_vendor_raises_an_alert_until_a_newer_day_is_published(home, store, tmp_path):
    assert ingest(home, store, "PW", date(2026, 11, 20), tmp_path).status == "published"
    # NERC: Thanksgiving (26 Nov) is closed; 23, 24, 25 Nov owed and overdue by the 26th
    alerts = Alerts(
        store, AlertSettings(quarantine_rate=1.0, stale_days=3), clock=at("2026-11-26T23:00:00")
    )
    kinds = sorted(a.kind for a in alerts.check().raised)
    assert kinds == ["file_missing", "file_missing", "file_missing", "stale_curve"]
    (stale,) = all_alerts(store, kind="stale_curve")
    assert stale.key == "stale_curve|PW"
    assert stale.details == {"newest_asof": "2026-11-20", "business_days_behind": 3}
    assert stale.summary == "PW: the newest published as-of is 2026-11-20 (3 business days behind)"
    assert alerts.check().raised == []  # still stale: a sighting
    assert ingest(home, store, "PW", date(2026, 11, 25), tmp_path).status == "published"
    assert alerts.evaluate().resolved == 2  # the 25th's missing file and the stale vendor
    assert {a.kind: a.state for a in all_alerts(store, state="resolved")} == {
        "file_missing": "resolved", "stale_curve": "resolved",
    }  # fmt: skip
    assert alerts.check().raised == []  # one day behind now: not stale


# -- the webhook ---------------------------------------------------------------------------------


@dataclass
class Receiver:
    """A Slack-compatible incoming webhook: what it was posted; answers after ``delay_s``."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    delay_s: float = 0.0


class _Slack(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        receiver: Receiver = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(receiver.delay_s)
        receiver.posts.append(json.loads(body))
        try:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:  # the client gave up waiting: that is the point
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slack(loopback: Any) -> Iterator[Receiver]:
    served = Receiver()
    with loopback(_Slack, receiver=served) as url:
        served.url = f"{url}/hooks/slack"
        yield served


def test_each_new_alert_is_posted_once(home, store, tmp_path, slack):
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    settings = AlertSettings(quarantine_rate=1.0, webhook_url=slack.url)
    alerts = Alerts(store, settings, clock=at("2026-04-07T15:00:00"))
    assert alerts.check().notified == 1
    assert alerts.check().notified == 0  # seen again: not posted again
    later = Alerts(store, settings, clock=at("2026-04-08T15:00:00")).check()
    assert (len(later.raised), later.seen, later.notified) == (1, 1, 1)
    assert [p["text"] for p in slack.posts] == [
        f"[critical] EUGP 2026-04-0{d}: no file by the cut-off 2026-04-0{d} 14:30 UTC"
        f" (alert {a.id[:8]}, file_missing)"
        for d, a in zip((7, 8), sorted(all_alerts(store), key=lambda a: a.key), strict=True)
    ]


def test_a_webhook_that_hangs_or_is_down_costs_a_pass_one_timeout_and_never_raises(
    home, store, tmp_path, slack
):
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    slack.delay_s = 3.0
    hanging = Alerts(
        store, AlertSettings(quarantine_rate=1.0, webhook_url=slack.url),
        client=httpx.Client(timeout=0.3), clock=at("2026-04-09T15:00:00"),
    )  # fmt: skip
    started = time.monotonic()
    done = hanging.check()
    elapsed = time.monotonic() - started
    # the 7th, 8th and 9th missing and EUGP stale: four alerts, one timeout's wait for all
    assert len(done.raised) == 4 and elapsed < 1.5, elapsed
    assert (done.notified, done.notify_failed, hanging.notify_failures) == (0, 4, 4)
    hanging.close()
    down = Alerts(
        store, AlertSettings(quarantine_rate=1.0, webhook_url="http://127.0.0.1:9/x"),
        clock=at("2026-04-10T15:00:00"),
    )  # fmt: skip
    done = down.check()
    down.close()
    assert [a.key for a in done.raised] == ["file_missing|EUGP|2026-04-10"]
    assert (done.notified, done.notify_failed) == (0, 1)
    assert len(all_alerts(store)) == 5 and len(alert_events(store)) == 5


def test_an_ingest_never_waits_for_the_webhook(home, store, tmp_path, slack):
    slack.delay_s = 5.0
    settings = home.model_copy(
        update={"alerts": AlertSettings(quarantine_rate=0.0, webhook_url=slack.url)}
    )
    started = time.monotonic()
    report = ingest(settings, store, "EUGP", date(2025, 9, 16), tmp_path, faults={"text_price"})
    assert report.status == "published" and time.monotonic() - started < 5.0
    assert slack.posts == []  # nothing in the ingest's path posts: the evaluator does, later
    with closing(Alerts(store, settings.alerts, client=httpx.Client(timeout=0.2))) as alerts:
        done = alerts.evaluate()
    assert [a.kind for a in done.raised] == ["quarantine_rate"] and done.notify_failed == 1


def test_a_receiver_that_refuses_is_asked_once_and_an_error_twice(home, store, tmp_path):
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    asked: list[int] = []

    def answer(status: int) -> httpx.Client:
        def handler(request: httpx.Request) -> httpx.Response:
            asked.append(status)
            return httpx.Response(status)

        return httpx.Client(transport=httpx.MockTransport(handler))

    settings = AlertSettings(quarantine_rate=1.0, webhook_url="https://hooks.example/x")
    refused = Alerts(store, settings, client=answer(403), clock=at("2026-04-07T15:00:00"))
    assert refused.check().notify_failed == 1 and asked == [403]
    failing = Alerts(store, settings, client=answer(503), clock=at("2026-04-08T15:00:00"))
    assert failing.check().notify_failed == 1 and asked == [403, 503, 503]


# -- who sees them, and the command ----------------------------------------------------------------


def test_a_tenant_sees_the_alerts_of_its_vendors_only(home, store, tmp_path):
    assert ingest(home, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
    Alerts(store, QUIET, clock=at("2026-04-07T15:00:00")).check()
    with store.transaction(Access.platform()) as tx:
        tx.create_tenant("acme", "Acme")
        tx.create_tenant("bolt", "Bolt")
    entitled = Alerts(store, QUIET).list(Access("acme", vendors=frozenset({"EUGP"})))
    assert [a.kind for a in entitled] == ["file_missing"]
    assert Alerts(store, QUIET).list(Access("bolt", vendors=frozenset({"RP"}))) == []


def test_the_command_lists_acknowledges_resolves_and_checks(tmp_path, monkeypatch):
    settings = Settings(home=tmp_path / "home")
    monkeypatch.setenv("AURUM_HOME", str(settings.home))
    from aurum.store import Store

    with Store.connect(settings) as store:
        assert ingest(settings, store, "EUGP", date(2026, 4, 2), tmp_path).status == "published"
        (alert,) = Alerts(store, QUIET, clock=at("2026-04-07T15:00:00")).check().raised
        blocked_day(settings, store, tmp_path)
    runner = CliRunner()
    listed = runner.invoke(cli, ["alerts"])
    assert listed.exit_code == 0, listed.output
    assert alert.id[:8] in listed.output and "file_missing" in listed.output
    assert max(map(len, listed.output.splitlines())) <= 80
    checked = runner.invoke(cli, ["alerts", "check", "--json"])  # now: files missing too
    assert checked.exit_code == 0, checked.output
    raised = json.loads(checked.stdout)
    assert "gate_failure|PW|2025-09-17" in [a["key"] for a in raised]
    assert f"{len(raised)} raised, 0 seen again" in checked.stderr
    assert json.loads(runner.invoke(cli, ["alerts", "check", "--json"]).stdout) == []
    acked = runner.invoke(cli, ["alerts", "ack", alert.id[:8], "--json"])
    assert acked.exit_code == 0, acked.output
    assert json.loads(acked.stdout)[0]["state"] == "acknowledged"
    assert runner.invoke(cli, ["alerts", "ack", "nope"]).exit_code == 2
    listed = runner.invoke(cli, ["alerts", "--state", "acknowledged", "--json"])
    assert [a["id"] for a in json.loads(listed.stdout)] == [alert.id]
    resolved = runner.invoke(cli, ["alerts", "resolve", alert.id])
    assert resolved.exit_code == 0 and "resolved" in resolved.output
    assert runner.invoke(cli, ["alerts", "ack", alert.id]).exit_code == 2  # resolved: 409
    remaining = json.loads(runner.invoke(cli, ["alerts", "--json"]).stdout)
    assert alert.id not in [a["id"] for a in remaining] and len(remaining) == len(raised)
