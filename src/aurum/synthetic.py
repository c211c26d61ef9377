"""Synthetic vendor EOD workbooks (EUGP, RP, PW) for tests, demos and benchmarks.

Why this exists: the real vendor workbooks are licensed data that cannot ship in the repository,
yet the parser, the pipeline and the demo all need realistic inputs for any date, in every layout,
with faults that can be switched on one at a time. This module writes such workbooks, cell for cell
in the layouts of ``shared/formats/vendor-workbooks.md`` (§1.1, §2, §3, §8), from the curve
inventory in ``aurum/ingest/reference/curves.csv``:

* EUGP: ``Fixed Prices - Mid``, ``Strips - Mid``, ``Fixed Prices - BidAsk``, ``Strips - BidAsk``,
  ``Spark Spread``; 121 months, 3 × 10 strips, 48 forward and 35 spark-spread curves.
* RP: ``Fixed Prices - Mid``, ``Seasonal Blocks - Mid``, their BidAsk twins and the four region
  sheets; 61 months, 3 × 5 strips, 366 curves (367 columns: the Singapore duplicate is reproduced).
* PW (layout not verified on a real file): EOD-grid style with seven labelled identity rows.

Prices are plausible and deterministic for a given (seed, vendor, curve, as-of date): a level per
asset class and unit, a winter premium for gas and power, a gentle term structure, and a random walk
across business days, so that consecutive days differ by a percent or so. Randomness comes only from
``numpy.random.default_rng`` seeded from those values, never from global state.

Writing uses openpyxl in write-only mode: an RP day (about 82,000 cells) takes well under 1.5 s.
"""

from __future__ import annotations

import csv
import math
import re
import zlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TypeVar

import numpy as np
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

__all__ = [
    "FAULTS",
    "VENDORS",
    "business_days",
    "workbook_name",
    "write_demo_workbooks",
    "write_tall_workbook",
    "write_workbook",
]

VENDORS: tuple[str, ...] = ("EUGP", "RP", "PW")
"""The vendors this module can write, in the order demos write them."""

FAULTS: frozenset[str] = frozenset(
    {
        "text_price",
        "error_cell",
        "bid_gt_ask",
        "bidask_odd_spacing",
        "duplicate_identical",
        "duplicate_conflict",
        "missing_date",
        "date_not_date",
        "date_mismatch",
        "missing_bidask",
        "missing_mid",
        "extra_sheet",
        "region_copy_mismatch",
        "custom_tenor",
    }
)
"""Faults :func:`write_workbook` can inject, each one a way a delivery can go wrong.

Each fault touches the one workbook being written, at a fixed, documented place, so that tests can
find it; several may be combined unless they contradict each other (see ``ValueError`` below).
"Curve *n*" is the *n*-th curve column (0-based) of the vendor's main sheets, "month *k*" the *k*-th
monthly tenor row (0-based, month 0 = the as-of month).

``text_price``
    ``Fixed Prices - Mid``, curve 0, month 1 holds the text ``"n/a"`` instead of a number.
``error_cell``
    ``Fixed Prices - Mid``, curve 1, month 2 is an Excel error cell ``#N/A`` (``t="e"``);
    python-calamine reads it as ``''``, openpyxl as ``'#N/A'`` with ``data_type == 'e'``.
``bid_gt_ask``
    ``Fixed Prices - BidAsk``, curve 2, month 3 has bid and ask swapped, so bid > ask.
``bidask_odd_spacing``
    every bid/ask string uses irregular spacing (``"55.1/55.3"``, ``" -4.313 /  -4.271"`` ...);
    still valid under ``^\\s*(-?\\d+(?:\\.\\d+)?)\\s*/\\s*(-?\\d+(?:\\.\\d+)?)\\s*$``.
``duplicate_identical``
    curve 3 appears twice in adjacent columns, with identical values, on every sheet that carries
    it (the four main sheets and, for RP, its region sheets).
``duplicate_conflict``
    like ``duplicate_identical`` for curve 4, but month 5 of the copy on ``Fixed Prices - Mid``
    (and on the RP region sheets, which copy that sheet) is 1.0 higher than the original.
``missing_date``
    no ``Date:`` label in A5 and no date in B5 on any sheet.
``date_not_date``
    B5 holds the text ``"tomorrow"`` on every sheet.
``date_mismatch``
    B5 holds as-of + 1 day on every sheet; the file name keeps the as-of date.
``missing_bidask``
    no ``... - BidAsk`` sheets at all.
``missing_mid``
    no ``Fixed Prices - Mid`` sheet; its BidAsk twin and every other sheet stay.
``extra_sheet``
    an extra last sheet ``Notes`` with some text and numbers.
``region_copy_mismatch``
    RP only: on ``Europe``, curve column 0, month 5 is 0.5 higher than its ``Fixed Prices - Mid``
    source.
``custom_tenor``
    one strip label, on both strip sheets, becomes ``Spring YYYY``: for EUGP and RP the second
    ``Summer`` strip (``Summer 2026`` → ``Spring 2026`` on a 2025-09 as-of), for PW ``Q2``.
"""

