"""The CSV parsers on payloads a thousand times the recorded ones (``aurum.feeds.testing``): more
than one ``pyarrow.csv`` block, so the columns arrive in chunks with dictionaries of their own.
Every copy of the recorded rows parses to the same values as the recorded file itself, row for
row in the same order; the component identity holds on every row; DST days keep 23 and 25
hours."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from aurum.feeds.lmp import FeedRows, PayloadError, check_identity
from aurum.feeds.parsers import caiso, ercot, isone, miso, nyiso, pjm, spp
from aurum.feeds.testing import scaled, smd_days

BLOCK = 1 << 20  # pyarrow.csv's default block size: a scaled payload spans several
# Every column but the node's name and its type (``AEC#3`` is not a hub by name)
VALUES = ["iso", "market_run", "interval_start_utc", "interval_end_utc", "market_tz",
          "operating_day", "hour_label", "lmp", "energy", "congestion", "loss", "ghg",
          "derived", "units"]  # fmt: skip

# file -> (parser, column of the node's name, lines before the body)
SCALED: dict[str, tuple[Callable[[bytes], FeedRows], int, int]] = {
    "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv": (pjm.parse, 3, 1),
    "pjm/pjm_dataminer2_rt_hrl_lmps_hubs_20250501-03.csv": (pjm.parse, 3, 1),
    "spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv": (spp.parse, 3, 1),
    "spp/spp_DA-LMP-SL-202606040100_UPPER_SNAKE_header_sample.csv": (spp.parse, 3, 1),
    "nyiso/nyiso_damlbmp_zone_20251102_DST_fallback_reserialized.csv": (nyiso.parse, 1, 1),
    "nyiso/nyiso_rtlbmp_zone_20251102_DST_fallback_3zones_sample.csv": (nyiso.parse, 1, 1),
    "nyiso/nyiso_damlbmp_zone_20250309_DST_springforward_3zones_sample.csv": (nyiso.parse, 1, 1),
    "caiso/caiso_oasis_PRC_LMP_DAM_20200101_hubs_dlaps.csv": (caiso.parse, 7, 1),
    "miso/miso_da_expost_lmp_20260714_3hubs_trimmed.csv": (miso.parse, 0, 5),
    "ercot/ercot_mis_NP6-788_LMPSROSNODENP6788_20260625_004018_subset.csv": (
        ercot.parse_sced,
        2,
        1,
    ),
}


def _copy(rows: pa.Table, node: str) -> list[dict[str, object]]:
    return rows.filter(pc.equal(rows["node"], node)).select(VALUES).to_pylist()


@pytest.mark.parametrize("name", sorted(SCALED))
def test_a_scaled_payload_parses_to_copies_of_the_recorded_rows(feeds: Path, name: str):
    parse, node_column, head = SCALED[name]
    recorded = (feeds / name).read_bytes()
    body = [line for line in recorded.decode().splitlines()[head:] if line.strip()]
    copies = max(3, math.ceil(1.5 * BLOCK / len(recorded)))
    payload = scaled(recorded, lines=copies * len(body), node_column=node_column, head=head)
    assert len(payload) > BLOCK
    one, many = parse(recorded).rows, parse(payload).rows
    assert many.schema == one.schema
    assert many.num_rows == copies * one.num_rows
    assert not check_identity(many), check_identity(many)[:3]
    nodes = Counter(many["node"].to_pylist())
    assert len(nodes) == copies * len(set(one["node"].to_pylist()))
    for copy in (0, copies // 2, copies - 1):  # spot checks: first, middle and last copy
        for node in set(one["node"].to_pylist()):
            assert _copy(many, f"{node}#{copy}") == _copy(one, node), (node, copy)
    keys = pa.table([many["node"], many["market_run"], many["interval_start_utc"]], ["n", "r", "s"])
    assert keys.group_by(["n", "r", "s"]).aggregate([]).num_rows == many.num_rows  # no repeats
    assert keys.sort_by([("n", "ascending"), ("r", "ascending"), ("s", "ascending")]).equals(keys)


def test_isone_smd_over_two_years_keeps_its_dst_days(feeds: Path):
    recorded = (feeds / "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv").read_bytes()
    payload = smd_days(recorded, first=date(2025, 1, 1), days=730)
    assert len(payload) > BLOCK
    parsed = isone.parse(payload, "CT")
    rows = parsed.rows
    assert parsed.warnings == []
    assert rows.num_rows == 2 * 24 * 730  # each year one 23-hour and one 25-hour day
    assert not check_identity(rows), check_identity(rows)[:3]
    da = rows.filter(pc.equal(rows["market_run"], "DA")).to_pylist()
    hours = Counter(r["operating_day"] for r in da)
    assert hours[date(2025, 3, 9)] == hours[date(2026, 3, 8)] == 23
    assert hours[date(2025, 11, 2)] == hours[date(2026, 11, 1)] == 25
    assert set(hours.values()) == {23, 24, 25}
    repeated = [r for r in da if r["operating_day"] == date(2026, 11, 1) and r["hour_label"] in
                ("02", "02X")]  # fmt: skip
    assert [r["interval_start_utc"].isoformat() for r in repeated] == [
        "2026-11-01T05:00:00+00:00",  # EDT 01-02
        "2026-11-01T06:00:00+00:00",  # EST 01-02
    ]
    template = {r["hour_label"]: r for r in isone.parse(recorded, "CT").rows.to_pylist()
                if r["operating_day"] == date(2025, 3, 8) and r["market_run"] == "DA"}  # fmt: skip
    for r in da[:: len(da) // 50]:  # spot values: hour HH of any day is the recorded HH
        expected = template[r["hour_label"].rstrip("X")]
        assert (r["lmp"], r["energy"], r["congestion"], r["loss"]) == (
            expected["lmp"], expected["energy"], expected["congestion"], expected["loss"],
        )  # fmt: skip


def _cell(line: str, column: int, text: str) -> str:
    cells = line.split(",")
    cells[column] = text
    return ",".join(cells)


@pytest.mark.parametrize(
    ("spoil", "code", "said"),
    [
        (lambda line: line + ",", "payload_truncated", ": 15 fields, not 14"),
        (lambda line: _cell(line, 8, "USD/MWh"), "payload_invalid",
         ", system_energy_price_da: 'USD/MWh' is not a number"),
        (lambda line: _cell(line, 0, "5/1/2025 4:00:00 XM"), "time_invalid",
         ": '5/1/2025 4:00:00 XM' is not M/D/YYYY h:mm:ss AM"),
        (lambda line: line[:30], "payload_truncated", ": 2 fields, not 14"),
    ],
)  # fmt: skip
def test_bad_input_deep_in_a_large_payload_names_its_line(
    feeds: Path, spoil: Callable[[str], str], code: str, said: str
):
    recorded = (feeds / "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv").read_bytes()
    lines = scaled(recorded, lines=30_000, node_column=3).decode().splitlines()
    lines[20_000] = spoil(lines[20_000])
    with pytest.raises(PayloadError) as refused:
        pjm.parse("\n".join(lines).encode())
    assert refused.value.code == code
    assert f"PJM Data Miner 2 CSV line 20001{said}" in str(refused.value), refused.value
