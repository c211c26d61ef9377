"""The ISO LMP parsers on the recorded real payloads of ``../shared/feeds``: one table of every
file they read with its expected outcome (rows, nodes, hours per day), the README's figures
reproduced, the component identity row by row, DST days with 23/25 hours and no duplicated or
missing UTC interval; and bad input refused with a code, nothing half-read."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from aurum.feeds.lmp import FeedRows, PayloadError, check_identity
from aurum.feeds.parsers import caiso, isone, miso, nyiso, pjm, spp

Parse = Callable[[bytes], FeedRows]


def nyiso_rt(payload: bytes) -> FeedRows:
    return nyiso.parse(payload, "RT")


def isone_ct(payload: bytes) -> FeedRows:
    return isone.parse(payload, "CT")


# file -> (parser, rows, {node: rows}, market runs)
PARSED: dict[str, tuple[Parse, int, dict[str, int], set[str]]] = {
    "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv": (
        pjm.parse,
        864,
        {"WESTERN HUB": 72, "EASTERN HUB": 72},
        {"DA"},
    ),
    "pjm/pjm_dataminer2_rt_hrl_lmps_hubs_20250501-03.csv": (
        pjm.parse,
        864,
        {"WESTERN HUB": 72},
        {"RT"},
    ),
    "spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv": (
        spp.parse,
        74,
        {"SPPNORTH_HUB": 24, "SPPSOUTH_HUB": 24, "AEC": 24},
        {"DA"},
    ),
    "spp/spp_DA-LMP-SL-202606040100_UPPER_SNAKE_header_sample.csv": (
        spp.parse,
        72,
        {"SPPNORTH_HUB": 24, "SPPSOUTH_HUB": 24, "AEC": 24},
        {"DA"},
    ),
    "nyiso/nyiso_damlbmp_zone_20251102_DST_fallback_reserialized.csv": (
        nyiso.parse,
        375,
        {"N.Y.C.": 25, "WEST": 25},
        {"DA"},
    ),
    "nyiso/nyiso_rtlbmp_zone_20251102_DST_fallback_3zones_sample.csv": (
        nyiso_rt,
        75,
        {"N.Y.C.": 25, "PJM": 25, "WEST": 25},
        {"RT"},
    ),
    "nyiso/nyiso_damlbmp_zone_20250309_DST_springforward_3zones_sample.csv": (
        nyiso.parse,
        69,
        {"N.Y.C.": 23, "PJM": 23, "WEST": 23},
        {"DA"},
    ),
    "nyiso/nyiso_realtime_zone_lbmp_20160218_excerpt_pyiso.csv": (
        nyiso_rt,
        45,
        {"N.Y.C.": 3},
        {"RT"},
    ),
    "miso/miso_da_expost_lmp_20260714_3hubs_trimmed.csv": (
        miso.parse,
        72,
        {"INDIANA.HUB": 24, "ILLINOIS.HUB": 24, "MICHIGAN.HUB": 24},
        {"DA"},
    ),
    "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv": (
        isone_ct,
        144,
        {"CT": 144},
        {"DA", "RT"},
    ),
    "caiso/caiso_oasis_PRC_LMP_DAM_20200101_hubs_dlaps.csv": (
        caiso.parse,
        120,
        {"TH_NP15_GEN-APND": 24, "DLAP_SCE-APND": 24},
        {"DA"},
    ),
}
# file -> the code a payload that is not prices is recognised by
CLASSIFIED = {
    "caiso/caiso_oasis_http429_acceptable_use_error.html": "payload_http_429",
    "caiso/caiso_oasis_XML_envelope_SLD_FCST_RTM_20140508_excerpt_pyiso.xml": (
        "payload_load_forecast"  # CAISO SLD_FCST is a load forecast, not an LMP
    ),
}
# An OASIS error answer (no recorded sample exists: a small labelled fixture, in OASIS's layout)
INVALID_REQUEST = b"""<?xml version="1.0" encoding="UTF-8"?>
<m:OASISReport xmlns:m="http://www.caiso.com/soa/OASISReport_v1.xsd"><m:MessagePayload><m:RTO>
<m:ERROR><m:ERR_CODE>1004</m:ERR_CODE><m:ERR_DESC>No data returned for the specified selection
</m:ERR_DESC></m:ERROR></m:RTO></m:MessagePayload></m:OASISReport>"""


def _rows(feeds: Path, name: str) -> list[dict[str, Any]]:
    parse = PARSED[name][0]
    return parse((feeds / name).read_bytes()).rows.to_pylist()


@pytest.mark.parametrize("name", sorted(PARSED))
def test_every_parsed_file_has_its_expected_outcome(feeds: Path, name: str):
    parse, count, nodes, runs = PARSED[name]
    parsed = parse((feeds / name).read_bytes())
    rows = parsed.rows.to_pylist()
    assert parsed.kind == "lmp" and len(rows) == count
    found = Counter(r["node"] for r in rows)
    for node, expected in nodes.items():
        assert found[node] == expected, (node, found)
    assert {r["market_run"] for r in rows} == runs
    assert not check_identity(parsed.rows), check_identity(parsed.rows)[:3]  # row by row
    keys = [(r["node"], r["market_run"], r["interval_start_utc"]) for r in rows]
    assert len(keys) == len(set(keys)), "a UTC interval twice"
    for r in rows:
        assert r["interval_end_utc"] > r["interval_start_utc"]
        assert r["interval_start_utc"].tzinfo is not None and r["units"] == "USD/MWh"


@pytest.mark.parametrize("name", sorted(CLASSIFIED))
def test_payloads_that_are_not_prices_are_recognised(feeds: Path, name: str):
    with pytest.raises(PayloadError) as refused:
        caiso.parse((feeds / name).read_bytes())
    assert refused.value.code == CLASSIFIED[name]


def test_an_oasis_invalid_request_is_recognised():
    assert caiso.classify(INVALID_REQUEST) == "invalid_request"
    with pytest.raises(PayloadError) as refused:
        caiso.parse(INVALID_REQUEST)
    assert refused.value.code == "payload_invalid_request"


def test_the_readmes_figures(feeds: Path):
    spp_rows = _rows(feeds, "spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv")
    means = {hub: round(statistics.fmean(r["lmp"] for r in spp_rows if r["node"] == hub), 2)
             for hub in ("SPPNORTH_HUB", "SPPSOUTH_HUB")}  # fmt: skip
    assert means == {"SPPNORTH_HUB": 36.05, "SPPSOUTH_HUB": 32.16}
    fallback = _rows(feeds, "nyiso/nyiso_damlbmp_zone_20251102_DST_fallback_reserialized.csv")
    nyc = [r["lmp"] for r in fallback if r["node"] == "N.Y.C."]
    assert len(nyc) == 25 and round(statistics.fmean(nyc), 2) == 49.36
    # NYISO's sign: LBMP = energy + losses - published congestion; canonical congestion flips it
    spring = _rows(feeds, "nyiso/nyiso_damlbmp_zone_20250309_DST_springforward_3zones_sample.csv")
    one_am = {r["node"]: r for r in spring if r["hour_label"] == "03/09/2025 01:00"}
    assert one_am["PJM"]["lmp"] == 51.86 and one_am["PJM"]["congestion"] == 1.88
    assert one_am["PJM"]["loss"] == -0.15 and one_am["PJM"]["energy"] == 50.13
    assert one_am["WEST"]["energy"] == 50.13 and one_am["WEST"]["congestion"] == 0.0


def test_dst_days_have_23_and_25_hours_in_utc(feeds: Path):
    fallback = _rows(feeds, "nyiso/nyiso_rtlbmp_zone_20251102_DST_fallback_3zones_sample.csv")
    starts = sorted(r["interval_start_utc"] for r in fallback if r["node"] == "N.Y.C.")
    assert len(starts) == 25 and starts[0].isoformat() == "2025-11-02T04:00:00+00:00"
    assert all((b - a).total_seconds() == 3600 for a, b in pairwise(starts))
    spring = _rows(feeds, "nyiso/nyiso_damlbmp_zone_20250309_DST_springforward_3zones_sample.csv")
    starts = sorted(r["interval_start_utc"] for r in spring if r["node"] == "WEST")
    assert len(starts) == 23 and starts[0].isoformat() == "2025-03-09T05:00:00+00:00"
    assert all((b - a).total_seconds() == 3600 for a, b in pairwise(starts))
    smd = _rows(feeds, "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv")
    hours = Counter(r["operating_day"].isoformat() for r in smd if r["market_run"] == "DA")
    assert hours == {"2025-03-08": 24, "2025-03-09": 23, "2025-11-02": 25}
    repeated = [r for r in smd if r["hour_label"] in ("02", "02X") and r["market_run"] == "DA"
                and r["operating_day"].isoformat() == "2025-11-02"]  # fmt: skip
    assert [r["interval_start_utc"].isoformat() for r in repeated] == [
        "2025-11-02T05:00:00+00:00",
        "2025-11-02T06:00:00+00:00",
    ]  # EDT 01-02, then EST 01-02
    # MISO is EST all year: HE1 of a July day starts at 05:00 UTC, not 04:00
    miso_rows = _rows(feeds, "miso/miso_da_expost_lmp_20260714_3hubs_trimmed.csv")
    first = min(r["interval_start_utc"] for r in miso_rows)
    assert first.isoformat() == "2026-07-14T05:00:00+00:00"


def test_a_missing_hour_is_a_gap_warning_not_an_error(feeds: Path):
    text = (feeds / "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv").read_text()
    without = "\n".join(line for line in text.splitlines() if not line.startswith("2025-03-08,05,"))
    parsed = isone.parse(without.encode(), "CT")
    assert parsed.warnings == ["gap: CT 2025-03-08 has no hour ending 05"]
    assert parsed.rows.num_rows == 142


@pytest.mark.parametrize(
    ("name", "spoil", "code"),
    [
        (
            "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv",
            lambda t: t[: len(t) // 2],
            "payload_truncated",
        ),
        (
            "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv",
            lambda t: t.replace("total_lmp_da", "lmp_total_da", 1),
            "header_changed",
        ),
        (
            "spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv",
            lambda t: t.replace("32.9537", "USD/MWh", 1),
            "payload_invalid",
        ),
        (
            "nyiso/nyiso_damlbmp_zone_20250309_DST_springforward_3zones_sample.csv",
            lambda t: t + "03/09/2025 02:00,WEST,61752,1,1,1\n",
            "time_nonexistent",
        ),
        (
            "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv",
            lambda t: t.replace("2025-03-09,03,", "2025-03-09,02,", 1),
            "hours_invalid",
        ),
        (
            "miso/miso_da_expost_lmp_20260714_3hubs_trimmed.csv",
            lambda t: t.replace("HE 24", "HE 25"),
            "hours_invalid",
        ),
        (
            "caiso/caiso_oasis_PRC_LMP_DAM_20200101_hubs_dlaps.csv",
            lambda t: "<html><body>Service Unavailable</body></html>",
            "payload_html",
        ),
    ],
)
def test_bad_input_is_refused_with_a_code(
    feeds: Path, name: str, spoil: Callable[[str], str], code: str
):
    text = (feeds / name).read_text()
    with pytest.raises(PayloadError) as refused:
        PARSED[name][0](spoil(text).encode())
    assert refused.value.code == code, refused.value


def test_an_oasis_single_zip_is_read_like_its_csv(feeds: Path):
    """OASIS answers SingleZip requests with a zip: the CSV member (or INVALID_REQUEST.xml)."""
    import io
    import zipfile

    def zipped(name: str, data: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr(name, data)
        return out.getvalue()

    plain = (feeds / "caiso/caiso_oasis_PRC_LMP_DAM_20200101_hubs_dlaps.csv").read_bytes()
    assert caiso.parse(zipped("20200101_PRC_LMP_DAM_v1.csv", plain)).rows.equals(
        caiso.parse(plain).rows)  # fmt: skip
    with pytest.raises(PayloadError) as refused:
        caiso.parse(zipped("INVALID_REQUEST.xml", INVALID_REQUEST))
    assert refused.value.code == "payload_invalid_request"
    with pytest.raises(PayloadError) as broken:
        caiso.parse(zipped("a.csv", plain)[:200])
    assert broken.value.code == "payload_truncated"