_EXCLUSIVE: tuple[frozenset[str], ...] = (
    frozenset({"missing_date", "date_not_date", "date_mismatch"}),
    frozenset({"missing_mid", "text_price"}),
    frozenset({"missing_mid", "error_cell"}),
    frozenset({"missing_mid", "duplicate_conflict"}),
    frozenset({"missing_bidask", "bid_gt_ask"}),
    frozenset({"missing_bidask", "bidask_odd_spacing"}),
)
_VENDOR_ONLY: tuple[tuple[str, str], ...] = (("region_copy_mismatch", "RP"),)

# Curve columns (0-based) and monthly rows that the faults touch; see the FAULTS docstring.
_TEXT_AT, _ERROR_AT, _SWAP_AT = (0, 1), (1, 2), (2, 3)
_DUPLICATE_CURVE, _CONFLICT_CURVE, _CONFLICT_MONTH = 3, 4, 5
_REGION_MISMATCH_MONTH = 5

_RP_DUPLICATED = ("AP", "Singapore", "Marine Fuel 0.5% FOB Singapore vs Brent 1st Line")
# The vendor's own spelling where curves.csv holds the trimmed form (§3.1: a trailing space).
_RP_AS_WRITTEN = MappingProxyType({"Fuel-Oil 1% FOB Barge": "Fuel-Oil 1% FOB Barge "})
_RP_REGION_SHEETS = (
    ("NA", "North America"),
    ("EU", "Europe"),
    ("AS", "Asia"),
    ("RL", "Renewables - LNG"),
)
_SWAP = re.compile(r"^(\s*)(\S+)(\s*/\s*)(\S+)(\s*)$")  # bid/ask string, groups 2 and 4
_ODD_BIDASK = ("{b}/{a}", " {b} /  {a}", "{b}  /{a}", "{b}   /  {a} ")
_WALK_EPOCH = date(2025, 1, 1)
_DAILY_VOL = 0.008  # log-return per business day of the common-plus-idiosyncratic walk
_TENOR_NOISE = 0.002
_SPARK_HEAT_RATE = 2.0  # EUR/MWh gas → MWh of power (spec §2.3)
_SPARK_NBP = 0.6945  # GBp/therm → GBP/MWh of power, UK (spec §2.3)


@dataclass(frozen=True)
class _Curve:
    """One row of ``curves.csv``."""

    vendor: str
    family: str
    iso: str
    region: str
    location: str
    market: str
    product: str
    block: str
    spark_location: str
    asset_class: str
    canonical_product: str
    currency: str
    per_unit: str
    region_sheets: tuple[str, ...]

    @property
    def key(self) -> str:
        return "|".join(
            (self.family, self.iso, self.region, self.location, self.market, self.product,
             self.block, self.spark_location)
        )  # fmt: skip


@dataclass(frozen=True)
class _Strip:
    """A strip tenor row: its label and the monthly rows it averages ("" = separator row)."""

    label: str
    months: tuple[int, ...]


@dataclass(frozen=True)
class _Layout:
    """Where a vendor's grid puts things (1-based rows, as in the spec)."""

    labels: tuple[str, ...]  # column-B labels from row 6 down ("" = unlabelled row)
    header_row: int
    data_row: int
    mid_header: str
    bidask_header: str
    bidask_sep: str
    decimals: int  # of bid/ask strings and strip mids
    months: int
    strip_sheet: str  # "Strips" or "Seasonal Blocks"
    sheet_order: tuple[str, ...]


