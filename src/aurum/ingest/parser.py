"""One generic, label-driven parser for every vendor layout.

Input: a :class:`~aurum.ingest.grid.Workbook` and a :class:`~aurum.ingest.layouts.Layout`.
Output: *candidate* canonical rows (one per curve × tenor, Mid joined with its BidAsk twin by
curve key and tenor label) with a parse issue where a cell could not be taken as a price, plus
the accounting the conservation report needs. Nothing here decides what is published: the rules
do. Nothing here is dropped either: every non-blank price cell ends up carried by exactly one
candidate row, or counted as a verified copy.

How a sheet is read (format spec §1.1, §8, §9.1): identity rows are found by their labels in
columns A/B of the first rows; curve columns are the columns from C whose anchor cell (Product) is
not blank; the price-type header (``Mid`` / ``Bid / Ask``) marks where data starts; tenor rows are
the rows below it whose column B is not blank. No row or column position is assumed.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum.domain.identity import curve_key, normalise
from aurum.domain.layout import KEY_DIGITS
from aurum.domain.prices import parse_bidask
from aurum.domain.tenors import Tenor, TenorType, classify_tenor
from aurum.domain.units import parse_units
from aurum.errors import AsOfError, LayoutError
from aurum.ingest.grid import Cell, ExcelError, Sheet, Workbook
from aurum.ingest.layouts import Layout, SheetSpec, file_name_date, squash
from aurum.ingest.reference import load_reference

__all__ = [
    "CurveInfo",
    "Fingerprint",
    "Issue",
    "Notice",
    "ParsedWorkbook",
    "Status",
    "parse_grids",
    "resolve_asof",
]

_BIDASK_RE2 = r"^\s*(?P<bid>-?\d+(?:\.\d+)?)\s*/\s*(?P<ask>-?\d+(?:\.\d+)?)\s*$"
_EXCEL_EPOCH = date(1899, 12, 30)
_DATE_FORMATS = ("%m-%d-%y", "%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d", "%d.%m.%Y")

# A workbook's layout: per sheet, its curves as (column index, curve key's first hex digits).
Fingerprint = dict[str, list[tuple[int, str]]]


class Status(IntEnum):
    """What a price cell held."""

    BLANK = 0
    OK = 1
    TEXT = 2
    ERROR = 3
    OTHER = 4  # a boolean or a date where a price belongs


class Issue(IntEnum):
    """Why a candidate row cannot be published as it stands (0: no parse issue)."""

    NONE = 0
    DUPLICATE_IDENTITY_CONFLICT = 1
    MID_NOT_NUMERIC = 2
    MID_ERROR_CELL = 3
    MID_MISSING = 4
    BIDASK_UNPARSEABLE = 5
    BIDASK_ERROR_CELL = 6
    BIDASK_WITHOUT_MID = 7
    TENOR_MISSING = 8
    IDENTITY_MISSING = 9
    COPY_MISMATCH = 10

    @property
    def reason(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Notice:
    """A warning about a file: it never stops a row, but it is reported and recorded."""

    code: str
    message: str
    count: int = 1
    sheet: str | None = None


@dataclass(frozen=True)
class CurveInfo:
    """One curve's canonical identity, units and key."""

    asset_class: str | None
    iso: str | None
    region: str | None
    location: str | None
    market: str | None
    product: str | None
    block: str | None
    spark_location: str | None
    units_raw: str | None
    currency: str | None
    per_unit: str | None
    units_source: str | None
    reference: str | None  # "curves", "rules" or None
    curve_key: str
    incomplete: bool  # a required identity cell was blank


@dataclass
class _Located:
    spec: SheetSpec
    sheet: Sheet
    columns: list[int]
    identities: list[dict[str, str | None]]
    tenor_rows: list[int]
    tenors: list[Tenor]
    stray: list[tuple[int, int, Issue]]
    values: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    bid: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    ask: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    status: np.ndarray = field(default_factory=lambda: np.empty((0, 0), np.uint8))
    keys: list[str] = field(default_factory=list)
    curve_ids: list[int] = field(default_factory=list)
    copies: int = 0
    price_cells: int = 0
    conflicts: set[str] = field(default_factory=set)


@dataclass
class _Segment:
    """Candidate rows from one sheet group, column-wise; ``curve``/``tenor`` index the tables."""

    sheet_name: str
    bidask_sheet: str | None
    curve: np.ndarray
    tenor: np.ndarray
    mid: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    issue: np.ndarray
    cells: np.ndarray
    mid_pos: np.ndarray  # (n, 2) row, col of the mid cell; -1 when none
    bidask_pos: np.ndarray


