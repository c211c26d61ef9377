"""Feed loads and reads (issue 17). Prints figures and targets; asserts nothing.

1. **End to end, one day of every recorded source**: each payload of ``../shared/feeds`` that
   holds data, cut to one day where the file holds more (PJM's three days: its first EPT day;
   NOAA's four years: its first date; the ECB: the daily file), loaded into a fresh lake by
   ``aurum.feeds.service.Feeds.load`` (archive, parse, gates, write-audit-publish of every
   partition, node registry, the run and its events). Target: every source's day <= 2 s; the
   sum is printed too.
2. **A month of one node over HTTP**: a lake with a synthetic month of PJM hub prices (the
   demo generator's, 3 hubs x 720 h) and one synthetic PW workbook; `aurum serve` on a free port;
   `GET /v1/iso/lmp` for one node's month (per interval, 720 rows; and daily) against
   `GET /v1/curves` for one curve at one as-of (the served slice), uncached, one client:
   p50 ratio target <= 2.

Run: `make bench` or `.venv/bin/python bench/feed_loads.py [--rounds 40]`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.parse
from datetime import date
from pathlib import Path

from api import NO_CACHE, Server, get, p50_ms, timed, verdict
from aurum.auth.access import Access
from aurum.config import Settings
from aurum.feeds.demo import pjm_day_ahead
from aurum.feeds.service import Feeds
from aurum.lake.catalog import Lake
from aurum.runs import Runs
from aurum.store import Store
from aurum.synthetic import write_workbook

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "feeds"
PJM = "pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv"
NOAA = "noaa/noaa_cdo_daily_summaries_GHCND_USW00024233_2012-2015.csv"
# one day of each source: (label, file, how to cut it to one day)
DAYS = (
    ("CAISO OASIS", "caiso/caiso_oasis_PRC_LMP_DAM_20200101_hubs_dlaps.csv", None),
    ("ERCOT API", "ercot/ercot_api_np6-905-cd_spp_node_zone_hub_LZ_AEN_2026-09-20_21.jsonl", None),
    ("ERCOT SCED", "ercot/ercot_mis_NP6-788_LMPSROSNODENP6788_20260625_004018_subset.csv", None),
    ("PJM Data Miner", PJM, "5/1/2025 "),
    ("MISO", "miso/miso_da_expost_lmp_20260714_3hubs_trimmed.csv", None),
    ("ISO-NE", "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv", None),
    ("SPP", "spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv", None),
    ("NYISO", "nyiso/nyiso_damlbmp_zone_20251102_DST_fallback_reserialized.csv", None),
    ("EIA v2", "eia/eia_v2_electricity_rto_region-data_PACW_D_hourly_2023-01-01_08.json", None),
    ("FRED", "fred/fred_graph_csv_DGS10_2024-12-16_2025-01-10.csv", None),
    ("NOAA", NOAA, ",20120101,"),
    ("ECB", "ecb/ecb_eurofxref_daily_20260413.csv", None),
)  # fmt: skip


def one_day(payload: bytes, marker: str | None) -> bytes:
    """The header and the lines holding ``marker`` (the day), or the payload as it is."""
    if marker is None:
        return payload
    lines = payload.splitlines(keepends=True)
    return b"".join([lines[0], *(line for line in lines[1:] if marker.encode() in line)])


def end_to_end(summary: list[tuple[str, str, str, str]]) -> None:
    print("1. One day of every recorded source, loaded end to end into a fresh lake")
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home))
        lake = Lake(settings)
        with Store.connect(settings) as store:
            feeds = Feeds(lake, store, Runs(store))
            total, worst = 0.0, 0.0
            for label, name, marker in DAYS:
                payload = one_day((FEEDS / name).read_bytes(), marker)
                started = time.perf_counter()
                done = feeds.load(Access.platform(), payload, name=Path(name).name)
                seconds = time.perf_counter() - started
                total += seconds
                worst = max(worst, seconds)
                print(f"   {label:15s} {done.rows:6d} rows  {len(done.partitions):2d} partitions"
                      f"  {seconds * 1000:7.0f} ms  ({done.status})")  # fmt: skip
    summary.append(("one source's day, end to end (worst)", f"{worst:.2f} s", "<= 2 s",
                    verdict(worst <= 2)))  # fmt: skip
    summary.append(("every source's day, end to end (sum)", f"{total:.2f} s", "(printed)", ""))


def month_over_http(rounds: int, summary: list[tuple[str, str, str, str]]) -> None:
    print("\n2. A month of one node over HTTP against one curve at one as-of (uncached, 1 client)")
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch) / "home"
        settings = Settings(home=home)
        book = write_workbook(Path(scratch) / "EOD_PW_20250901_1430.xlsx", vendor="PW",
                              asof=date(2025, 9, 1))  # fmt: skip
        from aurum.ingest.runner import backfill

        with Store.connect(settings) as store:
            backfill([book], lake=Lake(settings), store=store, settings=settings)
            Feeds(Lake(settings), store, Runs(store)).load(
                Access.platform(), pjm_day_ahead(date(2025, 9, 1), 30),
                name="synthetic_pjm_dataminer2_da_hrl_lmps_hubs_202509.csv",
            )  # fmt: skip
        server = Server(home, 1, Path(scratch) / "serve.log")
        try:
            server.wait_ready()
            curve = server.json("/v1/curves?vendor=PW&asof=2025-09-01&limit=1")["data"][0]
            curve_path = (f"/v1/curves?vendor=PW&curve_key={curve['curve_key']}"
                          "&asof=2025-09-01")  # fmt: skip
            node = urllib.parse.quote("WESTERN HUB")
            month = f"/v1/iso/lmp?iso=PJM&node={node}&start=2025-09-01&end=2025-09-30"
            paths = {
                "curve slice": curve_path,
                "lmp month, per interval": month + "&aggregate=interval&limit=1000",
                "lmp month, daily means": month + "&aggregate=daily",
                "lmp month, on-peak monthly": month + "&aggregate=monthly&block=ON_PEAK",
            }
            p50 = {}
            for label, path in paths.items():
                status, body = get(server.base + path, NO_CACHE)
                assert status == 200, (path, status, body[:300])
                times = timed(lambda p=path: get(server.base + p, NO_CACHE), rounds)
                p50[label] = p50_ms(times)
                print(f"   {label:28s} p50 {p50[label]:6.1f} ms  (p90"
                      f" {times[int(0.9 * (len(times) - 1))] * 1000:6.1f} ms,"
                      f" {len(body) / 1024:.0f} KiB)")  # fmt: skip
        finally:
            server.stop()
    base = p50["curve slice"]
    for label in ("lmp month, per interval", "lmp month, daily means"):
        ratio = p50[label] / base
        summary.append((f"{label} / curve slice p50", f"{ratio:.2f}x", "<= 2x",
                        verdict(ratio <= 2)))  # fmt: skip
    summary.append(("curve slice p50 (reference)", f"{base:.1f} ms", "", ""))
    summary.append(("spread of the p50s", f"{statistics.pstdev(p50.values()):.1f} ms", "", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    if not (FEEDS / "README.md").is_file():
        raise SystemExit(
            f"the recorded feeds are not at {FEEDS}: put ../shared beside the checkout"
        )
    summary: list[tuple[str, str, str, str]] = []
    end_to_end(summary)
    month_over_http(args.rounds, summary)
    print("\nSummary")
    for name, figure, target, ok in summary:
        print(f"   {name:44s} {figure:>10s}  {target:>9s}  {ok}")


if __name__ == "__main__":
    main()
