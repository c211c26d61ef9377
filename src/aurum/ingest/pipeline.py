"""Parse one workbook end to end: read, locate and join, rules; publish, quarantine or dead-letter.

Whatever happens, the caller gets a :class:`ParseResult` whose conservation report accounts for
every price cell, and never a traceback: a file that cannot be parsed yields one dead-letter
record and no rows at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from aurum.config import IngestSettings, Settings
from aurum.datasets.curves import CURVE_OBSERVATION, QUARANTINE_ROWS
from aurum.domain.identity import IDENTITY_FIELDS, looks_like_formula
from aurum.domain.quality import CheckOutcome
from aurum.domain.tenors import TenorType
from aurum.errors import IngestError
from aurum.ingest.grid import Workbook, column_letter, read_workbook
from aurum.ingest.layouts import Layout, detect_layout
from aurum.ingest.parser import Fingerprint, Issue, Notice, ParsedWorkbook, parse_grids
from aurum.ingest.rules import RuleReport, apply_rules, rule_view, rules_for

__all__ = [
    "Conservation", "DeadLetter", "ParseResult", "parse_grid", "parse_workbook",
]  # fmt: skip

log = logging.getLogger(__name__)

_CURVE_FIELDS = (
    "asset_class", "iso", "region", "location", "market", "product", "block", "spark_location",
    "units_raw", "currency", "per_unit", "units_source", "curve_key",
)  # fmt: skip
_TENOR_TYPES = [t.value for t in TenorType]
# Curve text a person reads in a spreadsheet (checked by the identity_formula_like rule).
_TEXT_FIELDS = (*IDENTITY_FIELDS, "units_raw")


@dataclass(frozen=True)
class Conservation:
    """Every price cell seen is carried by a published or quarantined row, is a verified copy,
    or belongs to a dead-lettered file."""

    price_cells: int
    published_cells: int
    quarantined_cells: int
    copy_cells: int
    dead_letter_cells: int

    @property
    def holds(self) -> bool:
        return self.price_cells == (
            self.published_cells + self.quarantined_cells + self.copy_cells + self.dead_letter_cells
        )

    def __str__(self) -> str:
        sign = "=" if self.holds else "≠"
        return (
            f"{self.price_cells:,} price cells {sign} {self.published_cells:,} published"
            f" + {self.quarantined_cells:,} quarantined + {self.copy_cells:,} verified copies"
            f" + {self.dead_letter_cells:,} dead-lettered"
        )


@dataclass(frozen=True)
class DeadLetter:
    """One file that could not be ingested (``aurum.ingest.error.v1``)."""

    file: str
    sha256: str | None
    vendor: str | None
    error_code: str
    message: str
    diagnostics: dict[str, Any]
    failed_at: str
    schema: str = "aurum.ingest.error.v1"

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, sort_keys=True)


@dataclass
class ParseResult:
    file: str
    vendor: str | None
    asof: date | None
    sha256: str | None
    observations: pa.Table
    quarantine: pa.Table
    conservation: Conservation
    seconds: float
    dead_letter: DeadLetter | None = None
    notices: list[Notice] = field(default_factory=list)
    outcomes: list[CheckOutcome] = field(default_factory=list)
    # sheets and their curve columns in order (``aurum.ingest.parser.Fingerprint``); None for a
    # dead letter. Runs keep it so layout drift alerts can compare a vendor's files.
    layout: Fingerprint | None = None

    def summary(self) -> dict[str, Any]:
        obs = self.observations
        mid = obs.column("mid").to_numpy()
        return {
            "file": self.file,
            "vendor": self.vendor,
            "asof": self.asof.isoformat() if self.asof else None,
            "curves": len(pc.unique(obs.column("curve_key"))),
            "rows": obs.num_rows,
            "rows_with_bidask": obs.num_rows - obs.column("bid").null_count,
            "quarantined": self.quarantine.num_rows,
            "dead_lettered": int(self.dead_letter is not None),
            "price_cells": self.conservation.price_cells,
            "sum_mid": round(math.fsum(mid), 3),
            "seconds": round(self.seconds, 4),
        }


def parse_workbook(
    path: Path | str,
    *,
    vendor: str | None = None,
    asof: date | None = None,
    settings: Settings | None = None,
) -> ParseResult:
    """Parse one vendor workbook file. Never raises for bad input: see ``result.dead_letter``."""
    settings = settings or Settings()
    return _parse_loaded(_load(Path(path), settings.ingest), vendor, asof, settings)


@dataclass(frozen=True)
class _Loaded:
    """A file read into grids, or the reason it could not be."""

    path: Path
    workbook: Workbook | None
    error: IngestError | None
    seconds: float


def _load(path: Path, limits: IngestSettings) -> _Loaded:
    started = time.perf_counter()
    try:
        workbook = read_workbook(path, limits)
        return _Loaded(path, workbook, None, time.perf_counter() - started)
    except IngestError as exc:
        error = exc
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # the Rust reader may panic on hostile input: still a dead letter
        log.debug("internal error reading %s", path, exc_info=True)
        error = _internal(exc)
    return _Loaded(path, None, error, time.perf_counter() - started)


def _parse_loaded(
    loaded: _Loaded, vendor: str | None, asof: date | None, settings: Settings
) -> ParseResult:
    started = time.perf_counter() - loaded.seconds  # a result's seconds include its read
    if loaded.workbook is None:
        assert loaded.error is not None
        sha = _sha256_or_none(loaded.path)
        return _dead_letter(loaded.path.name, loaded.error, sha, vendor, None, 0, started)
    return parse_grid(loaded.workbook, vendor=vendor, asof=asof, settings=settings, started=started)


def parse_grid(
    workbook: Workbook,
    *,
    vendor: str | None = None,
    asof: date | None = None,
    settings: Settings | None = None,
    started: float | None = None,
) -> ParseResult:
    """Parse a workbook already read into grids (the seam tests build grids in memory)."""
    started = time.perf_counter() if started is None else started
    limits = (settings or Settings()).ingest
    parsed: ParsedWorkbook | None = None
    try:
        layout = detect_layout(workbook.name, vendor)
        parsed = parse_grids(workbook, layout, asof=asof)
        return _finish(parsed, workbook, layout, limits, started)
    except IngestError as exc:
        error = exc
    except Exception as exc:  # a bug must not cost the caller the file: dead-letter it, loudly
        log.debug("internal error parsing %s", workbook.name, exc_info=True)
        error = _internal(exc)
    cells = parsed.price_cells if parsed is not None else 0
    day = parsed.asof if parsed is not None else None
    return _dead_letter(workbook.name, error, workbook.sha256, vendor, day, cells, started)


def _internal(exc: BaseException) -> IngestError:
    return IngestError("internal_error", f"{type(exc).__name__}: {exc}")


def _dead_letter(
    name: str,
    error: IngestError,
    sha256: str | None,
    vendor: str | None,
    asof: date | None,
    cells: int,
    started: float,
) -> ParseResult:
    """A result with no rows at all and one dead-letter record; every seen cell is its."""
    try:
        known = detect_layout(name, vendor).vendor
    except IngestError:
        known = None
    letter = DeadLetter(
        file=name,
        sha256=sha256,
        vendor=known,
        error_code=error.code,
        message=error.message,
        diagnostics=error.diagnostics,
        failed_at=datetime.now(UTC).isoformat(),
    )
    return ParseResult(
        file=name,
        vendor=known,
        asof=asof,
        sha256=sha256,
        observations=CURVE_OBSERVATION.schema.empty_table(),
        quarantine=QUARANTINE_ROWS.empty_table(),
        conservation=Conservation(cells, 0, 0, 0, cells),
        seconds=time.perf_counter() - started,
        dead_letter=letter,
    )


def _sha256_or_none(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _finish(
    parsed: ParsedWorkbook,
    workbook: Workbook,
    layout: Layout,
    limits: IngestSettings,
    started: float,
) -> ParseResult:
    rows = _Rows.gather(parsed)
    clean = np.flatnonzero(rows.issue == Issue.NONE)
    rules = rules_for(limits.mid_bidask_tolerance, layout.rule_severity)
    report = apply_rules(rule_view(*_view_columns(parsed, rows, clean)), rules)
    failed = np.zeros(len(clean), bool)
    reasons = np.full(len(clean), "", dtype=object)
    for name, positions in report.failures.items():
        if report.severity[name] == "quarantine" and len(positions):
            failed[positions] = True
            reasons[positions] = [f"{r};{name}" if r else name for r in reasons[positions]]
    broken = np.flatnonzero(rows.issue != Issue.NONE)
    published = clean[~failed]
    quarantined = np.concatenate([broken, clean[failed]])
    quarantine_reason = np.concatenate(
        [
            np.array([Issue(int(i)).reason for i in rows.issue[broken]], dtype=object),
            reasons[failed],
        ]
    )
    conservation = Conservation(
        price_cells=parsed.price_cells,
        published_cells=int(rows.cells[published].sum()),
        quarantined_cells=int(rows.cells[quarantined].sum()),
        copy_cells=parsed.copy_cells,
        dead_letter_cells=0,
    )
    if not conservation.holds:
        raise IngestError(
            "conservation_violated",
            f"internal accounting error, nothing published: {conservation}",
            **asdict(conservation),
        )
    builder = _TableBuilder(parsed, workbook, rows)
    extra = _quarantine_extra(parsed, rows, quarantined, quarantine_reason)
    quarantine = builder.table(quarantined, QUARANTINE_ROWS, extra)
    return ParseResult(
        file=workbook.name,
        vendor=layout.vendor,
        asof=parsed.asof,
        sha256=workbook.sha256,
        observations=builder.table(published, CURVE_OBSERVATION.schema),
        quarantine=quarantine,
        conservation=conservation,
        seconds=time.perf_counter() - started,
        notices=parsed.notices,
        outcomes=_outcomes(parsed, rows, clean, report, broken),
        layout=parsed.layout,
    )


@dataclass(frozen=True)
class _Rows:
    """All candidate rows of a workbook, column-wise; ``curve`` and ``tenor`` index the parser's
    curve and tenor tables."""

    curve: np.ndarray
    tenor: np.ndarray
    segment: np.ndarray
    mid: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    issue: np.ndarray
    cells: np.ndarray
    mid_pos: np.ndarray
    bidask_pos: np.ndarray

    @classmethod
    def gather(cls, parsed: ParsedWorkbook) -> _Rows:
        segments = parsed.segments
        sizes = [len(s.issue) for s in segments]

        def cat(name: str, empty: np.ndarray) -> np.ndarray:
            return np.concatenate([getattr(s, name) for s in segments]) if segments else empty

        none, pos = np.empty(0, np.int64), np.empty((0, 2), np.int64)
        return cls(
            curve=cat("curve", none),
            tenor=cat("tenor", none),
            segment=np.repeat(np.arange(len(segments)), sizes),
            mid=cat("mid", np.empty(0)),
            bid=cat("bid", np.empty(0)),
            ask=cat("ask", np.empty(0)),
            issue=cat("issue", none),
            cells=cat("cells", none),
            mid_pos=cat("mid_pos", pos),
            bidask_pos=cat("bidask_pos", pos),
        )


def _codes(values: list[Any]) -> tuple[np.ndarray, list[Any]]:
    """Integer codes (-1 for None) and the distinct non-null values they index."""
    distinct: dict[Any, int] = {}
    codes = np.array(
        [-1 if v is None else distinct.setdefault(v, len(distinct)) for v in values] or [-1],
        np.int64,
    )
    return codes, list(distinct)


def _view_columns(
    parsed: ParsedWorkbook, rows: _Rows, idx: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """The rule view's columns as arrays: categorical ones as codes, with their categories."""
    curves, tenors = parsed.curves, parsed.tenors
    curve, tenor = rows.curve[idx], rows.tenor[idx]
    asset_codes, assets = _codes([c.asset_class for c in curves])
    key_codes, _ = _codes([c.curve_key for c in curves])
    label_codes, labels = _codes([t.label for t in tenors])
    type_codes = np.array([_TENOR_TYPES.index(t.tenor_type.value) for t in tenors] or [0])
    months = [t.start.year * 12 + t.start.month - 1 if t.start else -1 for t in tenors]
    known = np.array([bool(c.currency and c.per_unit) for c in curves] or [False])
    plain = np.array(
        [not any(looks_like_formula(getattr(c, f)) for f in _TEXT_FIELDS) for c in curves] or [True]
    )
    sheet_codes, _ = _codes([s.sheet_name for s in parsed.segments])
    columns = {
        "mid": rows.mid[idx],
        "bid": rows.bid[idx],
        "ask": rows.ask[idx],
        "tenor_type": type_codes[tenor],
        "asset_class": asset_codes[curve],
        "row_key": key_codes[curve] * max(len(labels), 1) + label_codes[tenor],
        "curve_code": key_codes[curve],
        "sheet_code": sheet_codes[rows.segment[idx]],
        "tenor_month": np.array(months or [-1])[tenor],
        "units_known": known[curve],
        "text_plain": plain[curve],
    }
    return columns, {"tenor_type": _TENOR_TYPES, "asset_class": assets}