@dataclass
class ParsedWorkbook:
    vendor: str
    asof: date
    curves: list[CurveInfo]
    tenors: list[Tenor]
    segments: list[_Segment]
    price_cells: int
    copy_cells: int
    notices: list[Notice]
    sheets: dict[str, Sheet]
    layout: Fingerprint = field(default_factory=dict)


# --------------------------------------------------------------------------------------- as-of


def _label(value: Cell) -> str:
    return normalise(value).rstrip(":").strip() if isinstance(value, str) else ""


def _blank(value: Cell) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_date(value: Cell) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and 1 <= value < 2958466:
            return _EXCEL_EPOCH + timedelta(days=int(value))
        return None
    if isinstance(value, str):
        text = value.strip()
        for fmt in _DATE_FORMATS:
            try:
                return datetime.strptime(text, fmt).date()
            except ValueError:
                continue
    return None


def resolve_asof(
    sheets: Sequence[Sheet], layout: Layout, file_name: str, given: date | None
) -> date:
    """The as-of date: the ``Date:`` cell, cross-checked with the file name and ``given``."""
    found: dict[str, date] = {}
    for sheet in sheets:
        for row in range(min(layout.label_rows, sheet.n_rows)):
            for col in (0, 1):
                if _label(sheet.cell(row, col)) != "date":
                    continue
                raw = sheet.cell(row, col + 1)
                parsed = _as_date(raw)
                if parsed is None:
                    raise AsOfError(
                        "asof_invalid",
                        f"sheet {sheet.name!r}: the Date: cell holds {raw!r}, not a date",
                        sheet=sheet.name,
                        value=str(raw),
                    )
                found.setdefault(sheet.name, parsed)
    dates = set(found.values())
    if len(dates) > 1:
        raise AsOfError(
            "asof_inconsistent",
            "sheets disagree on the as-of date: "
            + ", ".join(f"{s}={d}" for s, d in sorted(found.items())),
        )
    from_name = file_name_date(layout, file_name)
    if not dates:
        if layout.asof == "required":
            raise AsOfError("asof_missing", "no 'Date:' cell with the as-of date on any sheet")
        fallback = given or from_name
        if fallback is None:
            raise AsOfError(
                "asof_missing",
                "the workbook carries no as-of date and none was given (pass --asof)",
            )
        if given and from_name and given != from_name:
            raise AsOfError("asof_mismatch", f"given as-of {given} but file name says {from_name}")
        return fallback
    (asof,) = dates
    if from_name is not None and from_name != asof:
        raise AsOfError(
            "asof_mismatch",
            f"the Date: cell says {asof} but the file name says {from_name}",
            cell_date=asof.isoformat(),
            file_name_date=from_name.isoformat(),
        )
    if given is not None and given != asof:
        raise AsOfError("asof_mismatch", f"given as-of {given} but the Date: cell says {asof}")
    return asof


# ------------------------------------------------------------------------------------ locating


def _locate(sheet: Sheet, spec: SheetSpec, layout: Layout, asof: date) -> _Located:
    labels: dict[str, int] = {}
    for row in range(min(layout.label_rows, sheet.n_rows)):
        for col in (0, 1):
            key = _label(sheet.cell(row, col))
            if key:
                labels.setdefault(key, row)
    label_rows = set(labels.values())

    field_rows: dict[str, int] = {}
    for name, fspec in layout.identity.items():
        if fspec.label is not None:
            row = labels.get(normalise(fspec.label))
            if row is not None:
                field_rows[name] = row
    anchor_row = field_rows.get(layout.anchor)
    if anchor_row is None:
        anchor_label = layout.identity[layout.anchor].label
        raise LayoutError(
            "labels_missing",
            f"sheet {sheet.name!r} has no {anchor_label!r} label row in its first "
            f"{layout.label_rows} rows",
            sheet=sheet.name,
        )
    anchor_values = sheet.rows[anchor_row]
    columns = [c for c in range(2, len(anchor_values)) if not _blank(anchor_values[c])]
    if not columns:
        raise LayoutError(
            "no_curves", f"sheet {sheet.name!r} has no curve columns", sheet=sheet.name
        )

    for name, fspec in layout.identity.items():
        if fspec.above is not None:
            below = labels.get(normalise(fspec.above))
            row = below - 1 if below is not None else -1
            unlabelled = row >= 0 and row not in label_rows
            if unlabelled and any(not _blank(sheet.cell(row, c)) for c in columns):
                field_rows[name] = row

    last_label = max(field_rows.values())
    data_start = _data_start(sheet, spec, layout, columns, last_label)

    identities = _identities(sheet, layout, columns, field_rows)
    tenor_rows: list[int] = []
    stray: list[tuple[int, int, Issue]] = []
    column_set = set(columns)
    width = sheet.n_cols
    loose = [c for c in range(2, width) if c not in column_set]
    for row in range(data_start, sheet.n_rows):
        values = sheet.rows[row]
        if _blank(values[1] if len(values) > 1 else ""):
            stray.extend(
                (row, c, Issue.TENOR_MISSING)
                for c in range(2, len(values))
                if not _blank(values[c])
            )
            continue
        tenor_rows.append(row)
        if loose:
            stray.extend(
                (row, c, Issue.IDENTITY_MISSING)
                for c in loose
                if c < len(values) and not _blank(values[c])
            )
    tenors = [_tenor(sheet.rows[r][1], asof) for r in tenor_rows]
    return _Located(spec, sheet, columns, identities, tenor_rows, tenors, stray)


