"""``to_currency=`` on the curve reads: the real vendor workbooks priced in another currency at
the real ECB reference rates (the 1999–2026 history, loaded through ``Feeds.load``), to the last
digit, with the rates stated; holidays fall back to the last published rate; refusals."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from aurum.api.app import create_app
from aurum.auth.access import Access
from aurum.config import Settings
from aurum.feeds.service import Feeds
from aurum.lake.catalog import Lake
from aurum.query.fx import FxRates
from aurum.runs import Runs
from aurum.store import Store

ECB = "ecb/ecb_eurofxref-hist_1999-01-04_2026-04-13.zip"
# The ECB's USD and GBP per 1 EUR on the two as-of days read here (from the file itself).
USD = {date(2025, 9, 12): 1.1718, date(2025, 9, 17): 1.1837}
EUR_POWER = {"vendor": "EUGP", "currency": "EUR", "per_unit": "MWh"}


@pytest.fixture(scope="module")
def settings(build_lake: Any, workbooks_dir: Path, feeds: Path) -> Settings:
    """The ten real workbooks (EUGP and RP, five days) and the ECB's whole history."""
    built: Settings = build_lake("currency", sorted(workbooks_dir.glob("EOD_*.xlsx")))
    with Store.connect(built) as store:
        loads = Feeds(Lake(built), store, Runs(store))
        done = loads.load(Access.platform(), (feeds / ECB).read_bytes(), name=Path(ECB).name)
    assert done.status == "published"
    return built


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def fx(settings: Settings) -> FxRates:
    return FxRates(Lake(settings))


