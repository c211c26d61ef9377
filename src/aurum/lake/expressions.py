"""Scan filters built from values (pyiceberg expressions)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression, EqualTo

__all__ = ["all_of", "partition_filter"]


def all_of(conditions: Iterable[BooleanExpression]) -> BooleanExpression:
    """A scan filter that holds when every condition does (none: every row).

    >>> all_of([])
    AlwaysTrue()
    """
    expression: BooleanExpression = AlwaysTrue()
    for condition in conditions:
        expression = condition if isinstance(expression, AlwaysTrue) else And(expression, condition)
    return expression


def partition_filter(partition: Mapping[str, Any]) -> BooleanExpression:
    """The rows of one partition (``{"vendor": "RP", "asof_date": date(2025, 9, 17)}``).

    >>> partition_filter({"vendor": "RP", "asof_date": date(2025, 9, 17)}).right
    EqualTo(term=Reference(name='asof_date'), literal=literal('2025-09-17'))
    """
    return all_of(
        EqualTo(column, value.isoformat() if isinstance(value, date) else value)
        for column, value in partition.items()
    )
