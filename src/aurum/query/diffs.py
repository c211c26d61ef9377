"""As-of-to-as-of diffs of ``curve_observation``, in SQL over one session: each curve and tenor
at one as-of against another, with the robust z-score of its change within its curve family,
and the same diff summed up per (family, delivery year) as a heat map.

:class:`aurum.query.curves.Curves` pins the snapshot, opens the session and builds the filter;
this module writes and runs the statements. Currency conversion (``fx``) converts each side at
the rate of its own as-of before anything is computed.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

import pyarrow as pa

from aurum.domain.identity import curve_family
from aurum.query.engine import Session
from aurum.query.filters import IDENTITY, Where
from aurum.query.fx import Conversion, refuse_without_currency
from aurum.query.replica import TABLE

__all__ = ["Sort", "diff_rows", "heatmap_rows"]

Sort = Literal["abs_change", "pct_change", "z"]
_SORT: dict[str, str] = {"abs_change": "abs(change)", "pct_change": "abs(change_pct)",
                         "z": "abs(z)"}  # fmt: skip
_UNITS = ("currency", "per_unit")
_MAD_TO_SIGMA = 1.4826
# Decimals of a double from its shortest round-trip text (``text``): 86.433 -> 3; 1e-07 -> 15.
_DECIMALS = (
    "CASE WHEN text IS NULL THEN 0 WHEN contains(text, 'e') THEN 15"
    " WHEN contains(text, '.') THEN length(split_part(text, '.', 2)) ELSE 0 END"
)
# How many curves were added or removed, and how many tenors changed, of the whole diff.
_SUMMARY = """, curves AS (
    SELECT curve_key, bool_and(status = 'added') AS added,
           bool_and(status = 'removed') AS removed FROM paired GROUP BY curve_key)
SELECT (SELECT list(curve_key ORDER BY curve_key) FROM curves WHERE added),
       (SELECT list(curve_key ORDER BY curve_key) FROM curves WHERE removed),
       (SELECT count(*) FILTER (WHERE status = 'changed') FROM paired),
       (SELECT count(*) FROM paired)"""
# The heat map: per (family, delivery year), of the joined diff.
_HEATMAP = """
SELECT * EXCLUDE (top), top.curve_key AS top_curve_key,
       top.tenor_label AS top_tenor_label, top.change_pct AS top_change_pct
