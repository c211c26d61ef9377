"""The feeds over HTTP: ``/v1/iso/lmp`` (per interval and time-weighted by hour, day and month,
in a block), the node registry, realised vs forward for a PJM hub, ``/v1/series`` at a FRED
vintage, ``/v1/fx``; every figure checked against the recorded payload itself, parsed here
with the standard library."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.auth.access import Access
from aurum.feeds.service import Feeds
from aurum.lake.catalog import Lake
from aurum.runs import Runs
from aurum.store import Store

PJM_DA = "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv"
LOADED = (
    PJM_DA, PJM_DA.replace("_da_", "_rt_"), "fred/fred_series_observations_GDP_2024-10-30.json",
    "fred/fred_series_observations_GDP_initial_release_output_type4.json",
    "ecb/ecb_eurofxref-hist-90d_2016-12-05_2017-03-03.xml",
)  # fmt: skip


@pytest.fixture(scope="module")
def api(build_lake, synthetic_days, feeds: Path) -> Iterator[TestClient]:
    """Synthetic PW forwards as of 2025-04-30 (May 2025 is month 1) and the recorded PJM hub
    prices of 2025-05-01..03, FRED's GDP (two vintage payloads) and 90 days of ECB rates."""
    settings = build_lake("feeds-api", synthetic_days("PW", date(2025, 4, 30), 1))
    with Store.connect(settings) as store:
        loads = Feeds(Lake(settings), store, Runs(store))
        for name in LOADED:
            loads.load(Access.platform(), (feeds / name).read_bytes(), name=Path(name).name)
    with TestClient(create_app(settings)) as client:
        yield client


def _pjm(feeds: Path, node: str) -> list[dict[str, Any]]:
    """The file's rows of ``node``: EPT hour-beginning, total LMP."""
    text = (feeds / PJM_DA).read_text()
    out = []
    for row in csv.DictReader(io.StringIO(text)):
        if row["pnode_name"] == node:
            local = datetime.strptime(row["datetime_beginning_ept"], "%m/%d/%Y %I:%M:%S %p")
            out.append({"local": local, "lmp": float(row["total_lmp_da"])})
    return out


