"""The synthetic workbook generator reproduces the vendor layouts of the format spec, cell by cell.

Workbooks are read back with python-calamine, the reader the parser uses, so these tests check what
the parser will see. Rows and columns below are 0-based (row index 4 is the spec's row 5).
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import zipfile
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from aurum.synthetic import (
    FAULTS,
    business_days,
    workbook_name,
    write_demo_workbooks,
    write_workbook,
)

ASOF = date(2025, 9, 17)
FIRST = {"EUGP": 11, "RP": 11, "PW": 14}  # index of the first tenor row
STANDARD_BIDASK = {
    "EUGP": re.compile(r"^(-?\d+\.\d{3})   /   (-?\d+\.\d{3})$"),
    "RP": re.compile(r"^(-?\d+\.\d{3})   /   (-?\d+\.\d{3})$"),
    "PW": re.compile(r"^(-?\d+\.\d{2}) / (-?\d+\.\d{2})$"),
}
ANY_BIDASK = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)\s*$")
Grid = list[list[object]]


def read(path: Path) -> dict[str, Grid]:
    book = python_calamine.CalamineWorkbook.from_path(path)
    return {
        name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        for name in book.sheet_names
    }


def curve_columns(grid: Grid, product_row: int) -> list[int]:
    return [c for c in range(2, len(grid[product_row])) if str(grid[product_row][c]).strip()]


def column(grid: Grid, c: int, first: int) -> list[object]:
    return [row[c] for row in grid[first:]]


def catalogue(vendor: str) -> list[dict[str, str]]:
    text = (resources.files("aurum.ingest") / "reference" / "curves.csv").read_text("utf-8")
    return [r for r in csv.DictReader(text.splitlines()) if r["vendor"] == vendor]


def strip_months(label: str) -> list[tuple[int, int]]:
    kind, year_text = label.split()
    y = int(year_text)
    if kind == "Calendar":
        return [(y, m) for m in range(1, 13)]
    if kind == "Summer":
        return [(y, m) for m in range(4, 11)]
    if kind == "Winter":
        return [(y - 1, 11), (y - 1, 12), (y, 1), (y, 2), (y, 3)]
    q = int(kind[1])
    return [(y, m) for m in range(3 * q - 2, 3 * q + 1)]


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Grid]]:
    out = tmp_path_factory.mktemp("books")
    return {
        v: read(write_workbook(out / workbook_name(v, ASOF), vendor=v, asof=ASOF))
        for v in ("EUGP", "RP", "PW")
    }


def fault_book(tmp_path: Path, vendor: str, *faults: str) -> dict[str, Grid]:
    return read(write_workbook(tmp_path / "f.xlsx", vendor=vendor, asof=ASOF, faults=faults))


# ------------------------------------------------------------------------------------- calendar


def test_business_days_skip_weekends() -> None:
    assert business_days(date(2025, 9, 12), 3) == [
        date(2025, 9, 12),
        date(2025, 9, 15),
        date(2025, 9, 16),
    ]
    assert business_days(date(2025, 9, 13), 1) == [date(2025, 9, 15)]
    assert business_days(date(2025, 9, 1), 0) == []
    days = business_days(date(2025, 9, 1), 30)
    assert len(days) == len(set(days)) == 30
    assert all(d.weekday() < 5 for d in days)
    assert days[-1] == date(2025, 10, 10)


def test_workbook_name() -> None:
    assert workbook_name("RP", date(2025, 9, 17)) == "EOD_RP_20250917_1430.xlsx"
    assert workbook_name("EUGP", date(2025, 2, 3)) == "EOD_EUGP_20250203_1430.xlsx"


def test_unknown_or_inapplicable_names_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid vendors: EUGP, RP, PW"):
        write_workbook(tmp_path / "x.xlsx", vendor="XX", asof=ASOF)
    with pytest.raises(ValueError, match=r"unknown fault\(s\) 'nope'.*valid faults: .*text_price"):
        write_workbook(tmp_path / "x.xlsx", vendor="PW", asof=ASOF, faults=["nope"])
    with pytest.raises(ValueError, match="only to vendor RP"):
        write_workbook(
            tmp_path / "x.xlsx", vendor="EUGP", asof=ASOF, faults=["region_copy_mismatch"]
        )
    with pytest.raises(ValueError, match="cannot be combined"):
        write_workbook(
            tmp_path / "x.xlsx", vendor="PW", asof=ASOF, faults=["missing_date", "date_mismatch"]
        )
    with pytest.raises(ValueError, match="valid vendors"):
        workbook_name("ABC", ASOF)
    with pytest.raises(ValueError, match="valid vendors"):
        write_demo_workbooks(tmp_path, days=1, vendors=("PW", "XX"))
    with pytest.raises(ValueError, match="only to vendor RP"):
        write_demo_workbooks(tmp_path, days=1, vendors=("PW",), faults={"region_copy_mismatch"})
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------- EUGP


def test_eugp_sheets_and_labels(books: dict[str, dict[str, Grid]]) -> None:
    book = books["EUGP"]
    assert list(book) == [
        "Fixed Prices - Mid",
        "Strips - Mid",
        "Fixed Prices - BidAsk",
        "Strips - BidAsk",
        "Spark Spread",
    ]
    for name, grid in book.items():
        assert all(v == "" for row in grid[:4] for v in row), name
        assert grid[4][:2] == ["Date:", ASOF]
        assert [grid[r][1] for r in range(5, 11)] == [
            "Location",
            "Product",
            "PEAK",
            "Spark Location" if name == "Spark Spread" else "",
            "",
            "",
        ]
        assert all(v == "" for v in grid[4 + 6][2:]), "row 11 is empty"
        cols = curve_columns(grid, 6)
        assert cols == list(range(2, 2 + (35 if name == "Spark Spread" else 48)))
        header = "Bid   /   Ask" if name.endswith("BidAsk") else "Mid"
        assert [grid[9][c] for c in cols] == [header] * len(cols)
        assert grid[9][1] == ""
    spark = book["Spark Spread"]
    assert spark[4][2] == "EU>Austrian>BASE"
    assert [spark[4][c] for c in range(2, 37)] == [
        f"{spark[5][c]}>{spark[6][c]}>{spark[7][c]}" for c in range(2, 37)
    ]
    assert "UK>Great_Britian>Peak" in spark[4]


def test_eugp_identities_follow_curves_csv(books: dict[str, dict[str, Grid]]) -> None:
    rows = catalogue("EUGP")
    forward = [(r["region"], r["location"], r["block"]) for r in rows if r["family"] == "forward"]
    spark = [
        (r["region"], r["location"], r["block"], r["spark_location"])
        for r in rows
        if r["family"] == "spark_spread"
    ]
    fp = books["EUGP"]["Fixed Prices - Mid"]
    assert [(fp[5][c], fp[6][c], fp[7][c]) for c in range(2, 50)] == forward
    ss = books["EUGP"]["Spark Spread"]
    assert [(ss[5][c], ss[6][c], ss[7][c], ss[8][c]) for c in range(2, 37)] == spark
    assert fp[7][2] == "NA" and fp[6][2] == "Belgium"


def test_eugp_tenors(books: dict[str, dict[str, Grid]]) -> None:
    book = books["EUGP"]
    for name in ("Fixed Prices - Mid", "Fixed Prices - BidAsk", "Spark Spread"):
        tenors = column(book[name], 1, 11)
        assert len(tenors) == 121
        assert tenors[0] == date(2025, 9, 1) and tenors[-1] == date(2035, 9, 1)
        assert all(
            (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1 and b.day == 1
            for a, b in itertools.pairwise(tenors)
        )
    expected = [
        *(f"Calendar {y}" for y in range(2025, 2035)),
        "",
        *(f"Summer {y}" for y in range(2025, 2035)),
        "",
        *(f"Winter {y}" for y in range(2026, 2036)),
    ]
    for name in ("Strips - Mid", "Strips - BidAsk"):
        grid = book[name]
        assert column(grid, 1, 11) == expected
        for r in (11 + 10, 11 + 21):  # spec rows 22 and 33
            assert grid[r][1] == "" and all(v == "" for v in grid[r][2:50])
        assert all(v != "" for r in range(11, 43) if grid[r][1] for v in grid[r][2:50])


def test_twins_match_identity_rows_and_tenors(books: dict[str, dict[str, Grid]]) -> None:
    pairs = [
        ("EUGP", "Fixed Prices"),
        ("EUGP", "Strips"),
        ("RP", "Fixed Prices"),
        ("RP", "Seasonal Blocks"),
        ("PW", "Fixed Prices"),
        ("PW", "Strips"),
    ]
    for vendor, stem in pairs:
        mid, bidask = books[vendor][f"{stem} - Mid"], books[vendor][f"{stem} - BidAsk"]
        first = FIRST[vendor]
        assert len(mid) == len(bidask)
        for r in range(len(mid)):
            if r != first - 2:  # the price-type header row
                if r < first:
                    assert mid[r] == bidask[r], (vendor, stem, r)
                else:
                    assert mid[r][1] == bidask[r][1], (vendor, stem, r)


def test_bidask_strings_match_their_mids(books: dict[str, dict[str, Grid]]) -> None:
    checked = 0
    for vendor, stems in (
        ("EUGP", ("Fixed Prices", "Strips")),
        ("RP", ("Fixed Prices", "Seasonal Blocks")),
        ("PW", ("Fixed Prices", "Strips")),
    ):
        tolerance = (0.0005 if vendor != "PW" else 0.005) + 1e-9
        for stem in stems:
            mid, bidask = books[vendor][f"{stem} - Mid"], books[vendor][f"{stem} - BidAsk"]
            for r in range(FIRST[vendor], len(mid)):
                if not mid[r][1]:
                    continue
                for c in range(2, len(mid[r])):
                    if mid[r][c] == "":
                        continue
                    match = STANDARD_BIDASK[vendor].match(bidask[r][c])
                    assert match, (vendor, stem, r, c, bidask[r][c])
                    bid, ask = float(match[1]), float(match[2])
                    assert bid < ask
                    assert abs(mid[r][c] - (bid + ask) / 2) <= tolerance
                    checked += 1
    assert checked == 48 * 151 + 367 * 76 + 8 * 43


def assert_strips_are_means(monthly: Grid, strips: Grid, *, first: int, places: int) -> None:
    row_of = {(row[1].year, row[1].month): r for r, row in enumerate(monthly) if r >= first}
    for r in range(first, len(strips)):
        label = strips[r][1]
        if not label:
            continue
        rows = [row_of[m] for m in strip_months(label) if m in row_of]
        assert rows, label
        for c in range(2, len(strips[r])):
            expected = round(math.fsum(monthly[m][c] for m in rows) / len(rows), places)
            assert strips[r][c] == expected, (label, c)


def test_strips_are_rounded_means_of_remaining_months(books: dict[str, dict[str, Grid]]) -> None:
    for vendor, stem, places in (
        ("EUGP", "Strips", 3),
        ("RP", "Seasonal Blocks", 3),
        ("PW", "Strips", 2),
    ):
        book = books[vendor]
        assert_strips_are_means(
            book["Fixed Prices - Mid"], book[f"{stem} - Mid"], first=FIRST[vendor], places=places
        )
    summer = books["EUGP"]["Strips - Mid"]
    assert summer[22][1] == "Summer 2025"  # Sep-Oct 2025 only, as in the real 20250917 file


@pytest.mark.parametrize(
    "asof, summers, winters",
    [(date(2025, 2, 12), 2025, 2025), (date(2025, 3, 31), 2025, 2025),
     (date(2025, 4, 1), 2025, 2026), (date(2025, 11, 14), 2026, 2026)],
)  # fmt: skip
def test_first_strips_have_remaining_months(
    tmp_path: Path, asof: date, summers: int, winters: int
) -> None:
    book = read(write_workbook(tmp_path / "s.xlsx", vendor="EUGP", asof=asof))
    labels = column(book["Strips - Mid"], 1, 11)
    assert labels == [
        *(f"Calendar {y}" for y in range(asof.year, asof.year + 10)),
        "",
        *(f"Summer {y}" for y in range(summers, summers + 10)),
        "",
        *(f"Winter {y}" for y in range(winters, winters + 10)),
    ]
    assert_strips_are_means(book["Fixed Prices - Mid"], book["Strips - Mid"], first=11, places=3)


def test_monthly_mids_are_full_precision_and_plausible(books: dict[str, dict[str, Grid]]) -> None:
    fp = books["EUGP"]["Fixed Prices - Mid"]
    values = [v for row in fp[11:] for v in row[2:50]]
    assert all(isinstance(v, float) for v in values)
    assert sum(1 for v in values if round(v, 3) != v) > 0.99 * len(values)
    by_name = {(fp[5][c], fp[6][c], fp[7][c]): column(fp, c, 11) for c in range(2, 50)}
    ttf = by_name[("EU", "Dutch_TTF", "NA")]
    assert 20 < ttf[0] < 60
    assert 60 < by_name[("UK", "NBP", "NA")][0] < 110
    assert max(ttf[2:7]) > max(ttf[7:14])  # Nov-Mar dearer than Apr-Oct of the next year
    assert min(by_name[("EU", "EUA", "EMISSIONS")]) > 40
    assert all(v > 0 for v in values)


def test_spark_spreads_derive_from_power_and_gas(books: dict[str, dict[str, Grid]]) -> None:
    fp, spark = books["EUGP"]["Fixed Prices - Mid"], books["EUGP"]["Spark Spread"]
    power = {(fp[5][c], fp[6][c], fp[7][c].upper()): c for c in range(2, 50)}
    gas = {fp[6][c]: c for c in range(2, 50) if fp[7][c] == "NA"}
    negative = 0
    for c in range(2, 37):
        p = power[(spark[5][c], spark[6][c], spark[7][c].upper())]
        g = gas[spark[8][c]]
        factor = 0.6945 if spark[8][c] == "NBP" else 2.0
        for r in range(11, 132):
            assert spark[r][c] == pytest.approx(fp[r][p] - factor * fp[r][g], abs=1e-9)
            negative += spark[r][c] < 0
    assert negative > 0  # spreads can go negative, as in the real files


# ------------------------------------------------------------------------------------------ RP


def test_rp_layout(books: dict[str, dict[str, Grid]]) -> None:
    book = books["RP"]
    assert list(book) == [
        "Fixed Prices - Mid",
        "Seasonal Blocks - Mid",
        "Fixed Prices - BidAsk",
        "Seasonal Blocks - BidAsk",
        "North America",
        "Europe",
        "Asia",
        "Renewables - LNG",
    ]
    for name in list(book)[:4]:
        grid = book[name]
        assert grid[4][:2] == ["Date:", ASOF]
        assert [grid[r][1] for r in (5, 6, 7, 8)] == ["", "Location", "Product", ""]
        assert curve_columns(grid, 7) == list(range(2, 369))
        assert {grid[5][c] for c in range(2, 369)} == {"US", "EU", "AP", "ME"}
        assert all(v == "" for v in grid[8]), "no row 9 in RP"
    assert len(column(book["Fixed Prices - Mid"], 1, 11)) == 61
    assert column(book["Fixed Prices - Mid"], 1, 11)[-1] == date(2030, 9, 1)
    assert column(book["Seasonal Blocks - Mid"], 1, 11) == [
        *(f"Calendar {y}" for y in range(2025, 2030)),
        "",
        *(f"Summer {y}" for y in range(2025, 2030)),
        "",
        *(f"Winter {y}" for y in range(2026, 2031)),
    ]
    products = [book["Fixed Prices - Mid"][7][c] for c in range(2, 369)]
    assert "Fuel-Oil 1% FOB Barge " in products  # the vendor's trailing space
    rows = catalogue("RP")
    assert len(rows) == 366
    assert sorted({p.strip() for p in products}) == sorted({r["product"] for r in rows})


def test_rp_singapore_column_twice_and_identical(books: dict[str, dict[str, Grid]]) -> None:
    key = ("AP", "Singapore", "Marine Fuel 0.5% FOB Singapore vs Brent 1st Line")
    for name in ("Fixed Prices - Mid", "Seasonal Blocks - Mid", "Fixed Prices - BidAsk", "Asia"):
        grid = books["RP"][name]
        region = 5 if name != "Asia" else None
        hits = [
            c
            for c in curve_columns(grid, 7)
            if (grid[6][c], grid[7][c]) == key[1:] and (region is None or grid[5][c] == "AP")
        ]
        assert len(hits) == 2 and hits[1] == hits[0] + 1, name
        assert column(grid, hits[0], 11) == column(grid, hits[1], 11)


def test_rp_region_sheets_are_exact_copies(books: dict[str, dict[str, Grid]]) -> None:
    book = books["RP"]
    fp = book["Fixed Prices - Mid"]
    source = [(c, (fp[6][c], fp[7][c])) for c in range(2, 369)]
    membership = {(r["location"], r["product"]): r["region_sheets"] for r in catalogue("RP")}
    counts = {}
    for code, name in (("NA", "North America"), ("EU", "Europe"), ("AS", "Asia"),
                       ("RL", "Renewables - LNG")):  # fmt: skip
        grid = book[name]
        assert all(v == "" for v in grid[5]), "row 6 entirely empty"
        assert grid[4][:2] == ["Date:", ASOF]
        assert [grid[r][1] for r in (6, 7)] == ["Location", "Product"]
        cols = curve_columns(grid, 7)
        expected = [c for c, k in source if code in membership[(k[0], k[1].strip())].split(";")]
        assert [(grid[6][c], grid[7][c]) for c in cols] == [dict(source)[c] for c in expected]
        for c, src in zip(cols, expected, strict=True):
            assert column(grid, c, 11) == column(fp, src, 11)
        counts[name] = len(cols)
    assert counts == {"North America": 154, "Europe": 143, "Asia": 57, "Renewables - LNG": 71}
    on_regions = {
        (book[n][6][c], book[n][7][c]) for n in list(book)[4:] for c in curve_columns(book[n], 7)
    }
    middle_east = [(fp[6][c], fp[7][c]) for c in range(2, 369) if fp[5][c] == "ME"]
    assert len(middle_east) == 12 and not on_regions & set(middle_east)


def test_layout_matches_the_real_20250917_workbooks(
    books: dict[str, dict[str, Grid]], workbooks_dir: Path
) -> None:
    for vendor in ("EUGP", "RP"):
        real = read(workbooks_dir / workbook_name(vendor, ASOF))
        assert list(real) == list(books[vendor])
        for name, grid in real.items():
            ours = books[vendor][name]
            labels = [row[:2] for row in grid[:11]]
            assert [row[:2] for row in ours[:11]] == labels, (vendor, name)
            assert column(ours, 1, 11) == column(grid, 1, 11), (vendor, name)
            identity = slice(4, 9) if name == "Spark Spread" else slice(5, 9)
            theirs = [tuple(row[c] for row in grid[identity]) for c in curve_columns(grid, 7)]
            mine = [tuple(row[c] for row in ours[identity]) for c in curve_columns(ours, 7)]
            if name == "Renewables - LNG":  # the vendor orders this one sheet its own way
                theirs, mine = sorted(theirs), sorted(mine)
            assert mine == theirs, (vendor, name)


# ------------------------------------------------------------------------------------------ PW


def test_pw_layout(books: dict[str, dict[str, Grid]]) -> None:
    book = books["PW"]
    assert list(book) == [
        "Fixed Prices - Mid",
        "Fixed Prices - BidAsk",
        "Strips - Mid",
        "Strips - BidAsk",
    ]
    labels = ["ISO", "Market", "Hours", "Location", "Product", "Spark Location", "Units"]
    for name, grid in book.items():
        assert grid[4][:2] == ["Date:", ASOF]
        assert [grid[r][1] for r in range(5, 12)] == labels
        header = "Bid / Ask" if name.endswith("BidAsk") else "Mid"
        assert [grid[12][c] for c in range(2, 10)] == [header] * 8
        assert all(v == "" for v in grid[13])
    fp = book["Fixed Prices - Mid"]
    identities = [tuple(fp[r][c] for r in range(5, 12)) for c in range(2, 10)]
    assert ("PJM", "DA", "ON_PEAK", "West", "power", "", "USD/MWh") in identities
    assert {i[6] for i in identities} == {"USD/MWh", "$/MWh"}
    tenors = column(fp, 1, 14)
    assert len(tenors) == 36 and tenors[0] == date(2025, 9, 1) and tenors[-1] == date(2028, 8, 1)
    assert all(round(v, 2) == v for row in fp[14:] for v in row[2:10])
    assert column(book["Strips - Mid"], 1, 14) == [
        "Calendar 2025", "Calendar 2026", "Calendar 2027",
        "Q1 2026", "Q2 2026", "Q3 2026", "Q4 2026",
    ]  # fmt: skip


# ------------------------------------------------------------------------------- determinism


def test_same_seed_same_workbook_and_others_differ(
    tmp_path: Path, books: dict[str, dict[str, Grid]]
) -> None:
    again = read(write_workbook(tmp_path / "a.xlsx", vendor="EUGP", asof=ASOF, seed=0))
    assert again == books["EUGP"]
    other_seed = read(write_workbook(tmp_path / "b.xlsx", vendor="EUGP", asof=ASOF, seed=1))
    base = books["EUGP"]["Fixed Prices - Mid"]
    changed = other_seed["Fixed Prices - Mid"]
    assert changed[:11] == base[:11]
    assert all(changed[r][c] != base[r][c] for r in range(11, 132) for c in range(2, 50))
    next_day = read(
        write_workbook(tmp_path / "c.xlsx", vendor="EUGP", asof=ASOF + timedelta(days=1))
    )["Fixed Prices - Mid"]
    moves = sorted(
        abs(next_day[r][c] / base[r][c] - 1) for r in range(11, 132) for c in range(2, 50)
    )
    assert moves[0] > 0
    assert moves[len(moves) // 2] < 0.03  # the median day-to-day move
    assert moves[int(0.95 * len(moves))] < 0.05


# -------------------------------------------------------------------------------------- faults


def test_faults_are_the_documented_set() -> None:
    documented = {
        "text_price", "error_cell", "bid_gt_ask", "bidask_odd_spacing", "duplicate_identical",
        "duplicate_conflict", "missing_date", "date_not_date", "date_mismatch", "missing_bidask",
        "missing_mid", "extra_sheet", "region_copy_mismatch", "custom_tenor",
    }  # fmt: skip
    assert documented == FAULTS


def test_text_price(tmp_path: Path) -> None:
    fp = fault_book(tmp_path, "PW", "text_price")["Fixed Prices - Mid"]
    texts = [(r, c) for r in range(14, 50) for c in range(2, 10) if isinstance(fp[r][c], str)]
    assert texts == [(15, 2)]
    assert fp[15][2] == "n/a"


def test_error_cell(tmp_path: Path) -> None:
    path = write_workbook(tmp_path / "e.xlsx", vendor="PW", asof=ASOF, faults=["error_cell"])
    fp = read(path)["Fixed Prices - Mid"]
    assert fp[16][3] == ""  # calamine: not a number; only the XML says it is an error
    assert sum(1 for row in fp[14:] for v in row[2:10] if not isinstance(v, float)) == 1
    with zipfile.ZipFile(path) as archive:
        assert b'<c r="D17" t="e"><v>#N/A</v></c>' in archive.read("xl/worksheets/sheet1.xml")
    cell = openpyxl.load_workbook(path)["Fixed Prices - Mid"]["D17"]
    assert (cell.value, cell.data_type) == ("#N/A", "e")


def test_bid_gt_ask(tmp_path: Path, books: dict[str, dict[str, Grid]]) -> None:
    ba = fault_book(tmp_path, "PW", "bid_gt_ask")["Fixed Prices - BidAsk"]
    inverted = []
    for r in range(14, 50):
        for c in range(2, 10):
            bid, ask = map(float, STANDARD_BIDASK["PW"].match(ba[r][c]).groups())
            if bid > ask:
                inverted.append((r, c))
    assert inverted == [(17, 4)]
    clean = books["PW"]["Fixed Prices - BidAsk"][17][4]
    assert ba[17][4] == " / ".join(reversed(clean.split(" / ")))


def test_bidask_odd_spacing(tmp_path: Path, books: dict[str, dict[str, Grid]]) -> None:
    book = fault_book(tmp_path, "PW", "bidask_odd_spacing")
    for name in ("Fixed Prices - BidAsk", "Strips - BidAsk"):
        odd, clean = book[name], books["PW"][name]
        spacings = set()
        for r in range(14, len(odd)):
            for c in range(2, 10):
                assert not STANDARD_BIDASK["PW"].match(odd[r][c])
                got, want = ANY_BIDASK.match(odd[r][c]), ANY_BIDASK.match(clean[r][c])
                assert got and want and got.groups() == want.groups()
                spacings.add(re.sub(r"[-\d.]+", "x", odd[r][c]))
        assert spacings == {"x/x", " x /  x", "x  /x", "x   /  x "}


@pytest.mark.parametrize("fault, curve", [("duplicate_identical", 3), ("duplicate_conflict", 4)])
def test_duplicate_columns(
    tmp_path: Path, books: dict[str, dict[str, Grid]], fault: str, curve: int
) -> None:
    book = fault_book(tmp_path, "EUGP", fault)
    c = 2 + curve
    for name in ("Fixed Prices - Mid", "Strips - Mid", "Fixed Prices - BidAsk", "Strips - BidAsk"):
        grid = book[name]
        assert len(curve_columns(grid, 6)) == 49
        assert [row[c] for row in grid[5:]] == [row[c] for row in books["EUGP"][name][5:]]
        original, copy = column(grid, c, 5), column(grid, c + 1, 5)
        if fault == "duplicate_conflict" and name == "Fixed Prices - Mid":
            differ = [i for i, (a, b) in enumerate(zip(original, copy, strict=True)) if a != b]
            assert differ == [6 + 5]  # month 5, below the 6 header rows 6-11
            assert copy[11] - original[11] == pytest.approx(1.0, abs=1e-12)
        else:
            assert original == copy, name
    assert len(curve_columns(book["Spark Spread"], 6)) == 35


def test_rp_faults_combined(tmp_path: Path, books: dict[str, dict[str, Grid]]) -> None:
    book = fault_book(tmp_path, "RP", "region_copy_mismatch", "duplicate_identical")
    fp, europe = book["Fixed Prices - Mid"], book["Europe"]
    assert len(curve_columns(fp, 7)) == 368
    assert column(fp, 5, 5) == column(fp, 6, 5)  # curve 3 next to its copy
    assert column(fp, 5, 5) == column(books["RP"]["Fixed Prices - Mid"], 5, 5)
    source = {(fp[6][c], fp[7][c]): c for c in range(2, 370)}
    differences = []
    for c in curve_columns(europe, 7):
        src = source[(europe[6][c], europe[7][c])]
        for r in range(11, 72):
            if europe[r][c] != fp[r][src]:
                differences.append((r, c, europe[r][c] - fp[r][src]))
    assert len(differences) == 1
    r, c, delta = differences[0]
    assert (r, c) == (16, 2) and delta == pytest.approx(0.5, abs=1e-12)
    assert len(curve_columns(book["North America"], 7)) == 155  # the duplicate is a US REC


def test_missing_date(tmp_path: Path) -> None:
    for name, grid in fault_book(tmp_path, "EUGP", "missing_date").items():
        assert grid[4][:2] == ["", ""], name
        assert all(not isinstance(v, date) for row in grid[:11] for v in row)


def test_date_not_date_and_date_mismatch(tmp_path: Path) -> None:
    for name, grid in fault_book(tmp_path, "EUGP", "date_not_date").items():
        assert grid[4][:2] == ["Date:", "tomorrow"], name
    path = tmp_path / workbook_name("PW", ASOF)
    write_workbook(path, vendor="PW", asof=ASOF, faults={"date_mismatch"})
    assert path.name == "EOD_PW_20250917_1430.xlsx"
    for name, grid in read(path).items():
        assert grid[4][:2] == ["Date:", date(2025, 9, 18)], name


def test_missing_sheets_and_extra_sheet(tmp_path: Path) -> None:
    assert list(fault_book(tmp_path, "EUGP", "missing_bidask")) == [
        "Fixed Prices - Mid",
        "Strips - Mid",
        "Spark Spread",
    ]
    assert list(fault_book(tmp_path, "PW", "missing_mid")) == [
        "Fixed Prices - BidAsk",
        "Strips - Mid",
        "Strips - BidAsk",
    ]
    book = fault_book(tmp_path, "PW", "extra_sheet")
    assert list(book)[-1] == "Notes" and len(book) == 5
    cells = [v for row in book["Notes"] for v in row if v != ""]
    assert "Notes" in cells and any(isinstance(v, float) for v in cells)


def test_custom_tenor(tmp_path: Path, books: dict[str, dict[str, Grid]]) -> None:
    book = fault_book(tmp_path, "EUGP", "custom_tenor")
    for name in ("Strips - Mid", "Strips - BidAsk"):
        labels = column(book[name], 1, 11)
        clean = column(books["EUGP"][name], 1, 11)
        assert labels[12] == "Spring 2026" and clean[12] == "Summer 2026"
        assert [a for a, b in zip(labels, clean, strict=True) if a != b] == ["Spring 2026"]
        assert book[name][23][2:] == books["EUGP"][name][23][2:]
    pw = column(fault_book(tmp_path, "PW", "custom_tenor")["Strips - Mid"], 1, 14)
    assert pw[4] == "Spring 2026" and "Q2 2026" not in pw


def test_several_faults_at_once(tmp_path: Path) -> None:
    book = fault_book(tmp_path, "PW", "text_price", "date_mismatch", "extra_sheet", "custom_tenor")
    assert book["Fixed Prices - Mid"][15][2] == "n/a"
    assert book["Strips - BidAsk"][4][1] == date(2025, 9, 18)
    assert list(book)[-1] == "Notes"
    assert column(book["Strips - Mid"], 1, 14)[4] == "Spring 2026"


# ---------------------------------------------------------------------------------------- demo


def test_write_demo_workbooks(tmp_path: Path) -> None:
    paths = write_demo_workbooks(
        tmp_path / "drop", days=2, start=date(2025, 9, 12), vendors=("PW",), faults={"text_price"}
    )
    assert [p.name for p in paths] == ["EOD_PW_20250912_1430.xlsx", "EOD_PW_20250915_1430.xlsx"]
    first, second = (read(p)["Fixed Prices - Mid"] for p in paths)
    assert first[4][1] == date(2025, 9, 12) and second[4][1] == date(2025, 9, 15)
    assert first[15][2] == second[15][2] == "n/a"
    assert first[14][2] != second[14][2]