_LAYOUTS: Mapping[str, _Layout] = MappingProxyType({
    "EUGP": _Layout(
        labels=("Location", "Product", "PEAK"),
        header_row=10, data_row=12, mid_header="Mid", bidask_header="Bid   /   Ask",
        bidask_sep="   /   ", decimals=3, months=121, strip_sheet="Strips",
        sheet_order=("Fixed Prices - Mid", "Strips - Mid", "Fixed Prices - BidAsk",
                     "Strips - BidAsk", "Spark Spread"),
    ),
    "RP": _Layout(
        labels=("", "Location", "Product"),
        header_row=10, data_row=12, mid_header="Mid", bidask_header="Bid   /   Ask",
        bidask_sep="   /   ", decimals=3, months=61, strip_sheet="Seasonal Blocks",
        sheet_order=("Fixed Prices - Mid", "Seasonal Blocks - Mid", "Fixed Prices - BidAsk",
                     "Seasonal Blocks - BidAsk", *(name for _, name in _RP_REGION_SHEETS)),
    ),
    "PW": _Layout(
        labels=("ISO", "Market", "Hours", "Location", "Product", "Spark Location", "Units"),
        header_row=13, data_row=15, mid_header="Mid", bidask_header="Bid / Ask",
        bidask_sep=" / ", decimals=2, months=36, strip_sheet="Strips",
        sheet_order=("Fixed Prices - Mid", "Fixed Prices - BidAsk", "Strips - Mid",
                     "Strips - BidAsk"),
    ),
})  # fmt: skip


@dataclass(frozen=True)
class _Column:
    """One curve column of the main sheets, every value already in its cell form."""

    identity: tuple[str, ...]  # label-row values, row 6 down
    monthly: tuple[object, ...]
    strips: tuple[object, ...]  # "" on separator rows
    monthly_bidask: tuple[str, ...]
    strips_bidask: tuple[str, ...]
    region_sheets: tuple[str, ...]


@dataclass(frozen=True)
class _ExcelError:
    """An error cell (``t="e"``), e.g. ``#N/A``."""

    text: str


_Grid = list[list[object]]
_T = TypeVar("_T")


# ------------------------------------------------------------------------------------------ public


def business_days(start: date, days: int) -> list[date]:
    """The first ``days`` weekdays (Mon-Fri) on or after ``start``: vendors publish on those.

    Holidays are not skipped: the vendors' own calendars are unknown, and a demo needs no gaps.

    >>> business_days(date(2025, 9, 12), 3)
    [datetime.date(2025, 9, 12), datetime.date(2025, 9, 15), datetime.date(2025, 9, 16)]
    """
    if days < 0:
        raise ValueError(f"days must be >= 0, not {days}")
    out: list[date] = []
    day = start
    while len(out) < days:
        if day.weekday() < 5:
            out.append(day)
        day += timedelta(days=1)
    return out


def workbook_name(vendor: str, asof: date) -> str:
    """The vendor's file name for one as-of date, which the parser cross-checks against B5.

    >>> workbook_name("RP", date(2025, 9, 17))
    'EOD_RP_20250917_1430.xlsx'
    """
    return f"EOD_{_check_vendor(vendor)}_{asof:%Y%m%d}_1430.xlsx"


def write_workbook(
    path: Path, *, vendor: str, asof: date, seed: int = 0, faults: Collection[str] = ()
) -> Path:
    """Write one vendor workbook for ``asof`` to ``path`` (parents created) and return ``path``.

    The same (vendor, asof, seed, faults) always gives the same cell values. ``faults`` are names
    from :data:`FAULTS`; unknown vendors or faults, faults that do not apply to the vendor and
    contradictory combinations raise ``ValueError``. ``seed`` must be >= 0.
    """
    vendor = _check_vendor(vendor)
    chosen = _check_faults(vendor, faults)
    if seed < 0:
        raise ValueError(f"seed must be >= 0, not {seed}")
    sheets = _build(_load_curves(vendor), vendor=vendor, asof=asof, seed=seed, faults=chosen)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(sheets, path)
    return path