def _header_kind(value: Cell, layout: Layout) -> str | None:
    return layout.header_kinds.get(squash(value)) if isinstance(value, str) else None


def _data_start(
    sheet: Sheet, spec: SheetSpec, layout: Layout, columns: list[int], last_label: int
) -> int:
    expected = "bidask" if spec.price == "bidask" else "mid"
    for row in range(last_label + 1, min(sheet.n_rows, last_label + 5)):
        kind = _header_kind(sheet.cell(row, columns[0]), layout)
        if kind is None:
            continue
        odd = [c for c in columns if _header_kind(sheet.cell(row, c), layout) != kind]
        if kind != expected or odd:
            raise LayoutError(
                "header_mismatch",
                f"sheet {sheet.name!r} row {row + 1}: expected a {expected!r} price-type header "
                f"over every curve column, found {sheet.cell(row, columns[0])!r}"
                + (f" and {len(odd)} column(s) that differ" if odd else ""),
                sheet=sheet.name,
            )
        return row + 1
    if layout.header == "required":
        raise LayoutError(
            "header_missing",
            f"sheet {sheet.name!r} has no price-type header row (Mid / Bid / Ask) "
            f"below its label rows",
            sheet=sheet.name,
        )
    return last_label + 1


def _identities(
    sheet: Sheet, layout: Layout, columns: list[int], field_rows: dict[str, int]
) -> list[dict[str, str | None]]:
    result: list[dict[str, str | None]] = [{} for _ in columns]
    for name, fspec in layout.identity.items():
        row = field_rows.get(name)
        cells = sheet.rows[row] if row is not None else []
        values: list[str | None] = []
        for col in columns:
            raw = cells[col] if col < len(cells) else ""
            text = " ".join(str(raw).split()) if raw is not None else ""
            text_or_none = text or None
            values.append(text_or_none.upper() if text_or_none and fspec.upper else text_or_none)
        if name in layout.fill_sparse and any(values) and not all(values):
            for i in range(1, len(values)):
                values[i] = values[i] or values[i - 1]
        for ident, value in zip(result, values, strict=True):
            ident[name] = value
    return result


# ------------------------------------------------------------------------------------- values


def _block(located: _Located) -> list[list[Cell]]:
    cols = located.columns
    rows = located.sheet.rows
    first, last = cols[0], cols[-1] + 1
    if last - first == len(cols):
        out = [rows[r][first:last] for r in located.tenor_rows]
    else:
        out = [[rows[r][c] if c < len(rows[r]) else "" for c in cols] for r in located.tenor_rows]
    width = len(cols)
    return [row if len(row) == width else [*row, *[""] * (width - len(row))] for row in out]


def _cell_status(value: Cell) -> Status:
    if isinstance(value, ExcelError):
        return Status.ERROR
    if isinstance(value, str):
        return Status.BLANK if not value.strip() else Status.TEXT
    if isinstance(value, bool) or not isinstance(value, int | float):
        return Status.OTHER
    return Status.OK


def _read_mids(located: _Located) -> None:
    block = _block(located)
    shape = (len(located.tenor_rows), len(located.columns))
    kinds = set(map(type, itertools.chain.from_iterable(block)))
    if kinds <= {float, int}:
        located.values = np.array(block, dtype=np.float64).reshape(shape)
        located.status = np.full(shape, Status.OK, np.uint8)
        return
    values = np.full(shape, np.nan)
    status = np.zeros(shape, np.uint8)
    for i, row in enumerate(block):
        for j, value in enumerate(row):
            state = _cell_status(value)
            status[i, j] = state
            if state is Status.OK:
                values[i, j] = float(value)  # type: ignore[arg-type]
    located.values, located.status = values, status


