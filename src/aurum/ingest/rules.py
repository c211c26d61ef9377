"""Row-level quality rules: a pandera schema whose checks are named rules with a severity.

``quarantine`` rules send a row to quarantine with the rule's name as its reason; ``warn`` rules
only report. The rules read a narrow *rule view* of the candidate rows (:data:`VIEW_COLUMNS`):
prices as floats, enumerations as categoricals, identities as integer codes. pandera then costs
a few milliseconds per file instead of scanning thirty string columns once per check.

>>> import pandas as pd
>>> view = pd.DataFrame({
...     "mid": [10.0, 10.0, 3.0], "bid": [9.9, 10.2, None], "ask": [10.1, 10.0, None],
...     "tenor_type": pd.Categorical(["MONTHLY"] * 3), "asset_class": pd.Categorical(["gas"] * 3),
...     "row_key": [1, 2, 3], "curve_code": [0, 0, 1], "sheet_code": [0, 0, 0],
...     "tenor_month": [24300, 24301, 24300], "units_known": [True, True, False],
...     "text_plain": [True, True, True]})
>>> report = apply_rules(view, rules_for(0.0005))
>>> report.failures["bid_gt_ask"].tolist(), report.failures["units_unknown"].tolist()
([1], [2])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Literal

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from aurum.domain.tenors import TenorType
from aurum.errors import ConfigError

__all__ = [
    "ASSET_CLASSES", "VIEW_COLUMNS", "Rule", "RuleReport", "apply_rules", "rule_view", "rules_for",
]  # fmt: skip

ASSET_CLASSES = (
    "power", "gas", "emissions", "environmental", "refined_products", "biofuels", "petrochemicals",
)  # fmt: skip
VIEW_COLUMNS = (
    "mid", "bid", "ask", "tenor_type", "asset_class",
    "row_key", "curve_code", "sheet_code", "tenor_month", "units_known", "text_plain",
)  # fmt: skip
Severity = Literal["quarantine", "warn"]
# Slack for binary floating point: (bid + ask) / 2 of two 3-dp prices can sit exactly half a tick
# from the mid, and the subtraction then lands 1e-15 above the tolerance.
_FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class Rule:
    name: str
    severity: Severity
    description: str
    passes: Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class RuleReport:
    """Row positions failing each rule (every rule listed, failing or not) and their severity."""

    failures: dict[str, np.ndarray]
    severity: dict[str, Severity]
    checked: int


def rule_view(codes: Mapping[str, np.ndarray], categories: Mapping[str, list[str]]) -> pd.DataFrame:
    """The frame the rules read, from arrays; ``categories`` turn code columns into categoricals
    (code -1 is missing)."""
    return pd.DataFrame(
        {
            name: pd.Categorical.from_codes(values, categories=categories[name] or ["?"])
            if name in categories
            else values
            for name, values in codes.items()
        }
    )


def _both(view: pd.DataFrame) -> pd.Series:
    return view["bid"].notna() & view["ask"].notna()


def _finite_or_missing(column: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda v: v[column].isna() | np.isfinite(v[column])


def _monthly_continuity(view: pd.DataFrame) -> pd.Series:
    """False on a monthly row whose previous month is missing on its curve and sheet."""
    ok = np.ones(len(view), bool)
    rows = np.flatnonzero((view["tenor_type"] == TenorType.MONTHLY.value).to_numpy(bool))
    if len(rows):
        group = (
            view["curve_code"].to_numpy()[rows] * (view["sheet_code"].max() + 1)
            + (view["sheet_code"].to_numpy()[rows])
        )
        month = view["tenor_month"].to_numpy()[rows]
        order = np.lexsort((month, group))
        same = group[order][1:] == group[order][:-1]
        gap = same & (np.diff(month[order]) != 1)
        ok[rows[order[1:][gap]]] = False
    return pd.Series(ok, index=view.index)


def rules_for(tolerance: float, severity: Mapping[str, Severity] | None = None) -> tuple[Rule, ...]:
    """The row rules; ``tolerance`` bounds |mid - (bid + ask) / 2|; ``severity`` overrides a
    rule's default severity by name (a layout's ``rule_severity``).

    Required identity fields are checked by the parser on the identity *as read*: a gas hub's
    canonical block is legitimately null, a blank block cell is not.
    """
    return _rules(tolerance, tuple(sorted((severity or {}).items())))


@cache
def _rules(tolerance: float, severity: tuple[tuple[str, Severity], ...]) -> tuple[Rule, ...]:
    # One tuple of Rule objects per configuration, so the pandera schema built from it is
    # built once too (each call of _default_rules makes new check functions).
    rules = _default_rules(tolerance)
    overrides = dict(severity)
    unknown = set(overrides) - {rule.name for rule in rules}
    if unknown:
        raise ConfigError("rule_unknown", f"no such rule(s): {', '.join(sorted(unknown))}")
    return tuple(replace(rule, severity=overrides.get(rule.name, rule.severity)) for rule in rules)


def _default_rules(tolerance: float) -> tuple[Rule, ...]:
    return (
        Rule(
            "mid_not_finite",
            "quarantine",
            "mid is a finite number",
            lambda v: v["mid"].notna() & np.isfinite(v["mid"]),
        ),
        Rule("bid_not_finite", "quarantine", "bid is finite or absent", _finite_or_missing("bid")),
        Rule("ask_not_finite", "quarantine", "ask is finite or absent", _finite_or_missing("ask")),
        Rule(
            "bidask_incomplete",
            "quarantine",
            "bid and ask come together",
            lambda v: v["bid"].isna() == v["ask"].isna(),
        ),
        Rule(
            "bid_gt_ask", "quarantine", "bid <= ask", lambda v: ~_both(v) | (v["bid"] <= v["ask"])
        ),
        Rule(
            "mid_outside_range",
            "quarantine",
            "bid <= mid <= ask",
            lambda v: (
                ~_both(v)
                | ((v["bid"] - _FLOAT_SLACK <= v["mid"]) & (v["mid"] <= v["ask"] + _FLOAT_SLACK))
            ),
        ),
        Rule(
            "mid_outside_bidask",
            "quarantine",
            f"|mid - (bid + ask) / 2| <= {tolerance}",
            lambda v: (
                ~_both(v)
                | ((v["mid"] - (v["bid"] + v["ask"]) / 2).abs() <= tolerance + _FLOAT_SLACK)
            ),
        ),
        Rule(
            "duplicate_key",
            "quarantine",
            "one row per (curve_key, tenor_label)",
            lambda v: ~v["row_key"].duplicated(keep=False),
        ),
        Rule(
            "asset_class_unknown",
            "warn",
            "the reference data knows the asset class",
            lambda v: v["asset_class"].notna(),
        ),
        Rule(
            "units_unknown",
            "warn",
            "currency and unit are known (from the workbook or the reference data)",
            lambda v: v["units_known"],
        ),
        Rule(
            "identity_formula_like",
            "warn",
            "identity and unit text does not start with = + - @ tab or CR (a spreadsheet would"
            " run it as a formula; files Aurum writes neutralise it)",
            lambda v: v["text_plain"],
        ),
        Rule(
            "tenor_custom",
            "warn",
            "the tenor label is a recognised month or strip",
            lambda v: v["tenor_type"] != TenorType.CUSTOM.value,
        ),
        Rule(
            "monthly_continuity",
            "warn",
            "a curve's monthly tenors are consecutive months",
            _monthly_continuity,
        ),
    )


@cache
def _schema(rules: tuple[Rule, ...]) -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "tenor_type": pa.Column(checks=pa.Check.isin([t.value for t in TenorType])),
            "asset_class": pa.Column(checks=pa.Check.isin(ASSET_CLASSES), nullable=True),
        },
        # Each rule decides for itself what a missing value means (ignore_na=False); pandera's
        # default would also scan every column for nulls once per check.
        checks=[pa.Check(rule.passes, name=rule.name, ignore_na=False) for rule in rules],
    )


def _gate(view: pd.DataFrame, rules: tuple[Rule, ...]) -> dict[str, np.ndarray]:
    """Row positions failing each quarantine rule or column check, as pandera reports them."""
    failures: dict[str, np.ndarray] = {}
    try:
        _schema(rules).validate(view, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        if cases["index"].isna().any():
            wrong = cases.loc[cases["index"].isna(), ["column", "check"]].to_dict("records")
            raise TypeError(f"rule view does not match its schema: {wrong}") from None
        frame_level = cases["schema_context"] == "DataFrameSchema"
        names = (
            cases["check"].astype(str).where(frame_level, cases["column"].astype(str) + "_invalid")
        )
        for name, group in cases.groupby(names, sort=False):
            failures[str(name)] = np.unique(group["index"].to_numpy(np.int64))
    return failures


def apply_rules(view: pd.DataFrame, rules: tuple[Rule, ...]) -> RuleReport:
    """Run ``rules`` over a rule view with a RangeIndex.

    Quarantine rules run as pandera checks together with the column schema; warn rules only
    count, so they are evaluated directly and never pay for pandera's failure reports.
    """
    gate = tuple(rule for rule in rules if rule.severity == "quarantine")
    failures = _gate(view, gate) if len(view) else {}
    severity: dict[str, Severity] = {name: "quarantine" for name in failures}
    for rule in rules:
        severity[rule.name] = rule.severity
        if rule.severity == "warn":
            passed = rule.passes(view).to_numpy(bool) if len(view) else np.ones(0, bool)
            failures[rule.name] = np.flatnonzero(~passed)
        else:
            failures.setdefault(rule.name, np.empty(0, np.int64))
    return RuleReport(failures=failures, severity=severity, checked=len(view))