def write_demo_workbooks(
    out_dir: Path,
    *,
    days: int,
    seed: int = 0,
    start: date = date(2025, 9, 1),
    vendors: Sequence[str] = ("EUGP", "RP", "PW"),
    faults: Collection[str] = (),
    progress: Callable[[Path], None] | None = None,
) -> list[Path]:
    """Write ``days`` business days of workbooks per vendor into ``out_dir``; return the paths.

    ``progress`` is called with each path once it is written.

    Paths come in date order, vendors in the given order within a day. Each fault is applied to
    every workbook of the vendors it applies to (``region_copy_mismatch`` only to RP); a fault
    that applies to none of ``vendors`` raises ``ValueError``.
    """
    checked = [_check_vendor(v) for v in vendors]
    chosen = _check_faults(None, faults)
    for fault, only in _VENDOR_ONLY:
        if fault in chosen and only not in checked:
            raise ValueError(f"fault {fault!r} applies only to vendor {only}, which is not written")
    out_dir = Path(out_dir)
    paths = []
    for day in business_days(start, days):
        for vendor in checked:
            applicable = chosen - {f for f, only in _VENDOR_ONLY if only != vendor}
            target = out_dir / workbook_name(vendor, day)
            paths.append(
                write_workbook(target, vendor=vendor, asof=day, seed=seed, faults=applicable)
            )
            if progress is not None:
                progress(target)
    return paths


def write_tall_workbook(path: Path, *, rows: int, asof: date, curves: int = 2) -> Path:
    """A PW-style workbook whose ``Fixed Prices - Mid`` sheet has ``rows`` tenor rows.

    Tenor labels are unique strings (``Block 000001`` ...), so every row is a distinct CUSTOM
    tenor: it exists to measure that parsing stays linear in cells and bounded in memory.
    """
    book = Workbook(write_only=True)
    labels = [("ISO", "PJM"), ("Market", "DA"), ("Hours", "ON_PEAK"), ("Product", "power"),
              ("Units", "USD/MWh")]  # fmt: skip
    for name, count in (("Fixed Prices - Mid", rows), ("Strips - Mid", 1)):
        sheet = book.create_sheet(name)
        for _ in range(4):
            sheet.append([])
        sheet.append(["Date:", asof])
        for label, value in labels:
            sheet.append(["", label, *[value] * curves])
        sheet.append(["", "Location", *[f"Node {c}" for c in range(curves)]])
        sheet.append(["", "", *["Mid"] * curves])
        for r in range(count):
            label = f"Block {r + 1:06d}" if count > 1 else f"Calendar {asof.year + 1}"
            sheet.append(["", label, *[40.0 + (r % 97) / 10 + c for c in range(curves)]])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


# ---------------------------------------------------------------------------------------- checking


def _check_vendor(vendor: str) -> str:
    if vendor not in VENDORS:
        raise ValueError(f"unknown vendor {vendor!r}; valid vendors: {', '.join(VENDORS)}")
    return vendor


def _check_faults(vendor: str | None, faults: Collection[str]) -> frozenset[str]:
    chosen = frozenset((faults,) if isinstance(faults, str) else faults)
    unknown = sorted(chosen - FAULTS)
    if unknown:
        names, valid = ", ".join(map(repr, unknown)), ", ".join(sorted(FAULTS))
        raise ValueError(f"unknown fault(s) {names}; valid faults: {valid}")
    for group in _EXCLUSIVE:
        clash = sorted(chosen & group)
        if len(clash) > 1:
            raise ValueError(f"faults {' and '.join(clash)} cannot be combined")
    for fault, only in _VENDOR_ONLY:
        if vendor is not None and fault in chosen and vendor != only:
            raise ValueError(f"fault {fault!r} applies only to vendor {only}, not {vendor}")
    return chosen


def _load_curves(vendor: str) -> tuple[_Curve, ...]:
    text = (resources.files("aurum.ingest") / "reference" / "curves.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(
        _Curve(
            **{k: v for k, v in row.items() if k != "region_sheets"},
            region_sheets=tuple(filter(None, row["region_sheets"].split(";"))),
        )
        for row in rows
        if row["vendor"] == vendor
    )


# ----------------------------------------------------------------------------------------- tenors


