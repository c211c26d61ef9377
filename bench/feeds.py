"""Feed parser benchmarks (issue 17). Prints figures and targets; asserts nothing.

Scaled synthetic payloads of the CSV formats, made from the recorded real files of
``../shared/feeds`` by repeating their rows under other node names (so every row is distinct):
parse rate in interval rows per second (target >= 1 M rows/s), and the ratio to a bare
``pyarrow.csv`` read of the same bytes.

Run: `make bench` or `.venv/bin/python bench/feeds.py [--rows 200000]`.
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pacsv

from aurum.feeds.lmp import FeedRows
from aurum.feeds.parsers import nyiso, pjm, spp

FEEDS = Path(__file__).resolve().parents[2] / "shared" / "feeds"
# format -> (file, parser, column holding the node name, rows per interval row)
FORMATS: dict[str, tuple[str, Callable[[bytes], FeedRows], int]] = {
    "PJM Data Miner 2 CSV": ("pjm/pjm_dataminer2_da_hrl_lmps_hubs_20250501-03.csv", pjm.parse, 3),
    "SPP DA-LMP-SL CSV": (
        "spp/spp_da_lmp_by_settlement_location_20261004_trimmed.csv",
        spp.parse,
        3,
    ),
    "NYISO damlbmp CSV": (
        "nyiso/nyiso_damlbmp_zone_20251102_DST_fallback_reserialized.csv",
        nyiso.parse,
        1,
    ),
}


def scaled(path: Path, node_column: int, rows: int) -> bytes:
    lines = path.read_text().splitlines()
    header, body = lines[0], [line for line in lines[1:] if line.strip()]
    out = [header]
    copy = 0
    while len(out) - 1 < rows:
        for line in body:
            cells = line.split(",")
            cells[node_column] = f"{cells[node_column]}#{copy}"
            out.append(",".join(cells))
        copy += 1
    return ("\n".join(out[: rows + 1]) + "\n").encode()


def best(work: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    print(
        f"{'format':<22} {'rows':>9} {'parse':>9} {'rows/s':>11} {'pyarrow.csv':>11} {'ratio':>6}"
    )
    for name, (file, parse, column) in FORMATS.items():
        payload = scaled(FEEDS / file, column, args.rows)
        rows = parse(payload).rows.num_rows
        seconds = best(lambda p=payload, f=parse: f(p))
        bare = best(lambda p=payload: pacsv.read_csv(io.BytesIO(p)))
        print(f"{name:<22} {rows:>9,} {seconds:>8.2f}s {rows / seconds:>11,.0f} {bare:>10.3f}s"
              f" {seconds / bare:>6.0f}x")  # fmt: skip
    print("target: >= 1,000,000 interval rows/s")


if __name__ == "__main__":
    main()