def _read_bidasks(located: _Located) -> None:
    block = _block(located)
    shape = (len(located.tenor_rows), len(located.columns))
    flat = list(itertools.chain.from_iterable(block))
    if set(map(type, flat)) <= {str}:
        strings = pa.array(flat, pa.string())
        parts = pc.extract_regex(strings, _BIDASK_RE2)
        valid = parts.is_valid()
        # A non-matching string gives a null struct whose children hold '': mask before casting.
        bid, ask = (
            pc.cast(pc.if_else(valid, parts.field(name), None), pa.float64()).to_numpy(
                zero_copy_only=False
            )
            for name in ("bid", "ask")
        )
        matched = valid.to_numpy(zero_copy_only=False)
        empty = pc.equal(pc.utf8_trim_whitespace(strings), "").to_numpy(zero_copy_only=False)
        status = np.where(matched, Status.OK, np.where(empty, Status.BLANK, Status.TEXT))
    else:
        bid = np.full(len(flat), np.nan)
        ask = np.full(len(flat), np.nan)
        status = np.zeros(len(flat), np.uint8)
        for i, value in enumerate(flat):
            state = _cell_status(value)
            if state is Status.TEXT:
                pair = parse_bidask(value)  # type: ignore[arg-type]
                if pair is not None:
                    state = Status.OK
                    bid[i], ask[i] = pair
            elif state is Status.OK:
                state = Status.TEXT  # a bare number is not a bid/ask pair
            status[i] = state
    located.bid = np.asarray(bid, np.float64).reshape(shape)
    located.ask = np.asarray(ask, np.float64).reshape(shape)
    located.status = np.asarray(status, np.uint8).reshape(shape)


def _columns_equal(located: _Located, i: int, j: int) -> bool:
    if not np.array_equal(located.status[:, i], located.status[:, j]):
        return False
    if located.spec.price == "bidask":
        return np.array_equal(located.bid[:, i], located.bid[:, j], equal_nan=True) and (
            np.array_equal(located.ask[:, i], located.ask[:, j], equal_nan=True)
        )
    return np.array_equal(located.values[:, i], located.values[:, j], equal_nan=True)


def _collapse_duplicates(located: _Located) -> list[Notice]:
    """Keep one of identical duplicate columns; flag every copy of conflicting ones."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(located.keys):
        groups[key].append(index)
    drop: list[int] = []
    notices = []
    for key, members in groups.items():
        if len(members) < 2:
            continue
        first, *others = members
        if all(_columns_equal(located, first, other) for other in others):
            drop.extend(others)
            located.copies += int(np.count_nonzero(located.status[:, others]))
        else:
            located.conflicts.add(key)
            notices.append(
                Notice(
                    "duplicate_identity_conflict",
                    f"{len(members)} columns share the identity of curve {key[:12]} "
                    "but hold different values: all copies quarantined",
                    sheet=located.sheet.name,
                )
            )
    if drop:
        dropped = set(drop)
        keep = [i for i in range(len(located.columns)) if i not in dropped]
        located.columns = [located.columns[i] for i in keep]
        located.identities = [located.identities[i] for i in keep]
        located.keys = [located.keys[i] for i in keep]
        located.curve_ids = [located.curve_ids[i] for i in keep]
        for name in ("values", "bid", "ask", "status"):
            array = getattr(located, name)
            if array.size:
                setattr(located, name, array[:, keep])
    return notices


# ----------------------------------------------------------------------------------- identity


class _Curves:
    """The curves met in one workbook, each identity resolved once (see :func:`_curve_info`)."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.infos: list[CurveInfo] = []
        self._index: dict[CurveInfo, int] = {}

    def resolve(self, family: str, raw: dict[str, str | None], *, partial: bool = False) -> int:
        """Index of the curve with this identity as read; ``partial`` identities (view sheets
        without a region row) skip the reference data: they only label quarantine rows."""
        layout = self.layout
        info = _curve_info(
            layout.vendor,
            family,
            tuple(raw.items()),
            layout.null_values.get("block", ()),
            layout.required,
            layout.units_in_identity,
            partial,
        )
        found = self._index.get(info)
        if found is None:
            found = self._index[info] = len(self.infos)
            self.infos.append(info)
        return found