def _months(asof: date, count: int) -> list[date]:
    first = asof.year * 12 + asof.month - 1
    return [date((first + k) // 12, (first + k) % 12 + 1, 1) for k in range(count)]


def _strips(vendor: str, asof: date, months: Sequence[date]) -> list[_Strip]:
    """Strip rows in the July-2025-on order: Calendar, Summer, Winter, with separators."""
    index = {(m.year, m.month): k for k, m in enumerate(months)}

    def strip(label: str, spans: Sequence[tuple[int, int]]) -> _Strip:
        rows = tuple(index[s] for s in spans if s in index)
        if not rows:
            raise AssertionError(f"strip {label} has no month on the curve")  # a layout bug
        return _Strip(label, rows)

    def calendar(y: int) -> _Strip:
        return strip(f"Calendar {y}", [(y, m) for m in range(1, 13)])

    year = asof.year
    if vendor == "PW":
        quarters = [
            strip(f"Q{q} {year + 1}", [(year + 1, m) for m in range(3 * q - 2, 3 * q + 1)])
            for q in range(1, 5)
        ]
        return [calendar(year + i) for i in range(3)] + quarters
    count = 10 if vendor == "EUGP" else 5
    first_summer = year if asof.month <= 10 else year + 1
    first_winter = year if asof.month <= 3 else year + 1
    separator = _Strip("", ())
    return [
        *(calendar(year + i) for i in range(count)),
        separator,
        *(
            strip(f"Summer {y}", [(y, m) for m in range(4, 11)])
            for y in range(first_summer, first_summer + count)
        ),
        separator,
        *(
            strip(f"Winter {y}", [(y - 1, 11), (y - 1, 12), *((y, m) for m in (1, 2, 3))])
            for y in range(first_winter, first_winter + count)
        ),
    ]


# ----------------------------------------------------------------------------------------- prices


def _rng(*parts: int | str) -> np.random.Generator:
    words = [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]
    return np.random.default_rng(np.random.SeedSequence(words))


def _is_spread(product: str) -> bool:
    text = f" {product.casefold()} "
    return any(k in text for k in (" vs", "crack", "spread", "up/d", "diff", " syn "))


def _shape(curve: _Curve, seed: int) -> tuple[float, float, float]:
    """(level, winter premium, term slope per year) of one curve, fixed across days."""
    rng = _rng(seed, curve.vendor, curve.key)
    u = rng.uniform
    winter, slope = u(-0.03, 0.03), u(-0.03, 0.02)
    cls, unit = curve.asset_class, curve.per_unit
    if cls == "power" and curve.vendor in ("EUGP", "PW"):
        # A market area shares its level across blocks; peak and on-peak cost more than base.
        area = _rng(seed, curve.vendor, curve.iso, curve.region, curve.location)
        if curve.vendor == "PW":
            level = area.uniform(40, 70)
            level *= {"ON_PEAK": 1.0, "ATC": 0.85, "OFF_PEAK": 0.7}.get(curve.block.upper(), 1.0)
        else:
            level = area.uniform(60, 90) if curve.currency == "GBP" else area.uniform(40, 100)
        if curve.vendor == "EUGP" and curve.block.upper() == "PEAK":
            level *= u(1.05, 1.2)
        winter, slope = u(0.05, 0.15), u(-0.04, 0.0)
    elif cls == "gas" and curve.vendor == "EUGP":
        if unit == "therm":
            level = u(75, 85)
        elif unit == "MMBtu":
            level = u(10, 13)
        else:
            level = u(30, 40)
        winter, slope = u(0.08, 0.2), u(-0.05, -0.01)
    elif cls == "emissions" and curve.vendor == "EUGP":
        level = u(70, 80) if curve.currency == "EUR" else u(40, 60)
        winter, slope = 0.0, u(0.01, 0.04)
    else:
        level = _rp_level(curve, rng)
    return float(level), float(winter), float(slope)


def _rp_level(curve: _Curve, rng: np.random.Generator) -> float:
    u = rng.uniform
    spread = _is_spread(curve.product)
    unit, cls = curve.per_unit, curve.asset_class
    if unit == "gal":
        return u(-0.3, 0.3) if spread else u(1.8, 2.6)
    if unit == "bbl":
        return u(-15, 35) if spread else u(60, 95)
    if unit == "REC":
        return u(2, 60)
    if unit == "RIN":
        return u(0.8, 1.3)
    if unit == "MMBtu":
        return u(8, 13)
    if unit == "t":
        if cls in ("emissions", "environmental"):
            return u(20, 70)
        if spread:
            return u(-60, 60)
        return u(900, 2400) if cls == "biofuels" else u(350, 800)
    return u(-20, 20) if spread else u(20, 100)  # units unknown


def _walk(seed: int, vendor: str, asof: date, count: int) -> np.ndarray:
    """Cumulative log-shocks over business days from an epoch: today's level relative to it."""
    low, high, sign = (_WALK_EPOCH, asof, 1.0) if asof >= _WALK_EPOCH else (asof, _WALK_EPOCH, -1.0)
    total = np.zeros(count)
    day = low
    while day < high:
        if day.weekday() < 5:
            shocks = _rng(seed, vendor, "walk", day.toordinal()).standard_normal(count + 1)
            total += (shocks[0] + shocks[1:]) * math.sqrt(0.5)  # common + own shock
        day += timedelta(days=1)
    return np.exp(sign * _DAILY_VOL * total)


def _monthly_mids(
    curves: Sequence[_Curve], *, vendor: str, asof: date, months: Sequence[date], seed: int
) -> np.ndarray:
    """Monthly mids, one row per curve; spark spreads are derived after, from power and gas."""
    shapes = np.array([_shape(c, seed) for c in curves])
    level, winter, slope = shapes[:, 0:1], shapes[:, 1:2], shapes[:, 2:3]
    years = np.arange(len(months)) / 12.0
    month_of_year = np.array([m.month for m in months])
    cold = np.clip(np.cos(2 * np.pi * (month_of_year - 1) / 12), 0.0, None)  # Nov-Mar > 0
    term = np.clip(1.0 + slope * years, 0.4, None)
    noise = _rng(seed, vendor, "day", asof.toordinal()).standard_normal((len(curves), len(months)))
    walk = _walk(seed, vendor, asof, len(curves))[:, None]
    mids: np.ndarray = level * walk * term * (1.0 + winter * cold) * (1.0 + _TENOR_NOISE * noise)
    if vendor == "EUGP":
        _derive_sparks(curves, mids)
    return np.round(mids, 2) if vendor == "PW" else mids  # PW quotes cents (spec §8 spot check)


def _derive_sparks(curves: Sequence[_Curve], mids: np.ndarray) -> None:
    """spark = power - 2.0 x gas (UK: - 0.6945 x NBP), as verified on the real files (§2.3)."""
    power = {
        (c.region, c.location, c.block.upper()): i
        for i, c in enumerate(curves)
        if c.family == "forward" and c.asset_class == "power"
    }
    gas = {c.location: i for i, c in enumerate(curves) if c.family == "forward" and c.block == "NA"}
    for i, c in enumerate(curves):
        if c.family == "spark_spread":
            factor = _SPARK_NBP if c.spark_location.upper() == "NBP" else _SPARK_HEAT_RATE
            underlying = power[(c.region, c.location, c.block.upper())]
            mids[i] = mids[underlying] - factor * mids[gas[c.spark_location]]


# ---------------------------------------------------------------------------------------- columns


def _bidask(mid: float, half: float, *, layout: _Layout, odd: int | None) -> str:
    """``"<bid><sep><ask>"`` with bid/ask rounded to the layout's decimals, so that
    |mid - (bid + ask) / 2| <= 0.5 * 10**-decimals and bid < ask (``half`` > 10**-decimals)."""
    d = layout.decimals
    bid, ask = f"{round(mid - half, d):.{d}f}", f"{round(mid + half, d):.{d}f}"
    if odd is None:
        return f"{bid}{layout.bidask_sep}{ask}"
    return _ODD_BIDASK[odd % len(_ODD_BIDASK)].format(b=bid, a=ask)


def _identity(curve: _Curve, vendor: str) -> tuple[str, ...]:
    if vendor == "EUGP":
        spark = (curve.spark_location,) if curve.family == "spark_spread" else ()
        return (curve.region, curve.location, curve.block, *spark)
    if vendor == "RP":
        return (curve.region, curve.location, _RP_AS_WRITTEN.get(curve.product, curve.product))
    units = "$/MWh" if curve.iso in ("ERCOT", "CAISO") else f"{curve.currency}/{curve.per_unit}"
    return (curve.iso, curve.market, curve.block, curve.location, curve.product,
            curve.spark_location, units)  # fmt: skip


def _columns(
    curves: Sequence[_Curve],
    mids: np.ndarray,
    *,
    vendor: str,
    strips: Sequence[_Strip],
    odd: bool,
) -> list[_Column]:
    layout = _LAYOUTS[vendor]
    unit = 10.0**-layout.decimals
    years = np.arange(mids.shape[1]) / 12.0
    out = []
    for i, (curve, row) in enumerate(zip(curves, mids, strict=True)):
        monthly = [float(x) for x in row]
        scale = abs(float(np.median(row))) or 1.0
        halves = 1.5 * unit + scale * (0.002 + 0.0005 * years)
        strip_mids: list[object] = []
        strip_bidask = []
        for k, s in enumerate(strips):
            if not s.label:
                strip_mids.append("")
                strip_bidask.append("")
                continue
            value = round(math.fsum(monthly[m] for m in s.months) / len(s.months), layout.decimals)
            strip_mids.append(value)
            half = float(halves[s.months[-1]])
            strip_bidask.append(_bidask(value, half, layout=layout, odd=i + k if odd else None))
        out.append(
            _Column(
                identity=_identity(curve, vendor),
                monthly=tuple(monthly),
                strips=tuple(strip_mids),
                monthly_bidask=tuple(
                    _bidask(m, float(h), layout=layout, odd=i + k if odd else None)
                    for k, (m, h) in enumerate(zip(monthly, halves, strict=True))
                ),
                strips_bidask=tuple(strip_bidask),
                region_sheets=curve.region_sheets,
            )
        )
    return out


def _number(value: object) -> float:
    if not isinstance(value, float):
        raise AssertionError(f"two faults hit the same cell: {value!r}")  # a fault-placement bug
    return value


def _set(values: tuple[_T, ...], index: int, value: _T) -> tuple[_T, ...]:
    return (*values[:index], value, *values[index + 1 :])


def _apply_column_faults(columns: list[_Column], faults: frozenset[str]) -> list[_Column]:
    """Cell faults first (on distinct curves), then the adjacent duplicate columns."""
    cols = list(columns)
    if "text_price" in faults:
        c, m = _TEXT_AT
        cols[c] = replace(cols[c], monthly=_set(cols[c].monthly, m, "n/a"))
    if "error_cell" in faults:
        c, m = _ERROR_AT
        cols[c] = replace(cols[c], monthly=_set(cols[c].monthly, m, _ExcelError("#N/A")))
    if "bid_gt_ask" in faults:
        c, m = _SWAP_AT
        swapped = _SWAP.sub(r"\1\4\3\2\5", cols[c].monthly_bidask[m])
        cols[c] = replace(cols[c], monthly_bidask=_set(cols[c].monthly_bidask, m, swapped))
    inserts: list[tuple[int, _Column]] = []
    if "duplicate_identical" in faults:
        inserts.append((_DUPLICATE_CURVE, cols[_DUPLICATE_CURVE]))
    if "duplicate_conflict" in faults:
        source = cols[_CONFLICT_CURVE]
        bumped = _number(source.monthly[_CONFLICT_MONTH]) + 1.0
        copy = replace(source, monthly=_set(source.monthly, _CONFLICT_MONTH, bumped))
        inserts.append((_CONFLICT_CURVE, copy))
    for index, copy in sorted(inserts, key=lambda t: t[0], reverse=True):
        cols.insert(index + 1, copy)
    return cols


def _with_rp_duplicate(columns: list[_Column]) -> list[_Column]:
    """The vendor's own duplicate: the Singapore column twice, adjacent, identical (§3.1)."""
    out = []
    for col in columns:
        out.append(col)
        if col.identity == _RP_DUPLICATED:
            out.append(col)
    return out


# ----------------------------------------------------------------------------------------- sheets


def _grid(
    *,
    layout: _Layout,
    date_cells: tuple[object, object],
    identities: Sequence[Sequence[str]],
    labels: Sequence[str],
    header: str,
    tenors: Sequence[object],
    values: Sequence[Sequence[object]],
    row5: Sequence[str] = (),
) -> _Grid:
    """One EOD grid (§1.1): rows 1-4 empty, row 5 date, labels from row 6, header, data."""
    width = 2 + len(values)
    rows: _Grid = [[None] * width for _ in range(layout.data_row - 1 + len(tenors))]
    rows[4][0], rows[4][1] = date_cells
    rows[4][2 : 2 + len(row5)] = row5
    for r, label in enumerate(labels):
        rows[5 + r][1] = label or None
        rows[5 + r][2:] = [ident[r] or None for ident in identities]
    rows[layout.header_row - 1][2:] = [header] * len(values)
    for t, tenor in enumerate(tenors):
        row = rows[layout.data_row - 1 + t]
        row[1] = tenor or None
        row[2:] = [col[t] for col in values]
    return rows


def _build(
    curves: Sequence[_Curve], *, vendor: str, asof: date, seed: int, faults: frozenset[str]
) -> list[tuple[str, _Grid]]:
    layout = _LAYOUTS[vendor]
    months = _months(asof, layout.months)
    strips = _strips(vendor, asof, months)
    mids = _monthly_mids(curves, vendor=vendor, asof=asof, months=months, seed=seed)
    odd = "bidask_odd_spacing" in faults
    main = [i for i, c in enumerate(curves) if c.family == "forward"]
    columns = _columns([curves[i] for i in main], mids[main], vendor=vendor, strips=strips, odd=odd)
    columns = _apply_column_faults(columns, faults)
    if vendor == "RP":
        columns = _with_rp_duplicate(columns)

    strip_labels = [s.label for s in strips]
    if "custom_tenor" in faults:
        target = "Q2" if vendor == "PW" else "Summer"
        k = [i for i, label in enumerate(strip_labels) if label.startswith(target)][
            0 if vendor == "PW" else 1
        ]
        strip_labels[k] = "Spring " + strip_labels[k].split()[-1]

    if "missing_date" in faults:
        date_cells: tuple[object, object] = (None, None)
    elif "date_not_date" in faults:
        date_cells = ("Date:", "tomorrow")
    elif "date_mismatch" in faults:
        date_cells = ("Date:", asof + timedelta(days=1))
    else:
        date_cells = ("Date:", asof)

    def grid(identities: Sequence[Sequence[str]], labels: Sequence[str], header: str,
             tenors: Sequence[object], values: Sequence[Sequence[object]],
             row5: Sequence[str] = ()) -> _Grid:  # fmt: skip
        return _grid(layout=layout, date_cells=date_cells, identities=identities, labels=labels,
                     header=header, tenors=tenors, values=values, row5=row5)  # fmt: skip

    ids = [c.identity for c in columns]
    mid, ba = layout.mid_header, layout.bidask_header
    sheets: dict[str, _Grid] = {
        "Fixed Prices - Mid": grid(ids, layout.labels, mid, months, [c.monthly for c in columns]),
        f"{layout.strip_sheet} - Mid": grid(
            ids, layout.labels, mid, strip_labels, [c.strips for c in columns]
        ),
        "Fixed Prices - BidAsk": grid(
            ids, layout.labels, ba, months, [c.monthly_bidask for c in columns]
        ),
        f"{layout.strip_sheet} - BidAsk": grid(
            ids, layout.labels, ba, strip_labels, [c.strips_bidask for c in columns]
        ),
    }
    if vendor == "EUGP":
        spark = [i for i, c in enumerate(curves) if c.family == "spark_spread"]
        spark_ids = [_identity(curves[i], vendor) for i in spark]
        sheets["Spark Spread"] = grid(
            spark_ids, (*layout.labels, "Spark Location"), mid, months,
            [[float(x) for x in mids[i]] for i in spark],
            row5=[">".join(ident[:3]) for ident in spark_ids],
        )  # fmt: skip
    if vendor == "RP":
        for code, name in _RP_REGION_SHEETS:
            members = [c for c in columns if code in c.region_sheets]
            values = [list(c.monthly) for c in members]
            if name == "Europe" and "region_copy_mismatch" in faults:
                m = _REGION_MISMATCH_MONTH
                values[0][m] = _number(values[0][m]) + 0.5
            region_ids = [("", *c.identity[1:]) for c in members]
            sheets[name] = grid(region_ids, layout.labels, mid, months, values)

    if "missing_bidask" in faults:
        sheets = {k: v for k, v in sheets.items() if not k.endswith(" - BidAsk")}
    if "missing_mid" in faults:
        del sheets["Fixed Prices - Mid"]
    ordered = [(name, sheets[name]) for name in layout.sheet_order if name in sheets]
    if "extra_sheet" in faults:
        ordered.append(("Notes", _notes(asof, len(columns))))
    return ordered


def _notes(asof: date, curves: int) -> _Grid:
    return [
        ["Notes", None],
        ["Prepared", asof],
        ["Curves", curves],
        ["Comment", "Indicative prices, not for settlement"],
        ["Spread widths", 0.25, 0.5, 1.0],
    ]


# ----------------------------------------------------------------------------------------- saving


def _save(sheets: Sequence[tuple[str, _Grid]], path: Path) -> None:
    book = Workbook(write_only=True)
    for name, rows in sheets:
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append([_cell(sheet, v) for v in row] if _special(row) else row)
    book.save(path)


def _special(row: list[object]) -> bool:
    return any(isinstance(v, date | _ExcelError) for v in row)


def _cell(sheet: WriteOnlyWorksheet, value: object) -> object:
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "mm-dd-yy"
        return cell
    if isinstance(value, _ExcelError):
        cell = WriteOnlyCell(sheet, value=value.text)
        cell.data_type = "e"
        return cell
    return value