FROM (
SELECT f.family, min(j.asset_class) AS asset_class,
       min(j.product) AS product, min(j.currency) AS currency,
       min(j.per_unit) AS per_unit,
       CAST(year(j.tenor_start) AS INTEGER) AS year,
       count(*) AS tenors,
       count(*) FILTER (WHERE j.status = 'changed') AS changed,
       round(fsum(j.change) / count(j.change), 10) AS mean_change,
       round(fsum(j.change_pct) / count(j.change_pct), 10) AS mean_change_pct,
       max(abs(j.change_pct)) AS max_abs_change_pct,
       arg_max({'curve_key': j.curve_key, 'tenor_label': j.tenor_label,
                'change_pct': j.change_pct},
               CASE WHEN j.change_pct IS NOT NULL
                    THEN {'size': abs(j.change_pct), 'curve_key': j.curve_key,
                          'tenor_label': j.tenor_label} END) AS top
FROM joined j JOIN curve_family f USING (curve_key)
WHERE j.tenor_start IS NOT NULL
GROUP BY f.family, year
)
ORDER BY family, year LIMIT ? OFFSET ?"""


def diff_rows(
    session: Session,
    clause: Where,
    days: tuple[date, date],
    *,
    sort: Sort | None,
    top: int | None,
    per: Literal["asset_class"] | None,
    limit: int,
    offset: int,
    fx: Conversion | None,
) -> tuple[pa.Table, dict[str, Any]]:
    """The diff of ``days[0]`` against ``days[1]`` over the rows ``clause`` selects: a page of
    rows (``limit + 1`` at most, from ``offset``) in the order asked for, and what the page's
    meta says of the whole diff (curves added and removed, tenors changed of all; ``fx``'s
    rates when converted). See :meth:`aurum.query.curves.Curves.diff`."""
    stated = _register_rates(session, clause, days, fx)
    try:
        statement = _statement(session, clause, days, fx)
        params = [days[0], *clause.params, days[1], *clause.params]
        order = "vendor, curve_key, tenor_start, tenor_label"
        if sort is not None:
            order = f"{_SORT[sort]} DESC NULLS LAST, {order}"
        keep = ""
        if top is not None:
            within = "PARTITION BY asset_class " if per else ""
            keep = f" QUALIFY row_number() OVER ({within}ORDER BY {order}) <= {int(top)}"
        rows = session.arrow(
            statement + f" SELECT * EXCLUDE (tenor_start) FROM joined{keep}"
            f" ORDER BY {'asset_class, ' if per else ''}{order} LIMIT ? OFFSET ?",
            [*params, limit + 1, offset],
        )
        added, removed, changed, total = session.rows(statement + _SUMMARY, params)[0]
    finally:
        _unregister(session, fx)
    return rows, {
        "curves_added": added or [], "curves_removed": removed or [],
        "tenors_changed": changed, "tenors_total": total, **stated,
    }  # fmt: skip


def heatmap_rows(
    session: Session,
    clause: Where,
    days: tuple[date, date],
    *,
    limit: int,
    offset: int,
    fx: Conversion | None,
) -> tuple[pa.Table, dict[str, Any]]:
    """The diff summed up per (curve family, delivery year): a page of rows and its meta (the
    rates when converted). See :meth:`aurum.query.curves.Curves.diff_heatmap`."""
    stated = _register_rates(session, clause, days, fx)
    try:
        rows = session.arrow(
            _statement(session, clause, days, fx) + _HEATMAP,
            [days[0], *clause.params, days[1], *clause.params, limit + 1, offset],
        )
    finally:
        _unregister(session, fx)
    return rows, stated


def _unregister(session: Session, fx: Conversion | None) -> None:
    session.unregister("curve_family")
    if fx is not None:
        session.unregister("fx_factor")


def _statement(
    session: Session, clause: Where, days: tuple[date, date], fx: Conversion | None = None
) -> str:
    """The diff's common table expressions (``paired``, ``joined`` with z-scores) over the two
    as-of dates (parameters: day A, the filter's, day B, the filter's); registers each curve's
    family as ``curve_family`` (unregistered by :func:`_unregister`). With ``fx``: over the
    rows converted by ``fx_factor`` (:func:`_register_rates`)."""
    session.register("curve_family", _families(session, clause, days, fx.to if fx else None))
    rows = f"SELECT * FROM {TABLE} WHERE asof_date = ? AND {clause.sql()}"
    if fx is not None:
        rows = (
            "SELECT o.* REPLACE (o.value * x.factor AS value, x.target AS currency)"
            f" FROM ({rows}) o JOIN fx_factor x"
            " ON x.currency = o.currency AND x.asof_date = o.asof_date"
        )
    side = (
        f"SELECT *, {_DECIMALS} AS decimals FROM ("
        "SELECT curve_key, tenor_label, any_value(vendor) AS vendor,"
        + ", ".join(f" any_value({c}) AS {c}" for c in (*IDENTITY, *_UNITS))
        + ", any_value(tenor_type) AS tenor_type, any_value(tenor_start) AS tenor_start,"
        " any_value(value) AS value, CAST(any_value(value) AS VARCHAR) AS text"
        f" FROM ({rows}) GROUP BY curve_key, tenor_label)"
    )
    # converted values carry the rate's digits: their change is not rounded to them
    change = (
        "b.value - a.value"
        if fx is not None
        else "round(b.value - a.value, CAST(greatest(a.decimals, b.decimals) AS INTEGER))"
    )
    pick = ", ".join(f"coalesce(b.{c}, a.{c}) AS {c}" for c in ("vendor", *IDENTITY, *_UNITS))
    return f"""
        WITH a AS ({side}), b AS ({side}),
        paired AS (
            SELECT coalesce(b.curve_key, a.curve_key) AS curve_key,
                   coalesce(b.tenor_label, a.tenor_label) AS tenor_label, {pick},
                   coalesce(b.tenor_type, a.tenor_type) AS tenor_type,
                   coalesce(b.tenor_start, a.tenor_start) AS tenor_start,
                   a.value AS value_from, b.value AS value_to,
                   {change} AS change,
                   CASE WHEN a.value <> 0
                        THEN (b.value - a.value) / abs(a.value) * 100 END AS change_pct,
                   CASE WHEN a.curve_key IS NULL THEN 'added'
                        WHEN b.curve_key IS NULL THEN 'removed'
                        WHEN a.value IS NOT DISTINCT FROM b.value THEN 'unchanged'
                        ELSE 'changed' END AS status
            FROM a FULL OUTER JOIN b USING (curve_key, tenor_label)
        ),
        families AS (
            SELECT p.change, f.family
            FROM paired p JOIN curve_family f USING (curve_key)
            WHERE p.change IS NOT NULL
        ),
        centre AS (SELECT family, median(change) AS med FROM families GROUP BY family),
        spread AS (
            SELECT family, any_value(med) AS med,
                   {_MAD_TO_SIGMA} * median(abs(change - med)) AS scale
            FROM families JOIN centre USING (family) GROUP BY family
        ),
        joined AS (
            SELECT p.*, CASE WHEN s.scale > 0 THEN (p.change - s.med) / s.scale END AS z
            FROM paired p JOIN curve_family f USING (curve_key)
            LEFT JOIN spread s USING (family)
        )
    """


def _families(
    session: Session, clause: Where, days: tuple[date, date], currency: str | None = None
) -> pa.Table:
    """Each curve's family at the two as-of dates, by the domain's one definition (with
    ``currency``: its prices converted into it)."""
    found = session.rows(
        f"SELECT DISTINCT curve_key, asset_class, product, currency, per_unit FROM {TABLE}"
        f" WHERE asof_date IN (?, ?) AND {clause.sql()}",
        [*days, *clause.params],
    )
    return pa.table({
        "curve_key": pa.array([row[0] for row in found], pa.string()),
        "family": pa.array(
            [curve_family(a, p, currency or c, u) for _, a, p, c, u in found], pa.string()
        ),
    })  # fmt: skip


def _register_rates(
    session: Session, clause: Where, days: tuple[date, date], fx: Conversion | None
) -> dict[str, Any]:
    """Registers ``fx_factor``: the rate of each currency of the two sides at its side's
    as-of; ``{"fx": statement}`` (nothing without ``fx``)."""
    if fx is None:
        return {}
    found = session.rows(
        f"SELECT DISTINCT curve_key, currency FROM {TABLE}"
        f" WHERE asof_date IN (?, ?) AND {clause.sql()}",
        [*days, *clause.params],
    )
    refuse_without_currency(key for key, currency in found if currency is None)
    currencies = sorted({currency for _, currency in found})
    factors, used = fx.factors((c, day) for day in days for c in currencies)
    session.register("fx_factor", factors)
    return {"fx": fx.statement(used)}