@lru_cache(maxsize=16_384)
def _curve_info(
    vendor: str,
    family: str,
    items: tuple[tuple[str, str | None], ...],
    null_blocks: tuple[str, ...],
    required: tuple[str, ...],
    units_in_identity: bool,
    partial: bool,
) -> CurveInfo:
    """A curve's canonical identity from its identity as read. Cached for the process: a vendor
    sends the same identities every day and the reference data do not change while it runs."""
    raw = dict(items)
    entry = None
    if not partial:
        entry = load_reference().lookup({"vendor": vendor, "family": family, **raw})
    block = raw.get("block")
    if block is not None and block in null_blocks:
        block = None
    product = (entry.canonical_product if entry else None) or raw.get("product")
    units_raw = raw.get("units")
    parsed = parse_units(units_raw)
    if units_raw is not None:
        currency, per_unit = parsed if parsed else (None, None)
        source: str | None = "workbook"
    elif entry is not None and entry.currency:
        currency, per_unit, source = entry.currency, entry.per_unit, "reference"
    else:
        currency = per_unit = source = None
    discriminator = None
    if units_in_identity and units_raw is not None:
        discriminator = f"{parsed[0]}/{parsed[1]}" if parsed else units_raw
    asset_class = entry.asset_class if entry else None
    identity = [
        asset_class, raw.get("iso"), raw.get("region"), raw.get("location"),
        raw.get("market"), product, block, raw.get("spark_location"),
    ]  # fmt: skip
    return CurveInfo(
        asset_class=asset_class,
        iso=raw.get("iso"),
        region=raw.get("region"),
        location=raw.get("location"),
        market=raw.get("market"),
        product=product,
        block=block,
        spark_location=raw.get("spark_location"),
        units_raw=units_raw,
        currency=currency,
        per_unit=per_unit,
        units_source=source,
        reference=entry.source if entry else None,
        curve_key=curve_key(identity, discriminator),
        incomplete=any(raw.get(name) is None for name in required),
    )


# Tenor labels repeat on every sheet of a workbook; classification is pure, so memoise it.
_tenor = lru_cache(maxsize=8_192)(classify_tenor)


# ----------------------------------------------------------------------------------- segments


class _Tenors:
    def __init__(self) -> None:
        self.items: list[Tenor] = []
        self._index: dict[Tenor, int] = {}

    def ids(self, tenors: Sequence[Tenor]) -> np.ndarray:
        out = np.empty(len(tenors), np.int64)
        for i, tenor in enumerate(tenors):
            index = self._index.get(tenor)
            if index is None:
                index = self._index[tenor] = len(self.items)
                self.items.append(tenor)
            out[i] = index
        return out


def _positions(located: _Located, t_idx: np.ndarray, c_idx: np.ndarray) -> np.ndarray:
    rows = np.asarray(located.tenor_rows, np.int64)[t_idx]
    cols = np.asarray(located.columns, np.int64)[c_idx]
    return np.stack([rows, cols], axis=1)


def _no_pos(n: int) -> np.ndarray:
    return np.full((n, 2), -1, np.int64)


def _mid_issue(status: np.ndarray) -> np.ndarray:
    issue = np.zeros(status.shape, np.int64)
    issue[(status == Status.TEXT) | (status == Status.OTHER)] = Issue.MID_NOT_NUMERIC
    issue[status == Status.ERROR] = Issue.MID_ERROR_CELL
    return issue


def _bidask_issue(status: np.ndarray) -> np.ndarray:
    issue = np.zeros(status.shape, np.int64)
    issue[(status == Status.TEXT) | (status == Status.OTHER)] = Issue.BIDASK_UNPARSEABLE
    issue[status == Status.ERROR] = Issue.BIDASK_ERROR_CELL
    return issue


def _join(mid: _Located, twin: _Located | None, tenors: _Tenors) -> list[_Segment]:
    """Rows of a Mid sheet, with bid/ask from its twin by (curve key, tenor label)."""
    n_t, n_c = mid.status.shape
    t_idx, c_idx = np.divmod(np.arange(n_t * n_c), n_c)  # row-major over the block
    bid = np.full(n_t * n_c, np.nan)
    ask = np.full(n_t * n_c, np.nan)
    b_status = np.zeros(n_t * n_c, np.uint8)
    b_pos = _no_pos(n_t * n_c)
    segments: list[_Segment] = []
    conflicts = mid.conflicts | (twin.conflicts if twin else set())
    if twin is not None:
        twin_col = {k: j for j, k in enumerate(twin.keys) if k not in conflicts}
        twin_row = {}
        for s, tenor in enumerate(twin.tenors):
            twin_row.setdefault(tenor.label, s)
        cols = np.array([twin_col.get(k, -1) for k in mid.keys], np.int64)[c_idx]
        rows = np.array([twin_row.get(t.label, -1) for t in mid.tenors], np.int64)[t_idx]
        hit = (cols >= 0) & (rows >= 0)
        # One-to-one: a tenor or curve repeated on the Mid side gets the twin's cell only once
        # (the duplicate_key rule then quarantines the repeats); a cell is never counted twice.
        cell = np.where(hit, rows * twin.status.shape[1] + cols, -1)
        first = np.zeros(len(cell), bool)
        first[np.unique(cell, return_index=True)[1]] = True
        hit &= first
        bid[hit] = twin.bid[rows[hit], cols[hit]]
        ask[hit] = twin.ask[rows[hit], cols[hit]]
        b_status[hit] = twin.status[rows[hit], cols[hit]]
        b_pos[hit] = _positions(twin, rows[hit], cols[hit])
        used = np.zeros(twin.status.shape, bool)
        used[rows[hit], cols[hit]] = True
        left = (~used) & (twin.status != Status.BLANK)
        if left.any():
            segments.append(_orphans(twin, left, tenors, conflicts))
    m_status = mid.status.ravel()
    issue = _mid_issue(m_status)
    issue = np.where(issue == 0, _bidask_issue(b_status), issue)
    issue[(m_status == Status.BLANK) & (b_status != Status.BLANK)] = Issue.MID_MISSING
    conflicted = np.array([k in conflicts for k in mid.keys], bool)[c_idx]
    issue[conflicted] = Issue.DUPLICATE_IDENTITY_CONFLICT
    cells = (m_status != Status.BLANK).astype(np.int64) + (b_status != Status.BLANK)
    keep = cells > 0
    segments.insert(
        0,
        _Segment(
            sheet_name=mid.sheet.name,
            bidask_sheet=twin.sheet.name if twin else None,
            curve=np.asarray(mid.curve_ids, np.int64)[c_idx][keep],
            tenor=tenors.ids(mid.tenors)[t_idx][keep],
            mid=mid.values.ravel()[keep],
            bid=bid[keep],
            ask=ask[keep],
            issue=issue[keep],
            cells=cells[keep],
            mid_pos=_positions(mid, t_idx, c_idx)[keep],
            bidask_pos=b_pos[keep],
        ),
    )
    return segments


