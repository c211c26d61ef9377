"""Feed loads through the kernel: recorded payloads become versioned partitions; a re-load is a
no-op; a corrected payload is the next version with the earlier one readable by its tag; a bad
payload writes nothing, with its reason on the run."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc
import pytest

from aurum.auth.access import Access
from aurum.config import Settings
from aurum.errors import PayloadError, ValidationFailed
from aurum.feeds.service import Feeds
from aurum.lake.catalog import Lake
from aurum.lake.versions import versions
from aurum.runs import Runs
from aurum.store import Store

PJM_DA = "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv"
PLATFORM = Access.platform()


@pytest.fixture
def loads(tmp_path: Path):
    settings = Settings(home=tmp_path)
    with Store.connect(settings) as store:
        yield Feeds(Lake(settings), store, Runs(store))


def _load(loads: Feeds, feeds: Path, name: str, data: bytes | None = None, **kwargs):
    payload = (feeds / name).read_bytes() if data is None else data
    return loads.load(PLATFORM, payload, name=Path(name).name, **kwargs)


def _rows(loads: Feeds, dataset: str, ref: str | None = None):
    table = loads.lake.table(dataset)
    snapshot = table.metadata.refs[ref].snapshot_id if ref else None
    return table.scan(snapshot_id=snapshot).to_arrow()


def test_a_pjm_file_is_three_days_and_a_reload_is_a_no_op(loads: Feeds, feeds: Path):
    first = _load(loads, feeds, PJM_DA)
    assert (first.status, first.kind, first.rows) == ("published", "lmp", 864)
    assert [p["tag"] for p in first.partitions] == [
        "lmp/PJM/2025-05-01/v1", "lmp/PJM/2025-05-02/v1", "lmp/PJM/2025-05-03/v1",
    ]  # fmt: skip
    rows = _rows(loads, "iso_lmp")
    assert rows.num_rows == 864 and set(rows["source_format"].to_pylist()) == {"pjm.dataminer_csv"}
    nodes = _rows(loads, "iso_node")
    assert nodes.num_rows == 12 and "WESTERN HUB" in nodes["node"].to_pylist()

    again = _load(loads, feeds, PJM_DA)
    assert again.status == "duplicate"
    assert {p["status"] for p in again.partitions} == {"duplicate"}
    table = loads.lake.table("iso_lmp")
    assert versions(table, table_scheme(loads), {"iso": "PJM", "operating_day": "2025-05-01"}) \
        .keys() == {1}  # fmt: skip


def table_scheme(loads: Feeds):
    return loads.lake.dataset("iso_lmp").tags


def test_the_real_time_file_merges_into_the_same_days(loads: Feeds, feeds: Path):
    _load(loads, feeds, PJM_DA)
    rt = _load(loads, feeds, PJM_DA.replace("_da_", "_rt_"))
    assert [p["version"] for p in rt.partitions] == [2, 2, 2]
    rows = _rows(loads, "iso_lmp")
    assert rows.num_rows == 2 * 864
    assert sorted(set(rows["market_run"].to_pylist())) == ["DA", "RT"]
    # version 1 of the first day is still the day-ahead alone
    assert set(_rows(loads, "iso_lmp", "lmp/PJM/2025-05-01/v1")["market_run"].to_pylist()) == {"DA"}


def test_a_corrected_price_is_the_next_version(loads: Feeds, feeds: Path):
    _load(loads, feeds, PJM_DA)
    text = (feeds / PJM_DA).read_bytes().decode()
    lines = text.splitlines(keepends=True)
    # the first data row (5/1/2025 00:00 EPT, EASTERN HUB): total 24.966949 -> energy + 1.00
    cells = lines[1].split(",")
    assert cells[3] == "EASTERN HUB"
    cells[8] = f"{float(cells[8]) + 1:.2f}"
    cells[9] = f"{float(cells[9]) + 1:.6f}"
    corrected = "".join([lines[0], ",".join(cells), *lines[2:]]).encode()
    load = _load(loads, feeds, PJM_DA, data=corrected)
    assert [p["status"] for p in load.partitions] == ["published", "duplicate", "duplicate"]
    assert load.partitions[0]["tag"] == "lmp/PJM/2025-05-01/v2"

    def eastern_first_hour(ref: str) -> float:
        rows = _rows(loads, "iso_lmp", ref)
        rows = rows.filter(pc.equal(rows["node"], "EASTERN HUB")).sort_by("interval_start_utc")
        return rows["lmp"][0].as_py()

    assert eastern_first_hour("lmp/PJM/2025-05-01/v1") == pytest.approx(24.966949)
    assert eastern_first_hour("lmp/PJM/2025-05-01/v2") == pytest.approx(25.966949)
    assert _rows(loads, "iso_lmp").num_rows == 864


def test_a_payload_whose_components_do_not_add_up_writes_nothing(loads: Feeds, feeds: Path):
    lines = (feeds / PJM_DA).read_bytes().decode().splitlines(keepends=True)
    cells = lines[5].split(",")
    cells[9] = "999.0"  # total_lmp, no longer energy + congestion + loss
    broken = "".join([*lines[:5], ",".join(cells), *lines[6:]]).encode()
    with pytest.raises(ValidationFailed) as refused:
        _load(loads, feeds, PJM_DA, data=broken)
    assert refused.value.diagnostics["gate_failures"] == ["lmp_identity"]
    assert "nothing was written" in str(refused.value)
    assert _rows(loads, "iso_lmp").num_rows == 0
    (run,) = loads.runs_of(PLATFORM)
    assert (run.status, run.error_code, run.gate_failures) == ("failed", "gate_failed",
                                                               ["lmp_identity"])  # fmt: skip


@pytest.mark.parametrize(
    ("name", "data", "code"),
    [
        (PJM_DA, b"<html><body>Service Unavailable</body></html>", "payload_html"),
        (PJM_DA, None, "payload_truncated"),  # the file cut in the middle of a row
        ("pjm_something_else.csv", b"a,b\n1,2\n", "feed_format_unknown"),
    ],
)
def test_bad_payloads_are_refused_with_their_reason(loads, feeds, name, data, code):
    if data is None:
        whole = (feeds / PJM_DA).read_bytes()
        data = whole[: len(whole) // 2].rsplit(b",", 1)[0]
    with pytest.raises(PayloadError) as refused:
        _load(loads, feeds, name, data=data)
    assert refused.value.code == code
    assert _rows(loads, "iso_lmp").num_rows == 0


def test_unknown_parameters_and_formats_are_named(loads: Feeds, feeds: Path):
    with pytest.raises(PayloadError, match="parameter 'node' is required"):
        _load(loads, feeds, "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv",
              format="isone.smd")  # fmt: skip
    with pytest.raises(PayloadError, match=r"no feed format 'pjm\.xml'"):
        _load(loads, feeds, PJM_DA, format="pjm.xml")


def test_recognised_payloads_without_data_write_nothing(loads: Feeds, feeds: Path):
    empty = _load(loads, feeds, "ercot/ercot_api_np4-190-cd_dam_stlmnt_pnt_prices_2021-02-15_"
                  "EMPTY_before_api_history.json")  # fmt: skip
    assert (empty.status, empty.kind, empty.rows, empty.partitions) == (
        "published", "empty", 0, [])  # fmt: skip


def test_fred_vintages_and_ecb_years_are_partitions(loads: Feeds, feeds: Path):
    gdp = _load(loads, feeds, "fred/fred_series_observations_GDP_2024-10-30.json")
    assert [p["tag"] for p in gdp.partitions] == ["series/FRED/GDP/v1"]
    eia = _load(loads, feeds, "eia/eia_v2_electricity_rto_region-data_PACW_D_hourly_2023-01-01_08"
                ".json")  # fmt: skip
    assert eia.partitions[0]["tag"].startswith("series/EIA/") and "%2F" in eia.partitions[0]["tag"]
    rates = _load(loads, feeds, "ecb/ecb_eurofxref-hist-90d_2016-12-05_2017-03-03.xml")
    assert [p["tag"] for p in rates.partitions] == ["fx/ECB/2016/v1", "fx/ECB/2017/v1"]
    assert _rows(loads, "fx_rate").num_rows == 1984
    # the raw payload is archived, content-addressed
    assert rates.run.result["archive"].endswith(f"/raw/feeds/ecb/{rates.run.sha256}.xml")


def test_a_load_that_publishes_says_so_once_on_the_outbox(loads: Feeds, feeds: Path):
    first = _load(loads, feeds, PJM_DA)
    _load(loads, feeds, PJM_DA)  # a duplicate: no event
    with loads.store.transaction(PLATFORM, write=False) as tx:
        events = [e for e in tx.events(after=0, limit=100) if e.type == "feed.load"]
    assert len(events) == 1
    (event,) = events
    assert (event.key, event.run_id) == ("feed|pjm.dataminer_csv", first.run.run_id)
    assert event.payload["tags"] == [p["tag"] for p in first.partitions]
    assert (event.payload["kind"], event.payload["rows"]) == ("lmp", 864)


def test_a_header_without_rows_is_loaded_with_nothing_written(loads: Feeds, feeds: Path):
    header = (feeds / PJM_DA).read_bytes().splitlines(keepends=True)[0]
    done = _load(loads, feeds, PJM_DA, data=header)
    assert (done.status, done.kind, done.rows, done.partitions) == ("published", "lmp", 0, [])
    assert _rows(loads, "iso_lmp").num_rows == 0