class _TableBuilder:
    """Arrow tables of chosen candidate rows: one ``take`` per dimension (curve, tenor, sheet
    segment, file constants) from small tables of their distinct values."""

    def __init__(self, parsed: ParsedWorkbook, workbook: Workbook, rows: _Rows) -> None:
        self.rows = rows
        curves = parsed.curves
        self.curves = pa.table(
            {
                name: pa.array([getattr(c, name) for c in curves], pa.string())
                for name in _CURVE_FIELDS
            }
        )
        tenors = parsed.tenors
        starts = pa.array([t.start for t in tenors], pa.date32())
        self.tenors = pa.table(
            {
                "tenor_type": pa.array([t.tenor_type.value for t in tenors], pa.string()),
                "tenor_label": pa.array([t.label for t in tenors], pa.string()),
                "tenor_start": starts,
                "tenor_end": pa.array([t.end for t in tenors], pa.date32()),
                "contract_month": starts,
            }
        )
        names = [s.sheet_name for s in parsed.segments]
        stamp = f"{parsed.asof.isoformat()}|{workbook.sha256}"
        self.segments = pa.table(
            {
                "sheet_name": pa.array(names, pa.string()),
                "version_hash": pa.array(
                    [
                        hashlib.sha256(f"{workbook.name}|{n}|{stamp}".encode()).hexdigest()
                        for n in names
                    ],
                    pa.string(),
                ),
            }
        )
        self.constants = pa.table(
            {
                "asof_date": pa.array([parsed.asof], pa.date32()),
                "source_file": pa.array([workbook.name]),
                "price_type": pa.array(["MID"]),
                "_ingest_ts": pa.array([datetime.now(UTC)], pa.timestamp("us", tz="UTC")),
                "vendor": pa.array([parsed.vendor]),
                "source_sha256": pa.array([workbook.sha256]),
            }
        )

    def table(
        self, idx: np.ndarray, schema: pa.Schema, extra: dict[str, pa.Array] | None = None
    ) -> pa.Table:
        if not len(idx):
            return schema.empty_table()
        rows = self.rows
        mid = pa.array(rows.mid[idx], pa.float64(), from_pandas=True)
        arrays: dict[str, pa.Array | pa.ChunkedArray] = {
            "mid": mid,
            "value": mid,
            "bid": pa.array(rows.bid[idx], pa.float64(), from_pandas=True),
            "ask": pa.array(rows.ask[idx], pa.float64(), from_pandas=True),
            **(extra or {}),
        }
        for table, positions in (
            (self.curves, rows.curve[idx]),
            (self.tenors, rows.tenor[idx]),
            (self.segments, rows.segment[idx]),
            (self.constants, np.zeros(len(idx), np.int64)),
        ):
            taken = table.take(positions)
            arrays.update(zip(taken.column_names, taken.columns, strict=True))
        return pa.Table.from_arrays([arrays[f.name] for f in schema], schema=schema)


