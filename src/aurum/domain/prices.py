"""Price cell encodings: the vendors' ``"<bid>   /   <ask>"`` strings."""

from __future__ import annotations

import re

__all__ = ["BIDASK_PATTERN", "parse_bidask"]

# Any whitespace around the slash, optional minus, no thousands separators, no exponent.
BIDASK_PATTERN = r"^\s*(-?\d+(?:\.\d+)?)\s*/\s*(-?\d+(?:\.\d+)?)\s*$"
_BIDASK = re.compile(BIDASK_PATTERN)


def parse_bidask(text: str) -> tuple[float, float] | None:
    """``(bid, ask)`` from a bid/ask string, or ``None`` when it is not one.

    >>> parse_bidask("55.294   /   55.501")
    (55.294, 55.501)
    >>> parse_bidask(" -4.313/-4.271 ")
    (-4.313, -4.271)
    >>> parse_bidask("n/a") is None, parse_bidask("1e3 / 2") is None
    (True, True)
    """
    match = _BIDASK.match(text)
    if match is None:
        return None
    return float(match.group(1)), float(match.group(2))
