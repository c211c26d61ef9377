"""Feed parser benchmarks (issue 17). Prints figures and targets; asserts nothing.

Scaled synthetic payloads of the CSV formats, made from the recorded real files of
``../shared/feeds`` by ``aurum.feeds.testing`` (the body repeated under other node names, so
every row is distinct; ISO-NE's one-node file grown day by day): parse rate in interval rows per
second (target >= 1 M rows/s), and the ratio to a bare ``pyarrow.csv`` read of the same bytes.
Each figure is the median of three runs.

Run: `make bench` or `.venv/bin/python bench/feeds.py [--rows 200000]`.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pyarrow.csv as pacsv

from aurum.feeds.lmp import FeedRows
from aurum.feeds.parsers import caiso, ercot, isone, miso, nyiso, pjm, spp
from aurum.feeds.testing import scaled, smd_days

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "feeds"


def _lines(file: str, node_column: int, per_row: float, head: int = 1) -> Callable[[int], bytes]:
    """A payload of about ``rows`` interval rows: ``per_row`` lines make one."""
    return lambda rows: scaled(
        (FEEDS / file).read_bytes(), lines=round(rows * per_row), node_column=node_column, head=head
    )


def _smd(rows: int) -> bytes:  # two interval rows (DA and RT) a line
    recorded = (FEEDS / "isone/isone_smd_hourly_2025_CT_DST_days_sample.csv").read_bytes()
    return smd_days(recorded, first=date(2000, 1, 1), days=max(1, rows // 48))


# format -> (payload of about N interval rows, parser, preamble lines before the header)
FORMATS: dict[str, tuple[Callable[[int], bytes], Callable[[bytes], FeedRows], int]] = {
    "PJM Data Miner 2 CSV": (
        _lines("pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv", 3, 1), pjm.parse, 0
    ),
    "SPP DA-LMP-SL CSV": (
        _lines("spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv", 3, 1), spp.parse, 0
    ),
    "NYISO damlbmp CSV": (
        _lines("nyiso/nyiso_damlbmp_zone_20251102_DST_fallback_reserialized.csv", 1, 1),
        nyiso.parse,
        0,
    ),
    "CAISO OASIS CSV": (
        _lines("caiso/caiso_oasis_PRC_LMP_DAM_20200101_hubs_dlaps.csv", 7, 4), caiso.parse, 0
    ),
    "ISO-NE SMD hourly CSV": (_smd, lambda payload: isone.parse(payload, "CT"), 0),
    "MISO DA ex-post CSV": (
        _lines("miso/miso_da_expost_lmp_20260714_3hubs_trimmed.csv", 0, 1 / 8, head=5),
        miso.parse,
        4,
    ),
    "ERCOT SCED CSV": (
        _lines("ercot/ercot_mis_NP6-788_LMPSROSNODENP6788_20260625_004018_subset.csv", 2, 1),
        ercot.parse_sced,
        0,
    ),
}  # fmt: skip


def median(work: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--only", help="formats whose name contains this")
    args = parser.parse_args()
    print(
        f"{'format':<22} {'rows':>9} {'MB':>6} {'parse':>8} {'rows/s':>11}"
        f" {'pyarrow.csv':>11} {'ratio':>6}"
    )
    for name, (make, parse, preamble) in FORMATS.items():
        if args.only and args.only.lower() not in name.lower():
            continue
        payload = make(args.rows)
        rows = parse(payload).rows.num_rows
        seconds = median(lambda p=payload, f=parse: f(p))
        skip = pacsv.ReadOptions(skip_rows=preamble)
        bare = median(lambda p=payload, o=skip: pacsv.read_csv(io.BytesIO(p), read_options=o))
        print(f"{name:<22} {rows:>9,} {len(payload) / 1e6:>6.1f} {seconds:>7.3f}s"
              f" {rows / seconds:>11,.0f} {bare:>10.3f}s {seconds / bare:>5.1f}x")  # fmt: skip
    print("target: >= 1,000,000 interval rows/s")


if __name__ == "__main__":
    main()