def _orphans(twin: _Located, mask: np.ndarray, tenors: _Tenors, conflicts: set[str]) -> _Segment:
    """BidAsk cells with no Mid partner: quarantined on their own, never lost."""
    t_idx, c_idx = np.nonzero(mask)
    conflicted = np.array([twin.keys[c] in conflicts for c in c_idx], bool)
    issue = np.where(conflicted, Issue.DUPLICATE_IDENTITY_CONFLICT, Issue.BIDASK_WITHOUT_MID)
    status = twin.status[t_idx, c_idx]
    bad = _bidask_issue(status)
    issue = np.where((bad != 0) & ~conflicted, bad, issue)
    return _Segment(
        sheet_name=twin.sheet.name,
        bidask_sheet=twin.sheet.name,
        curve=np.asarray(twin.curve_ids, np.int64)[c_idx],
        tenor=tenors.ids(twin.tenors)[t_idx],
        mid=np.full(len(t_idx), np.nan),
        bid=twin.bid[t_idx, c_idx],
        ask=twin.ask[t_idx, c_idx],
        issue=issue.astype(np.int64),
        cells=np.ones(len(t_idx), np.int64),
        mid_pos=_no_pos(len(t_idx)),
        bidask_pos=_positions(twin, t_idx, c_idx),
    )


def _bidask_only(twin: _Located, tenors: _Tenors) -> _Segment:
    """A BidAsk sheet whose Mid sheet is missing: mid = (bid + ask) / 2."""
    t_idx, c_idx = np.nonzero(twin.status != Status.BLANK)
    status = twin.status[t_idx, c_idx]
    bid, ask = twin.bid[t_idx, c_idx], twin.ask[t_idx, c_idx]
    issue = _bidask_issue(status)
    conflicted = np.array([twin.keys[c] in twin.conflicts for c in c_idx], bool)
    issue[conflicted] = Issue.DUPLICATE_IDENTITY_CONFLICT
    return _Segment(
        sheet_name=twin.sheet.name,
        bidask_sheet=twin.sheet.name,
        curve=np.asarray(twin.curve_ids, np.int64)[c_idx],
        tenor=tenors.ids(twin.tenors)[t_idx],
        mid=(bid + ask) / 2,
        bid=bid,
        ask=ask,
        issue=issue,
        cells=np.ones(len(t_idx), np.int64),
        mid_pos=_no_pos(len(t_idx)),
        bidask_pos=_positions(twin, t_idx, c_idx),
    )