def _get(client: TestClient, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params={"limit": 100000, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["curve_key"], row["tenor_label"]


def test_the_ecb_rates_are_those_of_the_file(fx: FxRates) -> None:
    for day, usd in USD.items():
        rate = fx.rate("EUR", "USD", day)
        assert (rate.factor, rate.rate_date, rate.fallback) == (usd, day, False)
    assert fx.rate("USD", "EUR", date(2025, 9, 12)).factor == 1 / 1.1718


def test_a_eur_curve_in_usd_is_each_price_times_the_rate_to_the_last_digit(client: TestClient):
    asof = "2025-09-12"
    plain = _get(client, "/v1/curves", asof=asof, **EUR_POWER)
    converted = _get(client, "/v1/curves", asof=asof, **EUR_POWER, to_currency="USD")
    assert len(plain["data"]) == len(converted["data"]) > 1000
    assert "fx" not in plain["meta"]
    for before, after in zip(plain["data"], converted["data"], strict=True):
        assert _key(before) == _key(after)
        for price in ("value", "bid", "ask", "mid"):
            expected = None if before[price] is None else before[price] * 1.1718
            assert after[price] == expected, (price, before, after)
        assert (after["currency"], after["per_unit"]) == ("USD", "MWh")
        assert after["units_raw"] == before["units_raw"]
    assert sum(r["value"] is not None for r in converted["data"]) > 1000
    stated = converted["meta"]["fx"]
    assert {k: v for k, v in stated.items() if k != "snapshot_id"} == {
        "to": "USD", "source": "ECB",
        "rates": [{"from": "EUR", "asof": asof, "rate_date": asof, "rate": 1.1718,
                   "fallback": False, "ecb_per_eur": {"USD": 1.1718}}],
    }  # fmt: skip


def test_a_holiday_uses_the_last_rate_before_it_and_says_so(fx: FxRates) -> None:
    christmas = fx.rate("EUR", "USD", date(2025, 12, 25))
    assert (christmas.rate_date, christmas.factor, christmas.fallback) == (
        date(2025, 12, 24), 1.1787, True,
    )  # fmt: skip
    saturday = fx.rate("EUR", "USD", date(2025, 9, 13))
    assert (saturday.rate_date, saturday.factor) == (date(2025, 9, 12), 1.1718)
    assert saturday.stated()["fallback"] is True
    # Easter: Good Friday and Easter Monday 2025 are TARGET holidays -> Thursday's rate
    assert fx.rate("EUR", "USD", date(2025, 4, 21)).rate_date == date(2025, 4, 17)


def test_pence_per_therm_in_usd_is_a_hundredth_times_usd_per_gbp(client: TestClient, fx: FxRates):
    asof = date(2025, 9, 12)
    where = {"vendor": "EUGP", "per_unit": "therm", "asof": asof.isoformat()}
    plain = _get(client, "/v1/curves", **where)["data"]
    answer = _get(client, "/v1/curves", **where, to_currency="USD")
    assert plain and {r["currency"] for r in plain} == {"GBp"}
    gbp = fx.rate("EUR", "GBP", asof).factor
    factor = fx.rate("GBp", "USD", asof).factor
    assert factor == 1.1718 / gbp * 0.01
    for before, after in zip(plain, answer["data"], strict=True):
        assert after["value"] == before["value"] * factor
        assert after["value"] == pytest.approx(before["value"] / 100 * (1.1718 / gbp), rel=1e-14)
        assert (after["currency"], after["per_unit"]) == ("USD", "therm")
    [stated] = answer["meta"]["fx"]["rates"]
    assert stated["from"] == "GBp" and stated["ecb_per_eur"] == {"GBP": gbp, "USD": 1.1718}


def test_eur_into_eur_is_the_identity(client: TestClient) -> None:
    where = {**EUR_POWER, "asof": "2025-09-12"}
    plain = _get(client, "/v1/curves", **where)
    same = _get(client, "/v1/curves", **where, to_currency="EUR")
    assert same["data"] == plain["data"]
    assert same["meta"]["fx"]["rates"] == [{
        "from": "EUR", "asof": "2025-09-12", "rate_date": None, "rate": 1.0, "fallback": False,
        "ecb_per_eur": {},
    }]  # fmt: skip


def test_strips_convert_at_their_as_of(client: TestClient) -> None:
    where = {**EUR_POWER, "asof": "2025-09-12", "source": "both"}
    plain = _get(client, "/v1/curves/strips", **where)["data"]
    converted = _get(client, "/v1/curves/strips", **where, to_currency="USD")
    assert len(plain) == len(converted["data"]) > 50
    for before, after in zip(plain, converted["data"], strict=True):
        assert (before["label"], before["source"]) == (after["label"], after["source"])
        assert after["value"] == before["value"] * 1.1718
        assert (after["currency"], after["per_unit"]) == ("USD", "MWh")
    assert [r["rate"] for r in converted["meta"]["fx"]["rates"]] == [1.1718]


def test_a_diff_converts_each_side_at_its_own_as_of(client: TestClient) -> None:
    days = {"asof_from": "2025-09-12", "asof_to": "2025-09-17"}
    plain = _get(client, "/v1/curves/diff", **days, **EUR_POWER)
    answer = _get(client, "/v1/curves/diff", **days, **EUR_POWER, to_currency="USD")
    first, second = USD[date(2025, 9, 12)], USD[date(2025, 9, 17)]
    rows = {_key(r): r for r in answer["data"]}
    assert len(rows) == len(plain["data"]) > 1000
    compared = 0
    for before in plain["data"]:
        after = rows[_key(before)]
        assert after["currency"] == "USD"
        if before["value_from"] is not None:
            assert after["value_from"] == before["value_from"] * first
        if before["value_to"] is not None:
            assert after["value_to"] == before["value_to"] * second
        if after["value_from"] is not None and after["value_to"] is not None:
            assert after["change"] == after["value_to"] - after["value_from"]
            compared += 1
    assert compared > 1000
    assert [(r["asof"], r["rate"]) for r in answer["meta"]["fx"]["rates"]] == [
        ("2025-09-12", first), ("2025-09-17", second),
    ]  # fmt: skip
    heat = _get(client, "/v1/curves/diff/heatmap", **days, **EUR_POWER, to_currency="USD")
    assert heat["data"] and {c["currency"] for c in heat["data"]} == {"USD"}
    assert heat["meta"]["fx"]["rates"] == answer["meta"]["fx"]["rates"]


def test_a_csv_answer_states_its_rates_in_a_header_cached_or_not(client: TestClient) -> None:
    params = {**EUR_POWER, "asof": "2025-09-12", "format": "csv", "to_currency": "USD"}
    first = client.get("/v1/curves", params=params)
    again = client.get("/v1/curves", params=params)
    plain = client.get("/v1/curves", params={k: v for k, v in params.items() if k != "to_currency"})
    assert (first.headers["x-aurum-cache"], again.headers["x-aurum-cache"]) == ("miss", "hit")
    assert first.content == again.content
    assert first.headers["x-aurum-fx"] == again.headers["x-aurum-fx"]
    assert "x-aurum-fx" not in plain.headers
    assert plain.headers["etag"] != first.headers["etag"]
    stated = orjson.loads(first.headers["x-aurum-fx"])
    assert (stated["to"], [r["rate"] for r in stated["rates"]]) == ("USD", [1.1718])
    rows = list(csv.DictReader(io.StringIO(first.text)))
    assert {r["currency"] for r in rows} == {"USD"}
    revalidated = client.get(
        "/v1/curves", params=params, headers={"If-None-Match": first.headers["etag"]}
    )
    assert revalidated.status_code == 304
    assert revalidated.headers["x-aurum-fx"] == first.headers["x-aurum-fx"]


def test_refusals(client: TestClient) -> None:
    def problem(path: str, **params: Any) -> tuple[int, str, dict[str, Any]]:
        response = client.get(path, params=params)
        body = response.json()
        return response.status_code, body["code"], body

    asof = {"asof": "2025-09-12"}
    assert problem("/v1/curves", **asof, vendor="EUGP", to_currency="XYZ")[:2] == (
        400, "currency_unknown",
    )  # fmt: skip
    assert problem("/v1/curves", **asof, vendor="EUGP", to_currency="dollars")[:2] == (
        400, "currency_unknown",
    )  # fmt: skip
    status, code, body = problem("/v1/curves", **asof, vendor="RP", to_currency="USD")
    assert (status, code) == (400, "curve_currency_missing")
    named = body["diagnostics"]["curve_keys"]
    assert len(named) == 19 and named[0] in body["detail"]
    # a currency the ECB stopped publishing (the Cypriot pound, 2007) is never used stale
    assert problem("/v1/curves", **asof, vendor="EUGP", to_currency="CYP")[:2] == (
        404, "fx_rate_missing",
    )  # fmt: skip
    # lower case is the ISO code
    lower = client.get("/v1/curves", params={**asof, **EUR_POWER, "to_currency": "usd"})
    assert lower.json()["meta"]["fx"]["to"] == "USD"


def test_without_rates_loaded_a_conversion_says_so(build_lake: Any, workbooks_dir: Path) -> None:
    bare = build_lake("currency-bare", [workbooks_dir / "EOD_EUGP_20250912_1430.xlsx"])
    with TestClient(create_app(bare)) as client:
        response = client.get("/v1/curves", params={**EUR_POWER, "to_currency": "USD"})
        assert (response.status_code, response.json()["code"]) == (404, "fx_rate_missing"), (
            response.text
        )
        same = client.get("/v1/curves", params={**EUR_POWER, "to_currency": "EUR"})
        assert same.status_code == 200 and same.json()["data"]


def test_the_python_client_converts_and_keeps_the_rates(client: TestClient) -> None:
    from aurum.client import Client

    with Client("http://testserver", http=client) as aurum:
        plain = aurum.curves(**EUR_POWER, asof=date(2025, 9, 12), arrow=True)
        dollars = aurum.curves(**EUR_POWER, asof=date(2025, 9, 12), to_currency="USD",
                               arrow=True)  # fmt: skip
        fx = aurum.last_meta["fx"]
    assert dollars.num_rows == plain.num_rows > 100
    assert set(dollars["currency"].to_pylist()) == {"USD"}
    assert [r["rate"] for r in fx["rates"]] == [USD[date(2025, 9, 12)]]
    assert dollars["value"].to_pylist() == [
        None if v is None else v * USD[date(2025, 9, 12)] for v in plain["value"].to_pylist()
    ]