def _quarantine_extra(
    parsed: ParsedWorkbook, rows: _Rows, idx: np.ndarray, reasons: np.ndarray
) -> dict[str, pa.Array]:
    """Reason, cell address and raw cell text of each quarantined row (the rare path)."""
    segments, sheets = parsed.segments, parsed.sheets

    def raw(sheet_name: str | None, row: int, col: int) -> str | None:
        if sheet_name is None or row < 0 or sheet_name not in sheets:
            return None
        value = sheets[sheet_name].cell(row, col)
        return None if value == "" else str(value)

    where, raw_mid, raw_bidask = [], [], []
    for i in idx:
        segment = segments[rows.segment[i]]
        (mr, mc), (br, bc) = rows.mid_pos[i], rows.bidask_pos[i]
        mid_sheet = segment.sheet_name if mr >= 0 else None
        raw_mid.append(raw(mid_sheet, mr, mc))
        raw_bidask.append(raw(segment.bidask_sheet, br, bc))
        sheet, r, c = (segment.sheet_name, mr, mc) if mr >= 0 else (segment.bidask_sheet, br, bc)
        where.append(f"'{sheet}'!{column_letter(c)}{r + 1}")
    return {
        "quarantine_reason": pa.array(reasons.tolist(), pa.string()),
        "source_cell": pa.array(where, pa.string()),
        "raw_mid": pa.array(raw_mid, pa.string()),
        "raw_bidask": pa.array(raw_bidask, pa.string()),
    }


def _outcomes(
    parsed: ParsedWorkbook, rows: _Rows, clean: np.ndarray, report: RuleReport, broken: np.ndarray
) -> list[CheckOutcome]:
    def sample(positions: np.ndarray) -> tuple[str, ...]:
        return tuple(
            f"{parsed.curves[rows.curve[i]].curve_key}@{parsed.tenors[rows.tenor[i]].label}"
            for i in positions[:5]
        )

    outcomes = []
    issues = rows.issue[broken]
    for issue in sorted(set(issues.tolist())):
        hit = broken[issues == issue]
        outcomes.append(
            CheckOutcome(Issue(issue).reason, "quarantine", len(hit), len(rows.issue), sample(hit))
        )
    for name, positions in report.failures.items():
        outcomes.append(
            CheckOutcome(
                name,
                report.severity[name],
                len(positions),
                report.checked,
                sample(clean[positions]),
            )
        )
    return outcomes