def _verify_copies(
    copy: _Located, source: _Located | None, layout: Layout, tenors: _Tenors
) -> tuple[int, _Segment | None]:
    """Cells of a view sheet that equal their source cell are copies; the rest are quarantined."""
    fields = [
        name
        for name in layout.identity
        if any(ident.get(name) is not None for ident in copy.identities)
    ]

    def partial(ident: dict[str, str | None]) -> tuple[str, ...]:
        return tuple(normalise(ident.get(name)) for name in fields)

    present = copy.status != Status.BLANK
    verified = np.zeros(copy.status.shape, bool)
    if source is not None:
        candidates: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for j, ident in enumerate(source.identities):
            candidates[partial(ident)].append(j)
        source_row = {}
        for s, tenor in enumerate(source.tenors):
            source_row.setdefault(tenor.label, s)
        rows = np.array([source_row.get(t.label, -1) for t in copy.tenors], np.int64)
        found = rows >= 0
        matches = [candidates.get(partial(ident), []) for ident in copy.identities]
        copy_ok = copy.status[found] == Status.OK
        # Compare whole blocks, once per candidate rank (a duplicated source column gives two).
        for rank in range(max(map(len, matches), default=0)):
            cols = np.array([m[rank] if rank < len(m) else -1 for m in matches], np.int64)
            has = cols >= 0
            src = np.ix_(rows[found], cols[has])
            same = (
                copy_ok[:, has]
                & (source.status[src] == Status.OK)
                & (copy.values[found][:, has] == source.values[src])
            )
            block = verified[found]
            block[:, has] |= same
            verified[found] = block
    bad = present & ~verified
    if not bad.any():
        return int(np.count_nonzero(present)), None
    t_idx, c_idx = np.nonzero(bad)
    n = len(t_idx)
    segment = _Segment(
        sheet_name=copy.sheet.name,
        bidask_sheet=None,
        curve=np.asarray(copy.curve_ids, np.int64)[c_idx],
        tenor=tenors.ids(copy.tenors)[t_idx],
        mid=copy.values[t_idx, c_idx],
        bid=np.full(n, np.nan),
        ask=np.full(n, np.nan),
        issue=np.full(n, Issue.COPY_MISMATCH, np.int64),
        cells=np.ones(n, np.int64),
        mid_pos=_positions(copy, t_idx, c_idx),
        bidask_pos=_no_pos(n),
    )
    return int(np.count_nonzero(present & verified)), segment


def _strays(located: _Located, curves: _Curves, tenors: _Tenors, asof: date) -> _Segment | None:
    """Price cells with no tenor or no identity: quarantined with what is known of them."""
    if not located.stray:
        return None
    sheet = located.sheet
    col_of = {c: i for i, c in enumerate(located.columns)}
    unknown = curves.resolve(located.spec.family, {})
    curve_ids, tenor_list, mids, poses, issues = [], [], [], [], []
    for row, col, issue in located.stray:
        index = col_of.get(col)
        curve_ids.append(located.curve_ids[index] if index is not None else unknown)
        label = sheet.cell(row, 1)
        tenor_list.append(
            classify_tenor(label, asof)
            if not _blank(label)
            else Tenor(TenorType.CUSTOM, "", None, None)
        )
        value = sheet.cell(row, col)
        ok = _cell_status(value) is Status.OK and located.spec.price != "bidask"
        mids.append(float(value) if ok else math.nan)  # type: ignore[arg-type]
        poses.append((row, col))
        issues.append(issue)
    n = len(issues)
    pos = np.array(poses, np.int64).reshape(n, 2)
    is_bidask = located.spec.price == "bidask"
    return _Segment(
        sheet_name=sheet.name,
        bidask_sheet=sheet.name if is_bidask else None,
        curve=np.array(curve_ids, np.int64),
        tenor=tenors.ids(tenor_list),
        mid=np.array(mids, np.float64),
        bid=np.full(n, np.nan),
        ask=np.full(n, np.nan),
        issue=np.array(issues, np.int64),
        cells=np.ones(n, np.int64),
        mid_pos=_no_pos(n) if is_bidask else pos,
        bidask_pos=pos if is_bidask else _no_pos(n),
    )


# ------------------------------------------------------------------------------------- entry


