"""Scenario curves read like vendor curves: a run's ``scenario_output`` as ``curve_observation``.

:class:`ScenarioCurves` is :class:`~aurum.query.curves.Curves` over another source: the rows of
one published scenario run (read at its tag, as the caller's access allows), shaped as curve
rows (``value`` is the scenario's, ``mid`` too; no bid/ask; ``source_file`` names the run) with
the run's ``base_value`` and ensemble bands beside them. Every query of ``Curves`` (slices,
strips, diffs) runs unchanged on it, so ``/v1/curves``, ``/strips`` and ``/diff`` answer
``scenario_run=`` with the same code as vendor curves.

A diff compares two sides registered under two internal as-of days: the run's base against its
scenario values, or run A's scenario values against run B's; the answer's meta names the sides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysFalse, And, BooleanExpression, EqualTo, In

from aurum.auth.access import Access
from aurum.datasets.scenarios import SCENARIO_OUTPUT
from aurum.errors import Unavailable
from aurum.lake.catalog import Lake
from aurum.query.curves import COLUMNS, CurveFilter, Curves, Page
from aurum.query.engine import AsAt, Session, connect
from aurum.query.replica import CURVE_SUMMARY, TABLE
from aurum.query.served import ServedSlice

__all__ = ["BAND_FIELDS", "SCENARIO_COLUMNS", "ScenarioCurves", "run_rows"]

BAND_FIELDS = ("base_value", "mean", "p5", "p50", "p95", "band_convention")
SCENARIO_COLUMNS = (*COLUMNS, *BAND_FIELDS)
# The internal as-of days of a diff's two sides (never shown: the meta names the sides).
_SIDE_A, _SIDE_B = date(1900, 1, 1), date(1900, 1, 2)


def run_rows(lake: Lake, access: Access, run_id: str, tag: str) -> tuple[pa.Table, int]:
    """A published run's ``scenario_output`` rows that ``access`` may read, and the snapshot
    they were read at (the run's tag)."""
    table = lake.table(SCENARIO_OUTPUT.name)
    ref = table.metadata.refs.get(tag)
    if ref is None:
        raise Unavailable("lake_unreadable", f"the run's tag {tag} is not in the lake",
                          dependency="the lake")  # fmt: skip
    row_filter: BooleanExpression = EqualTo("run_id", run_id)
    for column, allowed in access.row_scope(tenant_owned=True, vendor_column=True):
        row_filter = And(row_filter, In(column, allowed) if allowed else AlwaysFalse())
    try:
        rows = table.scan(row_filter=row_filter, snapshot_id=ref.snapshot_id).to_arrow()
    except (OSError, ValueError) as exc:
        raise Unavailable("lake_unreadable", f"cannot read {tag}: {exc}",
                          dependency="the lake") from None  # fmt: skip
    return rows, ref.snapshot_id


class ScenarioCurves(Curves):
    """``Curves`` over one run's rows (or, for a diff, two sides of them)."""

    columns = SCENARIO_COLUMNS

    def __init__(
        self, lake: Lake, rows: pa.Table, snapshot_id: int, *, timeout_s: float = 30.0
    ) -> None:
        super().__init__(lake, None, timeout_s=timeout_s)
        self.rows = rows
        self.snapshot_id = snapshot_id
        self._slices: dict[str, tuple[str, int, bytes]] | None = None
        self._slices_lock = threading.Lock()

    @classmethod
    def of_run(
        cls, lake: Lake, rows: pa.Table, snapshot_id: int, *, run_id: str, timeout_s: float = 30.0
    ) -> ScenarioCurves:
        return cls(lake, curve_rows(rows, run_id), snapshot_id, timeout_s=timeout_s)

    @classmethod
    def of_diff(
        cls, lake: Lake, first: pa.Table, second: pa.Table, snapshot_id: int, *,
        timeout_s: float = 30.0,
    ) -> ScenarioCurves:  # fmt: skip
        """Two sides (curve rows) as the two internal as-of days of :meth:`side_diff`."""
        sides = [
            side.set_column(
                side.schema.get_field_index("asof_date"),
                "asof_date",
                pa.array([day] * side.num_rows, pa.date32()),
            )
            for side, day in ((first, _SIDE_A), (second, _SIDE_B))
        ]
        return cls(lake, pa.concat_tables(sides), snapshot_id, timeout_s=timeout_s)

    def pin(self, as_at: AsAt = None, snapshot_id: int | None = None) -> int:
        return self.snapshot_id

    def slice(
        self, where: CurveFilter, *, as_at: AsAt = None, snapshot_id: int | None = None,
        columns: Sequence[str] = SCENARIO_COLUMNS, limit: int = 1000, offset: int = 0,
    ) -> ServedSlice | None:  # fmt: skip
        """One curve of the run, every column, as the API's JSON: encoded once per curve (a
        run never changes), then answered from memory. ``None``: ask :meth:`curves`."""
        started = time.perf_counter()
        if (
            offset
            or tuple(columns) != SCENARIO_COLUMNS
            or not set(where.fields) <= {"vendor"}
            or len(where.curve_keys) != 1
            or where.tenor_types
            or where.month_from
            or where.month_to
            or where.asof not in (None, "latest")
        ):
            return None
        found = self._encoded().get(where.curve_keys[0])
        if found is None or (where.vendor and where.vendor.upper() != found[0]):
            return None
        if found[1] > limit:
            return None
        return ServedSlice(self.snapshot_id, found[1], found[2], time.perf_counter() - started)

    def _encoded(self) -> dict[str, tuple[str, int, bytes]]:
        """Each curve's rows as the JSON array ``curves`` would answer (DuckDB's ``to_json``,
        as the served slices of vendor curves)."""
        with self._slices_lock:
            if self._slices is None:
                fields = ", ".join(f"'{c}': {c}" for c in SCENARIO_COLUMNS)
                with self.source(self.snapshot_id, CurveFilter()) as session:
                    encoded = session.rows(
                        f"SELECT curve_key, any_value(vendor), count(*), to_json(list({{{fields}}}"
                        " ORDER BY asof_date, tenor_start, tenor_label))::VARCHAR"
                        f" FROM {TABLE} GROUP BY curve_key HAVING count(DISTINCT vendor) = 1"
                    )
                self._slices = {
                    key: (vendor, count, body.encode()) for key, vendor, count, body in encoded
                }
            return self._slices

    @contextmanager
    def source(self, snapshot_id: int, pushdown: CurveFilter) -> Iterator[Session]:
        connection = connect()
        try:
            session = Session(connection, timeout_s=self.timeout_s)
            session.register(TABLE, self.rows)
            session.run(
                "CREATE VIEW replica_partition AS SELECT vendor, asof_date, count(*) AS rows"
                f" FROM {TABLE} GROUP BY vendor, asof_date"
            )
            session.run(f"CREATE VIEW curve AS {CURVE_SUMMARY}")
            yield session
        finally:
            connection.close()

    def side_diff(self, where: CurveFilter, *, names: tuple[str, str], **asked: Any) -> Page:
        """The diff of the two sides, its meta naming them (``asof_from``/``asof_to``)."""
        page = self.diff(where, _SIDE_A, _SIDE_B, **asked)
        return replace(page, extra={**page.extra, "asof_from": names[0], "asof_to": names[1]})


def curve_rows(rows: pa.Table, run_id: str, *, value: Literal["value", "base_value"] = "value"
               ) -> pa.Table:  # fmt: skip
    """``scenario_output`` rows as curve rows (``SCENARIO_COLUMNS``): ``value`` (and ``mid``)
    from the scenario's value, or from the base's for the base side of a diff."""
    count = rows.num_rows
    nothing = pa.nulls(count, pa.float64())
    price = rows.column(value)
    made: dict[str, pa.Array | pa.ChunkedArray] = {
        "price_type": pa.array(["MID"] * count, pa.string()),
        "units_raw": pa.nulls(count, pa.string()),
        "value": price, "bid": nothing, "ask": nothing, "mid": price,
        "version_hash": pa.array([run_id] * count, pa.string()),
        "source_file": pa.array([f"scenario:{run_id}"] * count, pa.string()),
    }  # fmt: skip
    columns = {name: made[name] if name in made else rows.column(name) for name in SCENARIO_COLUMNS}
    table = pa.table(columns)
    return table.filter(pc.is_valid(table.column("value")))
