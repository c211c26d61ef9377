"""Every recorded payload in ``../shared/feeds`` has one expected outcome, in one table: parsed
(what kind of rows, how many) or recognised and classified with a code. A file added to the
folder without a line here fails the test. The README's figures are checked beside each parser
(``test_lmp_parsers.py``, ``test_series_parsers.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from aurum.feeds.lmp import FeedRows, PayloadError
from aurum.feeds.parsers import (
    caiso,
    ecb,
    eia,
    ercot,
    fred,
    isone,
    miso,
    noaa,
    nyiso,
    pjm,
    pjm_json,
    spp,
)

Read = Callable[[bytes], FeedRows]
SERIES = "series_observation"


def _with(parse: Callable[..., FeedRows], *args: str) -> Read:
    return lambda payload: parse(payload, *args)


# file -> (reader, kind, rows) for data; (reader, error code, None) for what is refused
OUTCOMES: dict[str, tuple[Read, str, int | None]] = {
    "caiso/caiso_oasis_PRC_LMP_DAM_20200101_hubs_dlaps.csv": (caiso.parse, "lmp", 120),
    "caiso/caiso_oasis_XML_envelope_SLD_FCST_RTM_20140508_excerpt_pyiso.xml": (
        caiso.parse_report_xml,
        "load_forecast",
        3,
    ),
    "caiso/caiso_oasis_http429_acceptable_use_error.html": (caiso.parse, "payload_http_429", None),
    "caiso/eia_wholesale_caiso_lmp_rt_15min_zones_2023_DST_days_subset.csv": (
        _with(eia.parse_wholesale, "CAISO"),
        "lmp",
        576,
    ),
    "ecb/ecb_eurofxref-daily_2022-07-08.xml": (ecb.parse, "fx_rate", 31),
    "ecb/ecb_eurofxref-hist-90d_2016-12-05_2017-03-03.xml": (ecb.parse, "fx_rate", 1984),
    "ecb/ecb_eurofxref-hist_1999-01-04_2026-04-13.zip": (ecb.parse, "fx_rate", 217555),
    "ecb/ecb_eurofxref-hist_excerpt_head40_tail3.csv": (ecb.parse, "fx_rate", 1241),
    "ecb/ecb_eurofxref_daily_20260413.csv": (ecb.parse, "fx_rate", 29),
    "eia/eia_v2_electricity_rto_fuel-type-data_PACW_hourly_2023-01-01_08.json": (
        eia.parse_v2,
        SERIES,
        845,
    ),
    "eia/eia_v2_electricity_rto_region-data_PACW_D_hourly_2023-01-01_08.json": (
        eia.parse_v2,
        SERIES,
        169,
    ),
    "ercot/ercot_api_np4-190-cd_dam_stlmnt_pnt_prices_2021-02-15_EMPTY_before_api_history.json": (
        ercot.parse_api,
        "empty",
        0,
    ),
    "ercot/ercot_api_np6-905-cd_spp_node_zone_hub_LZ_AEN_2026-09-20_21.jsonl": (
        ercot.parse_api,
        "lmp",
        192,
    ),
    "ercot/ercot_mis_IceDocListJsonWS_reportTypeId12331_DAMSPNP4190_trimmed.json": (
        ercot.parse_api,
        "document_listing",
        0,
    ),
    "ercot/ercot_mis_NP6-788_LMPSROSNODENP6788_20260625_004018_subset.csv": (
        ercot.parse_sced,
        "lmp",
        30,
    ),
    "fred/fred_graph_csv_DGS10_2024-12-16_2025-01-10.csv": (_with(fred.parse, "DGS10"), SERIES, 20),
    "fred/fred_series_observations_GDP_2024-10-30.json": (_with(fred.parse, "GDP"), SERIES, 315),
    "fred/fred_series_observations_GDP_initial_release_output_type4.json": (
        _with(fred.parse, "GDP"),
        SERIES,
        132,
    ),
    "fred/fred_series_observations_WGS10YR_weekly_rt2024-10-28.json": (
        _with(fred.parse, "WGS10YR"),
        SERIES,
        3278,
    ),
    "isone/eia_wholesale_isone_lmp_rt_hr_hubs_2023_DST_days_subset.csv": (
        _with(eia.parse_wholesale, "ISONE"),
        "lmp",
        143,
    ),
    "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv": (_with(isone.parse, "CT"), "lmp", 144),
    "miso/eia_wholesale_miso_lmp_rt_hr_hubs_2023_DST_days_subset.csv": (
        _with(eia.parse_wholesale, "MISO"),
        "lmp",
        1152,
    ),
    "miso/miso_da_expost_lmp_20260714_3hubs_trimmed.csv": (miso.parse, "lmp", 72),
    "noaa/noaa_cdo_daily_summaries_GHCND_USW00024233_2012-2015.csv": (
        noaa.parse_csv,
        SERIES,
        30820,
    ),
    "noaa/noaa_cdo_v2_data_GHCND_USC00200230_PRCP_2013-09.json": (noaa.parse_v2, SERIES, 28),
    "noaa/noaa_cdo_v2_stations_GHCND_FIPS12017.json": (noaa.parse_v2, "station_metadata", 0),
    "nyiso/nyiso_damlbmp_zone_20250309_DST_springforward_3zones_sample.csv": (
        nyiso.parse,
        "lmp",
        69,
    ),
    "nyiso/nyiso_damlbmp_zone_20251102_DST_fallback_reserialized.csv": (nyiso.parse, "lmp", 375),
    "nyiso/nyiso_realtime_zone_lbmp_20160218_excerpt_pyiso.csv": (
        _with(nyiso.parse, "RT"),
        "lmp",
        45,
    ),
    "nyiso/nyiso_rtlbmp_zone_20251102_DST_fallback_3zones_sample.csv": (
        _with(nyiso.parse, "RT"),
        "lmp",
        75,
    ),
    "pjm/pjm_dataminer2_api_da_marginal_value_2023-11-05_07_DST_envelope.json": (
        pjm_json.parse,
        "marginal_value",
        387,
    ),
    "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv": (pjm.parse, "lmp", 864),
    "pjm/pjm_dataminer2_rt_hrl_lmps_hubs_20250501-03.csv": (pjm.parse, "lmp", 864),
    "spp/spp_DA-LMP-SL-202606040100_UPPER_SNAKE_header_sample.csv": (spp.parse, "lmp", 72),
    "spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv": (spp.parse, "lmp", 74),
}


def test_every_recorded_file_is_in_the_table(feeds: Path):
    recorded = {p.relative_to(feeds).as_posix() for p in feeds.rglob("*") if p.is_file()}
    assert recorded - {"README.md"} == set(OUTCOMES)


@pytest.mark.parametrize("name", sorted(OUTCOMES))
def test_each_file_has_its_outcome(feeds: Path, name: str):
    read, outcome, rows = OUTCOMES[name]
    payload = (feeds / name).read_bytes()
    if rows is None:
        with pytest.raises(PayloadError) as refused:
            read(payload)
        assert refused.value.code == outcome
        return
    parsed = read(payload)
    assert (parsed.kind, parsed.rows.num_rows) == (outcome, rows)