def _data(response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_intervals_are_the_files_rows(api: TestClient, feeds: Path):
    rows = _data(api.get("/v1/iso/lmp", params={
        "iso": "PJM", "node": "WESTERN HUB", "start": "2025-05-01", "aggregate": "interval",
    }))  # fmt: skip
    expected = [r for r in _pjm(feeds, "WESTERN HUB") if r["local"].date() == date(2025, 5, 1)]
    assert [r["lmp"] for r in rows] == [r["lmp"] for r in expected]
    assert len(rows) == 24 and rows[0]["interval_start_utc"].startswith("2025-05-01T04:00:00")
    for r in rows:
        assert r["lmp"] == pytest.approx(r["energy"] + r["congestion"] + r["loss"], abs=0.011)


def test_daily_and_on_peak_means_are_the_files(api: TestClient, feeds: Path):
    rows = _pjm(feeds, "WESTERN HUB")
    daily = _data(api.get("/v1/iso/lmp", params={
        "iso": "PJM", "node": "WESTERN HUB", "start": "2025-05-01", "end": "2025-05-03",
        "aggregate": "daily",
    }))  # fmt: skip
    for day in daily:
        mine = [r["lmp"] for r in rows if r["local"].date().isoformat() == day["operating_day"]]
        assert day["lmp"] == pytest.approx(sum(mine) / len(mine), rel=1e-12)
        assert day["hours"] == 24
    # on-peak: weekdays HE08-HE23 local (hour-beginning 07:00-22:00); 2025-05-03 is a Saturday
    peak = _data(api.get("/v1/iso/lmp", params={
        "iso": "PJM", "node": "WESTERN HUB", "start": "2025-05-01", "end": "2025-05-03",
        "aggregate": "monthly", "block": "ON_PEAK",
    }))  # fmt: skip
    mine = [r["lmp"] for r in rows if r["local"].weekday() < 5 and 7 <= r["local"].hour <= 22]
    assert len(mine) == 32
    assert peak == [pytest.approx({
        "iso": "PJM", "node": "WESTERN HUB", "market_run": "DA", "month": "2025-05",
        "lmp": sum(mine) / 32, "energy": peak[0]["energy"], "congestion": peak[0]["congestion"],
        "loss": peak[0]["loss"], "hours": 32.0, "intervals": 32, "units": "USD/MWh",
    })]  # fmt: skip


def test_real_time_is_its_own_run_and_every_node_by_default(api: TestClient):
    rt = _data(api.get("/v1/iso/lmp", params={
        "iso": "PJM", "start": "2025-05-02", "market_run": "RT", "aggregate": "daily",
    }))  # fmt: skip
    assert len(rt) == 12 and {r["market_run"] for r in rt} == {"RT"}


def test_the_node_registry(api: TestClient):
    nodes = _data(api.get("/v1/iso/nodes", params={"iso": "PJM"}))
    assert len(nodes) == 12
    west = next(n for n in nodes if n["node"] == "WESTERN HUB")
    assert (west["node_type"], west["market_tz"], west["first_day"]) == (
        "hub", "America/New_York", "2025-05-01")  # fmt: skip


def test_realised_beside_the_forward(api: TestClient, feeds: Path):
    answer = _data(api.get("/v1/iso/realised", params={
        "iso": "PJM", "node": "WESTERN HUB", "month": "2025-05",
    }))  # fmt: skip
    by_block = {row["block"]: row for row in answer}
    assert set(by_block) == {"ON_PEAK", "OFF_PEAK", "ATC"}
    rows = _pjm(feeds, "WESTERN HUB")
    on = [r["lmp"] for r in rows if r["local"].weekday() < 5 and 7 <= r["local"].hour <= 22]
    off = [r["lmp"] for r in rows if not (r["local"].weekday() < 5 and 7 <= r["local"].hour <= 22)]
    assert by_block["ON_PEAK"]["realised"] == pytest.approx(sum(on) / len(on))
    assert by_block["OFF_PEAK"]["realised"] == pytest.approx(sum(off) / len(off))
    assert by_block["ATC"]["realised_hours"] == 72
    forward = _data(api.get("/v1/curves", params={
        "vendor": "PW", "iso": "PJM", "location": "West", "market": "DA", "block": "ON_PEAK",
        "asof": "2025-04-30", "month_from": "2025-05", "month_to": "2025-05",
        "tenor_type": "MONTHLY",
    }))  # fmt: skip
    assert len(forward) == 1
    on_peak = by_block["ON_PEAK"]
    assert (on_peak["forward"], on_peak["forward_asof"]) == (forward[0]["value"], "2025-04-30")
    assert on_peak["difference"] == pytest.approx(on_peak["realised"] - on_peak["forward"])


def test_bad_questions_get_codes(api: TestClient):
    def code(path: str, **params: str) -> tuple[int, str]:
        response = api.get(path, params=params)
        return response.status_code, response.json()["code"]

    assert code("/v1/iso/lmp", iso="PJM", start="2025-05-03", end="2025-05-01") == (
        400, "filters_contradictory")  # fmt: skip
    assert code("/v1/iso/lmp", iso="PJM", start="2020-01-01", end="2025-01-01")[1] == (
        "range_too_long")  # fmt: skip
    assert code("/v1/iso/lmp", iso="PJM", start="2025-05-01", block="NIGHTS")[1] == (
        "block_unknown")  # fmt: skip
    assert code("/v1/iso/realised", iso="PJM", node="EASTERN HUB", month="2025-05") == (
        404, "node_not_mapped")  # fmt: skip
    assert code("/v1/series/FRED/NOPE") == (404, "series_unknown")
    assert code("/v1/fx", currency="US$")[1] == "parameter_invalid"


def test_fred_vintages_are_the_as_at_axis(api: TestClient):
    newest = _data(api.get("/v1/series/FRED/GDP", params={"start": "2024-04-01",
                                                           "end": "2024-04-01"}))  # fmt: skip
    assert len(newest) == 1
    # the value first published (the initial release) and the one published on 2024-10-30
    initial = _data(api.get("/v1/series/FRED/GDP", params={
        "start": "2024-04-01", "end": "2024-04-01", "vintage": "2024-08-01"}))  # fmt: skip
    assert len(initial) == 1 and initial[0]["realtime_start"] <= "2024-08-01"
    assert initial[0]["realtime_end"] >= "2024-08-01"


def test_fx_rates(api: TestClient):
    rows = _data(api.get("/v1/fx", params={"currency": "USD,GBP", "start": "2017-03-03"}))
    assert [(r["rate_date"], r["currency"]) for r in rows] == [
        ("2017-03-03", "GBP"), ("2017-03-03", "USD")]  # fmt: skip
    assert all(r["base"] == "EUR" and r["source"] == "ECB" for r in rows)


def test_the_python_client_reads_the_feeds(api: TestClient):
    from aurum.client import Client

    with Client("http://testserver", http=api) as client:
        daily = client.lmp("PJM", date(2025, 5, 1), date(2025, 5, 3), node=["WESTERN HUB"],
                           aggregate="daily")  # fmt: skip
        assert list(daily["operating_day"].astype(str)) == ["2025-05-01", "2025-05-02",
                                                            "2025-05-03"]  # fmt: skip
        realised = client.realised("PJM", "WESTERN HUB", date(2025, 5, 1), arrow=True)
        assert sorted(realised["block"].to_pylist()) == ["ATC", "OFF_PEAK", "ON_PEAK"]
        gdp = client.series("FRED", "GDP", start=date(2024, 1, 1), vintage=date(2024, 8, 1))
        # only Q2's initial release (2024-07-25..08-28) was the published value that day: the
        # loaded payloads hold no other vintage covering it
        assert list(gdp["period"].astype(str)) == ["2024-04-01"]
        rates = client.fx(currency="USD", start=date(2017, 3, 1))
        assert list(rates["currency"]) == ["USD"] * 3


def test_a_forward_curve_s_realised_months(api: TestClient, feeds: Path):
    (curve,) = _data(api.get("/v1/curves", params={
        "vendor": "PW", "iso": "PJM", "location": "West", "market": "DA", "block": "ON_PEAK",
        "asof": "2025-04-30", "month_from": "2025-05", "month_to": "2025-05",
        "tenor_type": "MONTHLY",
    }))  # fmt: skip
    answer = api.get(
        "/v1/iso/realised/monthly",
        params={"curve_key": curve["curve_key"], "month_from": "2025-01", "month_to": "2025-12"},
    )
    rows = _data(answer)
    meta = answer.json()["meta"]
    assert (meta["mapped"], meta["node"], meta["block"]) == (True, "WESTERN HUB", "ON_PEAK")
    on = [r["lmp"] for r in _pjm(feeds, "WESTERN HUB")
          if r["local"].weekday() < 5 and 7 <= r["local"].hour <= 22]  # fmt: skip
    assert [(r["month"], r["hours"]) for r in rows] == [("2025-05", 32.0)]
    assert rows[0]["lmp"] == pytest.approx(sum(on) / len(on))
    # ISO-NE's Mass Hub has no node mapped (the recorded ISO-NE prices are a zone's)
    mass = _data(api.get("/v1/curves", params={"vendor": "PW", "iso": "ISONE",
                                               "asof": "2025-04-30", "limit": 1}))  # fmt: skip
    other = api.get(
        "/v1/iso/realised/monthly",
        params={"curve_key": mass[0]["curve_key"], "month_from": "2025-01", "month_to": "2025-12"},
    )
    assert (_data(other), other.json()["meta"]["mapped"]) == ([], False)


def test_served_interval_json_is_the_computed_answer_byte_for_byte(api: TestClient):
    """A month of intervals comes from the replica's JSON of each node-day; the same rows
    computed (asked as CSV, or from an offset) read the same."""
    params = {"iso": "PJM", "start": "2025-05-01", "end": "2025-05-03", "aggregate": "interval",
              "node": ["WESTERN HUB", "EASTERN HUB"]}  # fmt: skip
    served = api.get("/v1/iso/lmp", params=params)
    assert served.status_code == 200
    body = served.content
    data = body[body.index(b',"data":') + len(b',"data":') : -1]
    # the same answer computed: paged from the start with a limit below the row count, twice
    first = api.get("/v1/iso/lmp", params={**params, "limit": 100}).json()
    rows = list(first["data"])
    cursor = first["meta"]["next_cursor"]
    while cursor:
        page = api.get("/v1/iso/lmp", params={**params, "limit": 100, "cursor": cursor}).json()
        rows += page["data"]
        cursor = page["meta"]["next_cursor"]
    import orjson

    assert data == orjson.dumps(rows)
    assert len(rows) == 2 * 72
    assert [r["node"] for r in rows[:1] + rows[-1:]] == ["EASTERN HUB", "WESTERN HUB"]


def test_a_payload_uploaded_over_http_is_loaded_once(api: TestClient, feeds: Path):
    name = "nyiso/nyiso_damlbmp_zone_20250309_DST_springforward_3zones_sample.csv"
    files = {"file": (Path(name).name, (feeds / name).read_bytes(), "text/csv")}
    first = api.post("/v1/feeds/loads", files=files)
    assert first.status_code == 201, first.text
    (done,) = first.json()["data"]
    assert (done["format"], done["kind"], done["rows"], done["tags"]) == (
        "nyiso.lbmp", "lmp", 69, ["lmp/NYISO/2025-03-09/v1"])  # fmt: skip
    again = api.post("/v1/feeds/loads", files=files)
    assert (again.status_code, again.json()["data"][0]["status"]) == (200, "duplicate")
    html = {"file": ("x_pjm_dataminer2_da_hrl_lmps.csv", b"<html><body>busy</body></html>")}
    refused = api.post("/v1/feeds/loads", files=html)
    assert (refused.status_code, refused.json()["code"]) == (422, "payload_html")
    named = api.post("/v1/feeds/loads", files={"file": ("payload.bin", b"1,2\n")},
                     data={"format": "isone.smd"})  # fmt: skip
    assert (named.status_code, named.json()["code"]) == (422, "feed_params_invalid")
    loads = _data(api.get("/v1/feeds/loads", params={"limit": 3}))
    assert [r["status"] for r in loads][:2] == ["failed", "failed"]
