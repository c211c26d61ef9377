"""Parse benchmarks for the ingest issue. Prints figures, ratios and targets; asserts nothing.

Run with ``make bench`` (or ``.venv/bin/python bench/parse.py``). The machine is small and noisy:
compare the ratios, which are measured in one run with the two sides interleaved.

1. In-process parse of a real workbook / bare python-calamine read of all its cells (target <= 2.0).
2. Whole-process ``aurum parse`` of the RP workbook, start-up included (target <= 1.0 s).
3. Peak memory (peak RSS of a child process) parsing the RP workbook (target <= 300 MB).
4. Linearity: parse time of a 200,000-row sheet / a 20,000-row sheet (linear: about 10).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import python_calamine

from aurum.ingest.pipeline import parse_workbook
from aurum.synthetic import workbook_name, write_tall_workbook, write_workbook

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "workbooks"
AURUM = Path(sys.executable).parent / "aurum"
ROUNDS = 11


def bare_read(path: Path) -> int:
    """Every cell of every sheet, as python-calamine reads it: the floor a parser stands on."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    rows = [book.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in book.sheet_names]
    return sum(len(r) for sheet in rows for r in sheet)


def median_seconds(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def interleaved(a: Callable[[], object], b: Callable[[], object]) -> tuple[float, float]:
    """Medians of ``a`` and ``b`` run alternately, so both see the same machine load."""
    a(), b()  # warm caches and imports
    times_a, times_b = [], []
    for _ in range(ROUNDS):
        times_a.append(median_seconds(a, 1))
        times_b.append(median_seconds(b, 1))
    return statistics.median(times_a), statistics.median(times_b)


def child_max_rss_mb(code: str) -> float:
    """Peak RSS of a fresh interpreter running ``code``: its own VmHWM, which exec resets
    (getrusage's maxrss would carry this larger parent's figure over fork and exec)."""
    report = "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')))"
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"], check=True, capture_output=True, text=True
    )
    return int(done.stdout.split()[-2]) / 1024  # "VmHWM:  187332 kB"


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else "NOT MET"


def workbooks(scratch: Path) -> tuple[Path, Path, str]:
    rp, eugp = SHARED / "EOD_RP_20250917_1430.xlsx", SHARED / "EOD_EUGP_20250917_1430.xlsx"
    if rp.is_file() and eugp.is_file():
        return rp, eugp, "real workbooks from ../shared/workbooks"
    day = date(2025, 9, 17)
    made = [
        write_workbook(scratch / workbook_name(v, day), vendor=v, asof=day) for v in ("RP", "EUGP")
    ]
    return made[0], made[1], "SYNTHETIC workbooks (../shared/workbooks not found)"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        rp, eugp, source = workbooks(scratch)
        print(f"Aurum parse benchmark — {source}; medians of {ROUNDS} interleaved rounds\n")

        print("1. parse / bare calamine read (same file, same run; target <= 2.0)")
        for path in (rp, eugp):
            bare, parse = interleaved(lambda p=path: bare_read(p), lambda p=path: parse_workbook(p))
            ratio = parse / bare
            print(
                f"   {path.name:32s} bare {bare * 1000:7.1f} ms   parse {parse * 1000:7.1f} ms"
                f"   ratio {ratio:4.2f}  {verdict(ratio, 2.0)}"
            )

        out = scratch / "out"
        command = [str(AURUM), "parse", str(rp), "--out", str(out)]
        subprocess.run(command, check=True, capture_output=True)
        whole = median_seconds(
            lambda: subprocess.run(command, check=True, capture_output=True), rounds=5
        )
        startup = median_seconds(
            lambda: subprocess.run([str(AURUM), "--version"], check=True, capture_output=True), 5
        )
        print("\n2. whole-process `aurum parse` of the RP workbook (target <= 1.0 s)")
        print(
            f"   {whole:.3f} s  {verdict(whole, 1.0)}"
            f"   (of which `aurum --version`: {startup:.3f} s)"
        )

        code = "from aurum.ingest.pipeline import parse_workbook; parse_workbook({!r})"
        imports_only = child_max_rss_mb("import aurum.ingest.pipeline")
        peak = child_max_rss_mb(code.format(str(rp)))
        print("\n3. peak memory (peak RSS of a child process) parsing the RP workbook (<= 300 MB)")
        print(f"   {peak:.0f} MB  {verdict(peak, 300)}   (imports alone: {imports_only:.0f} MB)")

        print("\n4. linearity on tall synthetic sheets (2 curves, unique CUSTOM tenors)")
        sizes = {}
        for rows in (20_000, 200_000):
            path = write_tall_workbook(
                scratch / f"tall{rows}" / "EOD_PW_20250917_1430.xlsx",
                rows=rows,
                asof=date(2025, 9, 17),
            )
            seconds = median_seconds(lambda p=path: parse_workbook(p), rounds=3)
            sizes[rows] = seconds
            rss = child_max_rss_mb(code.format(str(path)))
            print(
                f"   {rows:7,d} rows: {seconds:6.2f} s, {2 * rows / seconds / 1e6:5.2f} M cells/s,"
                f" peak RSS {rss:4.0f} MB"
            )
        print(f"   time ratio 200k/20k: {sizes[200_000] / sizes[20_000]:.1f} (10 = linear)")


if __name__ == "__main__":
    main()
