"""ECB, FRED and ERCOT payloads of ``../shared/feeds``: every file's expected outcome and the
README's figures; what is not data is recognised; bad input is refused with a code."""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from aurum.feeds.lmp import PayloadError
from aurum.feeds.parsers import ecb, ercot, fred

# file -> (days, currencies, rows)
ECB = {
    "ecb/ecb_eurofxref-daily_2022-07-08.xml": (1, 31, 31),
    "ecb/ecb_eurofxref-hist-90d_2016-12-05_2017-03-03.xml": (64, 31, 1984),
    "ecb/ecb_eurofxref_daily_20260413.csv": (1, 29, 29),
    "ecb/ecb_eurofxref-hist_excerpt_head40_tail3.csv": (43, 38, 1241),
    "ecb/ecb_eurofxref-hist_1999-01-04_2026-04-13.zip": (6983, 41, 217555),
}
# file -> (series, observations, missing values)
FRED = {
    "fred/fred_series_observations_GDP_2024-10-30.json": ("GDP", 315, 4),
    "fred/fred_series_observations_GDP_initial_release_output_type4.json": ("GDP", 132, 0),
    "fred/fred_series_observations_WGS10YR_weekly_rt2024-10-28.json": ("WGS10YR", 3278, 0),
    "fred/fred_graph_csv_DGS10_2024-12-16_2025-01-10.csv": ("DGS10", 20, 2),
}


@pytest.mark.parametrize("name", sorted(ECB))
def test_every_ecb_file(feeds: Path, name: str):
    days, currencies, count = ECB[name]
    rows = ecb.parse((feeds / name).read_bytes()).rows.to_pylist()
    assert len(rows) == count
    assert len({r["rate_date"] for r in rows}) == days
    assert len({r["currency"] for r in rows}) == currencies
    assert all(r["base"] == "EUR" and r["rate"] > 0 for r in rows)


def test_the_ecb_figures(feeds: Path):
    daily = ecb.parse((feeds / "ecb/ecb_eurofxref-daily_2022-07-08.xml").read_bytes()).rows
    usd = [r for r in daily.to_pylist() if r["currency"] == "USD"]
    assert usd == [{"rate_date": date(2022, 7, 8), "base": "EUR", "currency": "USD",
                    "rate": 1.0163, "source": "ECB"}]  # fmt: skip
    csv_daily = ecb.parse((feeds / "ecb/ecb_eurofxref_daily_20260413.csv").read_bytes()).rows
    rates = {r["currency"]: r["rate"] for r in csv_daily.to_pylist()}
    assert rates["USD"] == 1.1684 and rates["ZAR"] == 19.3849
    history = ecb.parse((feeds / "ecb/ecb_eurofxref-hist_1999-01-04_2026-04-13.zip").read_bytes())
    days = sorted({r for r in history.rows.column("rate_date").to_pylist()})
    assert (days[0], days[-1]) == (date(1999, 1, 4), date(2026, 4, 13))
    # N/A is no rate: CYP was quoted until 2007, never after
    cyp = [r["rate_date"] for r in history.rows.to_pylist() if r["currency"] == "CYP"]
    assert max(cyp) < date(2008, 1, 1)


@pytest.mark.parametrize("name", sorted(FRED))
def test_every_fred_file(feeds: Path, name: str):
    series, count, missing = FRED[name]
    rows = fred.parse((feeds / name).read_bytes(), series).rows
    assert rows.num_rows == count and rows.column("value").null_count == missing


def test_fred_vintages_are_the_as_at_axis(feeds: Path):
    first = fred.parse(
        (
            feeds / "fred/fred_series_observations_GDP_initial_release_output_type4.json"
        ).read_bytes(),
        "GDP",
    ).rows.to_pylist()
    assert first[0]["period"] == date(1991, 10, 1) and first[0]["value"] == 5736.6
    assert (first[0]["realtime_start"], first[0]["realtime_end"]) == (
        date(1992, 1, 29),
        date(1992, 2, 27),
    )
    current = fred.parse(
        (feeds / "fred/fred_series_observations_GDP_2024-10-30.json").read_bytes(), "GDP"
    ).rows.to_pylist()
    assert current[0]["value"] is None  # "." in 1946
    assert {r["realtime_start"] for r in current} == {date(2024, 10, 30)}


def test_ercot_payloads(feeds: Path):
    api = ercot.parse_api(
        (
            feeds / "ercot/ercot_api_np6-905-cd_spp_node_zone_hub_LZ_AEN_2026-09-20_21.jsonl"
        ).read_bytes()
    )
    rows = api.rows.to_pylist()
    assert api.kind == "lmp" and len(rows) == 192
    assert Counter(r["operating_day"].isoformat() for r in rows) == {
        "2026-09-20": 96,
        "2026-09-21": 96,
    }
    first = min(rows, key=lambda r: r["interval_start_utc"])
    assert first["interval_start_utc"].isoformat() == "2026-09-20T05:00:00+00:00"  # CDT midnight
    assert (first["interval_end_utc"] - first["interval_start_utc"]).total_seconds() == 900
    before_history = "np4-190-cd_dam_stlmnt_pnt_prices_2021-02-15_EMPTY_before_api_history"
    empty = ercot.parse_api((feeds / f"ercot/ercot_api_{before_history}.json").read_bytes())
    assert empty.kind == "empty" and empty.rows.num_rows == 0
    listing = ercot.parse_api(
        (
            feeds / "ercot/ercot_mis_IceDocListJsonWS_reportTypeId12331_DAMSPNP4190_trimmed.json"
        ).read_bytes()
    )
    assert listing.kind == "document_listing"
    sced = ercot.parse_sced(
        (
            feeds / "ercot/ercot_mis_NP6-788_LMPSROSNODENP6788_20260625_004018_subset.csv"
        ).read_bytes()
    )
    north = [r for r in sced.rows.to_pylist() if r["node"] == "HB_NORTH"]
    assert north[0]["lmp"] == 27.47  # left-padded with spaces in the file
    assert north[0]["interval_start_utc"].isoformat() == "2026-06-25T05:40:18+00:00"
    assert north[0]["derived"] == "interval_end"  # one SCED run: it ends 5 minutes later


def test_bad_series_input_is_refused(feeds: Path):
    daily = (feeds / "ecb/ecb_eurofxref-daily_2022-07-08.xml").read_bytes()
    for spoiled, code in (
        (daily[: len(daily) // 2], "payload_truncated"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "xml_entities"),
        (daily.replace(b"rate='1.0163'", b"rate='USD'"), "payload_invalid"),
        (b"PK\x03\x04 not a zip", "payload_truncated"),
    ):
        with pytest.raises(PayloadError) as refused:
            ecb.parse(spoiled)
        assert refused.value.code == code
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("a.csv", "Date,USD,\n2026-04-13,1.1,\n")
        archive.writestr("b.csv", "Date,USD,\n2026-04-13,1.1,\n")
    with pytest.raises(PayloadError, match="not one"):
        ecb.parse(packed.getvalue())
    with pytest.raises(PayloadError) as refused:
        fred.parse(
            b'{"error_code":400,"error_message":"Bad Request.  The series does not exist."}', "X"
        )
    assert refused.value.code == "payload_error"
    with pytest.raises(PayloadError) as refused:
        fred.parse(b"observation_date,DGS10\n2024-12-16,4.39\n", "DGS2")
    assert refused.value.code == "header_changed"