def parse_grids(workbook: Workbook, layout: Layout, *, asof: date | None = None) -> ParsedWorkbook:
    """Locate, read, collapse, join and verify every sheet of ``workbook`` per ``layout``."""
    notices: list[Notice] = []
    known = [s for s in workbook.sheets if layout.sheet(s.name) is not None]
    for sheet in workbook.sheets:
        if layout.sheet(sheet.name) is None:
            cells = sum(1 for row in sheet.rows for v in row if not _blank(v))
            notices.append(
                Notice(
                    "unknown_sheet",
                    f"sheet {sheet.name!r} is not part of the {layout.vendor} layout: ignored "
                    f"({cells} non-empty cells)",
                    count=cells,
                    sheet=sheet.name,
                )
            )
    present = {s.name for s in known}
    _check_sheets(layout, present, notices)
    day = resolve_asof(known, layout, workbook.name, asof)

    curves = _Curves(layout)
    tenors = _Tenors()
    located: dict[str, _Located] = {}
    for sheet in known:
        spec = layout.sheet(sheet.name)
        assert spec is not None
        loc = _locate(sheet, spec, layout, day)
        if spec.price == "bidask":
            _read_bidasks(loc)
        else:
            _read_mids(loc)
        family = spec.family
        if spec.price == "copy" and spec.copy_of:
            source_spec = layout.sheet(spec.copy_of)
            family = source_spec.family if source_spec else family
        partial = spec.price == "copy"
        loc.curve_ids = [curves.resolve(family, i, partial=partial) for i in loc.identities]
        loc.keys = [curves.infos[i].curve_key for i in loc.curve_ids]
        loc.price_cells = int(np.count_nonzero(loc.status)) + len(loc.stray)
        if spec.price != "copy":
            notices.extend(_collapse_duplicates(loc))
        located[sheet.name] = loc
        custom = sum(1 for t in loc.tenors if t.tenor_type is TenorType.CUSTOM)
        if custom:
            notices.append(
                Notice("tenor_custom", f"{custom} unrecognised tenor label(s)", custom, sheet.name)
            )

    price_cells = sum(loc.price_cells for loc in located.values())
    copy_cells = sum(loc.copies for loc in located.values())
    segments: list[_Segment] = []
    for loc in located.values():
        spec = loc.spec
        if spec.price == "mid":
            twin = located.get(spec.twin) if spec.twin else None
            segments.extend(_join(loc, twin, tenors))
        elif spec.price == "bidask":
            mid_spec = layout.twin_of(spec.name)
            if mid_spec is None or mid_spec.name not in located:
                segments.append(_bidask_only(loc, tenors))
        else:
            source = located.get(spec.copy_of) if spec.copy_of else None
            verified, mismatched = _verify_copies(loc, source, layout, tenors)
            copy_cells += verified
            if mismatched is not None:
                segments.append(mismatched)
                notices.append(
                    Notice(
                        "copy_mismatch",
                        f"{len(mismatched.issue)} cell(s) differ from their source sheet",
                        len(mismatched.issue),
                        loc.sheet.name,
                    )
                )
        stray = _strays(loc, curves, tenors, day)
        if stray is not None:
            segments.append(stray)
    incomplete = np.array([info.incomplete for info in curves.infos], bool)
    for segment in segments:
        segment.issue[(segment.issue == Issue.NONE) & incomplete[segment.curve]] = (
            Issue.IDENTITY_MISSING
        )
    return ParsedWorkbook(
        vendor=layout.vendor,
        asof=day,
        curves=curves.infos,
        tenors=tenors.items,
        segments=segments,
        price_cells=price_cells,
        copy_cells=copy_cells,
        notices=notices,
        sheets={s.name: s for s in known},
        layout=_fingerprint(workbook, located),
    )


def _fingerprint(workbook: Workbook, located: dict[str, _Located]) -> Fingerprint:
    """The workbook's layout as the identity rows locate it, before any value is read: every
    sheet in the workbook's order (one the layout does not know, with no curves) and, per
    sheet, its curve columns in order, each as (0-based column, first :data:`KEY_DIGITS` hex
    digits of its curve key), a repeated curve once. Layout drift alerts compare it with the
    vendor's previous file's (:func:`aurum.domain.layout.drift`); taken from the identity rows,
    a curve left blank or quarantined for a day is still where it was."""
    found: Fingerprint = {}
    for sheet in workbook.sheets:
        loc = located.get(sheet.name)
        curves: dict[str, int] = {}
        if loc is not None:
            for column, key in zip(loc.columns, loc.keys, strict=True):
                curves.setdefault(key[:KEY_DIGITS], column)
        found[sheet.name] = [(column, key) for key, column in curves.items()]
    return found


def _check_sheets(layout: Layout, present: set[str], notices: list[Notice]) -> None:
    for spec in layout.sheets:
        if spec.price == "mid":
            twin = spec.twin
            if spec.name in present and twin and twin not in present:
                notices.append(
                    Notice("twin_missing", f"no {twin!r} sheet: rows carry mid only", sheet=twin)
                )
            if spec.name not in present:
                if twin and twin in present:
                    notices.append(
                        Notice(
                            "mid_sheet_missing",
                            f"no {spec.name!r} sheet: mid = (bid + ask) / 2 from {twin!r}",
                            sheet=spec.name,
                        )
                    )
                else:
                    raise LayoutError(
                        "sheet_missing",
                        f"the {layout.vendor} workbook has no {spec.name!r} sheet"
                        + (f" and no {twin!r} either" if twin else ""),
                        sheet=spec.name,
                        present=sorted(present),
                    )
        elif spec.price == "copy" and spec.name not in present:
            notices.append(Notice("view_sheet_missing", f"no {spec.name!r} sheet", sheet=spec.name))
