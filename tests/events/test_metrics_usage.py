"""Metrics, the operator's JSON summary and tenants' usage, asserted by value after real ingests
(on SQLite and on PostgreSQL as a role row-level security binds)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aurum import telemetry
from aurum.api.app import create_app
from aurum.config import Settings
from aurum.errors import NotInstalledError
from aurum.ingest.runner import ingest_file
from aurum.lake.catalog import Lake
from aurum.store import Store
from aurum.synthetic import workbook_name, write_workbook

from .conftest import issue_tokens, tenant_app_settings

STORE_TTL_S = 1.05


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series in a Prometheus exposition (``None``: not there)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        got = ",".join(sorted(p for p in (match.group(2) or "").split(",") if p))
        if got == wanted:
            return float(match.group(3))
    return None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = tmp_path_factory.mktemp("metrics")
    settings = tenant_app_settings(request, home, api={"freshness_s": 0})
    tokens = issue_tokens(settings, {"acme": ["EUGP", "PW"], "bolt": ["RP"]})
    first = date(2025, 9, 15)  # every test reads this day (each may run on another xdist worker)
    path = home / "inbox" / workbook_name("EUGP", first)
    assert _ingest(settings, write_workbook(path, vendor="EUGP", asof=first)).status == "published"
    with TestClient(create_app(settings)) as client:
        yield client, settings, tokens


def _ingest(settings: Settings, path) -> Any:
    with Store.connect(settings) as store:
        return ingest_file(path, lake=Lake(settings), store=store, settings=settings)


def test_metric_values_follow_an_ingest(app, tmp_path):
    client, settings, tokens = app
    admin = {"Authorization": f"Bearer {tokens['acme-admin']}"}
    before = client.get("/metrics", headers=admin).text
    day = date(2025, 9, 16)
    good = _ingest(
        settings,
        write_workbook(
            tmp_path / workbook_name("EUGP", day), vendor="EUGP", asof=day, faults={"text_price"}
        ),
    )
    assert good.status == "published" and good.parse.quarantine.num_rows > 0
    bad = tmp_path / "bad" / workbook_name("EUGP", date(2025, 9, 17))
    bad.parent.mkdir()
    bad.write_bytes(b"not a workbook")
    assert _ingest(settings, bad).status == "failed"
    time.sleep(STORE_TTL_S)  # the store's figures are read at most once a second
    after = client.get("/metrics", headers=admin).text
    rows = good.parse.observations.num_rows

    def grew(name: str, **labels: str) -> float:
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert grew("aurum_ingest_rows_published_total", vendor="EUGP") == rows
    assert grew("aurum_ingest_rows_quarantined_total", vendor="EUGP") == (
        good.parse.quarantine.num_rows
    )
    assert grew("aurum_run_outcomes_total", kind="ingest", status="published") == 1
    assert grew("aurum_run_outcomes_total", kind="ingest", status="failed") == 1
    assert grew("aurum_ingest_duration_seconds_count", vendor="EUGP") == 2  # both files
    assert sample(after, "aurum_vendor_freshness_days", vendor="EUGP") == (
        (datetime.now(UTC).date() - day).days
    )
    assert grew("aurum_events_newest_position") >= 3  # observation, qa result, error
    # the HTTP series, by route and status
    client.get(
        "/v1/curves",
        params={"vendor": "EUGP", "asof": "latest", "limit": 1},
        headers={"Authorization": f"Bearer {tokens['acme-analyst']}"},
    )
    text = client.get("/metrics", headers=admin).text
    assert (
        sample(text, "aurum_http_request_seconds_count", route="/v1/curves", status="200") or 0
    ) >= 1
    assert (sample(text, "aurum_cache_requests_total", result="miss") or 0) >= 1


def test_the_operator_summary_answers_for_the_tenant(app):
    client, _, tokens = app
    summary = client.get(
        "/v1/observability/metrics", headers={"Authorization": f"Bearer {tokens['acme-admin']}"}
    )
    assert summary.status_code == 200
    (body,) = summary.json()["data"]
    eugp = next(v for v in body["vendors"] if v["vendor"] == "EUGP")
    assert eugp["rows_published"] > 0 and eugp["newest_asof"] in ("2025-09-15", "2025-09-16")
    bolt = client.get(
        "/v1/observability/metrics", headers={"Authorization": f"Bearer {tokens['bolt-admin']}"}
    ).json()
    assert [v["vendor"] for v in bolt["data"][0]["vendors"]] == []  # not entitled to EUGP
    analyst = client.get(
        "/v1/observability/metrics", headers={"Authorization": f"Bearer {tokens['acme-analyst']}"}
    )
    assert analyst.status_code == 403


def test_usage_is_counted_per_tenant_vendor_and_month(app):
    client, _, tokens = app
    analyst = {"Authorization": f"Bearer {tokens['acme-analyst']}"}
    for fmt in ("json", "csv"):
        answer = client.get(
            "/v1/curves",
            params={"vendor": "EUGP", "asof": "latest", "limit": 5, "format": fmt},
            headers=analyst,
        )
        assert answer.status_code == 200
    client.get("/v1/metadata/vendors", headers=analyst)  # metadata is not counted
    month = datetime.now(UTC).strftime("%Y-%m")
    usage = client.get(
        "/v1/usage",
        params={"since": month},
        headers={"Authorization": f"Bearer {tokens['acme-admin']}"},
    ).json()["data"]
    by_kind = {(u["vendor"], u["kind"]): u for u in usage}
    assert by_kind["EUGP", "read"]["requests"] >= 1 and by_kind["EUGP", "read"]["rows"] >= 5
    assert by_kind["EUGP", "export"]["requests"] >= 1
    assert all(u["tenant_id"] == "acme" and u["month"] == month for u in usage)
    theirs = client.get("/v1/usage", headers={"Authorization": f"Bearer {tokens['bolt-admin']}"})
    assert theirs.json()["data"] == []  # bolt read nothing, and never sees acme's
    bad = client.get(
        "/v1/usage",
        params={"since": "2025-13"},
        headers={"Authorization": f"Bearer {tokens['acme-admin']}"},
    )
    assert bad.status_code == 400


def test_json_logs_carry_the_request_id_and_tenant(app, capsys):
    client, _settings, tokens = app
    telemetry.configure_logging("json", "INFO")
    try:
        client.get(
            "/v1/metadata/vendors",
            headers={
                "Authorization": f"Bearer {tokens['bolt-analyst']}",
                "X-Request-Id": "req-123",
            },
        )
    finally:
        telemetry.configure_logging("text", "WARNING")
    lines = [
        json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")
    ]
    access = [line for line in lines if line["logger"] == "aurum.access"]
    assert access and access[-1]["request_id"] == "req-123"
    assert access[-1]["tenant"] == "bolt" and access[-1]["status"] == 200
    assert access[-1]["route"] == "/v1/metadata/vendors"


def test_tracing_on_without_the_sdk_is_an_error_not_a_no_op(monkeypatch):
    import builtins

    real = builtins.__import__

    def without_sdk(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry.sdk"):
            raise ImportError(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", without_sdk)
    with pytest.raises(NotInstalledError) as missing:
        telemetry.configure_tracing(True)
    assert "aurum[otel]" in missing.value.message
    assert not telemetry.tracing_enabled()


def test_spans_cross_api_query_and_lake(app):
    client, _, tokens = app
    telemetry.configure_tracing(True, kept=500)
    try:
        answer = client.get(
            "/v1/curves",
            params={"vendor": "EUGP", "asof": "latest", "limit": 1},
            headers={
                "Authorization": f"Bearer {tokens['acme-analyst']}",
                "Cache-Control": "no-cache",
            },
        )
        assert answer.status_code == 200
        spans = client.get(
            "/v1/observability/traces",
            params={"limit": 500},
            headers={"Authorization": f"Bearer {tokens['acme-admin']}"},
        ).json()
    finally:
        telemetry.configure_tracing(False)
    by_trace: dict[str, list[dict[str, Any]]] = {}
    for span in spans["data"]:
        by_trace.setdefault(span["trace_id"], []).append(span)
    request = next(
        t
        for t in by_trace.values()
        if any(s["attributes"].get("aurum.path") == "/v1/curves" for s in t)
    )
    names = {s["name"] for s in request}
    assert "HTTP GET" in names, names
    assert {"query.pin", "query.execute"} <= names and "lake.current" in names, names
    root = next(s for s in request if s["name"] == "HTTP GET")
    assert all(s["parent_id"] for s in request if s is not root)
    assert root["attributes"]["aurum.tenant"] == "acme"


def test_the_grafana_dashboard_charts_only_series_the_api_exports(app):
    """Every metric the dashboard queries is one ``/metrics`` exposes (after the ingests above)."""
    from pathlib import Path

    client, _, tokens = app
    text = client.get("/metrics", headers={"Authorization": f"Bearer {tokens['acme-admin']}"}).text
    suffixes = {"counter": ("",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    exported = {
        f"{name}{suffix}"
        for _, _, name, kind in (
            line.split() for line in text.splitlines() if line.startswith("# TYPE ")
        )
        for suffix in suffixes.get(kind, ("",))
    }
    dashboard = json.loads(Path(__file__).parents[2].joinpath("ops/grafana/aurum.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(aurum_[a-z_]+)\b", target["expr"])
    }
    assert queried and queried <= exported, sorted(queried - exported)


def test_admins_list_and_acknowledge_alerts_of_their_vendors(app):
    from aurum.alerts import Alerts
    from aurum.config import AlertSettings

    client, settings, tokens = app
    with Store.connect(settings) as store:
        moment = datetime(2025, 9, 18, 15, 0, tzinfo=UTC)  # EUGP's 18th is past its cut-off
        Alerts(store, AlertSettings(), clock=lambda: moment).check()

    def call(who: str, method: str, path: str, **params: Any) -> Any:
        headers = {"Authorization": f"Bearer {tokens[who]}"}
        return client.request(method, path, params=params, headers=headers)

    listed = call("acme-admin", "GET", "/v1/observability/alerts", kind="file_missing").json()
    mine = [a for a in listed["data"] if a["key"] == "file_missing|EUGP|2025-09-18"]
    assert len(mine) == 1 and mine[0]["state"] == "open"
    alert_id = mine[0]["id"]
    bolt = call("bolt-admin", "GET", "/v1/observability/alerts").json()["data"]
    assert all(a["vendor"] != "EUGP" for a in bolt)  # not entitled to EUGP
    assert (
        call("bolt-admin", "POST", f"/v1/observability/alerts/{alert_id}/acknowledge").status_code
        == 404
    )
    acked = call("acme-admin", "POST", f"/v1/observability/alerts/{alert_id}/acknowledge")
    assert acked.status_code == 200, acked.text
    assert acked.json()["data"][0]["state"] == "acknowledged"
    assert call("acme-analyst", "GET", "/v1/observability/alerts").status_code == 403
    assert call("acme-admin", "GET", "/v1/observability/alerts", state="nope").status_code == 400
    resolved = call("acme-admin", "POST", f"/v1/observability/alerts/{alert_id}/resolve")
    assert resolved.json()["data"][0]["state"] == "resolved"
    again = call("acme-admin", "POST", f"/v1/observability/alerts/{alert_id}/acknowledge")
    assert again.status_code == 409 and again.json()["code"] == "alert_resolved"
